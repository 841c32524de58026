"""Slipway's own ways in besides GitHub: a git remote per project, and deploy hooks.

A project created with ``--git-push`` fetches its code from a bare repository Slipway
keeps at ``$SLIPWAY_DATA_DIR/git/<name>.git``; ``web/git_remote.py`` lets git clients
push there (HTTP Basic, password = the project's deploy token) and, after each push,
calls ``slipway.git_remote.pushes.deploy_pushed_refs`` to turn the ref updates into deployments.

A deploy hook is a secret URL that deploys the head of a project's branch (through
``slipway.deployments.request_deployment``, as every other way in); any project has one on request.

Workers never read the repository from disk: they may run on other machines. They fetch
over the remote's URL (``SLIPWAY_INTERNAL_URL``) with a fetch token (:func:`fetch_token`):
an HMAC of the project's name and an expiry under a key derived from ``SLIPWAY_SECRET_KEY``,
which the remote accepts for fetching and cloning that one project, never for pushing.

Secrets: the push token is kept only as a SHA-256 hash (it is shown once); the hook
token is kept encrypted because the dashboard and CLI show its URL again. The hook
token carries its project's id (``hook_<id>_<random>``) so a call finds its project
in one lookup and then compares in constant time.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from git import Repo
from sqlalchemy.orm import Session

from builder.git import mask_url_credentials
from slipway.crypto import decrypt, encrypt, new_token, token_hash, token_matches
from slipway.models import Project
from slipway.settings import Settings

log = logging.getLogger(__name__)

PUSH_TOKEN_PREFIX = "slw"
HOOK_TOKEN_PREFIX = "hook"
FETCH_TOKEN_PREFIX = "slwfetch"
# Long enough for a fetch that waits in the queue behind a slow one, short enough that one
# that leaked somewhere is soon worthless.
FETCH_TOKEN_TTL_S = 15 * 60
_FETCH_TOKEN_RE = re.compile(rf"{FETCH_TOKEN_PREFIX}_(\d{{1,12}})_([0-9a-f]{{64}})")
_HOOK_TOKEN_RE = re.compile(rf"{HOOK_TOKEN_PREFIX}_(\d{{1,9}})_[A-Za-z0-9_-]{{20,}}")
# Anything shaped like one of our tokens, for scrubbing log lines.
# API tokens (slipway.accounts.tokens, "slp_") too: they travel in headers, but a header can be logged.
TOKEN_PATTERN = re.compile(rf"\b({PUSH_TOKEN_PREFIX}|{HOOK_TOKEN_PREFIX}_\d+|{FETCH_TOKEN_PREFIX}|slp)_[A-Za-z0-9_-]{{20,}}")


def redact_tokens(text: str) -> str:
    return TOKEN_PATTERN.sub(lambda m: f"{m.group(1)}_[redacted]", text)


# -- where things are --------------------------------------------------------

def repositories_root(settings: Settings) -> Path:
    return settings.data_path.resolve() / "git"


def repository_path(settings: Settings, name: str) -> Path:
    return repositories_root(settings) / f"{name}.git"


def uses_git_remote(settings: Settings, name: str, repo_url: str) -> bool:
    """True if the project builds from Slipway's own repository (it was created with --git-push)."""
    return Path(repo_url) == repository_path(settings, name)


def remote_url(settings: Settings, name: str) -> str:
    return f"{settings.public_url.rstrip('/')}/git/{name}.git"


def is_git_remote_path(name: str, repo_url: str) -> bool:
    """True if ``repo_url`` is a ``--git-push`` project's repository, in whichever data dir holds it.

    A worker has a data dir of its own (maybe on another machine), so it cannot compare the
    path with its own :func:`repository_path`; the shape ``/.../git/<name>.git`` is what
    ``slipway project create --git-push`` records.
    """
    path = PurePosixPath(repo_url)
    return path.is_absolute() and path.name == f"{name}.git" and path.parent.name == "git"


def internal_remote_url(settings: Settings, name: str) -> str:
    """The git remote's URL as workers reach the web server (``SLIPWAY_INTERNAL_URL``)."""
    return f"{settings.internal_url.rstrip('/')}/git/{name}.git"


def hook_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/hooks/deploy/{token}"


# -- the bare repository -----------------------------------------------------

