"""Our messages, checked against chain-sdk's TypeScript codecs (tests/oracle/codec_oracle.mjs).

Python -> TS: chain-sdk decodes our bytes to the values we meant, and re-encodes them
to the same bytes. TS -> Python: chain-sdk encodes hand-written values, and our
builders produce exactly those messages. One node process per table.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from deployer.akash import messages as m
from deployer.akash.proto.akash.market.v1.bid_pb2 import BidID
from deployer.akash.proto.akash.market.v1beta5.query_pb2 import QueryBidsResponse, QueryLeasesResponse
from tests.oracle import oracle_available, run_node

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)"),
]

OWNER = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"
PROVIDER = "akash18ga02jzaq8cw52anyhzkwta5wygufgu6zsz6xc"
AUDITOR = "akash1s7xrduq4y8ej4zxmsd2acn0m9ahx0k3f66p3k4"
HASH = bytes(range(32))
EXPIRY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


# Messages whose "amount" is a LegacyDec (chain-sdk's custom-type patches convert these).
LEGACY_DEC_COINS = {"cosmos.base.v1beta1.DecCoin", "akash.escrow.types.v1.Balance"}


def human_json(msg: Message) -> dict[str, Any]:
    """proto3 JSON of ``msg`` with LegacyDec amounts as decimals, as chain-sdk's toJSON shows them."""
    data = MessageToDict(msg, preserving_proto_field_name=True)
    _humanize(msg.DESCRIPTOR, data)
    return data


def _humanize(desc: Descriptor, data: dict[str, Any]) -> None:
    for field in desc.fields:
        if field.message_type is None or field.name not in data:
            continue
        items = data[field.name] if field.label == field.LABEL_REPEATED else [data[field.name]]
        for item in items:
            if field.message_type.full_name in LEGACY_DEC_COINS:
                item["amount"] = format((Decimal(item["amount"]) / Decimal(10) ** 18).normalize(), "f")
            else:
                _humanize(field.message_type, item)


# One group in the shape chain-sdk's SDL.groups() gives (val: a JSON-stringified Uint8Array).
def sdl_value(text: str) -> dict[str, int]:
    return {str(i): b for i, b in enumerate(text.encode())}


SDL_GROUP = {
    "name": "dcloud",
    "requirements": {
        "attributes": [{"key": "region", "value": "us-west"}],
        "signedBy": {"allOf": [], "anyOf": [AUDITOR]},
    },
    "resources": [
        {
            "resource": {
                "id": 1,
                "cpu": {"units": {"val": sdl_value("500")}},
                "memory": {"quantity": {"val": sdl_value("536870912")}},
                "storage": [
                    {"name": "default", "quantity": {"val": sdl_value("1073741824")}},
                    {
                        "name": "data",
                        "quantity": {"val": sdl_value("2147483648")},
                        "attributes": [{"key": "class", "value": "beta2"}, {"key": "persistent", "value": "true"}],
                    },
                ],
                "gpu": {
                    "units": {"val": sdl_value("1")},
                    "attributes": [{"key": "vendor/nvidia/model/rtx4090/ram/24Gi", "value": "true"}],
                },
                "endpoints": [{"sequence_number": 0}, {"kind": 1, "sequence_number": 0}],
            },
            "count": 2,
            "price": {"denom": "uact", "amount": "1000"},
        },
        {
            "resource": {
                "id": 2,
                "cpu": {"units": {"val": sdl_value("100")}},
                "memory": {"quantity": {"val": sdl_value("134217728")}},
                "storage": [{"name": "default", "quantity": {"val": sdl_value("536870912")}}],
                "gpu": {"units": {"val": sdl_value("0")}},
                "endpoints": [],
            },
            "count": 1,
            "price": {"denom": "uact", "amount": "0.000123"},
        },
    ],
}

