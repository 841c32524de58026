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
# Each side-band-64k packet carries at most 65519 bytes; plain side-band at most 999.
SIDEBAND_MAX = 990


class GitHttpBackend:
    def __init__(self, project_root: Path, receive_pack: bool = False, push_options: bool = False):
        self.project_root = Path(project_root)
        self.receive_pack = receive_pack
        # Whether receive-pack advertises push options (`git push -o ...`); a client that gives one
        # to a server that does not is refused by git itself.
        self.push_options = push_options

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
        if self.push_options:
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="receive.advertisePushOptions", GIT_CONFIG_VALUE_0="true")
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


# -- pkt-line plumbing (gitprotocol-common, gitprotocol-pack) ----------------
# What Slipway adds to git's own answers: progress lines after a push, and the refusal of one.

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


def progress_packets(lines: list[str]) -> bytes:
    """Band-2 (progress) packets, one per line, which git prints as ``remote: <line>``."""
    return b"".join(pkt_line(b"\x02" + (line[:SIDEBAND_MAX] + "\n").encode()) for line in lines)


def before_final_flush(payload: bytes) -> bytes | None:
    """A side-band response without its final flush, or None if it is not a complete pkt-line stream
    ending in one (then it is best left as it is)."""
    pos, last = 0, -1
    try:
        while pos < len(payload):
            size = int(payload[pos:pos + 4], 16)
            if 0 < size < 4:
                return None
            last = pos
            pos += 4 if size == 0 else size
    except ValueError:
        return None
    if pos != len(payload) or last != len(payload) - 4 or payload[last:] != b"0000":
        return None
    return payload[:last]


def with_progress_lines(payload: bytes, lines: list[str]) -> bytes:
    """Add band-2 (progress) packets before the final flush of a side-band response.

    Anything that does not parse as a complete pkt-line stream ending in a flush is
    returned unchanged: a message is never worth breaking the push's answer.
    """
    head = before_final_flush(payload)
    return payload if head is None else head + progress_packets(lines) + b"0000"


def push_options(receive_pack_request: bytes) -> list[str]:
    """The push options (``git push -o KEY=VALUE``) of a push: the pkt-lines after its commands' flush.

    git sends them only when the first command line names the ``push-options`` capability;
    a request cut short before they end yields those read so far.
    """
    pos, first, options, in_options = 0, True, [], False
    while pos + 4 <= len(receive_pack_request):
        try:
            size = int(receive_pack_request[pos:pos + 4], 16)
        except ValueError:
            break
        if size == 0:
            if in_options:
                break
            in_options = True
            pos += 4
            continue
        if size < 4 or pos + size > len(receive_pack_request):
            break
        line = receive_pack_request[pos + 4:pos + size]
        if first:
            caps = line.split(b"\0", 1)[1].split() if b"\0" in line else []
            if b"push-options" not in caps:
                return []
            first = False
        elif in_options:
            options.append(line.rstrip(b"\n").decode("utf-8", "replace"))
        pos += size
    return options


def pushed_refs(receive_pack_request: bytes) -> list[str]:
    """The refs a push updates, from its command pkt-lines (before the flush)."""
    refs, pos = [], 0
    while pos + 4 <= len(receive_pack_request):
        try:
            size = int(receive_pack_request[pos:pos + 4], 16)
        except ValueError:
            break
        if size < 4 or pos + size > len(receive_pack_request):
            break
        line = receive_pack_request[pos + 4:pos + size].split(b"\0", 1)[0].rstrip(b"\n")
        parts = line.split(b" ")
        if len(parts) == 3 and not line.startswith(b"shallow "):
            refs.append(parts[2].decode("utf-8", "replace"))
        pos += size
    return refs


def refusal_report(receive_pack_request: bytes, message: str, reason: str) -> bytes:
    """A receive-pack answer that rejects every ref of the push with ``reason``, after ``message``."""
    report = pkt_line(f"unpack {reason}\n".encode()) + b"".join(
        pkt_line(f"ng {ref} {reason}\n".encode()) for ref in pushed_refs(receive_pack_request)) + b"0000"
    if not asks_for_sideband(receive_pack_request):
        return report
    chunks = [report[i:i + SIDEBAND_MAX] for i in range(0, len(report), SIDEBAND_MAX)]
    return (pkt_line(b"\x02" + (message[:SIDEBAND_MAX] + "\n").encode())
            + b"".join(pkt_line(b"\x01" + chunk) for chunk in chunks) + b"0000")
