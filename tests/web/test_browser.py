"""The dashboard in a real browser: Playwright driving Debian's Chromium against the real app,
a real rq worker, Docker Engine and registry, and real `git push` to the built-in remote.

One server, one worker and one browser serve the whole module; the tests run in order, each
building on the last (sign in, create, push, watch, live, roll back, settings, cancel, fail,
delete). Every main page is saved as a PNG under ``$SLIPWAY_DATA_DIR/artifacts/screenshots``.

Builds wait on a gate this module serves (their ``RUN`` polls it over host networking), so the
test, not a clock, decides when a build moves on: the page is seen mid-build every time.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from deployer.local import LABEL_PROJECT
from slipway.db import dispose_engines, session_scope
from slipway.migrate import upgrade
from slipway.models import Deployment, EnvVar, Project
from slipway.settings import set_settings
from tests.support.gitrepos import Checkout
from tests.support.workers import Workers

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-admin-password-123"
# Bounds on waiting for a build or a page, never a measure of speed.
BUILD_S = 180
PAGE_MS = 30_000

pytestmark = pytest.mark.docker


class Gate:
    """An HTTP server a build's RUN polls: /gate/KEY answers 200 once the test opens KEY."""

    def __init__(self) -> None:
        opened = self.opened = set()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path.removeprefix("/gate/") in opened else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def open(self, key: str) -> None:
        self.opened.add(key)


class World:
    def __init__(self, settings, url, gate, registry, shots: Path):
        self.settings, self.url, self.gate, self.registry, self.shots = settings, url, gate, registry, shots
        self.name = f"web-{uuid.uuid4().hex[:6]}"
        self.token: str | None = None
        self.checkout: Checkout | None = None
        self.keys: list[str] = []

    def files(self, key: str, fail: bool = False) -> dict[str, str]:
        """An app whose build says it is compiling (in colour), then waits for the gate to open ``key``."""
        if fail:
            run = "printf '\\033[1;34m==> running the tests\\033[0m\\n'; " \
                  "printf '\\033[31merror: 2 tests failed\\033[0m\\n'; exit 3"
        else:
            run = (f"printf '\\033[1;32m==> compiling\\033[0m {key}\\n'; i=0; "
                   f"until busybox wget -q -O /dev/null http://127.0.0.1:{self.gate.port}/gate/{key} 2>/dev/null; "
                   "do i=$((i+1)); if [ $i -gt 3000 ]; then exit 1; fi; busybox sleep 0.1; done; echo built")
        return {
            "Dockerfile": f"FROM {self.registry}/base/busybox:latest\nCOPY www /www\nRUN {run}\n"
                          f'CMD ["sh", "-c", "echo serving version {key}; exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n',
            "www/index.html": f"<h1>version {key}</h1>\n",
        }

    def push(self, message: str, fail: bool = False) -> tuple[str, str]:
        key = uuid.uuid4().hex[:10]
        self.keys.append(key)
        sha = self.checkout.commit(self.files(key, fail), message=message)
        host = self.url.removeprefix("http://")
        # The test watches the build in the browser: the push itself need not follow it.
        self.checkout.git("push", "-o", "slipway.follow=false", f"http://slipway:{self.token}@{host}/git/{self.name}.git",
                          "HEAD:main")
        return key, sha

    def newest(self) -> Deployment:
        with session_scope(self.settings) as s:
            return s.scalar(select(Deployment).join(Project).where(Project.name == self.name)
                            .order_by(Deployment.id.desc()).limit(1))


