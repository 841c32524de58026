"""Driving a deploy target in tests."""

from __future__ import annotations

from typing import Callable

from deployer.base import Log, Release, Running, never
from slipway.interfaces import Target


def deploy(target: Target, release: Release, log: Log, should_stop: Callable[[], bool] = never) -> Running:
    """Both phases at once, for tests with nowhere to keep the reference."""
    return target.wait_ready(release, target.start(release, log), log, should_stop)
