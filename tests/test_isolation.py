"""What someone who can push tries first: reach Slipway's own services from a build, read the
host's files through the builder, and make a build print secrets. None of it may work."""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from docker.utils import parse_bytes
from rq import Queue
from sqlalchemy import select

from deployer.local import LABEL_DEPLOYMENT, LABEL_PROJECT
from slipway import envvars
from slipway.buildlog import stream_key
from slipway.db import session_scope
from slipway.models import Deployment, Project
from tests.support.pipeline import deploy, dockerfile, log_of

pytestmark = pytest.mark.docker


def listening_loopback_ports() -> list[int]:
    """Every TCP port listening on this machine's loopback (or on all addresses)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port = local.split(":")
            if state == "0A" and address in ("0100007F", "00000000", "0" * 32, "0" * 24 + "01000000"):
                ports.add(int(port, 16))
    return sorted(ports)


def resp(*args: str) -> str:
    """A Redis command in RESP, as printf text."""
    parts = [f"*{len(args)}"] + [f"${len(a)}\\r\\n{a}" for a in args]
    return "\\r\\n".join(parts) + "\\r\\n"


@pytest.mark.serial  # it sends its payload to every port on loopback: no other test's servers meanwhile
def test_a_build_step_cannot_reach_redis_to_queue_a_job(settings, site, send_webhook, run_worker, redis):
    """The attack from the issue: a RUN step writes a job into rq's queue with nc. Every TCP port
    on loopback gets the payload, and the step looks for Redis's socket too."""
    key = f"pwned-{uuid.uuid4().hex[:8]}"
    payload = resp("SET", key, "1") + resp("RPUSH", f"rq:queue:{settings.queue_name}", key)
    ports = " ".join(str(p) for p in listening_loopback_ports())
    socket_path = settings.redis_url.removeprefix("unix://").partition("?")[0]
    run = (f"for p in {ports}; do printf '{payload}' | busybox nc -w 1 127.0.0.1 $p >/dev/null 2>&1; done; "
           f"if [ -e {socket_path} ] || [ -e {settings.data_dir} ]; then echo HOST-FILES-''VISIBLE; fi; true")
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run=run),
        "www/index.html": "x",
    })
    assert dep.state == "live", dep.error_message
    assert "HOST-FILES-VISIBLE" not in log_of(dep.id)
    assert redis.exists(key) == 0
    assert key.encode() not in redis.lrange(f"rq:queue:{settings.queue_name}", 0, -1)


def test_a_pickled_job_put_in_the_queue_never_runs(settings, redis, run_worker, tmp_path):
    """Even with Redis's password, a pickled job (rq's default format) is not executed: jobs are JSON."""
    target = tmp_path / "pwned"
    Queue(settings.queue_name, connection=redis).enqueue_call("os.mkdir", args=(str(target),))
    run_worker()
    assert not target.exists()


def test_a_symlinked_dockerfile_is_refused_and_the_file_it_points_to_never_shown(
        settings, site, send_webhook, run_worker, redis, tmp_path):
    secret_file = Path(settings.data_dir) / "host-secret.env"
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    secret_file.write_text("leakedhostword=1\n")
    for links in ({"Dockerfile": str(secret_file)},
                  {"Dockerfile": "../" * 40 + str(secret_file)},  # deeper than any checkout
                  {".dockerignore": str(secret_file)}):
        files = {"www/index.html": "x"}
        if "Dockerfile" not in links:
            files["Dockerfile"] = dockerfile(settings.registry)
        dep = deploy(send_webhook, run_worker, site, files, symlinks=links)
        assert dep.state == "failed", links
        assert dep.error_id == "build:user:outside-checkout"
        (name,) = links
        assert f"'{name}'" in dep.error_message and "symbolic link" in dep.error_message
        shown = "\n".join([dep.error_message, log_of(dep.id),
                           repr(redis.xrange(stream_key(dep.id, settings.queue_name)))])
        assert "leakedhostword" not in shown.lower()
        assert str(secret_file) not in shown


