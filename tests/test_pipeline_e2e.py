"""The whole road on real components: signed push -> rq job -> git over HTTP -> docker build ->
registry push -> container pulled and run on the local Docker Engine -> answering on its URL."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from sqlalchemy import select

from deployer.local import LABEL_PROJECT
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment
from slipway.settings import set_settings
from tests.support.pipeline import deploy, dockerfile, log_of

pytestmark = pytest.mark.docker


def registry_tags(settings, repository: str) -> list[str]:
    auth = (settings.registry_username, settings.registry_password)
    resp = requests.get(f"http://{settings.registry}/v2/{repository}/tags/list", auth=auth, timeout=10)
    return resp.json().get("tags") or [] if resp.ok else []


def test_push_goes_all_the_way_to_a_running_container(settings, site, send_webhook, run_worker, docker_client):
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry),
        "www/index.html": "hello from v1\n",
    })
    log = log_of(dep.id)
    assert dep.state == "live", f"{dep.error_message}\n{log}"
    assert requests.get(dep.url, timeout=5).text == "hello from v1\n"
    assert dep.image == f"{settings.registry}/{site.name}:{dep.sha[:7]}"
    assert dep.sha[:7] in registry_tags(settings, site.name)
    for step in ("== cloning", "== building", "== pushing", "== deploying", "== live at"):
        assert step in log
    assert settings.registry_password not in log
    (container,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}={site.name}"})
    # It runs exactly what was pushed: pulled by digest from the registry.
    assert container.attrs["Config"]["Image"].startswith(f"{settings.registry}/{site.name}@sha256:")
    assert dep.image in container.image.tags
    assert f"PORT={dep.url.rsplit(':', 1)[1]}" in container.attrs["Config"]["Env"]
    assert dep.started_at <= dep.finished_at
    assert not settings.workdir(dep.id).exists()


def test_a_failing_run_step_fails_with_its_log(settings, site, send_webhook, run_worker):
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run="echo about to break && exit 3"),
        "www/index.html": "x",
    })
    assert dep.state == "failed"
    assert dep.error_id == "build:user:build-failed"
    assert "returned a non-zero code: 3" in dep.error_message
    log = log_of(dep.id)
    assert "about to break" in log and "== failed" in log
    assert registry_tags(settings, site.name) == []


def test_a_repo_with_nothing_to_build_says_what_was_looked_for(settings, site, send_webhook, run_worker):
    dep = deploy(send_webhook, run_worker, site, {"README.md": "no Dockerfile here"})
    assert dep.state == "failed" and dep.error_id == "build:user:no-plan"
    assert "found nothing it knows how to build" in dep.error_message and dep.sha[:7] in dep.error_message
    assert "a Dockerfile" in dep.error_message and "package.json" in dep.error_message


def test_a_build_past_its_time_limit_is_stopped(settings, site, send_webhook, run_worker):
    set_settings(replace(settings, build_timeout="3"))
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run="sleep 60"),
        "www/index.html": "x",
    })
    assert dep.state == "failed" and dep.error_id == "build:user:time-out"
    assert "3 seconds" in dep.error_message
    assert (dep.finished_at - dep.started_at).total_seconds() < 45


def test_second_push_replaces_the_first_only_once_healthy(settings, site, send_webhook, run_worker, docker_client):
    set_settings(replace(settings, health_timeout="4"))
    v1 = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry), "www/index.html": "v1",
    })
    assert v1.state == "live", log_of(v1.id)

    # A version that never listens: it must fail and leave v1 serving.
    silent = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, cmd="exec sleep 600"), "www/index.html": "silent",
    })
    assert silent.state == "failed" and silent.error_id == "deploy:user:unhealthy"
    assert requests.get(v1.url, timeout=5).text == "v1"

    # A version that crashes at start: same.
    crash = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, cmd="echo cannot start >&2; exit 7"), "www/index.html": "crash",
    })
    assert crash.state == "failed" and crash.error_id == "deploy:user:exited"
    assert "cannot start" in log_of(crash.id)
    assert requests.get(v1.url, timeout=5).text == "v1"

    v2 = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry), "www/index.html": "v2",
    })
    assert v2.state == "live", log_of(v2.id)
    assert requests.get(v2.url, timeout=5).text == "v2"
    with pytest.raises(requests.ConnectionError):
        requests.get(v1.url, timeout=2)
    (running,) = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={site.name}"})
    assert v2.image in running.image.tags and running.name.endswith(f"-{v2.id}")
    log = log_of(v2.id)
    # The new version answered and went live before the old one was stopped.
    assert log.index(f"{v2.url} answers") < log.index("== live at") < log.index("stopping previous container")
    with session_scope() as s:
        assert s.get(Deployment, v1.id).state == "superseded"


def test_the_app_runs_with_its_variables_and_their_values_never_reach_the_log(
        settings, site, send_webhook, run_worker):
    from slipway.envvars import set_vars
    from slipway.models import Project

    secret = "hunter2-is-not-a-password"
    with session_scope() as s:
        set_vars(s, s.query(Project).filter_by(name=site.name).one(), {"GREETING": "hi from env", "TOKEN": secret})
    # The app serves one variable, and prints the secret before it starts.
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, cmd='echo token is $TOKEN; echo $GREETING > /www/index.html; '
                                                      'exec busybox httpd -f -p "$PORT" -h /www'),
        "www/index.html": "placeholder",
    })
    assert dep.state == "live", log_of(dep.id)
    assert requests.get(dep.url, timeout=5).text == "hi from env\n"

    # A version that prints the secret and crashes: its output lands in the log, masked.
    crash = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, cmd="echo token is $TOKEN; exit 3"),
        "www/index.html": "crash",
    })
    assert crash.state == "failed"
    log = log_of(crash.id)
    assert "token is ********" in log and secret not in log


def test_old_images_are_pruned_and_deleting_a_project_removes_what_it_runs(
        settings, site, send_webhook, run_worker, docker_client):
    from click.testing import CliRunner

    from slipway.cli import main
    from slipway.jobs import KEEP_IMAGES
    from slipway.queue import get_queue

    repository = f"{settings.registry}/{site.name}"
    live = None
    for n in range(KEEP_IMAGES + 2):
        live = deploy(send_webhook, run_worker, site, {
            "Dockerfile": dockerfile(settings.registry, run=f"echo build {n} > /build"), "www/index.html": f"v{n}",
        })
        assert live.state == "live", log_of(live.id)
    tags = [t for i in docker_client.images.list(name=repository) for t in i.tags if t.startswith(repository + ":")]
    assert len(tags) == KEEP_IMAGES and live.image in tags
    assert "old image tag(s)" in log_of(live.id)
    # The registry keeps the same newest few (the live one and its rollback targets), nothing older.
    with session_scope() as s:
        newest = s.scalars(select(Deployment.sha).where(Deployment.state.in_(["live", "superseded"]))
                           .order_by(Deployment.id.desc()).limit(KEEP_IMAGES)).all()
    assert sorted(registry_tags(settings, site.name)) == sorted(sha[:7] for sha in newest)
    assert "old image(s) of" in log_of(live.id)

    result = CliRunner().invoke(main, ["project", "delete", site.name, "--yes"])
    assert result.exit_code == 0, result.output
    assert docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={site.name}"}) == []
    assert docker_client.images.list(name=repository) == []
    assert registry_tags(settings, site.name) == []
    assert "registry garbage collection" in [j.description for j in get_queue(settings).jobs]
    with pytest.raises(requests.ConnectionError):
        requests.get(live.url, timeout=2)
    with session_scope() as s:
        assert s.get(Deployment, live.id) is None
        assert s.scalars(select(BuildLog).where(BuildLog.deployment_id == live.id)).all() == []


def test_rollback_runs_the_previous_image_again_without_building(settings, site, send_webhook, run_worker):
    from click.testing import CliRunner

    from slipway.cli import main

    v1 = deploy(send_webhook, run_worker, site, {"Dockerfile": dockerfile(settings.registry), "www/index.html": "v1"})
    v2 = deploy(send_webhook, run_worker, site, {"Dockerfile": dockerfile(settings.registry), "www/index.html": "v2"})
    assert (v1.state, v2.state) == ("live", "live")

    result = CliRunner().invoke(main, ["rollback", site.name])
    assert result.exit_code == 0, result.output
    assert f"from deployment {v1.id}'s image" in result.output
    run_worker()
    with session_scope() as s:
        back = s.scalars(select(Deployment).where(Deployment.trigger == "rollback")).one()
        assert (back.state, back.sha, back.image) == ("live", v1.sha, v1.image), log_of(back.id)
        assert s.get(Deployment, v2.id).state == "superseded"
    assert requests.get(back.url, timeout=5).text == "v1"
    log = log_of(back.id)
    assert "no new build" in log and "== building" not in log and "== cloning" not in log
    with pytest.raises(requests.ConnectionError):
        requests.get(v2.url, timeout=2)
