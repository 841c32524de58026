"""The data model: projects, their deployments, build logs and webhook deliveries."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from slipway.states import State, check_transition
from slipway.validation import PROJECT_NAME_RE  # noqa: F401 - its old home; match it whole


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass




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
    # GitHub App connection: which installation grants the repository, and whether it still does.
    installation_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    disconnected_reason: Mapped[str | None] = mapped_column(String(300))
    # Pull-request previews, and whether forks' pull requests may build with the project's secrets.
    previews_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    fork_previews: Mapped[str] = mapped_column(String(20), default="collaborators")
    # `git push` remote and deploy hook: the push token only as a hash, the hook encrypted (it is shown).
    deploy_token_hash: Mapped[str | None] = mapped_column(String(64))
    deploy_hook_enc: Mapped[str | None] = mapped_column(Text)
    # The project's own Akash settings (slipway.akash_settings): plain values, none of them secret.
    akash_settings: Mapped[dict | None] = mapped_column(JSON)
    # The `watch` paths of the slipway.toml last built (None: every push builds); see builder.plan.config.
    watch_paths: Mapped[list | None] = mapped_column(JSON)

    deployments: Mapped[list["Deployment"]] = relationship(
        back_populates="project", order_by="Deployment.id.desc()", cascade="all, delete-orphan"
    )
    env_vars: Mapped[list["EnvVar"]] = relationship(
        back_populates="project", order_by="EnvVar.name", cascade="all, delete-orphan"
    )
    domains: Mapped[list["Domain"]] = relationship(
        back_populates="project", order_by="Domain.name", cascade="all, delete-orphan"
    )

    @property
    def image_repository(self) -> str:
        return self.name


class EnvVar(Base):
    """An environment variable of a project; its value is encrypted at rest, and it is a secret.

    ``scope`` says who gets it (``slipway.envvars``): the running app, the build, or both.
    """

    __tablename__ = "env_vars"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    value_enc: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(10), default="runtime", server_default="runtime")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    project: Mapped["Project"] = relationship(back_populates="env_vars")


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    sha: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(40))  # push, cli, pull_request, git, hook ...
    # The commit's first line and author, when the push said (GitHub's head_commit, the pushed commit).
    commit_message: Mapped[str | None] = mapped_column(String(500))
    commit_author: Mapped[str | None] = mapped_column(String(200))
    # "production" for the tracked branch, "preview" for a pull request.
    environment: Mapped[str] = mapped_column(String(40), default="production")
    pr_number: Mapped[int | None] = mapped_column(Integer)
    github_deployment_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default=State.QUEUED.value, index=True)
    image: Mapped[str | None] = mapped_column(String(500))
    # Where this deployment answers: its own immutable address through the proxy
    # (http://d<id>--<project>.<apps domain>), or its target's own URL (Akash, no proxy).
    url: Mapped[str | None] = mapped_column(String(500))
    # Its slot's stable address through the proxy (the project's production URL, or its pull
    # request's preview URL), set when it goes live there; None when the proxy does not route it.
    slot_url: Mapped[str | None] = mapped_column(String(500))
    # What the target needs to find this deployment again (container id, dseq ...).
    target_ref: Mapped[dict | None] = mapped_column(JSON)
    # The repository's own SDL (deploy.yaml) this deployment was made with, as read from its commit:
    # a redeploy or rollback of its image runs with it again (Akash).
    repository_sdl: Mapped[str | None] = mapped_column(Text)
    # What the commit's slipway.toml said about running it (health check, non-secret env, resources and
    # Akash placement), for its redeploys and rollbacks, which do not read the repository again.
    repository_config: Mapped[dict | None] = mapped_column(JSON)
    error_id: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    # What the periodic health check of a live deployment found (slipway.health): up or down, why,
    # when it last looked, and since when it has been so.
    health: Mapped[str | None] = mapped_column(String(10))
    health_detail: Mapped[str | None] = mapped_column(String(500))
    health_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    health_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How often the health check started its app again after it exited (at most SLIPWAY_APP_RESTARTS).
    restarts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    project: Mapped[Project] = relationship(back_populates="deployments")

    @property
    def slot(self) -> str:
        """Which running copy this deployment replaces: production, or one per pull request."""
        return f"pr-{self.pr_number}" if self.pr_number else "production"

    @property
    def state_enum(self) -> State:
        return State(self.state)

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @validates("state")
    def _refuse_forbidden_state(self, _key: str, value: str) -> str:
        """Every write of the state is checked against the state machine (``slipway.states.transition``
        is the one that writes it); a new deployment may start in any state."""
        current = self.state
        if current is not None and current != value:
            check_transition(State(current), State(value))
        return value


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


class GitHubAppRecord(Base):
    """A GitHub App created through the manifest flow; its secrets are encrypted at rest."""

    __tablename__ = "github_apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    slug: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    html_url: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret_enc: Mapped[str] = mapped_column(Text)
    private_key_enc: Mapped[str] = mapped_column(Text)
    webhook_secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Installation(Base):
    """An installation of the App on an account, and the repositories it grants."""

    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # GitHub's id
    account_login: Mapped[str] = mapped_column(String(200))
    account_type: Mapped[str] = mapped_column(String(40), default="User")
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    repositories: Mapped[list["InstallationRepository"]] = relationship(
        back_populates="installation", cascade="all, delete-orphan"
    )


class InstallationRepository(Base):
    __tablename__ = "installation_repositories"
    __table_args__ = (UniqueConstraint("installation_id", "repo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installations.id", ondelete="CASCADE"), index=True)
    repo_id: Mapped[int] = mapped_column(BigInteger)
    full_name: Mapped[str] = mapped_column(String(200), index=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)

    installation: Mapped[Installation] = relationship(back_populates="repositories")


class PullRequestPreview(Base):
    """One pull request's preview: its single PR comment, kept up to date."""

    __tablename__ = "pull_request_previews"
    __table_args__ = (UniqueConstraint("project_id", "pr_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pr_number: Mapped[int] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))
    head_repo: Mapped[str] = mapped_column(String(200))
    from_fork: Mapped[bool] = mapped_column(Boolean, default=False)
    author_association: Mapped[str] = mapped_column(String(40), default="NONE")
    state: Mapped[str] = mapped_column(String(20), default="open")  # open / closed
    comment_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


Index("ix_deployments_project_state", Deployment.project_id, Deployment.state)


class LeaseEvent(Base):
    """One thing that happened to a deployment's lease on a network (Akash): created, leased,
    updated in place, moved to another provider, topped up, closed. Written by the jobs and the
    periodic check from what the target returned (``slipway.lease_events``)."""

    __tablename__ = "lease_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    network: Mapped[str | None] = mapped_column(String(40))
    dseq: Mapped[int | None] = mapped_column(BigInteger)
    provider: Mapped[str | None] = mapped_column(String(200))
    # Per block, in uact (a decimal, as the chain says it).
    price_uact: Mapped[str | None] = mapped_column(String(40))
    amount_uact: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str | None] = mapped_column(String(500))


class NotificationChannel(Base):
    """Where a project's deployments are announced (slipway.notifications): a Slack or Discord
    webhook, an email address, or a signed webhook of the user's own. The target (webhook URLs carry
    tokens) and the signing secret are encrypted at rest."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))  # slack, discord, email, webhook
    target_enc: Mapped[str] = mapped_column(Text)
    secret_enc: Mapped[str | None] = mapped_column(Text)
    on_failure: Mapped[bool] = mapped_column(Boolean, default=True)
    on_success: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationDelivery(Base):
    """One announcement of one deployment's end on one channel: recorded once (the unique key), then
    sent by an rq job with retries; ``last_error`` never holds the target or a secret."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("channel_id", "deployment_id", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))  # failed, succeeded
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued, retrying, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
class Domain(Base):
    """A custom domain a project's production answers at, over HTTPS (``slipway domain add``)."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped["Project"] = relationship(back_populates="domains")


class Wake(Base):
    """A superseded deployment started again on demand at its own URL (``slipway.wake``): while the
    row exists the reconciler leaves its container be and the proxy routes its own name (never its
    slot's); it goes when the deployment has been idle for ``SLIPWAY_WAKE_IDLE``."""

    __tablename__ = "wakes"

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True)
    # The target's reference once its container started (None while the wake job is on its way).
    ref: Mapped[dict | None] = mapped_column(JSON)
    # Why it could not start (an error id: its image is gone, it never answered); answered until it goes.
    error_id: Mapped[str | None] = mapped_column(String(80))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When it was last seen serving (or started): the idle time counts from here.
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
