"""Built-in git remote: `git push http://HOST/git/PROJECT.git main` deploys.

Every request (push, clone, fetch) needs HTTP Basic auth whose password is the
project's deploy token, or, for fetching and cloning only, a worker's fetch token
(``slipway.git_remote.fetch_token``); git itself (``git http-backend``) does the rest. A push is
handled under a per-repository lock: git stores it, then ``deploy_pushed_refs``
compares the refs with those last deployed and queues a deployment if the tracked
branch moved. What it did is added to git's own answer as progress messages
(side-band 2), which the client prints as ``remote: ...`` lines.

Why not a ``post-receive`` hook: it runs inside git, without the database or Redis,
and cannot know the deployment id it would announce. Reading the refs in the
wrapper, against a record that is advanced only after the deployment is queued,
means a push git accepted is always either deployed or reported as not deployed,
and is deployed by the next push if this request died in between.

Then, as Heroku does, the answer stays open and follows the deployment's build log until it
ends (``slipway.git_remote.follow``): the pusher sees a failed build in the same terminal.
``git push -o slipway.follow=false`` or ``SLIPWAY_GIT_PUSH_FOLLOW_TIMEOUT=0`` skips it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

from flask import Blueprint, Response, current_app, request

from slipway.crypto import token_hash
from slipway.db import session_scope
from slipway.git_remote import (
    ensure_repository,
    fetch_token_valid,
    push_token_valid,
    repositories_root,
    repository_lock,
    uses_git_remote,
)
from slipway.git_remote.follow import follow_lines, wants_follow
from slipway.git_remote.pushes import deploy_push
from slipway.git_remote.smart_http import (
    BODY_FILE,
    GitHttpBackend,
    asks_for_sideband,
    before_final_flush,
    progress_packets,
    push_options,
    refusal_report,
    with_progress_lines,
)
from slipway.projects import get_project_by_name
from slipway.queue import redis_connection
from slipway.settings import Settings
from slipway.validation import is_project_name
from web.bodies import BodyTooLarge, discard_after_answer, spool_limited

bp = Blueprint("git_remote", __name__)
log = logging.getLogger(__name__)

# The commands of a push (one pkt-line per ref) come before its pack: enough to read them.
_HEAD_BYTES = 64 * 1024
# Stands in for an unknown project, so its request costs the same hash comparison.
_NOBODY = SimpleNamespace(deploy_token_hash=token_hash("slipway-no-such-project"))


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
        auth = request.authorization
        password = auth.password if auth is not None and auth.type == "basic" else None
        # An unknown project is answered exactly as a known one without its token, so that
        # strangers cannot learn which names exist (the hash is compared either way).
        token_ok = push_token_valid(project or _NOBODY, password)
        # A worker's fetch token reads this one project and never pushes (nor asks what a push would see).
        fetch_only = not token_ok and _is_fetch(request.method, rest, request.args.get("service"))
        if fetch_only:
            token_ok = fetch_token_valid(settings, name, password)
        if project is None or not token_ok:
            return _text(401, f"Slipway: authentication required. Give any username and project {name}'s "
                              f"deploy token as the password (`slipway project token {name}` makes a new one).",
                         headers={"WWW-Authenticate": 'Basic realm="Slipway"'})
        if not uses_git_remote(settings, project.name, project.repo_url):
            return _text(403, f"Slipway: project {name} builds from its own repository, not from this remote; "
                              "push there.")
        project_id, branch = project.id, project.branch

    path = ensure_repository(settings, name, branch)
    max_bytes = int(settings.git_push_max_bytes)
    receive_pack = request.method == "POST" and rest == "git-receive-pack"
    try:
        body, size = spool_limited(request, max_bytes)
    except BodyTooLarge as exc:
        response = _too_large(max_bytes, exc.head if receive_pack else None)
        response.call_on_close(lambda rest=exc.rest: discard_after_answer(rest))
        return response
    with body:
        head = body.read(_HEAD_BYTES)
        body.seek(0)
        environ = {
            **request.environ,
            "PATH_INFO": f"/{name}.git/{rest}",
            "SCRIPT_NAME": "",
            "REMOTE_USER": "slipway",
            "CONTENT_LENGTH": str(size),
            BODY_FILE: body,
        }
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        backend = GitHttpBackend(repositories_root(settings), receive_pack=not fetch_only, push_options=True)

        followed = None
        if receive_pack:
            with repository_lock(path):
                status, headers, payload = _run(backend, environ)
                lines, deployment_id = deploy_push(settings, project_id, path) if status.startswith("200") \
                    else ([], None)
            if lines and asks_for_sideband(head):
                if deployment_id is not None and wants_follow(settings, push_options(head)):
                    if _followers.acquire(blocking=False):
                        followed = deployment_id
                    else:
                        lines.append(f"Slipway: {MAX_FOLLOWERS} pushes are being followed already on this server; "
                                     f"follow this one at {settings.deployment_url(deployment_id)}")
                payload = with_progress_lines(payload, lines)
        else:
            status, headers, payload = _run(backend, environ)
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    opened = before_final_flush(payload) if followed is not None else None
    if opened is not None:
        # git has stored the push and prints "remote:" lines until the final flush: the answer stays
        # open while the deployment runs (lock released, no database session held).
        release = _release_once()
        response = Response(_following(settings, followed, opened, release), status=status, headers=headers)
        response.call_on_close(release)  # also when the answer is dropped before it started
        return response
    if followed is not None:
        _followers.release()
    return Response(payload, status=status, headers=headers)


# Each followed push holds one of the web server's request threads until its deployment ends (or
# SLIPWAY_GIT_PUSH_FOLLOW_TIMEOUT): a few per process, so pushes never take every thread from the
# dashboard and the API; past them a push is answered at once with the deployment's URL.
MAX_FOLLOWERS = 4
_followers = threading.BoundedSemaphore(MAX_FOLLOWERS)


def _release_once() -> Callable[[], None]:
    done = threading.Lock()

    def release() -> None:
        if done.acquire(blocking=False):
            _followers.release()

    return release


def _following(settings: Settings, deployment_id: int, opened: bytes, release: Callable[[], None]) -> Iterator[bytes]:
    try:
        yield opened
        for line in follow_lines(settings, redis_connection(settings), deployment_id):
            yield progress_packets([line])
    except Exception:  # noqa: BLE001 - the push is stored and its deployment runs: only the watching stops
        log.warning("git push: following deployment %s stopped", deployment_id, exc_info=True)
        yield progress_packets([f"Slipway: could not follow the build; see {settings.deployment_url(deployment_id)}"])
    finally:
        release()
    yield b"0000"


def _is_fetch(method: str, rest: str, service: str | None) -> bool:
    """The two requests of a smart-HTTP fetch or clone: the ref advertisement and the pack."""
    return (method == "GET" and rest == "info/refs" and service == "git-upload-pack") or \
        (method == "POST" and rest == "git-upload-pack")


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f}".removesuffix(".0")


def _too_large(max_bytes: int, receive_pack_head: bytes | None) -> Response:
    """The refusal of a body over SLIPWAY_GIT_PUSH_MAX_BYTES, read no further than the limit.

    git prints no body of a failed push request (only "RPC failed; HTTP 413"), so a push
    is answered the way git-receive-pack itself refuses one: a progress line and a
    report that names each ref as rejected, which git shows as ``remote:`` and
    ``! [remote rejected] main -> main (...)``.
    """
    message = f"Slipway: pushes larger than {_megabytes(max_bytes)} MB are refused (SLIPWAY_GIT_PUSH_MAX_BYTES)."
    if receive_pack_head is None:
        return _text(413, message)
    reason = f"push larger than {_megabytes(max_bytes)} MB (SLIPWAY_GIT_PUSH_MAX_BYTES)"
    return Response(refusal_report(receive_pack_head, message, reason), status=200,
                    content_type="application/x-git-receive-pack-result", headers={"Cache-Control": "no-cache"})


def _run(app: Callable, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    started: dict = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=list(headers))

    payload = b"".join(app(environ, start_response))
    return started["status"], started["headers"], payload
