"""The web app: dashboard, JSON API and the webhook receiver."""

from __future__ import annotations

import gc

from flask import Flask, jsonify, render_template, request

from slipway.logs import configure as configure_logging
from slipway.settings import Settings, get_settings, set_settings


def create_app(settings: Settings | None = None) -> Flask:
    if settings is not None:
        set_settings(settings)
    settings = get_settings()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key or None, SLIPWAY_SETTINGS=settings)
    configure_logging(settings)

    from web import api
    from web.dashboard import bp as dashboard_bp
    from web.git_remote import bp as git_remote_bp
    from web.github_app import bp as github_app_bp
    from web.hooks import bp as hooks_bp
    from web.notifications import bp as notifications_bp
    from web.tokens import bp as tokens_bp
    from web.wake import bp as wake_bp
    from web.webhooks import FastWebhooks
    from web.webhooks import bp as webhooks_bp

    for bp in (webhooks_bp, dashboard_bp, github_app_bp, git_remote_bp, hooks_bp, tokens_bp, notifications_bp,
               wake_bp):
        app.register_blueprint(bp)
    api.install(app)
    from web import auth, headers, limits
    from web.csrf import csrf_token

    headers.install(app, settings)
    limits.install(app, settings)  # first: a blocked client is refused before its password is checked
    auth.install(app, settings)
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    def _wants_json() -> bool:
        return request.path.startswith(("/api/", "/webhooks/")) or request.accept_mimetypes.best == "application/json"

    @app.errorhandler(404)
    def not_found(_exc):
        if _wants_json():
            return jsonify({"error": "not found"}), 404
        return render_template("error.html", title="Not found", message="There is nothing at this address."), 404

    @app.errorhandler(403)
    def forbidden(exc):
        message = getattr(exc, "description", None) or "your role does not allow this"
        if _wants_json():
            return jsonify({"error": message}), 403
        return render_template("error.html", title="Not allowed", message=f"Not allowed: {message}."), 403

    @app.errorhandler(422)
    def unprocessable(exc):
        # flask-smorest (webargs) refuses input that does not fit a route's schema: say which fields.
        messages = (getattr(exc, "data", None) or {}).get("messages")
        if _wants_json():
            return jsonify({"error": "the request does not fit: see errors", "errors": messages or {}}), 422
        return render_template("error.html", title="Bad request", message="The request does not fit."), 422

    @app.errorhandler(500)
    def server_error(_exc):
        # Never the exception text: it may hold a secret. The operator's log has the details.
        if _wants_json():
            return jsonify({"error": "internal error; the operator's log has the details"}), 500
        return render_template("error.html", title="Something broke",
                               message="Slipway hit an internal error. The operator's log has the details."), 500

    from web.access import check_every_route

    check_every_route(app)  # a route nobody checks stops the app from starting
    # GitHub's deliveries are answered before Flask's request machinery, which cost more than they do.
    app.wsgi_app = FastWebhooks(app, app.wsgi_app)
    _freeze_once()
    return app


_frozen = False


def _freeze_once() -> None:
    """Keep what the process has loaded by now out of the garbage collector's full passes.

    Modules, the app and its engines live as long as the worker; with them a full pass took about
    100 ms, a pause of every request the worker was serving. Once per process (tests build many apps).
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
