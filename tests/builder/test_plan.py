"""Build plans from repositories (builder/plan): which detector wins, and the Dockerfile it writes.

Fast: nothing is built here (tests/builder/test_plan_builds.py builds fixture apps for real). Every
generated Dockerfile is also held to the layout the plans promise: dependencies installed before
the source is copied, build-time variables declared only in a build stage, a final stage that
never starts from the build stage, and a final stage whose command and settings come before the files
it copies (a source change rebuilds the copies alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.plan import BaseImages, Plan, make_plan, render
from builder.plan.config import parse_config
from builder.plan.node import node_major
from slipway.errors import UserError

SHA = "c" * 40
IMAGES = BaseImages(node="mirror/node:{version}-slim", python="mirror/python:{version}-slim", go="mirror/golang:{version}",
                    static="mirror/caddy:2", runtime="mirror/distroless")


def repo(tmp_path: Path, files: dict[str, str | dict]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if isinstance(content, dict) else content)
    return tmp_path


def plan_of(tmp_path: Path, files: dict, **kwargs) -> Plan:
    plan = make_plan(repo(tmp_path, files), images=IMAGES, sha=SHA, **kwargs)
    if plan.generated:
        check_layout(plan)
    return plan


def stages(text: str) -> list[list[str]]:
    out: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            out.append([])
        if out and line:
            out[-1].append(line)
    return out


def check_layout(plan: Plan) -> None:
    """The promises every generated Dockerfile keeps."""
    found = stages(plan.dockerfile)
    lines = plan.dockerfile.splitlines()
    # Dependencies before the source: nothing is installed after `COPY . .` but the build itself.
    source = next(i for i, line in enumerate(lines) if line.startswith("COPY . "))
    installs = [i for i, line in enumerate(lines) if line.startswith("RUN ") and any(
        word in line for word in ("npm ci", "install", "uv sync", "go mod download"))]
    assert installs == [] or max(installs) < source or plan.kind == "static", plan.dockerfile
    if len(found) > 1:
        build, final = found[0], found[-1]
        assert build[0].endswith(" AS build")
        assert " build" not in final[0] and "AS" not in final[0], "the final stage never starts from the build stage"
        assert all(not line.startswith("ARG ") for line in final)
        assert [line.split()[1] for line in build if line.startswith("ARG ")] == list(plan.build_args)
    else:
        assert plan.build_args == ()
        assert not any(line.startswith("ARG ") for line in lines)
    # The image's settings are made before the app's files are copied in, so that a rebuild does not
    # make them again (with some storage drivers each step, even a CMD, copies the whole image).
    final = found[-1]
    first_copy = next(i for i, line in enumerate(final) if line.startswith("COPY --from=" if len(found) > 1 else "COPY . "))
    late = [line for line in final[first_copy:] if line.split()[0] in ("CMD", "ENV", "EXPOSE", "USER", "ENTRYPOINT")]
    assert late == [], plan.dockerfile
    assert sum(line.startswith("CMD ") for line in final) == 1, plan.dockerfile


def command(plan: Plan) -> str:
    """The final stage's CMD line."""
    return next(line for line in stages(plan.dockerfile)[-1] if line.startswith("CMD "))


def error_of(tmp_path: Path, files: dict, **kwargs) -> UserError:
    with pytest.raises(UserError) as err:
        make_plan(repo(tmp_path, files), images=IMAGES, sha=SHA, **kwargs)
    return err.value


# -- the order of detectors ---------------------------------------------------------------------

def test_a_repository_dockerfile_is_used_as_it_is(tmp_path):
    plan = plan_of(tmp_path, {"Dockerfile": "FROM scratch\n", "package.json": {}, "index.html": "x"})
    assert (plan.kind, plan.dockerfile_path, plan.context, plan.dockerfile) == ("dockerfile", "Dockerfile", ".", "")
    assert "the repository's own Dockerfile" in plan.describe()


def test_a_dockerfile_path_the_project_names_must_be_there(tmp_path):
    err = error_of(tmp_path, {"index.html": "x"}, dockerfile="deploy/Dockerfile")
    assert err.message_id == UserError.BUILD_NO_DOCKERFILE


