"""Deployments made by hand, and a git source that needs no git."""

from __future__ import annotations

import time
from pathlib import Path

from slipway.db import session_scope
from slipway.models import Deployment, Project


def make_deployment(state: str = "queued") -> int:
    with session_scope() as s:
        p = Project(name=f"jobs-{time.monotonic_ns()}", repo_url="http://127.0.0.1:1/x.git")
        d = Deployment(project=p, sha="a" * 40, branch="main", trigger="cli", state=state)
        s.add(d)
        s.flush()
        return d.id


def fake_fetch(repo_url, sha, dest: Path, log, **kwargs) -> Path:
    dest.mkdir(parents=True)
    (dest / "Dockerfile").write_text("FROM scratch\n")
    return dest
