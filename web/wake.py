"""A deployment's own name that no proxy route serves: the proxy sends it here (``deployer.caddy``'s wake
route, which replaces the path), and ``slipway.wake`` wakes it or says why not. Public: anybody may
visit an app's URL; what answers is decided from the database alone."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from deployer.caddy import WAKE_PATH
from slipway.errors import render
from slipway.wake import ask

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
