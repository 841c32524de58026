"""Akash Network: SDL, manifest, on-chain messages, wallets and provider access."""
