"""Build an image from a checkout and push it to the private registry (Docker SDK)."""

from __future__ import annotations

import queue
import re
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Collection, Mapping

import docker
from docker.errors import APIError, DockerException
from docker.utils import parse_bytes

from builder.buildargs import stage_args
from slipway.errors import AppError, UserError

Log = Callable[[str], None]
# How often a running build asks whether it should stop (a database read each time).
STOP_CHECK_INTERVAL_S = 1.0
# How the classic builder reports a step whose process was killed (128 + SIGKILL).
KILLED = "returned a non-zero code: 137"
# The classic builder's line naming the container a RUN step runs in.
RUNNING_IN_RE = re.compile(r"^\s*---> Running in ([0-9a-f]{12,64})\s*$")
# The Engine refuses larger Dockerfiles long before this; read no more of an untrusted file.
MAX_DOCKERFILE_BYTES = 1024 * 1024


def _killed_for_memory(client: docker.DockerClient, container: str, since: int) -> bool | None:
    """Whether the Engine reported an out-of-memory kill of the step's ``container`` (a short or full
    id) since ``since``: True, False, or None when it cannot tell (no container seen, no events)."""
    if not container:
        return None
    try:
        events = client.events(since=since, until=int(time.time()) + 1, decode=True,
                               filters={"type": "container", "event": "oom"})
        try:
            return any(str(e.get("id") or e.get("Actor", {}).get("ID", "")).startswith(container) for e in events)
        finally:
            events.close()
    except (DockerException, OSError, ValueError):
        return None


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


def _newest_use(image) -> str:
    """When an image was last made or tagged, as an ISO text that sorts in time order. ``Created`` alone
    is not it: a build answered from the cache (the same files as an earlier build, of any project)
    is an image made long ago, tagged just now (``Metadata.LastTagTime``)."""
    created = image.attrs.get("Created") or ""
    tagged = (image.attrs.get("Metadata") or {}).get("LastTagTime") or ""
    # To the second (the Engine writes fractions of varying length), "T" between date and time either way.
    return max(created[:19].replace(" ", "T"), tagged[:19].replace(" ", "T"))


