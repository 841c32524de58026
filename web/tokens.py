"""The signed-in person's API tokens: make one (shown once), see them, revoke one."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from slipway.accounts import audit
from slipway.accounts import tokens as api_tokens
from slipway.accounts.access import Scope, Site
from slipway.db import session_scope
from web.access import current_actor, guard
from web.csrf import check_csrf

bp = Blueprint("tokens", __name__)


def _settings():
    return current_app.config["SLIPWAY_SETTINGS"]


def _page(created: str | None = None, error: str | None = None, status: int = 200):
    actor = current_actor()
    with session_scope(_settings()) as session:
        rows = api_tokens.owned(session, actor.user_id)
        return render_template("tokens.html", tokens=rows, created=created, error=error, scopes=[s.value for s in Scope],
                               default_days=_settings().api_token_days_n,
                               public_url=_settings().public_url.rstrip("/")), status


@bp.get("/tokens")
@guard(Site.SIGNED_IN)
def index():
    return _page()


@bp.post("/tokens")
@guard(Site.SIGNED_IN)
def create():
    check_csrf()
    actor = current_actor()
    with session_scope(_settings()) as session:
        try:
            token, text = api_tokens.create(session, actor.user_id, request.form.get("name", ""),
                                            request.form.get("scope", ""),
                                            request.form.get("days", type=int) or _settings().api_token_days_n)
        except api_tokens.TokenError as exc:
            return _page(error=str(exc), status=422)
        audit.record(session, actor, "api-token.create", token_id=token.id, scope=token.scope)
    return _page(created=text, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@guard(Site.SIGNED_IN)
def revoke(token_id: int):
    check_csrf()
    actor = current_actor()
    with session_scope(_settings()) as session:
        if api_tokens.revoke(session, actor.user_id, token_id) is None:
            abort(404)
        audit.record(session, actor, "api-token.revoke", token_id=token_id)
    return _page()
