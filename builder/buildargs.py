"""Which build stages of a Dockerfile get a project's build-time variables.

Build-time variables are secrets. The classic builder writes the build arguments a stage
declares (``ARG NAME``), values and all, into the history of every image that stage makes, and
an image made ``FROM`` a stage carries that history on. So a variable is given only to the stages
the pushed image is not made of: never to the final stage nor to any stage it is built ``FROM``.
What the build stages make reaches the image only through ``COPY --from``, which copies files, not
history. A Dockerfile whose final stage (or a stage it is built from) declares a build-time
variable is refused, saying how to move it.

The Dockerfile is read with Docker's own parser (the ``dockerfile`` package wraps it), so line
continuations, comments and the escape directive mean here what they mean to the Engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import dockerfile

from slipway.errors import UserError


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` of a Dockerfile: its name (``AS name``, lower-cased), base and the ARGs it declares."""

    index: int
    name: str | None
    base: str
    line: int
    args: dict[str, int] = field(default_factory=dict)  # ARG name -> line

    @property
    def label(self) -> str:
        return self.name or f"#{self.index + 1}"


@dataclass(frozen=True)
class StageArgs:
    """The build arguments to send, and what the build log says about them (names only)."""

    passed: dict[str, str]
    # Stage label -> the variables it gets.
    stages: dict[str, list[str]]
    # Build-time variables no build stage declares: not sent.
    unused: list[str]


def stages(text: str) -> list[Stage]:
    """The Dockerfile's stages in order; ARGs before the first FROM belong to none (they only serve FROM lines)."""
    found: list[Stage] = []
    for command in dockerfile.parse_string(text):
        kind = command.cmd.upper()
        if kind == "FROM" and command.value:
            words = command.value
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
            found.append(Stage(len(found), name, words[0], command.start_line))
        elif kind == "ARG" and found:
            for word in command.value:
                found[-1].args.setdefault(word.partition("=")[0], command.start_line)
    return found


def image_lineage(all_stages: list[Stage]) -> list[Stage]:
    """The final stage and every stage it is built FROM, nearest first: what the image is made of."""
    if not all_stages:
        return []
    chain = [all_stages[-1]]
    while True:
        base = chain[-1].base.lower()
        parent = next((s for s in reversed(all_stages[:chain[-1].index]) if s.name == base), None)
        if parent is None:
            return chain
        chain.append(parent)


def stage_args(text: str, values: Mapping[str, str], path: str = "Dockerfile", sha: str = "") -> StageArgs:
    """The build arguments for ``text``'s build stages from the build-time ``values``.

    Raises UserError when the image's own stages declare one (its value would be in the image's
    history), or when Docker's parser cannot read the Dockerfile.
    """
    if not values:
        return StageArgs({}, {}, [])
    try:
        all_stages = stages(text)
    except dockerfile.GoParseError as exc:
        raise UserError(UserError.BUILD_FAILED, detail=f"{path} cannot be parsed: {exc}") from None
    lineage = image_lineage(all_stages)
    for stage in lineage:
        for name in sorted(values.keys() & stage.args.keys()):
            raise UserError(UserError.BUILD_SECRET_IN_IMAGE_STAGE, name=name, path=path, sha=sha[:7],
                            line=stage.args[name],
                            stage="the final stage" if stage is lineage[0] else
                            f"stage {stage.label}, which the final stage is built FROM")
    image_stages = {s.index for s in lineage}
    passed: dict[str, str] = {}
    per_stage: dict[str, list[str]] = {}
    for stage in all_stages:
        if stage.index in image_stages:
            continue
        wanted = sorted(values.keys() & stage.args.keys())
        if wanted:
            per_stage[stage.label] = wanted
            passed.update((name, values[name]) for name in wanted)
    return StageArgs(passed, per_stage, sorted(values.keys() - passed.keys()))
