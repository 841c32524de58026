"""Fetch exactly one commit of a repository into a work dir, with GitPython.

No remote is configured in the checkout and no credential is written to disk:
the URL is passed to a single ``git fetch`` and any auth travels in the
environment (``GIT_CONFIG_*``), so nothing secret outlives the command.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

from git import GitCommandError, Repo

from slipway.errors import UserError
from slipway.validation import is_commit_sha, ref_name_problem, shown

Log = Callable[[str], None]


def fetch_commit(repo_url: str, sha: str, dest: Path, log: Log, branch: str | None = None,
                 env: Mapping[str, str] | None = None, mask: Callable[[str], str] = lambda s: s) -> Path:
    """Check out ``sha`` of ``repo_url`` into ``dest`` (shallow). Returns ``dest``.

    ``sha`` must be a hex commit id and ``branch`` a ref name; both go after ``--``, so
    git never reads a value from the database as an option.
    """
    display_url = mask(repo_url)
    if not is_commit_sha(sha):
        raise UserError(UserError.BUILD_BAD_REF, what="commit", value=shown(sha), repo=display_url,
                        expected="a hex commit sha")
    if branch is not None and ref_name_problem(branch.removeprefix("refs/")):
        raise UserError(UserError.BUILD_BAD_REF, what="branch", value=shown(branch), repo=display_url,
                        expected="a valid git branch name")
    dest.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(dest)
    # git is pinned to this checkout: if the work dir vanished under it (a cancelled copy of the job
    # removing it), GitPython would run git in the worker's current directory instead.
    git_env = {"GIT_TERMINAL_PROMPT": "0", **(env or {}),
               "GIT_DIR": str(dest.resolve() / ".git"), "GIT_WORK_TREE": str(dest.resolve())}
    log(f"$ git fetch --depth 1 {display_url} {sha}")
    try:
        with repo.git.custom_environment(**git_env):
            try:
                repo.git.fetch("--depth", "1", "--no-tags", "--", repo_url, sha)
            except GitCommandError:
                # Servers that refuse unadvertised SHAs: fetch the branch, then look for the commit.
                if not branch:
                    raise
                ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
                log(f"$ git fetch --depth 50 {display_url} {ref}")
                repo.git.fetch("--depth", "50", "--no-tags", "--", repo_url, ref)
            repo.git.checkout("--detach", "--force", sha, "--")
            # Submodules are fetched if the repository has them; their URLs come from the repo.
            if (dest / ".gitmodules").exists():
                log("$ git submodule update --init --recursive --depth 1")
                repo.git.submodule("update", "--init", "--recursive", "--depth", "1")
    except GitCommandError as exc:
        detail = mask(git_reason(exc))
        if "not our ref" in detail or "did not match" in detail or "reference is not a tree" in detail \
                or "unable to read tree" in detail or "couldn't find remote ref" in detail:
            raise UserError(UserError.BUILD_COMMIT_NOT_FOUND, sha=sha, repo=display_url) from None
        raise UserError(UserError.BUILD_CLONE_FAILED, repo=display_url, detail=detail) from None
    head = repo.head.commit
    log(f"checked out {head.hexsha[:12]}: {head.summary}")
    return dest


def git_reason(exc: Exception) -> str:
    """git's own last line of complaint, with any credentials in URLs masked."""
    text = (getattr(exc, "stderr", None) or str(exc)).strip()
    lines = [ln.strip().removeprefix("stderr: ").strip("'") for ln in text.splitlines() if ln.strip()]
    return mask_url_credentials(lines[-1] if lines else "git failed")


def mask_url_credentials(text: str) -> str:
    """``https://user:secret@host/...`` -> ``https://***@host/...``, wherever it appears in ``text``."""
    return re.sub(r"(?<=//)[^/@\s]+@", "***@", text)


def ls_remote(repo_url: str, refs: Sequence[str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{ref: sha}`` for those of the full ref names ``refs`` the remote has.

    Annotated tags are peeled to the commit they point at.
    """
    from git.cmd import Git

    patterns = [p for ref in refs for p in (ref, f"{ref}^{{}}")]
    g = Git()
    with g.custom_environment(**{"GIT_TERMINAL_PROMPT": "0", **(env or {})}):
        out = g.ls_remote("--", repo_url, *patterns)
    found: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.endswith("^{}") and ref[:-3] in refs:
            peeled[ref[:-3]] = sha
        elif ref in refs:
            found[ref] = sha
    return {**found, **peeled}


def ls_remote_head(repo_url: str, branch: str, env: Mapping[str, str] | None = None) -> str | None:
    """The sha at the tip of ``branch`` on the remote, or None if there is no such branch."""
    return ls_remote(repo_url, [f"refs/heads/{branch}"], env).get(f"refs/heads/{branch}")


def has_refs(repo_url: str, env: Mapping[str, str] | None = None) -> bool:
    """False for a repository nothing was ever pushed to (no branches, no tags)."""
    from git.cmd import Git

    g = Git()
    with g.custom_environment(**{"GIT_TERMINAL_PROMPT": "0", **(env or {})}):
        return bool(g.ls_remote("--", repo_url).strip())