@pytest.fixture(scope="module")
def world(base_settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    gate = Gate()
    # The server first, on a free port, so the settings can name it (links, the git remote).
    srv = make_server("127.0.0.1", 0, lambda environ, start: [], threaded=True)
    url = f"http://127.0.0.1:{srv.server_port}"
    settings = replace(base_settings, data_dir=str(root / "data"), database_url=f"sqlite:///{root / 'slipway.db'}",
                       queue_name=f"test-{uuid.uuid4().hex[:8]}", public_url=url, internal_url=url,
                       admin_password=PASSWORD, github_webhook_secret="browser-webhook-secret-123")
    set_settings(settings)
    upgrade(settings)
    from web import create_app

    srv.app = create_app(settings)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    workers = Workers(settings, root)
    workers.start()
    shots = Path(base_settings.data_dir) / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    w = World(settings, url, gate, base_settings.registry, shots)
    w.checkout = Checkout(root / "dev" / "app")
    w.workers = workers
    yield w
    for key in w.keys:  # let any build still waiting finish, so the worker stops cleanly
        gate.open(key)
    workers.stop_all()
    srv.shutdown()
    gate.server.shutdown()
    import docker

    client = docker.DockerClient(base_url=settings.docker_host)
    for c in client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={w.name}"}):
        c.remove(force=True)
    client.close()
    set_settings(None)
    dispose_engines()


@pytest.fixture(scope="module")
def page(world):
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=world.url)
        context.set_default_timeout(PAGE_MS)
        p = context.new_page()
        yield p
        context.close()
        browser.close()


def shot(world, page, name: str) -> None:
    page.screenshot(path=str(world.shots / f"{name}.png"), full_page=True)


def badge(page):
    return page.locator("#state .state")


def test_sign_in_as_the_local_admin_and_see_the_empty_projects_page(world, page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    shot(world, page, "01-sign-in")
    page.fill("#password", "not the password")
    page.click("form.login button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not the admin password")
    page.fill("#password", PASSWORD)
    page.click("form.login button[type=submit]")
    expect(page.locator("h1")).to_have_text("Projects")
    expect(page.locator(".empty")).to_contain_text("No projects yet")
    shot(world, page, "02-projects-empty")


def test_create_a_git_push_project_and_see_its_remote_and_token_once(world, page):
    page.click("text=New project")
    expect(page.locator("h1")).to_have_text("New project")
    shot(world, page, "03-new-project")
    form = page.locator("#git-push")
    form.locator("input[name=name]").fill(world.name)
    form.locator("button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Your git remote")
    world.token = page.locator("#token code").inner_text().strip()
    assert world.token.startswith("slw_")
    expect(page.locator("#remote-command")).to_contain_text(f"{world.url}/git/{world.name}.git")
    shot(world, page, "04-token-shown-once")
    page.click(f"text=Go to {world.name}")
    expect(page.locator(".empty")).to_contain_text("No deployments yet")
    assert world.token not in page.content()  # shown once: never again
    shot(world, page, "05-project-empty")


def test_push_watch_the_log_and_steps_while_it_builds_then_see_it_live(world, page):
    key, _sha = world.push("Add the landing page\n\nwith a body")
    dep = world.newest()
    page.goto(f"/deployments/{dep.id}")
    # The build's first line arrives while it waits at the gate: the page follows it live.
    expect(page.locator("#log")).to_contain_text(f"==> compiling {key}", timeout=BUILD_S * 1000)
    expect(badge(page)).to_have_text("building")  # never "queued" while the build streams
    expect(page.locator("#steps li[data-step=building]")).to_have_class("current")
    expect(page.locator("#steps li[data-step=cloning]")).to_have_class("done")
    # The colours came through as classes, not escape codes.
    expect(page.locator("#log .ansi32").first).to_contain_text("==> compiling")
    assert "\x1b" not in page.locator("#log").inner_text()
    shot(world, page, "06-deployment-building")

    world.gate.open(key)
    expect(badge(page)).to_have_text("live", timeout=BUILD_S * 1000)
    expect(page.locator("#steps li")).to_have_class(["done"] * 6)
    expect(page.locator("#log")).to_contain_text("built")
    # What the running app prints, live under the build log, light on dark as the build log is.
    expect(page.locator("#applog")).to_contain_text(f"serving version {key}", timeout=PAGE_MS)
    colours = page.locator("#applog").evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el.closest('.log-wrap')).backgroundColor]")
    assert colours == ["rgb(228, 228, 231)", "rgb(10, 10, 10)"], colours
    shot(world, page, "07-deployment-live")
    live = world.newest()
    assert live.state == "live" and live.commit_message == "Add the landing page"
    assert requests.get(live.url, timeout=10).text == f"<h1>version {key}</h1>\n"

    page.goto("/")
    card = page.locator(f"[data-project={world.name}]")
    expect(card).to_contain_text("Add the landing page")
    expect(card.locator(".state")).to_have_text("live")
    shot(world, page, "08-projects")


