"""The local target: run the image on this machine's Docker Engine.

The image is pulled from the registry with its credentials, exactly as a remote
host would, and started with host networking on a free loopback port given to
the app as ``PORT``. Only when it answers HTTP is the previous container of the
project stopped, so a broken version never takes down a working one.

The Engine may be on another machine (``SLIPWAY_DOCKER_HOST=tcp://...``): the app listens
on ``host`` there and its URL names ``public_host``, which the worker's health check uses
too. The port is still picked free on the worker's own machine (the Engine's API cannot
tell which ports its host has free), so a port taken on the run host by something else
fails that deployment ("exited"); see the README's "Web, workers and apps on separate machines".
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import requests
from docker.errors import DockerException, NotFound

from builder.images import RegistryAuth, docker_client
from deployer.base import Health, Log, Release, Running, Stopped, never
from slipway.errors import AppError, UserError

LABEL_PROJECT = "slipway.project"
LABEL_DEPLOYMENT = "slipway.deployment"
LABEL_SLOT = "slipway.slot"
# Which installation started a container (its queue name): installations sharing an engine never meet.
LABEL_INSTANCE = "slipway.instance"


# What an app keeps of Docker's default capabilities: enough to drop root and own its files.
# Gone are NET_RAW (on the host's network it could read loopback traffic), MKNOD, SYS_CHROOT,
# SETFCAP, SETPCAP and AUDIT_WRITE.
APP_CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "NET_BIND_SERVICE")


@dataclass(frozen=True)
class AppLimits:
    """What one app container may use of the machine."""

    memory: str = "1g"
    cpus: float = 1.0
    pids: int = 512

    def run_options(self) -> dict:
        return {
            "cap_drop": ["ALL"],
            "cap_add": list(APP_CAPABILITIES),
            "security_opt": ["no-new-privileges"],
            "mem_limit": self.memory,
            "memswap_limit": self.memory,
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": self.pids,
        }


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError:  # not an address of this machine: the Engine runs apps elsewhere
            s.bind(("", 0))
        return s.getsockname()[1]


class LocalTarget:
    name = "local"

    def __init__(self, docker_host: str, auth: RegistryAuth, host: str = "127.0.0.1",
                 health_timeout_s: float = 60.0, limits: AppLimits | None = None, public_host: str | None = None,
                 instance: str = "slipway"):
        self._docker_host = docker_host
        self._instance = instance
        self._auth = auth
        self._host = host
        self._public_host = public_host or host
        self._health_timeout_s = health_timeout_s
        self._limits = limits or AppLimits()

    def start(self, release: Release, log: Log) -> dict:
        client = docker_client(self._docker_host)
        container = None
        try:
            log(f"pulling {release.image}")
            try:
                client.images.pull(release.image, auth_config=self._auth.as_auth_config())
            except NotFound:
                raise UserError(UserError.DEPLOY_IMAGE_GONE, image=release.image) from None
            port = free_port(self._host)
            name = f"slipway-{release.project}-{release.slot}-{release.deployment_id}"
            _remove_if_exists(client, name)
            container = client.containers.run(
                release.image,
                name=name,
                detach=True,
                network_mode="host",
                environment={**release.env, "PORT": str(port), "HOST": self._host},
                labels={LABEL_PROJECT: release.project, LABEL_SLOT: release.slot,
                        LABEL_DEPLOYMENT: str(release.deployment_id), LABEL_INSTANCE: self._instance},
                # Back after a reboot while its deployment is live. Once it has ended (failed,
                # cancelled, replaced), the reconciler removes whatever is left (slipway/reconcile.py).
                restart_policy={"Name": "unless-stopped"},
                **self._limits.run_options(),
            )
            url = f"http://{self._public_host}:{port}"
            log(f"started container {container.short_id} on {url}")
            # The reverse proxy forwards here (slipway.proxy); the URL is the app's own, without it.
            return {"container_id": container.id, "name": name, "port": port, "url": url,
                    "upstream": f"{self._public_host}:{port}", "health_url": url + release.health_path}
        except DockerException as exc:
            if container is not None:
                _remove(container)
            raise AppError(AppError.DEPLOY_TARGET, detail=str(exc)[:300]) from exc
        finally:
            client.close()

    def wait_ready(self, release: Release, ref: dict, log: Log, should_stop: Callable[[], bool] = never) -> Running:
        client = docker_client(self._docker_host)
        container = None
        try:
            container = client.containers.get(ref["container_id"])
            log(f"waiting for {ref['url']} to answer HTTP")
            self._wait_healthy(container, ref["url"] + release.health_path, ref["port"], log, should_stop)
            log(f"{ref['url']} answers")
            return Running(url=ref["url"], ref=ref)
        except Stopped:
            _remove(container)
            raise
        except UserError:
            _tail_logs(container, log)
            _remove(container)
            raise
        except DockerException as exc:
            if container is not None:
                _remove(container)
            raise AppError(AppError.DEPLOY_TARGET, detail=str(exc)[:300]) from exc
        finally:
            client.close()

    def check(self, ref: dict) -> Health:
        """Down when its container stopped (exited, OOM-killed, restarting) or the app does not answer.

        Nothing is restarted here: the restart policy ``unless-stopped`` has Docker restart an app
        that crashes or is killed for its memory; one stopped through Docker (``docker stop``,
        ``docker kill``) stays down until its project deploys again.
        """
        client = docker_client(self._docker_host)
        try:
            container = client.containers.get(ref["container_id"])
            state = container.attrs.get("State", {})
            if container.status != "running":
                return Health(False, _why_stopped(container.status, state, container.attrs.get("RestartCount", 0)))
            try:
                # The project's health path (references from before it was stored: the app's root).
                requests.get(ref.get("health_url") or ref["url"], timeout=5, allow_redirects=False)
            except requests.RequestException as exc:
                return Health(False, f"{ref['url']} does not answer ({type(exc).__name__})")
            restarts = container.attrs.get("RestartCount", 0)
            if restarts:
                return Health(True, f"answers; Docker has restarted it {_times(restarts)}")
            return Health(True)
        except NotFound:
            return Health(False, "the container is gone")
        except DockerException as exc:
            return Health(False, f"the Docker Engine failed ({str(exc)[:200]})")
        finally:
            client.close()

    def restart(self, ref: dict, log: Log) -> bool:
        """Start a release's container again if it exited (stopped through Docker, or by its own hand
        when its restart policy gave up); False when it is running, restarting or gone."""
        client = docker_client(self._docker_host)
        try:
            container = client.containers.get(ref["container_id"])
            if container.status != "exited":
                return False
            container.start()
            log(f"started container {container.short_id} again")
            return True
        except NotFound:
            return False
        finally:
            client.close()

    def app_logs(self, ref: dict, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """The container's output (stdout and stderr), line by line: the last ``tail``, then new ones."""
        client = docker_client(self._docker_host)
        try:
            try:
                container = client.containers.get(ref["container_id"])
            except NotFound:
                return
            rest = b""
            for chunk in container.logs(stream=True, follow=follow, tail=tail):
                rest += chunk
                *lines, rest = rest.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
            if rest:
                yield rest.decode(errors="replace")
        finally:
            client.close()

    def stop(self, ref: dict, log: Log) -> bool:
        client = docker_client(self._docker_host)
        try:
            container = client.containers.get(ref["container_id"])
            _remove(container)
            log(f"stopped container {container.short_id}")
            return True
        except NotFound:
            return False
        finally:
            client.close()

    def retire(self, release: Release, keep: Running, log: Log) -> None:
        client = docker_client(self._docker_host)
        try:
            for other in _containers(client, release.project, release.slot):
                if other.id != keep.ref["container_id"]:
                    log(f"stopping previous container {other.short_id} ({other.name})")
                    _remove(other)
        finally:
            client.close()

    def teardown(self, project: str, slot: str, log: Log) -> None:
        client = docker_client(self._docker_host)
        try:
            for container in _containers(client, project, slot):
                log(f"stopping container {container.short_id} ({container.name})")
                _remove(container)
        finally:
            client.close()

    def remove_all(self, project: str, log: Log) -> None:
        client = docker_client(self._docker_host)
        try:
            for container in client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project}"}):
                log(f"stopping container {container.short_id} ({container.name})")
                _remove(container)
        finally:
            client.close()

    def deployments(self) -> set[int]:
        client = docker_client(self._docker_host)
        try:
            containers = client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={self._instance}"})
            return {int(c.labels[LABEL_DEPLOYMENT]) for c in containers
                    if c.labels.get(LABEL_DEPLOYMENT, "").isdigit()}
        finally:
            client.close()

    def remove_deployment(self, deployment_id: int, log: Log) -> None:
        client = docker_client(self._docker_host)
        try:
            labels = [f"{LABEL_INSTANCE}={self._instance}", f"{LABEL_DEPLOYMENT}={deployment_id}"]
            for container in client.containers.list(all=True, filters={"label": labels}):
                log(f"removing container {container.short_id} ({container.name})")
                _remove(container)
        finally:
            client.close()

    def _wait_healthy(self, container, url: str, port: int, log: Log, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._health_timeout_s
        next_stop_check = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() >= next_stop_check:
                if should_stop():
                    log("stopped while waiting for the new version to answer")
                    raise Stopped()
                next_stop_check = time.monotonic() + 1.0
            container.reload()
            # With a restart policy a crashing app shows as "restarting", never "exited".
            if container.status in ("exited", "dead", "restarting") or container.attrs.get("RestartCount", 0) > 0:
                status = container.attrs.get("State", {}).get("ExitCode")
                raise UserError(UserError.DEPLOY_EXITED, status=status)
            try:
                requests.get(url, timeout=2, allow_redirects=False)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise UserError(UserError.DEPLOY_UNHEALTHY, port=port, seconds=int(self._health_timeout_s))



def _why_stopped(status: str, state: dict, restarts: int) -> str:
    """Why a container is not running, in the user's words."""
    code = state.get("ExitCode")
    how = "was killed for using more than its memory limit" if state.get("OOMKilled") \
        else f"exited with status {code}{_SIGNALS.get(code, '')}"
    if status == "restarting":
        return f"the app {how}; Docker is restarting it (restarted {_times(restarts)} so far)"
    if status == "exited":
        return f"the app {how} and is not running"
    return f"the container is {status}"


# Exit statuses of a process ended by a signal (128 + its number).
_SIGNALS = {137: " (killed)", 143: " (terminated)", 139: " (segmentation fault)", 134: " (aborted)"}


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _containers(client, project: str, slot: str) -> list:
    labels = [f"{LABEL_PROJECT}={project}", f"{LABEL_SLOT}={slot}"]
    return client.containers.list(all=True, filters={"label": labels})


def _tail_logs(container, log: Log, lines: int = 50) -> None:
    try:
        out = container.logs(tail=lines).decode(errors="replace")
    except DockerException:
        return
    if out.strip():
        log("--- last lines of the app's output ---")
        for line in out.splitlines():
            log(line)


def _remove(container) -> None:
    try:
        container.remove(force=True)
    except NotFound:
        pass


def _remove_if_exists(client, name: str) -> None:
    try:
        _remove(client.containers.get(name))
    except NotFound:
        pass