def ensure_repository(settings: Settings, name: str, branch: str) -> Path:
    """Create the project's bare repository if it does not exist yet; returns its path."""
    path = repository_path(settings, name)
    if (path / "HEAD").exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _init_repository(path, branch)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # never leave a half-made repository behind
        raise
    return path


def _init_repository(path: Path, branch: str) -> None:
    repo = Repo.init(path, bare=True, initial_branch=branch)
    with repo.config_writer() as cfg:
        # Pushes are authenticated by Slipway before git sees them.
        cfg.set_value("http", "receivepack", "true")
        # Reject corrupt objects at the door rather than at build time.
        cfg.set_value("receive", "fsckObjects", "true")
        # Force pushes may rewrite a branch; the reflog keeps what it pointed at before.
        cfg.set_value("core", "logAllRefUpdates", "always")
        # The builder fetches one commit by sha, which need not be a branch tip any more.
        cfg.set_value("uploadpack", "allowReachableSHA1InWant", "true")
    repo.close()


@contextmanager
def repository_lock(path: Path) -> Iterator[None]:
    """One push at a time per repository, so each ref change is seen by exactly one of them."""
    with open(path / "slipway.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- tokens ------------------------------------------------------------------

def issue_push_token(project: Project, settings: Settings) -> str:
    """A new deploy token for ``git push``; the previous one stops working. Only its hash is kept."""
    if not uses_git_remote(settings, project.name, project.repo_url):
        raise ValueError(
            f"project {project.name} builds from {mask_url_credentials(project.repo_url)}, not from Slipway's git "
            f"remote; push there. To deploy with `git push` to Slipway, create a project with --git-push."
        )
    token = new_token(PUSH_TOKEN_PREFIX)
    project.deploy_token_hash = token_hash(token)
    ensure_repository(settings, project.name, project.branch)
    return token


def _fetch_mac(settings: Settings, name: str, expires: int) -> str:
    if not settings.secret_key:
        raise ValueError("SLIPWAY_SECRET_KEY is not set; run `slipway init`")
    key = hmac.new(settings.secret_key.encode(), b"slipway git fetch tokens", hashlib.sha256).digest()
    return hmac.new(key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()


def fetch_token(settings: Settings, name: str, now: float | None = None) -> str:
    """A token that lets a worker fetch project ``name`` from the git remote for a few minutes.

    Made from ``SLIPWAY_SECRET_KEY`` alone, so any worker that has the key can make one and
    nothing is stored; it cannot push, nor read another project.
    """
    expires = int(time.time() if now is None else now) + FETCH_TOKEN_TTL_S
    return f"{FETCH_TOKEN_PREFIX}_{expires}_{_fetch_mac(settings, name, expires)}"


def fetch_token_valid(settings: Settings, name: str, token: str | None, now: float | None = None) -> bool:
    match = _FETCH_TOKEN_RE.fullmatch(token or "")
    if match is None or not settings.secret_key:
        return False
    expires = int(match.group(1))
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(match.group(2), _fetch_mac(settings, name, expires))


def internal_fetch(settings: Settings, name: str) -> tuple[str, dict[str, str]]:
    """(URL, git environment) a worker fetches a ``--git-push`` project with.

    The token travels as an ``http.extraheader`` in ``GIT_CONFIG_*`` variables, as GitHub's
    installation tokens do: never in the URL, on a command line or on disk.
    """
    from slipway.github.client import git_auth_env

    url = internal_remote_url(settings, name)
    return url, git_auth_env(fetch_token(settings, name), url)


def push_token_valid(project: Project, token: str | None) -> bool:
    return bool(token) and token_matches(token, project.deploy_token_hash)


def issue_hook_token(project: Project) -> str:
    """A new deploy hook token for ``project``; the previous URL stops working."""
    token = new_token(f"{HOOK_TOKEN_PREFIX}_{project.id}")
    project.deploy_hook_enc = encrypt(token)
    return token


def hook_token(project: Project) -> str | None:
    return decrypt(project.deploy_hook_enc) if project.deploy_hook_enc else None


def project_for_hook_token(session: Session, token: str) -> Project | None:
    """The project whose deploy hook ``token`` is, or None; one primary-key lookup."""
    match = _HOOK_TOKEN_RE.fullmatch(token or "")
    if not match:
        return None
    project = session.get(Project, int(match.group(1)))
    stored = hook_token(project) if project is not None else None
    if stored is None or not hmac.compare_digest(stored.encode(), token.encode()):
        return None
    return project
