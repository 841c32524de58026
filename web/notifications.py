"""The project page's notifications: list, add and remove channels (slipway.notifications)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from slipway.accounts import audit
from slipway.db import session_scope
from slipway.notifications import add_channel, channels_of, last_delivery, remove_channel, shown_target, target_of
from slipway.projects import get_project_by_name
from slipway.accounts.access import Action
from web.access import current_actor, guard
from web.csrf import check_csrf

bp = Blueprint("notifications", __name__)


@bp.app_template_global()
def notification_channels(project_id: int) -> list[dict]:
    """The project's channels as its page shows them: targets by host only, and the last delivery."""
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        rows = []
        for c in channels_of(session, project_id):
            last = last_delivery(session, c.id)
            rows.append({"name": c.name, "kind": c.kind, "to": shown_target(c.kind, target_of(c)),
                         "on": [e for e, on in (("failure", c.on_failure), ("success", c.on_success)) if on],
                         "last": None if last is None else {"status": last.status, "deployment_id": last.deployment_id,
                                                            "attempts": last.attempts, "error": last.last_error}})
        return rows


@bp.post("/projects/<name>/notifications")
@guard(Action.SETTINGS)
def add(name: str):
    """Add a channel; a bad value shows the project page again with what to fix (400)."""
    from web.dashboard import _project_page

    check_csrf()
    settings = current_app.config["SLIPWAY_SETTINGS"]
    form = request.form
    with session_scope(settings) as session:
        project = get_project_by_name(session, name)
        if project is None:
            abort(404)
        try:
            channel, secret = add_channel(session, settings, project, form.get("name", "").strip(),
                                          form.get("kind", ""), form.get("target", "").strip(),
                                          on_failure=bool(form.get("on_failure")),
                                          on_success=bool(form.get("on_success")))
        except ValueError as exc:
            session.rollback()
            error = str(exc)
        else:
            error = None
            audit.record(session, current_actor(), "notification.add", project, channel=channel.name, kind=channel.kind)
    if error:
        flash(f"Notification not added: {error}", "error")
        return _project_page(name, status=400)
    if secret:
        # Shown in this answer only: never flashed (the session cookie would carry it) nor kept in clear.
        return render_template("notification_secret.html", project=name, channel=form.get("name", "").strip(),
                               secret=secret), 201
    flash(f"Notifications go to {form.get('name', '').strip()} from the next deployment that ends.", "notice")
    return redirect(url_for("dashboard.project", name=name))


@bp.post("/projects/<name>/notifications/<channel>/delete")
@guard(Action.SETTINGS)
def remove(name: str, channel: str):
    check_csrf()
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        project = get_project_by_name(session, name)
        if project is None or not remove_channel(session, project, channel):
            abort(404)
        audit.record(session, current_actor(), "notification.remove", project, channel=channel)
    flash(f"Removed {channel}.", "notice")
    return redirect(url_for("dashboard.project", name=name))
