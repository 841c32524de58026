"""The reverse proxy in front of every app: Caddy, configured only through its admin API.

Slipway owns Caddy's whole configuration. :func:`caddy_config` turns a :class:`RouteTable` (which
host goes to which upstream) into Caddy's JSON, and :meth:`CaddyProxy.apply` loads it with one
``POST /load``: Caddy swaps it in gracefully (requests in flight finish on the old configuration;
none is refused), and a configuration equal to the running one changes nothing. What Caddy forwards
to an upstream right now is asked of ``GET /reverse_proxy/upstreams``, so a retired version is
stopped only once its requests are done (``in_flight``).

Two Caddy processes serve the apps' own names (``<project>.<apps domain>`` ...) over plain HTTP. The
*front* (:func:`front_config`, written once by ``scripts/services.sh``, never reloaded) listens where
clients connect and forwards everything to the *router*, the Caddy whose routes Slipway loads. A
reload of Caddy 2.6 resets the odd connection that arrives at that very moment (measured: a few per
hundred reloads under load); the front, which never reloads, sends such a GET again, so a switch
drops no request. The router also serves HTTPS on ``https_listen`` itself: custom domains, the
dashboard and the registry. Caddy's automatic
HTTPS gets certificates for public names (ACME, once the name points at this machine and ports 80
and 443 reach it; :class:`Acme` says from which CA) and signs local names (``.localhost``, ``.local``, ``.internal``, ``.test``) with
its own internal CA (``tls internal``), never installed into the system's trust store.

A deployment's own name (``d<id>--<project>.<apps domain>``) that no route serves goes to Slipway's web
app (:attr:`RouteTable.wake`, its path replaced by ``WAKE_PATH``), which starts a superseded deployment
on demand or says why it cannot (``slipway.wake``); the names of the deployments so started are noted
in an activity log (when, the host and the status; never who asked or what), so that Slipway can tell
how long each has been idle (:meth:`CaddyProxy.last_requests`). No other request is logged.

The router's admin API listens on a Unix socket in Slipway's run directory (``unix:///PATH``), not on
a TCP port: builds and apps run with the host's network, so anything on loopback is theirs to reach,
while the data dir that holds the socket (and Caddy's storage, its CA's key among it) is never
mounted into their containers and is readable by Slipway's user alone. ``HOST:PORT`` is kept for a
Caddy on another machine only (``slipway.settings`` refuses loopback).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import requests
# The Docker SDK's requests adapter for HTTP over a Unix socket (it talks to dockerd that way).
from docker.transport import UnixHTTPAdapter

# Names no public CA signs: Caddy's internal CA does ("tls internal").
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".test")
APPS_SERVER = "slipway_apps"
TLS_SERVER = "slipway_tls"
NOT_FOUND = "No app answers at this address.\n"


class ProxyError(Exception):
    """Caddy's admin API did not answer, or refused the configuration."""


