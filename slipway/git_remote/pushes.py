"""What a push to a project's git remote deploys: the tracked branch's new head, once.

Kept apart from the remote itself (``slipway.git_remote``), which the deployment road reads
for URLs and tokens: this module is the one that calls back into that road.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from git import GitCommandError, Repo

from builder.plan import config
from slipway.db import session_scope
from slipway.deployments import DeployRequestError, PushedCommit, request_deployment
from slipway.errors import UserError
from slipway.models import Project
from slipway.settings import Settings

log = logging.getLogger(__name__)

ZERO_SHA = "0" * 40
# The refs as of the last push whose deployments were queued; see deploy_pushed_refs.
QUEUED_REFS_FILE = "slipway-queued-refs.json"


def read_refs(path: Path) -> dict[str, str]:
    repo = Repo(path)
    try:
        out = repo.git.for_each_ref("--format=%(objectname) %(refname)", "refs/heads", "refs/tags")
    finally:
        repo.close()
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        refs[ref] = sha
    return refs


@dataclass(frozen=True)
class RefUpdate:
    ref: str
    old: str  # ZERO_SHA when created
    new: str  # ZERO_SHA when deleted

    @property
    def deleted(self) -> bool:
        return self.new == ZERO_SHA


def ref_updates(before: dict[str, str], after: dict[str, str]) -> list[RefUpdate]:
    return [
        RefUpdate(ref, before.get(ref, ZERO_SHA), after.get(ref, ZERO_SHA))
        for ref in sorted(set(before) | set(after))
        if before.get(ref) != after.get(ref)
    ]


def _is_fast_forward(path: Path, old: str, new: str) -> bool:
    repo = Repo(path)
    try:
        repo.git.merge_base("--is-ancestor", old, new)
        return True
    except GitCommandError:
        return False
    finally:
        repo.close()


def _commit_facts(path: Path, sha: str) -> tuple[str | None, str | None]:
    """The pushed commit's subject and author name, read from the repository git just stored it in."""
    repo = Repo(path)
    try:
        out = repo.git.log("-1", "--format=%an%x00%s", sha)
    except GitCommandError:
        return None, None
    finally:
        repo.close()
    author, _, subject = out.partition("\0")
    return subject or None, author or None


def _load_queued_refs(path: Path) -> dict[str, str]:
    try:
        return json.loads((path / QUEUED_REFS_FILE).read_text())
    except FileNotFoundError:
        return {}


def _save_queued_refs(path: Path, refs: dict[str, str]) -> None:
    tmp = path / f"{QUEUED_REFS_FILE}.tmp"
    tmp.write_text(json.dumps(refs, sort_keys=True))
    os.replace(tmp, path / QUEUED_REFS_FILE)


def _builds(path: Path, head: RefUpdate) -> bool:
    """Whether the push builds by the watch paths of the pushed commit's slipway.toml (builder.plan.config).

    Only a fast-forward from a deployed head can be judged by its changes; a slipway.toml Slipway
    cannot read builds, and its build says what is wrong with it.
    """
    if head.old == ZERO_SHA or not _is_fast_forward(path, head.old, head.new):
        return True
    repo = Repo(path)
    try:
        try:
            text = repo.git.show(f"{head.new}:{config.FILE_NAME}")
        except GitCommandError:
            return True  # no slipway.toml: every push builds
        try:
            watch = config.parse_config(tomllib.loads(text[:config.MAX_BYTES])).watch
        except (tomllib.TOMLDecodeError, UserError):
            return True
        changed = repo.git.diff("--name-only", "--no-renames", head.old, head.new, "--").splitlines()
    finally:
        repo.close()
    return config.watched(watch, changed)


def deploy_pushed_refs(settings: Settings, project_id: int, path: Path) -> list[str]:
    """Queue a deployment if the tracked branch moved; returns lines for the git client (see deploy_push)."""
    return deploy_push(settings, project_id, path)[0]


def deploy_push(settings: Settings, project_id: int, path: Path) -> tuple[list[str], int | None]:
    """Queue a deployment if the tracked branch moved; returns lines for the git client, and the
    id of the deployment queued (None if the push deploys nothing).

    Call it with ``slipway.git_remote.repository_lock`` held, right after git has taken a push in.
    Changes are found by comparing the refs with those recorded after the last push
    whose deployment was queued (not with a snapshot taken before this push), so a
    push whose request died after git stored it is still deployed by the next push.
    The record is written only once the deployment is committed and enqueued.
    """
    refs = read_refs(path)
    updates = ref_updates(_load_queued_refs(path), refs)
    with session_scope(settings) as session:
        project = session.get(Project, project_id)
        name, branch = project.name, project.branch
    tracked = f"refs/heads/{branch}"
    lines: list[str] = []
    dep_id = None
    for up in updates:
        if up.ref == tracked:
            continue
        kind, short = ("tag", up.ref.removeprefix("refs/tags/")) if up.ref.startswith("refs/tags/") \
            else ("branch", up.ref.removeprefix("refs/heads/"))
        if up.deleted:
            lines.append(f"Slipway: {kind} {short} deleted.")
        elif kind == "tag":
            lines.append(f"Slipway: tag {short} stored; tags do not deploy.")
        else:
            lines.append(f"Slipway: branch {short} stored; only pushes to {branch} deploy.")

    head = next((up for up in updates if up.ref == tracked), None)
    if head is not None and head.deleted:
        lines.append(f"Slipway: branch {branch} deleted; nothing deployed, the live version keeps serving.")
    elif head is not None and not _builds(path, head):
        lines.append(f"Slipway: {head.new[:7]} changes nothing under the watch paths of its slipway.toml; "
                     f"not deployed, the live version keeps serving.")
    elif head is not None:
        forced = head.old != ZERO_SHA and not _is_fast_forward(path, head.old, head.new)
        try:
            requested = request_deployment(project_id, PushedCommit(head.new, branch, *_commit_facts(path, head.new)),
                                           "git", settings=settings)
        except DeployRequestError as exc:
            log.error("push to %s: %s", name, exc)
            lines.append(f"Slipway: the push is stored but {exc}. "
                         f"Push again or run `slipway deploy {name}`.")
            return lines, None  # the record is not advanced: the next push deploys this head
        dep_id = requested.deployment_id
        lines.append(f"Slipway: deployment {dep_id} of {head.new[:7]} ({branch}"
                     f"{', forced update' if forced else ''}) queued: {settings.deployment_url(dep_id)}")
        if requested.replaced:
            lines.append(f"Slipway: it replaces unfinished deployment(s) {', '.join(map(str, requested.replaced))}.")
    _save_queued_refs(path, refs)
    return lines, dep_id
