"""Browsers of the dashboard, as tests drive them."""

from __future__ import annotations


def sign_in(client):
    """Make a test client a signed-in browser, its session recorded as signing in records it."""
    from web.auth import SESSION_KEY, sessions

    with client.session_transaction() as session:
        session[SESSION_KEY] = sessions(client.application).begin()
    return client


def dashboard_app(settings):
    """The dashboard's Flask app for these settings, in testing mode (exceptions reach the test)."""
    from web import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app
