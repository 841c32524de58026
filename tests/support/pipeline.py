"""The whole road as the end-to-end tests drive it: a Dockerfile on the test base image, a push, its log."""

from __future__ import annotations

from sqlalchemy import select

from slipway.db import session_scope
from slipway.models import Base, BuildLog, Deployment
from tests.support.github import REPO
from tests.support.gitrepos import SourceRepo
from tests.support.payloads import push_payload


def dockerfile(registry: str, run: str = "", cmd: str = 'exec busybox httpd -f -p "$PORT" -h /www') -> str:
    return (
        f"FROM {registry}/base/busybox:latest\n"
        + (f"RUN {run}\n" if run else "")
        + "COPY www /www\n"
        + f'CMD ["sh", "-c", "{cmd.replace(chr(34), chr(92) + chr(34))}"]\n'
    )


def deploy(send_webhook, run_worker, repo, files: dict[str, str], **commit) -> Deployment:
    sha = repo.commit(files, **commit)
    resp = send_webhook("push", push_payload(f"acme/{repo.name}", sha, clone_url=repo.url))
    assert resp.status_code == 202, resp.json
    (dep_id,) = resp.json["deployments"]
    run_worker()
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        assert dep.state_enum.final, f"deployment left {dep.state}"
        return dep


def log_of(dep_id: int) -> str:
    with session_scope() as s:
        return "\n".join(s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)))


def site_files(registry: str, text: str, run: str = "") -> dict[str, str]:
    return {"Dockerfile": dockerfile(registry, run=run), "www/index.html": text}


def push(send_webhook, repo: SourceRepo, files: dict[str, str]) -> tuple[int, str]:
    sha = repo.commit(files)
    resp = send_webhook("push", push_payload(REPO, sha, clone_url=f"https://github.com/{REPO}.git"))
    assert resp.status_code == 202, resp.json
    (dep_id,) = resp.json["deployments"]
    return dep_id, sha


def everything_stored() -> str:
    """Every row of every table, as text."""
    out = []
    with session_scope() as s:
        for table in Base.metadata.sorted_tables:
            out.extend(repr(tuple(row)) for row in s.execute(select(table)))
    return "\n".join(out)