def test_a_dockerfile_in_slipway_toml_root_is_used_with_that_context(tmp_path):
    plan = plan_of(tmp_path, {"slipway.toml": 'root = "api"\n', "api/Dockerfile": "FROM scratch\n"})
    assert (plan.kind, plan.dockerfile_path, plan.context) == ("dockerfile", "api/Dockerfile", "api")


def test_without_a_dockerfile_the_app_is_planned_in_the_project_s_build_context(tmp_path):
    files = {"apps/web/package.json": {"scripts": {"start": "node server.js"}}, "apps/web/package-lock.json": "",
             "README.md": "a monorepo"}
    plan = plan_of(tmp_path, files, context="apps/web")
    assert (plan.kind, plan.context) == ("node", "apps/web")
    # slipway.toml's root, when it names one, wins over the project's setting.
    other = tmp_path / "other"
    other.mkdir()
    plan = plan_of(other, {**files, "tools/index.html": "<h1>tools</h1>", "slipway.toml": 'root = "tools"\n'},
                   context="apps/web")
    assert (plan.kind, plan.context) == ("static", "tools")
    err = error_of(tmp_path / "empty", {"apps/web/README.md": "x"}, context="apps/web")
    assert err.message_id == UserError.BUILD_NO_PLAN and "apps/web/ (the project's build context)" in str(err)
    err = error_of(tmp_path / "empty", {}, context="apps/gone")
    assert err.message_id == UserError.BUILD_BAD_CONTEXT and "apps/gone" in str(err)


def test_nothing_known_fails_naming_what_was_looked_for_and_how_to_fix_it(tmp_path):
    err = error_of(tmp_path, {"README.md": "hello"})
    assert err.message_id == UserError.BUILD_NO_PLAN
    for looked in ("a Dockerfile", "go.mod", "requirements.txt", "package.json", "index.html", "slipway.toml"):
        assert looked in str(err)
    assert "commit ccccccc" in str(err)


def test_python_comes_before_node_and_node_before_static_files(tmp_path):
    plan = plan_of(tmp_path, {"requirements.txt": "flask\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n",
                              "package.json": {"scripts": {"build": "tailwind"}}, "index.html": "x"})
    assert plan.kind == "python"
    assert plan_of(tmp_path / "n", {"package.json": {"scripts": {"start": "node s.js"}}, "index.html": "x"}).kind == "node"


# -- Node -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("lock, install", [("package-lock.json", "RUN npm ci"),
                                           ("pnpm-lock.yaml", "RUN pnpm install --frozen-lockfile"),
                                           ("yarn.lock", "RUN yarn install --frozen-lockfile")])
def test_node_installs_frozen_by_its_lock_file_before_copying_the_source(tmp_path, lock, install):
    plan = plan_of(tmp_path, {"package.json": {"scripts": {"start": "node server.js"}}, lock: ""})
    lines = plan.dockerfile.splitlines()
    assert lines.index(f"COPY package.json {lock} ./") < lines.index(install) < lines.index("COPY . .")
    assert command(plan) == "CMD exec " + {"package-lock.json": "npm", "pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn"}[
        lock] + " start"


def test_pnpm_comes_in_the_version_package_manager_names(tmp_path):
    plan = plan_of(tmp_path, {"package.json": {"packageManager": "pnpm@9.12.1+sha512.abc", "scripts": {"start": "x"}},
                              "pnpm-lock.yaml": ""})
    assert "RUN npm install -g pnpm@9.12.1" in plan.dockerfile.splitlines()


def test_without_a_lock_file_npm_install_runs_and_the_plan_says_so(tmp_path):
    plan = plan_of(tmp_path, {"package.json": {"scripts": {"start": "node s.js"}}})
    assert "RUN npm install" in plan.dockerfile.splitlines()
    assert "no lock file" in plan.describe()


@pytest.mark.parametrize("files, image", [
    ({"package.json": {"engines": {"node": "20.x"}}}, "mirror/node:20-slim"),
    ({"package.json": {"engines": {"node": ">=18"}}}, "mirror/node:22-slim"),
    ({"package.json": {}, ".nvmrc": "v18.19.0\n"}, "mirror/node:18-slim"),
    ({"package.json": {}, ".nvmrc": "lts/*\n"}, "mirror/node:22-slim"),
    ({"package.json": {}}, "mirror/node:22-slim"),
])
def test_the_node_version_comes_from_engines_or_nvmrc(tmp_path, files, image):
    files["package.json"]["scripts"] = {"start": "node s.js"}
    assert plan_of(tmp_path, files).dockerfile.splitlines()[0] == f"FROM {image}"


