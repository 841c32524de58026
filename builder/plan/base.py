"""What every build plan is made of: the plan, the generated Dockerfile and its base images,
and what a detector is given (``builder.plan`` asks the detectors in order)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Callable, Sequence

from builder.plan.config import ProjectConfig
from builder.plan.tree import Tree

# The versions a plan uses when the repository names none.
DEFAULT_VERSIONS = {"node": "22", "python": "3.12", "go": "1.22"}


@dataclass(frozen=True)
class BaseImages:
    """The images generated Dockerfiles start from (settings ``SLIPWAY_PLAN_*_IMAGE``).

    ``{version}`` in a name is replaced by the version the repository asks for (or the default);
    a name without it (a mirror's pinned image) is used whatever the repository asks.
    """

    node: str = "node:{version}-slim"
    python: str = "python:{version}-slim"
    go: str = "golang:{version}"
    static: str = "caddy:2.8"
    runtime: str = "gcr.io/distroless/static-debian12"

    def image(self, kind: str, version: str | None = None) -> str:
        return getattr(self, kind).replace("{version}", version or DEFAULT_VERSIONS.get(kind, ""))

    def pins(self, kind: str) -> bool:
        """Whether the operator's image for ``kind`` ignores the version a repository asks for."""
        return "{version}" not in getattr(self, kind)


@dataclass(frozen=True)
class Plan:
    """What will be built, and how."""

    kind: str  # dockerfile, node, python, go, static
    summary: str  # one line, in the user's words: "Node 22 (pnpm), a Vite site served as static files"
    dockerfile: str = ""  # the generated Dockerfile; "" when the repository's own is used
    dockerfile_path: str = ""  # the repository's own Dockerfile
    context: str = "."  # the build context, relative to the checkout
    build_args: tuple[str, ...] = ()  # ARG names the build stage accepts (build-time variables)
    notes: tuple[str, ...] = ()
    config: ProjectConfig = field(default_factory=ProjectConfig)

    @property
    def generated(self) -> bool:
        return bool(self.dockerfile)

    def describe(self) -> str:
        """The plan as users read it: what was found, then the Dockerfile that runs."""
        lines = [f"# Slipway build plan: {self.summary}"]
        if not self.generated:
            lines.append(f"# using the repository's {self.dockerfile_path} (context {self.context})")
            return "\n".join(lines) + "\n"
        lines.append(f"# build context: {self.context}")
        lines += [f"# {note}" for note in self.notes]
        return "\n".join(lines) + "\n" + self.dockerfile


class Dockerfile:
    """A generated Dockerfile, written line by line (its stages and their order are the detector's)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.args: tuple[str, ...] = ()

    def __call__(self, *lines: str) -> "Dockerfile":
        self.lines.extend(lines)
        return self

    def stage(self, image: str, name: str = "") -> "Dockerfile":
        if self.lines:
            self.lines.append("")
        return self(f"FROM {image}" + (f" AS {name}" if name else ""))

    def copy(self, paths: Sequence[str], dest: str = "./") -> "Dockerfile":
        """One COPY per path kept at its place (``COPY a/b.json a/b.json``), or all into ``dest``."""
        flat = [p for p in paths if "/" not in p]
        if flat:
            self(f"COPY {' '.join(flat)} {dest}")
        for path in (p for p in paths if "/" in p):
            self(f"COPY {path} {path}")
        return self

    def build_args(self, names: Sequence[str]) -> "Dockerfile":
        """Declare the build-time variables: only in a build stage, after dependencies are installed
        (a changed value then reruns the build, never the install)."""
        self.args = tuple(names)
        if names:
            self("# build-time variables (their values never reach the final image)")
            self(*(f"ARG {name}" for name in names))
        return self

    def run(self, command: str) -> "Dockerfile":
        return self(f"RUN {command}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def exec_cmd(command: str) -> str:
    """CMD for a command line: through sh so that $PORT works, ``exec``ed so signals reach the app."""
    return f"CMD exec {command}"


def json_list(items: Sequence[str]) -> str:
    import json

    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def quoted(items: Sequence[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


# A detector looks at the app's directory and returns a plan, or None when the app is not its kind.
Detector = Callable[["Context"], "Plan | None"]


@dataclass
class Context:
    """What every detector is given."""

    tree: Tree  # the app's directory (slipway.toml's root)
    config: ProjectConfig
    images: BaseImages
    build_args: tuple[str, ...]
    sha: str = ""

    @property
    def app_dir(self) -> str:
        return self.tree.app_dir


