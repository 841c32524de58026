"""Who is asking: people signed in with GitHub, the local admin, and API tokens.

Pages need a signed-in session: "Sign in with GitHub" (the GitHub App's OAuth client, see
slipway.github.oauth) or the admin password (a single machine's operator). The JSON API also
takes ``Authorization: Bearer <API token>`` (slipway.accounts.tokens) or ``Bearer <admin
password>`` for scripts. What machines call stays public, each with its own credential: GitHub's
webhooks (signature), the git remote (deploy token) and deploy hooks (their secret URL), plus
the health check. What each actor may do is decided by web.access's guard on every route.

A session is more than a signed cookie: signing in records it in Redis, so signing out
ends it for every copy of the cookie. An admin session's record is bound to the admin password
it was opened with, so a new password ends every admin session at once; a user's record names
the user.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from redis import Redis
from redis.exceptions import RedisError

from slipway.accounts import tokens as api_tokens
from slipway.accounts.access import Actor, Scope, team_roles
from slipway.accounts.models import User
from slipway.accounts.users import forget_github_roles, github_roles
from slipway.accounts.users import sign_in as github_sign_in
from slipway.crypto import SecretKeyMissing
from slipway.db import session_scope
from slipway.errors import AppError, UserError, render
from slipway.github.app import oauth_app, oauth_callback_url, user_client
from slipway.github.client import GitHubError
from slipway.github.oauth import OAuthError
from slipway.queue import redis_connection
from slipway.settings import Settings
from web.access import is_public
from web.csrf import check_csrf

bp = Blueprint("auth", __name__)

SESSION_KEY = "signed_in"
OAUTH_STATE_KEY = "github_oauth_state"
USER_RECORD = b"user:"


class Sessions:
    """Signed-in sessions, one Redis key each, that expire with the cookie and can end sooner."""

    def __init__(self, redis: Redis, settings: Settings, lifetime: timedelta):
        self.redis = redis
        self.settings = settings
        self.lifetime = lifetime

    def _key(self, session_id: str) -> str:
        # Namespaced like job ids and log streams, so instances sharing a Redis never meet.
        return f"slipway:{self.settings.queue_name}:session:{session_id}"

    def _password_fingerprint(self) -> bytes:
        # Keyed, so Redis never holds anything that helps guess the password.
        message = b"slipway-session\0" + self.settings.admin_password.encode()
        return hmac.new(self.settings.secret_key.encode(), message, hashlib.sha256).hexdigest().encode()

    def begin(self, user_id: int | None = None) -> str:
        """Record a new session (the admin's, or a user's); its id goes in the cookie."""
        session_id = secrets.token_urlsafe(32)
        record = self._password_fingerprint() if user_id is None else USER_RECORD + str(int(user_id)).encode()
        self.redis.set(self._key(session_id), record, ex=self.lifetime)
        return session_id

    def principal(self, session_id: object) -> tuple[str, int | None] | None:
        """``("admin", None)`` for an admin session opened under today's password, ``("user", id)``
        for a user's, None for a session that has ended."""
        if not isinstance(session_id, str) or not session_id:
            return None
        recorded = self.redis.get(self._key(session_id))
        if recorded is None:
            return None
        if recorded.startswith(USER_RECORD):
            return "user", int(recorded[len(USER_RECORD):])
        if self.settings.admin_password and hmac.compare_digest(recorded, self._password_fingerprint()):
            return "admin", None
        return None

    def is_open(self, session_id: object) -> bool:
        return self.principal(session_id) is not None

    def end(self, session_id: object) -> None:
        if isinstance(session_id, str) and session_id:
            self.redis.delete(self._key(session_id))


def sessions(app: Flask | None = None) -> Sessions:
    return (app or current_app).extensions["slipway_sessions"]


