"""Dashboard pages and the live log stream tell the truth about deployments."""

import json

import pytest

from slipway.buildlog import BuildLogWriter, SecretMasker
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project

pytestmark = pytest.mark.both_databases


def make(settings, state="live", lines=("hello", "world")):
    with session_scope() as s:
        p = s.query(Project).filter_by(name="dash").one_or_none() or Project(name="dash", repo_url="https://x/dash.git")
        d = Deployment(project=p, sha="f" * 40, branch="main", trigger="push", state=state,
                       url="http://127.0.0.1:9999" if state == "live" else None,
                       error_message="The Docker build failed: <boom>" if state == "failed" else None)
        s.add(d)
        s.flush()
        s.add_all([BuildLog(deployment_id=d.id, seq=i + 1, line=t) for i, t in enumerate(lines)])
        return d.id


def test_index_lists_projects_with_latest_state(client, settings):
    assert b"No projects yet" in client.get("/").data
    make(settings, "failed")
    make(settings, "live")
    page = client.get("/").data.decode()
    assert "dash" in page and "state-live" in page and "http://127.0.0.1:9999" in page


def test_index_shows_what_serves_production_even_when_the_latest_attempt_failed(client, settings):
    make(settings, "live")
    make(settings, "failed")
    page = client.get("/").data.decode()
    card = page[page.index('href="/projects/dash"'):]
    row = card[: card.index("</a>")]
    assert "127.0.0.1:9999" in row and "state-failed" in row


def test_deployment_page_shows_log_and_escaped_reason(client, settings):
    dep_id = make(settings, "failed", lines=("step <1>", "boom"))
    page = client.get(f"/deployments/{dep_id}").data.decode()
    assert "step &lt;1&gt;" in page and "The Docker build failed: &lt;boom&gt;" in page
    assert "log.js" not in page  # a finished deployment needs no live stream


def test_unknown_pages_are_404(client):
    assert client.get("/deployments/12345").status_code == 404
    assert client.get("/projects/nope").status_code == 404
    assert client.get("/api/deployments/12345").json == {"error": "not found"}


def test_api(client, settings):
    dep_id = make(settings, "live")
    with session_scope() as s:
        d = s.get(Deployment, dep_id)
        d.slot_url, d.restarts, d.commit_message, d.commit_author = "http://dash.localhost:8080", 2, "Fix it", "Ada"
    got = client.get(f"/api/deployments/{dep_id}").json
    assert got["url"] == "http://127.0.0.1:9999"
    # What the dashboard shows of it, the API answers too.
    assert (got["slot_url"], got["restarts"], got["commit_message"], got["commit_author"]) == (
        "http://dash.localhost:8080", 2, "Fix it", "Ada")
    assert [row["line"] for row in client.get(f"/api/deployments/{dep_id}/log").json] == ["hello", "world"]
    assert client.get("/api/projects").json[0]["name"] == "dash"


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.strip().split("\n\n"):
        kind, data = "message", None
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if data is not None:
            events.append((kind, data))
    return events


def test_stream_of_a_running_deployment_follows_redis_until_the_end(client, settings, redis):
    dep_id = make(settings, "building", lines=())
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker())
    writer.write("Step 1/3")
    writer.write("Step 2/3")
    writer.close("live")
    events = sse_events(client.get(f"/deployments/{dep_id}/log/stream?after=1").data.decode())
    # the state first (the page's badge and steps), then the lines with their HTML, then the end
    assert events == [("state", {"state": "building"}),
                      ("message", {"seq": 2, "line": "Step 2/3", "html": "Step 2/3"}), ("end", {"state": "live"})]


def test_stream_of_a_running_deployment_takes_its_steps_from_redis_not_the_database(client, settings, redis):
    """The worker publishes each step in the log stream: the page's steps move on from there, never
    back (the stream replays the steps taken before the page connected), and the database is not
    read while lines come."""
    from sqlalchemy import event

    from slipway.db import get_engine

    dep_id = make(settings, "building", lines=())
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker())
    for step in ("cloning", "building"):  # taken before the page connected
        writer.state(step)
        writer.write(f"== {step}")
    writer.state("pushing")
    writer.write("== pushing")
    writer.close("live")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(get_engine(settings), "before_cursor_execute", seen)
    try:
        events = sse_events(client.get(f"/deployments/{dep_id}/log/stream").data.decode())
    finally:
        event.remove(get_engine(settings), "before_cursor_execute", seen)
    assert [e for e in events if e[0] in ("state", "end")] == [
        ("state", {"state": "building"}), ("state", {"state": "pushing"}), ("end", {"state": "live"})]
    assert [e[1]["line"] for e in events if e[0] == "message"] == ["== cloning", "== building", "== pushing"]
    # Two reads, both before the first event: the access check's and the page's first state.
    assert len([st for st in statements if "FROM deployments" in st]) == 2, statements


