"""The devnet's providers (the real provider API over HTTPS, leases run on Docker).

Hooks the rest of the devnet calls:
- ``serve_all(node, settings)``: called by ``devnet.node.run`` once the chain and its REST API
  answer; starts the providers and returns what must be stopped when the node stops (objects
  with ``stop()``). ``node.rest_url`` is the ``rest+http://...`` address for
  ``deployer.akash.chain.CosmpyChain``; ``devnet.node.provider_wallet(spec)`` is a provider's key.
- ``cli`` (optional): a click group ``devnet.cli`` adds as ``slipway devnet provider``.

This version starts none.
"""

from __future__ import annotations


def serve_all(node, settings) -> list:
    return []