# The same group written by hand in chain-sdk's JSON form (proto field names), for TS -> Python.
TS_GROUP = {
    "name": "dcloud",
    "requirements": {
        "signed_by": {"any_of": [AUDITOR]},
        "attributes": [{"key": "region", "value": "us-west"}],
    },
    "resources": [
        {
            "resource": {
                "id": 1,
                "cpu": {"units": {"val": b64("500")}},
                "memory": {"quantity": {"val": b64("536870912")}},
                "storage": [
                    {"name": "default", "quantity": {"val": b64("1073741824")}},
                    {
                        "name": "data",
                        "quantity": {"val": b64("2147483648")},
                        "attributes": [{"key": "class", "value": "beta2"}, {"key": "persistent", "value": "true"}],
                    },
                ],
                "gpu": {
                    "units": {"val": b64("1")},
                    "attributes": [{"key": "vendor/nvidia/model/rtx4090/ram/24Gi", "value": "true"}],
                },
                "endpoints": [{"kind": "SHARED_HTTP"}, {"kind": "RANDOM_PORT"}],
            },
            "count": 2,
            "price": {"denom": "uact", "amount": "1000"},
        },
        {
            "resource": {
                "id": 2,
                "cpu": {"units": {"val": b64("100")}},
                "memory": {"quantity": {"val": b64("134217728")}},
                "storage": [{"name": "default", "quantity": {"val": b64("536870912")}}],
                "gpu": {"units": {"val": b64("0")}},
            },
            "count": 1,
            "price": {"denom": "uact", "amount": "0.000123"},
        },
    ],
}

# (name, chain-sdk type, our message, the same message as chain-sdk JSON written by hand)
CASES: list[tuple[str, str, Message, dict[str, Any]]] = [
    (
        "create deployment, deposit from grant",
        "akash.deployment.v1beta4.MsgCreateDeployment",
        m.create_deployment(OWNER, 1234, [m.group_spec_from_dict(SDL_GROUP)], HASH, 500000, from_grant=True),
        {
            "id": {"owner": OWNER, "dseq": "1234"},
            "groups": [TS_GROUP],
            "hash": b64(HASH),
            "deposit": {"amount": {"denom": "uact", "amount": "500000"}, "sources": ["grant"]},
        },
    ),
    (
        "create deployment, deposit from balance",
        "akash.deployment.v1beta4.MsgCreateDeployment",
        m.create_deployment(OWNER, 7, [], HASH, 600000),
        {
            "id": {"owner": OWNER, "dseq": "7"},
            "hash": b64(HASH),
            "deposit": {"amount": {"denom": "uact", "amount": "600000"}, "sources": ["balance"]},
        },
    ),
    (
        "update deployment",
        "akash.deployment.v1beta4.MsgUpdateDeployment",
        m.update_deployment(OWNER, 1234, HASH[::-1]),
        {"id": {"owner": OWNER, "dseq": "1234"}, "hash": b64(HASH[::-1])},
    ),
    (
        "close deployment",
        "akash.deployment.v1beta4.MsgCloseDeployment",
        m.close_deployment(OWNER, 9007199254740993),
        {"id": {"owner": OWNER, "dseq": "9007199254740993"}},
    ),
    (
        "account deposit",
        "akash.escrow.v1.MsgAccountDeposit",
        m.account_deposit(OWNER, OWNER, 1234, 250000, from_grant=True),
        {
            "signer": OWNER,
            "id": {"scope": "deployment", "xid": f"{OWNER}/1234"},
            "deposit": {"amount": {"denom": "uact", "amount": "250000"}, "sources": ["grant"]},
        },
    ),
    (
        "create lease",
        "akash.market.v1beta5.MsgCreateLease",
        m.create_lease(OWNER, 1234, 1, 1, PROVIDER, 3),
        {"bid_id": {"owner": OWNER, "dseq": "1234", "gseq": 1, "oseq": 1, "provider": PROVIDER, "bseq": 3}},
    ),
    (
        "create certificate",
        "akash.cert.v1.MsgCreateCertificate",
        m.create_certificate(OWNER, b"-----BEGIN CERTIFICATE-----\nx\n", b"-----BEGIN EC PUBLIC KEY-----\ny\n"),
        {
            "owner": OWNER,
            "cert": b64(b"-----BEGIN CERTIFICATE-----\nx\n"),
            "pubkey": b64(b"-----BEGIN EC PUBLIC KEY-----\ny\n"),
        },
    ),
    (
        "revoke fee allowance",
        "cosmos.feegrant.v1beta1.MsgRevokeAllowance",
        m.revoke_fee_allowance(OWNER, PROVIDER),
        {"granter": OWNER, "grantee": PROVIDER},
    ),
    (
        "revoke deposit authorization",
        "cosmos.authz.v1beta1.MsgRevoke",
        m.revoke_deposit_authorization(OWNER, PROVIDER),
        {"granter": OWNER, "grantee": PROVIDER, "msg_type_url": "/akash.escrow.v1.MsgAccountDeposit"},
    ),
]

