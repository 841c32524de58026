"""The devnet's own wallets (faucet, providers, auditor), HD-derived from its public mnemonic."""

from __future__ import annotations

from deployer.akash.wallet import Wallet, wallet_from_mnemonic
from devnet import config


def devnet_wallet(index: int, label: str) -> Wallet:
    return wallet_from_mnemonic(config.DEVNET_MNEMONIC, index, label)


def provider_wallet(spec: config.ProviderSpec) -> Wallet:
    return devnet_wallet(spec.hd_index, f"provider-{spec.name}")
