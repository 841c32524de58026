"""``installation`` and ``installation_repositories``: which repositories the App may build."""

from __future__ import annotations

from sqlalchemy.orm import Session

from webhooks.outcome import Outcome


def handle_installation(session: Session, payload: dict) -> Outcome:
    return Outcome(202, "installation events are not handled yet")


def handle_installation_repositories(session: Session, payload: dict) -> Outcome:
    return Outcome(202, "installation_repositories events are not handled yet")
