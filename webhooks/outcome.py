"""What handling one webhook delivery came to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


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
