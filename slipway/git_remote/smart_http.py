"""Serve bare repositories over git's smart HTTP protocol through ``git http-backend``.

A WSGI app that runs git's own CGI program, so clones and pushes speak exactly
what git speaks. Used by the test suite to stand in for GitHub's git hosting and
by Slipway's built-in git remote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Iterable

from werkzeug.wrappers import Request, Response

# A caller that has the body in a file already passes it under this environ key (with
# CONTENT_LENGTH set): git reads it from there, and it is never held in memory here.
BODY_FILE = "slipway.body_file"


class GitHttpBackend:
    def __init__(self, project_root: Path, receive_pack: bool = False):
        self.project_root = Path(project_root)
        self.receive_pack = receive_pack

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        body_file = environ.get(BODY_FILE)
        body = b"" if body_file is not None else request.get_data()
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(self.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string.decode(),
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": environ["CONTENT_LENGTH"] if body_file is not None else str(len(body)),
            "REMOTE_ADDR": request.remote_addr or "127.0.0.1",
            "REMOTE_USER": environ.get("REMOTE_USER", "slipway") if self.receive_pack else "",
            "GIT_HTTP_RECEIVE_PACK": "true" if self.receive_pack else "false",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if request.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
        if request.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = request.headers["Git-Protocol"]
        if body_file is not None:
            proc = subprocess.run(["git", "http-backend"], stdin=body_file, env=env, capture_output=True, check=False)
        else:
            proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = "200 OK"
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        if proc.returncode != 0 and not head:
            return Response(proc.stderr or b"git http-backend failed", status=500)(environ, start_response)
        start_response(status, headers)
        return [payload]