def test_a_second_version_goes_live_and_roll_back_brings_the_first_back(world, page):
    first = world.newest()
    key, _sha = world.push("Change the headline")
    second = world.newest()
    assert second.id != first.id
    world.gate.open(key)
    page.goto(f"/deployments/{second.id}")
    expect(badge(page)).to_have_text("live", timeout=BUILD_S * 1000)

    page.goto(f"/projects/{world.name}")
    rows = page.locator("table.deployments tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Change the headline")
    expect(rows.first).to_contain_text("git push")
    expect(rows.first.locator(".state")).to_have_text("live")
    expect(rows.nth(1).locator(".state")).to_have_text("superseded")
    shot(world, page, "09-project")

    page.click(f"text=Roll back to #{first.id}")
    expect(page.locator("h1")).to_contain_text("Deployment #")
    expect(badge(page)).to_have_text("live", timeout=BUILD_S * 1000)
    expect(page.locator("#steps li[data-step=building]")).to_have_class("skipped")
    rolled = world.newest()
    assert (rolled.trigger, rolled.image, rolled.commit_message) == ("rollback", first.image, first.commit_message)
    assert requests.get(rolled.url, timeout=10).text == f"<h1>version {world.keys[0]}</h1>\n"
    shot(world, page, "10-deployment-rolled-back")