def is_local_name(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(LOCAL_SUFFIXES)


@dataclass(frozen=True)
class Upstream:
    """An upstream that expects its own name: an Akash provider's ingress at ``dial`` (``host:port``)
    finds the lease by the ``Host`` header (the URI the lease status gave), over TLS when ``tls``."""

    dial: str
    host: str
    tls: bool = False


@dataclass(frozen=True)
class Acme:
    """Where Caddy gets certificates for public names over ACME (RFC 8555).

    ``ca``: the CA's directory URL; empty keeps Caddy's defaults (Let's Encrypt, then ZeroSSL).
    ``ca_root``: a PEM file of roots to trust the directory's HTTPS by, for a CA of your own.
    ``email``: the ACME account's contact. ``http_port``: the port the CA sends HTTP-01 requests to,
    the front's (``SLIPWAY_PROXY_HTTP``); 0 leaves Caddy's choice (the router's own HTTP port).
    """

    ca: str = ""
    ca_root: str = ""
    email: str = ""
    http_port: int = 0


def acme_policy(subjects: list[str], acme: Acme, https_port: int) -> dict:
    """The TLS automation policy for public ``subjects``: ACME issuers that answer the CA's challenges
    on the ports clients reach this proxy at.

    HTTP-01: every Caddy server answers ``/.well-known/acme-challenge/`` for a challenge in progress
    before its routes (Caddy 2.6, ``Server.ServeHTTP``), so the router's apps server answers it even
    though it redirects everything else for these names to HTTPS; the front forwards it there.
    TLS-ALPN-01: the router's TLS server answers it in the handshake on ``https_port``. Both ports are
    held by Caddy already, so the challenge solvers never open listeners of their own there.
    """
    challenges: dict = {"tls-alpn": {"alternate_port": https_port}}
    if acme.http_port:
        challenges["http"] = {"alternate_port": acme.http_port}
    issuer: dict = {"challenges": challenges}
    if acme.email:
        issuer["email"] = acme.email
    if acme.ca_root:
        issuer["trusted_roots_pem_files"] = [acme.ca_root]
    if acme.ca:
        issuers = [{"module": "acme", "ca": acme.ca, **issuer}]
    else:  # Caddy's own default issuers, in its order
        issuers = [{"module": "acme", **issuer}, {"module": "zerossl", **issuer}]
    return {"subjects": subjects, "issuers": issuers}


@dataclass(frozen=True)
class RouteTable:
    """Which host name goes to which upstream (``host:port``, or an :class:`Upstream`).

    ``http``: served over plain HTTP on the apps' listener. ``https``: served over HTTPS (custom
    domains, the dashboard, the registry); over plain HTTP those names redirect to HTTPS.
    """

    http: dict[str, str | Upstream] = field(default_factory=dict)
    https: dict[str, str | Upstream] = field(default_factory=dict)
    # Where a deployment's own name (``d<id>--<project>.<wake_domain>``) goes when no route above
    # serves it: Slipway's web app (``host:port``), which wakes the deployment or says why not.
    # Only such names, and only to this address: the request cannot choose where it goes.
    wake: str | None = None
    wake_domain: str = ""
    # Names whose requests Caddy notes (when, never what) in its activity log: the woken deployments'
    # own names, whose idle time Slipway measures (``CaddyProxy.last_requests``).
    logged: tuple[str, ...] = ()


def _port(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def _proxy_to(upstream: str | Upstream) -> list[dict]:
    if isinstance(upstream, str):
        return [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}]
    handler: dict = {"handler": "reverse_proxy", "upstreams": [{"dial": upstream.dial}],
                     "headers": {"request": {"set": {"Host": [upstream.host]}}}}
    if upstream.tls:
        # Verified against the system's CAs, for the name the provider's ingress serves.
        handler["transport"] = {"protocol": "http", "tls": {"server_name": upstream.host}}
    return [handler]


WAKE_PATH = "/_slipway/wake"


def _wake_route(domain: str, upstream: str) -> dict:
    """Every ``d<id>--<project>.<domain>`` name that no other route serves, to Slipway's wake page
    (its path replaced: the web app's other pages never answer at an app's name)."""
    pattern = r"(?i)^d[0-9]{1,12}--[a-z0-9][a-z0-9-]*\." + re.escape(domain) + r"(:[0-9]+)?$"
    return {"match": [{"host": [f"*.{domain}"], "header_regexp": {"Host": {"pattern": pattern}}}],
            "handle": [{"handler": "rewrite", "uri": WAKE_PATH},
                       {"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}],
            "terminal": True}


def _not_found() -> dict:
    return {"handle": [{"handler": "static_response", "status_code": 404, "body": NOT_FOUND}]}


def front_config(listen: str, router: str) -> dict:
    """The front Caddy's whole configuration: everything on ``listen`` goes to the router at ``router``.

    Requests the router's reload cuts off are tried again (GET, HEAD, OPTIONS: the ones a retry cannot
    repeat a side effect of; with no body, nothing has to be replayed) for up to 5 s.
    """
    retry = {"try_duration": "5s", "try_interval": "10ms", "retry_match": [{"method": ["GET", "HEAD", "OPTIONS"]}]}
    return {
        "admin": {"disabled": True},
        "apps": {"http": {"http_port": _port(listen), "servers": {"slipway_front": {
            "listen": [listen], "automatic_https": {"disable": True},
            "routes": [{"handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": router}],
                                    "load_balancing": retry}]}],
        }}}},
    }


