"""Build an image from a checkout and push it to the private registry (Docker SDK)."""

from __future__ import annotations

import queue
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import docker
from docker.errors import APIError, DockerException
from docker.utils import parse_bytes

from slipway.errors import AppError, UserError

Log = Callable[[str], None]
# How often a running build asks whether it should stop (a database read each time).
STOP_CHECK_INTERVAL_S = 1.0


class BuildStopped(Exception):
    """The build was stopped because its caller asked (the deployment was cancelled)."""


@dataclass(frozen=True)
class RegistryAuth:
    registry: str
    username: str
    password: str

    def __repr__(self) -> str:
        return f"RegistryAuth(registry={self.registry!r}, username={self.username!r}, password=***)"

    def as_auth_config(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "serveraddress": self.registry}


def docker_client(docker_host: str, timeout: int = 600) -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_host, timeout=timeout)


class DockerImageBuilder:
    """The builder's view of the Docker Engine: build, tag, push."""

    def __init__(self, docker_host: str, auth: RegistryAuth, memory: str = "4g"):
        self._docker_host = docker_host
        self.auth = auth
        # Every RUN step's memory (and swap) limit. The Engine itself runs steps with
        # no-new-privileges (scripts/services.sh); the classic builder cannot drop capabilities.
        self._limits = {"memory": parse_bytes(memory), "memswap": parse_bytes(memory)}

    def build(self, checkout: Path, dockerfile: str, context: str, tag: str, log: Log,
              timeout_s: int, sha: str = "", should_stop: Callable[[], bool] | None = None,
              dockerfile_text: str = "") -> str:
        """Build ``tag`` from ``checkout``; return the image id. Raises UserError on a build failure.

        ``dockerfile_text``, when given, is the Dockerfile (a build plan's) instead of ``dockerfile``.

        ``should_stop`` is asked about once a second; when it says yes the build is stopped
        and BuildStopped raised.
        """
        context_dir = inside_checkout(checkout, context, sha)
        if not context_dir.is_dir():
            raise UserError(UserError.BUILD_BAD_CONTEXT, path=context, sha=sha[:7])
        # The Docker SDK reads .dockerignore itself, on this machine.
        inside_checkout(checkout, str(context_dir.relative_to(checkout.resolve()) / ".dockerignore"), sha)
        generated = None
        if dockerfile_text:
            # A build plan's Dockerfile (builder.plan) is kept outside the checkout, so that no file
            # of the repository can stand in for it; the SDK sends it along under a random name.
            generated = tempfile.NamedTemporaryFile("w", prefix="slipway-plan-", suffix=".Dockerfile")
            generated.write(dockerfile_text)
            generated.flush()
            df_arg = generated.name
        else:
            dockerfile_path = inside_checkout(checkout, dockerfile, sha)
            if not dockerfile_path.is_file():
                raise UserError(UserError.BUILD_NO_DOCKERFILE, path=dockerfile, sha=sha[:7])
            # The Engine wants the Dockerfile relative to the context when it is inside it; one outside
            # the context (but inside the checkout) is read by the SDK and sent along.
            try:
                df_arg = str(dockerfile_path.relative_to(context_dir))
            except ValueError:
                df_arg = str(dockerfile_path)

        client = docker_client(self._docker_host, timeout=timeout_s + 60)
        try:
            client.login(username=self.auth.username, password=self.auth.password, registry=self.auth.registry)
            # The build's HTTP response, so that stopping can hang up its connection (see _hang_up).
            responses: list = []
            client.api.hooks["response"].append(lambda resp, *args, **kwargs: responses.append(resp))
            lines: queue.Queue = queue.Queue()

            def pump() -> None:
                try:
                    for chunk in client.api.build(path=str(context_dir), dockerfile=df_arg, tag=tag, rm=True,
                                                  forcerm=True, decode=True, network_mode="host",
                                                  container_limits=self._limits):
                        lines.put(("chunk", chunk))
                    lines.put(("done", None))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    lines.put(("exc", exc))

            threading.Thread(target=pump, name="docker-build", daemon=True).start()
            deadline = time.monotonic() + timeout_s
            next_stop_check = time.monotonic() + STOP_CHECK_INTERVAL_S
            image_id = None
            last_error = None
            while True:
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0:
                    log(f"build stopped after {timeout_s} s")
                    _hang_up(responses)
                    raise UserError(UserError.BUILD_TIME_OUT, seconds=timeout_s)
                if should_stop is not None and now >= next_stop_check:
                    next_stop_check = now + STOP_CHECK_INTERVAL_S
                    if should_stop():
                        log("build stopped: the deployment was cancelled")
                        _hang_up(responses)
                        raise BuildStopped()
                try:
                    kind, item = lines.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    continue
                if kind == "done":
                    break
                if kind == "exc":
                    raise item
                if "stream" in item:
                    for text in item["stream"].splitlines():
                        if text.strip():
                            log(text)
                if "aux" in item and "ID" in item["aux"]:
                    image_id = item["aux"]["ID"]
                if "error" in item:
                    last_error = item["error"].strip()
                    log(f"ERROR: {last_error}")
            if last_error:
                raise UserError(UserError.BUILD_FAILED, detail=_one_line(last_error))
            if image_id is None:
                image_id = client.images.get(tag).id
            return image_id
        except (UserError, AppError, BuildStopped):
            raise
        except APIError as exc:
            # The Engine rejects some user input with 4xx (bad Dockerfile syntax, ...).
            if exc.status_code and 400 <= exc.status_code < 500:
                log(f"ERROR: {exc.explanation}")
                raise UserError(UserError.BUILD_FAILED, detail=_one_line(str(exc.explanation))) from None
            raise AppError(AppError.BUILD_DOCKER, detail=_one_line(str(exc.explanation))) from exc
        except DockerException as exc:
            raise AppError(AppError.BUILD_DOCKER, detail=_one_line(str(exc))) from exc
        finally:
            client.close()
            if generated is not None:
                generated.close()

    def prune(self, repository: str, keep: int, log: Log) -> int:
        """Untag all but the ``keep`` newest local images of ``repository``; returns how many went.

        The Engine frees an image once its last tag is gone and no container uses it, so a
        running version (and the newest few, for rollbacks) always stays.
        """
        client = docker_client(self._docker_host)
        removed = 0
        try:
            images = sorted(client.images.list(name=repository), key=lambda i: i.attrs.get("Created", ""),
                            reverse=True)
            for image in images[keep:]:
                for tag in image.tags:
                    if tag.rpartition(":")[0] != repository:
                        continue
                    try:
                        client.images.remove(tag)
                        removed += 1
                    except APIError:
                        pass  # in use or already gone: it stays, and that is fine
            if removed:
                log(f"removed {removed} old image tag(s) of {repository} from this machine")
            return removed
        finally:
            client.close()

    def push(self, tag: str, log: Log) -> str:
        """Push ``tag``; return its digest reference (``repo@sha256:...``)."""
        repository, _, version = tag.rpartition(":")
        client = docker_client(self._docker_host)
        try:
            digest = None
            last_status = None
            for item in client.api.push(repository, tag=version, stream=True, decode=True,
                                        auth_config=self.auth.as_auth_config()):
                if "error" in item:
                    raise AppError(AppError.BUILD_REGISTRY, detail=_one_line(item["error"]))
                status = item.get("status")
                if status and status != last_status and "id" not in item:
                    log(status)
                last_status = status
                aux = item.get("aux") or {}
                if "Digest" in aux:
                    digest = aux["Digest"]
            log(f"pushed {tag}")
            return f"{repository}@{digest}" if digest else tag
        except DockerException as exc:
            raise AppError(AppError.BUILD_REGISTRY, detail=_one_line(str(exc))) from exc
        finally:
            client.close()


def inside_checkout(checkout: Path, relative: str, sha: str = "") -> Path:
    """``checkout / relative`` with every symbolic link followed, refused unless it stays inside.

    Files the builder reads on this machine (Dockerfile, context, .dockerignore) come from an
    untrusted repository: a link to ``/etc/...`` or the data dir must never be followed.
    """
    root = checkout.resolve()
    path = (checkout / relative).resolve()
    if path != root and root not in path.parents:
        raise UserError(UserError.BUILD_OUTSIDE_CHECKOUT, path=relative, sha=sha[:7])
    return path


def _hang_up(responses: list) -> None:
    """Close the connections of streaming responses: the Engine cancels a build whose client left.

    Closing the client alone leaves a connection that is in use open (and the build running);
    shutting its socket down also wakes the thread still reading from it.
    """
    for resp in responses:
        sock = getattr(getattr(resp.raw, "connection", None), "sock", None)
        if sock is None:
            continue
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
