"""A strict in-process stand-in for an Akash node, used through the Chain Protocol.

It checks what a Cosmos SDK node checks before a tx enters the mempool: the signer's
sequence (code 32, the SDK's exact wording), the SIGN_MODE_DIRECT signature against
the account number and sequence it holds, the fee grant named by fee.granter, and a
gas limit covering the simulation. Simulation, like the SDK's, skips the signature.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from cosmpy.crypto.address import Address
from cosmpy.crypto.keypairs import PublicKey
from cosmpy.protos.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxBody, TxRaw

from deployer.akash.chain import AccountInfo, TxRefused, TxResult
from deployer.akash.proto.akash.market.v1beta5.query_pb2 import QueryBidResponse, QueryLeaseResponse

GAS_PER_MSG = 80_000


@dataclass
class _Account:
    number: int
    sequence: int = 0


@dataclass
class StandinChain:
    chain_id: str = "akash-standin-1"
    accounts: dict[str, _Account] = field(default_factory=dict)
    fee_grants: set[tuple[str, str]] = field(default_factory=set)  # (granter, grantee)
    included: list[tuple[str, int, list[str]]] = field(default_factory=list)  # (signer, sequence, type urls)
    bid_list: list[QueryBidResponse] = field(default_factory=list)
    lease_list: list[QueryLeaseResponse] = field(default_factory=list)
    account_queries: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- set-up ------------------------------------------------------------
    def open_account(self, address: str) -> None:
        self.accounts.setdefault(address, _Account(number=len(self.accounts) + 1))

    def use_elsewhere(self, address: str) -> None:
        """Another client spent a sequence on this account."""
        with self._lock:
            self.accounts[address].sequence += 1

    # -- Chain Protocol ----------------------------------------------------
    def account(self, address: str) -> AccountInfo:
        with self._lock:
            self.account_queries += 1
            acc = self.accounts[address]
            return AccountInfo(address, acc.number, acc.sequence)

    def simulate(self, tx_bytes: bytes) -> int:
        with self._lock:
            refusal, body, _ = self._check(tx_bytes, verify_signature=False)
            if refusal:
                raise TxRefused(refusal.code, refusal.log, refusal.codespace)
            return GAS_PER_MSG * len(body.messages)

    def broadcast(self, tx_bytes: bytes) -> TxResult:
        txhash = hashlib.sha256(tx_bytes).hexdigest().upper()
        with self._lock:
            refusal, body, signer = self._check(tx_bytes, verify_signature=True)
            if refusal:
                return TxResult(txhash, refusal.code, refusal.log, refusal.codespace)
            acc = self.accounts[signer]
            self.included.append((signer, acc.sequence, [m.type_url for m in body.messages]))
            acc.sequence += 1
            return TxResult(txhash, 0, "", "")

    def bids(self, owner: str, dseq: int) -> list[QueryBidResponse]:
        return [b for b in self.bid_list if b.bid.id.owner == owner and b.bid.id.dseq == dseq]

    def leases(self, owner: str, dseq: int) -> list[QueryLeaseResponse]:
        return [x for x in self.lease_list if x.lease.id.owner == owner and x.lease.id.dseq == dseq]

    # -- the checks ------------------------------------------------------------
    def _check(self, tx_bytes: bytes, *, verify_signature: bool) -> tuple[TxResult | None, TxBody, str]:
        raw = TxRaw.FromString(tx_bytes)
        body, auth = TxBody.FromString(raw.body_bytes), AuthInfo.FromString(raw.auth_info_bytes)
        if len(auth.signer_infos) != 1 or len(raw.signatures) != 1:
            return _refuse(4, "wrong number of signers; expected 1: unauthorized"), body, ""
        info = auth.signer_infos[0]
        pubkey = PubKey()
        info.public_key.Unpack(pubkey)
        signer = str(Address(PublicKey(pubkey.key), "akash"))
        acc = self.accounts.get(signer)
        if acc is None:
            return _refuse(9, f"account {signer} not found: unknown address"), body, signer
        if info.sequence != acc.sequence:
            log = f"account sequence mismatch, expected {acc.sequence}, got {info.sequence}: incorrect account sequence"
            return _refuse(32, log), body, signer
        if verify_signature:
            doc = SignDoc(
                body_bytes=raw.body_bytes,
                auth_info_bytes=raw.auth_info_bytes,
                chain_id=self.chain_id,
                account_number=acc.number,
            )
            if not PublicKey(pubkey.key).verify(doc.SerializeToString(), raw.signatures[0]):
                log = (
                    f"signature verification failed; please verify account number ({acc.number}) "
                    f"and chain-id ({self.chain_id}): unauthorized"
                )
                return _refuse(4, log), body, signer
            if auth.fee.gas_limit < GAS_PER_MSG * len(body.messages):
                return _refuse(11, f"out of gas; gasWanted: {auth.fee.gas_limit}"), body, signer
        granter = auth.fee.granter
        if granter and (granter, signer) not in self.fee_grants:
            return _refuse(38, f"fee-grant not found: {granter} does not allow to pay fees for {signer}", "feegrant"), body, signer
        return None, body, signer


def _refuse(code: int, log: str, codespace: str = "sdk") -> TxResult:
    return TxResult("", code, log, codespace)