def test_a_build_that_prints_secrets_stores_none_of_them(settings, site, send_webhook, run_worker, redis):
    """Env values are masked from the first build line, as is the registry's login, in every encoding."""
    value = f"EnvSecret-{uuid.uuid4().hex[:12]}"
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == site.name))
        envvars.set_vars(s, project, {"API_TOKEN": value})
    registry_login = f"{settings.registry_username}:{settings.registry_password}"
    printed = {
        "plain": value,
        "upper": value.upper(),
        "lower": value.lower(),
        "base64": base64.b64encode(value.encode()).decode(),
        "base64 inside a blob": base64.b64encode(f'{{"token":"{value}"}}'.encode()).decode(),
        "url-encoded": quote(value + "/&", safe=""),
        "registry basic auth": base64.b64encode(registry_login.encode()).decode(),
        "registry password": settings.registry_password,
    }
    run = " && ".join(f"echo '{kind}: {text}'" for kind, text in printed.items())
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run=run),
        "www/index.html": "x",
    })
    assert dep.state == "live", dep.error_message
    stored = log_of(dep.id)
    streamed = repr(redis.xrange(stream_key(dep.id, settings.queue_name)))
    for kind in printed:
        assert f"{kind}: " in stored  # the lines are there ...
    for kind, text in printed.items():
        core = text.rstrip("=")
        assert core not in stored and core not in streamed, kind  # ... their secrets are not
        assert core.lower() not in stored.lower(), kind
    with session_scope() as s:
        assert s.get(Deployment, dep.id).error_message is None


def test_the_worker_command_line_carries_no_redis_password():
    procfile = (Path(__file__).resolve().parents[1] / "Procfile").read_text()
    (worker,) = [line for line in procfile.splitlines() if line.startswith("worker:")]
    assert "--url" not in worker and "REDIS_URL" not in worker
    assert "--config slipway.rqconfig" in worker
    assert os.environ.get("SLIPWAY_REDIS_PASSWORD", "") == "" or os.environ["SLIPWAY_REDIS_PASSWORD"] not in worker


def test_build_steps_run_with_no_new_privileges_and_a_memory_limit(settings, site, send_webhook, run_worker):
    run = (f"echo {uuid.uuid4().hex} >/dev/null && grep NoNewPrivs /proc/self/status"  # a step of its own, never cached
           " && echo memory-limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)")
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run=run),
        "www/index.html": "x",
    })
    assert dep.state == "live", dep.error_message
    log = log_of(dep.id)
    assert re.search(r"^NoNewPrivs:\s+1$", log, flags=re.M), log
    assert f"memory-limit={parse_bytes(settings.build_memory)}" in log


def test_apps_run_without_capabilities_they_do_not_need_and_within_limits(
        settings, site, send_webhook, run_worker, docker_client):
    dep = deploy(send_webhook, run_worker, site, {"Dockerfile": dockerfile(settings.registry), "www/index.html": "x"})
    assert dep.state == "live", dep.error_message
    # This test's project and deployment (ids start at 1 in every test's database).
    (container,) = docker_client.containers.list(filters={"label": [f"{LABEL_PROJECT}={site.name}",
                                                                     f"{LABEL_DEPLOYMENT}={dep.id}"]})
    host = container.attrs["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and "NET_RAW" not in (host["CapAdd"] or [])
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] == int(settings.app_pids)
    assert host["Memory"] == parse_bytes(settings.app_memory)
    assert host["NanoCpus"] == int(float(settings.app_cpus) * 1e9)
    # What the app's own process sees.
    status = container.exec_run("cat /proc/1/status").output.decode()
    assert re.search(r"^NoNewPrivs:\s+1$", status, flags=re.M)
    cap_eff = int(re.search(r"^CapEff:\s+([0-9a-f]+)$", status, flags=re.M).group(1), 16)
    CAP_NET_RAW, CAP_MKNOD, CAP_SYS_CHROOT = 13, 27, 18
    assert not cap_eff & (1 << CAP_NET_RAW | 1 << CAP_MKNOD | 1 << CAP_SYS_CHROOT)
