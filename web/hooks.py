"""Deploy hooks: a secret URL per project that deploys its branch head.

``POST /hooks/deploy/<token>`` (or ``POST /hooks/deploy`` with ``Authorization: Bearer
<token>``, which keeps the token out of URLs) reads the head of the project's branch,
queues a deployment of it and answers 201 with its id and dashboard URL.

The token is in the path, and paths end up in access logs: gunicorn writes none by
default (the Procfile sets no --access-logfile), and a filter on the web server's
and Flask's loggers masks anything shaped like a Slipway token, should one be turned on.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request

from slipway.db import session_scope
from slipway.deployments import BranchHead, DeployRequestError, request_deployment
from slipway.git_remote import project_for_hook_token, redact_tokens
from slipway.settings import Settings

bp = Blueprint("hooks", __name__)

# Loggers that write request lines (the path) on their own: werkzeug's dev server, gunicorn.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")


class RedactTokens(logging.Filter):
    """Masks Slipway tokens in a record's message and arguments (tuples, or gunicorn's atom dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = redact_tokens(value)  # in place: gunicorn's dict is a subclass
        return True


def install_log_redaction(app_logger: logging.Logger) -> None:
    for logger in (app_logger, *map(logging.getLogger, REQUEST_LOGGERS)):
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


@bp.record_once
def _on_register(state) -> None:
    install_log_redaction(state.app.logger)


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


@bp.post("/hooks/deploy/<token>")
def deploy_hook(token: str):
    return _trigger(token)


@bp.post("/hooks/deploy")
def deploy_hook_with_header():
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return jsonify({"error": "give the hook's token as `Authorization: Bearer <token>`, "
                                 "or POST to the hook's URL"}), 401
    return _trigger(auth.token)


@bp.get("/hooks/deploy/<token>")
@bp.get("/hooks/deploy")
def deploy_hook_get(token: str | None = None):
    return jsonify({"error": "deploy hooks are triggered with POST, e.g. curl -X POST <hook URL>"}), 405, \
        {"Allow": "POST"}


def _trigger(token: str):
    settings = _settings()
    with session_scope(settings) as session:
        project = project_for_hook_token(session, token)
        project_id = project.id if project is not None else None
    if project_id is None:
        return jsonify({"error": "no deploy hook has this token (was it regenerated?)"}), 404
    try:
        # The head is read before anything is recorded: an unreadable repository leaves nothing behind.
        dep = request_deployment(project_id, BranchHead(), "hook", settings=settings)
    except DeployRequestError as exc:
        return jsonify({"error": str(exc)}), exc.status
    url = settings.deployment_url(dep.deployment_id)
    return jsonify({
        "message": f"deployment {dep.deployment_id} of {dep.sha[:7]} ({dep.branch}) queued",
        "deployment_id": dep.deployment_id,
        "dashboard_url": url,
        "project": dep.project,
        "sha": dep.sha,
        "branch": dep.branch,
        "replaced": dep.replaced,
    }), 201
