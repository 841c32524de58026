"""Who may use the dashboard and the API: whoever knows the admin password.

Pages need a signed-in session; the JSON API also takes ``Authorization: Bearer
<password>`` for scripts. What machines call stays public, each with its own
credential: GitHub's webhooks (signature), the git remote (deploy token) and deploy
hooks (their secret URL), plus the health check.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from web.csrf import check_csrf

bp = Blueprint("auth", __name__)

SESSION_KEY = "signed_in"
PUBLIC_BLUEPRINTS = frozenset({"webhooks", "git_remote", "hooks", "auth"})
PUBLIC_ENDPOINTS = frozenset({"static", "healthz"})


def _password() -> str:
    return current_app.config["SLIPWAY_SETTINGS"].admin_password


def _matches(candidate: str) -> bool:
    expected = _password()
    return bool(expected) and hmac.compare_digest(candidate.encode(), expected.encode())


def _bearer_ok() -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and _matches(header.removeprefix("Bearer ").strip())


def require_sign_in():
    """``before_request``: everything but the public machine endpoints needs a sign-in."""
    if request.endpoint is None or request.blueprint in PUBLIC_BLUEPRINTS or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if session.get(SESSION_KEY) or _bearer_ok():
        return None
    if request.path.startswith("/api/"):
        return jsonify({"error": "sign in: send Authorization: Bearer <SLIPWAY_ADMIN_PASSWORD>"}), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def install(app: Flask) -> None:
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
        session.clear()  # a fresh session (and CSRF token) after signing in
        session[SESSION_KEY] = True
        session.permanent = True
        return redirect(next_url)
    else:
        error = "That is not the admin password. It is SLIPWAY_ADMIN_PASSWORD in $SLIPWAY_DATA_DIR/slipway.env."
    return render_template("login.html", next=next_url, error=error), 401


@bp.post("/logout")
def logout():
    check_csrf()
    session.clear()
    return redirect(url_for("auth.login"))