def test_settings_set_a_write_only_variable_and_make_a_deploy_hook(world, page):
    page.goto(f"/projects/{world.name}")
    page.click("text=Settings")
    expect(page.locator("h1")).to_have_text("Settings")
    form = page.locator("#add-variable")
    form.locator("input[name=key]").fill("DATABASE_URL")
    form.locator("input[name=value]").fill("postgres://user:very-secret-value@db/app")
    form.locator("button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("DATABASE_URL saved")
    expect(page.locator("#variables .vars")).to_contain_text("DATABASE_URL")
    assert "very-secret-value" not in page.content()
    with session_scope(world.settings) as s:
        assert s.scalar(select(EnvVar.name).join(Project).where(Project.name == world.name)) == "DATABASE_URL"

    page.fill("#general input[name=health_path]", "no-slash")
    page.click("#general button[type=submit]")
    expect(page.locator("p.error")).to_contain_text("must start with /")
    page.fill("#general input[name=health_path]", "/")
    page.click("#general button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("Settings saved")
    shot(world, page, "11-settings")

    page.click("text=Make a deploy hook")
    expect(page.locator("#hook")).to_contain_text(f"{world.url}/hooks/deploy/")
    shot(world, page, "12-deploy-hook-shown-once")
    page.go_back()
    page.reload()
    expect(page.locator("#hook")).to_contain_text("A deploy hook is set")


def test_cancel_a_build_while_it_runs(world, page):
    key, _sha = world.push("Try something slow")
    dep = world.newest()
    page.goto(f"/deployments/{dep.id}")
    expect(page.locator("#log")).to_contain_text(f"==> compiling {key}", timeout=BUILD_S * 1000)
    expect(badge(page)).to_have_text("building")
    page.click("text=Cancel deployment")
    expect(badge(page)).to_have_text("cancelled", timeout=BUILD_S * 1000)
    expect(page.locator("#steps li[data-step=building]")).to_have_class("cancelled")
    expect(page.locator(".facts")).to_contain_text("Why it was cancelled")
    shot(world, page, "13-deployment-cancelled")
    world.gate.open(key)  # the build finishes its RUN; the job then stops at its next step
    with session_scope(world.settings) as s:
        assert s.get(Deployment, dep.id).state == "cancelled"


def test_a_failed_build_marks_its_failing_line(world, page):
    world.push("Break the tests", fail=True)
    dep = world.newest()
    page.goto(f"/deployments/{dep.id}")
    expect(badge(page)).to_have_text("failed", timeout=BUILD_S * 1000)
    failing = page.locator("#log .l.fail")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("error: 2 tests failed")
    expect(failing.locator(".ansi31")).to_have_count(1)
    expect(page.locator("#steps li[data-step=building]")).to_have_class("failed")
    page.click("text=See the failing line")
    expect(page).to_have_url(re.compile(r"#line-\d+$"))
    shot(world, page, "14-deployment-failed")


def test_other_pages_and_deleting_a_project_after_typing_its_name(world, page):
    page.goto("/tokens")
    shot(world, page, "15-api-tokens")
    page.goto("/github")
    shot(world, page, "16-github")

    page.goto("/new")
    form = page.locator("#git-push")
    form.locator("input[name=name]").fill("Not A Name")
    form.locator("input[name=name]").evaluate("el => el.removeAttribute('pattern')")
    form.locator("button[type=submit]").click()
    expect(page.locator("p.error")).to_contain_text("lowercase letters")

    doomed = f"gone-{uuid.uuid4().hex[:6]}"
    form = page.locator("#git-push")
    form.locator("input[name=name]").fill(doomed)
    form.locator("button[type=submit]").click()
    page.goto(f"/projects/{doomed}/settings")
    page.fill("#delete input[name=confirm]", "wrong")
    page.click(f"text=Delete {doomed}")
    expect(page.locator("p.error")).to_contain_text(f"type the project's name, {doomed}")
    page.fill("#delete input[name=confirm]", doomed)
    page.click(f"text=Delete {doomed}")
    expect(page.locator(".notice")).to_contain_text(f"Deleted {doomed}")
    with session_scope(world.settings) as s:
        assert s.scalar(select(Project).where(Project.name == doomed)) is None


def test_an_akash_project_shows_its_spend_against_its_budget_and_its_lease_events(world, page):
    from datetime import UTC, datetime, timedelta

    from slipway.models import LeaseEvent

    start = datetime.now(UTC) - timedelta(days=20)
    with session_scope(world.settings) as s:
        p = Project(name=f"ak-{uuid.uuid4().hex[:6]}", repo_url="https://example.invalid/ak.git", target="akash",
                    akash_settings={"budget_uact": 20_000_000})
        old = Deployment(project=p, sha="a" * 40, branch="main", trigger="push", state="superseded",
                         commit_message="First version", commit_author="Dev", image="r/ak:a")
        s.add(old)
        s.flush()
        for day, kind, amount in ((0, "created", 5_000_000), (0, "leased", None), (7, "topped-up", 3_000_000),
                                  (14, "topped-up", 3_000_000), (19, "closed", None)):
            s.add(LeaseEvent(deployment_id=old.id, at=start + timedelta(days=day), kind=kind, network="sandbox",
                             dseq=1234, provider="akash1provider0example", price_uact="12.5", amount_uact=amount))
        name = p.name
    page.goto(f"/projects/{name}")
    expect(page.locator(".spend")).to_contain_text("11,000,000")  # deposited, none left in an open lease
    expect(page.locator(".spend")).to_contain_text("akash1provider0example")  # the closed lease's provider
    expect(page.locator(".card", has_text="Source")).to_contain_text("https://example.invalid/ak.git")
    expect(page.locator(".spend")).to_contain_text("20,000,000")
    assert page.locator("svg.chart polyline.line").get_attribute("points").count(",") == 8
    expect(page.locator("svg.chart line.budget")).to_have_count(1)
    expect(page.locator("table.list").first).to_contain_text("topped-up")
    shot(world, page, "17-project-akash")