QUERY_BIDS = {
    "bids": [
        {
            "bid": {
                "id": {"owner": OWNER, "dseq": "1234", "gseq": 1, "oseq": 1, "provider": PROVIDER, "bseq": 2},
                "state": "open",
                "price": {"denom": "uact", "amount": "812.5"},
                "created_at": "99",
                "resources_offer": [{"resources": TS_GROUP["resources"][1]["resource"], "count": 2}],
            },
            "escrow_account": {
                "id": {"scope": "bid", "xid": f"{PROVIDER}/1"},
                "state": {
                    "owner": PROVIDER,
                    "state": "open",
                    "transferred": [{"denom": "uact", "amount": "0.25"}],
                    "settled_at": "98",
                    "funds": [{"denom": "uact", "amount": "5"}],
                    "deposits": [{"owner": PROVIDER, "height": "97", "source": "balance", "balance": {"denom": "uact", "amount": "5"}}],
                },
            },
        }
    ],
    "pagination": {"total": "1"},
}

QUERY_LEASES = {
    "leases": [
        {
            "lease": {
                "id": {"owner": OWNER, "dseq": "1234", "gseq": 1, "oseq": 1, "provider": PROVIDER, "bseq": 2},
                "state": "active",
                "price": {"denom": "uact", "amount": "812.5"},
                "created_at": "100",
            },
            "escrow_payment": {
                "id": {"aid": {"scope": "deployment", "xid": f"{OWNER}/1234"}, "xid": f"1/1/{PROVIDER}"},
                "state": {
                    "owner": PROVIDER,
                    "state": "open",
                    "rate": {"denom": "uact", "amount": "812.5"},
                    "balance": {"denom": "uact", "amount": "10"},
                    "unsettled": {"denom": "uact", "amount": "0"},
                    "withdrawn": {"denom": "uact", "amount": "3"},
                },
            },
        }
    ]
}


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    """Every question of this module in one node run."""
    grants = m.grant_messages(OWNER, PROVIDER, gas_limit=5_000_000, deposit_limit=20_000_000, expiration=EXPIRY)
    items: list[dict[str, Any]] = []
    for _, type_name, msg, js in CASES:
        items.append({"op": "decode", "type": type_name, "b64": b64(msg.SerializeToString())})
        items.append({"op": "encode", "type": type_name, "json": js})
    items.append({"op": "decode", "type": "cosmos.feegrant.v1beta1.MsgGrantAllowance", "b64": b64(grants[0].SerializeToString())})
    items.append({"op": "decode", "type": "cosmos.authz.v1beta1.MsgGrant", "b64": b64(grants[1].SerializeToString())})
    auth = grants[1].grant.authorization.value
    items.append({"op": "fields", "b64": b64(auth), "decode": {"1": "cosmos.base.v1beta1.Coin", "3": "cosmos.base.v1beta1.Coin"}})
    items.append({"op": "encode", "type": "akash.market.v1beta5.QueryBidsResponse", "json": QUERY_BIDS})
    items.append({"op": "encode", "type": "akash.market.v1beta5.QueryLeasesResponse", "json": QUERY_LEASES})
    results = run_node("codec_oracle.mjs", {"items": items})["results"]
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors
    n = 2 * len(CASES)
    return {
        "cases": [(results[2 * i], results[2 * i + 1]) for i in range(len(CASES))],
        "fee_grant": results[n],
        "authz_grant": results[n + 1],
        "authz_fields": results[n + 2],
        "bids": results[n + 3],
        "leases": results[n + 4],
    }


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_chain_sdk_reads_what_we_write(oracle: dict[str, Any], index: int) -> None:
    _, _, msg, _ = CASES[index]
    decoded, _ = oracle["cases"][index]
    assert decoded["json"] == human_json(msg)
    # Same message back; not byte-compared because chain-sdk writes repeated enums
    # unpacked where protobuf (and Go) pack them: both forms decode alike.
    assert type(msg).FromString(base64.b64decode(decoded["b64"])) == msg


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_we_build_what_chain_sdk_writes(oracle: dict[str, Any], index: int) -> None:
    _, _, msg, _ = CASES[index]
    _, encoded = oracle["cases"][index]
    theirs = type(msg).FromString(base64.b64decode(encoded["b64"]))
    assert theirs == msg


