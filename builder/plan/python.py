"""Python apps: dependencies installed into a virtual environment at /app/.venv from the lock
file's tool, then the app run by its Procfile ``web:`` line, slipway.toml's ``start``, or gunicorn
(WSGI: Flask, Django) / uvicorn (ASGI: FastAPI, Starlette) on $PORT.

- requirements.txt: pip; uv.lock: uv; poetry.lock: poetry; a Pipfile: pip with its default
  packages, at the versions its Pipfile.lock pins when there is one; a pyproject.toml without a lock:
  pip with its [project] dependencies; a setup.py or setup.cfg: pip with its ``install_requires``
  (as written there: a literal list). uv and poetry get virtual environments of their own.
- Python version: ``.python-version``, else 3.12.
- the virtual environment sees the base image's own packages (``--system-site-packages``), so a
  base image with common packages preinstalled (an operator's mirror) saves their download.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from typing import TYPE_CHECKING

from builder.plan.base import DEFAULT_VERSIONS, Dockerfile, Plan, exec_cmd, quoted
from builder.plan.config import commit_name
from slipway.errors import UserError

if TYPE_CHECKING:
    from builder.plan.base import Context

# The files that make a directory a Python app, and where its dependencies are named.
MARKERS = ("requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock", "Pipfile", "Pipfile.lock", "setup.cfg",
           "setup.py")
# Where an app object is looked for, in order (Railpack and Heroku look in the same places).
APP_FILES = ("main.py", "app.py", "server.py", "wsgi.py", "asgi.py", "application.py", "api.py",
             "app/main.py", "app/__init__.py", "app/app.py", "src/main.py", "src/app.py", "api/main.py",
             "api/index.py")
ASGI_RE = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:fastapi\.)?(FastAPI|Starlette|Quart|Litestar)\(", re.MULTILINE)
WSGI_RE = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:flask\.)?(Flask)\(", re.MULTILINE)
VENV = "/app/.venv"
REQUIREMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]*\])?\s*([<>=!~;@ ].{0,200})?")


def detect(ctx: "Context") -> Plan | None:
    tree = ctx.tree
    if not any(tree.is_file(m) for m in MARKERS) and not (tree.is_file("Procfile") and tree.is_file("manage.py")):
        return None
    return PythonPlanner(ctx).plan()


class PythonPlanner:
    def __init__(self, ctx: "Context"):
        self.ctx = ctx
        self.tree = ctx.tree
        self.notes: list[str] = []
        self.pyproject = self._pyproject()
        self.venv_made = False

    def in_venv(self, command: str) -> str:
        """``command``, preceded by the virtual environment's making the first time: they share a
        step (with some storage drivers each step copies the whole image)."""
        if self.venv_made:
            return command
        self.venv_made = True
        return f"python3 -m venv --system-site-packages {VENV} && {command}"

    def _pyproject(self) -> dict:
        text = self.tree.text("pyproject.toml")
        if text is None:
            return {}
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(UserError.BUILD_PLAN, kind="Python", commit=commit_name(self.ctx.sha),
                            detail=f"pyproject.toml is not valid TOML ({exc})") from None

    def version(self) -> str | None:
        text = self.tree.text(".python-version")
        if text:
            found = re.match(r"\s*(?:python-?)?(3\.\d{1,2})", text)
            if found:
                return found.group(1)
            self.notes.append(".python-version names no Python 3 version Slipway reads; using the default")
        return None

    def installer(self) -> str:
        if self.tree.is_file("uv.lock"):
            return "uv"
        if self.tree.is_file("poetry.lock"):
            return "poetry"
        if self.tree.is_file("requirements.txt"):
            return "pip"
        if self.tree.is_file("Pipfile.lock") or self.tree.is_file("Pipfile"):
            return "pip, Pipfile.lock" if self.tree.is_file("Pipfile.lock") else "pip, Pipfile"
        if self.pyproject:
            if self._project_deps():
                return "pip"
            if "poetry" in self.pyproject.get("tool", {}):
                return "poetry"
        if self.tree.is_file("setup.cfg") or self.tree.is_file("setup.py"):
            return "pip, install_requires"
        return "pip"

    def _setup_deps(self) -> list[str]:
        """``install_requires`` from setup.cfg's [options], else from setup.py's ``setup()`` call when it
        is a literal list there (or a module-level name bound to one); setup.py is read, never run."""
        cfg = self.tree.text("setup.cfg")
        if cfg:
            parser = configparser.ConfigParser(interpolation=None)
            try:
                parser.read_string(cfg)
                listed = parser.get("options", "install_requires", fallback="")
            except configparser.Error:
                listed = ""
            deps = [line.strip() for line in listed.splitlines() if line.strip() and not line.strip().startswith("#")]
            if deps:
                return deps
        try:
            tree = ast.parse(self.tree.text("setup.py") or "")
        except (SyntaxError, ValueError):
            return []
        names = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup":
                for keyword in node.keywords:
                    if keyword.arg == "install_requires":
                        value = names.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else keyword.value
                        try:
                            found = ast.literal_eval(value) if value is not None else None
                        except (ValueError, TypeError, SyntaxError, RecursionError):
                            found = None
                        if not isinstance(found, (list, tuple)):
                            self.notes.append("setup.py's install_requires is not a literal list: Slipway does not run "
                                              "setup.py to learn it; list the dependencies in requirements.txt")
                            return []
                        return [d for d in found if isinstance(d, str)]
        return []

    def _project_deps(self) -> list[str]:
        deps = (self.pyproject.get("project") or {}).get("dependencies") or []
        return [d for d in deps if isinstance(d, str)]

    def _pipfile_deps(self) -> list[str]:
        """The Pipfile's default packages as pip requirements, at the versions Pipfile.lock pins when it
        is there (without its hashes: pip checks those only in a requirements file). Packages from
        git or a path cannot be named so: they are left out, and the plan says so."""
        lock = self.tree.text("Pipfile.lock")
        if lock is not None:
            try:
                packages = json.loads(lock).get("default") or {}
            except (ValueError, AttributeError):
                raise UserError(UserError.BUILD_PLAN, kind="Python", commit=commit_name(self.ctx.sha),
                                detail="Pipfile.lock is not a JSON object with a \"default\" section") from None
        else:
            try:
                packages = tomllib.loads(self.tree.text("Pipfile") or "").get("packages") or {}
            except tomllib.TOMLDecodeError as exc:
                raise UserError(UserError.BUILD_PLAN, kind="Python", commit=commit_name(self.ctx.sha),
                                detail=f"Pipfile is not valid TOML ({exc})") from None
        deps, skipped = [], []
        for name, spec in sorted(packages.items()) if isinstance(packages, dict) else ():
            fields = spec if isinstance(spec, dict) else {"version": spec}
            version = fields.get("version", "*")
            extras = fields.get("extras") or []
            if not isinstance(version, str) or any(k in fields for k in ("git", "path", "file", "editable")):
                skipped.append(name)
                continue
            requirement = name + (f"[{','.join(map(str, extras))}]" if extras else "") + ("" if version == "*" else version)
            if isinstance(fields.get("markers"), str):
                requirement += f"; {fields['markers']}"
            if REQUIREMENT_RE.fullmatch(requirement):
                deps.append(requirement)
            else:
                skipped.append(name)
        if skipped:
            self.notes.append(f"not installed from the Pipfile (not a plain package and version): {', '.join(skipped)}")
        return deps

    def dependency_text(self) -> str:
        """Every place dependencies are named, lower-cased: enough to ask whether one is there."""
        parts = [self.tree.text(n) or "" for n in MARKERS]
        return "\n".join(parts).lower()

    def has_dep(self, name: str) -> bool:
        return re.search(rf"(?m)(^|[\s\"'=])({name})\b", self.dependency_text()) is not None

    # -- the install layer ----------------------------------------------------------------------
    def install(self, df: Dockerfile, installer: str) -> None:
        config = self.ctx.config
        if config.install:
            df.copy([n for n in ("requirements.txt", "pyproject.toml", "uv.lock", "poetry.lock", "Pipfile",
                                  "Pipfile.lock") if self.tree.is_file(n)])
            df.run(self.in_venv(config.install))
            return
        if installer == "uv":
            df.run("python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv")
            df("ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_LINK_MODE=copy")
            df.copy(["pyproject.toml", "uv.lock"])
            # --inexact: keep what the base image and the venv already hold (gunicorn, below).
            df.run(self.in_venv("/opt/uv/bin/uv sync --frozen --inexact --no-dev --no-install-project"))
        elif installer == "poetry":
            df.run("python3 -m venv /opt/poetry && /opt/poetry/bin/pip install --no-cache-dir poetry")
            df.copy([n for n in ("pyproject.toml", "poetry.lock") if self.tree.is_file(n)])
            df.run(self.in_venv("/opt/poetry/bin/poetry install --no-root --only main --no-interaction"))
        elif self.tree.is_file("requirements.txt"):
            df.copy(["requirements.txt"])
            df.run(self.in_venv("pip install --no-cache-dir -r requirements.txt"))
        else:
            listed = (self._pipfile_deps() if installer.startswith("pip, Pipfile")
                      else self._setup_deps() if installer == "pip, install_requires" else self._project_deps())
            deps = [d.strip() for d in listed if REQUIREMENT_RE.fullmatch(d.strip())]
            if deps:
                # Named on the command line: this layer changes only when the dependencies do.
                df.run(self.in_venv(f"pip install --no-cache-dir {quoted(deps)}"))
            else:
                self.notes.append("no dependencies found (requirements.txt, uv.lock, poetry.lock, Pipfile, "
                                  "pyproject.toml, setup.cfg, setup.py)")

    # -- how it starts --------------------------------------------------------------------------
    def start(self) -> tuple[str, str, str]:
        """(command, what it is, the server to install when missing: gunicorn, uvicorn or "")."""
        if self.ctx.config.start:
            return self.ctx.config.start, "slipway.toml's start command", ""
        procfile = self.tree.text("Procfile")
        if procfile:
            for line in procfile.splitlines():
                name, sep, command = line.partition(":")
                if sep and name.strip() == "web" and command.strip():
                    return command.strip(), "its Procfile's web process", ""
        if self.tree.is_file("manage.py"):
            module = self._django_wsgi()
            if module:
                return (f"gunicorn {module}:application --bind 0.0.0.0:$PORT",
                        f"a Django app ({module}) under gunicorn", "gunicorn")
        for name in APP_FILES:
            text = self.tree.text(name)
            if not text:
                continue
            module = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            asgi = ASGI_RE.search(text)
            if asgi:
                return (f"uvicorn {module}:{asgi.group(1)} --host 0.0.0.0 --port $PORT",
                        f"an ASGI app ({asgi.group(2)}, {module}:{asgi.group(1)}) under uvicorn", "uvicorn")
            wsgi = WSGI_RE.search(text)
            if wsgi:
                return (f"gunicorn {module}:{wsgi.group(1)} --bind 0.0.0.0:$PORT",
                        f"a WSGI app ({wsgi.group(2)}, {module}:{wsgi.group(1)}) under gunicorn", "gunicorn")
        raise UserError(UserError.BUILD_PLAN, kind="Python", commit=commit_name(self.ctx.sha),
                        detail="no Procfile `web:` line, no Django manage.py with a wsgi.py, and no Flask, FastAPI "
                               f"or Starlette app in {', '.join(APP_FILES[:7])}...; say how it starts with "
                               "start = \"...\" in slipway.toml")

    def _django_wsgi(self) -> str:
        for name in self.tree.files("wsgi.py")[:20]:
            parts = name.removesuffix(".py").split("/")
            if len(parts) <= 3:
                return ".".join(parts)
        return ""

    def plan(self) -> Plan:
        ctx = self.ctx
        version = self.version()
        image = ctx.images.image("python", version)
        if version and ctx.images.pins("python"):
            self.notes.append(f"Python {version} asked for; SLIPWAY_PLAN_PYTHON_IMAGE pins {image}")
        installer = "custom" if ctx.config.install else self.installer()
        command, how, server = self.start()
        staged = bool(ctx.config.build)

        df = Dockerfile()
        df.stage(image, "build" if staged else "")
        df("WORKDIR /app",
           f"ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH")
        self.install(df, installer)
        if server and not self.has_dep(server):
            df.run(self.in_venv(f"pip install --no-cache-dir {server}"))
            self.notes.append(f"{server} is not among the app's dependencies: Slipway installs it")
        if not self.venv_made:
            df.run(f"python3 -m venv --system-site-packages {VENV}")
        if staged:
            df.build_args(ctx.build_args)
        else:
            self.runtime(df, command)
        df("COPY . .")
        if staged:
            df.run(ctx.config.build)
            df.stage(image)
            df("WORKDIR /app", f"ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH")
            self.runtime(df, command)
            df("COPY --from=build /app /app")
        notes = tuple(self.notes)
        if ctx.build_args and not staged:
            notes += ("no build step: build-time variables are not used",)
        summary = f"Python {version or DEFAULT_VERSIONS['python']} ({installer}), {how}"
        return Plan("python", summary, df.text(), context=ctx.app_dir, build_args=df.args, notes=notes,
                    config=ctx.config)

    def runtime(self, df: Dockerfile, command: str) -> None:
        """The port and command, settled before the source is copied: a source change then rebuilds the
        copy alone (with some storage drivers every step, even one that only sets a command, copies
        the whole image)."""
        if self.ctx.config.port:
            df(f"ENV PORT={self.ctx.config.port}", f"EXPOSE {self.ctx.config.port}")
        df(exec_cmd(command))
