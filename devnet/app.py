"""The devnet's state machine: the ante handler and the modules, as a Cosmos SDK app runs them.

``App.check_tx`` is CheckTx (decode, ValidateBasic, the ante handler: fees, fee grants, public
keys, sequence, signature) and ``App.simulate`` is the tx service's Simulate; ``App.deliver_tx``
runs a transaction in a block (ante, then every message, all or nothing) and ``App.end_block``
settles escrow and mints. Every handler reads and writes through a ``Cache`` that charges gas.

Modules: auth, bank (uact not transferable), feegrant (BasicAllowance), authz (Deposit- and
GenericAuthorization), deployment, market, escrow, provider and audit (from genesis) and bme.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

from cosmpy.crypto.address import Address
from cosmpy.crypto.keypairs import PublicKey
from cosmpy.protos.cosmos.auth.v1beta1.auth_pb2 import BaseAccount
from cosmpy.protos.cosmos.authz.v1beta1.authz_pb2 import GenericAuthorization, Grant
from cosmpy.protos.cosmos.authz.v1beta1.tx_pb2 import MsgGrant, MsgRevoke
from cosmpy.protos.cosmos.bank.v1beta1.tx_pb2 import MsgSend
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin, DecCoin
from cosmpy.protos.cosmos.crypto.secp256k1.keys_pb2 import PubKey
from cosmpy.protos.cosmos.feegrant.v1beta1.feegrant_pb2 import BasicAllowance
from cosmpy.protos.cosmos.feegrant.v1beta1.feegrant_pb2 import Grant as FeeGrant
from cosmpy.protos.cosmos.feegrant.v1beta1.tx_pb2 import MsgGrantAllowance, MsgRevokeAllowance
from cosmpy.protos.cosmos.tx.signing.v1beta1.signing_pb2 import SignMode
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, SignDoc, TxBody, TxRaw
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from google.protobuf import unknown_fields
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from deployer.akash.messages import from_legacy_dec, map_legacy_decs, pack, to_legacy_dec
from deployer.akash.proto.akash.audit.v1.audit_pb2 import AuditedProvider
from deployer.akash.proto.akash.base.deposit.v1.deposit_pb2 import Source
from deployer.akash.proto.akash.bme.v1.msgs_pb2 import MsgMintACT, MsgMintACTResponse
from deployer.akash.proto.akash.bme.v1.types_pb2 import LedgerPendingRecord, LedgerRecordID, LedgerRecordStatus
from deployer.akash.proto.akash.cert.v1.msg_pb2 import MsgCreateCertificate
from deployer.akash.proto.akash.deployment.v1.deployment_pb2 import Deployment
from deployer.akash.proto.akash.deployment.v1.group_pb2 import GroupID
from deployer.akash.proto.akash.deployment.v1beta4.deploymentmsg_pb2 import (
    MsgCloseDeployment,
    MsgCreateDeployment,
    MsgUpdateDeployment,
)
from deployer.akash.proto.akash.deployment.v1beta4.group_pb2 import Group
from deployer.akash.proto.akash.deployment.v1beta4.groupspec_pb2 import GroupSpec
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Account as EscrowAccountID
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Payment as EscrowPaymentID
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Scope
from deployer.akash.proto.akash.escrow.types.v1.account_pb2 import Account as EscrowAccount
from deployer.akash.proto.akash.escrow.types.v1.account_pb2 import AccountState
from deployer.akash.proto.akash.escrow.types.v1.balance_pb2 import Balance
from deployer.akash.proto.akash.escrow.types.v1.deposit_pb2 import Depositor
from deployer.akash.proto.akash.escrow.types.v1.payment_pb2 import Payment, PaymentState
from deployer.akash.proto.akash.escrow.types.v1.state_pb2 import State as EscrowState
from deployer.akash.proto.akash.escrow.v1.authz_pb2 import DepositAuthorization
from deployer.akash.proto.akash.escrow.v1.msg_pb2 import MsgAccountDeposit
from deployer.akash.proto.akash.market.v1.bid_pb2 import BidID
from deployer.akash.proto.akash.market.v1.lease_pb2 import Lease, LeaseID
from deployer.akash.proto.akash.market.v1.order_pb2 import OrderID
from deployer.akash.proto.akash.market.v1.types_pb2 import LeaseClosedReason
from deployer.akash.proto.akash.market.v1beta5.bid_pb2 import Bid
from deployer.akash.proto.akash.market.v1beta5.bidmsg_pb2 import MsgCloseBid, MsgCreateBid
from deployer.akash.proto.akash.market.v1beta5.leasemsg_pb2 import MsgCloseLease, MsgCreateLease
from deployer.akash.proto.akash.market.v1beta5.order_pb2 import Order
from deployer.akash.proto.akash.provider.v1beta4.provider_pb2 import Provider
from devnet import config, errors
from devnet.errors import ChainError
from devnet.store import Cache, GasMeter

log = logging.getLogger(__name__)

# cosmos-sdk x/auth default params.
TX_SIZE_COST_PER_BYTE = 10
SIG_VERIFY_COST_SECP256K1 = 1000
MAX_MEMO_CHARACTERS = 256
TX_SIG_LIMIT = 7

MSG_TYPES: dict[str, type[Message]] = {
    "/" + cls.DESCRIPTOR.full_name: cls
    for cls in (
        MsgSend,
        MsgGrantAllowance,
        MsgRevokeAllowance,
        MsgGrant,
        MsgRevoke,
        MsgCreateDeployment,
        MsgUpdateDeployment,
        MsgCloseDeployment,
        MsgAccountDeposit,
        MsgCreateBid,
        MsgCloseBid,
        MsgCreateLease,
        MsgCloseLease,
        MsgMintACT,
        MsgCreateCertificate,
    )
}
# Interfaces inside messages (the SDK's interface registry): what an Any may hold.
ALLOWANCE_TYPES = {"/cosmos.feegrant.v1beta1.BasicAllowance": BasicAllowance}
AUTHORIZATION_TYPES = {
    "/akash.escrow.v1.DepositAuthorization": DepositAuthorization,
    "/cosmos.authz.v1beta1.GenericAuthorization": GenericAuthorization,
}
DEPOSIT_AUTHZ_MSG = "/akash.escrow.v1.MsgAccountDeposit"  # DepositAuthorization.MsgTypeURL()


@dataclass(frozen=True)
class BlockInfo:
    height: int
    time: datetime


@dataclass
class DecodedTx:
    raw: TxRaw
    body: TxBody
    auth_info: AuthInfo
    msgs: list[Message]
    hash: str
    size: int


@dataclass
class TxOutcome:
    code: int = 0
    codespace: str = ""
    log: str = ""
    gas_wanted: int = 0
    gas_used: int = 0
    events: list[dict] = field(default_factory=list)
    data: bytes = b""


def tx_hash(tx_bytes: bytes) -> str:
    return hashlib.sha256(tx_bytes).hexdigest().upper()


@functools.lru_cache(maxsize=65536)
def address_of(pubkey: bytes) -> str:
    return str(Address(PublicKey(pubkey), config.BECH32_PREFIX))


def _valid_address(addr: str, what: str = "address") -> None:
    try:
        parsed = Address(addr)
    except Exception:  # noqa: BLE001 - whatever bech32 decoding raises, the address is invalid
        raise errors.INVALID_ADDRESS(f"invalid {what} {addr!r}") from None
    if not str(parsed).startswith(config.BECH32_PREFIX + "1"):
        raise errors.INVALID_ADDRESS(f"invalid {what} prefix {addr!r}")


def _coins_str(coins) -> str:
    return ",".join(f"{c.amount}{c.denom}" for c in coins)


def _ts(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC).replace(tzinfo=None))
    return ts


def _expired(ts: Timestamp, now: datetime) -> bool:
    return ts.ByteSize() > 0 and ts.ToDatetime(tzinfo=UTC) < now


def _reject_unknown_fields(msg: Message, where: str) -> None:
    """The SDK's RejectUnknownFields: a field the type does not have is a malformed message."""
    if len(unknown_fields.UnknownFieldSet(msg)):
        raise errors.TX_DECODE(f"errUnknownField {where}: unknown field in {msg.DESCRIPTOR.full_name}")
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        items = value if fd.label == fd.LABEL_REPEATED else [value]
        if fd.message_type.GetOptions().map_entry:
            continue
        for item in items:
            if isinstance(item, Message):
                _reject_unknown_fields(item, where)