def test_prices_travel_as_legacy_dec(oracle: dict[str, Any]) -> None:
    decoded, encoded = oracle["cases"][0]
    assert decoded["json"]["groups"][0]["resources"][0]["price"] == {"denom": "uact", "amount": "1000"}
    assert decoded["json"]["groups"][0]["resources"][1]["price"]["amount"] == "0.000123"
    theirs = CASES[0][2].FromString(base64.b64decode(encoded["b64"]))
    assert theirs.groups[0].resources[0].price.amount == "1000" + "0" * 18
    assert theirs.groups[0].resources[1].price.amount == "123" + "0" * 12


def test_fee_allowance_grant(oracle: dict[str, Any]) -> None:
    js = oracle["fee_grant"]["json"]
    assert (js["granter"], js["grantee"]) == (OWNER, PROVIDER)
    assert js["allowance"]["type_url"] == "/cosmos.feegrant.v1beta1.BasicAllowance"
    assert js["allowance"]["unpacked"] == {
        "spend_limit": [{"denom": "uakt", "amount": "5000000"}],
        "expiration": "2030-01-02T03:04:05.000Z",
    }


def test_deposit_authorization_grant(oracle: dict[str, Any]) -> None:
    js = oracle["authz_grant"]["json"]
    assert (js["granter"], js["grantee"]) == (OWNER, PROVIDER)
    assert js["grant"]["expiration"] == "2030-01-02T03:04:05.000Z"
    assert js["grant"]["authorization"]["type_url"] == "/akash.escrow.v1.DepositAuthorization"
    assert js["grant"]["authorization"]["unpacked"] == {
        "spend_limit": {"denom": "uakt", "amount": "0"},
        "scopes": ["deployment"],
    }
    # spend_limits (field 3) is newer than chain-sdk 1.0.0-alpha.25: check its wire form
    # field by field, decoding each entry with chain-sdk's Coin codec.
    fields = [(f["no"], f["wt"], f.get("json")) for f in oracle["authz_fields"]["fields"]]
    assert fields == [
        (1, 2, {"denom": "uakt", "amount": "0"}),
        (2, 2, None),  # packed repeated enum: [deployment]
        (3, 2, {"denom": "uact", "amount": "20000000"}),
    ]


def test_bid_list_from_chain_sdk_bytes(oracle: dict[str, Any]) -> None:
    resp = QueryBidsResponse.FromString(base64.b64decode(oracle["bids"]["b64"]))
    assert human_json(resp) == QUERY_BIDS | {"bids": [QUERY_BIDS["bids"][0]]}
    bid = resp.bids[0].bid
    assert bid.price.amount == "8125" + "0" * 17
    assert m.create_lease_for_bid(bid.id).bid_id == BidID(
        owner=OWNER, dseq=1234, gseq=1, oseq=1, provider=PROVIDER, bseq=2
    )


