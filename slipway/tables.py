"""How the CLI shows listings: aligned tables with headers, relative times and durations.

Plain functions of plain values, so the CLI's commands stay a query and a call, and the
formatting is tested without a database. ``--json`` output is built from the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

# Columns wider than this are cut with an ellipsis, except the last one (URLs and reasons read whole).
MAX_CELL = 48


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under upper-case headers, each column as wide as its widest cell, two spaces apart."""
    cells = [[_cell(v, last=i == len(headers) - 1) for i, v in enumerate(row)] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [[h.upper() for h in headers]] + cells
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def _cell(value: object, last: bool) -> str:
    text = "-" if value is None or value == "" else str(value).replace("\n", " ")
    return text if last or len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def _aware(when: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; Slipway writes them all in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``when`` relative to now, as people say it: "just now", "3 min ago", "2 h ago", "5 days ago"."""
    if when is None:
        return "-"
    now = now or datetime.now(timezone.utc)
    seconds = int((_aware(now) - _aware(when)).total_seconds())
    if seconds < 0:
        return "just now"  # clocks of two machines a little apart
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86400
    return f"{days} day{'s' if days != 1 else ''} ago" if days < 60 else _aware(when).strftime("%Y-%m-%d")


def duration(seconds: float | None) -> str:
    """A span as "4.2s", "3m05s" or "1h02m"; "-" when unknown."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def elapsed(start: datetime | None, end: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds from ``start`` to ``end`` (to now while it runs); None if it never started."""
    if start is None:
        return None
    end = end or now or datetime.now(timezone.utc)
    return (_aware(end) - _aware(start)).total_seconds()


def iso(when: datetime | None) -> str | None:
    """A timestamp for ``--json``: ISO 8601 in UTC."""
    return _aware(when).isoformat() if when is not None else None
