"""Going through the test instance's own Caddy (scripts/test.sh starts it; SLIPWAY_PROXY_* name it).

Python does not resolve ``*.localhost`` here, so requests go to the proxy's address with the app's
host name in the ``Host`` header, as a browser's would arrive.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import requests

from slipway.settings import Settings, set_settings


def through_proxy(settings: Settings, **changes: str) -> Settings:
    """The test's settings with Caddy in front of the apps (the suite runs with SLIPWAY_PROXY=none)."""
    s = replace(settings, proxy="caddy", **changes)
    set_settings(s)
    return s


def get(url: str, session: requests.Session | None = None, timeout: float = 5,
        close: bool = False, headers: dict[str, str] | None = None) -> requests.Response:
    """GET ``url`` (``http://HOST:PORT/PATH`` on the proxy) by connecting to 127.0.0.1:PORT.

    ``close``: on a connection of its own, closed after the answer (no keep-alive).
    """
    parts = urlsplit(url)
    direct = f"http://127.0.0.1:{parts.port or 80}{parts.path or '/'}"
    headers = {**(headers or {}), "Host": parts.netloc, **({"Connection": "close"} if close else {})}
    return (session or requests).get(direct, headers=headers, timeout=timeout, allow_redirects=False)


def caddy_root_ca(base_settings: Settings) -> Path:
    """The test Caddy's internal CA (scripts/services.sh keeps its data in $DATA/caddy)."""
    return Path(base_settings.data_dir) / "caddy" / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"


def https_get(host: str, port: int, cafile: Path, timeout_s: float = 20) -> tuple[str, dict]:
    """GET https://HOST:PORT/ on loopback, verified against ``cafile``; returns (first line and body, peer cert).

    Waits (polling) until Caddy has signed the name: it does so just after loading the route.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ctx = ssl.create_default_context(cafile=str(cafile))
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname=host) as tls:
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
                    cert = tls.getpeercert()
            head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
            return head.splitlines()[0] + "\n" + body, cert
        except (OSError, ssl.SSLError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)
