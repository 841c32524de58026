"""Registry size over many deployments: does it stay flat?

Run through ``bench/registry_size`` (it sets up the environment and the services).

Each round commits a new version of a small app (``busybox httpd`` serving a page, plus a
``RUN`` step that writes ``--layer-mb`` MB of random bytes under a new seed, so every version
pushes a layer of its own, like a real app whose dependencies or build output changed) and deploys
it through the real pipeline: the rq job (``slipway.jobs.run_deployment``, in-process through rq's
``SimpleWorker``) fetches the commit over git, builds on the Docker Engine, pushes to the registry,
pulls and runs the container, waits for HTTP, goes live, retires the old container, prunes local
images and deletes the registry manifests nothing keeps; every ``SLIPWAY_REGISTRY_GC_EVERY``-th
live deployment queues the blob collection, which the same worker runs next
(``scripts/services.sh gc``). After each round it prints the registry's data dir size.

``--no-clean-up`` runs the same deployments with the clean-up switched off (no registry client,
no collection): the growth Slipway had before.

Its database is a temporary SQLite file and its queue is its own; the project is deleted at the end
(containers, images, registry manifests), and the registry collected once more.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rq import SimpleWorker

from builder.images import RegistryAuth
from builder.registry import RegistryClient
from slipway.db import session_scope
from slipway.deployments import GivenCommit, request_deployment
from slipway.migrate import upgrade
from slipway.models import Deployment
from slipway.projects import ProjectSpec, create_project, delete_project
from slipway.queue import SERIALIZER, get_queue, redis_connection
from slipway.registry_gc import ServicesScript, collect_blobs, disk_usage
from slipway.settings import Settings, set_settings

DOCKERFILE = """FROM {registry}/base/busybox:latest
RUN echo seed {seed} && head -c {size} /dev/urandom > /payload
COPY www /www
CMD ["sh", "-c", "exec busybox httpd -f -p \\"$PORT\\" -h /www"]
"""


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit_version(work: Path, settings: Settings, n: int, layer_bytes: int) -> str:
    (work / "www").mkdir(exist_ok=True)
    (work / "www" / "index.html").write_text(f"version {n}\n")
    (work / "Dockerfile").write_text(DOCKERFILE.format(registry=settings.registry, seed=secrets.token_hex(8),
                                                       size=layer_bytes))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"version {n}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def mb(n: int) -> str:
    return f"{n / 1e6:7.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--layer-mb", type=float, default=4.0, help="size of each version's own layer")
    parser.add_argument("--gc-every", type=int, help="SLIPWAY_REGISTRY_GC_EVERY for this run (default: the setting)")
    parser.add_argument("--no-clean-up", action="store_true", help="deploy without any registry clean-up")
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("rq").setLevel(logging.WARNING)
    base = Settings.load()
    tmp = Path(tempfile.mkdtemp(prefix="slipway-bench-registry-"))
    every = str(args.gc_every) if args.gc_every is not None else base.registry_gc_every
    settings = replace(base, database_url=f"sqlite:///{tmp / 'bench.db'}", queue_name=f"bench-{uuid.uuid4().hex[:8]}",
                       registry_gc_every="0" if args.no_clean_up else every)
    set_settings(settings)
    upgrade(settings)
    redis = redis_connection(settings)
    queue = get_queue(settings, redis)
    data = settings.data_path / "registry" / "data"
    registry = RegistryClient(RegistryAuth(settings.registry, settings.registry_username, settings.registry_password))

    name = f"bench-{uuid.uuid4().hex[:6]}"
    work = tmp / "work"
    bare = tmp / f"{name}.git"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp)
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=str(bare)))

    if args.no_clean_up:
        from slipway.jobs import Pipeline

        def run_jobs() -> None:  # the pipeline without a registry client: nothing is deleted
            for job in queue.jobs:
                pipeline = Pipeline.from_settings(settings)
                pipeline.registry = None
                queue.remove(job)
                pipeline.run(job.args[0])
    else:
        def run_jobs() -> None:
            SimpleWorker([queue], connection=redis, serializer=SERIALIZER).work(burst=True, logging_level="WARNING")

    start = disk_usage(data)
    print(f"registry {data}; project {name}; {args.layer_mb} MB layer per version; "
          f"clean-up {'off' if args.no_clean_up else f'on, blobs collected every {every} deployment(s)'}")
    print(f"{'deploy':>6} {'state':>10} {'tags':>4} {'registry size':>14} {'since start':>12} {'seconds':>8}")
    print(f"{0:>6} {'-':>10} {'-':>4} {mb(start):>14} {mb(0):>12}")
    failures = 0
    try:
        for n in range(1, args.rounds + 1):
            began = time.monotonic()
            sha = commit_version(work, settings, n, int(args.layer_mb * 1e6))
            git("push", "-q", str(bare), "HEAD:refs/heads/main", "--force", cwd=work)
            dep_id = request_deployment(name, GivenCommit(sha), "bench").deployment_id
            run_jobs()
            with session_scope() as s:
                state = s.get(Deployment, dep_id).state
            failures += state != "live"
            tags = registry.tags(name)
            size = disk_usage(data)
            print(f"{n:>6} {state:>10} {len(tags):>4} {mb(size):>14} {mb(size - start):>12} "
                  f"{time.monotonic() - began:>8.1f}", flush=True)
    finally:
        delete_project(settings, name, lambda line: None)
        queue.empty()
        collect_blobs(settings, redis, ServicesScript(), lambda line: None)
        print(f"after deleting the project and collecting: {mb(disk_usage(data))} ({mb(disk_usage(data) - start)} "
              "since start)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
