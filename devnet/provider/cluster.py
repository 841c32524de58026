"""A devnet provider's cluster: the services of a lease's manifest group, run on the Docker Engine.

Where a real provider runs pods on Kubernetes, this runs one container per replica on the local
Engine, with the local target's hardening (capabilities dropped, no-new-privileges) and the
limits the manifest asks for. The machine has no Docker bridge, so containers share the host's
network: every exposed port of a replica gets a free loopback port, given to the app as ``PORT``
(the first exposed port) and ``PORT_<container port>`` (each one), and the lease status reports
``127.0.0.1:<port>`` as the service's URI (HTTP on 80) or as a forwarded port (any other port).

Images are always pulled, with the manifest's ``credentials`` when it has some, so a wrong
registry password fails here as it fails on Akash: the service never becomes available and the
lease's events say the pull failed. A newer manifest for the same lease replaces its containers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from builder.images import docker_client
from deployer.local import AppLimits, free_port
from devnet.provider.chainview import LeaseID

log = logging.getLogger(__name__)

LABEL_PROVIDER = "slipway.devnet.provider"
LABEL_LEASE = "slipway.devnet.lease"
LABEL_SERVICE = "slipway.devnet.service"
LABEL_GENERATION = "slipway.devnet.generation"

MIN_MEMORY_BYTES = 6 * 1024 * 1024  # the Engine refuses less
HEARTBEAT_S = 2.0
HTTP_PORT = 80


def lease_namespace(lease: LeaseID) -> str:
    """A stable name per lease, as the provider's Kubernetes namespace is."""
    return hashlib.sha256(lease.path().encode()).hexdigest()[:24]


def _val(resource: dict[str, Any] | None, *keys: str) -> int:
    """A manifest quantity (``{"size": {"val": "536870912"}}`` or ``{"units": {"val": "500"}}``)."""
    value: Any = resource or {}
    for key in keys:
        value = (value or {}).get(key) if isinstance(value, dict) else None
    try:
        return int(float(str(value or "0")))
    except ValueError:
        return 0


@dataclass
class Port:
    """One exposed port of a service: where the app listens on this machine."""

    container_port: int
    external_port: int  # what the SDL asked for (``as``), 0 for the same as container_port
    proto: str
    host_port: int
    is_global: bool

    @property
    def http(self) -> bool:
        return self.is_global and self.proto == "TCP" and (self.external_port or self.container_port) == HTTP_PORT


@dataclass
class ServicePlan:
    name: str
    image: str
    count: int
    replica_ports: list[list[Port]]  # per replica

    def uris(self) -> list[str]:
        if not self.replica_ports:
            return []
        return [f"127.0.0.1:{p.host_port}" for p in self.replica_ports[0] if p.http]

    def forwarded(self) -> list[dict[str, Any]]:
        if not self.replica_ports:
            return []
        return [{"host": "127.0.0.1", "port": p.container_port, "externalPort": p.host_port, "proto": p.proto,
                 "name": self.name} for p in self.replica_ports[0] if p.is_global and not p.http]


@dataclass
class LeaseDeployment:
    """What runs (or should run) for one lease: the manifest group, its ports and its events."""

    lease: LeaseID
    group: dict[str, Any]
    generation: int
    services: list[ServicePlan]
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"lease": self.lease.__dict__, "group": self.group, "generation": self.generation,
                "ports": {s.name: [[p.__dict__ for p in ports] for ports in s.replica_ports] for s in self.services}}


def _keep_ports(plans: list[ServicePlan], previous: list[ServicePlan]) -> None:
    """A new manifest for a lease keeps its services' ports, as a provider's ingress keeps the lease's
    host names: the URI the lease status reported stays valid (the old containers go first)."""
    before = {plan.name: plan for plan in previous}
    for plan in plans:
        old = before.get(plan.name)
        if old is None:
            continue
        for ports, old_ports in zip(plan.replica_ports, old.replica_ports, strict=False):
            kept = {(p.container_port, p.proto): p.host_port for p in old_ports}
            for port in ports:
                port.host_port = kept.get((port.container_port, port.proto), port.host_port)


