"""An image builder for tests about what happens around a build (slipway.interfaces.ImageBuilder).

It builds and pushes nothing and records what it was asked: the tags, the Dockerfile texts and
the cache sources. Tests that need a build to stop, fail or stop at the push subclass it.
"""

from __future__ import annotations


class StandInImages:
    def __init__(self) -> None:
        self.built: list[str] = []
        self.texts: list[str] = []
        self.cache_from: list[str | None] = []

    def build(self, checkout, dockerfile, context, tag, log, timeout_s, sha="", should_stop=None, build_args=None,
              cache_from=None, dockerfile_text="") -> str:
        self.built.append(tag)
        self.texts.append(dockerfile_text)
        self.cache_from.append(cache_from)
        return tag

    def push(self, tag, log) -> str:
        return tag

    def prune(self, repository, keep, log) -> int:
        return 0

    def tidy(self, budget, repositories, keep, log, grace_s=3600, untagged=True) -> int:
        return 0


class StopsAtPush(StandInImages):
    """Builds (nothing), then refuses the push: for tests about the build alone."""

    def push(self, tag, log) -> str:
        raise RuntimeError("stop here: the test is about the build")