def _wire_legacy_dec(text: str) -> str:
    """A LegacyDec on the wire is an integer string (18 implied decimals); anything else fails to decode."""
    if not text.lstrip("-").isdigit():
        raise errors.TX_DECODE(f"failed to set decimal string with base 10: {text}")
    return text


def _dec(coin: DecCoin) -> Decimal:
    return from_legacy_dec(coin.amount)


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def group_price(spec: GroupSpec) -> tuple[str, Decimal]:
    """The order's price per block: the sum of its resources' prices times their counts."""
    denom, total = "", Decimal(0)
    for unit in spec.resources:
        denom = denom or unit.price.denom
        total += _dec(unit.price) * unit.count
    return denom, total


# -- keys -------------------------------------------------------------------------


def k_account(addr: str) -> str:
    return f"auth/{addr}"


def k_balance(addr: str, denom: str = "") -> str:
    return f"bank/{addr}/{denom}"


def k_feegrant(granter: str, grantee: str) -> str:
    return f"feegrant/{grantee}/{granter}"


def k_authz(granter: str, grantee: str, msg_type: str = "") -> str:
    return f"authz/{granter}/{grantee}/{msg_type}"


def _n(value: int) -> str:
    return f"{value:020d}"


def k_deployment(owner: str, dseq: int | None = None) -> str:
    return f"deployment/{owner}/" + ("" if dseq is None else _n(dseq))


def k_group(owner: str, dseq: int, gseq: int | None = None) -> str:
    return f"group/{owner}/{_n(dseq)}/" + ("" if gseq is None else _n(gseq))


def k_order(oid: OrderID) -> str:
    return f"order/{oid.owner}/{_n(oid.dseq)}/{_n(oid.gseq)}/{_n(oid.oseq)}"


def k_bid(bid: BidID) -> str:
    return f"bid/{bid.owner}/{_n(bid.dseq)}/{_n(bid.gseq)}/{_n(bid.oseq)}/{bid.provider}/{_n(bid.bseq)}"


def k_lease(lid: LeaseID | BidID) -> str:
    return f"lease/{lid.owner}/{_n(lid.dseq)}/{_n(lid.gseq)}/{_n(lid.oseq)}/{lid.provider}/{_n(lid.bseq)}"


def k_escrow_account(scope: int, xid: str) -> str:
    return f"escrow/acc/{scope}/{xid}"


def k_escrow_payment(scope: int, aid_xid: str, xid: str = "") -> str:
    return f"escrow/pay/{scope}/{aid_xid}/" + xid


def k_provider(owner: str) -> str:
    return f"provider/{owner}"


def k_audit(owner: str, auditor: str = "") -> str:
    return f"audit/{owner}/{auditor}"


def k_mint(height: int, seq: int) -> str:
    return f"bme/pending/{_n(height)}/{_n(seq)}"


K_NEXT_ACCOUNT = "auth-next-number"
K_HEIGHT = "chain/height"
K_TIME = "chain/time"


def deployment_xid(owner: str, dseq: int) -> str:
    return f"{owner}/{dseq}"


def bid_xid(bid: BidID) -> str:
    return f"{bid.owner}/{bid.dseq}/{bid.gseq}/{bid.oseq}/{bid.provider}/{bid.bseq}"


def payment_xid(lid: LeaseID | BidID) -> str:
    return f"{lid.gseq}/{lid.oseq}/{lid.provider}"


def lease_id_of(bid: BidID) -> LeaseID:
    return LeaseID(owner=bid.owner, dseq=bid.dseq, gseq=bid.gseq, oseq=bid.oseq, provider=bid.provider, bseq=bid.bseq)


# -- the application ------------------------------------------------------------------