class DockerImageBuilder:
    """The builder's view of the Docker Engine: build, tag, push."""

    def __init__(self, docker_host: str, auth: RegistryAuth, memory: str = "4g", cpus: int | None = None):
        self._docker_host = docker_host
        self.auth = auth
        self._memory = memory
        # Every RUN step's memory (and swap) limit. The Engine itself runs steps with
        # no-new-privileges (scripts/services.sh); the classic builder cannot drop capabilities.
        self._limits = {"memory": parse_bytes(memory), "memswap": parse_bytes(memory)}
        # The classic builder (and the SDK) take a CPU set, not a CPU quota: the first N cores.
        self._cpus = cpus

    def build(self, checkout: Path, dockerfile: str, context: str, tag: str, log: Log,
              timeout_s: int, sha: str = "", should_stop: Callable[[], bool] | None = None,
              build_args: Mapping[str, str] | None = None, cache_from: str | None = None,
              dockerfile_text: str = "") -> str:
        """Build ``tag`` from ``checkout``; return the image id. Raises UserError on a build failure.

        ``dockerfile_text``, when given, is the Dockerfile (a build plan's) instead of ``dockerfile``.

        ``should_stop`` is asked about once a second; when it says yes the build is stopped
        and BuildStopped raised. ``build_args`` are the project's build-time variables (secrets):
        each goes only to the build stages that declare it and that the image is not made from
        (``builder.buildargs``). ``cache_from`` is the project's previous image: on a build host
        that has not built the project (a cold cache) it is pulled and its layers reused.
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
            text = dockerfile_text
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
            text = None
        buildargs = {}
        if build_args:
            if text is None:
                text = dockerfile_path.read_bytes()[:MAX_DOCKERFILE_BYTES].decode(errors="replace")
            chosen = stage_args(text, build_args, path="the build plan" if dockerfile_text else dockerfile, sha=sha)
            for stage, names in chosen.stages.items():
                log(f"build-time variables for stage {stage}: {', '.join(names)}")
            if chosen.unused:
                log(f"build-time variables no build stage declares (ARG), not passed: {', '.join(chosen.unused)}")
            buildargs = chosen.passed

        client = docker_client(self._docker_host, timeout=timeout_s + 60)
        try:
            client.login(username=self.auth.username, password=self.auth.password, registry=self.auth.registry)
            cache = self._cold_cache_source(client, cache_from, log) if cache_from else None
            limits = dict(self._limits)
            if self._cpus:
                cores = min(self._cpus, int(client.info().get("NCPU") or self._cpus))
                limits["cpusetcpus"] = "0" if cores <= 1 else f"0-{cores - 1}"
            # The build's HTTP response, so that stopping can hang up its connection (see _hang_up).
            responses: list = []
            client.api.hooks["response"].append(lambda resp, *args, **kwargs: responses.append(resp))
            lines: queue.Queue = queue.Queue()

            def pump() -> None:
                try:
                    for chunk in client.api.build(path=str(context_dir), dockerfile=df_arg, tag=tag, rm=True,
                                                  forcerm=True, decode=True, network_mode="host",
                                                  container_limits=limits, buildargs=buildargs,
                                                  cache_from=cache):
                        lines.put(("chunk", chunk))
                    lines.put(("done", None))
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    lines.put(("exc", exc))

            threading.Thread(target=pump, name="docker-build", daemon=True).start()
            deadline = time.monotonic() + timeout_s
            started_at = int(time.time()) - 1  # the Engine's events are asked for by whole seconds
            step_container = ""
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
                        running = RUNNING_IN_RE.match(text)
                        if running:
                            step_container = running.group(1)
                if "aux" in item and "ID" in item["aux"]:
                    image_id = item["aux"]["ID"]
                if "error" in item:
                    last_error = item["error"].strip()
                    log(f"ERROR: {last_error}")
            if last_error and KILLED in last_error:
                # A step killed by SIGKILL: by the memory limit's OOM killer unless the Engine says otherwise.
                oom = _killed_for_memory(client, step_container, started_at)
                raise UserError(UserError.BUILD_OUT_OF_MEMORY if oom is not False else UserError.BUILD_KILLED,
                                detail=_one_line(last_error), memory=self._memory)
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

    def _cold_cache_source(self, client: docker.DockerClient, previous: str, log: Log) -> list[str] | None:
        """``[previous]`` to build with as cache when this host has no build of its own to reuse, else None.

        The classic builder given ``cache_from`` takes cache from those images alone, and skips
        its local cache for every stage (the build stages' too): so it is given only when the host
        holds no image of the project it built itself (an image built here has a parent; a pulled
        one has none). The previous image is pulled first: the classic builder only reads local images.
        """
        repository = previous.partition("@")[0] if "@" in previous else previous.rpartition(":")[0]
        try:
            for image in client.images.list(name=repository):
                if image.attrs.get("ParentId") or image.attrs.get("Parent"):
                    return None  # warm: this host built the project before, its own cache is better
            try:
                client.images.get(previous)
            except docker.errors.ImageNotFound:
                client.api.pull(previous, auth_config=self.auth.as_auth_config())
                client.images.get(previous)
                log(f"pulled {previous} to reuse its layers: this build host has not built the project before")
            return [previous]
        except DockerException as exc:
            log(f"building without a cache: the previous image {previous} could not be pulled ({_one_line(str(exc))})")
            return None

    def prune(self, repository: str, keep: int, log: Log) -> int:
        """Untag all but the ``keep`` newest local images of ``repository`` (by when they were last built
        or tagged: a build the cache answered is an old image tagged now); returns how many went.

        The Engine frees an image once its last tag is gone and no container uses it, so a
        running version (and the newest few, for rollbacks) always stays.
        """
        client = docker_client(self._docker_host)
        removed = 0
        try:
            images = sorted(client.images.list(name=repository), key=_newest_use, reverse=True)
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

    def tidy(self, budget: int, repositories: Collection[str], keep: Collection[str], log: Log,
             grace_s: float = 3600, untagged: bool = True) -> int:
        """Remove images past ``budget`` bytes of the build host's image store, oldest first; returns how many.

        Which may go: see ``removable``; ``untagged`` False leaves the build cache alone. The store's
        size is the Engine's own count (``docker system df``).
        """
        client = docker_client(self._docker_host)
        try:
            usage = client.df()
            used = usage.get("LayersSize") or 0
            if used <= budget:
                return 0
            candidates = removable(usage.get("Images") or [], repositories, keep, time.time() - grace_s, untagged)
            removed = 0
            for entry in sorted(candidates, key=lambda e: _created_ns(client, e["Id"])):
                if used <= budget:
                    break
                try:
                    for ref in _tags(entry) or [entry["Id"]]:
                        client.images.remove(ref)
                except APIError:
                    continue  # in use now, or a parent of another image: it stays
                shared = entry.get("SharedSize", -1)
                used -= entry.get("Size", 0) - max(0, shared)
                removed += 1
            if removed:
                log(f"removed {removed} image(s) from the build host, oldest first: its images were over "
                    f"the budget of {budget} bytes (SLIPWAY_BUILD_CACHE_BUDGET)")
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


def removable(images: list[dict], repositories: Collection[str], keep: Collection[str], made_before: float,
              untagged: bool = True) -> list[dict]:
    """The images (``docker system df`` entries) that tidying may remove.

    Only Slipway's: images of the projects' ``repositories``, and untagged ones (the classic
    builder's cache: build stages, the steps of replaced versions). Never one ``keep`` names (live,
    rollback targets, about to be pushed), one a container uses, or one made after ``made_before``
    (a build running now may stand on it).
    """
    keep, repositories = set(keep), set(repositories)
    found = []
    for entry in images:
        tags = _tags(entry)
        digests = [d for d in entry.get("RepoDigests") or [] if d != "<none>@<none>"]
        if keep & (set(tags) | set(digests)) or entry.get("Containers", 0) != 0:
            continue
        owners = {t.rpartition(":")[0] for t in tags} | {d.partition("@")[0] for d in digests}
        if not owners <= repositories or (not owners and not untagged):
            continue  # another's image (a base image), or the build cache when told to leave it
        if entry.get("Created", made_before) >= made_before:
            continue
        found.append(entry)
    return found


def _tags(entry: dict) -> list[str]:
    return [t for t in entry.get("RepoTags") or [] if t != "<none>:<none>"]


def _created_ns(client: docker.DockerClient, image_id: str) -> int:
    """When an image was made, in nanoseconds (the Engine's lists give whole seconds only)."""
    try:
        created = client.api.inspect_image(image_id).get("Created") or ""
    except APIError:
        return 0
    stamp, _, fraction = created.rstrip("Z").partition(".")
    try:
        seconds = int(datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp())
    except ValueError:
        return 0
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9] or 0)


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