def _session_principal() -> tuple[str, int | None] | None:
    """This request's session: asked of Redis once per request."""
    if "slipway_principal" not in g:
        g.slipway_principal = sessions().principal(session.get(SESSION_KEY))
        if g.slipway_principal is None and SESSION_KEY in session:
            session.pop(SESSION_KEY)  # the browser forgets a session that has ended
    return g.slipway_principal


def signed_in() -> bool:
    """Whether this request's session is open."""
    return _session_principal() is not None


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


def user_actor(user_id: int, token_id: int | None = None, scope: Scope | None = None) -> Actor | None:
    """A user as an actor: their teams' roles now, their GitHub access when first needed."""
    settings = _settings()
    with session_scope(settings) as db:
        user = db.get(User, user_id)
        if user is None:
            return None
        login, roles = user.login, team_roles(db, user.id)

    def from_github() -> dict:
        with session_scope(settings) as db:
            return github_roles(db, settings, user_client(settings), redis_connection(settings), user_id)

    return Actor("user", user_id=user_id, login=login, token_id=token_id, scope=scope, team_roles=roles,
                 github_roles=from_github)


def _actor_from_session() -> Actor | None:
    principal = _session_principal()
    if principal is None:
        return None
    kind, user_id = principal
    return Actor.admin() if kind == "admin" else user_actor(user_id)


