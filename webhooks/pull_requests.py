"""``pull_request``: previews of pull requests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webhooks.outcome import Outcome


def handle(session: Session, payload: dict) -> Outcome:
    return Outcome(202, "pull request previews are not handled yet")
