"""slipway.toml's watch paths: a push that changes nothing under them is not deployed, and says so.

GitHub pushes are judged by the file lists of the push event's commits against the watch paths of
the slipway.toml last built (kept on the project by the job); pushes to Slipway's own git remote
by ``git diff`` against the pushed commit's own slipway.toml.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from builder.plan.config import watched
from slipway.db import session_scope
from slipway.git_remote.pushes import deploy_pushed_refs
from slipway.models import Deployment, Project, WebhookDelivery
from slipway.projects import ProjectSpec, create_project
from tests.support.payloads import push_payload

SHA = "5" * 40


@pytest.mark.parametrize("watch, changed, builds", [
    (None, ["anything"], True),
    ((), ["anything"], True),
    (("api",), ["api/app.py"], True),
    (("api",), ["api"], True),
    (("api/",), ["api/deep/x.py"], True),
    (("api",), ["apis/x.py", "web/api/x.py", "README.md"], False),
    (("api",), ["README.md", "slipway.toml"], True),  # the watch paths themselves may change
    (("apps/*/src",), ["apps/web/src/main.ts"], True),
    (("*.py",), ["docs/index.md"], False),
    (("api",), [], False),
])
def test_a_push_builds_when_it_changes_something_watched(watch, changed, builds):
    assert watched(watch, changed) is builds


def deployments() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Deployment))


def commits(*changes: list[str]) -> list[dict]:
    return [{"id": f"{i:040x}", "added": [], "removed": [], "modified": files} for i, files in enumerate(changes)]


@pytest.fixture
def watching(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="api", repo_url="http://127.0.0.1:1/mono.git", github_repo="acme/mono"))
        create_project(s, ProjectSpec(name="web", repo_url="http://127.0.0.1:1/mono.git", github_repo="acme/mono"))
        for p in s.scalars(select(Project)):
            p.watch_paths = [f"apps/{p.name}", "packages"]


def test_a_github_push_deploys_only_the_projects_whose_paths_it_changed(watching, send_webhook, queue):
    resp = send_webhook("push", push_payload("acme/mono", SHA, commits=commits(["apps/web/index.html"])),
                        delivery="w-1")
    assert resp.status_code == 202
    (dep_id,) = resp.json["deployments"]
    with session_scope() as s:
        assert s.get(Deployment, dep_id).project.name == "web"
        delivery = s.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "w-1"))
        assert "skipped api: no change under its watch paths (apps/api, packages)" in delivery.outcome


def test_a_github_push_that_changes_nothing_watched_is_recorded_and_builds_nothing(watching, send_webhook, queue):
    resp = send_webhook("push", push_payload("acme/mono", SHA, commits=commits(["docs/a.md"], ["README.md"])),
                        delivery="w-2")
    assert resp.status_code == 202 and "not deployed" in resp.json["message"]
    assert deployments() == 0 and queue.job_ids == []
    with session_scope() as s:
        delivery = s.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "w-2"))
        assert "changes nothing a project watches" in delivery.outcome


@pytest.mark.parametrize("listed", [
    [],  # a new branch's push may list no commits
    commits(*[["docs/a.md"]] * 20),  # GitHub lists at most 20: the rest may change anything
    [{"id": "x", "modified": ["docs/a.md"]}],  # no added/removed lists: cannot tell
])
def test_a_github_push_whose_changes_cannot_be_told_builds_every_project(watching, send_webhook, queue, listed):
    resp = send_webhook("push", push_payload("acme/mono", SHA, commits=listed))
    assert resp.status_code == 202 and len(resp.json["deployments"]) == 2


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "change")


def test_a_git_remote_push_that_changes_nothing_watched_is_not_deployed(settings, queue, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    with session_scope() as s:
        project_id = create_project(s, ProjectSpec(name="mono", repo_url=str(repo))).id
    commit(repo, {"slipway.toml": 'watch = ["api"]\n', "api/app.py": "v1", "web/index.html": "v1"})
    first = deploy_pushed_refs(settings, project_id, repo)
    assert "queued" in first[-1]  # the branch's first push: nothing to compare with, so it builds
    commit(repo, {"web/index.html": "v2"})
    lines = deploy_pushed_refs(settings, project_id, repo)
    assert lines == [f"Slipway: {git(repo, 'rev-parse', 'HEAD')[:7]} changes nothing under the watch paths of its "
                     "slipway.toml; not deployed, the live version keeps serving."]
    assert deployments() == 1
    commit(repo, {"api/app.py": "v2"})
    assert "queued" in deploy_pushed_refs(settings, project_id, repo)[0]
    assert deployments() == 2