def test_lease_list_from_chain_sdk_bytes(oracle: dict[str, Any]) -> None:
    resp = QueryLeasesResponse.FromString(base64.b64decode(oracle["leases"]["b64"]))
    assert human_json(resp) == QUERY_LEASES
    assert resp.leases[0].lease.state == resp.leases[0].lease.State.active


def test_group_spec_from_chain_sdk_sdl() -> None:
    """group_spec_from_dict turns SDL.groups() output into the bytes chain-sdk encodes for it."""
    result = run_node("codec_oracle.mjs", {"items": [{"op": "sdl_groups", "yaml": SAMPLE_SDL}]})["results"][0]
    assert "error" not in result, result
    assert len(result["groups"]) == 2
    for group in result["groups"]:
        ours = m.group_spec_from_dict(group["json"]).SerializeToString()
        assert ours == base64.b64decode(group["b64"]), group["json"]["name"]


def test_legacy_dec() -> None:
    assert m.to_legacy_dec("1000") == "1000" + "0" * 18
    assert m.to_legacy_dec(Decimal("0.5")) == "5" + "0" * 17
    assert m.from_legacy_dec("1000" + "0" * 18) == Decimal(1000)
    with pytest.raises(ValueError):
        m.to_legacy_dec("0." + "0" * 18 + "1")
    with pytest.raises(ValueError):
        m.to_legacy_dec("abc")


def test_grants_top_up_revokes_the_old_allowance_first() -> None:
    msgs = m.grant_messages(OWNER, PROVIDER, gas_limit=1, deposit_limit=2, expiration=EXPIRY, replace_fee_allowance=True)
    assert [m.type_url(x) for x in msgs] == [
        "/cosmos.feegrant.v1beta1.MsgRevokeAllowance",
        "/cosmos.feegrant.v1beta1.MsgGrantAllowance",
        "/cosmos.authz.v1beta1.MsgGrant",
    ]
    assert [m.type_url(x) for x in m.revoke_messages(OWNER, PROVIDER)] == [
        "/cosmos.feegrant.v1beta1.MsgRevokeAllowance",
        "/cosmos.authz.v1beta1.MsgRevoke",
    ]
    with pytest.raises(ValueError):
        m.grant_fee_allowance(OWNER, PROVIDER, 1, datetime(2030, 1, 1))


SAMPLE_SDL = """
version: "2.0"
services:
  web:
    image: nginx:1.25
    expose:
      - port: 80
        as: 80
        to:
          - global: true
      - port: 8080
        as: 8080
        proto: tcp
        to:
          - global: true
    params:
      storage:
        data:
          mount: /data
  worker:
    image: ghcr.io/example/worker:1
    expose:
      - port: 9000
        to:
          - service: web
  ai:
    image: example/ai:2
    expose:
      - port: 3000
        to:
          - service: web
profiles:
  compute:
    web:
      resources:
        cpu:
          units: 0.5
        memory:
          size: 512Mi
        storage:
          - size: 1Gi
          - name: data
            size: 2Gi
            attributes:
              persistent: true
              class: beta2
    worker:
      resources:
        cpu:
          units: 100m
        memory:
          size: 128Mi
        storage:
          size: 512Mi
    ai:
      resources:
        cpu:
          units: 2
        memory:
          size: 1Gi
        storage:
          size: 1Gi
        gpu:
          units: 1
          attributes:
            vendor:
              nvidia:
                - model: rtx4090
                  ram: 24Gi
  placement:
    dcloud:
      attributes:
        region: us-west
      signedBy:
        anyOf:
          - akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63
      pricing:
        web:
          denom: uact
          amount: 1000
        ai:
          denom: uact
          amount: 100.5
    other:
      pricing:
        worker:
          denom: uact
          amount: 0.001
deployment:
  web:
    dcloud:
      profile: web
      count: 2
  ai:
    dcloud:
      profile: ai
      count: 1
  worker:
    other:
      profile: worker
      count: 3
"""
