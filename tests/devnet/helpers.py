"""Message JSON (chain-sdk's shapes: proto field names, enums by name, bytes in base64)."""

from __future__ import annotations

import hashlib
import itertools

from google.protobuf.json_format import MessageToDict

from deployer.akash.messages import group_spec_from_dict

_dseqs = itertools.count(1000)


def next_dseq() -> int:
    return next(_dseqs)


def group(price_uact: str = "1000", *, attributes: dict[str, str] | None = None, signed_by: list[str] | None = None,
          denom: str = "uact", name: str = "web") -> dict:
    """One GroupSpec: 0.5 CPU, 512 MiB, 1 GiB, one HTTP endpoint, at ``price_uact`` per block."""
    spec = group_spec_from_dict({
        "name": name,
        "requirements": {
            "signedBy": {"allOf": signed_by or [], "anyOf": []},
            "attributes": [{"key": k, "value": v} for k, v in (attributes or {}).items()],
        },
        "resources": [{
            "resource": {
                "id": 1,
                "cpu": {"units": {"val": b"500"}},
                "memory": {"quantity": {"val": str(512 * 1024 * 1024).encode()}},
                "storage": [{"name": "default", "quantity": {"val": str(1024**3).encode()}}],
                "gpu": {"units": {"val": b"0"}},
                "endpoints": [{"kind": "SHARED_HTTP", "sequence_number": 0}],
            },
            "count": 1,
            "price": {"denom": denom, "amount": price_uact},
        }],
    })
    shown = MessageToDict(spec, preserving_proto_field_name=True)
    # chain-sdk's JSON carries a LegacyDec as a decimal; its encoder writes the wire form.
    shown["resources"][0]["price"]["amount"] = dec18(price_uact)
    return shown


def dec18(value) -> str:
    """A LegacyDec as REST JSON shows it: "60" -> "60.000000000000000000"."""
    from decimal import Decimal

    return f"{Decimal(str(value)):.18f}"


def manifest_hash(text: str) -> str:
    import base64

    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def create_deployment(owner: str, dseq: int, *, deposit: int = 500_000, denom: str = "uact", source: str = "balance",
                      groups: list[dict] | None = None, hash_text: str = "v1") -> dict:
    return {
        "@type": "/akash.deployment.v1beta4.MsgCreateDeployment",
        "id": {"owner": owner, "dseq": str(dseq)},
        "groups": groups or [group()],
        "hash": manifest_hash(hash_text),
        "deposit": {"amount": {"denom": denom, "amount": str(deposit)}, "sources": [source]},
    }


def fee_allowance(granter: str, grantee: str, spend_limit: int, expiration: str) -> dict:
    return {
        "@type": "/cosmos.feegrant.v1beta1.MsgGrantAllowance", "granter": granter, "grantee": grantee,
        "allowance": {"@type": "/cosmos.feegrant.v1beta1.BasicAllowance",
                      "spend_limit": [{"denom": "uakt", "amount": str(spend_limit)}], "expiration": expiration},
    }


def deposit_grant(granter: str, grantee: str, uact: int, expiration: str, *, scopes=("deployment",),
                  spend_limit: dict | None = None) -> dict:
    authorization = {"@type": "/akash.escrow.v1.DepositAuthorization", "scopes": list(scopes),
                     "spend_limits": [{"denom": "uact", "amount": str(uact)}]}
    if spend_limit is not None:
        authorization["spend_limit"] = spend_limit
    return {"@type": "/cosmos.authz.v1beta1.MsgGrant", "granter": granter, "grantee": grantee,
            "grant": {"authorization": authorization, "expiration": expiration}}
