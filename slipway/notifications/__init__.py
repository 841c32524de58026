"""Telling people how their deployments ended: Slack, Discord, email, or a signed webhook of their own.

A project has channels (``NotificationChannel``), each on failure (the default) and optionally on
success. When a deployment ends, its reporter (``slipway.notifications.reporter``, one of the
deployment road's reporters) records one ``NotificationDelivery`` per channel that wants it and, after
that commits, enqueues ``slipway.notifications.jobs.send_notification`` with the delivery's id; the job
loads the rest, sends, and lets rq retry it with backoff (``SLIPWAY_NOTIFY_RETRY_BACKOFF``). Nothing
here can block or fail a deployment: the reporter only writes a row and enqueues, and reporters never
raise into the job.

Secrets: a webhook URL carries its token (Slack's and Discord's are credentials), so channel targets
are stored encrypted (``slipway.crypto``) and shown only as scheme and host; a signed webhook's secret
is generated, shown once, and kept encrypted because every delivery is signed with it. Neither ever
reaches a log line, a job's arguments or a delivery's recorded error.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.crypto import decrypt, encrypt
from slipway.models import NotificationChannel, NotificationDelivery, Project
from slipway.notifications.egress import refusal_on_adding
from slipway.settings import Settings
from slipway.validation import shown

KINDS = ("slack", "discord", "email", "webhook")
EVENTS = ("failed", "succeeded")
SECRET_PREFIX = "whsec"
_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
# One address, no display name, nothing that could smuggle a header in.
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def check_target(settings: Settings, kind: str, target: str) -> str | None:
    """What is wrong with a channel's target, in the user's words; None if it is fine."""
    if kind not in KINDS:
        return f"kind {shown(kind)} must be one of {', '.join(KINDS)}"
    if kind == "email":
        if not settings.smtp_host:
            return "email notifications need an SMTP server: set SLIPWAY_SMTP_HOST (and its SLIPWAY_SMTP_* settings)"
        return None if _EMAIL_RE.fullmatch(target) else "give one email address, like ops@example.com"
    try:
        parts = urlsplit(target)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or any(
            c.isspace() for c in target):
        return f"the {kind} webhook must be an http(s) URL, like https://hooks.example.com/..."
    refused = refusal_on_adding(settings, kind, target)  # not at an internal service (SSRF)
    return str(refused) if refused else None


def shown_target(kind: str, target: str) -> str:
    """A channel's target as lists show it: an email address whole, a URL without its secret path."""
    if kind == "email":
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def add_channel(session: Session, settings: Settings, project: Project, name: str, kind: str, target: str,
                on_failure: bool = True, on_success: bool = False) -> tuple[NotificationChannel, str | None]:
    """Add a channel to ``project``; returns it and, for a signed webhook, its secret (shown once).

    ValueError says what to fix.
    """
    problems = []
    if not _NAME_RE.fullmatch(name or ""):
        problems.append(f"channel name {shown(name or '')} must be 1-40 lowercase letters, digits or dashes")
    problem = check_target(settings, kind, target)
    if problem:
        problems.append(problem)
    if not (on_failure or on_success):
        problems.append("a channel that hears of neither failures nor successes says nothing: keep one")
    if session.scalar(select(NotificationChannel.id).where(NotificationChannel.project_id == project.id,
                                                           NotificationChannel.name == name)) is not None:
        problems.append(f"{project.name} already has a channel named {name!r}")
    if problems:
        raise ValueError("; ".join(problems))
    secret = f"{SECRET_PREFIX}_{secrets.token_urlsafe(32)}" if kind == "webhook" else None
    channel = NotificationChannel(project_id=project.id, name=name, kind=kind, target_enc=encrypt(target),
                                  secret_enc=encrypt(secret) if secret else None,
                                  on_failure=on_failure, on_success=on_success)
    session.add(channel)
    session.flush()
    return channel, secret


def remove_channel(session: Session, project: Project, name: str) -> bool:
    channel = session.scalar(select(NotificationChannel).where(NotificationChannel.project_id == project.id,
                                                               NotificationChannel.name == name))
    if channel is None:
        return False
    session.delete(channel)
    return True


def channels_of(session: Session, project_id: int) -> list[NotificationChannel]:
    return list(session.scalars(select(NotificationChannel).where(NotificationChannel.project_id == project_id)
                                .order_by(NotificationChannel.name)))


def last_delivery(session: Session, channel_id: int) -> NotificationDelivery | None:
    return session.scalars(select(NotificationDelivery).where(NotificationDelivery.channel_id == channel_id)
                           .order_by(NotificationDelivery.id.desc())).first()


def target_of(channel: NotificationChannel) -> str:
    return decrypt(channel.target_enc)


def secret_of(channel: NotificationChannel) -> str | None:
    return decrypt(channel.secret_enc) if channel.secret_enc else None
