"""Registry clean-up: which images a project keeps, and when the registry's blobs are collected.

Two steps, because the registry has two kinds of garbage:

1. Manifests, deleted through the registry's API (``builder.registry``) right after a deployment
   goes live and when a project is deleted. A project keeps the image of every live deployment
   (production and each preview), of every unfinished one, and of its newest ``keep`` production
   versions (the rollback targets). Deployment rows stay; redeploying one whose image went
   fails with ``deploy:user:image-gone``.
2. Blobs (the layers), which only the registry's own ``garbage-collect`` frees, and which must not
   run while anything pushes. ``RegistryUse`` arbitrates through Redis: every deployment holds a
   use of the registry while it runs; collection starts only when none does, and deployments that
   start meanwhile wait for it (a few seconds). The collection itself stops the registry, collects
   and starts it again (``scripts/services.sh gc``), so its in-memory blob cache never outlives
   the blobs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Callable

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from builder.registry import RegistryError, split_reference
from slipway.interfaces import BlobCollector, Registry
from slipway.models import Deployment, Project
from slipway.settings import Settings
from slipway.states import FINAL_STATES, State

log = logging.getLogger(__name__)
Log = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[1]
COLLECT_JOB = "slipway.registry_gc.collect_job"
# A busy registry: try collecting again this much later, this many times.
RETRY_AFTER = timedelta(seconds=60)
MAX_ATTEMPTS = 30
# Longest a collection may hold the registry (it stops, collects and starts it in seconds).
MAINTENANCE_TTL_S = 600


# Images kept per project after a deployment goes live, on this machine and in the registry:
# the running one and a few to roll back to (the registry also keeps every live preview's).
KEEP_IMAGES = 3


def version_tag(sha: str) -> str:
    """The tag a commit's image is pushed under."""
    return sha[:7]


# -- which images stay -----------------------------------------------------------------------

def kept_references(session: Session, project_id: int, keep: int) -> tuple[set[str], set[str]]:
    """(image references that must stay, tags that unfinished deployments are about to push)."""
    refs: set[str] = set()
    pending: set[str] = set()
    final = [s.value for s in FINAL_STATES]
    for dep in session.scalars(select(Deployment).where(
            Deployment.project_id == project_id,
            (Deployment.state == State.LIVE.value) | Deployment.state.not_in(final))):
        if dep.image:
            refs.add(dep.image)
        else:
            pending.add(version_tag(dep.sha))
    # The newest production versions that went live: the one running and those a rollback goes to.
    versions: list[str] = []
    for image in session.scalars(select(Deployment.image).where(
            Deployment.project_id == project_id, Deployment.pr_number.is_(None), Deployment.image.is_not(None),
            Deployment.state.in_([State.LIVE.value, State.SUPERSEDED.value])).order_by(Deployment.id.desc())):
        if image not in versions:
            versions.append(image)
        if len(versions) >= keep:
            break
    return refs | set(versions), pending


def delete_old_images(settings: Settings, registry: Registry, project: str, keep: int, say: Log) -> int:
    """Delete the manifests of ``project`` that nothing keeps; returns how many went."""
    from slipway.db import session_scope

    # Tags first, deployments second: a tag listed here was pushed by a deployment that the
    # database already knows (unfinished, so kept), never by one it has not seen yet.
    tags = registry.tags(project)
    if not tags:
        return 0
    with session_scope(settings) as session:
        project_id = session.scalar(select(Project.id).where(Project.name == project))
        if project_id is None:
            return 0  # deleted meanwhile: its deletion removes every image
        refs, pending = kept_references(session, project_id, keep)
    by_tag = {tag: registry.digest(project, tag) for tag in tags}
    kept = {by_tag[tag] for tag in pending if by_tag.get(tag)}
    for ref in refs:
        parsed = split_reference(ref, settings.registry)
        if parsed is None or parsed[0] != project:
            continue
        digest = registry.digest(*parsed)
        if digest is None:
            continue
        kept.add(digest)
        if "@" in ref and digest not in by_tag.values():
            # Kept by digest alone: give it a tag, or collection (--delete-untagged) would take it.
            registry.tag(project, digest, f"keep-{digest.rpartition(':')[2][:12]}")
    doomed = sorted({d for d in by_tag.values() if d and d not in kept})
    deleted = sum(1 for digest in doomed if registry.delete(project, digest))
    if deleted:
        say(f"deleted {deleted} old image(s) of {project} from the registry")
    return deleted


def delete_all_images(registry: Registry, project: str, say: Log) -> int:
    """Delete every manifest of a (deleted) project; returns how many went."""
    digests = {registry.digest(project, tag) for tag in registry.tags(project)}
    deleted = sum(1 for digest in sorted(d for d in digests if d) if registry.delete(project, digest))
    if deleted:
        say(f"deleted {deleted} image(s) of {project} from the registry")
    return deleted


# -- who may use the registry ------------------------------------------------------------------

