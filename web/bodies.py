"""Reading request bodies with a size limit that holds for chunked uploads too.

``Transfer-Encoding: chunked`` has no ``Content-Length`` to check up front, and
Werkzeug's stream then simply stops at ``max_content_length``: a body cut short looks
like a complete one (so a webhook failed its signature check with 401). Here the
limit is set one byte higher, so a body that goes past it is seen and refused, and
never more than ``max_bytes + 1`` bytes are read.
"""

from __future__ import annotations

import tempfile
from typing import IO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

CHUNK = 64 * 1024
# Bodies up to this size stay in memory; larger ones go to a temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
# How much of a refused body is read (and dropped) after the answer, see discard_after_answer.
DISCARD_AFTER_ANSWER = 4 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is longer than the limit; nothing much past the limit was read.

    ``head`` holds the body's first bytes (up to 64 KiB) when they were read.
    """

    def __init__(self, head: bytes = b"", rest: IO[bytes] | None = None):
        super().__init__("request body too large")
        self.head = head
        self.rest = rest  # the unread remainder, for discard_after_answer


def discard_after_answer(rest: IO[bytes] | None, at_most: int = DISCARD_AFTER_ANSWER) -> None:
    """Read and drop up to ``at_most`` more bytes of a refused body (call once the answer is sent).

    A server that closes a connection with unread request bytes resets it, and a client
    still uploading may lose the answer it had already been sent. Reading on for a little
    while lets it see the answer; nothing is kept, and the reading stops at ``at_most``.
    """
    if rest is None:
        return
    try:
        while at_most > 0:
            chunk = rest.read(min(CHUNK, at_most))
            if not chunk:
                return
            at_most -= len(chunk)
    except Exception:  # noqa: BLE001 - the client went away: nothing left to do
        return


def read_limited(request: Request, max_bytes: int) -> bytes:
    """The whole body (cached on the request), or BodyTooLarge."""
    request.max_content_length = max_bytes + 1
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise BodyTooLarge() from None
    if len(body) > max_bytes:
        raise BodyTooLarge()
    return body


def spool_limited(request: Request, max_bytes: int) -> tuple[IO[bytes], int]:
    """The body copied chunk by chunk into a temporary file (in memory while small), and its size.

    Stops reading as soon as the body goes past ``max_bytes`` (BodyTooLarge), whether
    it declared a ``Content-Length`` or came chunked.
    """
    # Werkzeug's stream: bounded by Content-Length, or the server-terminated chunked input.
    stream = get_input_stream(request.environ, max_content_length=None)
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise BodyTooLarge(stream.read(min(CHUNK, declared)), stream)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
    head, size = b"", 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        if not head:
            head = chunk
        size += len(chunk)
        if size > max_bytes:
            spool.close()
            raise BodyTooLarge(head, stream)
        spool.write(chunk)
    spool.seek(0)
    return spool, size
