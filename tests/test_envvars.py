"""Environment variables: set from the CLI, encrypted at rest, names only ever shown."""

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from slipway.cli import main
from slipway.db import get_engine, session_scope
from slipway.envvars import decrypted, scopes
from slipway.models import Project

pytestmark = pytest.mark.both_databases

SECRET = "s3cr3t-database-password"


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def project(settings):
    assert run("project", "create", "envapp", "--repo", "https://example.com/x.git").exit_code == 0
    with session_scope() as s:
        return s.query(Project).filter_by(name="envapp").one().id


def test_set_list_unset(settings, project):
    r = run("env", "set", "envapp", f"DATABASE_PASSWORD={SECRET}", "GREETING=hello=world")
    assert r.exit_code == 0 and "deploy again" in r.output
    assert run("env", "list", "envapp").output.split() == ["DATABASE_PASSWORD", "runtime", "GREETING", "runtime"]
    with session_scope() as s:
        assert decrypted(s, project) == {"DATABASE_PASSWORD": SECRET, "GREETING": "hello=world"}
    run("env", "set", "envapp", "GREETING=replaced")
    with session_scope() as s:
        assert decrypted(s, project)["GREETING"] == "replaced"
    assert run("env", "unset", "envapp", "GREETING").exit_code == 0
    assert run("env", "list", "envapp").output.split() == ["DATABASE_PASSWORD", "runtime"]
    r = run("env", "unset", "envapp", "NOPE")
    assert r.exit_code == 1 and "not set on envapp: NOPE" in r.output


def test_values_are_encrypted_at_rest_and_never_printed(settings, project, client):
    run("env", "set", "envapp", f"DATABASE_PASSWORD={SECRET}")
    with get_engine(settings).connect() as conn:
        stored = conn.execute(text("SELECT name, value_enc FROM env_vars")).all()
    assert [row[0] for row in stored] == ["DATABASE_PASSWORD"] and SECRET not in stored[0][1]
    assert SECRET not in run("env", "list", "envapp").output
    page = client.get("/projects/envapp").data.decode()
    assert "DATABASE_PASSWORD" in page and SECRET not in page


def test_a_value_can_be_typed_hidden(settings, project):
    r = run("env", "set", "envapp", "API_KEY", input="typed-value-123\n")
    assert r.exit_code == 0 and "typed-value-123" not in r.output
    with session_scope() as s:
        assert decrypted(s, project) == {"API_KEY": "typed-value-123"}


@pytest.mark.parametrize("assignment, fragment", [
    ("1ABC=x", "not a valid variable name"),
    ("WITH-DASH=x", "not a valid variable name"),
    ("PORT=80", "set by Slipway"),
])
def test_bad_names_are_refused_and_nothing_is_written(settings, project, assignment, fragment):
    r = run("env", "set", "envapp", "GOOD=1", assignment)
    assert r.exit_code == 1 and fragment in r.output
    assert "no variables" in run("env", "list", "envapp").output


def test_unknown_project(settings):
    r = run("env", "list", "ghost")
    assert r.exit_code == 1 and "no project named 'ghost'" in r.output


def test_each_variable_is_for_the_running_app_the_build_or_both(settings, project):
    assert run("env", "set", "envapp", "RUNTIME_ONLY=r-value").exit_code == 0
    r = run("env", "set", "envapp", "--build", "NPM_TOKEN=b-value")
    assert r.exit_code == 0 and "for the build" in r.output
    assert run("env", "set", "envapp", "--both", "SHARED=s-value").exit_code == 0
    assert run("env", "list", "envapp").output.split() == [
        "NPM_TOKEN", "build", "RUNTIME_ONLY", "runtime", "SHARED", "both"]
    with session_scope() as s:
        assert decrypted(s, project, build=False) == {"RUNTIME_ONLY": "r-value", "SHARED": "s-value"}
        assert decrypted(s, project, build=True) == {"NPM_TOKEN": "b-value", "SHARED": "s-value"}
    # A new value without a scope flag keeps the variable's scope; a flag changes it.
    run("env", "set", "envapp", "NPM_TOKEN=b-value-2")
    run("env", "set", "envapp", "--runtime", "SHARED=s-value")
    with session_scope() as s:
        assert decrypted(s, project, build=True) == {"NPM_TOKEN": "b-value-2"}
        assert decrypted(s, project, build=False) == {"RUNTIME_ONLY": "r-value", "SHARED": "s-value"}


