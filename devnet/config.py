"""The local network's fixed facts, shared by the chain (devnet.chain) and the providers (devnet.provider).

Everything here is public on purpose: the devnet's keys hold play money on one machine, like
Hardhat's well-known accounts. Never use ``DEVNET_MNEMONIC`` on a real network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from slipway.settings import DEVNET_CHAIN_ID

CHAIN_ID = DEVNET_CHAIN_ID
NETWORK_LABEL = "local"

GAS_DENOM = "uakt"  # fees, and what MsgMintACT burns
DEPOSIT_DENOM = "uact"  # deposits and prices since the BME upgrade; not transferable
BECH32_PREFIX = "akash"

# The node's default minimum gas price, and the smallest deployment deposit since v2.0.0.
MIN_GAS_PRICE = Decimal("0.0025")  # uakt per unit of gas
MIN_DEPOSIT_UACT = 500_000
MIN_DEPOSIT_UAKT = 500_000  # only through MsgAccountDeposit to an existing deployment

# BME: MsgMintACT burns uakt and credits uact at MINT_PRICE (uact per uakt, i.e. the AKT price in
# USD with ACT = 1 USD) less MINT_SPREAD_BPS, settled at the next mint epoch (every
# MINT_EPOCH_BLOCKS blocks); a mint below MIN_MINT_UACT is refused.
MINT_PRICE = Decimal("1.25")
MINT_SPREAD_BPS = 25
MINT_EPOCH_BLOCKS = 10
MIN_MINT_UACT = 10_000_000

# Keys of the devnet's own accounts (providers, auditor): HD indexes of this public mnemonic,
# path m/44'/118'/0'/0/INDEX (deployer.akash.wallet.wallet_from_mnemonic).
DEVNET_MNEMONIC = (
    "crash fatal absent alley inflict scatter notice rival ugly alert basic still "
    "recycle hammer start unusual hire host woman grain betray pole hollow tired"
)
FAUCET_INDEX = 0  # pays `slipway devnet fund` (a bank send, as a faucet does)
AUDITOR_INDEX = 1

# Genesis balances.
FAUCET_GENESIS_UAKT = 1_000_000_000_000_000
FUNDING_GENESIS_UAKT = 1_000_000_000_000  # 1,000,000 AKT for the funding wallet
FUNDING_GENESIS_UACT = 0  # ACT is minted with MsgMintACT, as on mainnet
PROVIDER_GENESIS_UAKT = 10_000_000_000  # 10,000 AKT each: gas for bids
PROVIDER_GENESIS_UACT = 1_000_000_000  # 1,000 ACT each: bid deposits
# A bid carries a deposit (MsgCreateBid.deposit, sources [balance]) of at least this, returned when
# the bid closes or loses.
BID_MIN_DEPOSIT_UACT = 500_000
AUDITOR_GENESIS_UAKT = 1_000_000_000


@dataclass(frozen=True)
class ProviderSpec:
    """One devnet provider: its key, where it listens, what it offers and asks."""

    name: str
    hd_index: int  # key: DEVNET_MNEMONIC at this index
    port_offset: int  # its HTTPS port is SLIPWAY_DEVNET_PORT + port_offset, on loopback
    attributes: tuple[tuple[str, str], ...]
    price_per_block_uact: Decimal  # what it bids per block for one group (<= the order's price)
    cpu_millis: int  # capacity, summed over its open leases
    memory_bytes: int
    storage_bytes: int
    audited: bool  # the auditor signed its attributes (genesis audit record)

    @property
    def host_port_offset(self) -> int:
        return self.port_offset


GIB = 1024**3

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="cedar",
        hd_index=2,
        port_offset=11,
        attributes=(("region", "us-west"), ("host", "akash"), ("tier", "community"), ("organization", "cedar")),
        price_per_block_uact=Decimal(100),
        cpu_millis=8000,
        memory_bytes=16 * GIB,
        storage_bytes=200 * GIB,
        audited=True,
    ),
    ProviderSpec(
        name="birch",
        hd_index=3,
        port_offset=12,
        attributes=(("region", "eu-central"), ("host", "akash"), ("tier", "community"), ("organization", "birch")),
        price_per_block_uact=Decimal(60),
        cpu_millis=4000,
        memory_bytes=8 * GIB,
        storage_bytes=100 * GIB,
        audited=False,
    ),
)


def provider_spec(name: str) -> ProviderSpec:
    for spec in PROVIDERS:
        if spec.name == name:
            return spec
    raise KeyError(f"no devnet provider named {name!r} (there are: {', '.join(p.name for p in PROVIDERS)})")


def host_uri(spec: ProviderSpec, devnet_port: int) -> str:
    """The provider's on-chain host_uri (what deployers call for manifests and status)."""
    return f"https://127.0.0.1:{devnet_port + spec.port_offset}"


@dataclass(frozen=True)
class Auditor:
    hd_index: int = AUDITOR_INDEX
    signs: tuple[str, ...] = field(default=tuple(p.name for p in PROVIDERS if p.audited))


AUDITOR = Auditor()
