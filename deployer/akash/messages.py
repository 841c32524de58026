"""Builders of the Akash and Cosmos messages Slipway signs.

Each builder returns a protobuf message; ``type_url(msg)`` gives the URL it travels
under inside a transaction (``/akash.deployment.v1beta4.MsgCreateDeployment``).
Deposits and bid prices are in ``uact``; gas allowances in ``uakt`` (see AKASH.md).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cosmpy.protos.cosmos.authz.v1beta1.authz_pb2 import Grant
from cosmpy.protos.cosmos.authz.v1beta1.tx_pb2 import MsgGrant, MsgRevoke
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin, DecCoin
from cosmpy.protos.cosmos.feegrant.v1beta1.feegrant_pb2 import BasicAllowance
from cosmpy.protos.cosmos.feegrant.v1beta1.tx_pb2 import MsgGrantAllowance, MsgRevokeAllowance
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from deployer.akash.proto.akash.base.attributes.v1.attribute_pb2 import Attribute, PlacementRequirements, SignedBy
from deployer.akash.proto.akash.base.deposit.v1.deposit_pb2 import Deposit, Source
from deployer.akash.proto.akash.base.resources.v1beta4.cpu_pb2 import CPU
from deployer.akash.proto.akash.base.resources.v1beta4.endpoint_pb2 import Endpoint
from deployer.akash.proto.akash.base.resources.v1beta4.gpu_pb2 import GPU
from deployer.akash.proto.akash.base.resources.v1beta4.memory_pb2 import Memory
from deployer.akash.proto.akash.base.resources.v1beta4.resources_pb2 import Resources
from deployer.akash.proto.akash.base.resources.v1beta4.resourcevalue_pb2 import ResourceValue
from deployer.akash.proto.akash.base.resources.v1beta4.storage_pb2 import Storage
from deployer.akash.proto.akash.cert.v1.msg_pb2 import MsgCreateCertificate
from deployer.akash.proto.akash.deployment.v1.deployment_pb2 import DeploymentID
from deployer.akash.proto.akash.deployment.v1beta4.deploymentmsg_pb2 import (
    MsgCloseDeployment,
    MsgCreateDeployment,
    MsgUpdateDeployment,
)
from deployer.akash.proto.akash.deployment.v1beta4.groupspec_pb2 import GroupSpec
from deployer.akash.proto.akash.deployment.v1beta4.resourceunit_pb2 import ResourceUnit
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Account as EscrowAccountID
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Scope
from deployer.akash.proto.akash.escrow.v1.authz_pb2 import DepositAuthorization
from deployer.akash.proto.akash.escrow.v1.msg_pb2 import MsgAccountDeposit
from deployer.akash.proto.akash.market.v1.bid_pb2 import BidID
from deployer.akash.proto.akash.market.v1beta5.leasemsg_pb2 import MsgCreateLease

DEPOSIT_DENOM = "uact"
GAS_DENOM = "uakt"
# cosmos LegacyDec: a decimal carried as an integer string with 18 implied decimals.
LEGACY_DEC_PRECISION = 18


def type_url(msg: Message) -> str:
    return "/" + msg.DESCRIPTOR.full_name


def pack(msg: Message) -> AnyProto:
    """Wrap ``msg`` in an Any the way Cosmos does (``/`` + full name, no host)."""
    packed = AnyProto()
    packed.Pack(msg, type_url_prefix="/")
    return packed


# -- LegacyDec ----------------------------------------------------------------


def to_legacy_dec(value: str | int | Decimal) -> str:
    """``"1000"`` -> ``"1000" + 18 zeros``: the wire form of a cosmos LegacyDec."""
    try:
        dec = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not dec.is_finite():
        raise ValueError(f"not a decimal number: {value!r}")
    scaled = dec.scaleb(LEGACY_DEC_PRECISION)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than {LEGACY_DEC_PRECISION} decimal places")
    return str(int(scaled))


def from_legacy_dec(wire: str) -> Decimal:
    """The decimal value of a LegacyDec wire string."""
    return Decimal(int(wire or "0")).scaleb(-LEGACY_DEC_PRECISION)


# Fields holding a LegacyDec (gogoproto customtype): an integer string on the wire, a decimal with 18
# places in a node's REST JSON ("60.000000000000000000").
LEGACY_DEC_FIELDS = {"cosmos.base.v1beta1.DecCoin": "amount", "akash.escrow.types.v1.Balance": "amount"}


def legacy_dec_json(wire: str) -> str:
    """The REST (JSON) form of a LegacyDec wire string."""
    return f"{from_legacy_dec(wire):.{LEGACY_DEC_PRECISION}f}"


def legacy_dec_wire(text: str) -> str:
    """The wire form of a LegacyDec given in either form."""
    return to_legacy_dec(Decimal(text)) if "." in text else text


def map_legacy_decs(msg: Message, convert) -> None:
    """Rewrite every LegacyDec field in ``msg`` (nested, and inside Any) with ``convert``, in place."""
    from google.protobuf import symbol_database

    name = LEGACY_DEC_FIELDS.get(msg.DESCRIPTOR.full_name)
    if name and getattr(msg, name):
        setattr(msg, name, convert(getattr(msg, name)))
    for fd, value in msg.ListFields():
        if fd.message_type is None or fd.message_type.GetOptions().map_entry:
            continue
        for item in value if fd.label == fd.LABEL_REPEATED else [value]:
            if item.DESCRIPTOR.full_name == "google.protobuf.Any":
                try:
                    cls = symbol_database.Default().GetSymbol(item.type_url.rsplit("/", 1)[-1])
                except KeyError:
                    continue
                inner = cls.FromString(item.value)
                map_legacy_decs(inner, convert)
                item.value = inner.SerializeToString()
            else:
                map_legacy_decs(item, convert)


def coin(amount: int, denom: str) -> Coin:
    if amount < 0:
        raise ValueError("a coin amount cannot be negative")
    return Coin(denom=denom, amount=str(int(amount)))


def dec_coin(amount: str | int | Decimal, denom: str) -> DecCoin:
    """A DecCoin from its human value; the amount is stored in LegacyDec wire form."""
    return DecCoin(denom=denom, amount=to_legacy_dec(amount))


# -- deployments ----------------------------------------------------------------


def deployment_id(owner: str, dseq: int) -> DeploymentID:
    return DeploymentID(owner=owner, dseq=dseq)


def deposit(amount: int, denom: str = DEPOSIT_DENOM, *, from_grant: bool = False) -> Deposit:
    """A deposit drawn from the owner's balance, or from the funding wallet's authz grant."""
    return Deposit(amount=coin(amount, denom), sources=[Source.grant if from_grant else Source.balance])


def create_deployment(
    owner: str,
    dseq: int,
    groups: Iterable[GroupSpec],
    manifest_hash: bytes,
    deposit_amount: int,
    *,
    denom: str = DEPOSIT_DENOM,
    from_grant: bool = False,
) -> MsgCreateDeployment:
    return MsgCreateDeployment(
        id=deployment_id(owner, dseq),
        groups=list(groups),
        hash=manifest_hash,
        deposit=deposit(deposit_amount, denom, from_grant=from_grant),
    )


def update_deployment(owner: str, dseq: int, manifest_hash: bytes) -> MsgUpdateDeployment:
    return MsgUpdateDeployment(id=deployment_id(owner, dseq), hash=manifest_hash)


def close_deployment(owner: str, dseq: int) -> MsgCloseDeployment:
    return MsgCloseDeployment(id=deployment_id(owner, dseq))


def account_deposit(
    signer: str,
    owner: str,
    dseq: int,
    amount: int,
    *,
    denom: str = DEPOSIT_DENOM,
    from_grant: bool = False,
) -> MsgAccountDeposit:
    """Top up the escrow account of deployment ``owner/dseq``."""
    return MsgAccountDeposit(
        signer=signer,
        id=EscrowAccountID(scope=Scope.deployment, xid=f"{owner}/{dseq}"),
        deposit=deposit(amount, denom, from_grant=from_grant),
    )


def create_lease(owner: str, dseq: int, gseq: int, oseq: int, provider: str, bseq: int) -> MsgCreateLease:
    return MsgCreateLease(
        bid_id=BidID(owner=owner, dseq=dseq, gseq=gseq, oseq=oseq, provider=provider, bseq=bseq)
    )


def create_lease_for_bid(bid_id: BidID) -> MsgCreateLease:
    """Accept a bid as listed by the chain (its id carries the bid's bseq)."""
    msg = MsgCreateLease()
    msg.bid_id.CopyFrom(bid_id)
    return msg


def create_certificate(owner: str, cert_pem: bytes, pubkey_pem: bytes) -> MsgCreateCertificate:
    return MsgCreateCertificate(owner=owner, cert=cert_pem, pubkey=pubkey_pem)


# -- grants from the funding wallet to a deployer wallet -------------------------


def _timestamp(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("grant expirations must be timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def grant_fee_allowance(granter: str, grantee: str, spend_limit: int, expiration: datetime) -> MsgGrantAllowance:
    """Let ``grantee`` pay gas from ``granter`` (``AuthInfo.fee.granter``), up to ``spend_limit`` uakt."""
    allowance = BasicAllowance(spend_limit=[coin(spend_limit, GAS_DENOM)], expiration=_timestamp(expiration))
    return MsgGrantAllowance(granter=granter, grantee=grantee, allowance=pack(allowance))


def deposit_authorization(spend_limit: int, denom: str = DEPOSIT_DENOM) -> DepositAuthorization:
    # spend_limit is deprecated but non-nullable: the chain itself writes 0uakt there.
    return DepositAuthorization(
        spend_limit=coin(0, GAS_DENOM),
        scopes=[DepositAuthorization.Scope.deployment],
        spend_limits=[coin(spend_limit, denom)],
    )


def grant_deposit_authorization(
    granter: str, grantee: str, spend_limit: int, expiration: datetime, *, denom: str = DEPOSIT_DENOM
) -> MsgGrant:
    """Let ``grantee`` fund deployment deposits (``sources: [grant]``) from ``granter``."""
    grant = Grant(authorization=pack(deposit_authorization(spend_limit, denom)), expiration=_timestamp(expiration))
    return MsgGrant(granter=granter, grantee=grantee, grant=grant)


def revoke_fee_allowance(granter: str, grantee: str) -> MsgRevokeAllowance:
    return MsgRevokeAllowance(granter=granter, grantee=grantee)


def revoke_deposit_authorization(granter: str, grantee: str) -> MsgRevoke:
    # A DepositAuthorization is stored under the message it authorizes.
    return MsgRevoke(granter=granter, grantee=grantee, msg_type_url=type_url(MsgAccountDeposit()))


def grant_messages(
    granter: str,
    grantee: str,
    *,
    gas_limit: int,
    deposit_limit: int,
    expiration: datetime,
    replace_fee_allowance: bool = False,
) -> list[Message]:
    """Both grants in one transaction; ``replace_fee_allowance`` to top up existing ones.

    The feegrant module refuses a second allowance for the same pair, so a top-up
    revokes the old allowance first; an authz grant is simply overwritten.
    """
    msgs: list[Message] = []
    if replace_fee_allowance:
        msgs.append(revoke_fee_allowance(granter, grantee))
    msgs.append(grant_fee_allowance(granter, grantee, gas_limit, expiration))
    msgs.append(grant_deposit_authorization(granter, grantee, deposit_limit, expiration))
    return msgs


def revoke_messages(granter: str, grantee: str) -> list[Message]:
    return [revoke_fee_allowance(granter, grantee), revoke_deposit_authorization(granter, grantee)]


# -- GroupSpec from chain-sdk's SDL.groups() JSON ---------------------------------


def _get(d: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in d and d[name] is not None:
            return d[name]
    return default


def _value_bytes(raw: Any) -> bytes:
    """ResourceValue.val as chain-sdk gives it: a Uint8Array serialized by JSON.stringify."""
    if isinstance(raw, Mapping):  # {"0": 53, "1": 48, ...}
        return bytes(raw[k] for k in sorted(raw, key=int))
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    if isinstance(raw, list):
        return bytes(raw)
    if isinstance(raw, int):
        return str(raw).encode()
    if isinstance(raw, str):  # proto3 JSON form of bytes
        return base64.b64decode(raw)
    raise ValueError(f"unsupported resource value: {raw!r}")


def _resource_value(d: Mapping[str, Any] | None) -> ResourceValue | None:
    if d is None:
        return None
    return ResourceValue(val=_value_bytes(_get(d, "val", default=b"")))


def _attributes(items: Iterable[Mapping[str, Any]] | None) -> list[Attribute]:
    return [Attribute(key=str(a["key"]), value=str(a["value"])) for a in items or []]


def _resources(d: Mapping[str, Any]) -> Resources:
    res = Resources(id=int(_get(d, "id", default=0)))
    if (cpu := d.get("cpu")) is not None:
        res.cpu.CopyFrom(CPU(units=_resource_value(cpu.get("units")), attributes=_attributes(cpu.get("attributes"))))
    if (memory := d.get("memory")) is not None:
        res.memory.CopyFrom(
            Memory(quantity=_resource_value(memory.get("quantity")), attributes=_attributes(memory.get("attributes")))
        )
    for storage in d.get("storage") or []:
        res.storage.append(
            Storage(
                name=str(storage.get("name", "")),
                quantity=_resource_value(storage.get("quantity")),
                attributes=_attributes(storage.get("attributes")),
            )
        )
    if (gpu := d.get("gpu")) is not None:
        res.gpu.CopyFrom(GPU(units=_resource_value(gpu.get("units")), attributes=_attributes(gpu.get("attributes"))))
    for endpoint in d.get("endpoints") or []:
        kind = endpoint.get("kind", 0)
        res.endpoints.append(
            Endpoint(
                kind=Endpoint.Kind.Value(kind) if isinstance(kind, str) else int(kind),
                sequence_number=int(_get(endpoint, "sequence_number", "sequenceNumber", default=0)),
            )
        )
    return res


def group_spec_from_dict(d: Mapping[str, Any]) -> GroupSpec:
    """One element of chain-sdk's ``SDL.fromString(yaml, "beta3", "mainnet").groups()``.

    Prices arrive as human decimals ("1000", "100.5") and are stored as LegacyDec.
    """
    requirements = d.get("requirements") or {}
    signed_by = _get(requirements, "signedBy", "signed_by", default={})
    spec = GroupSpec(
        name=str(d["name"]),
        requirements=PlacementRequirements(
            signed_by=SignedBy(
                all_of=list(_get(signed_by, "allOf", "all_of", default=[])),
                any_of=list(_get(signed_by, "anyOf", "any_of", default=[])),
            ),
            attributes=_attributes(requirements.get("attributes")),
        ),
    )
    for unit in d.get("resources") or []:
        price = unit.get("price") or {}
        spec.resources.append(
            ResourceUnit(
                resource=_resources(unit.get("resource") or {}),
                count=int(unit.get("count", 0)),
                price=dec_coin(price.get("amount", "0"), str(price.get("denom", ""))),
            )
        )
    return spec