def test_a_scope_that_does_not_exist_is_refused(settings, project):
    from slipway.envvars import set_vars

    with session_scope() as s, pytest.raises(ValueError, match="'later' is not a scope: give runtime"):
        set_vars(s, s.get(Project, project), {"A": "x"}, "later")


def test_the_dashboard_sets_and_removes_variables_and_never_shows_a_value(settings, project, client):
    token = client.get("/projects/envapp/settings").data.decode().split('name="csrf" value="')[1].split('"')[0]
    r = client.post("/projects/envapp/env", data={"csrf": token, "key": "NPM_TOKEN", "value": SECRET, "build": "on"})
    assert r.status_code == 302
    page = client.get("/projects/envapp/settings").data.decode()
    assert "NPM_TOKEN" in page and SECRET not in page
    with session_scope() as s:
        assert decrypted(s, project, build=True) == {"NPM_TOKEN": SECRET}
        assert scopes(s, project) == {"NPM_TOKEN": "build"}
    # Both boxes: both; none: the scope it had.
    client.post("/projects/envapp/env", data={"csrf": token, "key": "NPM_TOKEN", "value": SECRET, "build": "on",
                                              "runtime": "on"})
    client.post("/projects/envapp/env", data={"csrf": token, "key": "NPM_TOKEN", "value": SECRET})
    with session_scope() as s:
        assert scopes(s, project) == {"NPM_TOKEN": "both"}
    bad = client.post("/projects/envapp/env", data={"csrf": token, "key": "PORT", "value": SECRET, "build": "on"})
    assert bad.status_code == 400 and "set by Slipway" in bad.data.decode() and SECRET not in bad.data.decode()
    assert client.post("/projects/envapp/env", data={"csrf": "forged", "key": "X", "value": "v"}).status_code == 400
    assert client.post("/projects/envapp/env/NPM_TOKEN/delete", data={"csrf": token}).status_code == 302
    with session_scope() as s:
        assert decrypted(s, project) == {}


def test_the_api_sets_lists_and_removes_variables_by_name(settings, project, client):
    assert client.put("/api/projects/envapp/env/NPM_TOKEN", json={"value": SECRET, "scope": "both"}).status_code == 204
    assert client.put("/api/projects/envapp/env/NPM_TOKEN", json={"value": "new-value"}).status_code == 204
    listed = client.get("/api/projects/envapp/env")
    assert listed.json == {"names": ["NPM_TOKEN"], "scopes": {"NPM_TOKEN": "both"}}  # kept its scope
    assert SECRET not in listed.get_data(as_text=True) and "new-value" not in listed.get_data(as_text=True)
    for body in ({"value": 1}, {"scope": "build"}, ["x"], {"value": "v", "scope": "later"}):
        r = client.put("/api/projects/envapp/env/OTHER", json=body)
        assert r.status_code == 422 and "error" in r.json, (body, r.status_code, r.json)
    assert client.put("/api/projects/envapp/env/1BAD", json={"value": "v"}).status_code == 422
    assert client.put("/api/projects/ghost/env/A", json={"value": "v"}).status_code == 404
    assert client.delete("/api/projects/envapp/env/NPM_TOKEN").status_code == 204
    assert client.delete("/api/projects/envapp/env/NPM_TOKEN").status_code == 404
    assert client.get("/api/projects/envapp/env").json == {"names": [], "scopes": {}}


def test_a_release_moved_to_another_provider_gets_the_running_apps_variables_only(settings, redis):
    from deployer.base import Running
    from slipway.envvars import set_vars
    from slipway.failover import failover
    from slipway.models import Deployment

    class MovingTarget:
        def __init__(self):
            self.env = None

        def failover(self, release, ref, log, why=""):
            self.env = dict(release.env)
            return Running("http://moved.example", {"dseq": 2})

    with session_scope() as s:
        p = Project(name="moving", repo_url="x", target="akash")
        d = Deployment(project=p, sha="a" * 40, branch="main", trigger="cli", state="live",
                       image="r/moving:aaaaaaa", target_ref={"dseq": 1})
        s.add(d)
        s.flush()
        dep_id = d.id
        set_vars(s, p, {"DATABASE_URL": "postgres://app"}, "runtime")
        set_vars(s, p, {"NPM_TOKEN": "build-only-token"}, "build")
    target = MovingTarget()
    assert failover(settings, redis, {"akash": target}, dep_id)
    assert target.env == {"DATABASE_URL": "postgres://app"}