def test_node_major_versions():
    assert [node_major(v) for v in ("20", "v20.11.1", "^18.2", "~16", ">=20 <23", ">=24", "lts/iron", "x")] == \
        ["20", "20", "18", "16", "22", "24", None, None]


def test_an_image_pinned_by_the_operator_is_used_and_the_plan_says_so(tmp_path):
    plan = make_plan(repo(tmp_path, {"package.json": {"engines": {"node": "18"}, "scripts": {"start": "x"}}}),
                     images=BaseImages(node="mirror/node:22-slim"))
    assert plan.dockerfile.startswith("FROM mirror/node:22-slim\n")
    assert "Node 18 asked for; SLIPWAY_PLAN_NODE_IMAGE pins mirror/node:22-slim" in plan.describe()


@pytest.mark.parametrize("package, extra, framework, first_dir", [
    ({"devDependencies": {"vite": "5"}, "scripts": {"build": "vite build", "dev": "vite"}}, {}, "a Vite site", "dist"),
    ({"dependencies": {"react-scripts": "5"}, "scripts": {"build": "react-scripts build", "start": "react-scripts start"}},
     {}, "a Create React App site", "build"),
    ({"dependencies": {"astro": "4"}, "scripts": {"build": "astro build", "start": "astro dev"}}, {}, "an Astro site",
     "dist"),
    ({"dependencies": {"next": "14"}, "scripts": {"build": "next build", "start": "next start"}},
     {"next.config.mjs": "export default { output: 'export' }\n"}, "a Next.js static export", "out"),
    ({"scripts": {"build": "node build.js"}}, {}, "a build script's static output", "dist"),
])
def test_static_output_is_built_then_served_by_caddy_with_spa_fallback(tmp_path, package, extra, framework, first_dir):
    plan = plan_of(tmp_path, {"package.json": package, "package-lock.json": "", **extra}, build_args=["API_URL"])
    build, final = stages(plan.dockerfile)
    assert "ARG API_URL" in build
    # The output is picked in the build script's own step.
    assert build[-1].startswith(f"RUN npm run build && for d in {first_dir}")
    assert final[0] == "FROM mirror/caddy:2" and "COPY --from=build /slipway-site /srv" in final
    assert "try_files {path} {path}.html {path}/ /index.html" in final[1]  # clean URLs, the single-page fallback
    assert plan.build_args == ("API_URL",)
    import re

    assert re.search(framework, plan.summary)


def test_a_next_standalone_server_runs_its_server_js_with_only_the_output_copied(tmp_path):
    plan = plan_of(tmp_path, {"package.json": {"dependencies": {"next": "14"}, "scripts": {"build": "next build"}},
                              "package-lock.json": "", "public/logo.svg": "<svg/>",
                              "next.config.js": 'module.exports = { output: "standalone" }\n'})
    final = stages(plan.dockerfile)[-1]
    assert final[0] == "FROM mirror/node:22-slim"
    assert "COPY --from=build /app/.next/standalone ./" in final and "COPY --from=build /app/public ./public" in final
    assert command(plan) == "CMD exec node server.js"


def test_a_server_with_a_build_step_builds_in_one_stage_and_runs_in_a_clean_one(tmp_path):
    plan = plan_of(tmp_path, {"package.json": {"scripts": {"build": "tsc", "start": "node dist/server.js"}},
                              "package-lock.json": ""}, build_args=["SENTRY_TOKEN"])
    build, final = stages(plan.dockerfile)
    assert "ARG SENTRY_TOKEN" in build and "RUN npm run build" in build
    assert final == ["FROM mirror/node:22-slim", "ENV NODE_ENV=production", "CMD exec npm start", "WORKDIR /app",
                     "COPY --from=build /app /app"]


def test_a_server_without_a_build_step_is_one_stage_and_says_build_variables_go_unused(tmp_path):
    plan = plan_of(tmp_path, {"package.json": {"main": "app.js"}, "app.js": "", "package-lock.json": ""},
                   build_args=["X"])
    assert len(stages(plan.dockerfile)) == 1 and command(plan) == "CMD exec node app.js"
    assert plan.dockerfile.endswith("CMD exec node app.js\nCOPY . .\n")  # a source change rebuilds one step
    assert "build-time variables are not used" in plan.describe()


