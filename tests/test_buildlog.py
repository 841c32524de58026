import pytest
from sqlalchemy import select

from slipway.buildlog import MASK, BuildLogWriter, SecretMasker, follow, stream_key
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project

pytestmark = pytest.mark.both_databases


def _deployment(settings) -> int:
    with session_scope(settings) as s:
        p = Project(name="logs", repo_url="u")
        d = Deployment(project=p, sha="a" * 40, branch="main", trigger="cli")
        s.add(d)
        s.flush()
        return d.id


def test_masker_hides_every_secret_longest_first():
    m = SecretMasker(["hunter22", "hunter22-extended", "abc"])
    assert m("token=hunter22-extended and hunter22 abc") == f"token={MASK} and {MASK} abc"


def test_lines_reach_database_and_stream_masked(settings, redis):
    dep_id = _deployment(settings)
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker([settings.registry_password or "pw-secret-1"]))
    secret = settings.registry_password or "pw-secret-1"
    writer.write("step 1\nstep 2")
    writer.write(f"password is {secret}")
    writer.close("live")
    with session_scope(settings) as s:
        rows = s.scalars(select(BuildLog).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)).all()
    assert [r.line for r in rows] == ["step 1", "step 2", f"password is {MASK}"]
    assert [r.seq for r in rows] == [1, 2, 3]
    entries = list(follow(redis, stream_key(dep_id, settings.queue_name), block_ms=100))
    assert entries[-1] == {"end": "live"}
    assert [e["line"] for e in entries[:-1]] == ["step 1", "step 2", f"password is {MASK}"]
    assert all(secret not in str(e) for e in entries)


def test_follow_skips_lines_already_seen(settings, redis):
    dep_id = _deployment(settings)
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker())
    for i in range(5):
        writer.write(f"line {i}")
    writer.close("failed")
    assert [e.get("line") for e in follow(redis, stream_key(dep_id, settings.queue_name), after_seq=3, block_ms=100)] == ["line 3", "line 4", None]
