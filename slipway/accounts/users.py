"""People who sign in with GitHub: recording them, their tokens (encrypted), and which of the App's
repositories they reach on GitHub (asked with their own token, cached briefly in Redis)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.accounts.access import Actor, Role, role_for_github_permissions, team_roles
from slipway.accounts.models import User
from slipway.crypto import decrypt, encrypt
from slipway.github.client import GitHubError
from slipway.github.oauth import OAuthError, UserClient, UserTokens
from slipway.settings import Settings

log = logging.getLogger(__name__)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def sign_in(session: Session, settings: Settings, client: UserClient, code: str, redirect_uri: str) -> User:
    """Trade the callback's code for the user's tokens, learn who they are, and record them.

    OAuthError (GitHub refused the code) and GitHubError propagate.
    """
    tokens = client.exchange_code(code, redirect_uri)
    who = client.user(tokens.access_token)
    user = session.scalar(select(User).where(User.github_id == who.id))
    if user is None:
        # Someone a team owner added by login before they ever signed in.
        user = session.scalar(select(User).where(User.github_id.is_(None), User.login == who.login))
    if user is None:
        user = User(login=who.login)
        session.add(user)
    user.github_id, user.login, user.name = who.id, who.login, who.name
    _store_tokens(user, tokens, settings)
    user.signed_in_at = datetime.now(UTC)
    session.flush()
    return user


def _store_tokens(user: User, tokens: UserTokens, settings: Settings) -> None:
    user.access_token_enc = encrypt(tokens.access_token, settings.secret_key)
    user.access_token_expires_at = tokens.expires_at
    user.refresh_token_enc = encrypt(tokens.refresh_token, settings.secret_key) if tokens.refresh_token else None
    user.refresh_token_expires_at = tokens.refresh_expires_at


def _access_token(session: Session, settings: Settings, client: UserClient, user: User) -> str | None:
    """The user's token, refreshed if it expired and a refresh token is still good; None when gone."""
    if not user.access_token_enc:
        return None
    now = datetime.now(UTC)
    expires = _aware(user.access_token_expires_at)
    if expires is None or expires > now:
        return decrypt(user.access_token_enc, settings.secret_key)
    refresh_expires = _aware(user.refresh_token_expires_at)
    if not user.refresh_token_enc or (refresh_expires is not None and refresh_expires <= now):
        return None
    try:
        tokens = client.refresh(decrypt(user.refresh_token_enc, settings.secret_key))
    except (OAuthError, GitHubError) as exc:
        log.warning("github: refreshing %s's token failed: %s", user.login, exc)
        return None
    _store_tokens(user, tokens, settings)
    return tokens.access_token


def _cache_key(settings: Settings, user_id: int) -> str:
    return f"slipway:{settings.queue_name}:github-access:{user_id}"


def github_roles(session: Session, settings: Settings, client: UserClient | None, redis: Redis,
                 user_id: int) -> dict[str, Role]:
    """Lower-cased "owner/name" -> the user's role, from GitHub, cached for SLIPWAY_GITHUB_ACCESS_TTL s.

    Nothing (an empty map) when GitHub cannot be asked: the user then sees their teams' projects only.
    """
    key = _cache_key(settings, user_id)
    try:
        cached = redis.get(key)
    except RedisError:
        cached = None
    if cached is not None:
        return {name: Role(role) for name, role in json.loads(cached).items()}
    user = session.get(User, user_id)
    if user is None or client is None:
        return {}
    token = _access_token(session, settings, client, user)
    if token is None:
        return {}
    try:
        repos = client.repositories(token)
    except GitHubError as exc:
        log.warning("github: listing %s's repositories failed: %s", user.login, exc)
        return {}
    roles = {name: r for name, perms in repos.items() if (r := role_for_github_permissions(perms)) is not None}
    try:
        redis.set(key, json.dumps({n: r.value for n, r in roles.items()}), ex=max(1, settings.github_access_ttl_s))
    except RedisError:
        pass
    return roles


def forget_github_roles(settings: Settings, redis: Redis, user_id: int) -> None:
    """Ask GitHub again next time (after signing in: access may have changed)."""
    redis.delete(_cache_key(settings, user_id))


def actor_for(session: Session, settings: Settings, redis: Redis, client_factory, user_id: int,
              token_id: int | None = None, scope=None) -> Actor | None:
    """The actor of a signed-in user (or one of their tokens); None when the user is gone."""
    user = session.get(User, user_id)
    if user is None:
        return None
    return Actor("user", user_id=user.id, login=user.login, token_id=token_id, scope=scope,
                 team_roles=team_roles(session, user.id),
                 github_roles=lambda: github_roles(session, settings, client_factory(), redis, user_id))
