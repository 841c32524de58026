"""What handling one webhook delivery came to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import jsonify


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

    def response(self):
        body = {"message": self.message}
        if self.deployment_ids:
            body["deployments"] = self.deployment_ids
        return jsonify(body), self.status
