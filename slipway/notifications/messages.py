"""What a notification says, in each channel's own format (plain functions of plain values).

Slack: an incoming webhook takes ``text`` (the fallback shown in notifications) and ``blocks``
(Block Kit; a section's ``mrkdwn`` text at most 3000 characters), where ``&``, ``<`` and ``>`` are
markup and must be escaped. Discord: an execute-webhook body takes ``content`` (at most 2000
characters) and ``embeds`` (title at most 256, description at most 4096, colour an integer);
``allowed_mentions`` with no ``parse`` keeps an ``@everyone`` in a commit message from pinging
anyone. The generic webhook gets Slipway's own JSON, signed (``slipway.notifications.senders``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from email.message import EmailMessage

SLACK_SECTION_MAX = 3000
DISCORD_CONTENT_MAX = 2000
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096
RED, GREEN = 0xD93F0B, 0x2DA44E


@dataclass(frozen=True)
class Notice:
    """One deployment's end, as every channel tells it."""

    event: str  # failed, succeeded
    project: str
    deployment_id: int
    state: str
    sha: str
    branch: str
    pr_number: int | None
    trigger: str
    url: str | None  # the app's, when live
    reason: str | None  # why it failed
    dashboard_url: str
    duration_s: float | None

    @property
    def where(self) -> str:
        return f"pull request #{self.pr_number}" if self.pr_number else self.branch

    @property
    def headline(self) -> str:
        what = "is live" if self.event == "succeeded" else "failed"
        return f"{self.project}: deployment {self.deployment_id} of {self.sha[:7]} ({self.where}) {what}"

    @property
    def detail(self) -> str:
        if self.event == "succeeded":
            return f"Live at {self.url}" if self.url else "Live."
        return self.reason or "The deployment failed; its log says why."


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(n: Notice) -> dict:
    icon = ":white_check_mark:" if n.event == "succeeded" else ":x:"
    head = f"{icon} *{_slack_escape(n.headline)}*\n"
    link = f"\n<{_slack_escape(n.dashboard_url)}|Deployment {n.deployment_id} in Slipway>"
    # The reason is what gets cut when it is long: the link to the log always arrives.
    detail = _cut(_slack_escape(n.detail), max(0, SLACK_SECTION_MAX - len(head) - len(link)))
    return {
        "text": _slack_escape(n.headline),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _cut(head + detail + link, SLACK_SECTION_MAX)}}],
    }


def discord_payload(n: Notice) -> dict:
    return {
        "content": _cut(n.headline, DISCORD_CONTENT_MAX),
        "embeds": [{
            "title": _cut(f"Deployment {n.deployment_id} {'is live' if n.event == 'succeeded' else 'failed'}",
                          DISCORD_TITLE_MAX),
            "description": _cut(n.detail, DISCORD_DESCRIPTION_MAX),
            "url": n.dashboard_url,
            "color": GREEN if n.event == "succeeded" else RED,
        }],
        "allowed_mentions": {"parse": []},
    }


def webhook_body(n: Notice) -> dict:
    """Slipway's own JSON for a signed webhook: the event and the deployment, plain values."""
    deployment = {k: v for k, v in asdict(n).items() if k not in ("event", "project")}
    deployment["id"] = deployment.pop("deployment_id")
    return {"event": f"deployment.{n.event}", "project": n.project, "deployment": deployment}


def email_message(n: Notice, sender: str, recipient: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[Slipway] {n.headline}"
    msg["From"] = sender
    msg["To"] = recipient
    lines = [n.headline, "", n.detail, "", f"Commit: {n.sha}", f"Branch: {n.where}", f"Trigger: {n.trigger}"]
    if n.duration_s is not None:
        lines.append(f"Took: {n.duration_s:.0f} s")
    lines += ["", f"Log and details: {n.dashboard_url}"]
    msg.set_content("\n".join(lines) + "\n")
    return msg
