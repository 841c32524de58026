"""Slipway's one door to GitHub: App authentication, installation tokens, and the few REST
calls the pipeline makes (commit statuses, deployments, PR comments).

Tokens never leave this module in text form: not in exceptions, logs or reprs, and a clone
gets its credentials through environment variables (``git_auth_env``), never a URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import jwt
import requests

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "slipway"
COMMIT_STATES = ("error", "failure", "pending", "success")
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
# GitHub rejects longer status descriptions with 422.
MAX_DESCRIPTION = 140
# GitHub caps an App JWT at 10 minutes; iat is backdated for clock drift, so 60 s + 540 s = 600 s.
JWT_BACKDATE_S = 60
JWT_LIFETIME_S = 9 * 60
# A token is renewed this long before it expires, so a job never starts with one about to die.
TOKEN_REFRESH_MARGIN_S = 5 * 60
RETRY_STATUSES = frozenset({500, 502, 503, 504})

_SECRET_PATTERNS = re.compile(
    r"(gh[pousr]_[A-Za-z0-9_]{8,}|github_pat_[A-Za-z0-9_]{8,}|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)"
)


@dataclass(frozen=True)
class AppCredentials:
    """Who Slipway is on GitHub: the App's id and private key."""

    app_id: int
    private_key_pem: str = field(repr=False)
    api_url: str = DEFAULT_API_URL


@dataclass(frozen=True)
class InstallationToken:
    """A short-lived token acting as one installation of the App."""

    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class AppRegistration:
    """What GitHub returns once an App is created from a manifest; secrets stay out of repr."""

    app_id: int
    slug: str
    name: str
    html_url: str
    client_id: str
    client_secret: str = field(repr=False)
    webhook_secret: str | None = field(repr=False)
    pem: str = field(repr=False)

    def credentials(self, api_url: str = DEFAULT_API_URL) -> AppCredentials:
        return AppCredentials(self.app_id, self.pem, api_url)


class GitHubError(Exception):
    """GitHub answered with an error (or could not be reached: ``status`` is None).

    Carries GitHub's own message; tokens are scrubbed from it.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        method: str = "",
        path: str = "",
        request_id: str | None = None,
        errors: list[Any] | None = None,
    ):
        self.status = status
        self.message = redact(message)
        self.method = method
        self.path = path
        self.request_id = request_id
        self.errors = errors or []
        where = f"{method} {path} " if method else ""
        super().__init__(f"GitHub {where}answered {status}: {self.message}" if status else f"GitHub {where}failed: {self.message}")


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Mask anything shaped like a GitHub token or JWT, and each of ``secrets``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _SECRET_PATTERNS.sub("[redacted]", text)


def mint_app_jwt(creds: AppCredentials, now: float | None = None) -> str:
    """The JWT that authenticates as the App itself (RS256, 10 minutes at most)."""
    issued = int(time.time() if now is None else now)
    claims = {"iat": issued - JWT_BACKDATE_S, "exp": issued + JWT_LIFETIME_S, "iss": str(creds.app_id)}
    return jwt.encode(claims, creds.private_key_pem, algorithm="RS256")


def verify_webhook_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True if ``header`` (X-Hub-Signature-256) is the HMAC-SHA256 of the raw ``body``."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))


def git_auth_env(token: str, url: str = "https://github.com/", environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables that make git send ``token`` to ``url`` (and only there).

    Passed as ``GIT_CONFIG_*`` variables, the header is never written into ``.git/config``
    or a remote URL, so nothing on disk keeps the token after the clone.
    Merge the result into the subprocess environment: ``env={**os.environ, **git_auth_env(t)}``.
    """
    environ = os.environ if environ is None else environ
    index = int(environ.get("GIT_CONFIG_COUNT") or 0)  # append to, not clobber, existing ones
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    scope = url if url.endswith("/") else url + "/"
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": f"http.{scope}.extraheader",
        f"GIT_CONFIG_VALUE_{index}": f"AUTHORIZATION: basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",  # a bad token must fail, not wait for a password
    }


class GitHubClient(Protocol):
    """What the pipeline needs from GitHub; tests may pass any object with these methods."""

    def create_commit_status(
        self, installation_id: int, repo_full_name: str, sha: str, state: str,
        target_url: str | None = None, description: str | None = None, context: str = "slipway",
    ) -> dict[str, Any]: ...

    def create_deployment(
        self, installation_id: int, repo_full_name: str, ref: str, environment: str, description: str = "", *,
        transient_environment: bool = False, production_environment: bool = True,
        auto_merge: bool = False, required_contexts: Sequence[str] = (),
    ) -> dict[str, Any]: ...

    def create_deployment_status(
        self, installation_id: int, repo_full_name: str, deployment_id: int, state: str, *,
        environment_url: str | None = None, log_url: str | None = None, description: str = "",
    ) -> dict[str, Any]: ...

    def create_issue_comment(self, installation_id: int, repo_full_name: str, issue_number: int, body: str) -> dict[str, Any]: ...

    def update_issue_comment(self, installation_id: int, repo_full_name: str, comment_id: int, body: str) -> dict[str, Any]: ...

    def git_env(self, installation_id: int, clone_url: str) -> dict[str, str]: ...