def admin_listen(admin: str) -> str:
    """Caddy's spelling of ``admin`` (``unix:///PATH`` or ``HOST:PORT``): ``unix//PATH`` for a socket."""
    if admin.startswith("unix://"):
        return "unix/" + admin.removeprefix("unix://")
    return admin


ACTIVITY_LOGGER = "slipway_activity"


def _activity_logging(path: str) -> dict:
    """Caddy's logs when some names are logged: their requests' time, host and status to ``path`` (at
    most 2 MB), nothing of who asked or what; no other request is logged anywhere."""
    dropped = ["request>headers", "request>remote_ip", "request>remote_port", "request>uri", "request>tls",
               "resp_headers", "user_id"]
    return {"logs": {
        "default": {"exclude": ["http.log.access"]},
        ACTIVITY_LOGGER: {
            "writer": {"output": "file", "filename": path, "roll_size_mb": 1, "roll_keep": 1},
            "encoder": {"format": "filter", "wrap": {"format": "json"},
                        "fields": {name: {"filter": "delete"} for name in dropped}},
            "include": [f"http.log.access.{ACTIVITY_LOGGER}"]},
    }}


def caddy_config(table: RouteTable, admin: str, http_listen: str, https_listen: str, acme: Acme = Acme(),
                 activity_log: str | None = None) -> dict:
    """Caddy's whole JSON configuration for ``table``: the same table gives the same JSON.

    ``acme``: where public names' certificates come from (:func:`acme_policy`); ``activity_log``: where
    the woken deployments' requests are noted (:func:`_activity_logging`)."""
    https_port = _port(https_listen)
    apps_routes = [{"match": [{"host": [host]}], "handle": _proxy_to(up), "terminal": True}
                   for host, up in sorted(table.http.items())]
    location = "https://{http.request.host}" + ("" if https_port == 443 else f":{https_port}") + "{http.request.uri}"
    apps_routes += [{"match": [{"host": [host]}], "terminal": True,
                     "handle": [{"handler": "static_response", "status_code": 308,
                                 "headers": {"Location": [location]}}]}
                    for host in sorted(table.https)]
    if table.wake and table.wake_domain:
        apps_routes.append(_wake_route(table.wake_domain, table.wake))
    tls_routes = [{"match": [{"host": [host]}], "handle": _proxy_to(up), "terminal": True}
                  for host, up in sorted(table.https.items())]
    servers = {
        APPS_SERVER: {"listen": [http_listen], "routes": [*apps_routes, _not_found()],
                      "automatic_https": {"disable": True}},
        TLS_SERVER: {"listen": [https_listen], "routes": [*tls_routes, _not_found()],
                     # Plain HTTP is the apps server's: it redirects these names itself.
                     "automatic_https": {"disable_redirects": True}},
    }
    config: dict = {
        # Loading the configuration keeps the admin API where it is: on Slipway's socket.
        "admin": {"listen": admin_listen(admin)},
        "apps": {
            "http": {"http_port": _port(http_listen), "https_port": https_port, "servers": servers},
            # Caddy's own CA signs local names; it never touches the machine's trust store.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }
    if activity_log and table.logged:
        # (Caddy 2.6 logs no mapped name at all with skip_unmapped_hosts: the default log drops the rest.)
        servers[APPS_SERVER]["logs"] = {"logger_names": {host.lower(): ACTIVITY_LOGGER for host in sorted(table.logged)}}
        config["logging"] = _activity_logging(activity_log)
    local = sorted(h for h in table.https if is_local_name(h))
    public = sorted(h for h in table.https if not is_local_name(h))
    policies = []
    if local:
        policies.append({"subjects": local, "issuers": [{"module": "internal"}]})
    if public:
        policies.append(acme_policy(public, acme, https_port))
    if policies:
        config["apps"]["tls"] = {"automation": {"policies": policies}}
    return config


class CaddyProxy:
    """The router Caddy at ``admin`` (its admin API: ``unix:///PATH``, or ``HOST:PORT`` on another
    machine), serving apps on ``http_listen`` (the front forwards there) and TLS names on ``https_listen``."""

    name = "caddy"

    def __init__(self, admin: str, http_listen: str, https_listen: str, timeout_s: float = 10.0,
                 acme: Acme = Acme(), activity_log: str | None = None):
        self.admin = admin
        self.http_listen = http_listen
        self.https_listen = https_listen
        self.acme = acme
        # A file on this machine (the Caddy's own: its admin API is a socket here) that the logged names'
        # requests go to; never removed while Caddy runs (it keeps writing where it opened it).
        self.activity_log = activity_log
        self._timeout_s = timeout_s
        self._http = requests.Session()
        if admin.startswith("unix://"):
            self._base = "http+unix://caddy-admin"
            self._http.mount("http+unix://", UnixHTTPAdapter("http+unix://" + admin.removeprefix("unix://")))
            # Over a socket Caddy admits only an empty Host (RFC 9112: a request target without a host).
            self._headers = {"Host": ""}
        else:
            self._base = f"http://{admin}"
            # The admin API refuses requests whose Origin it does not know.
            self._headers = {"Origin": f"http://{admin}"}

    def _url(self, path: str) -> str:
        return f"{self._base}{path}"

    def config(self, table: RouteTable) -> dict:
        return caddy_config(table, self.admin, self.http_listen, self.https_listen, self.acme, self.activity_log)

    def last_requests(self, hosts: set[str]) -> dict[str, float]:
        """When Caddy last answered a request to each of ``hosts`` (among the logged ones), as a Unix
        time; hosts it has not logged are missing."""
        wanted = {h.lower() for h in hosts}
        found: dict[str, float] = {}
        if not self.activity_log or not wanted:
            return found
        try:
            with open(self.activity_log, encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    try:
                        entry = json.loads(line)
                        host = str(entry["request"]["host"]).lower().partition(":")[0]
                        ts = float(entry["ts"])
                    except (ValueError, KeyError, TypeError):
                        continue
                    if host in wanted and ts > found.get(host, 0.0):
                        found[host] = ts
        except OSError:
            pass  # nothing logged yet
        return found

    def apply(self, table: RouteTable) -> None:
        """Make Caddy serve exactly ``table``; returns once the new configuration is in force."""
        try:
            resp = self._http.post(self._url("/load"), json=self.config(table), timeout=self._timeout_s,
                                   headers=self._headers)
        except requests.RequestException as exc:
            raise ProxyError(f"Caddy's admin API at {self.admin} does not answer ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise ProxyError(f"Caddy refused the configuration ({resp.status_code}: {resp.text[:300]})")

    def in_flight(self, upstreams: set[str]) -> int:
        """Requests Caddy is forwarding to any of ``upstreams`` right now."""
        try:
            resp = self._http.get(self._url("/reverse_proxy/upstreams"), timeout=self._timeout_s,
                                  headers=self._headers)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise ProxyError(f"Caddy's admin API at {self.admin} does not answer ({type(exc).__name__})") from None
        return sum(u.get("num_requests", 0) for u in resp.json() or [] if u.get("address") in upstreams)

    def drain(self, upstreams: set[str], timeout_s: float, say: Callable[[str], None] = lambda line: None) -> bool:
        """Wait until no request to ``upstreams`` is in flight (True), or ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            busy = self.in_flight(upstreams)
            if busy == 0:
                return True
            if time.monotonic() >= deadline:
                say(f"{busy} request(s) to the previous version still in flight after {timeout_s:g} s")
                return False
            time.sleep(0.05)


if __name__ == "__main__":  # scripts/services.sh: python -m deployer.caddy front LISTEN ROUTER
    import sys

    if sys.argv[1:2] != ["front"] or len(sys.argv) != 4:
        sys.exit("usage: python -m deployer.caddy front LISTEN ROUTER")
    print(json.dumps(front_config(sys.argv[2], sys.argv[3]), indent=2))
