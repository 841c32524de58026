"""Stable URLs for every app, through the reverse proxy (``SLIPWAY_PROXY``; Caddy: ``deployer.caddy``).

The database says what runs; this module turns that into the proxy's route table and hands it to
the proxy whole. Each project's production answers at ``<project>.<apps domain>``, each pull
request's preview at ``pr-<n>--<project>.<apps domain>``, each live deployment at its own
``d<id>--<project>.<apps domain>`` (a superseded one's too while it is woken on demand, and any
other deployment's own name to the web app, which wakes it: ``slipway.wake``), and the project's custom domains (``slipway domain add``)
over HTTPS. The local target's apps are routed to their loopback port; an Akash deployment to
its provider's ingress (:func:`route_of`), so a redeploy or a failover to another provider only
moves the route and the stable URLs stay.

Every change goes through :meth:`Router.sync` under one Redis lock, so two workers never load
tables that forget each other's switch. A deployment's switch (:meth:`Router.switch`) loads the
table with the new version in its slot and marks it live under that same lock; the job then waits
for the old version's requests to finish (:meth:`Router.drain`) before its target stops it. The
reconciler syncs on every pass, which also brings back the routes of a proxy that restarted.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator, TypeVar
from urllib.parse import urlsplit

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployer.caddy import Acme, CaddyProxy, ProxyError, RouteTable, Upstream
from slipway.db import session_scope
from slipway.interfaces import Proxy
from slipway.models import Deployment, Domain, Project, Wake
from slipway.settings import Settings
from slipway.states import State

log = logging.getLogger(__name__)

__all__ = ["Addresses", "ProxyError", "Router", "Switch", "addresses", "dial_of", "proxy_from_settings", "resolve",
           "route_of", "sync_routes", "upstream_of"]

T = TypeVar("T")
LOCK_TIMEOUT_S = 60


@dataclass(frozen=True)
class Addresses:
    """The host names and URLs the proxy serves apps at."""

    domain: str
    port: int

    def production_host(self, project: str) -> str:
        return f"{project}.{self.domain}"

    def preview_host(self, project: str, pr_number: int) -> str:
        return f"pr-{pr_number}--{project}.{self.domain}"

    def deployment_host(self, project: str, deployment_id: int) -> str:
        return f"d{deployment_id}--{project}.{self.domain}"

    def slot_host(self, project: str, slot: str) -> str:
        if slot == "production":
            return self.production_host(project)
        return self.preview_host(project, int(slot.removeprefix("pr-")))

    def url(self, host: str) -> str:
        return f"http://{host}" + ("" if self.port == 80 else f":{self.port}")


def addresses(settings: Settings) -> Addresses:
    return Addresses(settings.apps_domain.strip(".").lower(), int(settings.proxy_http.rsplit(":", 1)[1]))


def proxy_from_settings(settings: Settings) -> Proxy | None:
    """The proxy ``SLIPWAY_PROXY`` names; None for ``none`` (apps keep their own ports)."""
    if settings.proxy == "none":
        return None
    if settings.proxy == "caddy":
        # A Caddy whose admin API is a socket here runs here: it notes woken deployments' requests for
        # the reconciler to read (slipway.wake); one on another machine cannot, and they count as idle.
        local = settings.proxy_admin.startswith("unix://")
        activity = str(settings.data_path / "run" / "caddy-activity.log") if local else None
        acme = Acme(settings.acme_ca, settings.acme_ca_root, settings.acme_email,
                    http_port=int(settings.proxy_http.rsplit(":", 1)[1]))
        return CaddyProxy(settings.proxy_admin, settings.proxy_router, settings.proxy_https, acme=acme,
                          activity_log=activity)
    raise ValueError(f"SLIPWAY_PROXY is {settings.proxy!r}: give caddy or none")


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address is itself); OSError if it does not resolve."""
    return list(dict.fromkeys(info[4][0].partition("%")[0]
                              for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


def route_of(ref: dict | None, resolver: Resolver = resolve) -> str | Upstream | None:
    """Where the proxy forwards a release's requests: ``host:port`` of a local app, the provider's
    ingress of an Akash lease (its URI's host as ``Host``, TLS for ``https``); None when unknown.

    A provider names the URI, so on a real network it must lead to public addresses only: the name is
    resolved here and Caddy dials the address checked (a name that later resolves elsewhere changes
    nothing until the next sync checks it again), never a loopback or private one on Slipway's side.
    """
    if not ref:
        return None
    if ref.get("upstream"):
        return ref["upstream"]
    if not ref.get("url"):
        return None
    parts = urlsplit(ref["url"])
    if ref.get("container_id"):  # the local target's references from before the proxy
        return parts.netloc or None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    address = parts.hostname
    if ref.get("network") != "local":  # the devnet's providers serve on loopback: that is where its apps are
        address = _public_address(parts.hostname, port, resolver)
        if address is None:
            return None
    dial = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return Upstream(dial, parts.hostname, tls)


def _public_address(host: str, port: int, resolver: Resolver) -> str | None:
    """The address to dial for a provider's ``host``; None (logged) when it does not resolve or any of
    its addresses is not public."""
    try:
        found = [ipaddress.ip_address(a) for a in resolver(host, port)]
    except (OSError, ValueError) as exc:
        log.warning("not routing to %s: it does not resolve (%s)", host, exc)
        return None
    if not found or not all(a.is_global for a in found) or host.lower().endswith(".localhost"):
        log.warning("not routing to %s: a provider's URI must lead to public addresses only", host)
        return None
    return str(found[0])


def dial_of(route: str | Upstream | None) -> str | None:
    """``host:port`` the proxy dials for ``route`` (what :meth:`Router.drain` waits on)."""
    return route.dial if isinstance(route, Upstream) else route


def upstream_of(ref: dict | None, resolver: Resolver = resolve) -> str | None:
    """``host:port`` the proxy dials for a release; None when it is not routed."""
    return dial_of(route_of(ref, resolver))


@dataclass(frozen=True)
class Switch:
    """A deployment about to go live in its slot, routed before the database says so."""

    deployment_id: int
    project: str
    slot: str
    upstream: str | Upstream


def route_table(session: Session, settings: Settings, switching: Switch | None = None) -> RouteTable:
    """What the proxy should serve: every live deployment that runs within its reach, and ``switching``."""
    at = addresses(settings)
    table = RouteTable()
    live = session.execute(
        select(Deployment.id, Project.name, Deployment.pr_number, Deployment.target_ref).join(Project)
        .where(Deployment.state == State.LIVE.value).order_by(Deployment.id)
    ).all()
    for dep_id, project, pr_number, ref in live:
        upstream = route_of(ref)
        if upstream is None:
            continue
        table.http[at.deployment_host(project, dep_id)] = upstream
        slot = f"pr-{pr_number}" if pr_number else "production"
        table.http[at.slot_host(project, slot)] = upstream  # the newest live one wins (ordered by id)
    # Superseded deployments woken at their own URL (slipway.wake): that name only, never their slot's.
    woken = session.execute(
        select(Wake.deployment_id, Project.name, Wake.ref).join(Deployment, Deployment.id == Wake.deployment_id)
        .join(Project).where(Wake.ref.is_not(None), Deployment.state == State.SUPERSEDED.value)
    ).all()
    logged = []
    for dep_id, project, ref in woken:
        upstream = route_of(ref)
        if upstream is not None:
            table.http[at.deployment_host(project, dep_id)] = upstream
            logged.append(at.deployment_host(project, dep_id))
    if switching is not None:
        table.http[at.deployment_host(switching.project, switching.deployment_id)] = switching.upstream
        table.http[at.slot_host(switching.project, switching.slot)] = switching.upstream
    for name, project in session.execute(select(Domain.name, Project.name).join(Project)).all():
        upstream = table.http.get(at.production_host(project))
        if upstream:
            table.https[name] = upstream
    if settings.dashboard_domain:
        table.https[settings.dashboard_domain] = settings.bind
    if settings.registry_domain:
        table.https[settings.registry_domain] = settings.registry
    # Every other deployment's own name goes to the web app, which wakes it or says why it cannot.
    return replace(table, wake=settings.bind, wake_domain=at.domain, logged=tuple(logged))


class Router:
    """Keeps the proxy's routes equal to what the database says runs."""

    def __init__(self, settings: Settings, redis: Redis, proxy: Proxy):
        self.settings = settings
        self.redis = redis
        self.proxy = proxy
        self.addresses = addresses(settings)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.redis.lock(f"{self.settings.queue_name}:proxy", timeout=LOCK_TIMEOUT_S,
                               blocking_timeout=LOCK_TIMEOUT_S)
        if not lock.acquire():
            raise ProxyError("another worker held the proxy's routes for over a minute")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - expired: the next sync puts things right
                pass

    def _apply(self, switching: Switch | None = None) -> None:
        with session_scope(self.settings) as session:
            table = route_table(session, self.settings, switching)
        self.proxy.apply(table)

    def sync(self) -> None:
        """Load the routes of what runs now."""
        with self._locked():
            self._apply()

    def switch(self, switching: Switch, go_live: Callable[[], T]) -> T:
        """Route the slot to the new version, then ``go_live`` (mark it live), as one step for other workers.

        When ``go_live`` raises (the deployment was cancelled meanwhile) the routes go back.
        """
        with self._locked():
            self._apply(switching)
            try:
                return go_live()
            except BaseException:
                self._apply()
                raise

    def drain(self, upstreams: set[str], say: Callable[[str], None]) -> None:
        """Wait (up to ``SLIPWAY_PROXY_DRAIN``) for the requests still going to ``upstreams`` to finish."""
        if not upstreams:
            return
        try:
            self.proxy.drain(upstreams, self.settings.proxy_drain_s, say)
        except ProxyError as exc:
            say(f"warning: could not ask the proxy about requests in flight ({exc})")


def sync_routes(settings: Settings, redis: Redis | None = None, say: Callable[[str], None] | None = None) -> bool:
    """Bring the proxy's routes up to date (after a project, domain or preview changed); never raises.

    False when it could not (the proxy is down): the reconciler's next pass tries again.
    """
    proxy = proxy_from_settings(settings)
    if proxy is None:
        return True
    if redis is None:
        from slipway.queue import redis_connection

        redis = redis_connection(settings)
    try:
        Router(settings, redis, proxy).sync()
        return True
    except Exception as exc:  # noqa: BLE001 - the routes catch up on the reconciler's next pass
        log.warning("could not update the proxy's routes: %s", exc)
        if say is not None:
            say(f"warning: could not update the proxy's routes ({exc}); the workers retry shortly")
        return False