class DockerCluster:
    """The containers of one devnet provider's leases."""

    def __init__(self, docker_host: str, provider: str, state_dir: Path, host: str = "127.0.0.1"):
        self.docker_host = docker_host
        self.provider = provider
        self.host = host
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._leases: dict[LeaseID, LeaseDeployment] = {}
        self._deploying: list[threading.Thread] = []
        self._load()

    # -- what is known -------------------------------------------------------------------------
    def leases(self) -> set[LeaseID]:
        with self._lock:
            return set(self._leases)

    def has_manifest(self, lease: LeaseID) -> bool:
        with self._lock:
            return lease in self._leases

    def manifest_group(self, lease: LeaseID) -> dict[str, Any] | None:
        with self._lock:
            dep = self._leases.get(lease)
            return dep.group if dep else None

    def events(self, lease: LeaseID) -> list[dict[str, Any]] | None:
        with self._lock:
            dep = self._leases.get(lease)
            return list(dep.events) if dep else None

    # -- deploy / tear down ----------------------------------------------------------------------
    def deploy(self, lease: LeaseID, group: dict[str, Any]) -> None:
        """Run ``group`` for ``lease`` (replacing what runs for it); pulls and starts in the background."""
        with self._lock:
            previous = self._leases.get(lease)
            generation = (previous.generation + 1) if previous else 1
            plans = [self._plan(svc) for svc in group.get("services") or []]
            if previous is not None:
                _keep_ports(plans, previous.services)
            dep = LeaseDeployment(lease, group, generation, plans)
            self._leases[lease] = dep
            self._save(dep)
        thread = threading.Thread(target=self._run, args=(dep,), name=f"deploy-{lease.dseq}", daemon=True)
        with self._lock:
            self._deploying = [t for t in self._deploying if t.is_alive()] + [thread]
        thread.start()

    def settle(self, timeout_s: float = 120.0) -> None:
        """Wait for deployments in progress (pulls, starts) to finish."""
        with self._lock:
            threads = list(self._deploying)
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def teardown(self, lease: LeaseID) -> None:
        with self._lock:
            self._leases.pop(lease, None)
            self._state_file(lease).unlink(missing_ok=True)
        self._remove_containers(lease)

    def stop_all(self) -> None:
        """The provider stops: its containers stop (and come back with ``start_all``); a deployment
        in progress finishes first, so nothing starts behind a stopped provider."""
        self.settle()
        self._each_container(lambda c: c.stop(timeout=2))

    def start_all(self) -> None:
        def start(container) -> None:
            if container.status != "running":
                container.start()

        self._each_container(start)

    def _each_container(self, action) -> None:
        try:
            client = docker_client(self.docker_host)
        except DockerException as exc:  # no Engine: the provider still bids and answers its API
            log.warning("provider %s: the Docker Engine at %s does not answer (%s)", self.provider,
                        self.docker_host, str(exc)[:200])
            return
        try:
            for container in client.containers.list(all=True, filters={"label": f"{LABEL_PROVIDER}={self.provider}"}):
                try:
                    action(container)
                except DockerException as exc:
                    log.warning("provider %s: container %s: %s", self.provider, container.name, str(exc)[:200])
        finally:
            client.close()

    def _plan(self, svc: dict[str, Any]) -> ServicePlan:
        count = int(svc.get("count") or 1)
        exposes = svc.get("expose") or []
        replica_ports = []
        for _ in range(count):
            taken: dict[int, Port] = {}
            for expose in exposes:
                port = int(expose.get("port") or 0)
                if port in taken:
                    taken[port].is_global = taken[port].is_global or bool(expose.get("global"))
                    continue
                taken[port] = Port(port, int(expose.get("externalPort") or 0),
                                   (expose.get("proto") or "TCP").upper(), free_port(self.host),
                                   bool(expose.get("global")))
            replica_ports.append(list(taken.values()))
        return ServicePlan(svc["name"], svc.get("image", ""), count, replica_ports)

    def _event(self, dep: LeaseDeployment, reason: str, note: str, name: str, warning: bool = False) -> None:
        with self._lock:
            dep.events.append({
                "type": "Warning" if warning else "Normal",
                "reportingController": "slipway-devnet",
                "reportingInstance": self.provider,
                "reason": reason,
                "note": note,
                "object": {"kind": "Pod", "namespace": lease_namespace(dep.lease), "name": name},
            })

    def _current(self, dep: LeaseDeployment) -> bool:
        with self._lock:
            return self._leases.get(dep.lease) is dep

    def _run(self, dep: LeaseDeployment) -> None:
        try:
            client = docker_client(self.docker_host)
        except DockerException as exc:
            self._event(dep, "Failed", f"Error: the cluster does not answer ({str(exc)[:200]})", "-", warning=True)
            return
        try:
            services = {svc["name"]: svc for svc in dep.group.get("services") or []}
            # Services the new manifest no longer has stop now.
            self._remove_containers(dep.lease, client=client, older_than=dep.generation,
                                    which=lambda service: service not in services)
            for plan in dep.services:
                if not self._current(dep):
                    return
                svc = services[plan.name]
                if not self._pull(client, dep, plan, svc):
                    # As in a Kubernetes rollout whose new pods cannot pull their image: the
                    # previous version keeps serving, the new one never becomes available.
                    continue
                self._remove_containers(dep.lease, client=client, older_than=dep.generation,
                                        which=lambda service, name=plan.name: service == name)
                for index, ports in enumerate(plan.replica_ports):
                    self._start(client, dep, plan, svc, index, ports)
        finally:
            client.close()

    def _pull(self, client, dep: LeaseDeployment, plan: ServicePlan, svc: dict[str, Any]) -> bool:
        cred = svc.get("credentials") or None
        auth = {"username": cred.get("username", ""), "password": cred.get("password", "")} if cred else None
        pod = f"{plan.name}-0"
        self._event(dep, "Pulling", f'Pulling image "{plan.image}"', pod)
        try:
            # Never None: docker-py would then use this machine's own registry logins
            # (DOCKER_CONFIG), and a lease must pull with its manifest's credentials or none.
            client.images.pull(plan.image, auth_config=auth or {})
        except (APIError, ImageNotFound, DockerException) as exc:
            # The Engine's explanation (e.g. "unauthorized: authentication required") never
            # carries the password; it is what Kubernetes' kubelet reports too.
            reason = getattr(exc, "explanation", None) or str(exc)
            self._event(dep, "Failed", f'Failed to pull image "{plan.image}": {str(reason)[:300]}', pod, warning=True)
            self._event(dep, "Failed", "Error: ErrImagePull", pod, warning=True)
            return False
        self._event(dep, "Pulled", f'Successfully pulled image "{plan.image}"', pod)
        return True

    def _start(self, client, dep: LeaseDeployment, plan: ServicePlan, svc: dict[str, Any], index: int,
               ports: list[Port]) -> None:
        name = self._container_name(dep.lease, plan.name, index)
        resources = svc.get("resources") or {}
        memory = max(_val(resources, "memory", "size", "val"), MIN_MEMORY_BYTES)
        cpu_millis = _val(resources, "cpu", "units", "val") or 100
        env = {}
        for item in svc.get("env") or []:
            key, _, value = str(item).partition("=")
            env[key] = value
        if ports:
            env["PORT"] = str(ports[0].host_port)
        for port in ports:
            env[f"PORT_{port.container_port}"] = str(port.host_port)
        env.setdefault("HOST", self.host)
        limits = AppLimits(memory=str(memory), cpus=cpu_millis / 1000)
        try:
            _remove_named(client, name)
            client.containers.run(
                plan.image,
                entrypoint=svc.get("command") or None,
                command=svc.get("args") or None,
                name=name,
                detach=True,
                network_mode="host",
                environment=env,
                labels={LABEL_PROVIDER: self.provider, LABEL_LEASE: dep.lease.path(),
                        LABEL_SERVICE: plan.name, LABEL_GENERATION: str(dep.generation)},
                restart_policy={"Name": "unless-stopped"},
                **limits.run_options(),
            )
            self._event(dep, "Started", f"Started container {plan.name}", f"{plan.name}-{index}")
        except DockerException as exc:
            reason = getattr(exc, "explanation", None) or str(exc)
            self._event(dep, "Failed", f"Error: {str(reason)[:300]}", f"{plan.name}-{index}", warning=True)

    def _container_name(self, lease: LeaseID, service: str, index: int) -> str:
        return f"devnet-{self.provider}-{lease_namespace(lease)[:12]}-{service}-{index}"

    def _containers(self, client, lease: LeaseID) -> list:
        labels = [f"{LABEL_PROVIDER}={self.provider}", f"{LABEL_LEASE}={lease.path()}"]
        return client.containers.list(all=True, filters={"label": labels})

    def _remove_containers(self, lease: LeaseID, client=None, older_than: int | None = None,
                           which=lambda service: True) -> None:
        own = client is None
        client = client or docker_client(self.docker_host)
        try:
            for container in self._containers(client, lease):
                generation = int(container.labels.get(LABEL_GENERATION, "0") or 0)
                if (older_than is None or generation < older_than) and which(container.labels.get(LABEL_SERVICE)):
                    try:
                        container.remove(force=True)
                    except NotFound:
                        pass
        finally:
            if own:
                client.close()

    # -- status and logs -----------------------------------------------------------------------
    def service_status(self, lease: LeaseID) -> tuple[dict[str, dict[str, Any]], dict[str, list]] | None:
        """``(services, forwarded_ports)`` as the lease status reports them; None without a manifest."""
        with self._lock:
            dep = self._leases.get(lease)
        if dep is None:
            return None
        running: dict[str, int] = {}
        client = docker_client(self.docker_host)
        try:
            for container in self._containers(client, lease):
                if int(container.labels.get(LABEL_GENERATION, "0") or 0) != dep.generation:
                    continue
                service = container.labels.get(LABEL_SERVICE, "")
                if container.status == "running":
                    running[service] = running.get(service, 0) + 1
        finally:
            client.close()
        services, forwarded = {}, {}
        for plan in dep.services:
            ready = running.get(plan.name, 0)
            services[plan.name] = {
                "name": plan.name, "available": ready, "total": plan.count, "uris": plan.uris() or None,
                "observed_generation": dep.generation, "replicas": plan.count, "updated_replicas": plan.count,
                "ready_replicas": ready, "available_replicas": ready,
            }
            if plan.forwarded():
                forwarded[plan.name] = plan.forwarded()
        return services, forwarded

    def logs(self, lease: LeaseID, services: list[str], follow: bool,
             tail: int | None) -> Iterator[dict[str, str] | None] | None:
        """Log lines as ``{"name": <replica>, "message": <line>}`` (None: no line for a while); None when
        nothing runs for the lease."""
        client = docker_client(self.docker_host)
        containers = [c for c in self._containers(client, lease)
                      if not services or c.labels.get(LABEL_SERVICE) in services]
        if not containers:
            client.close()
            return None
        lines: list[tuple[str, Any]] = []
        for container in containers:
            replica = container.name.rsplit("-", 2)
            name = f"{replica[-2]}-{replica[-1]}" if len(replica) == 3 else container.name
            stream = container.logs(stream=True, follow=follow, tail="all" if tail is None else tail)
            lines.append((name, stream))
        return _merge(client, lines)

    # -- state in the data dir (a restarted devnet knows its leases' manifests and ports) --------
    def _state_file(self, lease: LeaseID) -> Path:
        return self.state_dir / f"{lease_namespace(lease)}.json"

    def _save(self, dep: LeaseDeployment) -> None:
        path = self._state_file(dep.lease)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dep.to_json()))
        tmp.chmod(0o600)  # the manifest holds registry credentials
        tmp.replace(path)

    def _load(self) -> None:
        for path in sorted(self.state_dir.glob("*.json")):
            try:
                data = json.loads(path.read_text())
                lease = LeaseID(**data["lease"])
                plans = [ServicePlan(svc["name"], svc.get("image", ""), int(svc.get("count") or 1),
                                     [[Port(**p) for p in ports] for ports in data["ports"].get(svc["name"], [])])
                         for svc in data["group"].get("services") or []]
                self._leases[lease] = LeaseDeployment(lease, data["group"], int(data["generation"]), plans)
            except (ValueError, KeyError, TypeError):
                continue


