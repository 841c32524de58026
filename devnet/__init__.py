"""Slipway's local Akash network: a chain with a node's REST API, and devnet providers.

``slipway devnet`` runs it in one process (``devnet.node.run``). Its fixed facts, shared by the
chain and the providers, are in ``devnet.config``.
"""
