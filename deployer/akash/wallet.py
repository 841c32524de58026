"""Wallets: the funding wallet and one HD-derived deployer wallet per project.

Keys live in memory only. Nothing here writes a key or a mnemonic anywhere, their
reprs show addresses only, and they refuse to be pickled (rq would put them in Redis).
"""

from __future__ import annotations

from cosmpy.crypto.address import Address
from cosmpy.crypto.keypairs import PrivateKey, PublicKey
from cosmpy.mnemonic import derive_child_key_from_index, derive_master_key, derive_seed_from_mnemonic

PREFIX = "akash"


def hd_path(index: int) -> str:
    """Cosmos coin type 118, the path Akash wallets (and Console's managed wallets) use."""
    if index < 0:
        raise ValueError("HD index must be >= 0")
    return f"m/44'/118'/0'/0/{index}"


class Wallet:
    """A secp256k1 key and its ``akash1...`` address."""

    __slots__ = ("_key", "address", "public_key", "label")

    def __init__(self, key: PrivateKey, label: str = "wallet"):
        self._key = key
        self.public_key: bytes = key.public_key.public_key_bytes  # 33-byte compressed
        self.address: str = str(Address(key.public_key, PREFIX))
        self.label = label

    def sign(self, message: bytes) -> bytes:
        """64-byte r||s (low S) signature of sha256(message), as Cosmos verifies it."""
        return self._key.sign(message, deterministic=True, canonicalise=True)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return PublicKey(self.public_key).verify(message, signature)

    def __repr__(self) -> str:
        return f"<Wallet {self.label} {self.address}>"

    def __reduce__(self):
        raise TypeError("wallets hold private keys and are never serialized")


HARDENED = 1 << 31


def derive_key(mnemonic: str, index: int) -> bytes:
    """The private key at ``hd_path(index)``, by cosmpy's BIP-32 steps.

    Not cosmpy's ``derive_child_key_from_mnemonic``: its path parser reads at most three digits of
    each index (``m/44'/118'/0'/0/847823040`` is index 847), so project wallets whose indexes share
    their first digits would be one and the same wallet.
    """
    if not 0 <= index < HARDENED:
        raise ValueError("HD index must be >= 0 and < 2^31")
    key, chain_code = derive_master_key(derive_seed_from_mnemonic(mnemonic))
    for step in (44 | HARDENED, 118 | HARDENED, 0 | HARDENED, 0, index):
        key, chain_code = derive_child_key_from_index(key, chain_code, step)
    return key


def wallet_from_mnemonic(mnemonic: str, index: int = 0, label: str = "wallet") -> Wallet:
    hd_path(index)
    return Wallet(PrivateKey(derive_key(mnemonic, index)), label)


class Wallets:
    """The funding wallet and the deployer wallets derived from it (or from their own mnemonic).

    With one shared mnemonic the funding wallet is HD index 0, so deployer indexes start at 1.
    """

    __slots__ = ("_funding_mnemonic", "_deployer_mnemonic", "funding", "_cache")

    def __init__(self, funding_mnemonic: str, deployer_mnemonic: str | None = None):
        self._funding_mnemonic = funding_mnemonic
        self._deployer_mnemonic = deployer_mnemonic
        self.funding = wallet_from_mnemonic(funding_mnemonic, 0, "funding")
        self._cache: dict[int, Wallet] = {}

    def deployer(self, index: int) -> Wallet:
        """The deployer wallet of HD index ``index`` (one per project)."""
        if self._deployer_mnemonic is None and index == 0:
            raise ValueError("index 0 is the funding wallet when deployer wallets share its mnemonic")
        if index not in self._cache:
            mnemonic = self._deployer_mnemonic or self._funding_mnemonic
            self._cache[index] = wallet_from_mnemonic(mnemonic, index, f"deployer-{index}")
        return self._cache[index]

    def __repr__(self) -> str:
        return f"<Wallets funding={self.funding.address} deployers={sorted(self._cache)}>"

    def __reduce__(self):
        raise TypeError("wallets hold mnemonics and are never serialized")
