"""What a `git push` prints after git has stored it: the build log, then how the deployment ended.

As Heroku does, the push's answer stays open and its progress channel (side-band 2) carries the
deployment's log lines as the build writes them, so the pusher learns in the same terminal that the
build failed, and why. The lines come from the build log's Redis stream (``slipway.buildlog``), the
one the dashboard's live view reads; no job and no worker waits for the pusher. It is bounded by
``SLIPWAY_GIT_PUSH_FOLLOW_TIMEOUT`` (0: never follow), and a pusher opts out with
``git push -o slipway.follow=false``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from redis import Redis

from slipway.buildlog import follow, stream_key
from slipway.db import session_scope
from slipway.models import Deployment
from slipway.settings import Settings

FOLLOW_OPTION = "slipway.follow"
_NO = {"false", "no", "off", "0"}


def wants_follow(settings: Settings, options: list[str]) -> bool:
    """Whether the push's output follows its deployment: the setting allows it and the pusher did not opt out."""
    if settings.git_push_follow_timeout_s <= 0:
        return False
    for option in options:
        key, _, value = option.partition("=")
        if key.strip().lower() == FOLLOW_OPTION and value.strip().lower() in _NO:
            return False
    return True


def follow_lines(settings: Settings, redis: Redis, deployment_id: int,
                 clock: Callable[[], float] = time.monotonic, idle_s: float = 1.0) -> Iterator[str]:
    """The deployment's log lines as they are written, then one line saying how it ended.

    Stops at the deployment's end (the stream's end mark, or a final state in the database for a
    deployment no job ran, such as one cancelled while queued) or after the follow time-out.
    """
    deadline = clock() + settings.git_push_follow_timeout_s
    yield (f"Slipway: following deployment {deployment_id}'s build "
           f"(`git push -o {FOLLOW_OPTION}=false` returns at once; Ctrl-C stops watching, not the build)")
    entries = follow(redis, stream_key(deployment_id, settings.queue_name), block_ms=max(1, int(idle_s * 1000)))
    try:
        for entry in entries:
            if "line" in entry:
                yield entry["line"]
            elif "state" in entry:
                pass  # a step: its "== step" line follows
            elif "end" in entry or _ended(settings, deployment_id):
                yield ending(settings, deployment_id)
                return
            if clock() >= deadline:
                yield (f"Slipway: stopped following after {settings.git_push_follow_timeout} s "
                       f"(SLIPWAY_GIT_PUSH_FOLLOW_TIMEOUT); the deployment goes on: "
                       f"{settings.deployment_url(deployment_id)}")
                return
    finally:
        entries.close()


def _ended(settings: Settings, deployment_id: int) -> bool:
    with session_scope(settings) as session:
        dep = session.get(Deployment, deployment_id)
        return dep is None or dep.state_enum.final


def ending(settings: Settings, deployment_id: int) -> str:
    """One line with the deployment's final state: its URL when live, its reason otherwise."""
    with session_scope(settings) as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None:
            return f"Slipway: deployment {deployment_id} is gone (its project was deleted)"
        if dep.state == "live":
            return f"Slipway: deployment {deployment_id} is live at {dep.url}"
        if not dep.state_enum.final:
            return f"Slipway: deployment {deployment_id} is {dep.state}: {settings.deployment_url(deployment_id)}"
        reason = f": {dep.error_message}" if dep.error_message else ""
        return f"Slipway: deployment {deployment_id} {dep.state.upper()}{reason} ({settings.deployment_url(deployment_id)})"
