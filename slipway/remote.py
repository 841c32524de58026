"""The CLI against a remote Slipway: ``slipway login URL`` keeps its address and an API token in
SLIPWAY_CLI_LOGIN_FILE (mode 0600), and commands then go through the JSON API instead of the
local database. ``slipway logout`` forgets it (and the CLI works locally again)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from slipway.errors import UserError, render
from slipway.settings import Settings


class RemoteError(Exception):
    """The remote Slipway refused or could not be reached; the message is its own ``error``."""


@dataclass(frozen=True)
class Remote:
    url: str
    token: str = field(repr=False)

    def call(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> Any:
        try:
            resp = requests.request(method, f"{self.url.rstrip('/')}/api{path}", json=body, timeout=30,
                                    headers=self._headers(token))
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        if resp.status_code == 204:
            return None
        data = _json_or_none(resp)
        if resp.status_code >= 400:
            raise _refusal(resp.status_code, data)
        return data

    def stream(self, path: str, quiet_s: float) -> Iterator[dict]:
        """The JSON lines of a streamed answer (application/x-ndjson) as they come. It ends when the remote
        ends it, or says nothing for ``quiet_s`` seconds (ask again to go on)."""
        try:
            resp = requests.get(f"{self.url.rstrip('/')}/api{path}", stream=True, timeout=(30, quiet_s),
                                headers=self._headers(None))
        except requests.RequestException as exc:
            raise self._unreachable(exc) from None
        with resp:
            if resp.status_code >= 400:
                raise _refusal(resp.status_code, _json_or_none(resp))
            try:
                for raw in resp.iter_lines():
                    if raw:
                        yield json.loads(raw)
            except requests.RequestException:  # quiet for too long, or cut off: the caller asks again
                return

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}", "User-Agent": "slipway-cli"}

    def _unreachable(self, exc: Exception) -> RemoteError:
        return RemoteError(render(UserError.CLI_UNREACHABLE, url=self.url, reason=type(exc).__name__))


def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _refusal(status: int, data: Any) -> RemoteError:
    """The remote's ``{"error": ...}`` (and its field ``errors``) as the exception the CLI shows."""
    error = data.get("error") if isinstance(data, dict) else None
    if status == 401:
        error = render(UserError.CLI_LOGIN_EXPIRED)
    extra = f" ({json.dumps(data['errors'])})" if isinstance(data, dict) and data.get("errors") else ""
    return RemoteError(f"{error or f'HTTP {status}'}{extra}")


def load(settings: Settings) -> Remote | None:
    path = settings.cli_login_path
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Remote(data["url"], data["token"])


def save(settings: Settings, remote: Remote) -> Path:
    """Write the login file readable by its owner only (created 0600, never wider for a moment)."""
    path = settings.cli_login_path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": remote.url, "token": remote.token}, fh)
    path.chmod(0o600)
    return path


def forget(settings: Settings) -> bool:
    path = settings.cli_login_path
    if path.exists():
        path.unlink()
        return True
    return False


def login(settings: Settings, url: str, credential: str, days: int) -> tuple[Remote, dict]:
    """Check the credential; the admin password is traded for an API token, never stored itself."""
    url = url.rstrip("/")
    probe = Remote(url, credential)
    me = probe.call("GET", "/me")
    if not credential.startswith("slp_"):
        made = probe.call("POST", "/tokens", {"name": f"slipway CLI on {socket.gethostname()}"[:100],
                                              "scope": "admin", "days": days})
        credential = made["token"]
    remote = Remote(url, credential)
    save(settings, remote)
    return remote, me
