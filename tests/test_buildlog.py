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


def test_a_log_past_its_cap_keeps_its_first_and_newest_lines_and_marks_the_cut(settings, redis):
    from dataclasses import replace

    settings = replace(settings, build_log_max_lines="20")  # a head of 10 and the newest 10
    dep_id = _deployment(settings)
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker(), flush_lines=7)
    for i in range(1, 101):
        writer.write(f"line {i}")
    writer.write("x" * 5000)
    writer.close("failed")
    with session_scope(settings) as s:
        lines = list(s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)))
    assert lines[:10] == [f"line {i}" for i in range(1, 11)]
    assert lines[10] == ("[... 81 lines cut here: the stored log keeps its first 10 and newest 10 lines "
                         "(SLIPWAY_BUILD_LOG_MAX_LINES) ...]")
    assert lines[11:-1] == [f"line {i}" for i in range(92, 101)]
    assert lines[-1] == "x" * 4000 + " [... line cut at 4000 characters]"
    # Live viewers saw every line.
    entries = list(follow(redis, stream_key(dep_id, settings.queue_name), block_ms=100))
    assert len(entries) == 102


def test_a_log_under_its_cap_is_kept_whole(settings, redis):
    from dataclasses import replace

    settings = replace(settings, build_log_max_lines="20")
    dep_id = _deployment(settings)
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker(), flush_lines=3)
    for i in range(1, 21):
        writer.write(f"line {i}")
    writer.close("live")
    with session_scope(settings) as s:
        lines = list(s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)))
    assert lines == [f"line {i}" for i in range(1, 21)]
