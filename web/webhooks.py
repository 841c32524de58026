"""``POST /webhooks/github``: the HTTP side of ``webhooks.github.receive``.

Reads the body (no more than ``SLIPWAY_WEBHOOK_MAX_BYTES``), hands it over with the headers, and
answers with the outcome as JSON. GitHub hears back before the queued commits are reported to it.

Deliveries come in bursts of hundreds per second, and Flask's work around each request (request
and app contexts, the session, URL matching, hooks, a response object) cost more CPU than the
receiver itself. So ``FastWebhooks``, WSGI middleware in front of the Flask app, answers them
without it: the same body limit, JSON and security headers, byte for byte. Anything else, and a
webhook that carries a cookie (GitHub's never do; a browser's might), goes on to Flask, where the
blueprint's view below answers it the same way; an exception in the fast path is handled by
Flask too, as it would have been in the view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_input_stream

from slipway.settings import Settings
from web.bodies import BodyTooLarge, read_limited
from web.headers import security_headers
from webhooks.github import Outcome, receive, report_queued

PATH = "/webhooks/github"

bp = Blueprint("webhooks", __name__)


@bp.post(PATH)
def github_webhook():
    """Only for deliveries ``FastWebhooks`` leaves to Flask; answers as it does."""
    settings = current_app.config["SLIPWAY_SETTINGS"]
    try:
        body = read_limited(request, settings.webhook_max_bytes_n)
    except BodyTooLarge:
        outcome = _too_large(settings)
    else:
        outcome = receive(settings, body, request.headers)
    response = jsonify(outcome.body())
    response.status_code = outcome.status
    if outcome.report_ids:
        # After the answer is sent: GitHub waits for nobody, and the commit shows "Queued" at once.
        response.call_on_close(partial(report_queued, settings, tuple(outcome.report_ids)))
    return response


def _too_large(settings: Settings) -> Outcome:
    return Outcome.refuse(413, f"payload larger than {settings.webhook_max_bytes_n} bytes")


WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class FastWebhooks:
    """WSGI middleware that answers ``POST /webhooks/github`` itself and passes everything else on.

    Mounted as ``app.wsgi_app = FastWebhooks(app, app.wsgi_app)``. Settings are read from the app's
    config on every delivery, as the view reads them.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp):
        self.app = app
        self.wsgi_app = wsgi_app
        self._security: tuple[Settings, list[tuple[str, str]]] | None = None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST"
                or "HTTP_COOKIE" in environ):
            return self.wsgi_app(environ, start_response)
        try:
            settings = self.app.config["SLIPWAY_SETTINGS"]
            outcome = self._receive(settings, environ)
            data = self._json(outcome.body())
            headers = [("Content-Type", self.app.json.mimetype), ("Content-Length", str(len(data))),
                       *self._security_headers(settings)]
        except Exception as exc:  # noqa: BLE001 - answered by Flask's error handling, as in the view
            return self._answer_with_flask(exc, environ, start_response)
        start_response(_status_line(outcome.status), headers)
        if outcome.report_ids:
            return _ThenCall(data, partial(report_queued, settings, tuple(outcome.report_ids)))
        return [data]

    def _receive(self, settings: Settings, environ: dict) -> Outcome:
        # What ``read_limited`` does with Werkzeug's request: the limit one byte past the setting, so
        # a chunked body that goes past it is seen (Werkzeug's stream raises) and not cut short.
        limit = settings.webhook_max_bytes_n
        try:
            body = get_input_stream(environ, max_content_length=limit + 1).read()
        except RequestEntityTooLarge:
            return _too_large(settings)
        if len(body) > limit:
            return _too_large(settings)
        return receive(settings, body, EnvironHeaders(environ))

    def _json(self, obj: Any) -> bytes:
        # ``jsonify``'s text: the app's JSON provider, compact unless the app is in debug mode.
        provider = self.app.json
        if (getattr(provider, "compact", None) is None and self.app.debug) or getattr(provider, "compact", None) is False:
            text = provider.dumps(obj, indent=2)
        else:
            text = provider.dumps(obj, separators=(",", ":"))
        return f"{text}\n".encode()

    def _security_headers(self, settings: Settings) -> list[tuple[str, str]]:
        # Built again only when the settings change (the policy names the GitHub URL).
        if self._security is None or self._security[0] is not settings:
            self._security = (settings, security_headers(settings))
        return self._security[1]

    def _answer_with_flask(self, exc: Exception, environ: dict, start_response: Callable) -> Iterable[bytes]:
        """What Flask's ``wsgi_app`` does with an exception the view raised: its handlers, hooks and 500 page."""
        app = self.app
        ctx = app.request_context(environ)
        error: BaseException | None = None
        try:
            try:
                ctx.push()
                try:
                    raise exc
                except Exception as raised:  # noqa: BLE001 - Flask's handlers re-raise what they cannot handle
                    response = app.finalize_request(app.handle_user_exception(raised))
            except Exception as raised:  # noqa: BLE001
                error = raised
                response = app.handle_exception(raised)
            except BaseException as raised:
                error = raised
                raise
            return response(environ, start_response)
        finally:
            ctx.pop(error)


_STATUS_LINES: dict[int, str] = {}


def _status_line(status: int) -> str:
    """Werkzeug's status line for a code: ``202 ACCEPTED``."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = _STATUS_LINES[status] = f"{status} {HTTP_STATUS_CODES.get(status, 'unknown').upper()}"
    return line


class _ThenCall:
    """A one-chunk WSGI answer that runs ``on_close`` once the server has sent it (PEP 3333 ``close``)."""

    def __init__(self, data: bytes, on_close: Callable[[], None]):
        self.data = data
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        yield self.data

    def close(self) -> None:
        self.on_close()