def test_stream_of_a_finished_deployment_comes_from_the_database(client, settings):
    dep_id = make(settings, "failed", lines=("a", "b", "c"))
    events = sse_events(client.get(f"/deployments/{dep_id}/log/stream?after=1").data.decode())
    assert events[0] == ("state", {"state": "failed"})
    events = events[1:]
    assert [e[1].get("line") for e in events] == ["b", "c", None]
    assert events[-1] == ("end", {"state": "failed"})


def test_project_page_shows_production_and_deploy_now_queues_the_branch_head(client, settings, git_server, queue):
    import uuid

    from slipway.projects import ProjectSpec, create_project
    from slipway.queue import job_id_for

    repo = git_server.create(f"dash-{uuid.uuid4().hex[:6]}")
    sha = repo.commit({"Dockerfile": "FROM scratch\n"})
    with session_scope() as s:
        create_project(s, ProjectSpec(name="deploynow", repo_url=repo.url))
    page = client.get("/projects/deploynow").data.decode()
    assert "Not live yet" in page and "Deploy main now" in page
    token = page.split('name="csrf" value="')[1].split('"')[0]

    # Without the session's token the form is refused and nothing is queued.
    assert client.post("/projects/deploynow/deploy", data={"csrf": "forged"}).status_code == 400
    assert queue.job_ids == []

    resp = client.post("/projects/deploynow/deploy", data={"csrf": token})
    assert resp.status_code == 302
    with session_scope() as s:
        (d,) = s.query(Deployment).all()
        assert (d.sha, d.trigger, d.state) == (sha, "dashboard", "queued")
    assert resp.headers["Location"].endswith(f"/deployments/{d.id}")
    assert queue.job_ids == [job_id_for(d.id)]


def test_deploy_now_of_a_missing_branch_says_so_on_the_page(client, settings, git_server, queue):
    import uuid

    from slipway.projects import ProjectSpec, create_project

    repo = git_server.create(f"dash-{uuid.uuid4().hex[:6]}")
    repo.commit({"Dockerfile": "FROM scratch\n"})
    with session_scope() as s:
        create_project(s, ProjectSpec(name="nobranch", repo_url=repo.url, branch="release"))
    page = client.get("/projects/nobranch").data.decode()
    token = page.split('name="csrf" value="')[1].split('"')[0]
    resp = client.post("/projects/nobranch/deploy", data={"csrf": token}, follow_redirects=True)
    assert f"the repository {repo.url} has no branch &#39;release&#39;" in resp.data.decode()
    assert queue.job_ids == []


def test_redeploy_button_queues_the_same_image(client, settings, queue):
    from slipway.queue import job_id_for

    with session_scope() as s:
        p = Project(name="rbdash", repo_url="x")
        old = Deployment(project=p, sha="a" * 40, branch="main", trigger="push", state="superseded",
                         image="127.0.0.1:5000/rbdash:aaaaaaa")
        s.add_all([old, Deployment(project=p, sha="b" * 40, branch="main", trigger="push", state="live",
                                   image="127.0.0.1:5000/rbdash:bbbbbbb", url="http://127.0.0.1:1")])
        s.flush()
        old_id = old.id
    page = client.get(f"/deployments/{old_id}").data.decode()
    assert "Roll back to this version" in page
    token = page.split('name="csrf" value="')[1].split('"')[0]
    resp = client.post(f"/deployments/{old_id}/redeploy", data={"csrf": token})
    assert resp.status_code == 302
    with session_scope() as s:
        new = s.query(Deployment).filter_by(trigger="rollback").one()
        assert (new.image, new.sha, new.state) == ("127.0.0.1:5000/rbdash:aaaaaaa", "a" * 40, "queued")
    assert queue.job_ids == [job_id_for(new.id)]
    assert client.post(f"/deployments/{old_id}/redeploy", data={"csrf": "forged"}).status_code == 400


def test_an_akash_projects_page_sets_its_own_akash_settings_and_refuses_bad_values_with_what_to_fix(client, settings):
    with session_scope() as s:
        s.add(Project(name="onakash", repo_url="https://x/onakash.git", target="akash",
                      akash_settings={"cpu": "0.25"}))
    page = client.get("/projects/onakash/settings").data.decode()
    assert "the provider that runs the app can read its environment variables" in page
    assert 'name="cpu" value="0.25"' in page
    token = page.split('name="csrf" value="')[1].split('"')[0]
    form = {"cpu": "1", "memory": "1Gi", "storage": "", "gpu": "", "gpu_model": "", "max_price_uact": "70",
            "budget_uact": "9000000", "budget_monthly": "monthly", "providers": "", "attributes": "region=eu",
            "auditors": ""}

    assert client.post("/projects/onakash/akash", data={**form, "csrf": "forged"}).status_code == 400
    resp = client.post("/projects/onakash/akash", data={**form, "csrf": token})
    assert resp.status_code == 302
    with session_scope() as s:
        assert s.query(Project).filter_by(name="onakash").one().akash_settings == {
            "cpu": "1", "memory": "1Gi", "max_price_uact": 70, "budget_uact": 9_000_000, "budget_monthly": True,
            "attributes": {"region": "eu"}}

    bad = client.post("/projects/onakash/akash", data={**form, "cpu": "<b>all</b>", "providers": "cedar",
                                                       "csrf": token})
    page = bad.data.decode()
    assert bad.status_code == 400
    assert "The project&#39;s Akash settings are not valid" in page and "providers must be Akash addresses" in page
    assert "<b>all</b>" not in page  # shown escaped, kept in the form to fix
    with session_scope() as s:
        assert s.query(Project).filter_by(name="onakash").one().akash_settings["cpu"] == "1"
    assert client.post("/projects/nosuch/akash", data={**form, "csrf": token}).status_code == 404


