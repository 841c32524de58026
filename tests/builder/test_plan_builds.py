"""Fixture repositories without a Dockerfile (tests/fixtures/plan), planned, built on the real
Docker Engine from the base-image stand-ins (scripts/plan_images.sh), pushed, run by the local
target, and asked for their page.

The heavy tests of the build plans live here, in one module: the stand-ins are made (or found in
the registry) once for the module, and every build shares them. They run in every test run: the
stand-ins are small (about 1-2 minutes to make, side by side, on a fresh machine; then kept in the
registry) and every fixture builds offline from them (the Python stand-in holds the fixtures'
packages, the Node one pnpm and the Express fixture's packages in npm's cache).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
import requests

from builder.images import DockerImageBuilder, RegistryAuth, docker_client
from builder.plan import BaseImages, Plan
from deployer.base import Release, deploy
from slipway.buildlog import SecretMasker
from slipway.director import Director
from slipway.targets import IMPLEMENTATIONS

pytestmark = pytest.mark.docker

# A build that cannot fit the suite's 20-minute budget (one that downloads from a package registry)
# is marked @heavy and runs with SLIPWAY_TEST_HEAVY_BUILDS=1 (scripts/test.sh tests/builder/test_plan_builds.py).
HEAVY = os.environ.get("SLIPWAY_TEST_HEAVY_BUILDS") == "1"
heavy = pytest.mark.skipif(not HEAVY, reason="downloads from a package registry: run with SLIPWAY_TEST_HEAVY_BUILDS=1")

ROOT = Path(__file__).resolve().parents[2]
STEP_IMAGE_RE = re.compile(r"^\s*---> ([0-9a-f]{12})$")  # a build step's image, in the build's log
FIXTURES = ROOT / "tests" / "fixtures" / "plan"
SHA = "d" * 40


@pytest.fixture(scope="module")
def stand_ins(base_settings) -> BaseImages:
    """The base-image stand-ins, by kind; the busybox test image runs Go's static binary."""
    out = subprocess.run([str(ROOT / "scripts" / "plan_images.sh"), "node", "python", "go", "static"],
                         check=False, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr
    found = dict(line.split("=", 1) for line in out.stdout.split())
    return BaseImages(**found, runtime=f"{base_settings.registry}/base/busybox:latest")


class App:
    """One fixture repository's road: plan, build, push, run; what it printed on the way."""

    def __init__(self, settings, images: BaseImages, tmp_path: Path, fixture: str):
        self.settings = settings
        self.src = tmp_path / "src"
        shutil.copytree(FIXTURES / fixture, self.src)
        self.name = f"plan-{fixture}-{uuid.uuid4().hex[:6]}"
        self.lines: list[str] = []
        auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
        self.builder = DockerImageBuilder(settings.build_docker_host, auth)
        self.director = Director(self.builder, self.lines.append, SecretMasker(), plan_images=images)
        self.target = IMPLEMENTATIONS["local"](settings)
        self.refs: list[dict] = []

    def build(self, version: str = "v1", build_args: tuple[str, ...] = ()) -> tuple[Plan, str]:
        plan = self.director.plan(self.src, "Dockerfile", ".", SHA, build_args=build_args)
        tag = f"{self.settings.registry}/{self.name}:{version}"
        self.director.build(self.src, plan, tag, SHA)
        return plan, tag

    def run(self, tag: str, health_path: str = "/") -> str:
        image = self.director.push(tag)
        running = deploy(self.target, Release(self.name, 1, image, health_path), self.lines.append)
        self.refs.append(running.ref)
        return running.url

    def close(self) -> None:
        for ref in self.refs:
            self.target.stop(ref, self.lines.append)
        self.remove_images()

    def remove_images(self) -> None:
        """The app's images and its build steps' untagged ones: with the vfs storage driver each is a
        whole copy of the image on disk, and a few runs of this module would fill it. Never an image
        tagged by anyone else (a stand-in)."""
        client = docker_client(self.settings.build_docker_host)
        try:
            for image in client.images.list(name=f"{self.settings.registry}/{self.name}"):
                for tag in image.tags:
                    client.images.remove(tag)
            for step in reversed([m.group(1) for line in self.lines if (m := STEP_IMAGE_RE.match(line))]):
                try:
                    if not client.images.get(step).tags:
                        client.images.remove(step)
                except docker.errors.APIError:  # gone with its child, or a layer another image shares
                    pass
        finally:
            client.close()


@pytest.fixture
def app(settings, stand_ins, tmp_path):
    made: list[App] = []

    def make(fixture: str) -> App:
        made.append(App(settings, stand_ins, tmp_path, fixture))
        return made[-1]

    yield make
    for one in made:
        one.close()


def get(url: str) -> requests.Response:
    resp = requests.get(url, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp


def history(settings, tag: str) -> list[tuple[str, str]]:
    """(layer image id, instruction) of each step of an image, oldest first."""
    client = docker_client(settings.build_docker_host)
    try:
        return [(h["Id"], h["CreatedBy"]) for h in reversed(client.api.history(tag))]
    finally:
        client.close()


def test_a_static_site_is_served_with_a_single_page_fallback(app):
    site = app("static")
    _plan, tag = site.build()
    assert site.lines[0] == "# Slipway build plan: static files (index.html), served by Caddy"
    url = site.run(tag)
    assert "static site" in get(url).text
    assert "about page" in get(url + "/about/").text
    assert "contact page" in get(url + "/contact").text  # contact.html, at its clean URL
    assert "static site" in get(url + "/some/client/route").text  # the app routes it in the browser


def test_a_flask_app_answers_under_gunicorn_and_a_one_line_change_reuses_its_dependency_layer(app):
    flask = app("flask")
    plan, first = flask.build("v1")
    assert "gunicorn app:app" in plan.dockerfile
    assert get(flask.run(first)).text == "hello from flask"
    source = flask.src / "app.py"
    source.write_text(source.read_text().replace("hello from flask", "hello again"))
    _, second = flask.build("v2")
    assert_dependency_layer_reused(flask, first, second, "pip install --no-cache-dir -r requirements.txt")


def test_a_fastapi_app_answers_under_uvicorn(app):
    api = app("fastapi")
    plan, tag = api.build()
    assert "uvicorn app.main:api" in plan.dockerfile
    assert get(api.run(tag)).json() == {"hello": "from fastapi"}


@heavy
def test_a_fastapi_app_with_uv_syncs_its_lock_and_answers_under_uvicorn(app):
    api = app("uv-fastapi")  # uv itself and the lock's packages come from PyPI
    plan, tag = api.build()
    assert plan.summary == "Python 3.12 (uv), an ASGI app (FastAPI, app.main:api) under uvicorn"
    assert get(api.run(tag)).json() == {"hello": "from uv"}


@heavy
def test_a_flask_app_with_poetry_installs_its_lock_and_answers_under_gunicorn(app):
    site = app("poetry-flask")  # poetry itself and the lock's packages come from PyPI
    plan, tag = site.build()
    assert plan.summary == "Python 3.12 (poetry), a WSGI app (Flask, app:app) under gunicorn"
    assert get(site.run(tag)).text == "hello from poetry"


def test_a_node_server_answers_through_its_start_script_and_a_one_line_change_reuses_its_dependency_layer(app):
    server = app("node-server")
    plan, first = server.build("v1")
    assert plan.summary == "Node 22 (npm), its start script run with PORT"
    assert get(server.run(first)).text == "hello from node\n"
    (server.src / "greeting.js").write_text('exports.greeting = "hello again";\n')
    _, second = server.build("v2")
    assert_dependency_layer_reused(server, first, second, "npm ci")
    assert get(server.run(second)).text == "hello again\n"


def test_an_express_server_answers_from_its_main_file(app):
    server = app("express")
    plan, tag = server.build()
    assert plan.summary == "Node 22 (npm), node server.js run with PORT"
    url = server.run(tag)
    assert get(url).text == "hello from express\n"
    assert get(url + "/users/ada").json() == {"hello": "ada"}


def test_a_vite_like_build_is_served_as_static_files_with_its_build_time_variable(app):
    site = app("vite-like")
    plan, tag = site.build(build_args=("SITE_TITLE",))
    assert plan.build_args == ("SITE_TITLE",)
    url = site.run(tag)
    assert "<title>untitled</title>" in get(url).text and "single-page app" in get(url + "/deep/link").text
    assert "routed in the browser" in get(url + "/assets/app.js").text
    # Only the build's output is in the image: no build script, no package.json.
    assert requests.get(url + "/package.json", timeout=5).headers["content-type"].startswith("text/html")


@heavy
def test_a_next_static_export_is_served_as_static_files_at_its_clean_urls(app):
    site = app("next-export")  # next, react and react-dom come from the npm registry (about 240 MB)
    plan, tag = site.build()
    assert plan.summary == "Node 22 (npm), a Next.js static export served as static files by Caddy"
    url = site.run(tag)
    assert "hello from next" in get(url).text
    assert "the docs page" in get(url + "/docs/intro").text  # out/docs/intro.html
    assert "hello from next" in get(url + "/somewhere/else").text


def test_a_pnpm_monorepo_app_is_built_from_its_root_directory(app):
    mono = app("pnpm-monorepo")
    plan, tag = mono.build()
    assert plan.context == "." and 'pnpm --filter "web..." run build' in plan.dockerfile
    assert "hello from the pnpm monorepo" in get(mono.run(tag)).text


def test_a_go_server_answers_from_its_binary_alone(app):
    server = app("go-server")
    _plan, tag = server.build()
    assert get(server.run(tag)).text == "hello from go\n"
    steps = history(server.settings, tag)
    assert not any("go build" in created_by for _, created_by in steps)  # the final image never built anything


def assert_dependency_layer_reused(one: App, first: str, second: str, install: str) -> None:
    """Every step up to the source's copy (the dependency install and the settings after it) is the
    same layer in both images; the source's copy and what follows are new."""
    before, after = history(one.settings, first), history(one.settings, second)
    upto = next(i for i, (_, created_by) in enumerate(after) if install in created_by)
    source = next(i for i, (_, created_by) in enumerate(after) if i > upto and " COPY " in created_by)
    assert [i for i, _ in before[:source]] == [i for i, _ in after[:source]]
    assert before[source:] and all(b != a for (b, _), (a, _) in zip(before[source:], after[source:]))