def _merge(client, streams: list[tuple[str, Any]]) -> Iterator[dict[str, str] | None]:
    """One iterator over several containers' log streams (a thread each, lines as they come);
    None every ``HEARTBEAT_S`` without a line."""
    import queue

    out: queue.Queue = queue.Queue(maxsize=1000)
    done = object()

    def pump(name: str, stream) -> None:
        buffer = b""
        try:
            for chunk in stream:
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    out.put({"name": name, "message": line.decode(errors="replace")})
            if buffer:
                out.put({"name": name, "message": buffer.decode(errors="replace")})
        except Exception as exc:  # noqa: BLE001 - the stream ends when the container goes
            log.debug("log stream of %s ended: %s", name, exc)
        finally:
            out.put(done)

    for name, stream in streams:
        threading.Thread(target=pump, args=(name, stream), daemon=True).start()

    def lines() -> Iterator[dict[str, str] | None]:
        remaining = len(streams)
        try:
            while remaining:
                try:
                    item = out.get(timeout=HEARTBEAT_S)
                except queue.Empty:
                    yield None  # nothing new: the caller may check its client is still there
                    continue
                if item is done:
                    remaining -= 1
                    continue
                yield item
        finally:
            for _, stream in streams:
                try:
                    stream.close()
                except Exception as exc:  # noqa: BLE001
                    log.debug("closing a log stream: %s", exc)
            client.close()

    return lines()


def _remove_named(client, name: str) -> None:
    try:
        client.containers.get(name).remove(force=True)
    except NotFound:
        pass

