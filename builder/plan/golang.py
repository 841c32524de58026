"""Go apps (a ``go.mod``): modules downloaded before the source is copied, a static binary built
in the Go image, and only that binary copied into a small runtime image."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from builder.plan.base import DEFAULT_VERSIONS, Dockerfile, Plan, json_list
from builder.plan.config import commit_name
from slipway.errors import UserError

if TYPE_CHECKING:
    from builder.plan.base import Context

GO_LINE_RE = re.compile(r"(?m)^go\s+(1\.\d{1,3})")
# What only a shell understands: the runtime image has none.
SHELL_SYNTAX_RE = re.compile(r"[$`|&;<>(){}*?~\\]")
ASSIGNMENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
MAIN_RE = re.compile(r"(?m)^package\s+main\b")


def detect(ctx: "Context") -> Plan | None:
    tree = ctx.tree
    gomod = tree.text("go.mod")
    if gomod is None:
        return None
    found = GO_LINE_RE.search(gomod)
    version = found.group(1) if found else None
    image = ctx.images.image("go", version)
    notes = []
    if version and ctx.images.pins("go"):
        notes.append(f"Go {version} asked for; SLIPWAY_PLAN_GO_IMAGE pins {image}")
    package = main_package(ctx)
    df = Dockerfile()
    df.stage(image, "build")
    df("WORKDIR /src", "ENV CGO_ENABLED=0 GOTOOLCHAIN=local")
    df.copy([n for n in ("go.mod", "go.sum") if tree.is_file(n)])
    df.run("go mod download")
    df.build_args(ctx.build_args)
    df("COPY . .")
    df.run(ctx.config.build or f"go build -trimpath -ldflags=-s -o /out/server {package}")
    df.stage(ctx.images.image("runtime"))
    if ctx.config.port:
        df(f"ENV PORT={ctx.config.port}", f"EXPOSE {ctx.config.port}")
    df(f"CMD {json_list(start_argv(ctx))}")
    df("COPY --from=build /out/server /usr/local/bin/server")
    return Plan("go", f"Go {version or DEFAULT_VERSIONS['go']}, the main package {package} built into one binary",
                df.text(), context=ctx.app_dir, build_args=df.args, notes=tuple(notes), config=ctx.config)


def start_argv(ctx: "Context") -> list[str]:
    """The command the binary starts with: ``slipway.toml``'s ``start`` as words (the runtime image has no
    shell to read ``$PORT``, pipes or quotes in it; the app reads ``PORT`` itself), else the binary."""
    start = ctx.config.start
    if not start:
        return ["/usr/local/bin/server"]
    try:
        argv = shlex.split(start)
    except ValueError as exc:
        argv, problem = [], str(exc)
    else:
        shell = not argv or ASSIGNMENT_RE.match(argv[0]) or any(SHELL_SYNTAX_RE.search(word) for word in argv)
        problem = "shell syntax" if shell else ""
    if problem:
        raise UserError(UserError.BUILD_PLAN, kind="Go", commit=commit_name(ctx.sha), detail=(
            f"slipway.toml's start {start!r} needs a shell ({problem}), and a Go app runs on "
            f"{ctx.images.image('runtime')}, which has none: give the command as plain words (the binary is "
            "/usr/local/bin/server; read PORT in the app), or add a Dockerfile"))
    return argv


def main_package(ctx: "Context") -> str:
    """``.`` when the root holds package main, else the one ``cmd/NAME`` (the first, sorted)."""
    tree = ctx.tree
    for path in sorted(tree.root.glob("*.go")):
        if MAIN_RE.search(tree.text(path.name) or ""):
            return "."
    if tree.is_dir("cmd"):
        for sub in sorted(p.name for p in (tree.root / "cmd").iterdir() if p.is_dir()):
            for path in sorted((tree.root / "cmd" / sub).glob("*.go")):
                if MAIN_RE.search(tree.text(f"cmd/{sub}/{path.name}") or ""):
                    return f"./cmd/{sub}"
    return "."
