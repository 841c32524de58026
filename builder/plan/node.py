"""Node apps (a ``package.json``): installed frozen by their lock file's package manager, then
either built into static files served by Caddy, or run as a server with ``PORT``.

- package manager: pnpm-lock.yaml, yarn.lock, package-lock.json (or npm-shrinkwrap.json); the
  version of pnpm or yarn from ``packageManager``. No lock file: ``npm install``, noted in the plan.
- Node version: ``engines.node``, else ``.nvmrc`` / ``.node-version``, else 22.
- static output: Vite, Create React App, Astro, Next.js with ``output: "export"``, or a ``build``
  script and no ``start`` script: the build writes dist/, build/ or out/ (the first with an
  index.html is served).
- servers: Next.js ``output: "standalone"`` (``node server.js``), a ``start`` script, or the
  ``main`` file / server.js / index.js.
- monorepos: when the lock file is above the app's directory (a workspace), the context is the
  workspace's root, every package.json in it is copied before the install, and the app is built
  and started in its directory.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from builder.plan.base import DEFAULT_VERSIONS, Dockerfile, Plan, exec_cmd
from builder.plan.config import commit_name
from builder.plan.static import serve_static
from builder.plan.tree import Tree

if TYPE_CHECKING:
    from builder.plan.base import Context

LOCKS = (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("package-lock.json", "npm"),
         ("npm-shrinkwrap.json", "npm"))
# Copied with the lock file: they change how the install resolves.
INSTALL_FILES = (".npmrc", ".yarnrc", ".yarnrc.yml", "pnpm-workspace.yaml")
NEXT_CONFIGS = ("next.config.js", "next.config.mjs", "next.config.ts", "next.config.cjs")
STATIC_FRAMEWORKS = (("vite", "a Vite site", ("dist",)), ("react-scripts", "a Create React App site", ("build",)),
                     ("astro", "an Astro site", ("dist",)))
OUTPUT_DIRS = ("dist", "build", "out")
# Workspace packages copied before the install, at most.
MAX_PACKAGES = 500
VERSION_RE = re.compile(r"(\d+)(?:\.(\d+|x))?")


def detect(ctx: "Context") -> Plan | None:
    tree = ctx.tree
    package = tree.json("package.json")
    if package is None:
        if tree.is_file("package.json"):
            from slipway.errors import UserError

            raise UserError(UserError.BUILD_PLAN, kind="Node", commit=commit_name(ctx.sha),
                            detail=f"{_where(ctx.app_dir, 'package.json')} is not a JSON object")
        return None
    return NodePlanner(ctx, package).plan()


def _where(app_dir: str, name: str) -> str:
    return str(PurePosixPath(app_dir) / name)


def _deps(package: dict) -> dict:
    deps: dict = {}
    for key in ("dependencies", "devDependencies"):
        if isinstance(package.get(key), dict):
            deps.update(package[key])
    return deps


class NodePlanner:
    def __init__(self, ctx: "Context", package: dict):
        self.ctx = ctx
        self.package = package
        self.scripts = package.get("scripts") if isinstance(package.get("scripts"), dict) else {}
        self.deps = _deps(package)
        self.notes: list[str] = []
        self.workspace, self.manager, self.lock = self._find_lock()

    # -- what the repository says ---------------------------------------------------------------
    def _find_lock(self) -> tuple[Tree, str, str]:
        """The directory holding the lock file (the app's, or a workspace root above it), its manager."""
        tree = self.ctx.tree
        parts = PurePosixPath(tree.app_dir).parts if tree.app_dir != "." else ()
        for up in range(len(parts) + 1):
            dir_ = str(PurePosixPath(*parts[:len(parts) - up])) if up < len(parts) else "."
            candidate = Tree(tree.checkout, dir_, tree.sha)
            for lock, manager in LOCKS:
                if candidate.is_file(lock):
                    return candidate, manager, lock
        self.notes.append("no lock file: dependencies are installed with `npm install`, not pinned; "
                          "commit package-lock.json for repeatable builds")
        return tree, "npm", ""

    def node_version(self) -> str | None:
        engines = self.package.get("engines") if isinstance(self.package.get("engines"), dict) else {}
        wanted = engines.get("node") if isinstance(engines.get("node"), str) else None
        source = "engines.node"
        if wanted is None:
            for name in (".nvmrc", ".node-version"):
                text = self.ctx.tree.text(name) or self.workspace.text(name)
                if text and text.strip():
                    wanted, source = text.strip().splitlines()[0], name
                    break
        if wanted is None:
            return None
        major = node_major(wanted)
        if major is None:
            self.notes.append(f"{source} {wanted!r} names no Node version Slipway reads; using the default")
        return major

    def package_manager_version(self) -> str:
        field = self.package.get("packageManager")
        if not isinstance(field, str):
            field = (self.workspace.json("package.json") or {}).get("packageManager")
        if isinstance(field, str) and field.startswith(f"{self.manager}@"):
            version = field.split("@", 1)[1].split("+", 1)[0]
            if re.fullmatch(r"[0-9][0-9A-Za-z.-]{0,40}", version):
                return version
        return ""

    def next_output(self) -> str:
        """``export``, ``standalone`` or "" from the Next.js config."""
        for name in NEXT_CONFIGS:
            text = self.ctx.tree.text(name)
            if text:
                found = re.search(r"""output\s*:\s*["'](export|standalone)["']""", text)
                return found.group(1) if found else ""
        return ""

    # -- the commands ---------------------------------------------------------------------------
    def install_command(self) -> str:
        if self.ctx.config.install:
            return self.ctx.config.install
        if not self.lock:
            return "npm install"
        return {"npm": "npm ci", "pnpm": "pnpm install --frozen-lockfile",
                "yarn": "yarn install --immutable" if self._yarn_berry() else "yarn install --frozen-lockfile"}[self.manager]

    def _yarn_berry(self) -> bool:
        version = self.package_manager_version()
        return self.workspace.is_file(".yarnrc.yml") or (bool(version) and not version.startswith("1."))

    def setup_manager(self, df: Dockerfile) -> None:
        """pnpm and yarn are installed from npm (the official images' corepack would fetch them too)."""
        version = self.package_manager_version()
        if self.manager == "pnpm":
            df.run(f"npm install -g pnpm@{version or '9'}")
        elif self.manager == "yarn" and self._yarn_berry():
            df.run("npm install -g corepack && corepack enable")
        elif self.manager == "yarn":
            df.run(f"command -v yarn >/dev/null || npm install -g yarn@{version or '1'}")

    def run_script(self, script: str) -> str:
        """``npm run build`` and friends, in the app's package when it lives in a workspace."""
        if self.manager == "pnpm" and self._in_workspace():
            name = self.package.get("name")
            if isinstance(name, str) and re.fullmatch(r"[@A-Za-z0-9._/-]{1,214}", name):
                # The package and the workspace packages it depends on, in order.
                return f'pnpm --filter "{name}..." run {script}'
        return {"npm": f"npm run {script}", "pnpm": f"pnpm run {script}", "yarn": f"yarn run {script}"}[self.manager]

    def _in_workspace(self) -> bool:
        return self.workspace.app_dir != self.ctx.tree.app_dir

    def _app_path(self) -> str:
        """The app's directory inside the image's /app."""
        if not self._in_workspace():
            return "/app"
        return str(PurePosixPath("/app") / PurePosixPath(self.ctx.tree.app_dir).relative_to(self.workspace.app_dir))

    # -- the plan -------------------------------------------------------------------------------
    def kind(self) -> tuple[str, str, tuple[str, ...]]:
        """("static", framework, output dirs) or ("server", how, ())."""
        config = self.ctx.config
        if config.start:
            return "server", "slipway.toml's start command", ()
        if "next" in self.deps:
            output = self.next_output()
            if output == "export":
                return "static", "a Next.js static export", ("out",)
            if output == "standalone":
                return "server", "a Next.js standalone server", ()
            return "server", "a Next.js server (`next start`)", ()
        for dep, name, dirs in STATIC_FRAMEWORKS:
            if dep in self.deps:
                start = str(self.scripts.get("start", ""))
                if dep == "vite" and start and "vite" not in start:
                    break  # a server with a Vite front end: its start script runs it
                return "static", name, dirs + tuple(d for d in OUTPUT_DIRS if d not in dirs)
        if "start" in self.scripts:
            return "server", "its start script", ()
        if "build" in self.scripts or config.build:
            return "static", "a build script's static output", OUTPUT_DIRS
        return "server", "node " + self.main_file(), ()

    def main_file(self) -> str:
        main = self.package.get("main")
        if isinstance(main, str) and re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", main) and self.ctx.tree.is_file(main):
            return main
        for name in ("server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs"):
            if self.ctx.tree.is_file(name):
                return name
        return "index.js"

    def start_command(self, how: str) -> str:
        if self.ctx.config.start:
            return self.ctx.config.start
        if how.startswith("a Next.js standalone"):
            return "node server.js"
        if "start" in self.scripts or how.startswith("a Next.js server"):
            if "start" not in self.scripts:
                return "npx next start"
            return {"npm": "npm start", "pnpm": "pnpm start", "yarn": "yarn start"}[self.manager]
        return "node " + self.main_file()

    def plan(self) -> Plan:
        ctx = self.ctx
        version = self.node_version()
        image = ctx.images.image("node", version)
        if version and ctx.images.pins("node"):
            self.notes.append(f"Node {version} asked for; SLIPWAY_PLAN_NODE_IMAGE pins {image}")
        kind, how, out_dirs = self.kind()
        shown_version = version or DEFAULT_VERSIONS["node"]
        build = ctx.config.build or (self.run_script("build") if "build" in self.scripts else "")
        staged = bool(build) or kind == "static"

        df = Dockerfile()
        df.stage(image, "build" if staged else "")
        df("WORKDIR /app")
        self.setup_manager(df)
        df.copy(self._install_files())
        df.run(self.install_command())
        if staged:
            df.build_args(ctx.build_args)
        else:
            # Settled before the source is copied, so that a source change rebuilds the copy alone (with
            # some storage drivers every step, even one that only sets a command, copies the whole image).
            self.runtime_env(df)
            df(exec_cmd(self.start_command(how)))
        df("COPY . .")
        app = self._app_path()
        if app != "/app":
            df(f"WORKDIR {app}")
        if kind == "static":
            dirs = " ".join(out_dirs)
            pick = (f'for d in {dirs}; do if [ -f "$d/index.html" ]; then cp -a "$d" /slipway-site; break; fi; done; '
                    f'[ -d /slipway-site ] || {{ echo "Slipway: the build wrote no index.html in {dirs.replace(" ", ", ")}" >&2; exit 1; }}')
            if build and not ctx.config.build:
                # The output is picked in the build script's own step: a step fewer (with some storage
                # drivers each step copies the whole image), rerun exactly when the build is. A
                # slipway.toml build command keeps a step of its own, as written.
                df.run(f"{build} && {pick}")
            else:
                if build:
                    df.run(build)
                df.run(pick)
            serve_static(df, ctx.images.image("static"), "COPY --from=build /slipway-site /srv")
            summary = f"Node {shown_version} ({self.manager}), {how} served as static files by Caddy"
        else:
            if build:
                df.run(build)
            if staged:
                # The final stage: what it runs first, then what the build made (a rebuild copies only that).
                df.stage(image)
                self.runtime_env(df, standalone=how.startswith("a Next.js standalone"))
                self.setup_manager_runtime(df)
                df(exec_cmd(self.start_command(how)))
                if how.startswith("a Next.js standalone"):
                    df(f"WORKDIR {app}",
                       f"COPY --from=build {app}/.next/standalone ./",
                       f"COPY --from=build {app}/.next/static ./.next/static")
                    if ctx.tree.is_dir("public"):
                        df(f"COPY --from=build {app}/public ./public")
                else:
                    df("WORKDIR /app", "COPY --from=build /app /app")
                    if app != "/app":
                        df(f"WORKDIR {app}")
            summary = f"Node {shown_version} ({self.manager}), {how} run with PORT"
        notes = tuple(self.notes)
        if ctx.build_args and not staged:
            notes += ("no build step: build-time variables are not used",)
        return Plan("node", summary, df.text(), context=self.workspace.app_dir, build_args=df.args, notes=notes,
                    config=ctx.config)

    def runtime_env(self, df: Dockerfile, standalone: bool = False) -> None:
        env = "NODE_ENV=production" + (" HOSTNAME=0.0.0.0" if standalone else "")
        if self.ctx.config.port:
            df(f"ENV {env} PORT={self.ctx.config.port}", f"EXPOSE {self.ctx.config.port}")
        else:
            df(f"ENV {env}")

    def setup_manager_runtime(self, df: Dockerfile) -> None:
        """The final stage starts from a clean image: pnpm or yarn is installed again if it starts the app."""
        if self.manager != "npm" and ("start" in self.scripts and not self.ctx.config.start):
            self.setup_manager(df)

    def _install_files(self) -> list[str]:
        """The lock file, install settings and every workspace package.json, relative to the context."""
        files = ["package.json"]
        if self.lock:
            files.append(self.lock)
        files += [name for name in INSTALL_FILES if self.workspace.is_file(name)]
        if self._in_workspace() or self.workspace.is_file("pnpm-workspace.yaml") or "workspaces" in (
                self.workspace.json("package.json") or {}):
            packages = [p for p in self.workspace.files("package.json") if p != "package.json"]
            files += packages[:MAX_PACKAGES]
        return files


def node_major(wanted: str) -> str | None:
    """The Node major version a range asks for: the default (22) when it allows it, else its lowest."""
    text = wanted.strip().lstrip("v")
    if text.startswith(("lts", "node", "latest", "*")):
        return None
    found = VERSION_RE.search(text)
    if found is None:
        return None
    major = int(found.group(1))
    if text.startswith(">") and major <= 22:
        return "22"
    if not 4 <= major <= 99:
        return None
    return str(major)
