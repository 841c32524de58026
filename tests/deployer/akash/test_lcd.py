"""Reading an Akash node's REST API survives a dropped connection: a GET is asked once more."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from deployer.akash.lcd import Lcd, LcdError


class DropsFirst:
    """A real HTTP server on loopback that closes the first ``drops`` connections as soon as it has read
    their request (what a node or load balancer closing a kept-alive connection looks like to the
    client: no answer at all), then answers the rest with a small JSON body."""

    def __init__(self, drops: int):
        self.drops = drops
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536)
                self.requests.append(request)
                if len(self.requests) <= self.drops:
                    continue  # closed without a word
                body = json.dumps({"block": {"header": {"height": "7"}}}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server():
    made: list[DropsFirst] = []

    def make(drops: int) -> DropsFirst:
        made.append(DropsFirst(drops))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_a_read_the_node_drops_is_asked_again_once(server):
    node = server(drops=1)
    answer = Lcd(f"rest+http://127.0.0.1:{node.port}").get("/cosmos/base/tendermint/v1beta1/blocks/latest")
    assert answer == {"block": {"header": {"height": "7"}}}
    assert len(node.requests) == 2 and all(r.startswith(b"GET /cosmos/base/") for r in node.requests)


def test_a_node_that_keeps_dropping_reads_is_an_lcd_error_after_the_retry(server):
    node = server(drops=10)
    with pytest.raises(LcdError) as failed:
        Lcd(f"http://127.0.0.1:{node.port}").get("/cosmos/base/tendermint/v1beta1/blocks/latest")
    assert "does not answer" in str(failed.value)
    assert len(node.requests) == 2  # asked once more, not forever
