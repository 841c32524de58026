"""Build plans: how a repository without a Dockerfile becomes an image.

Detectors are asked in order and the first that recognises the app wins (the order follows
Railpack's: a repository's own Dockerfile, then Go, Python, Node, then plain static files; a
Python app with a package.json for its assets is a Python app). Each returns a ``Plan`` whose
heart is a generated Dockerfile, printed at the top of the build log and by ``slipway plan``.

Every generated Dockerfile has the same layer layout, so that a source change never reinstalls
dependencies: the lock files are copied and dependencies installed before the source is copied.
Where a build step exists the file has two stages: ``build``, which declares the project's
build-time variables as ``ARG`` and runs the build, and a final stage that starts ``FROM`` a clean
base image and copies only the build's output, so no build-time value reaches the pushed image.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Sequence

from builder.plan import golang, node, python, static
from builder.images import inside_checkout
from builder.plan.base import BaseImages, Context, Detector, Dockerfile, Plan
from builder.plan.config import ProjectConfig, commit_name, load_config
from builder.plan.tree import Tree
from slipway.errors import UserError

__all__ = ["BaseImages", "Dockerfile", "Plan", "ProjectConfig", "load_config", "make_plan", "render"]

# In order: the first that recognises the app wins.
DETECTORS: list[tuple[str, Detector]] = [
    ("Go (go.mod)", golang.detect),
    ("Python (requirements.txt, pyproject.toml, Pipfile or a Procfile)", python.detect),
    ("Node (package.json)", node.detect),
    ("static files (index.html)", static.detect),
]


def make_plan(checkout: Path, *, dockerfile: str = "Dockerfile", context: str = ".", images: BaseImages | None = None,
              build_args: Sequence[str] = (), sha: str = "", config: ProjectConfig | None = None) -> Plan:
    """The plan for ``checkout``: its own Dockerfile when it has one, else the first detector's.

    ``dockerfile`` and ``context`` are the project's settings; a project that names another
    Dockerfile than the default means it, and fails when it is missing. Without a Dockerfile the app
    is looked for in slipway.toml's ``root``, else in the project's build context (a monorepo's app
    directory, set on the project as on Vercel).
    """
    config = load_config(checkout, sha) if config is None else config
    images = images or BaseImages()
    root = config.root
    app_root = root if root != "." else str(PurePosixPath(context or "."))
    tree = Tree(checkout, app_root, sha)
    if not tree.root.is_dir():
        raise UserError(UserError.BUILD_BAD_CONTEXT, path=app_root, sha=sha[:7])
    # The project's Dockerfile, or one in slipway.toml's root directory.
    candidates = [(dockerfile, context)]
    if root != "." and dockerfile == "Dockerfile":
        candidates.insert(0, (str(PurePosixPath(root) / "Dockerfile"), root))
    for path, ctx in candidates:
        if (checkout / path).is_symlink():
            # A link out of the repository (even one to nothing there) is refused, naming it.
            inside_checkout(checkout, path, sha)
        if (checkout / path).is_file():
            return Plan("dockerfile", f"the repository's own Dockerfile ({path})", dockerfile_path=path,
                        context=ctx, config=config)
    if dockerfile != "Dockerfile":
        raise UserError(UserError.BUILD_NO_DOCKERFILE, path=dockerfile, sha=sha[:7])
    names = tuple(dict.fromkeys(build_args))
    ctx = Context(tree, config, images, names, sha)
    looked = []
    for what, detect in DETECTORS:
        plan = detect(ctx)
        if plan is not None:
            return plan
        looked.append(what)
    if root != ".":
        where = f"{root}/ (slipway.toml's root)"
    elif app_root != ".":
        where = f"{app_root}/ (the project's build context)"
    else:
        where = "the repository's root"
    raise UserError(UserError.BUILD_NO_PLAN, where=where, commit=commit_name(sha),
                    looked="; ".join(["a Dockerfile"] + looked))


def render(checkout: Path, **kwargs) -> tuple[str, list[str]]:
    """The generated Dockerfile for ``checkout`` and the ARG names its build stage accepts
    (``("", [])`` when the repository's own Dockerfile is used). Keyword arguments as ``make_plan``."""
    plan = make_plan(checkout, **kwargs)
    return plan.dockerfile, list(plan.build_args)
