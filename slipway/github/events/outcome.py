"""What handling one webhook delivery came to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement


@dataclass
class Outcome:
    status: int
    message: str
    deployment_ids: list[int] = field(default_factory=list)
    # Other jobs to queue once the delivery's transaction has committed (teardowns, reports).
    jobs: list[Callable[[], object]] = field(default_factory=list)
    # Deployments whose state changed without a job running yet (queued, superseded while queued):
    # reported to GitHub once the answer has gone out, so the commit shows them at once.
    report_ids: list[int] = field(default_factory=list)
    # Refused before it was recorded (signature, headers, size, no queue): answered as {"error": ...}.
    refused: bool = False

    @classmethod
    def refuse(cls, status: int, message: str) -> Outcome:
        return cls(status, message, refused=True)

    def body(self) -> dict:
        """The JSON answer."""
        if self.refused:
            return {"error": self.message}
        body: dict = {"message": self.message}
        if self.deployment_ids:
            body["deployments"] = self.deployment_ids
        return body


@dataclass(frozen=True)
class Presumed:
    """An outcome found from the payload alone, that holds unless ``unless`` is true.

    ``unless`` is an SQL condition (with ``params`` for its bind parameters), checked by the
    statement that records the delivery: most deliveries change nothing (a push to a branch no
    project deploys), and are recorded in one statement. When the condition holds, nothing is
    recorded and the event's handler runs instead.
    """

    outcome: Outcome
    unless: ColumnElement[bool] | None = None
    params: dict[str, Any] = field(default_factory=dict)
