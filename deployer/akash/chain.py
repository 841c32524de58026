"""Transactions on the Akash chain: build, simulate, sign (SIGN_MODE_DIRECT), broadcast.

``Chain`` is the narrow boundary to a node; ``CosmpyChain`` talks to a real one and
tests use a strict stand-in. ``Signer`` keeps one signing lane per account so
parallel deploys never reuse a sequence number.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin
from cosmpy.protos.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from cosmpy.protos.cosmos.tx.signing.v1beta1.signing_pb2 import SignMode
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Fee, ModeInfo, SignDoc, SignerInfo, TxBody, TxRaw
from google.protobuf.message import Message

from deployer.akash.messages import GAS_DENOM, legacy_dec_wire, map_legacy_decs, pack

# Registered so cosmpy can read, over REST, included transactions that carry these messages.
from deployer.akash.proto.akash.bme.v1 import msgs_pb2 as _bme_msgs  # noqa: F401
from deployer.akash.proto.akash.market.v1.filters_pb2 import LeaseFilters
from deployer.akash.proto.akash.market.v1beta5 import bidmsg_pb2 as _bid_msgs  # noqa: F401
from deployer.akash.proto.akash.deployment.v1.deployment_pb2 import DeploymentID
from deployer.akash.proto.akash.deployment.v1beta4.query_pb2 import QueryDeploymentRequest, QueryDeploymentResponse
from deployer.akash.proto.akash.market.v1beta5.filters_pb2 import BidFilters, OrderFilters
from deployer.akash.proto.akash.market.v1beta5.order_pb2 import Order
from deployer.akash.proto.akash.market.v1beta5.query_pb2 import (
    QueryBidResponse,
    QueryBidsRequest,
    QueryBidsResponse,
    QueryLeaseResponse,
    QueryLeasesRequest,
    QueryLeasesResponse,
    QueryOrdersRequest,
    QueryOrdersResponse,
)
from deployer.akash.wallet import Wallet

# (gRPC method, REST gateway path) of the Akash queries Slipway makes.
BIDS = ("/akash.market.v1beta5.Query/Bids", "/akash/market/v1beta5/bids/list")
LEASES = ("/akash.market.v1beta5.Query/Leases", "/akash/market/v1beta5/leases/list")
ORDERS = ("/akash.market.v1beta5.Query/Orders", "/akash/market/v1beta5/orders/list")
DEPLOYMENT = ("/akash.deployment.v1beta4.Query/Deployment", "/akash/deployment/v1beta4/deployments/info")

# Cosmos SDK's ErrWrongSequence (codespace "sdk").
CODE_WRONG_SEQUENCE = 32
_EXPECTED_SEQUENCE = re.compile(r"account sequence mismatch, expected (\d+)")


@dataclass(frozen=True)
class AccountInfo:
    address: str
    account_number: int
    sequence: int


@dataclass(frozen=True)
class TxResult:
    txhash: str
    code: int
    log: str
    codespace: str = ""
    height: int = 0
    gas_wanted: int = 0
    gas_used: int = 0


class TxRefused(Exception):
    """The chain refused a transaction; carries its code and log, never the tx or keys."""

    def __init__(self, code: int, log: str, codespace: str = "", txhash: str = ""):
        self.code, self.log, self.codespace, self.txhash = code, log, codespace, txhash
        where = f"{codespace} " if codespace else ""
        super().__init__(f"chain refused the transaction ({where}code {code}): {log}")

    @property
    def wrong_sequence(self) -> bool:
        return self.code == CODE_WRONG_SEQUENCE and (not self.codespace or self.codespace == "sdk")


class Chain(Protocol):
    """What Slipway needs from an Akash node."""

    chain_id: str

    def account(self, address: str) -> AccountInfo: ...

    def simulate(self, tx_bytes: bytes) -> int:
        """Gas used; raises TxRefused if the node would refuse the transaction."""
        ...

    def broadcast(self, tx_bytes: bytes) -> TxResult:
        """Submit (sync: checked, in the mempool); a non-zero code means refused."""
        ...

    def bids(self, owner: str, dseq: int) -> list[QueryBidResponse]: ...

    def leases(self, owner: str, dseq: int) -> list[QueryLeaseResponse]: ...


def build_tx(
    wallet: Wallet,
    messages: Sequence[Message],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    gas_limit: int,
    fee: Sequence[Coin] = (),
    fee_granter: str = "",
    memo: str = "",
) -> bytes:
    """A signed TxRaw (SIGN_MODE_DIRECT) carrying ``messages``."""
    body = TxBody(messages=[pack(msg) for msg in messages], memo=memo)
    signer_info = SignerInfo(
        public_key=pack(PubKey(key=wallet.public_key)),
        mode_info=ModeInfo(single=ModeInfo.Single(mode=SignMode.SIGN_MODE_DIRECT)),
        sequence=sequence,
    )
    auth_info = AuthInfo(
        signer_infos=[signer_info], fee=Fee(amount=list(fee), gas_limit=gas_limit, granter=fee_granter)
    )
    body_bytes, auth_info_bytes = body.SerializeToString(), auth_info.SerializeToString()
    sign_doc = SignDoc(
        body_bytes=body_bytes, auth_info_bytes=auth_info_bytes, chain_id=chain_id, account_number=account_number
    )
    signature = wallet.sign(sign_doc.SerializeToString())
    return TxRaw(body_bytes=body_bytes, auth_info_bytes=auth_info_bytes, signatures=[signature]).SerializeToString()


class Signer:
    """Signs and submits transactions, one lane (lock + next sequence) per account."""

    def __init__(
        self,
        chain: Chain,
        *,
        gas_multiplier: float = 1.5,
        gas_price: Decimal = Decimal("0.025"),
        fee_denom: str = GAS_DENOM,
    ):
        self.chain = chain
        self.gas_multiplier = gas_multiplier
        self.gas_price = gas_price
        self.fee_denom = fee_denom
        self._guard = threading.Lock()
        self._lanes: dict[str, threading.Lock] = {}
        # Next sequence per address: the node's committed account lags the mempool,
        # so after a broadcast we count ourselves instead of asking again.
        self._accounts: dict[str, AccountInfo] = {}

    def _lane(self, address: str) -> threading.Lock:
        with self._guard:
            return self._lanes.setdefault(address, threading.Lock())

    def submit(
        self, wallet: Wallet, messages: Sequence[Message], *, fee_granter: str = "", memo: str = ""
    ) -> TxResult:
        """Simulate, sign and broadcast ``messages`` in one transaction; raise TxRefused if refused."""
        if not messages:
            raise ValueError("a transaction needs at least one message")
        with self._lane(wallet.address):
            try:
                return self._submit(wallet, messages, fee_granter, memo)
            except TxRefused as refused:
                if not refused.wrong_sequence:
                    raise
                # Someone else used this account (or our count went stale): refresh, retry once.
                self._refresh(wallet.address, refused.log)
                return self._submit(wallet, messages, fee_granter, memo)

    def _refresh(self, address: str, log: str) -> None:
        info = self.chain.account(address)
        match = _EXPECTED_SEQUENCE.search(log)
        # The node's answer counts pending mempool txs the committed account does not.
        expected = int(match.group(1)) if match else info.sequence
        self._accounts[address] = AccountInfo(address, info.account_number, max(info.sequence, expected))

    def _submit(self, wallet: Wallet, messages: Sequence[Message], fee_granter: str, memo: str) -> TxResult:
        info = self._accounts.get(wallet.address) or self.chain.account(wallet.address)
        common = dict(
            chain_id=self.chain.chain_id,
            account_number=info.account_number,
            sequence=info.sequence,
            fee_granter=fee_granter,
            memo=memo,
        )
        # Simulated with a token fee: a node skips paying the fee (and using the fee grant) when the
        # fee is zero, and that gas (~9000) is more than the margin of a small transaction (a revoke).
        token_fee = [Coin(denom=self.fee_denom, amount="1")]
        gas_used = self.chain.simulate(build_tx(wallet, messages, gas_limit=0, fee=token_fee, **common))
        gas_limit = math.ceil(gas_used * self.gas_multiplier)
        fee = [Coin(denom=self.fee_denom, amount=str(math.ceil(gas_limit * self.gas_price)))]
        result = self.chain.broadcast(build_tx(wallet, messages, gas_limit=gas_limit, fee=fee, **common))
        if result.code != 0:
            raise TxRefused(result.code, result.log, result.codespace, result.txhash)
        self._accounts[wallet.address] = AccountInfo(wallet.address, info.account_number, info.sequence + 1)
        return result


class CosmpyChain:
    """A node reached through cosmpy's LedgerClient (``grpc+https://...`` or ``rest+https://...``).

    Everything it does works over either: cosmpy's own clients for accounts, simulate, broadcast
    and txs, and the Akash market queries by their gRPC method or their REST gateway path.
    """

    def __init__(self, chain_id: str, url: str):
        from cosmpy.aerial.client import LedgerClient, NetworkConfig

        self.chain_id = chain_id
        self._url = url
        self._channel = None
        self._rest = None
        self._client = LedgerClient(
            NetworkConfig(
                chain_id=chain_id,
                url=url,
                fee_minimum_gas_price=0,
                fee_denomination=GAS_DENOM,
                staking_denomination=GAS_DENOM,
            )
        )

    def account(self, address: str) -> AccountInfo:
        acc = self._client.query_account(address)  # type: ignore[arg-type]
        return AccountInfo(address, int(acc.number), int(acc.sequence))

    def simulate(self, tx_bytes: bytes) -> int:
        from cosmpy.protos.cosmos.tx.v1beta1.service_pb2 import SimulateRequest

        try:
            resp = self._client.txs.Simulate(SimulateRequest(tx_bytes=tx_bytes))
        except Exception as exc:  # grpc.RpcError or cosmpy's RuntimeError: the node's message
            log = _error_text(exc)
            code = CODE_WRONG_SEQUENCE if "incorrect account sequence" in log else -1
            raise TxRefused(code, log, "sdk" if code == CODE_WRONG_SEQUENCE else "simulate") from None
        return int(resp.gas_info.gas_used)

    def broadcast(self, tx_bytes: bytes) -> TxResult:
        from cosmpy.protos.cosmos.tx.v1beta1.service_pb2 import BroadcastMode, BroadcastTxRequest

        resp = self._client.txs.BroadcastTx(
            BroadcastTxRequest(tx_bytes=tx_bytes, mode=BroadcastMode.BROADCAST_MODE_SYNC)
        ).tx_response
        return TxResult(resp.txhash, int(resp.code), resp.raw_log, resp.codespace, int(resp.height))

    def wait_for_tx(self, txhash: str, timeout_s: float = 60) -> TxResult:
        """The result of an included transaction (DeliverTx)."""
        from datetime import timedelta

        resp = self._client.wait_for_query_tx(txhash, timeout=timedelta(seconds=timeout_s))
        return TxResult(resp.hash, resp.code, resp.raw_log, "", resp.height, resp.gas_wanted, resp.gas_used)

    def bids(self, owner: str, dseq: int) -> list[QueryBidResponse]:
        request = QueryBidsRequest(filters=BidFilters(owner=owner, dseq=dseq))
        return list(self._query(BIDS, request, QueryBidsResponse).bids)

    def leases(self, owner: str, dseq: int) -> list[QueryLeaseResponse]:
        request = QueryLeasesRequest(filters=LeaseFilters(owner=owner, dseq=dseq))
        return list(self._query(LEASES, request, QueryLeasesResponse).leases)

    # What a provider reads (the devnet's providers use these): not part of ``Chain``.
    def orders(self, *, state: str = "open", owner: str = "", dseq: int = 0) -> list[Order]:
        request = QueryOrdersRequest(filters=OrderFilters(owner=owner, dseq=dseq, state=state))
        return list(self._query(ORDERS, request, QueryOrdersResponse).orders)

    def provider_leases(self, provider: str, *, state: str = "") -> list[QueryLeaseResponse]:
        request = QueryLeasesRequest(filters=LeaseFilters(provider=provider, state=state))
        return list(self._query(LEASES, request, QueryLeasesResponse).leases)

    def deployment(self, owner: str, dseq: int) -> QueryDeploymentResponse:
        request = QueryDeploymentRequest(id=DeploymentID(owner=owner, dseq=dseq))
        return self._query(DEPLOYMENT, request, QueryDeploymentResponse)

    def _query(self, route: tuple[str, str], request: Message, response_type: type[Message]) -> Message:
        """An Akash query: over REST (the gateway's path) or gRPC (by method path); cosmpy has no Akash stubs."""
        from cosmpy.aerial.urls import Protocol as UrlProtocol
        from cosmpy.aerial.urls import parse_url

        grpc_method, rest_path = route
        parsed = parse_url(self._url)
        if parsed.protocol == UrlProtocol.REST:
            from google.protobuf.json_format import Parse

            if self._rest is None:
                from cosmpy.common.rest_client import RestClient

                self._rest = RestClient(parsed.rest_url)
            # A real node's answers may carry fields Slipway's subset of the protos leaves out, and
            # show LegacyDec amounts as decimals: back to the wire form gRPC gives.
            response = Parse(self._rest.get(rest_path, request), response_type(), ignore_unknown_fields=True)
            map_legacy_decs(response, legacy_dec_wire)
            return response
        import grpc

        if self._channel is None:
            self._channel = (
                grpc.secure_channel(parsed.host_and_port, grpc.ssl_channel_credentials())
                if parsed.secure
                else grpc.insecure_channel(parsed.host_and_port)
            )
        call = self._channel.unary_unary(
            grpc_method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        return call(request, timeout=30)


_REST_ERROR = re.compile(r"Response: \d+, b?['\"](.*)['\"]\)?$", re.S)


def _error_text(exc: Exception) -> str:
    """The node's own message: a gRPC error's details, or the ``message`` of cosmpy's REST error
    (whose text also carries the whole request, i.e. the signed transaction: never passed on)."""
    details = getattr(exc, "details", None)
    if callable(details):
        return str(details())
    text = str(exc)
    match = _REST_ERROR.search(text)
    if match is None:
        return text.split("\n Request:", 1)[0]
    body = match.group(1)
    try:
        import json

        return str(json.loads(body.encode().decode("unicode_escape")).get("message") or body)
    except (ValueError, AttributeError):
        return body