def test_a_pnpm_monorepo_app_is_planned_from_the_workspace_root(tmp_path):
    plan = plan_of(tmp_path, {
        "slipway.toml": 'root = "apps/web"\n',
        "package.json": {"private": True, "packageManager": "pnpm@9.1.0"},
        "pnpm-lock.yaml": "", "pnpm-workspace.yaml": "packages:\n  - apps/*\n  - packages/*\n",
        "apps/web/package.json": {"name": "web", "scripts": {"build": "node build.mjs"}},
        "packages/ui/package.json": {"name": "@acme/ui"},
        "packages/ui/node_modules/x/package.json": {}})
    assert plan.context == "."
    build = stages(plan.dockerfile)[0]
    assert build[:6] == ["FROM mirror/node:22-slim AS build", "WORKDIR /app", "RUN npm install -g pnpm@9.1.0",
                         "COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./",
                         "COPY apps/web/package.json apps/web/package.json",
                         "COPY packages/ui/package.json packages/ui/package.json"]
    assert "WORKDIR /app/apps/web" in build and build[-1].startswith('RUN pnpm --filter "web..." run build && for d in')


# -- Python ---------------------------------------------------------------------------------------

def test_a_flask_app_with_requirements_runs_under_gunicorn(tmp_path):
    plan = plan_of(tmp_path, {"requirements.txt": "flask==3.0\ngunicorn\n",
                              "app.py": "from flask import Flask\n\napp = Flask(__name__)\n"})
    lines = plan.dockerfile.splitlines()
    assert lines[0] == "FROM mirror/python:3.12-slim"
    # The virtual environment is made in the install's step: a step fewer.
    assert lines.index("COPY requirements.txt ./") < lines.index(
        "RUN python3 -m venv --system-site-packages /app/.venv && pip install --no-cache-dir -r requirements.txt") \
        < lines.index("COPY . .")
    assert len([line for line in lines if "python3 -m venv" in line]) == 1
    assert command(plan) == "CMD exec gunicorn app:app --bind 0.0.0.0:$PORT" and lines[-1] == "COPY . ."
    assert "pip install --no-cache-dir gunicorn" not in plan.dockerfile  # it is among the requirements


def test_a_fastapi_app_with_uv_syncs_its_lock_and_runs_under_uvicorn(tmp_path):
    plan = plan_of(tmp_path, {"pyproject.toml": '[project]\nname = "api"\ndependencies = ["fastapi"]\n',
                              "uv.lock": "version = 1\n", ".python-version": "3.11\n",
                              "app/main.py": "from fastapi import FastAPI\napi = FastAPI()\n"})
    lines = plan.dockerfile.splitlines()
    assert lines[0] == "FROM mirror/python:3.11-slim"
    assert lines.index("COPY pyproject.toml uv.lock ./") < lines.index(
        "RUN python3 -m venv --system-site-packages /app/.venv && "
        "/opt/uv/bin/uv sync --frozen --inexact --no-dev --no-install-project") < lines.index("COPY . .")
    assert "RUN pip install --no-cache-dir uvicorn" in lines  # not among its dependencies
    assert command(plan) == "CMD exec uvicorn app.main:api --host 0.0.0.0 --port $PORT"


def test_poetry_by_its_lock_and_django_by_its_wsgi_module(tmp_path):
    plan = plan_of(tmp_path, {"pyproject.toml": '[tool.poetry]\nname = "site"\n', "poetry.lock": "",
                              "manage.py": "", "mysite/wsgi.py": "application = None\n", "mysite/__init__.py": ""})
    assert ("RUN python3 -m venv --system-site-packages /app/.venv && "
            "/opt/poetry/bin/poetry install --no-root --only main --no-interaction") in plan.dockerfile
    assert command(plan) == "CMD exec gunicorn mysite.wsgi:application --bind 0.0.0.0:$PORT"


def test_a_pyproject_without_a_lock_names_its_dependencies_in_the_install_layer(tmp_path):
    plan = plan_of(tmp_path, {"pyproject.toml": '[project]\nname = "x"\ndependencies = ["flask>=3", "requests[socks]"]\n',
                              "wsgi.py": "import flask\napplication = flask.Flask(__name__)\n"})
    assert ("RUN python3 -m venv --system-site-packages /app/.venv && pip install --no-cache-dir 'flask>=3' "
            "'requests[socks]'") in plan.dockerfile
    assert command(plan) == "CMD exec gunicorn wsgi:application --bind 0.0.0.0:$PORT"