class GitHubApp:
    """A GitHub App client: mints JWTs, caches installation tokens, retries what is worth it."""

    def __init__(
        self,
        creds: AppCredentials,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        max_wait_s: float = 120.0,
        timeout_s: float = 30.0,
    ):
        self.creds = creds
        self._session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._max_attempts = max(1, max_attempts)
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s  # longer rate-limit waits fail now rather than stall a job
        self._timeout_s = timeout_s
        self._tokens: dict[int, InstallationToken] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self.creds.app_id}, api_url={self.creds.api_url!r})"

    # -- App-level ----------------------------------------------------------
    def app_jwt(self) -> str:
        return mint_app_jwt(self.creds, now=self._clock())

    def get_app(self) -> dict[str, Any]:
        """The App as GitHub sees it (``GET /app``); a cheap check that the key works."""
        return self._request("GET", "/app", auth=lambda: f"Bearer {self.app_jwt()}")

    def installation_token(self, installation_id: int) -> InstallationToken:
        """A token for the installation, from cache unless it expires within 5 minutes."""
        with self._lock_for(installation_id):
            cached = self._tokens.get(installation_id)
            if cached and cached.expires_at.timestamp() - self._clock() > TOKEN_REFRESH_MARGIN_S:
                return cached
            data = self._request(
                "POST", f"/app/installations/{int(installation_id)}/access_tokens",
                auth=lambda: f"Bearer {self.app_jwt()}",
            )
            token = InstallationToken(data["token"], _parse_time(data["expires_at"]))
            self._tokens[installation_id] = token
            return token

    def invalidate(self, installation_id: int, token: InstallationToken | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        with self._lock_for(installation_id):
            if token is None or self._tokens.get(installation_id) == token:
                self._tokens.pop(installation_id, None)

    def convert_app_manifest(self, code: str) -> AppRegistration:
        """Finish the manifest flow: trade the one-time ``code`` for the new App's credentials."""
        data = self._request("POST", f"/app-manifests/{quote(code, safe='')}/conversions", auth=None)
        return AppRegistration(
            app_id=int(data["id"]), slug=data.get("slug") or "", name=data["name"], html_url=data["html_url"],
            client_id=data["client_id"], client_secret=data["client_secret"],
            webhook_secret=data.get("webhook_secret"), pem=data["pem"],
        )

    # -- installation-level -------------------------------------------------
    def list_installation_repositories(self, installation_id: int) -> list[dict[str, Any]]:
        repos: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self._as_installation(
                installation_id, "GET", "/installation/repositories", params={"per_page": 100, "page": page}
            )
            repos.extend(data["repositories"])
            if not data["repositories"] or len(repos) >= data["total_count"]:
                return repos
            page += 1

    def create_commit_status(
        self, installation_id: int, repo_full_name: str, sha: str, state: str,
        target_url: str | None = None, description: str | None = None, context: str = "slipway",
    ) -> dict[str, Any]:
        _check_choice("state", state, COMMIT_STATES)
        body: dict[str, Any] = {"state": state, "context": context}
        if target_url:
            body["target_url"] = target_url
        if description is not None:
            body["description"] = truncate(description)
        return self._as_installation(
            installation_id, "POST", f"{_repo_path(repo_full_name)}/statuses/{quote(sha, safe='')}", json=body
        )

    def create_deployment(
        self, installation_id: int, repo_full_name: str, ref: str, environment: str, description: str = "", *,
        transient_environment: bool = False, production_environment: bool = True,
        auto_merge: bool = False, required_contexts: Sequence[str] = (),
    ) -> dict[str, Any]:
        # required_contexts=[] because Slipway's own pending status would otherwise block it (409).
        body = {
            "ref": ref, "environment": environment, "description": description,
            "transient_environment": transient_environment, "production_environment": production_environment,
            "auto_merge": auto_merge, "required_contexts": list(required_contexts),
        }
        data = self._as_installation(installation_id, "POST", f"{_repo_path(repo_full_name)}/deployments", json=body)
        if "id" not in data:  # 202: GitHub merged the default branch instead of deploying
            raise GitHubError(202, data.get("message") or "no deployment created", method="POST",
                              path=f"{_repo_path(repo_full_name)}/deployments")
        return data

    def create_deployment_status(
        self, installation_id: int, repo_full_name: str, deployment_id: int, state: str, *,
        environment_url: str | None = None, log_url: str | None = None, description: str = "",
    ) -> dict[str, Any]:
        _check_choice("state", state, DEPLOYMENT_STATES)
        body: dict[str, Any] = {"state": state, "description": truncate(description)}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        return self._as_installation(
            installation_id, "POST", f"{_repo_path(repo_full_name)}/deployments/{int(deployment_id)}/statuses", json=body
        )

    def create_issue_comment(self, installation_id: int, repo_full_name: str, issue_number: int, body: str) -> dict[str, Any]:
        return self._as_installation(
            installation_id, "POST", f"{_repo_path(repo_full_name)}/issues/{int(issue_number)}/comments", json={"body": body}
        )

    def update_issue_comment(self, installation_id: int, repo_full_name: str, comment_id: int, body: str) -> dict[str, Any]:
        return self._as_installation(
            installation_id, "PATCH", f"{_repo_path(repo_full_name)}/issues/comments/{int(comment_id)}", json={"body": body}
        )

    def git_env(self, installation_id: int, clone_url: str) -> dict[str, str]:
        """Environment for ``git clone clone_url`` as the installation (see ``git_auth_env``)."""
        scheme, _, rest = clone_url.partition("://")
        host = rest.split("/", 1)[0].rpartition("@")[2]  # never scope to (or keep) URL credentials
        return git_auth_env(self.installation_token(installation_id).token, f"{scheme}://{host}/")

    # -- plumbing -----------------------------------------------------------
    def _lock_for(self, installation_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(installation_id, threading.Lock())

    def _as_installation(self, installation_id: int, method: str, path: str, **kwargs: Any) -> Any:
        # A 401 means the cached token died early (revoked, or expired server-side): renew once.
        for attempt in (1, 2):
            token = self.installation_token(installation_id)
            resp = self._send(method, path, auth=lambda: f"Bearer {token.token}", **kwargs)
            if resp.status_code == 401 and attempt == 1:
                log.info("github: %s %s got 401, renewing installation %s token", method, path, installation_id)
                self.invalidate(installation_id, token)
                continue
            return self._decode(resp, method, path, secrets=(token.token,))
        raise AssertionError("unreachable")

    def _request(self, method: str, path: str, *, auth: Callable[[], str] | None, **kwargs: Any) -> Any:
        return self._decode(self._send(method, path, auth=auth, **kwargs), method, path)

    def _send(self, method: str, path: str, *, auth: Callable[[], str] | None, **kwargs: Any) -> requests.Response:
        url = self.creds.api_url.rstrip("/") + path
        for attempt in range(1, self._max_attempts + 1):
            headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT}
            if auth is not None:
                headers["Authorization"] = auth()  # fresh per attempt: a JWT may age during backoff
            try:
                resp = self._session.request(method, url, headers=headers, timeout=self._timeout_s, **kwargs)
            except requests.RequestException as exc:
                if attempt == self._max_attempts:
                    # `from None`: requests' exception holds the request, Authorization header included.
                    raise GitHubError(None, f"could not reach GitHub ({type(exc).__name__})", method=method, path=path) from None
                wait = self._backoff(attempt)
                log.warning("github: %s %s failed (%s), retry %d in %.1fs", method, path, type(exc).__name__, attempt, wait)
                self._sleep(wait)
                continue
            wait = self._retry_wait(resp, attempt)
            if wait is None or attempt == self._max_attempts:
                return resp
            log.warning("github: %s %s answered %d, retry %d in %.1fs", method, path, resp.status_code, attempt, wait)
            resp.close()
            self._sleep(wait)
        raise AssertionError("unreachable")

    def _retry_wait(self, resp: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying ``resp``, or None if it should not be retried."""
        status, headers = resp.status_code, resp.headers
        retry_after = headers.get("retry-after", "").strip()
        wait: float | None = None
        if status in RETRY_STATUSES:
            wait = float(retry_after) if retry_after.isdigit() else self._backoff(attempt)
        elif status in (403, 429):
            # Secondary rate limits, per GitHub's docs: honour retry-after, else the reset time,
            # else wait at least a minute. A plain 403 (no permission) is not retried.
            if retry_after.isdigit():
                wait = float(retry_after)
            elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
                wait = max(0.0, float(headers["x-ratelimit-reset"]) - self._clock()) + 1.0
            elif status == 429 or "rate limit" in resp.text.lower():
                wait = max(60.0, self._backoff(attempt))
        if wait is None or wait > self._max_wait_s:
            return None
        return wait

    def _backoff(self, attempt: int) -> float:
        return self._backoff_s * 2 ** (attempt - 1)

    @staticmethod
    def _decode(resp: requests.Response, method: str, path: str, secrets: Sequence[str] = ()) -> Any:
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = None
        if resp.status_code >= 400 or data is None:
            message = data.get("message") if isinstance(data, dict) else None
            raise GitHubError(
                resp.status_code,
                redact(message or resp.reason or "unreadable response", secrets),
                method=method,
                path=path,
                request_id=resp.headers.get("x-github-request-id"),
                errors=data.get("errors") if isinstance(data, dict) else None,
            )
        return data


def truncate(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` cut to GitHub's limit, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _repo_path(repo_full_name: str) -> str:
    owner, sep, repo = repo_full_name.partition("/")
    if not sep or not owner or not repo or "/" in repo:
        raise ValueError(f"not an owner/name repository: {repo_full_name!r}")
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
