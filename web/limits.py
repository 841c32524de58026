"""Failed sign-ins are rate-limited per client address, by Flask-Limiter counting in Slipway's Redis.

The limit (SLIPWAY_LOGIN_RATE_LIMIT) covers the requests that offer the admin password: the
sign-in form and API calls with an ``Authorization`` header share one count per address. Only
failures count, so the right password under the limit always works; past it even the right one
is answered 429 until the window has moved on. Nothing else is limited: the machine endpoints
(webhooks, git remote, deploy hooks, health) never wait on a guesser.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

import limits
from flask import Flask, Response, jsonify, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from slipway.errors import UserError, render
from slipway.queue import redis_connection
from slipway.settings import Settings
from web.auth import sign_in_failed


def limiter_storage(settings: Settings) -> tuple[str, dict]:
    """Flask-Limiter's storage URI and options: Slipway's Redis, reached the way the queue reaches it.

    The one place that decides it: whatever ``redis_connection`` does with REDIS_URL (a password,
    a Unix socket) holds for the counters too, as they go through its connection pool.
    """
    return "redis://", {"connection_pool": redis_connection(settings).connection_pool}


def _offers_password() -> bool:
    if request.endpoint == "auth.login":
        return request.method == "POST"
    return request.blueprint == "api" and "Authorization" in request.headers


def _before(hook: Callable[[], object]) -> Callable[[], object]:
    return functools.wraps(hook)(lambda: hook() if _offers_password() else None)


def _after(hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
    return functools.wraps(hook)(lambda response: hook(response) if _offers_password() else response)


def _teardown(hook: Callable[[BaseException | None], None]) -> Callable[[BaseException | None], None]:
    return functools.wraps(hook)(lambda exc: hook(exc) if _offers_password() else None)


def install(app: Flask, settings: Settings) -> Limiter:
    """Before ``auth.install``: the limit must be checked before the password is."""
    try:
        limits.parse_many(settings.login_rate_limit)
    except ValueError:
        raise UserError(UserError.SETTINGS_RATE_LIMIT, value=settings.login_rate_limit) from None
    uri, options = limiter_storage(settings)
    hooks = ((app.before_request_funcs, _before), (app.after_request_funcs, _after),
             (app.teardown_request_funcs, _teardown))
    already = [list(funcs.get(None, ())) for funcs, _guard in hooks]
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=uri,
        storage_options=options,
        strategy="moving-window",  # never more than the limit in any window, not twice at an edge
        key_prefix=f"slipway:{settings.queue_name}:limits",
        application_limits=[settings.login_rate_limit],
        application_limits_exempt_when=lambda: not _offers_password(),
        application_limits_deduct_when=lambda _response: sign_in_failed(),
    )
    # Every other request skips the limiter's machinery, its hooks included (they cost a webhook
    # more than recording it): webhooks and the git remote come in hundreds per second and none of
    # them is ever limited. The hooks keep their places, so the limit is still checked first.
    for (funcs, guard), before in zip(hooks, already):
        funcs[None] = [f if f in before else guard(f) for f in funcs.get(None, ())]

    @app.errorhandler(429)
    def too_many_sign_ins(_exc):
        breached = limiter.current_limit
        reset_at = breached.window[0] if breached else time.time() + 60  # when the oldest failure leaves it
        seconds = max(1, math.ceil(reset_at - time.time()))
        message = render(UserError.AUTH_TOO_MANY_SIGN_INS, seconds=seconds)
        if request.path.startswith("/api/"):
            resp = jsonify({"error": message})
        else:
            resp = app.make_response(render_template("error.html", title="Too many sign-in attempts",
                                                     message=message))
        resp.status_code = 429
        resp.headers["Retry-After"] = str(seconds)
        return resp

    return limiter
