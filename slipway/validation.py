"""What users may hand Slipway: names, branches, commits, repository URLs and ids.

Every pattern matches the whole string (``re.fullmatch``): ``$`` also matches before a
trailing newline, so ``"site\\n"`` would pass a ``^...$`` check. The ``*_problem``
functions return None for a good value, or a sentence saying what to fix.

Nothing a user typed may reach git where git could read it as an option: commits are
hex SHAs or ref names, ref names and URLs never start with ``-``, and the git calls put
``--`` before user values as well (``builder/git.py``).
"""

from __future__ import annotations

import re

PROJECT_NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
# An abbreviated or full SHA-1 commit id, or a full SHA-256 one.
COMMIT_SHA_RE = re.compile(r"[0-9a-f]{7,40}|[0-9a-f]{64}")
FULL_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

BRANCH_MAX = 255  # Project.branch and Deployment.branch
REPO_URL_MAX = 500  # Project.repo_url
# Ids GitHub sends are stored as 64-bit signed integers (BigInteger), pull request numbers as 32-bit.
INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

# git check-ref-format(1): no control characters, space, ~ ^ : ? * [ or backslash anywhere.
_REF_FORBIDDEN_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://.+")
# git's own remote-helper syntax, <transport>::<address> (ext:: runs a command).
_HELPER_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*::.*")


def shown(value: str, limit: int = 60) -> str:
    """``repr`` of a user value, cut short so that a 5,000-character name makes a readable error."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def is_project_name(name: object) -> bool:
    return isinstance(name, str) and PROJECT_NAME_RE.fullmatch(name) is not None


def is_env_name(name: object) -> bool:
    return isinstance(name, str) and ENV_NAME_RE.fullmatch(name) is not None


def is_commit_sha(value: object) -> bool:
    """7-40 hex digits (SHA-1, possibly abbreviated) or 64 (SHA-256); lowercase."""
    return isinstance(value, str) and COMMIT_SHA_RE.fullmatch(value) is not None


def is_full_sha(value: object) -> bool:
    return isinstance(value, str) and FULL_SHA_RE.fullmatch(value) is not None


def ref_name_problem(name: str) -> str | None:
    """Why ``name`` is not a ref name git accepts (``git check-ref-format``), or None.

    Also refuses what ``--branch`` refuses (a leading ``-``, ``HEAD``) and names longer
    than :data:`BRANCH_MAX`, so the same check serves branch and tag names.
    """
    if not name:
        return "it is empty"
    if len(name) > BRANCH_MAX:
        return f"it is {len(name)} characters long; the limit is {BRANCH_MAX}"
    if name.startswith("-"):
        return "it starts with '-'"
    if _REF_FORBIDDEN_RE.search(name):
        return "it contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in name:
        return "it contains '..'"
    if "@{" in name or name == "@":
        return "it contains '@{' or is '@'"
    if name.startswith("/") or name.endswith("/") or "//" in name:
        return "it starts or ends with '/' or contains '//'"
    if name.endswith("."):
        return "it ends with '.'"
    if any(part.startswith(".") or part.endswith(".lock") for part in name.split("/")):
        return "a part between slashes starts with '.' or ends with '.lock'"
    if name == "HEAD":
        return "HEAD is not a branch"
    return None


def branch_problem(branch: str) -> str | None:
    """A sentence saying why ``branch`` cannot be a project's branch, or None."""
    if not isinstance(branch, str):
        return "the branch must be a name such as main"
    if branch.startswith("refs/"):
        return f"branch {shown(branch)} must be a branch name such as main, without refs/"
    reason = ref_name_problem(branch)
    if reason:
        return f"branch {shown(branch)} is not a valid git branch name: {reason}"
    return None


def repo_url_problem(url: str) -> str | None:
    """Why ``url`` is not a repository Slipway may fetch from, or None.

    Accepted: ``https://``, ``http://``, ``ssh://``, ``git://`` and ``file://`` URLs,
    scp-like ``git@host:owner/repo.git``, and paths on this machine (a ``--git-push``
    project's own repository is one). Never anything git could read as an option, nor
    git's ``transport::address`` helper syntax (``ext::`` runs a command).
    """
    if not url:
        return "a repository URL is required"
    what = f"repository URL {shown(url)}"
    if len(url) > REPO_URL_MAX:
        return f"{what} is longer than {REPO_URL_MAX} characters"
    if url.startswith("-"):
        return f"{what} must not start with '-'"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return f"{what} must not contain control characters such as a newline"
    scheme = _SCHEME_RE.fullmatch(url)
    if scheme and any(c.isspace() for c in url):
        return f"{what} must not contain spaces (write them as %20)"
    if scheme and scheme.group(1).lower() not in _URL_SCHEMES:
        return f"{what} must use one of {', '.join(s + '://' for s in _URL_SCHEMES)}, or be git@host:path or a path"
    if not scheme and "://" in url:
        return f"{what} has no host or path after '://'"
    if not scheme and _HELPER_RE.fullmatch(url):
        return f"{what} uses git's transport::address form, which Slipway does not fetch from"
    return None


def is_int_id(value: object, maximum: int = INT64_MAX) -> bool:
    """A positive integer that fits the database column (never a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= maximum
