"""GitHub as people sign in with it: the App's OAuth client (the web application flow) and the
few calls made with a user's own token.

The flow (docs: "Generating a user access token for a GitHub App"): the browser goes to
``/login/oauth/authorize`` with the App's client id, the callback URL and a one-time ``state``;
GitHub sends it back with a ``code`` that works once, for ten minutes; the code, the client
secret and the same callback URL buy a user access token (``ghu_``, eight hours) and a refresh
token (``ghr_``). With it, ``GET /user`` says who signed in, and ``GET /user/installations`` and
``/user/installations/{id}/repositories`` which of the App's repositories the user reaches, and how.

Tokens never leave this module in text form except as the values returned to the caller, who
stores them encrypted; they are scrubbed from every error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests

from slipway.github.client import API_VERSION, USER_AGENT, GitHubError, redact

# GitHub lists at most 100 per page; past 10 pages of installations something else is wrong.
PER_PAGE = 100
MAX_PAGES = 10


@dataclass(frozen=True)
class OAuthApp:
    """The App's OAuth client, and where GitHub is."""

    client_id: str
    client_secret: str = field(repr=False)
    web_url: str = "https://github.com"
    api_url: str = "https://api.github.com"


@dataclass(frozen=True)
class UserTokens:
    access_token: str = field(repr=False)
    expires_at: datetime | None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str
    name: str | None


class OAuthError(Exception):
    """GitHub refused the exchange: ``code`` is its own error name (bad_verification_code ...)."""

    def __init__(self, code: str, description: str):
        self.code = code
        self.description = redact(description)
        super().__init__(f"GitHub refused the sign-in ({code}): {self.description}")


class UserClient:
    """The OAuth exchange and the user-token calls; ``session`` and ``clock`` are swappable."""

    def __init__(self, app: OAuthApp, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 10.0):
        self.app = app
        self._session = session or requests.Session()
        self._clock = clock
        self._timeout_s = timeout_s

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode({"client_id": self.app.client_id, "redirect_uri": redirect_uri, "state": state})
        return f"{self.app.web_url.rstrip('/')}/login/oauth/authorize?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> UserTokens:
        return self._token({"code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> UserTokens:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token(self, params: dict[str, str]) -> UserTokens:
        url = f"{self.app.web_url.rstrip('/')}/login/oauth/access_token"
        data = {"client_id": self.app.client_id, "client_secret": self.app.client_secret, **params}
        secrets = [self.app.client_secret, *params.values()]
        try:
            resp = self._session.post(url, data=data, headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                                      timeout=self._timeout_s)
        except requests.RequestException as exc:
            raise GitHubError(None, redact(str(exc), secrets), method="POST", path="/login/oauth/access_token") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict):
            raise GitHubError(resp.status_code, redact(resp.text[:300], secrets), method="POST",
                              path="/login/oauth/access_token")
        # GitHub answers 200 with an "error" field when it refuses the exchange.
        if "error" in body or not body.get("access_token"):
            raise OAuthError(str(body.get("error", "no_token")), str(body.get("error_description", "")))
        now = datetime.fromtimestamp(self._clock(), UTC)

        def after(key: str) -> datetime | None:
            return now + timedelta(seconds=int(body[key])) if body.get(key) else None

        return UserTokens(body["access_token"], after("expires_in"), body.get("refresh_token") or None,
                          after("refresh_token_expires_in"))

    # -- as the user -------------------------------------------------------------
    def user(self, token: str) -> GitHubUser:
        data = self._get(token, "/user")
        return GitHubUser(int(data["id"]), data["login"], data.get("name"))

    def repositories(self, token: str) -> dict[str, dict[str, bool]]:
        """Every repository of the App's installations the user reaches: lower-cased full name ->
        the user's ``permissions`` on it (admin, maintain, push, triage, pull)."""
        found: dict[str, dict[str, bool]] = {}
        for installation in self._pages(token, "/user/installations", "installations"):
            path = f"/user/installations/{int(installation['id'])}/repositories"
            for repo in self._pages(token, path, "repositories"):
                found[repo["full_name"].lower()] = dict(repo.get("permissions") or {})
        return found

    def _pages(self, token: str, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._get(token, path, params={"per_page": PER_PAGE, "page": page})
            items.extend(data[key])
            if len(items) >= int(data.get("total_count", 0)) or not data[key]:
                break
        return items

    def _get(self, token: str, path: str, params: dict[str, Any] | None = None) -> Any:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
                   "User-Agent": USER_AGENT, "Authorization": f"Bearer {token}"}
        url = f"{self.app.api_url.rstrip('/')}{path}"
        try:
            resp = self._session.get(url, headers=headers, params=params, timeout=self._timeout_s)
        except requests.RequestException as exc:
            raise GitHubError(None, redact(str(exc), [token]), method="GET", path=path) from None
        if resp.status_code != 200:
            try:
                message = resp.json().get("message", "")
            except ValueError:
                message = resp.text[:200]
            raise GitHubError(resp.status_code, redact(str(message), [token]), method="GET", path=path)
        return resp.json()
