"""Browsers of the dashboard, as tests drive them."""

from __future__ import annotations


def sign_in(client):
    """Make a test client a signed-in browser, its session recorded as signing in records it."""
    from web.auth import SESSION_KEY, sessions

    with client.session_transaction() as session:
        session[SESSION_KEY] = sessions(client.application).begin()
    return client
