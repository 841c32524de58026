"""How the dashboard shows things: relative times, durations, build log lines in colour, steps."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ansi2html import Ansi2HTMLConverter
from markupsafe import Markup

from slipway.states import State

# The road a build travels, as the deployment page draws it; a redeploy skips cloning to pushing.
STEPS = (State.QUEUED, State.CLONING, State.BUILDING, State.PUSHING, State.DEPLOYING, State.LIVE)
_ORDER = {s.value: i for i, s in enumerate(STEPS)}

_ansi = Ansi2HTMLConverter(inline=False, escaped=True)
# What a failing build's decisive line tends to say (docker, git, the pipeline's own messages).
_FAILURE = re.compile(r"error|failed|fatal|non-zero|not found|exception|traceback|denied", re.IGNORECASE)


def ago(ts: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', '2 days ago'."""
    if ts is None:
        return ""
    now = now or datetime.now(UTC)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    seconds = int((now - ts).total_seconds())
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago" if days < 60 else ts.strftime("%Y-%m-%d")


def duration(d) -> str:
    """How long a deployment took (or has taken so far): '42s', '3m 05s'."""
    if d.started_at is None:
        return ""
    end = d.finished_at or datetime.now(UTC)
    start = d.started_at if d.started_at.tzinfo else d.started_at.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    seconds = max(0, int((end - start).total_seconds()))
    return f"{seconds}s" if seconds < 60 else f"{seconds // 60}m {seconds % 60:02d}s"


def log_html(line: str) -> Markup:
    """One build log line as HTML: escaped first (a build prints what it likes), then its ANSI colours."""
    return Markup(_ansi.convert(line, full=False, ensure_trailing_newline=False))


def failing_line(lines: list, state: str) -> int | None:
    """The seq of the line a failed build most likely failed on, to mark it.

    The log ends with summaries that repeat the failure (Slipway's ``== failed:``, Docker's
    ``ERROR: The command ... returned a non-zero code``); the cause is in the output of the
    last step before them: its last line that says error or failed, else its last line.
    """
    if state != State.FAILED.value or not lines:
        return None
    end = len(lines)
    while end > 0 and _SUMMARY.match(lines[end - 1].line):
        end -= 1
    start = end
    while start > 0 and not _STEP_START.match(lines[start - 1].line):
        start -= 1
    output = lines[start:end] or lines
    for row in reversed(output):
        if _FAILURE.search(row.line):
            return row.seq
    return output[-1].seq


# Lines that sum a failure up rather than show it, and lines that start a step's output.
_SUMMARY = re.compile(r"== |ERROR: The command |Removing intermediate container | ---> |\s*$")
_STEP_START = re.compile(r"== | ---> Running in |Step \d+/\d+ : ")


def steps(d, has_log: bool = False) -> list[dict]:
    """Each step of the road with its status: done, current, failed, skipped or todo.

    A failed or cancelled deployment does not store the step it stopped in; an image means the
    build got through (it stopped deploying), a log means it was building, else cloning.
    """
    state = d.state
    skips_build = d.trigger in ("rollback", "redeploy")
    if state in (State.LIVE.value, State.SUPERSEDED.value):
        stopped, end = len(STEPS), None
    elif state in (State.FAILED.value, State.CANCELLED.value):
        stopped = _ORDER["deploying"] if d.image else _ORDER["building"] if has_log else _ORDER["cloning"]
        if d.started_at is None:
            stopped = _ORDER["queued"]
        end = "failed" if state == State.FAILED.value else "cancelled"
    else:
        stopped, end = _ORDER[state], "current"
    out = []
    for i, step in enumerate(STEPS):
        status = "done" if i < stopped else (end or "done") if i == stopped else "todo"
        if skips_build and step.value in ("cloning", "building", "pushing"):
            status = "skipped"
        out.append({"name": step.value, "status": status})
    return out


def spend(events: list, leases: list[dict], budget_uact: int | None, now: datetime | None = None) -> dict:
    """An Akash project's spend against its budget, and its spend over time as an inline SVG's points.

    Spend is what went into escrow (deposits and top-ups, the lease events' amounts) less what the
    open leases' escrow still holds, when the node says; the chart draws the deposits as they came.
    """
    paid = sorted((e for e in events if e.amount_uact), key=lambda e: e.at)
    deposited = sum(e.amount_uact for e in paid)
    left = [lease["escrow_left"] for lease in leases]
    escrow = sum(left) if left and all(v is not None for v in left) else None
    spent = max(0, deposited - (escrow or 0))
    width, height, pad = 600, 120, 4
    top = max([deposited, budget_uact or 0, 1])
    points, total = [], 0
    if paid:
        # From the first deposit to now, so the flat end says how long the last one has lasted.
        end = (now or datetime.now(UTC)).timestamp()
        t0, t1 = paid[0].at.timestamp(), max(end, paid[-1].at.timestamp(), paid[0].at.timestamp() + 1)
        points.append((pad, height - pad))
        for e in paid:
            x = pad + (e.at.timestamp() - t0) / (t1 - t0) * (width - 2 * pad)
            points.append((x, height - pad - total / top * (height - 2 * pad)))
            total += e.amount_uact
            points.append((x, height - pad - total / top * (height - 2 * pad)))
        points.append((width - pad, points[-1][1]))
    budget_y = height - pad - (budget_uact or 0) / top * (height - 2 * pad) if budget_uact else None
    return {"deposited": deposited, "escrow": escrow, "spent": spent, "budget": budget_uact,
            "share": min(100, round(spent / budget_uact * 100)) if budget_uact else None,
            "line": " ".join(f"{x:.1f},{y:.1f}" for x, y in points), "width": width, "height": height,
            "budget_y": budget_y, "first": paid[0].at if paid else None,
            # The newest lease's provider and price, for a project whose lease has closed.
            "last": max((e for e in events if getattr(e, "provider", None)), key=lambda e: e.at, default=None)}