def _actor_from_bearer() -> Actor | None:
    """The API's ``Authorization: Bearer``: an API token, or (scripts) the admin password."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    credential = header.removeprefix("Bearer ").strip()
    if credential.startswith(f"{api_tokens.PREFIX}_"):
        with session_scope(_settings()) as db:
            token = api_tokens.authenticate(db, credential)
            found = (token.id, token.user_id, Scope(token.scope)) if token is not None else None
        if found is None:
            g.slipway_sign_in_failed = True  # counted against the client's limit, as a wrong password is
            return None
        token_id, user_id, scope = found
        return Actor.admin(token_id, scope) if user_id is None else user_actor(user_id, token_id, scope)
    return Actor.admin() if _matches(credential) else None


def current_login() -> str | None:
    """Who the page header names; None before signing in."""
    actor = g.get("slipway_actor")
    return actor.label if actor is not None else None


def _signed_in_for_page() -> bool:
    # Pages only choose their header with it; the error page of a Redis outage must still render.
    try:
        return signed_in()
    except RedisError:
        return False


def _password() -> str:
    return current_app.config["SLIPWAY_SETTINGS"].admin_password


def _matches(candidate: str) -> bool:
    expected = _password()
    matches = bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())
    if not matches:
        g.slipway_sign_in_failed = True  # counted against the client's limit (web/limits.py)
    return matches


def sign_in_failed() -> bool:
    """Whether this request offered a wrong admin password."""
    return g.get("slipway_sign_in_failed", False)


def require_sign_in():
    """``before_request``: everything but the public machine endpoints needs someone signed in."""
    if is_public(request.endpoint, request.blueprint):
        return None
    actor = _actor_from_session()
    # Bearer credentials are taken by the API only, where their failures are counted (web/limits.py).
    if actor is None and request.blueprint == "api":
        actor = _actor_from_bearer()
    if actor is not None:
        g.slipway_actor = actor
        return None
    if request.path.startswith("/api/"):
        return jsonify({"error": render(UserError.AUTH_API_CREDENTIAL)}), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, without building its signer for a request that carries none.

    Machines (webhooks, the git remote, deploy hooks) never send the cookie, and they are most requests.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Looking for a Cookie header first spares parsing an empty one into a dict of cookies.
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def install(app: Flask, settings: Settings) -> None:
    app.session_interface = CookieSessions()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # Lax, not Strict: GitHub's redirects back must arrive signed in
        SESSION_COOKIE_SECURE=settings.public_url.lower().startswith("https://"),
    )
    app.extensions["slipway_sessions"] = Sessions(redis_connection(settings), settings,
                                                  app.permanent_session_lifetime)
    app.jinja_env.globals["signed_in"] = _signed_in_for_page
    app.jinja_env.globals["current_login"] = current_login
    app.jinja_env.globals["github_sign_in"] = lambda: _github_configured(settings)
    app.before_request(require_sign_in)
    app.register_blueprint(bp)


def _safe_next(target: str | None) -> str:
    # Only paths on this site: never send a freshly signed-in user elsewhere.
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=next_url, error=None)
    check_csrf()
    if not _password():
        error = "SLIPWAY_ADMIN_PASSWORD is not set: run `slipway init`, which generates one."
    elif _matches(request.form.get("password", "")):
        _start_session(None)
        return redirect(next_url)
    else:
        error = "That is not the admin password. It is SLIPWAY_ADMIN_PASSWORD in $SLIPWAY_DATA_DIR/slipway.env."
    return render_template("login.html", next=next_url, error=error), 401


@bp.post("/logout")
def logout():
    check_csrf()
    sessions().end(session.get(SESSION_KEY))
    session.clear()
    return redirect(url_for("auth.login"))


def _github_configured(settings: Settings) -> bool:
    try:
        return oauth_app(settings) is not None
    except Exception:  # noqa: BLE001 - the sign-in page must render even if the stored App is unreadable
        return False


def _oauth_client(settings: Settings):
    try:
        return user_client(settings)
    except SecretKeyMissing:  # the stored App's secret cannot be read: as good as no App
        current_app.logger.warning("github sign-in: the stored App's client secret cannot be decrypted")
        return None


def _start_session(user_id: int | None) -> None:
    sessions().end(session.get(SESSION_KEY))
    session.clear()  # a fresh session (and CSRF token) after signing in
    session[SESSION_KEY] = sessions().begin(user_id)
    session.permanent = True


def _sign_in_error(status: int, message: str):
    return render_template("login.html", next=url_for("dashboard.index"), error=message), status


@bp.get("/login/github")
def github_login():
    """Send the browser to GitHub to authorize the App; a one-time state comes back with it."""
    settings = _settings()
    client = _oauth_client(settings)
    if client is None:
        return _sign_in_error(409, render(UserError.AUTH_GITHUB_NOT_CONFIGURED))
    state = secrets.token_urlsafe(32)
    session[OAUTH_STATE_KEY] = {"state": state, "next": _safe_next(request.args.get("next"))}
    return redirect(client.authorize_url(oauth_callback_url(settings), state))


@bp.get("/login/github/callback")
def github_callback():
    """GitHub's redirect back: check the state, trade the code for the user's token, sign them in."""
    started = session.pop(OAUTH_STATE_KEY, None) or {}
    expected, state = started.get("state", ""), request.args.get("state", "")
    if not expected or not state or not hmac.compare_digest(expected.encode(), state.encode()):
        return _sign_in_error(400, render(UserError.AUTH_OAUTH_STATE))
    if request.args.get("error"):
        # The user pressed Cancel on GitHub (error=access_denied); GitHub's text is not repeated here.
        return _sign_in_error(401, render(UserError.AUTH_OAUTH_DENIED))
    code = request.args.get("code", "")
    settings = _settings()
    client = _oauth_client(settings)
    if not code or client is None:
        return _sign_in_error(400, render(UserError.AUTH_OAUTH_NO_CODE))
    try:
        with session_scope(settings) as db:
            user_id = github_sign_in(db, settings, client, code, oauth_callback_url(settings)).id
    except OAuthError as exc:
        current_app.logger.warning("github sign-in refused: %s", exc.code)
        return _sign_in_error(401, render(UserError.AUTH_OAUTH_CODE))
    except GitHubError as exc:
        current_app.logger.warning("github sign-in failed: %s", exc)
        return _sign_in_error(502, render(AppError.AUTH_GITHUB_SIGN_IN, status=exc.status or "nothing"))
    forget_github_roles(settings, redis_connection(settings), user_id)  # their access may have changed
    _start_session(user_id)
    return redirect(started.get("next") or url_for("dashboard.index"))
