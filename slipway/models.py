"""The data model: projects, their deployments, build logs and webhook deliveries."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from slipway.states import State, check_transition


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


PROJECT_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    # Where the code is fetched from: any git URL (GitHub, a local path, our git remote).
    repo_url: Mapped[str] = mapped_column(String(500))
    # "owner/name" for repositories connected through GitHub, matched against webhooks.
    github_repo: Mapped[str | None] = mapped_column(String(200), index=True)
    branch: Mapped[str] = mapped_column(String(255), default="main")
    dockerfile: Mapped[str] = mapped_column(String(500), default="Dockerfile")
    build_context: Mapped[str] = mapped_column(String(500), default=".")
    target: Mapped[str] = mapped_column(String(20), default="local")
    health_path: Mapped[str] = mapped_column(String(200), default="/")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    deployments: Mapped[list["Deployment"]] = relationship(
        back_populates="project", order_by="Deployment.id.desc()", cascade="all, delete-orphan"
    )

    @property
    def image_repository(self) -> str:
        return self.name


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    sha: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(40))  # push, cli, redeploy ...
    state: Mapped[str] = mapped_column(String(20), default=State.QUEUED.value, index=True)
    image: Mapped[str | None] = mapped_column(String(500))
    url: Mapped[str | None] = mapped_column(String(500))
    # What the target needs to find this deployment again (container id, dseq ...).
    target_ref: Mapped[dict | None] = mapped_column(JSON)
    error_id: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="deployments")

    @property
    def state_enum(self) -> State:
        return State(self.state)

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    def transition(self, target: State) -> None:
        """Move to ``target`` or raise InvalidTransition; stamps the timestamps."""
        check_transition(self.state_enum, target)
        now = utcnow()
        if self.state == State.QUEUED.value and self.started_at is None and not target.final:
            self.started_at = now
        self.state = target.value
        if target.final and self.finished_at is None:
            self.finished_at = now


class BuildLog(Base):
    __tablename__ = "build_logs"
    __table_args__ = (UniqueConstraint("deployment_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    line: Mapped[str] = mapped_column(Text)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(60))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(500), default="")
    deployment_id: Mapped[int | None] = mapped_column(ForeignKey("deployments.id", ondelete="SET NULL"))


Index("ix_deployments_project_state", Deployment.project_id, Deployment.state)
