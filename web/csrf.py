"""Cross-site request forgery protection for the dashboard's forms: a token per session."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, make_response, render_template, request, session

CSRF_KEY = "csrf"


def csrf_token() -> str:
    """The session's token, for a hidden ``csrf`` field (a Jinja global too)."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Abort with a clear page unless the form carries this session's token."""
    sent = request.form.get(CSRF_KEY, "")
    expected = session.get(CSRF_KEY, "")
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(make_response(render_template(
            "error.html", title="The form is out of date",
            message="This form was not issued by this Slipway session. Reload the page and try again."), 400))
