"""Akash objects built from Slipway's settings: wallets and the transaction signer."""

from __future__ import annotations

from decimal import Decimal

from deployer.akash.chain import Chain, CosmpyChain, Signer
from deployer.akash.wallet import Wallets
from slipway.settings import Settings


class AkashNotConfigured(RuntimeError):
    pass


def wallets(settings: Settings) -> Wallets:
    """The funding wallet and per-project deployer wallets, held in memory only."""
    if not settings.akash_funding_mnemonic:
        raise AkashNotConfigured("set SLIPWAY_AKASH_FUNDING_MNEMONIC to deploy on Akash")
    return Wallets(settings.akash_funding_mnemonic, settings.akash_deployer_mnemonic or None)


def chain(settings: Settings) -> Chain:
    """The node Slipway talks to: its REST API when set (the local network's by default), else gRPC."""
    url = settings.akash_rest_url or settings.akash_grpc_url
    if not url:
        raise AkashNotConfigured("set SLIPWAY_AKASH_REST_URL (or SLIPWAY_AKASH_GRPC_URL) to an Akash node's address")
    return CosmpyChain(settings.akash_chain_id, url)


def signer(settings: Settings, chain_: Chain | None = None) -> Signer:
    return Signer(chain_ or chain(settings), gas_multiplier=float(settings.akash_gas_multiplier),
                  gas_price=Decimal(settings.akash_gas_price))
