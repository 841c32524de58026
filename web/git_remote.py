"""Built-in git remote: `git push http://HOST/git/PROJECT.git main` deploys.

Every request (push, clone, fetch) needs HTTP Basic auth whose password is the
project's deploy token; git itself (``git http-backend``) does the rest. A push is
handled under a per-repository lock: git stores it, then ``deploy_pushed_refs``
compares the refs with those last deployed and queues a deployment if the tracked
branch moved. What it did is added to git's own answer as progress messages
(side-band 2), which the client prints as ``remote: ...`` lines.

Why not a ``post-receive`` hook: it runs inside git, without the database or Redis,
and cannot know the deployment id it would announce. Reading the refs in the
wrapper, against a record that is advanced only after the deployment is queued,
means a push git accepted is always either deployed or reported as not deployed,
and is deployed by the next push if this request died in between.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from slipway.db import session_scope
from slipway.git_http import GitHttpBackend
from slipway.git_remote import (
    deploy_pushed_refs,
    ensure_repository,
    push_token_valid,
    repositories_root,
    repository_lock,
    uses_git_remote,
)
from slipway.projects import get_project_by_name
from slipway.settings import Settings
from slipway.validation import is_project_name

bp = Blueprint("git_remote", __name__)

# Each side-band-64k packet carries at most 65519 bytes; plain side-band at most 999.
_SIDEBAND_MAX = 990


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


def _text(status: int, message: str, headers: dict | None = None) -> Response:
    # git prints text/plain error bodies to the user as "remote: ..." lines.
    return Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain", headers=headers)


@bp.route("/git/<name>.git/<path:rest>", methods=["GET", "POST"])
def git(name: str, rest: str):
    settings = _settings()
    if not is_project_name(name) or ".." in rest.split("/"):
        return _text(404, "Slipway: no such repository")
    with session_scope(settings) as session:
        project = get_project_by_name(session, name)
        if project is None:
            return _text(404, f"Slipway: no project named {name!r}")
        auth = request.authorization
        password = auth.password if auth is not None and auth.type == "basic" else None
        if not push_token_valid(project, password):
            return _text(401, f"Slipway: authentication required. Give any username and project {name}'s "
                              f"deploy token as the password (`slipway project token {name}` makes a new one).",
                         headers={"WWW-Authenticate": 'Basic realm="Slipway"'})
        if not uses_git_remote(settings, project.name, project.repo_url):
            return _text(403, f"Slipway: project {name} builds from its own repository, not from this remote; "
                              "push there.")
        project_id, branch = project.id, project.branch

    path = ensure_repository(settings, name, branch)
    max_bytes = int(settings.git_push_max_bytes)
    request.max_content_length = max_bytes
    try:
        body = request.get_data()
    except RequestEntityTooLarge:
        return _text(413, f"Slipway: pushes larger than {max_bytes // (1024 * 1024)} MB are refused "
                          "(SLIPWAY_GIT_PUSH_MAX_BYTES).")
    environ = {
        **request.environ,
        "PATH_INFO": f"/{name}.git/{rest}",
        "SCRIPT_NAME": "",
        "REMOTE_USER": "slipway",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    backend = GitHttpBackend(repositories_root(settings), receive_pack=True)

    if request.method == "POST" and rest == "git-receive-pack":
        with repository_lock(path):
            status, headers, payload = _run(backend, environ)
            lines = deploy_pushed_refs(settings, project_id, path) if status.startswith("200") else []
        if lines and asks_for_sideband(body):
            payload = with_progress_lines(payload, lines)
    else:
        status, headers, payload = _run(backend, environ)
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return Response(payload, status=status, headers=headers)


def _run(app: Callable, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=list(headers))

    payload = b"".join(app(environ, start_response))
    return started["status"], started["headers"], payload


# -- pkt-line plumbing (gitprotocol-common, gitprotocol-pack) ----------------

def pkt_line(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def asks_for_sideband(receive_pack_request: bytes) -> bool:
    """True if the push's first command line asks for side-band(-64k) progress."""
    try:
        size = int(receive_pack_request[:4], 16)
    except ValueError:
        return False
    first = receive_pack_request[4:size]
    if b"\0" not in first:
        return False
    caps = first.split(b"\0", 1)[1].split()
    return b"side-band-64k" in caps or b"side-band" in caps


def with_progress_lines(payload: bytes, lines: list[str]) -> bytes:
    """Add band-2 (progress) packets before the final flush of a side-band response.

    Anything that does not parse as a complete pkt-line stream ending in a flush is
    returned unchanged: a message is never worth breaking the push's answer.
    """
    pos, last = 0, -1
    try:
        while pos < len(payload):
            size = int(payload[pos:pos + 4], 16)
            if 0 < size < 4:
                return payload
            last = pos
            pos += 4 if size == 0 else size
    except ValueError:
        return payload
    if pos != len(payload) or last != len(payload) - 4 or payload[last:] != b"0000":
        return payload
    extra = b"".join(pkt_line(b"\x02" + (line[:_SIDEBAND_MAX] + "\n").encode()) for line in lines)
    return payload[:last] + extra + b"0000"
