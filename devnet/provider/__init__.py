"""The devnet's providers (the real provider API over HTTPS, leases run on Docker).

``serve_all`` is the node's hook: called once the chain and its REST API run, it starts the
providers and returns what must be stopped when the node stops (objects with ``stop()``).
This version starts none.
"""

from __future__ import annotations


def serve_all(node, settings) -> list:
    return []
