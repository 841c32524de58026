"""Per-user API tokens: ``slp_...``, shown once, kept as a SHA-256 hash, with an expiry and a scope.

A token acts as its user (or the local admin), narrowed to its scope: ``read`` sees, ``deploy``
also deploys, rolls back and cancels, ``admin`` does whatever the user's role allows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.accounts.access import Scope
from slipway.accounts.models import ApiToken
from slipway.crypto import new_token, token_hash
from slipway.errors import UserError

PREFIX = "slp"
MAX_DAYS = 366
NAME_MAX = 100


class TokenError(UserError):
    """A token request that cannot be granted; the message says what to change."""


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def create(session: Session, user_id: int | None, name: str, scope: str, days: int,
           now: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token; the text is returned here once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(UserError.TOKEN_NAME, most=NAME_MAX)
    try:
        scope = Scope(scope)
    except ValueError:
        raise TokenError(UserError.TOKEN_SCOPE, scopes=", ".join(s.value for s in Scope), value=scope) from None
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise TokenError(UserError.TOKEN_DAYS, most=MAX_DAYS, value=days)
    now = now or datetime.now(UTC)
    text = new_token(PREFIX)
    token = ApiToken(user_id=user_id, name=name, token_hash=token_hash(text), prefix=text[:10], scope=scope.value,
                     created_at=now, expires_at=now + timedelta(days=days))
    session.add(token)
    session.flush()
    return token, text


# A token's last use is noted to the minute: a CLI or CI job's every request would otherwise be a write.
LAST_USED_PRECISION = timedelta(minutes=1)


def authenticate(session: Session, text: str, now: datetime | None = None) -> ApiToken | None:
    """The live token with this text (not revoked, not expired), its last use noted (when the one noted is
    over ``LAST_USED_PRECISION`` old); else None."""
    if not text.startswith(f"{PREFIX}_"):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(text)))
    now = now or datetime.now(UTC)
    if token is None or token.revoked_at is not None or _aware(token.expires_at) <= now:
        return None
    if token.last_used_at is None or now - _aware(token.last_used_at) >= LAST_USED_PRECISION:
        token.last_used_at = now
    return token


def owned(session: Session, user_id: int | None) -> list[ApiToken]:
    """A user's tokens (the admin's: ``user_id`` None), newest first, revoked ones left out."""
    condition = ApiToken.user_id.is_(None) if user_id is None else ApiToken.user_id == user_id
    return list(session.scalars(select(ApiToken).where(condition, ApiToken.revoked_at.is_(None))
                                .order_by(ApiToken.id.desc())))


def revoke(session: Session, user_id: int | None, token_id: int, now: datetime | None = None) -> ApiToken | None:
    """Revoke one of the user's own tokens; None when they have no such token."""
    token = next((t for t in owned(session, user_id) if t.id == token_id), None)
    if token is not None:
        token.revoked_at = now or datetime.now(UTC)
    return token


def expired(token: ApiToken, now: datetime | None = None) -> bool:
    return _aware(token.expires_at) <= (now or datetime.now(UTC))
