"""Go apps (a ``go.mod``): modules downloaded before the source is copied, a static binary built
in the Go image, and only that binary copied into a small runtime image."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from builder.plan.base import DEFAULT_VERSIONS, Dockerfile, Plan, exec_cmd, json_list

if TYPE_CHECKING:
    from builder.plan.base import Context

GO_LINE_RE = re.compile(r"(?m)^go\s+(1\.\d{1,3})")
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
    df("COPY --from=build /out/server /usr/local/bin/server")
    if ctx.config.port:
        df(f"ENV PORT={ctx.config.port}", f"EXPOSE {ctx.config.port}")
    df(exec_cmd(ctx.config.start) if ctx.config.start else f"CMD {json_list(['/usr/local/bin/server'])}")
    return Plan("go", f"Go {version or DEFAULT_VERSIONS['go']}, the main package {package} built into one binary",
                df.text(), context=ctx.app_dir, build_args=df.args, notes=tuple(notes), config=ctx.config)


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
