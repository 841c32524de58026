"""Who may use the dashboard and the API: whoever knows the admin password.

Pages need a signed-in session; the JSON API also takes ``Authorization: Bearer
<password>`` for scripts. What machines call stays public, each with its own
credential: GitHub's webhooks (signature), the git remote (deploy token) and deploy
hooks (their secret URL), plus the health check.

A session is more than a signed cookie: signing in records it in Redis, so signing out
ends it for every copy of the cookie, and each record is bound to the admin password it
was opened with, so a new password ends every session at once.
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

from slipway.queue import redis_connection
from slipway.settings import Settings
from web.csrf import check_csrf

bp = Blueprint("auth", __name__)

SESSION_KEY = "signed_in"
PUBLIC_BLUEPRINTS = frozenset({"webhooks", "git_remote", "hooks", "auth"})
PUBLIC_ENDPOINTS = frozenset({"static", "healthz"})


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

    def begin(self) -> str:
        """Record a new session; its id goes in the cookie."""
        session_id = secrets.token_urlsafe(32)
        self.redis.set(self._key(session_id), self._password_fingerprint(), ex=self.lifetime)
        return session_id

    def is_open(self, session_id: object) -> bool:
        """Still recorded, and opened under today's admin password."""
        if not isinstance(session_id, str) or not session_id or not self.settings.admin_password:
            return False
        recorded = self.redis.get(self._key(session_id))
        return recorded is not None and hmac.compare_digest(recorded, self._password_fingerprint())

    def end(self, session_id: object) -> None:
        if isinstance(session_id, str) and session_id:
            self.redis.delete(self._key(session_id))


def sessions(app: Flask | None = None) -> Sessions:
    return (app or current_app).extensions["slipway_sessions"]


def signed_in() -> bool:
    """Whether this request's session is open; asked of Redis once per request."""
    if "slipway_signed_in" not in g:
        g.slipway_signed_in = sessions().is_open(session.get(SESSION_KEY))
        if not g.slipway_signed_in and SESSION_KEY in session:
            session.pop(SESSION_KEY)  # the browser forgets a session that has ended
    return g.slipway_signed_in


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


def _bearer_ok() -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and _matches(header.removeprefix("Bearer ").strip())


def require_sign_in():
    """``before_request``: everything but the public machine endpoints needs a sign-in."""
    if request.endpoint is None or request.blueprint in PUBLIC_BLUEPRINTS or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    # The password itself is taken by the API only, where its failures are counted (web/limits.py).
    if signed_in() or (request.blueprint == "api" and _bearer_ok()):
        return None
    if request.path.startswith("/api/"):
        return jsonify({"error": "sign in: send Authorization: Bearer <SLIPWAY_ADMIN_PASSWORD>"}), 401
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
        sessions().end(session.get(SESSION_KEY))
        session.clear()  # a fresh session (and CSRF token) after signing in
        session[SESSION_KEY] = sessions().begin()
        session.permanent = True
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
