"""The GitHub stand-in's installation as the tests set it up, and a git host that wants its tokens."""

from __future__ import annotations

import base64

from tests.github.standin import GitHubStandIn

INSTALLATION_ID = 1001
ACCOUNT = "octo-org"
REPO = "octo-org/hello"


class TokenGate:
    """WSGI middleware: only requests carrying a live installation token of the stand-in get through,
    sent the way GitHub's git hosting takes it (basic auth as ``x-access-token``)."""

    def __init__(self, app, standin: GitHubStandIn, installation_id: int):
        self.app = app
        self.standin = standin
        self.installation_id = installation_id
        self.verdicts: list[str] = []

    def verdict(self, header: str) -> str:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return "missing"
        try:
            user, _, token = base64.b64decode(value, validate=True).decode().partition(":")
        except ValueError:
            return "malformed"
        issued = self.standin.tokens.get(token)
        if user != "x-access-token" or issued is None or issued.installation_id != self.installation_id:
            return "unknown"
        if issued.expires_at <= self.standin.clock():
            return "expired"
        return "ok"

    def __call__(self, environ, start_response):
        verdict = self.verdict(environ.get("HTTP_AUTHORIZATION", ""))
        self.verdicts.append(verdict)
        if verdict != "ok":
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="GitHub"'),
                                                ("Content-Type", "text/plain")])
            return [b"Invalid username or token.\n"]
        return self.app(environ, start_response)