class RegistryUse:
    """Deployments share the registry; blob collection needs it to itself (Redis keeps the score).

    A deployment adds itself to a sorted set (scored by when its claim lapses, so a killed worker
    never blocks collection for long) and then checks for maintenance; collection takes the
    maintenance lock and then checks the set. Whichever writes second sees the other, so a push
    and a collection never overlap, and neither side waits while holding its own claim.
    """

    def __init__(self, redis: Redis, registry: str):
        self.redis = redis
        self.users_key = f"slipway:registry:{registry}:users"
        self.maintenance_key = f"slipway:registry:{registry}:maintenance"

    def enter(self, user: str, ttl_s: int, say: Log, wait: Callable[[float], None] = time.sleep) -> None:
        """Claim a use of the registry, waiting while it is being collected."""
        told = False
        while True:
            self.redis.zadd(self.users_key, {user: time.time() + ttl_s})
            if not self.redis.exists(self.maintenance_key):
                return
            self.redis.zrem(self.users_key, user)
            if not told:
                say("waiting for the registry's garbage collection to finish")
                told = True
            wait(1.0)

    def leave(self, user: str) -> None:
        self.redis.zrem(self.users_key, user)

    def users(self) -> list[str]:
        self.redis.zremrangebyscore(self.users_key, "-inf", time.time())
        return [u.decode() for u in self.redis.zrange(self.users_key, 0, -1)]

    def maintenance(self) -> "Maintenance":
        return Maintenance(self)


class Maintenance:
    """``with use.maintenance() as free:`` holds the registry for collection if ``free``."""

    def __init__(self, use: RegistryUse):
        self._use = use
        self._lock = use.redis.lock(use.maintenance_key, timeout=MAINTENANCE_TTL_S, blocking=False)
        self._held = False

    def __enter__(self) -> bool:
        if not self._lock.acquire():
            return False  # another collection runs
        self._held = True
        return not self._use.users()

    def __exit__(self, *exc) -> None:
        if self._held:
            self._lock.release()
            self._held = False


# -- collecting blobs --------------------------------------------------------------------------


class ServicesScript:
    """``scripts/services.sh gc``: stops the registry, runs its garbage-collect, starts it again.

    Manages only a registry that scripts/services.sh started on this machine; for any other it
    says so and does nothing.
    """

    def __init__(self, script: Path = ROOT / "scripts" / "services.sh", timeout_s: int = MAINTENANCE_TTL_S - 60):
        self.script = script
        self.timeout_s = timeout_s

    def collect(self, say: Log) -> None:
        try:
            done = subprocess.run([str(self.script), "gc"], capture_output=True, text=True, check=False,
                                  timeout=self.timeout_s, env=os.environ.copy(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise RegistryError(f"{self.script.name} gc took longer than {self.timeout_s} s") from None
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                say(line)
        if done.returncode != 0:
            raise RegistryError(f"{self.script.name} gc exited with status {done.returncode}")


def collect_blobs(settings: Settings, redis: Redis, collector: BlobCollector, say: Log) -> bool:
    """Collect the registry's unused blobs if no deployment uses it; False if it was busy."""
    use = RegistryUse(redis, settings.registry)
    with use.maintenance() as free:
        if not free:
            return False
        collector.collect(say)
        return True


def enqueue_collection(settings: Settings, redis: Redis | None = None, attempt: int = 1,
                       delay: timedelta | None = None) -> None:
    """Queue a blob collection (now, or after ``delay``: rq's scheduler runs it)."""
    from slipway.queue import get_queue

    queue = get_queue(settings, redis)
    options = {"args": (attempt,), "timeout": MAINTENANCE_TTL_S, "result_ttl": 86400, "failure_ttl": 7 * 86400,
               "job_id": f"{settings.queue_name}-registry-gc-{uuid.uuid4().hex[:8]}",
               "description": "registry garbage collection"}
    if delay is None:
        queue.enqueue_call(COLLECT_JOB, **options)
    else:
        queue.enqueue_in(delay, COLLECT_JOB, **options)


def deployment_went_live(settings: Settings, redis: Redis) -> bool:
    """Count a deployment; every SLIPWAY_REGISTRY_GC_EVERY-th queues a collection (True then)."""
    every = settings.registry_gc_every_n
    if every <= 0:
        return False
    if redis.incr(f"slipway:registry:{settings.registry}:deployments") % every:
        return False
    enqueue_collection(settings, redis)
    return True


def collect_job(attempt: int = 1) -> str:
    """rq job: collect the registry's blobs, or try again later while deployments use it."""
    from slipway.queue import redis_connection
    from slipway.settings import get_settings

    settings = get_settings()
    redis = redis_connection(settings)
    if collect_blobs(settings, redis, ServicesScript(), lambda line: log.info("registry gc: %s", line)):
        return "collected"
    if attempt >= MAX_ATTEMPTS:
        log.warning("registry gc: the registry stayed busy; giving up until the next trigger")
        return "busy"
    enqueue_collection(settings, redis, attempt + 1, delay=RETRY_AFTER)
    return "busy: queued again"


def clean_all(settings: Settings, registry: Registry, keep: int, say: Log) -> int:
    """Delete every project's old images (``slipway registry gc``); returns how many went."""
    from slipway.db import session_scope

    with session_scope(settings) as session:
        names = list(session.scalars(select(Project.name).order_by(Project.name)))
    return sum(delete_old_images(settings, registry, name, keep, say) for name in names)


def orphans(settings: Settings, registry: Registry) -> list[str]:
    """Repositories named like projects that no project has any more, and that still hold tags."""
    from slipway.db import session_scope
    from slipway.models import PROJECT_NAME_RE

    with session_scope(settings) as session:
        names = set(session.scalars(select(Project.name)))
    return [repo for repo in registry.repositories()
            if PROJECT_NAME_RE.fullmatch(repo) and repo not in names and registry.tags(repo)]


def disk_usage(path: Path) -> int:
    """Bytes the files under ``path`` hold (the registry's data dir)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while counting
    return total
