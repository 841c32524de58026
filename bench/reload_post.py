"""Non-idempotent requests while the router Caddy reloads: which front configuration keeps them safe?

    .venv/bin/python bench/reload_post.py --admin unix:///DATA/run/caddy-admin.sock --router 127.0.0.1:2065 \
        [--seconds 15] [--variant current|nokeepalive|retryall]

Starts a small echo app on loopback and a front Caddy of its own (``deployer.caddy.front_config``, as
``scripts/services.sh`` starts it, with the variant's change), routes ``app.localhost`` through the
router, reloads the router every 20 ms with two alternating tables, and sends POSTs (half on kept-alive
connections, half on fresh ones) with a unique id each. It reports the POSTs that failed, how many of
those the app had processed anyway (their answer lost), and how many the app processed twice (a retry
repeated a side effect). The router's routes are emptied at the end: run it on a test instance only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from deployer.caddy import CaddyProxy, RouteTable, front_config  # noqa: E402

seen: Counter = Counter()


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        seen[self.headers.get("X-Id")] += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the proxy gave up on this request
            pass

    def log_message(self, *args):
        pass


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--router", required=True)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--variant", default="current", choices=["current", "nokeepalive", "retryall"])
    args = ap.parse_args()

    app = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    app.daemon_threads = True
    threading.Thread(target=app.serve_forever, daemon=True).start()
    upstream = f"127.0.0.1:{app.server_port}"

    port = free_port()
    config = front_config(f"127.0.0.1:{port}", args.router)
    proxy = config["apps"]["http"]["servers"]["slipway_front"]["routes"][0]["handle"][0]
    if args.variant == "nokeepalive":  # a fresh connection to the router for every request
        proxy["transport"] = {"protocol": "http", "keep_alive": {"enabled": False}}
    elif args.variant == "retryall":  # retry every method, not only GET, HEAD and OPTIONS
        proxy["load_balancing"]["retry_match"] = [{}]
    tmp = Path(tempfile.mkdtemp(prefix="reload-post-"))
    (tmp / "front.json").write_text(json.dumps(config))
    front = subprocess.Popen(["caddy", "run", "--config", str(tmp / "front.json")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL,
                             env={**os.environ, "XDG_DATA_HOME": str(tmp / "data"), "XDG_CONFIG_HOME": str(tmp / "config")})
    router = CaddyProxy(args.admin, args.router, "127.0.0.1:1")
    tables = [RouteTable(http={"app.localhost": upstream}),
              RouteTable(http={"app.localhost": upstream, "other.localhost": upstream})]
    stop = threading.Event()
    ok, failed, reloads = [0], [], [0]

    def reload() -> None:
        while not stop.is_set():
            router.apply(tables[reloads[0] % 2])
            reloads[0] += 1
            time.sleep(0.02)

    def load(fresh: bool) -> None:
        session = requests.Session()
        while not stop.is_set():
            rid = uuid.uuid4().hex
            headers = {"Host": "app.localhost", "X-Id": rid, **({"Connection": "close"} if fresh else {})}
            try:
                r = session.post(f"http://127.0.0.1:{port}/", data=b"x" * 512, headers=headers, timeout=10)
                if r.status_code == 200 and len(r.content) == 512:
                    ok[0] += 1
                else:
                    failed.append((rid, str(r.status_code)))
            except requests.RequestException as exc:
                failed.append((rid, type(exc).__name__))

    try:
        router.apply(tables[0])
        time.sleep(1.5)  # the front starts
        threads = [threading.Thread(target=reload)] + [threading.Thread(target=load, args=(n % 2 == 0,))
                                                      for n in range(6)]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
    finally:
        front.terminate()
        front.wait()
        router.apply(RouteTable())
    print(json.dumps({"variant": args.variant, "seconds": args.seconds, "reloads": reloads[0], "posts_ok": ok[0],
                      "failed": len(failed), "kinds": Counter(k for _, k in failed).most_common(3),
                      "failed_but_processed": sum(1 for rid, _ in failed if seen[rid]),
                      "processed_twice": sum(1 for n in seen.values() if n > 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
