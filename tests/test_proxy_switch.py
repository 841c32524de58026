"""The job's switch through the proxy, at the Proxy boundary: the new version is routed before it
is marked live, the old one drains before it is stopped, and a proxy that fails fails the deployment
with the new version stopped and the old one serving."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deployer.base import Running
from deployer.caddy import CaddyProxy, RouteTable
from slipway.db import session_scope
from slipway.jobs import Pipeline
from slipway.models import Deployment
from tests.support.deployments import fake_fetch, make_deployment
from tests.support.images import StandInImages

# One Caddy serves the whole test run and each test loads its own routes into it: one such test at a time.
pytestmark = [pytest.mark.both_databases, pytest.mark.one_proxy]


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


class Recorder:
    """What happened, in order, across the proxy and the target."""

    def __init__(self):
        self.events: list[tuple] = []


class RecordingProxy:
    name = "recording"

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def apply(self, table: RouteTable) -> None:
        states = {h: get(int(h[1:].split("--")[0])).state for h in table.http if h.startswith("d")}
        self.recorder.events.append(("apply", dict(table.http), states))

    def drain(self, upstreams: set[str], timeout_s: float, say) -> bool:
        self.recorder.events.append(("drain", upstreams))
        return True


class LocalLikeTarget:
    """Starts nothing; its releases answer at 127.0.0.1:<1000 + deployment id>."""

    name = "local"

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def start(self, release, log) -> dict:
        return {"container_id": f"c-{release.deployment_id}", "upstream": f"127.0.0.1:{1000 + release.deployment_id}"}

    def wait_ready(self, release, ref, log, should_stop=None):
        return Running(url=f"http://{ref['upstream']}", ref=ref)

    def retire(self, release, keep, log) -> None:
        self.recorder.events.append(("retire", keep.ref["container_id"]))

    def stop(self, ref, log) -> bool:
        self.recorder.events.append(("stop", ref["container_id"]))
        return True


def test_the_new_version_is_routed_before_it_is_live_and_the_old_drains_before_it_stops(settings, redis):
    s = replace(settings, proxy="caddy", apps_domain="apps.test", proxy_http="0.0.0.0:80")
    recorder = Recorder()
    pipeline = Pipeline(s, redis, StandInImages(), {"local": LocalLikeTarget(recorder)}, fetch=fake_fetch,
                        proxy=RecordingProxy(recorder))
    first = make_deployment()
    pipeline.run(first)
    with session_scope() as db:
        project = db.get(Deployment, first).project.name
    recorder.events.clear()
    with session_scope() as db:  # the next version of the same project
        older = db.get(Deployment, first)
        newer = Deployment(project=older.project, sha="b" * 40, branch="main", trigger="cli", state="queued")
        db.add(newer)
        db.flush()
        second = newer.id
    pipeline.run(second)

    old, new = f"127.0.0.1:{1000 + first}", f"127.0.0.1:{1000 + second}"
    switch, drain, retire, unroute = recorder.events
    # Routed while not yet live; the old version's own name still answers meanwhile.
    assert switch == ("apply", {f"d{first}--{project}.apps.test": old, f"d{second}--{project}.apps.test": new,
                                f"{project}.apps.test": new},
                      {f"d{first}--{project}.apps.test": "live", f"d{second}--{project}.apps.test": "deploying"})
    assert drain == ("drain", {old}) and retire == ("retire", f"c-{second}")
    assert unroute[1] == {f"d{second}--{project}.apps.test": new, f"{project}.apps.test": new}
    dep = get(second)
    assert (dep.state, dep.url, dep.slot_url) == ("live", f"http://d{second}--{project}.apps.test",
                                                  f"http://{project}.apps.test")


def test_a_proxy_that_cannot_be_configured_fails_the_deployment_and_stops_the_new_version(settings, redis):
    recorder = Recorder()
    # Nothing listens on the discard port: the admin API does not answer.
    proxy = CaddyProxy("127.0.0.1:9", "127.0.0.1:10", "127.0.0.1:11", timeout_s=2)
    dep_id = make_deployment()
    Pipeline(replace(settings, proxy="caddy"), redis, StandInImages(), {"local": LocalLikeTarget(recorder)},
             fetch=fake_fetch, proxy=proxy).run(dep_id)
    dep = get(dep_id)
    assert (dep.state, dep.error_id) == ("failed", "deploy:app:proxy")
    assert "previous version keeps serving" in dep.error_message and "127.0.0.1:9" in dep.error_message
    assert recorder.events == [("stop", f"c-{dep_id}")]
