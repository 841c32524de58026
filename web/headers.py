"""Security headers on every answer: pages, the API, errors and the machine endpoints alike."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

from slipway.settings import Settings


def content_security_policy(settings: Settings) -> str:
    # Scripts and styles come only from /static (templates hold none inline), and no other site
    # may frame the dashboard. Forms post here, or to GitHub when the dashboard creates the App.
    github = urlsplit(settings.github_url)
    return "; ".join((
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        f"form-action 'self' {github.scheme}://{github.netloc}",
    ))


def security_headers(settings: Settings) -> list[tuple[str, str]]:
    """The headers every answer carries (Flask's, and web.webhooks' fast path's)."""
    return [
        ("Content-Security-Policy", content_security_policy(settings)),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ]


def install(app: Flask, settings: Settings) -> None:
    headers = security_headers(settings)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        # What setdefault would do, with one look at the answer's headers instead of one per name
        # (each a scan of them all): it showed in the cost of every webhook.
        present = {name.lower() for name, _value in response.headers}
        response.headers.extend([(name, value) for name, value in headers if name.lower() not in present])
        return response
