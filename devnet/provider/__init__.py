"""The devnet's providers (the real provider API over HTTPS, leases run on Docker).

Hooks the rest of the devnet calls:
- ``serve_all(node, settings)``: called by ``devnet.node.run`` once the chain and its REST API
  answer; starts the providers of ``devnet.config.PROVIDERS`` and returns what must be stopped
  when the node stops (objects with ``stop()``). Each provider reads the chain and bids through
  the node's public REST API (``node.rest_url``) with Slipway's own chain client, as a real
  provider uses its node.
- ``cli``: the click group ``devnet.cli`` adds as ``slipway devnet provider``.
"""

from __future__ import annotations

from decimal import Decimal

from slipway.settings import Settings


def build_providers(rest_url: str, settings: Settings) -> list:
    """One ``DevnetProvider`` per ``devnet.config.PROVIDERS`` entry, not yet started."""
    from deployer.akash.chain import CosmpyChain, Signer
    from devnet import config
    from devnet.node import provider_wallet
    from devnet.provider.bidding import BidEngine, Offer
    from devnet.provider.chainview import Resources, RestChainView
    from devnet.provider.cluster import DockerCluster
    from devnet.provider.control import provider_dir
    from devnet.provider.service import ChainBidder, DevnetProvider, self_signed_certificate

    signer = Signer(CosmpyChain(settings.akash_chain_id, rest_url), gas_price=Decimal(settings.akash_gas_price))
    providers = []
    for spec in config.PROVIDERS:
        wallet = provider_wallet(spec)
        directory = provider_dir(settings.devnet_path, spec.name)
        chain = RestChainView(rest_url)
        offer = Offer(
            address=wallet.address,
            attributes=tuple(spec.attributes),
            price=spec.price_per_block_uact,
            denom=config.DEPOSIT_DENOM,
            capacity=Resources(spec.cpu_millis, spec.memory_bytes, spec.storage_bytes),
        )
        providers.append(DevnetProvider(
            name=spec.name,
            address=wallet.address,
            chain=chain,
            bid_engine=BidEngine(offer, chain, ChainBidder(signer, wallet)),
            cluster=DockerCluster(settings.docker_host, spec.name, directory / "leases"),
            tls=self_signed_certificate(directory, wallet.address),
            port=settings.devnet_port_n + spec.port_offset,
            tick_s=settings.devnet_block_time_s,
        ))
    return providers


def serve_all(node, settings: Settings) -> list:
    from devnet.provider.control import Supervisor

    rest_url = getattr(node, "rest_url", None) or settings.akash_rest_url
    providers = build_providers(rest_url, settings)
    supervisor = Supervisor(settings.devnet_path, providers)
    supervisor.start()
    for provider in providers:
        state = "running" if provider.running else "stopped (slipway devnet provider start NAME)"
        print(f"devnet: provider {provider.name} {provider.address} on {provider.url}: {state}", flush=True)
    return [supervisor]


# `slipway devnet provider list|stop|start` (devnet/cli.py adds this group under `devnet`).
from devnet.provider.commands import provider as cli

__all__ = ["build_providers", "cli", "serve_all"]