def test_a_pipfile_lock_installs_the_default_packages_at_their_pinned_versions(tmp_path):
    lock = {"_meta": {"hash": {"sha256": "x"}}, "default": {
        "flask": {"version": "==3.0.3", "hashes": ["sha256:aa"], "markers": "python_version >= '3.8'"},
        "requests": {"version": "==2.32.3", "extras": ["socks"]},
        "mylib": {"git": "https://github.com/me/mylib.git", "ref": "abc"}},
        "develop": {"pytest": {"version": "==8.0.0"}}}
    plan = plan_of(tmp_path, {"Pipfile": '[packages]\nflask = "*"\n', "Pipfile.lock": lock,
                              "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert ("RUN python3 -m venv --system-site-packages /app/.venv && pip install --no-cache-dir "
            "'flask==3.0.3; python_version >= '\"'\"'3.8'\"'\"'' 'requests[socks]==2.32.3'") in plan.dockerfile
    assert "pytest" not in plan.dockerfile  # develop packages stay out
    assert plan.summary.startswith("Python 3.12 (pip, Pipfile.lock), a WSGI app (Flask, app:app)")
    assert any("mylib" in note and "not installed from the Pipfile" in note for note in plan.notes)
    assert "pip install --no-cache-dir gunicorn" in plan.dockerfile  # not among its packages


def test_a_pipfile_without_a_lock_installs_its_packages_as_it_names_them(tmp_path):
    plan = plan_of(tmp_path, {"Pipfile": '[packages]\nfastapi = "*"\nuvicorn = {version = ">=0.30", extras = ["standard"]}\n'
                                         '[dev-packages]\nblack = "*"\n',
                              "main.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert "pip install --no-cache-dir fastapi 'uvicorn[standard]>=0.30'" in plan.dockerfile
    assert "black" not in plan.dockerfile and "pip install --no-cache-dir uvicorn" not in plan.dockerfile


@pytest.mark.parametrize("files, problem", [({"Pipfile.lock": "[1, 2]"}, "Pipfile.lock is not a JSON object"),
                                            ({"Pipfile": "[packages\n"}, "Pipfile is not valid TOML")])
def test_a_broken_pipfile_fails_saying_which_file(tmp_path, files, problem):
    err = error_of(tmp_path, {**files, "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert err.message_id == UserError.BUILD_PLAN and problem in str(err)


SETUP_PY = """from setuptools import setup, find_packages

REQUIRES = ["flask>=3", "requests[socks]==2.32.3"]

setup(name="site", packages=find_packages(), install_requires=REQUIRES)
"""


@pytest.mark.parametrize("files", [
    {"setup.py": SETUP_PY},
    {"setup.py": "import setuptools\nsetuptools.setup(install_requires=['flask>=3', 'requests[socks]==2.32.3'])\n"},
    {"setup.cfg": "[metadata]\nname = site\n[options]\ninstall_requires =\n    flask>=3\n    requests[socks]==2.32.3\n",
     "setup.py": "import setuptools\nsetuptools.setup()\n"},
])
def test_setup_py_or_cfg_install_requires_are_installed_before_the_source(tmp_path, files):
    plan = plan_of(tmp_path, {**files, "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert ("RUN python3 -m venv --system-site-packages /app/.venv && pip install --no-cache-dir 'flask>=3' "
            "'requests[socks]==2.32.3'") in plan.dockerfile
    assert plan.summary.startswith("Python 3.12 (pip, install_requires), a WSGI app (Flask, app:app)")


def test_a_setup_py_that_computes_its_requirements_is_not_run_and_the_plan_says_so(tmp_path):
    plan = plan_of(tmp_path, {"setup.py": "from setuptools import setup\nsetup(install_requires=open('reqs').read().split())\n",
                              "app.py": "from flask import Flask\napp = Flask(__name__)\n"})
    assert "pip install --no-cache-dir gunicorn" in plan.dockerfile and "open(" not in plan.dockerfile
    assert any("not a literal list" in note and "requirements.txt" in note for note in plan.notes)


def test_a_procfile_web_line_starts_the_app(tmp_path):
    plan = plan_of(tmp_path, {"requirements.txt": "", "Procfile": "release: migrate\nweb: python serve.py --port $PORT\n"})
    assert command(plan) == "CMD exec python serve.py --port $PORT"


def test_a_python_app_slipway_cannot_start_fails_saying_how_to_fix_it(tmp_path):
    err = error_of(tmp_path, {"requirements.txt": "numpy\n", "job.py": "print(1)\n"})
    assert err.message_id == UserError.BUILD_PLAN and "start = " in str(err)


def test_a_build_command_makes_a_python_plan_two_stages(tmp_path):
    plan = plan_of(tmp_path, {"slipway.toml": 'build = "python -m compileall ."\nstart = "python -m app"\n',
                              "requirements.txt": ""}, build_args=["TOKEN"])
    build, final = stages(plan.dockerfile)
    assert "RUN python -m compileall ." in build and "COPY --from=build /app /app" in final
    assert command(plan) == "CMD exec python -m app" and final[-1] == "COPY --from=build /app /app"


# -- Go and static files --------------------------------------------------------------------------

def test_a_go_server_downloads_modules_first_and_ships_only_its_binary(tmp_path):
    plan = plan_of(tmp_path, {"go.mod": "module example.com/srv\n\ngo 1.21\n", "go.sum": "",
                              "cmd/srv/main.go": "package main\n", "internal/x.go": "package x\n"},
                   build_args=["VERSION"])
    build, final = stages(plan.dockerfile)
    assert build[0] == "FROM mirror/golang:1.21 AS build"
    assert build.index("COPY go.mod go.sum ./") < build.index("RUN go mod download") < build.index("COPY . .")
    assert "RUN go build -trimpath -ldflags=-s -o /out/server ./cmd/srv" in build
    assert final == ["FROM mirror/distroless", 'CMD ["/usr/local/bin/server"]',
                     "COPY --from=build /out/server /usr/local/bin/server"]


@pytest.mark.parametrize("start, argv", [
    ("/usr/local/bin/server --addr :8080", ["/usr/local/bin/server", "--addr", ":8080"]),
    ("server 'two words' mode=prod", ["server", "two words", "mode=prod"]),
])
def test_a_go_start_command_runs_without_a_shell(tmp_path, start, argv):
    plan = plan_of(tmp_path, {"go.mod": "module m\n", "main.go": "package main\n",
                              "slipway.toml": f"start = {json.dumps(start)}\n"})
    assert command(plan) == "CMD " + json.dumps(argv)


@pytest.mark.parametrize("start", ["server --port $PORT", "server | tee log", "GOGC=50 server", "server 'open",
                                   "cd /app && server"])
def test_a_go_start_command_that_needs_a_shell_fails_saying_the_runtime_has_none(tmp_path, start):
    err = error_of(tmp_path, {"go.mod": "module m\n", "main.go": "package main\n",
                              "slipway.toml": f"start = {json.dumps(start)}\n"})
    assert err.message_id == UserError.BUILD_PLAN
    assert "mirror/distroless, which has none" in str(err) and "plain words" in str(err) and repr(start) in str(err)


def test_static_files_are_served_as_they_are(tmp_path):
    plan = plan_of(tmp_path, {"index.html": "<h1>hi</h1>", "about/index.html": "about"})
    assert plan.kind == "static" and "COPY . /srv" in plan.dockerfile
    assert render(tmp_path, images=IMAGES) == (plan.dockerfile, [])


def test_a_symbolic_link_out_of_the_repository_is_never_read(tmp_path):
    (tmp_path / "package.json").symlink_to("/etc/hostname")
    err = error_of(tmp_path, {})
    assert err.message_id == UserError.BUILD_OUTSIDE_CHECKOUT


# -- slipway.toml ---------------------------------------------------------------------------------

def test_slipway_toml_commands_replace_the_detected_ones(tmp_path):
    plan = plan_of(tmp_path, {"slipway.toml": 'install = "npm ci --omit=dev"\nstart = "node srv.js"\nport = 4000\n'
                                              'health_check = "/healthz"\n[env]\nMODE = "demo"\n',
                              "package.json": {"scripts": {"start": "x"}}, "package-lock.json": ""})
    assert "RUN npm ci --omit=dev" in plan.dockerfile and command(plan) == "CMD exec node srv.js"
    assert "ENV NODE_ENV=production PORT=4000" in plan.dockerfile
    assert (plan.config.health_check, plan.config.env) == ("/healthz", {"MODE": "demo"})


def test_slipway_toml_resources_and_akash_settings_are_checked_by_the_akash_rules(tmp_path):
    config = parse_config({"resources": {"cpu": "1", "memory": "1Gi", "storage": "2Gi", "gpu": 1},
                           "akash": {"max_price_uact": 200, "gpu_model": "RTX4090",
                                     "attributes": {"region": "us-west"}}})
    assert config.target_settings() == {"cpu": "1", "memory": "1Gi", "storage": "2Gi", "gpu": 1, "max_price_uact": 200,
                                        "gpu_model": "rtx4090", "attributes": {"region": "us-west"}}


@pytest.mark.parametrize("toml, named", [
    ('rot = "x"', "'rot' is not a key"),
    ('root = "../elsewhere"', "root '../elsewhere' must be a path inside"),
    ("port = 70000", "port must be a whole number"),
    ('port = "80"', "port must be a whole number"),
    ('health_check = "healthz"', "health_check must be a URL path"),
    ("watch = []", "watch must be a list"),
    ('watch = ["/abs"]', "watch[0]"),
    ('start = ["npm", "start"]', "start must be a command line"),
    ("[env]\nPORT = 1", "env.PORT is set by Slipway"),
    ('[env]\n"1X" = "a"', "env.1X is not a variable name"),
    ('[resources]\ncpu = "lots"', "resources.cpu: CPU 'lots'"),
    ("[resources]\nram = 1", "resources.ram is not a key"),
    ('[akash]\nproviders = ["bob"]', "akash.providers: providers must be Akash addresses"),
    ('[akash]\ngpu_model = "a100"', "akash.gpu_model needs a GPU"),
    ("root = ", "not valid TOML"),
])
def test_a_bad_slipway_toml_fails_naming_the_key(tmp_path, toml, named):
    err = error_of(tmp_path, {"slipway.toml": toml + "\n", "index.html": "x"})
    assert err.message_id == UserError.BUILD_SLIPWAY_TOML
    assert named in str(err) and "commit ccccccc" in str(err)


def test_every_problem_is_named_at_once(tmp_path):
    err = error_of(tmp_path, {"slipway.toml": 'port = 0\nhealth_check = "x"\n', "index.html": "x"})
    assert "port must" in str(err) and "health_check must" in str(err)


# -- slipway plan ---------------------------------------------------------------------------------

def test_slipway_plan_prints_the_plan_with_the_installation_s_base_images(settings, tmp_path):
    from dataclasses import replace

    from click.testing import CliRunner

    from slipway.cli import main
    from slipway.settings import set_settings

    set_settings(replace(settings, plan_node_image="mirror.example/node:{version}"))
    repo(tmp_path, {"package.json": {"engines": {"node": "20"}, "scripts": {"start": "node s.js"}}, "package-lock.json": ""})
    result = CliRunner().invoke(main, ["plan", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Slipway build plan: Node 20 (npm), its start script run with PORT\n")
    assert "FROM mirror.example/node:20\n" in result.output
    (tmp_path / "package.json").unlink()
    result = CliRunner().invoke(main, ["plan", str(tmp_path)])
    assert result.exit_code == 1 and "Slipway found nothing it knows how to build in the repository's root of " \
                                      "this directory" in result.output


def test_a_slipway_toml_build_command_keeps_a_step_of_its_own_before_the_output_is_picked(tmp_path):
    plan = plan_of(tmp_path, {"slipway.toml": 'build = "make site # the docs"\n',
                              "package.json": {"devDependencies": {"vite": "5"}}, "package-lock.json": ""})
    build = stages(plan.dockerfile)[0]
    assert build[-2] == "RUN make site # the docs" and build[-1].startswith("RUN for d in dist build out;")


def test_a_python_app_without_dependencies_still_gets_its_virtual_environment(tmp_path):
    plan = plan_of(tmp_path, {"pyproject.toml": '[project]\nname = "x"\n', "Procfile": "web: python serve.py\n"})
    lines = plan.dockerfile.splitlines()
    assert lines.index("RUN python3 -m venv --system-site-packages /app/.venv") < lines.index("COPY . .")
