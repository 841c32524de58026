"""A deployment's own name that no proxy route serves: the proxy sends it here (``deployer.caddy``'s wake
route, which replaces the path), and ``slipway.wake`` wakes it or says why not. Public: anybody may
visit an app's URL; what answers is decided from the database alone."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request

from deployer.caddy import WAKE_PATH
from slipway.db import session_scope
from slipway.errors import render
from slipway.wake import ask, own_url_answers, wakeable_images

bp = Blueprint("wake", __name__)

TITLES = {503: "Starting…", 404: "Not found", 410: "No longer running"}


@bp.route(WAKE_PATH, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def wake():
    answer = ask(current_app.config["SLIPWAY_SETTINGS"], request.host)
    if answer.starting:
        title, message = "Starting…", "This version of the app is starting again. It answers in a few seconds."
    else:
        title, message = TITLES.get(answer.status, "Unavailable"), render(answer.message_id, **answer.params)
    if "text/html" in request.headers.get("Accept", ""):  # a browser: a page that reloads itself
        body, kind = render_template("wake.html", answer=answer, title=title, message=message), "text/html"
    else:  # curl and other clients: the message, and the status and Retry-After say the rest
        body, kind = message + "\n", "text/plain; charset=utf-8"
    headers = {"Content-Type": kind, "Cache-Control": "no-store"}
    if answer.retry_after:
        headers["Retry-After"] = str(answer.retry_after)
    return body, answer.status, headers


@bp.app_template_global("own_url_answers")
def own_url_answers_now(d) -> bool:
    """For the dashboard: whether a deployment's own URL answers (live, or superseded and woken on a
    visit while its image is kept); one look at each project's kept images per page."""
    if d.state != "superseded":
        return own_url_answers(d, set())
    cache = g.setdefault("slipway_wakeable_images", {})
    if d.project_id not in cache:
        settings = current_app.config["SLIPWAY_SETTINGS"]
        with session_scope(settings) as session:
            cache[d.project_id] = wakeable_images(session, settings, d.project_id)
    return own_url_answers(d, cache[d.project_id])