def test_every_flash_category_and_page_class_the_dashboard_uses_has_a_style():
    """A flash shown as <p class="CATEGORY"> (project and deployment pages) needs its rule in slipway.css,
    which every page loads."""
    import re
    from pathlib import Path

    web = Path(__file__).resolve().parents[2] / "web"
    css = (web / "static" / "slipway.css").read_text()
    defined = set(re.findall(r"\.([a-z][a-z0-9-]*)", css))
    used = {m for p in web.glob("*.py") for m in re.findall(r'flash\(.*,\s*"([a-z-]+)"\)', p.read_text())}
    used |= {"notice"}  # the Akash settings' warning on the project page
    assert used <= defined, f"no rule in slipway.css for: {sorted(used - defined)}"
    assert {"notice", "error"} <= used


def test_the_failing_line_is_the_cause_not_the_summaries_after_it():
    from types import SimpleNamespace

    from web.present import failing_line

    log = ["== building", "Step 3/4 : RUN make test  # prints error on failure", " ---> Running in 1f2e",
           "\x1b[1;34m==> running the tests\x1b[0m", "\x1b[31merror: 2 tests failed\x1b[0m", "summary: 40 passed",
           "Removing intermediate container 1f2e", "ERROR: The command '/bin/sh -c make' returned a non-zero code: 3",
           "== failed: The Docker build failed: returned a non-zero code: 3."]
    rows = [SimpleNamespace(seq=i + 1, line=text) for i, text in enumerate(log)]
    assert failing_line(rows, "failed") == 5
    assert failing_line(rows, "live") is None
    # no line says so: the last line of the step's output
    rows[4].line = "2 tests did not pass"
    assert failing_line(rows, "failed") == 6
    assert failing_line([SimpleNamespace(seq=1, line="== failed: no Dockerfile")], "failed") == 1


def test_log_lines_are_escaped_before_their_colours_are_drawn():
    from web.present import log_html

    assert str(log_html("\x1b[31m<script>alert(1)</script>\x1b[0m & more")) == \
        '<span class="ansi31">&lt;script&gt;alert(1)&lt;/script&gt;</span> &amp; more'


def test_akash_spend_is_deposits_less_escrow_left_and_its_chart_steps_up_with_each_deposit():
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from web.present import spend

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    events = [SimpleNamespace(at=t0, amount_uact=5_000_000), SimpleNamespace(at=t0 + timedelta(days=1), amount_uact=None),
              SimpleNamespace(at=t0 + timedelta(days=10), amount_uact=5_000_000)]
    s = spend(events, [{"escrow_left": 2_000_000}], 20_000_000, now=t0 + timedelta(days=20))
    assert (s["deposited"], s["escrow"], s["spent"], s["share"]) == (10_000_000, 2_000_000, 8_000_000, 40)
    # start, then up at each deposit, then flat to the right edge: 6 points; the budget line above them
    assert len(s["line"].split()) == 6 and s["budget_y"] < float(s["line"].split()[-1].split(",")[1])
    unknown = spend(events, [{"escrow_left": None}], None)
    assert (unknown["escrow"], unknown["share"], unknown["budget_y"]) == (None, None, None)
    assert spend([], [], 5)["line"] == ""


def test_new_project_imports_a_repository_of_an_installation_and_refuses_others(client, settings):
    from slipway.models import Installation, InstallationRepository

    with session_scope() as s:
        inst = Installation(id=77, account_login="acme", account_type="Organization")
        inst.repositories.append(InstallationRepository(repo_id=501, full_name="acme/shop", private=True))
        s.add(inst)
        s.add(Installation(id=78, account_login="held", suspended=True,
                           repositories=[InstallationRepository(repo_id=502, full_name="held/app")]))
    page = client.get("/new").data.decode()
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert 'value="77:501"' in page and "acme/shop (private)" in page
    assert "held/app" not in page  # a suspended installation's repositories cannot build

    refused = client.post("/new", data={"csrf": token, "source": "github", "repo": "78:502", "name": "held"})
    assert refused.status_code == 422 and "choose one of the repositories listed" in refused.data.decode()
    resp = client.post("/new", data={"csrf": token, "source": "github", "repo": "77:501", "name": "shop",
                                     "branch": "release"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/projects/shop")
    with session_scope() as s:
        p = s.query(Project).filter_by(name="shop").one()
        assert (p.github_repo, p.installation_id, p.branch, p.deploy_token_hash) == ("acme/shop", 77, "release", None)
        assert p.repo_url == f"{settings.github_url.rstrip('/')}/acme/shop.git"
    assert "Created shop" in client.get("/projects/shop").data.decode()