class App:
    def __init__(self, chain_id: str, min_gas_price: Decimal = config.MIN_GAS_PRICE):
        self.chain_id = chain_id
        self.min_gas_price = min_gas_price

    # -- decoding -----------------------------------------------------------------
    def decode(self, tx_bytes: bytes) -> DecodedTx:
        try:
            raw = TxRaw.FromString(tx_bytes)
            body = TxBody.FromString(raw.body_bytes)
            auth_info = AuthInfo.FromString(raw.auth_info_bytes)
        except DecodeError as exc:
            raise errors.TX_DECODE(str(exc)) from None
        for part, name in ((raw, "TxRaw"), (body, "TxBody"), (auth_info, "AuthInfo")):
            _reject_unknown_fields(part, name)
        msgs = []
        for any_ in body.messages:
            msgs.append(self._unpack(any_, MSG_TYPES))
        for msg in msgs:
            self._inner_anys(msg)
            map_legacy_decs(msg, _wire_legacy_dec)
        return DecodedTx(raw, body, auth_info, msgs, tx_hash(tx_bytes), len(tx_bytes))

    def _unpack(self, any_: AnyProto, types: dict[str, type[Message]]) -> Message:
        cls = types.get(any_.type_url)
        if cls is None:
            raise errors.TX_DECODE(f"unable to resolve type URL {any_.type_url}")
        try:
            msg = cls.FromString(any_.value)
        except DecodeError as exc:
            raise errors.TX_DECODE(f"{any_.type_url}: {exc}") from None
        _reject_unknown_fields(msg, any_.type_url)
        return msg

    def _inner_anys(self, msg: Message) -> list[Message]:
        """Interfaces packed inside messages must resolve too (allowances, authorizations)."""
        if isinstance(msg, MsgGrantAllowance):
            return [self._unpack(msg.allowance, ALLOWANCE_TYPES)]
        if isinstance(msg, MsgGrant):
            return [self._unpack(msg.grant.authorization, AUTHORIZATION_TYPES)]
        return []

    # -- signers and ValidateBasic ---------------------------------------------------------
    @staticmethod
    def msg_signer(msg: Message) -> str:
        if isinstance(msg, MsgSend):
            return msg.from_address
        if isinstance(msg, (MsgGrantAllowance, MsgRevokeAllowance, MsgGrant, MsgRevoke)):
            return msg.granter
        if isinstance(msg, (MsgCreateDeployment, MsgUpdateDeployment, MsgCloseDeployment)):
            return msg.id.owner
        if isinstance(msg, MsgAccountDeposit):
            return msg.signer
        if isinstance(msg, (MsgCreateBid, MsgCloseBid)):
            return msg.id.provider
        if isinstance(msg, MsgCreateLease):
            return msg.bid_id.owner
        if isinstance(msg, MsgCloseLease):
            return msg.id.owner
        if isinstance(msg, (MsgMintACT, MsgCreateCertificate)):
            return msg.owner
        raise errors.UNKNOWN_REQUEST(f"unrecognized message type {type(msg).__name__}")

    def signers(self, tx: DecodedTx) -> list[str]:
        seen: list[str] = []
        for msg in tx.msgs:
            signer = self.msg_signer(msg)
            _valid_address(signer, "signer address")
            if signer not in seen:
                seen.append(signer)
        return seen

    def validate_basic(self, msg: Message) -> None:
        if isinstance(msg, MsgGrantAllowance):
            _valid_address(msg.grantee, "grantee address")
            if msg.granter == msg.grantee:
                raise errors.INVALID_ADDRESS("cannot self-grant fee authorization")
            allowance = self._unpack(msg.allowance, ALLOWANCE_TYPES)
            if any(int(c.amount) < 0 for c in allowance.spend_limit):
                raise errors.INVALID_COINS("spend limit must be positive")
        elif isinstance(msg, MsgGrant):
            _valid_address(msg.grantee, "grantee address")
            if msg.granter == msg.grantee:
                raise errors.INVALID_ADDRESS("granter and grantee cannot be same")
            authorization = self._unpack(msg.grant.authorization, AUTHORIZATION_TYPES)
            if isinstance(authorization, DepositAuthorization):
                self._validate_deposit_authorization(authorization)
        elif isinstance(msg, MsgCreateDeployment):
            if not msg.hash:
                raise errors.EMPTY_HASH()
            if len(msg.hash) != 32:
                raise errors.INVALID_HASH()
            if msg.id.dseq == 0:
                raise errors.INVALID_DEPLOYMENT_ID("dseq cannot be zero")
            if not msg.groups:
                raise errors.INVALID_GROUPS("empty groups")
            if not msg.deposit.sources:
                raise errors.DEPLOYMENT_INVALID_DEPOSIT("empty deposit sources")
        elif isinstance(msg, MsgUpdateDeployment):
            if not msg.hash:
                raise errors.EMPTY_HASH()
        elif isinstance(msg, MsgMintACT):
            _valid_address(msg.to, "to address")
            if msg.owner != msg.to:
                raise errors.BME_INVALID_SENDER("owner and to must be the same account")
            if msg.coins_to_burn.denom != config.GAS_DENOM:
                raise errors.BME_INVALID_DENOM(f"can only mint ACT from {config.GAS_DENOM}")
        elif isinstance(msg, MsgCreateBid):
            if msg.id.owner == msg.id.provider:
                raise errors.SAME_ACCOUNT()
            if _dec(msg.price) <= 0:
                raise errors.BID_ZERO_PRICE()

    @staticmethod
    def _validate_deposit_authorization(auth: DepositAuthorization) -> None:
        if not auth.scopes:
            raise errors.INVALID_AUTHZ_SCOPE("empty scope")
        if len(set(auth.scopes)) != len(auth.scopes) or any(s not in (1, 2) for s in auth.scopes):
            raise errors.INVALID_AUTHZ_SCOPE("invalid or duplicate scope")
        if auth.HasField("spend_limit") and auth.spend_limit.amount not in ("", "0"):
            raise errors.INVALID_COINS("spend limit is deprecated and must be zero")
        if any(not c.denom or int(c.amount or "0") <= 0 for c in auth.spend_limits):
            raise errors.INVALID_COINS("spend limits are not valid")

    # -- the ante handler ----------------------------------------------------------
    def ante(self, s: Cache, tx: DecodedTx, block: BlockInfo, *, simulate: bool, check: bool) -> None:
        fee = tx.auth_info.fee
        gas_limit = int(fee.gas_limit)
        signers = self.signers(tx)
        sigs = list(tx.raw.signatures)
        if not sigs and not simulate:
            raise errors.NO_SIGNATURES()
        if len(tx.auth_info.signer_infos) != len(signers) or (not simulate and len(sigs) != len(signers)):
            raise errors.UNAUTHORIZED(
                f"wrong number of signers; expected {len(signers)}, got {len(tx.auth_info.signer_infos)}"
            )
        if len(tx.body.memo) > MAX_MEMO_CHARACTERS:
            raise errors.INVALID_REQUEST(
                f"maximum number of characters is {MAX_MEMO_CHARACTERS} but received {len(tx.body.memo)} characters"
            )
        if tx.body.timeout_height and block.height > tx.body.timeout_height:
            raise errors.ChainError("sdk", 30, "tx timeout height", f"block height: {block.height}, timeout height: {tx.body.timeout_height}")
        s.gas.consume(TX_SIZE_COST_PER_BYTE * tx.size, "txSize")

        # DeductFeeDecorator: the minimum gas price (CheckTx only), the fee grant, the payment.
        for coin in fee.amount:
            if not coin.denom or not coin.amount.isdigit():
                raise errors.INVALID_COINS(_coins_str(fee.amount))
        if check and not simulate:
            required = math.ceil(self.min_gas_price * gas_limit)
            got = sum(int(c.amount) for c in fee.amount if c.denom == config.GAS_DENOM)
            if required > 0 and got < required:
                raise errors.INSUFFICIENT_FEE(
                    f"insufficient fees; got: {_coins_str(fee.amount)} required: {required}{config.GAS_DENOM}"
                )
        payer = signers[0]
        if fee.payer and fee.payer != payer:
            payer = fee.payer
        deduct_from = payer
        if fee.granter and fee.granter != payer:
            self._use_granted_fees(s, fee.granter, payer, list(fee.amount), block)
            deduct_from = fee.granter
        if s.get(k_account(deduct_from)) is None:
            raise errors.UNKNOWN_ADDRESS(f"fee payer address: {deduct_from} does not exist")
        for coin in fee.amount:
            if int(coin.amount) > 0:
                self.send_to_module(s, deduct_from, coin.denom, int(coin.amount), "fee_collector")

        # SetPubKeyDecorator, SigGasConsume, SigVerification, IncrementSequence.
        for index, (signer, info) in enumerate(zip(signers, tx.auth_info.signer_infos)):
            account = s.get_msg(k_account(signer), BaseAccount)
            if account is None:
                raise errors.UNKNOWN_ADDRESS(f"account {signer} does not exist")
            pubkey = None
            if info.HasField("public_key"):
                if info.public_key.type_url != "/cosmos.crypto.secp256k1.PubKey":
                    raise errors.INVALID_PUBKEY(f"unsupported public key type {info.public_key.type_url}")
                pubkey = PubKey.FromString(info.public_key.value).key
                if not simulate and address_of(pubkey) != signer:
                    raise errors.INVALID_PUBKEY(
                        f"pubKey does not match signer address {signer} with signer index: {index}"
                    )
                if not account.HasField("pub_key"):
                    account.pub_key.CopyFrom(info.public_key)
            elif account.HasField("pub_key"):
                pubkey = PubKey.FromString(account.pub_key.value).key
            elif not simulate:
                raise errors.INVALID_PUBKEY("pubkey on account is not set")
            s.gas.consume(SIG_VERIFY_COST_SECP256K1, "ante verify: secp256k1")
            if info.sequence != account.sequence:
                raise errors.WRONG_SEQUENCE(
                    f"account sequence mismatch, expected {account.sequence}, got {info.sequence}"
                )
            if not simulate:
                mode = info.mode_info.single.mode if info.mode_info.HasField("single") else None
                if mode != SignMode.SIGN_MODE_DIRECT:
                    raise errors.ChainError("sdk", 4, "unauthorized", "signature verification failed; only SIGN_MODE_DIRECT is accepted")
                sign_doc = SignDoc(
                    body_bytes=tx.raw.body_bytes,
                    auth_info_bytes=tx.raw.auth_info_bytes,
                    chain_id=self.chain_id,
                    account_number=account.account_number,
                ).SerializeToString()
                if not _verify(pubkey, sign_doc, sigs[index]):
                    # x/auth's wording for SIGN_MODE_DIRECT (the sequence is in the sign doc, checked above).
                    raise errors.UNAUTHORIZED(
                        f"signature verification failed; please verify account number ({account.account_number})"
                        f" and chain-id ({self.chain_id}): (unable to verify single signer signature)"
                    )
            account.sequence += 1
            s.set_msg(k_account(signer), account)

    def _use_granted_fees(self, s: Cache, granter: str, grantee: str, fee: list[Coin], block: BlockInfo) -> None:
        grant = s.get_msg(k_feegrant(granter, grantee), FeeGrant)
        where = f"{granter} does not allow to pay fees for {grantee}"
        if grant is None:
            raise errors.NOT_FOUND("fee-grant not found").wrap(where)
        allowance = self._unpack(grant.allowance, ALLOWANCE_TYPES)
        if allowance.HasField("expiration") and _expired(allowance.expiration, block.time):
            s.delete(k_feegrant(granter, grantee))
            raise errors.FEE_LIMIT_EXPIRED("basic allowance").wrap(where)
        if allowance.spend_limit:
            limits = {c.denom: int(c.amount) for c in allowance.spend_limit}
            for coin in fee:
                left = limits.get(coin.denom, 0) - int(coin.amount)
                if left < 0:
                    raise errors.FEE_LIMIT_EXCEEDED("basic allowance").wrap(where)
                limits[coin.denom] = left
            remaining = [Coin(denom=d, amount=str(a)) for d, a in sorted(limits.items()) if a > 0]
            if not remaining:
                s.delete(k_feegrant(granter, grantee))
                return
            del allowance.spend_limit[:]
            allowance.spend_limit.extend(remaining)
            grant.allowance.CopyFrom(pack(allowance))
            s.set_msg(k_feegrant(granter, grantee), grant)

    # -- entry points -------------------------------------------------------------
    def check_tx(self, state: Cache, tx_bytes: bytes, block: BlockInfo) -> tuple[DecodedTx, int, int]:
        """CheckTx against ``state`` (the mempool's state, updated on success): (tx, gas wanted, gas used)."""
        tx = self.decode(tx_bytes)
        for msg in tx.msgs:
            self.validate_basic(msg)
        gas = GasMeter(int(tx.auth_info.fee.gas_limit))
        cache = Cache(state, gas)
        self.ante(cache, tx, block, simulate=False, check=True)
        state.writes.update(cache.writes)
        return tx, int(tx.auth_info.fee.gas_limit), gas.consumed

    def simulate(self, state: Cache, tx_bytes: bytes, block: BlockInfo) -> tuple[int, list[Message]]:
        """Gas used by ``tx_bytes`` on a throw-away copy of ``state``; raises ChainError as the node would."""
        tx = self.decode(tx_bytes)
        for msg in tx.msgs:
            self.validate_basic(msg)
        gas = GasMeter(None)
        cache = Cache(state, gas)
        self.ante(cache, tx, block, simulate=True, check=True)
        responses = [self.handle(cache, msg, block) for msg in tx.msgs]
        return gas.consumed, responses

    def deliver_tx(self, state: Cache, tx_bytes: bytes, block: BlockInfo) -> TxOutcome:
        """Run a transaction in a block; fees and sequence stay even when its messages fail."""
        try:
            return self._deliver_tx(state, tx_bytes, block)
        except Exception as exc:
            log.exception("tx %s panicked", tx_hash(tx_bytes))
            return TxOutcome(111222, "undefined", f"panic: {type(exc).__name__}")

    def _deliver_tx(self, state: Cache, tx_bytes: bytes, block: BlockInfo) -> TxOutcome:
        outcome = TxOutcome()
        try:
            tx = self.decode(tx_bytes)
            for msg in tx.msgs:
                self.validate_basic(msg)
        except ChainError as err:
            return TxOutcome(err.code, err.codespace, err.log)
        outcome.gas_wanted = int(tx.auth_info.fee.gas_limit)
        gas = GasMeter(outcome.gas_wanted)
        ante_cache = Cache(state, gas)
        try:
            self.ante(ante_cache, tx, block, simulate=False, check=False)
        except ChainError as err:
            outcome.code, outcome.codespace, outcome.log, outcome.gas_used = err.code, err.codespace, err.log, gas.consumed
            return outcome
        state.writes.update(ante_cache.writes)
        msg_cache = Cache(state, gas)
        index = 0
        try:
            for index, msg in enumerate(tx.msgs):
                self.handle(msg_cache, msg, block)
                outcome.events.append(
                    {"type": "message", "attributes": [
                        {"key": "action", "value": "/" + msg.DESCRIPTOR.full_name, "index": True},
                        {"key": "sender", "value": self.msg_signer(msg), "index": True},
                        {"key": "msg_index", "value": str(index), "index": True},
                    ]}
                )
        except ChainError as err:
            outcome.code, outcome.codespace = err.code, err.codespace
            outcome.log = f"failed to execute message; message index: {index}: {err.log}"
            outcome.events = []
            outcome.gas_used = gas.consumed
            return outcome
        except Exception as exc:
            log.exception("message %d of tx %s panicked", index, tx.hash)
            outcome.code, outcome.codespace = 111222, "undefined"
            outcome.log = f"panic in message {index}: {type(exc).__name__}"
            outcome.events = []
            outcome.gas_used = gas.consumed
            return outcome
        state.writes.update(msg_cache.writes)
        outcome.gas_used = gas.consumed
        return outcome

    # -- bank -------------------------------------------------------------------------
    def balance(self, s: Cache, addr: str, denom: str) -> int:
        return s.get_int(k_balance(addr, denom))

    def balances(self, s: Cache, addr: str) -> list[Coin]:
        prefix = k_balance(addr)
        return [
            Coin(denom=key[len(prefix):], amount=str(s.get_int(key)))
            for key in s.keys(prefix)
        ]

    def ensure_account(self, s: Cache, addr: str) -> BaseAccount:
        account = s.get_msg(k_account(addr), BaseAccount)
        if account is None:
            number = s.get_int(K_NEXT_ACCOUNT)
            account = BaseAccount(address=addr, account_number=number, sequence=0)
            s.set_int(K_NEXT_ACCOUNT, number + 1)
            s.set_msg(k_account(addr), account)
        return account

    def mint(self, s: Cache, addr: str, denom: str, amount: int) -> None:
        if amount <= 0:
            return
        self.ensure_account(s, addr)
        s.set_int(k_balance(addr, denom), self.balance(s, addr, denom) + amount)

    def burn(self, s: Cache, addr: str, denom: str, amount: int) -> None:
        have = self.balance(s, addr, denom)
        if have < amount:
            raise errors.INSUFFICIENT_FUNDS(f"spendable balance {have}{denom} is smaller than {amount}{denom}")
        s.set_int(k_balance(addr, denom), have - amount)

    def send_to_module(self, s: Cache, addr: str, denom: str, amount: int, module: str) -> None:
        self.burn(s, addr, denom, amount)
        s.set_int(f"module/{module}/{denom}", s.get_int(f"module/{module}/{denom}") + amount)

    def send_from_module(self, s: Cache, module: str, addr: str, denom: str, amount: int) -> None:
        if amount <= 0:
            return
        held = s.get_int(f"module/{module}/{denom}")
        s.set_int(f"module/{module}/{denom}", held - amount)
        self.mint(s, addr, denom, amount)

    # -- message handlers ------------------------------------------------------------
    def handle(self, s: Cache, msg: Message, block: BlockInfo) -> Message | None:
        handler = getattr(self, "_msg_" + type(msg).__name__, None)
        if handler is None:
            raise errors.UNKNOWN_REQUEST(f"unrecognized message type: /{msg.DESCRIPTOR.full_name}")
        return handler(s, msg, block)

    def _msg_MsgSend(self, s: Cache, msg: MsgSend, block: BlockInfo) -> None:
        _valid_address(msg.to_address, "recipient address")
        for coin in msg.amount:
            if coin.denom == config.DEPOSIT_DENOM:
                raise errors.SEND_DISABLED(f"{coin.denom} transfers are currently disabled")
        for coin in msg.amount:
            self.burn(s, msg.from_address, coin.denom, int(coin.amount))
            self.mint(s, msg.to_address, coin.denom, int(coin.amount))

    def _msg_MsgGrantAllowance(self, s: Cache, msg: MsgGrantAllowance, block: BlockInfo) -> None:
        if s.get(k_feegrant(msg.granter, msg.grantee)) is not None:
            raise errors.INVALID_REQUEST("fee allowance already exists")
        allowance = self._unpack(msg.allowance, ALLOWANCE_TYPES)
        if allowance.HasField("expiration") and _expired(allowance.expiration, block.time):
            raise errors.FEE_LIMIT_EXPIRED("expiration is before current block time")
        self.ensure_account(s, msg.grantee)
        s.set_msg(k_feegrant(msg.granter, msg.grantee), FeeGrant(granter=msg.granter, grantee=msg.grantee, allowance=msg.allowance))

    def _msg_MsgRevokeAllowance(self, s: Cache, msg: MsgRevokeAllowance, block: BlockInfo) -> None:
        if s.get(k_feegrant(msg.granter, msg.grantee)) is None:
            raise errors.NOT_FOUND("fee-grant not found")
        s.delete(k_feegrant(msg.granter, msg.grantee))

    def _msg_MsgGrant(self, s: Cache, msg: MsgGrant, block: BlockInfo) -> None:
        authorization = self._unpack(msg.grant.authorization, AUTHORIZATION_TYPES)
        if msg.grant.HasField("expiration") and _expired(msg.grant.expiration, block.time):
            raise errors.INVALID_EXPIRATION()
        msg_type = authorization.msg if isinstance(authorization, GenericAuthorization) else DEPOSIT_AUTHZ_MSG
        if isinstance(authorization, GenericAuthorization) and msg_type not in MSG_TYPES:
            raise errors.INVALID_TYPE(f"{msg_type} doesn't exist")
        self.ensure_account(s, msg.grantee)
        s.set_msg(k_authz(msg.granter, msg.grantee, msg_type), msg.grant)

    def _msg_MsgRevoke(self, s: Cache, msg: MsgRevoke, block: BlockInfo) -> None:
        key = k_authz(msg.granter, msg.grantee, msg.msg_type_url)
        if s.get(key) is None:
            raise errors.AUTHORIZATION_NOT_FOUND()
        s.delete(key)

    def _msg_MsgCreateCertificate(self, s: Cache, msg: MsgCreateCertificate, block: BlockInfo) -> None:
        s.set(f"cert/{msg.owner}/{hashlib.sha256(msg.cert).hexdigest()}", msg.SerializeToString())

    # deployment ---------------------------------------------------------------------
    def _msg_MsgCreateDeployment(self, s: Cache, msg: MsgCreateDeployment, block: BlockInfo) -> None:
        owner, dseq = msg.id.owner, msg.id.dseq
        if s.get(k_deployment(owner, dseq)) is not None:
            raise errors.DEPLOYMENT_EXISTS()
        amount = msg.deposit.amount
        minimum = {config.DEPOSIT_DENOM: config.MIN_DEPOSIT_UACT, config.GAS_DENOM: config.MIN_DEPOSIT_UAKT}
        if amount.denom not in minimum:  # deployment params MinDepositFor
            raise errors.DEPLOYMENT_INVALID_DEPOSIT().followed_by(f"Invalid deposit denomination {amount.denom}")
        if int(amount.amount or "0") < minimum[amount.denom]:
            raise errors.DEPLOYMENT_INVALID_DEPOSIT(
                f"Deposit too low - {int(amount.amount or '0')} < {minimum[amount.denom]}{amount.denom}"
            )
        if amount.denom == config.GAS_DENOM:
            raise errors.DEPLOYMENT_INVALID_DEPOSIT()
        names = set()
        for spec in msg.groups:
            if spec.name in names:
                raise errors.INVALID_GROUPS(f"duplicate group name {spec.name}")
            names.add(spec.name)
            if not spec.resources:
                raise errors.INVALID_GROUPS("group has no resources")
            for unit in spec.resources:
                if unit.count == 0:
                    raise errors.INVALID_GROUPS("resource count cannot be zero")
        denoms = {unit.price.denom for spec in msg.groups for unit in spec.resources}
        if msg.groups[0].resources[0].price.denom != config.DEPOSIT_DENOM or denoms != {config.DEPOSIT_DENOM}:
            bad = sorted(denoms - {config.DEPOSIT_DENOM}) or [msg.groups[0].resources[0].price.denom]
            raise errors.INVALID_PRICE(f"unsupported denomination {bad[0]}")
        depositors = self.authorize_deposits(s, owner, msg, msg.deposit, Scope.deployment, block)
        s.set_msg(
            k_deployment(owner, dseq),
            Deployment(id=msg.id, state=Deployment.State.active, hash=msg.hash, created_at=block.height),
        )
        for index, spec in enumerate(msg.groups, start=1):
            gid = GroupID(owner=owner, dseq=dseq, gseq=index)
            s.set_msg(k_group(owner, dseq, index), Group(id=gid, state=Group.State.open, group_spec=spec, created_at=block.height))
            self._create_order(s, gid, spec, 1, block)
        self._escrow_create(s, Scope.deployment, deployment_xid(owner, dseq), owner, depositors, block)

    def _create_order(self, s: Cache, gid: GroupID, spec: GroupSpec, oseq: int, block: BlockInfo) -> None:
        oid = OrderID(owner=gid.owner, dseq=gid.dseq, gseq=gid.gseq, oseq=oseq)
        s.set_msg(k_order(oid), Order(id=oid, state=Order.State.open, spec=spec, created_at=block.height))

    def _msg_MsgUpdateDeployment(self, s: Cache, msg: MsgUpdateDeployment, block: BlockInfo) -> None:
        deployment = s.get_msg(k_deployment(msg.id.owner, msg.id.dseq), Deployment)
        if deployment is None:
            raise errors.DEPLOYMENT_NOT_FOUND()
        if deployment.state != Deployment.State.active:
            raise errors.DEPLOYMENT_CLOSED()
        if msg.hash == deployment.hash:
            raise errors.INVALID_HASH()
        deployment.hash = msg.hash
        s.set_msg(k_deployment(msg.id.owner, msg.id.dseq), deployment)

    def _msg_MsgCloseDeployment(self, s: Cache, msg: MsgCloseDeployment, block: BlockInfo) -> None:
        deployment = s.get_msg(k_deployment(msg.id.owner, msg.id.dseq), Deployment)
        if deployment is None:
            raise errors.DEPLOYMENT_NOT_FOUND()
        if deployment.state != Deployment.State.active:
            raise errors.DEPLOYMENT_CLOSED()
        self.close_deployment(s, msg.id.owner, msg.id.dseq, block, insufficient_funds=False)

    def close_deployment(self, s: Cache, owner: str, dseq: int, block: BlockInfo, *, insufficient_funds: bool) -> None:
        """Close a deployment with its groups, orders, bids and leases; return what is left of its escrow."""
        if not insufficient_funds:
            # Pay the providers up to this block first (x/escrow AccountClose settles the account).
            self.settle_escrow(s, block, only=deployment_xid(owner, dseq))
        deployment = s.get_msg(k_deployment(owner, dseq), Deployment)
        if deployment.state == Deployment.State.closed:  # the settlement ran the account dry and closed it
            return
        deployment.state = Deployment.State.closed
        s.set_msg(k_deployment(owner, dseq), deployment)
        for key, group in list(s.iter_msgs(k_group(owner, dseq), Group)):
            group.state = Group.State.insufficient_funds if insufficient_funds else Group.State.closed
            s.set_msg(key, group)
        prefix = f"order/{owner}/{_n(dseq)}/"
        for key, order in list(s.iter_msgs(prefix, Order)):
            if order.state != Order.State.closed:
                order.state = Order.State.closed
                s.set_msg(key, order)
        reason = (
            LeaseClosedReason.lease_closed_reason_insufficient_funds if insufficient_funds
            else LeaseClosedReason.lease_closed_owner
        )
        for key, lease in list(s.iter_msgs(f"lease/{owner}/{_n(dseq)}/", Lease)):
            if lease.state == Lease.State.active:
                lease.state = Lease.State.insufficient_funds if insufficient_funds else Lease.State.closed
                lease.closed_on = block.height
                lease.reason = reason
                s.set_msg(key, lease)
        for key, bid in list(s.iter_msgs(f"bid/{owner}/{_n(dseq)}/", Bid)):
            if bid.state in (Bid.State.open, Bid.State.active):
                bid.state = Bid.State.closed
                s.set_msg(key, bid)
                self._escrow_close(s, Scope.bid, bid_xid(bid.id), block)
        self._escrow_close(s, Scope.deployment, deployment_xid(owner, dseq), block,
                           state=EscrowState.overdrawn if insufficient_funds else EscrowState.closed)

    # escrow -----------------------------------------------------------------------
    def authorize_deposits(
        self, s: Cache, owner: str, msg: Message, deposit, scope: int, block: BlockInfo
    ) -> list[Depositor]:
        """Where a deposit comes from: the owner's balance and/or DepositAuthorization grants (x/escrow AuthorizeDeposits)."""
        denom, remainder = deposit.amount.denom, int(deposit.amount.amount or "0")
        depositors: list[Depositor] = []
        for source in deposit.sources:
            if remainder == 0:
                break
            if source == Source.balance:
                spendable = self.balance(s, owner, denom)
                take = min(spendable, remainder)
                if take > 0:
                    depositors.append(self._depositor(owner, block, Source.balance, denom, take))
                    remainder -= take
            elif source == Source.grant:
                for key in s.keys("authz/"):
                    parts = key.split("/")
                    granter, grantee, msg_type = parts[1], parts[2], "/".join(parts[3:])
                    if grantee != owner or msg_type != DEPOSIT_AUTHZ_MSG or remainder == 0:
                        continue
                    grant = s.get_msg(key, Grant)
                    if grant.HasField("expiration") and _expired(grant.expiration, block.time):
                        continue
                    auth = DepositAuthorization.FromString(grant.authorization.value)
                    if scope not in auth.scopes:
                        continue
                    limits = {c.denom: int(c.amount) for c in auth.spend_limits}
                    if auth.HasField("spend_limit") and int(auth.spend_limit.amount or "0") > 0:
                        limits[auth.spend_limit.denom] = limits.get(auth.spend_limit.denom, 0) + int(auth.spend_limit.amount)
                    available = limits.get(denom, 0)
                    if available <= 0:
                        continue
                    take = min(available, remainder)
                    limits[denom] = available - take
                    del auth.spend_limits[:]
                    auth.spend_limits.extend(Coin(denom=d, amount=str(a)) for d, a in sorted(limits.items()) if a > 0)
                    auth.ClearField("spend_limit")
                    grant.authorization.CopyFrom(pack(auth))
                    s.set_msg(key, grant)
                    depositors.append(self._depositor(granter, block, Source.grant, denom, take))
                    remainder -= take
            else:
                raise errors.ChainError("deposit", 2, "invalid deposit source", f"source {source}")
        if remainder:
            raise errors.MARKET_INVALID_DEPOSIT().followed_by("insufficient balance")
        return depositors

    @staticmethod
    def _depositor(owner: str, block: BlockInfo, source: int, denom: str, amount: int) -> Depositor:
        return Depositor(owner=owner, height=block.height, source=source,
                         balance=DecCoin(denom=denom, amount=to_legacy_dec(amount)))

    def _escrow_create(self, s: Cache, scope: int, xid: str, owner: str, depositors: list[Depositor], block: BlockInfo) -> None:
        for dep in depositors:
            self.send_to_module(s, dep.owner, dep.balance.denom, _floor(_dec(dep.balance)), "escrow")
        account = EscrowAccount(
            id=EscrowAccountID(scope=scope, xid=xid),
            state=AccountState(owner=owner, state=EscrowState.open, settled_at=block.height),
        )
        self._set_funds(account, depositors)
        s.set_msg(k_escrow_account(scope, xid), account)

    @staticmethod
    def _set_funds(account: EscrowAccount, depositors) -> None:
        totals: dict[str, Decimal] = {}
        for dep in depositors:
            totals[dep.balance.denom] = totals.get(dep.balance.denom, Decimal(0)) + _dec(dep.balance)
        del account.state.deposits[:]
        account.state.deposits.extend(d for d in depositors if _dec(d.balance) > 0)
        del account.state.funds[:]
        account.state.funds.extend(Balance(denom=d, amount=to_legacy_dec(v)) for d, v in sorted(totals.items()))

    def _msg_MsgAccountDeposit(self, s: Cache, msg: MsgAccountDeposit, block: BlockInfo) -> None:
        key = k_escrow_account(msg.id.scope, msg.id.xid)
        account = s.get_msg(key, EscrowAccount)
        if account is None:
            raise errors.ESCROW_ACCOUNT_NOT_FOUND()
        if account.state.state != EscrowState.open:
            raise errors.ESCROW_ACCOUNT_CLOSED()
        denom = msg.deposit.amount.denom
        if denom not in (config.DEPOSIT_DENOM, config.GAS_DENOM):
            raise errors.ESCROW_INVALID_DENOMINATION(f"unsupported deposit denomination {denom}")
        depositors = self.authorize_deposits(s, msg.signer, msg, msg.deposit, msg.id.scope, block)
        for dep in depositors:
            self.send_to_module(s, dep.owner, dep.balance.denom, _floor(_dec(dep.balance)), "escrow")
        self._set_funds(account, list(account.state.deposits) + depositors)
        s.set_msg(key, account)

    def _escrow_close(self, s: Cache, scope: int, xid: str, block: BlockInfo, state: int = EscrowState.closed) -> None:
        """Settle and close an escrow account and its payments; return each depositor's rest to them."""
        key = k_escrow_account(scope, xid)
        account = s.get_msg(key, EscrowAccount)
        if account is None or account.state.state != EscrowState.open:
            return
        for pkey, payment in list(s.iter_msgs(k_escrow_payment(scope, xid), Payment)):
            if payment.state.state == EscrowState.open:
                payment.state.state = EscrowState.closed
                s.set_msg(pkey, payment)
        for dep in account.state.deposits:
            self.send_from_module(s, "escrow", dep.owner, dep.balance.denom, _floor(_dec(dep.balance)))
        self._set_funds(account, [])
        account.state.state = state
        account.state.settled_at = block.height
        s.set_msg(key, account)

    def settle_escrow(self, s: Cache, block: BlockInfo, only: str = "") -> None:
        """Each block, every open deployment account pays its leases' providers at their prices."""
        for key, account in list(s.iter_msgs(f"escrow/acc/{Scope.deployment}/", EscrowAccount)):
            if account.state.state != EscrowState.open or (only and account.id.xid != only):
                continue
            payments = [
                (pkey, p) for pkey, p in s.iter_msgs(k_escrow_payment(Scope.deployment, account.id.xid), Payment)
                if p.state.state == EscrowState.open
            ]
            if not payments:
                continue
            blocks = block.height - account.state.settled_at
            if blocks <= 0:
                continue
            deposits = list(account.state.deposits)
            short = False
            for pkey, payment in payments:
                owed = _dec(payment.state.rate) * blocks
                denom = payment.state.rate.denom
                paid = Decimal(0)
                for dep in deposits:
                    if owed - paid <= 0:
                        break
                    if dep.balance.denom != denom:
                        continue
                    take = min(_dec(dep.balance), owed - paid)
                    dep.balance.amount = to_legacy_dec(_dec(dep.balance) - take)
                    paid += take
                if paid < owed:
                    short = True
                balance = _dec(payment.state.balance) + paid
                whole = _floor(balance)
                if whole > 0:
                    self.send_from_module(s, "escrow", payment.state.owner, denom, whole)
                    payment.state.withdrawn.CopyFrom(
                        Coin(denom=denom, amount=str(int(payment.state.withdrawn.amount or "0") + whole))
                    )
                payment.state.balance.CopyFrom(DecCoin(denom=denom, amount=to_legacy_dec(balance - whole)))
                transferred = {c.denom: _dec(c) for c in account.state.transferred}
                transferred[denom] = transferred.get(denom, Decimal(0)) + paid
                del account.state.transferred[:]
                account.state.transferred.extend(
                    DecCoin(denom=d, amount=to_legacy_dec(v)) for d, v in sorted(transferred.items())
                )
                s.set_msg(pkey, payment)
            account.state.settled_at = block.height
            self._set_funds(account, deposits)
            s.set_msg(key, account)
            if short:
                owner, dseq = account.id.xid.rsplit("/", 1)
                self.close_deployment(s, owner, int(dseq), block, insufficient_funds=True)

    # market -----------------------------------------------------------------------------
    def _msg_MsgCreateBid(self, s: Cache, msg: MsgCreateBid, block: BlockInfo) -> None:
        """x/market CreateBid, its checks in the node's order."""
        bid_id = msg.id
        deposit = msg.deposit.amount
        if deposit.denom != config.DEPOSIT_DENOM:
            raise errors.MARKET_INVALID_DEPOSIT().followed_by(f"unsupported denom {deposit.denom}")
        if int(deposit.amount or "0") < config.BID_MIN_DEPOSIT_UACT:
            raise errors.MARKET_INVALID_DEPOSIT().followed_by(
                f"minimum:{config.BID_MIN_DEPOSIT_UACT}{config.DEPOSIT_DENOM} received:{deposit.amount}{deposit.denom}"
            )
        if bid_id.bseq != 0:
            raise errors.INVALID_BID()
        oid = OrderID(owner=bid_id.owner, dseq=bid_id.dseq, gseq=bid_id.gseq, oseq=bid_id.oseq)
        order = s.get_msg(k_order(oid), Order)
        if order is None:
            raise errors.ORDER_NOT_FOUND()
        if order.state == Order.State.active:
            raise errors.ORDER_ACTIVE()
        if order.state != Order.State.open:
            raise errors.ORDER_CLOSED()
        denom, max_price = group_price(order.spec)
        if msg.price.denom != denom or _dec(msg.price) > max_price:
            raise errors.BID_INVALID_PRICE()
        provider = s.get_msg(k_provider(bid_id.provider), Provider)
        if provider is None:
            raise errors.UNKNOWN_PROVIDER()
        if not self._provider_matches(s, provider, order.spec):
            raise errors.ATTRIBUTE_MISMATCH()
        depositors = self.authorize_deposits(s, bid_id.provider, msg, msg.deposit, Scope.bid, block)
        if s.get(k_bid(bid_id)) is not None:
            raise errors.BID_EXISTS()
        bid = Bid(id=bid_id, state=Bid.State.open, price=msg.price, created_at=block.height)
        bid.resources_offer.extend(msg.resources_offer)
        s.set_msg(k_bid(bid_id), bid)
        self._escrow_create(s, Scope.bid, bid_xid(bid_id), bid_id.provider, depositors, block)

    def _provider_matches(self, s: Cache, provider: Provider, spec: GroupSpec) -> bool:
        have = {(a.key, a.value) for a in provider.attributes}
        wanted = [(a.key, a.value) for a in spec.requirements.attributes]
        if any(w not in have for w in wanted):
            return False
        signed = spec.requirements.signed_by
        if not signed.all_of and not signed.any_of:
            return True
        audited = set()
        for _, record in s.iter_msgs(k_audit(provider.owner), AuditedProvider):
            record_attrs = {(a.key, a.value) for a in record.attributes}
            if all(w in record_attrs for w in wanted):
                audited.add(record.auditor)
        if any(a not in audited for a in signed.all_of):
            return False
        return not signed.any_of or any(a in audited for a in signed.any_of)

    def _msg_MsgCloseBid(self, s: Cache, msg: MsgCloseBid, block: BlockInfo) -> None:
        """x/market CloseBid: an open bid just closes; a provider closing its active lease pauses the group."""
        bid = s.get_msg(k_bid(msg.id), Bid)
        if bid is None:
            raise errors.UNKNOWN_BID()
        oid = OrderID(owner=msg.id.owner, dseq=msg.id.dseq, gseq=msg.id.gseq, oseq=msg.id.oseq)
        order = s.get_msg(k_order(oid), Order)
        if order is None:
            raise errors.UNKNOWN_ORDER_FOR_BID()
        if bid.state == Bid.State.open:
            bid.state = Bid.State.closed
            s.set_msg(k_bid(msg.id), bid)
            self._escrow_close(s, Scope.bid, bid_xid(msg.id), block)
            return
        lease = s.get_msg(k_lease(msg.id), Lease)
        if lease is None:
            raise errors.UNKNOWN_LEASE_FOR_BID()
        if lease.state != Lease.State.active:
            raise errors.LEASE_NOT_ACTIVE()
        if bid.state != Bid.State.active:
            raise errors.BID_NOT_ACTIVE()
        group = s.get_msg(k_group(msg.id.owner, msg.id.dseq, msg.id.gseq), Group)
        if group.state == Group.State.open:
            group.state = Group.State.paused
            s.set_msg(k_group(msg.id.owner, msg.id.dseq, msg.id.gseq), group)
        self._close_lease(s, lease, bid, order, msg.reason or LeaseClosedReason.lease_closed_reason_unspecified, block)

    def _msg_MsgCloseLease(self, s: Cache, msg: MsgCloseLease, block: BlockInfo) -> None:
        """x/market CloseLease by the owner: the group stays open and a new order goes out."""
        oid = OrderID(owner=msg.id.owner, dseq=msg.id.dseq, gseq=msg.id.gseq, oseq=msg.id.oseq)
        order = s.get_msg(k_order(oid), Order)
        if order is None:
            raise errors.ORDER_NOT_FOUND()
        if order.state != Order.State.active:
            raise errors.ORDER_CLOSED()
        bid = s.get_msg(k_bid(msg.id), Bid)
        if bid is None:
            raise errors.BID_NOT_FOUND()
        if bid.state != Bid.State.active:
            raise errors.BID_NOT_ACTIVE()
        lease = s.get_msg(k_lease(msg.id), Lease)
        if lease is None:
            raise errors.LEASE_NOT_FOUND()
        if lease.state != Lease.State.active:
            raise errors.ORDER_CLOSED()
        self._close_lease(s, lease, bid, order, LeaseClosedReason.lease_closed_owner, block)
        group = s.get_msg(k_group(msg.id.owner, msg.id.dseq, msg.id.gseq), Group)
        if group is not None and group.state == Group.State.open:
            self._create_order(s, group.id, group.group_spec, msg.id.oseq + 1, block)

    def _close_lease(self, s: Cache, lease: Lease, bid: Bid, order: Order, reason: int, block: BlockInfo) -> None:
        # Pay what the lease owes up to this block before its payment closes.
        self.settle_escrow(s, block, only=deployment_xid(lease.id.owner, lease.id.dseq))
        lease.state = Lease.State.closed
        lease.closed_on = block.height
        lease.reason = reason
        s.set_msg(k_lease(lease.id), lease)
        bid.state = Bid.State.closed
        s.set_msg(k_bid(bid.id), bid)
        self._escrow_close(s, Scope.bid, bid_xid(bid.id), block)
        order.state = Order.State.closed
        s.set_msg(k_order(order.id), order)
        pkey = k_escrow_payment(Scope.deployment, deployment_xid(lease.id.owner, lease.id.dseq), payment_xid(lease.id))
        payment = s.get_msg(pkey, Payment)
        if payment is not None:
            payment.state.state = EscrowState.closed
            s.set_msg(pkey, payment)

    def _msg_MsgCreateLease(self, s: Cache, msg: MsgCreateLease, block: BlockInfo) -> None:
        bid_id = msg.bid_id
        bid = s.get_msg(k_bid(bid_id), Bid)
        if bid is None:
            raise errors.BID_NOT_FOUND()
        if bid.state != Bid.State.open:
            raise errors.BID_NOT_OPEN()
        oid = OrderID(owner=bid_id.owner, dseq=bid_id.dseq, gseq=bid_id.gseq, oseq=bid_id.oseq)
        order = s.get_msg(k_order(oid), Order)
        if order is None:
            raise errors.ORDER_NOT_FOUND()
        if order.state != Order.State.open:
            raise errors.ORDER_NOT_OPEN()
        group = s.get_msg(k_group(bid_id.owner, bid_id.dseq, bid_id.gseq), Group)
        if group is None or group.state != Group.State.open:
            raise errors.GROUP_NOT_OPEN()
        account = s.get_msg(k_escrow_account(Scope.deployment, deployment_xid(bid_id.owner, bid_id.dseq)), EscrowAccount)
        if account is None or account.state.state != EscrowState.open:
            raise errors.ESCROW_ACCOUNT_CLOSED()
        lid = lease_id_of(bid_id)
        s.set_msg(k_lease(lid), Lease(id=lid, state=Lease.State.active, price=bid.price, created_at=block.height))
        bid.state = Bid.State.active
        s.set_msg(k_bid(bid_id), bid)
        order.state = Order.State.active
        s.set_msg(k_order(oid), order)
        prefix = f"bid/{bid_id.owner}/{_n(bid_id.dseq)}/{_n(bid_id.gseq)}/{_n(bid_id.oseq)}/"
        for key, other in list(s.iter_msgs(prefix, Bid)):
            if other.state == Bid.State.open:
                other.state = Bid.State.lost
                s.set_msg(key, other)
                self._escrow_close(s, Scope.bid, bid_xid(other.id), block)
        # Settle what is owed so far before the new payment starts.
        xid = deployment_xid(bid_id.owner, bid_id.dseq)
        payment = Payment(
            id=EscrowPaymentID(aid=EscrowAccountID(scope=Scope.deployment, xid=xid), xid=payment_xid(bid_id)),
            state=PaymentState(
                owner=bid_id.provider,
                state=EscrowState.open,
                rate=bid.price,
                balance=DecCoin(denom=bid.price.denom, amount=to_legacy_dec(0)),
                unsettled=DecCoin(denom=bid.price.denom, amount=to_legacy_dec(0)),
                withdrawn=Coin(denom=bid.price.denom, amount="0"),
            ),
        )
        s.set_msg(k_escrow_payment(Scope.deployment, xid, payment_xid(bid_id)), payment)
        if not any(p.state.state == EscrowState.open for _, p in s.iter_msgs(k_escrow_payment(Scope.deployment, xid), Payment) if p.id.xid != payment.id.xid):
            account.state.settled_at = block.height
            s.set_msg(k_escrow_account(Scope.deployment, xid), account)

    # bme ----------------------------------------------------------------------------
    def _msg_MsgMintACT(self, s: Cache, msg: MsgMintACT, block: BlockInfo) -> Message:
        """x/bme RequestBurnMint: the uakt goes to the module now; the mint waits for the epoch."""
        amount = int(msg.coins_to_burn.amount or "0")
        if amount <= 0:
            raise errors.INVALID_COINS(f"invalid coins: {amount}{msg.coins_to_burn.denom}")
        self.send_to_module(s, msg.owner, config.GAS_DENOM, amount, "bme")
        seq = s.get_int("bme/seq") + 1
        s.set_int("bme/seq", seq)
        s.set_msg(k_mint(block.height, seq), LedgerPendingRecord(
            owner=msg.owner, to=msg.to, coins_to_burn=msg.coins_to_burn, denom_to_mint=config.DEPOSIT_DENOM))
        return MsgMintACTResponse(
            id=LedgerRecordID(denom=config.GAS_DENOM, to_denom=config.DEPOSIT_DENOM, source=msg.owner,
                              height=block.height, sequence=seq),
            status=LedgerRecordStatus.ledger_record_status_pending,
        )

    @staticmethod
    def mint_amounts(uakt: int) -> tuple[int, int]:
        """(minted, spread) for burning ``uakt``: the spread stays in the vault, the rest is the owner's."""
        minted = _floor(Decimal(uakt) * config.MINT_PRICE)
        return minted, minted * config.MINT_SPREAD_BPS // 10_000

    def settle_mints(self, s: Cache, block: BlockInfo) -> None:
        """At each mint epoch, pending MsgMintACT records turn the burnt uakt into uact; a mint below
        the minimum is cancelled and the uakt refunded (x/bme cancelBurnMint, reason minimum_mint)."""
        if block.height % config.MINT_EPOCH_BLOCKS:
            return
        for key, record in list(s.iter_msgs("bme/pending/", LedgerPendingRecord)):
            amount = int(record.coins_to_burn.amount)
            minted, spread = self.mint_amounts(amount)
            s.delete(key)
            if minted < config.MIN_MINT_UACT:
                self.send_from_module(s, "bme", record.owner, config.GAS_DENOM, amount)
                s.set(f"bme/canceled/{key.split('/', 2)[2]}", record.SerializeToString())
                continue
            s.set_int("module/bme/uakt", s.get_int("module/bme/uakt") - amount)
            self.mint(s, record.to, config.DEPOSIT_DENOM, minted - spread)
            s.set(f"bme/executed/{key.split('/', 2)[2]}", record.SerializeToString())

    def end_block(self, s: Cache, block: BlockInfo) -> None:
        self.settle_escrow(s, block)
        self.settle_mints(s, block)


_SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@functools.lru_cache(maxsize=65536)
def _verify(pubkey: bytes | None, sign_doc: bytes, signature: bytes) -> bool:
    """secp256k1 ECDSA over sha256(sign_doc), 64-byte r||s with low S, as the SDK verifies it.

    Cached: CheckTx and the block verify the same bytes (the sign doc holds chain id, account
    number and sequence), and the answer cannot change.
    """
    if pubkey is None or len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _SECP256K1_ORDER and 0 < s <= _SECP256K1_ORDER // 2):
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), pubkey)
        key.verify(encode_dss_signature(r, s), sign_doc, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
