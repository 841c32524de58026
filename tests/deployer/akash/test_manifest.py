"""Our manifest, sorted JSON, hash and GroupSpecs against @akashnetwork/chain-sdk, computed at test time.

Every SDL of the table goes through tests/oracle/sdl_oracle.mjs in one node process. We compare with
chain-sdk's maintained API (generateManifest + manifestToSortedJSON + generateManifestVersion) for
every SDL, and with its older SDL class (manifest(), manifest(true), groups(), manifestVersion())
for the SDLs both chain-sdk APIs agree on.
"""

from __future__ import annotations

from typing import Any

import pytest

from deployer.akash import manifest as m
from deployer.akash.sdl import parse_sdl
from tests.oracle import oracle_available, run_node
from tests.support.akash_sdl import ENV_ESCAPING, ENV_MUTATED, ONE_SERVICE, SEVERAL_SERVICES, TABLE

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)"),
]


def plain(value: Any) -> Any:
    """Our values in the oracle's JSON form (bytes as {"$bytes": text})."""
    if isinstance(value, bytes):
        return {"$bytes": value.decode()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def oracle() -> dict[str, dict[str, Any]]:
    results = run_node("sdl_oracle.mjs", [{"yaml": text} for text, _ in TABLE.values()])
    return dict(zip(TABLE, results))


@pytest.mark.parametrize("name", list(TABLE))
def test_matches_generate_manifest(name: str, oracle) -> None:
    ref = oracle[name]
    assert ref["genErrors"] is None, ref
    data = parse_sdl(TABLE[name][0])
    assert m.manifest_sorted_json(data) == ref["genSortedJson"]
    assert m.deployment_hash_hex(data) == ref["genHash"]
    assert m.manifest_to_sorted_json(m.group_specs(data)) == ref["genGroupSpecsJson"]


@pytest.mark.parametrize("name", [n for n, (_, agrees) in TABLE.items() if agrees])
def test_matches_sdl_class(name: str, oracle) -> None:
    ref = oracle[name]
    assert ref["sortedJson"] == ref["genSortedJson"], "the two chain-sdk APIs disagree: move this SDL"
    data = parse_sdl(TABLE[name][0])
    assert plain(m.manifest(data)) == ref["manifest"]
    assert plain(m.manifest(data, as_string=True)) == ref["manifestStr"]
    assert m.manifest_sorted_json(data) == ref["sortedJson"]
    assert m.deployment_hash_hex(data) == ref["hash"]
    assert plain(m.group_specs(data)) == ref["groups"]


def test_table_exercises_what_it_claims(oracle) -> None:
    env_json = oracle["env_escaping"]["genSortedJson"]
    assert "\\u003ca href=" in env_json and "\\u0026amp;" in env_json and "h\u00e9llo" in env_json
    assert '"credentials":{"email":"","host":"registry.example.com:5000"' in oracle["credentials"]["genSortedJson"]
    assert "vendor/nvidia/model/h100/ram/80Gi/interface/sxm" in oracle["gpu"]["genGroupSpecsJson"]
    assert [g["name"] for g in oracle["several_placements"]["groups"]] == ["eu", "us"]
    assert '"count":5' in oracle["count"]["genSortedJson"]
    # chain-sdk numbers an IP endpoint once per use, the last use winning: 2 here, not 1.
    assert '"kind":2,"sequence_number":2' in oracle["v21_ip_endpoints"]["genSortedJson"]


def test_a_changed_env_value_changes_the_hash(oracle) -> None:
    before, after = parse_sdl(ENV_ESCAPING), parse_sdl(ENV_MUTATED)
    assert m.deployment_hash(before) != m.deployment_hash(after)
    assert oracle["env_escaping"]["genHash"] != oracle["env_mutated"]["genHash"]
    assert m.deployment_hash_hex(after) == oracle["env_mutated"]["genHash"]


def test_hash_helpers_agree() -> None:
    import base64

    data = parse_sdl(ONE_SERVICE)
    raw = m.deployment_hash(data)
    assert len(raw) == 32
    assert m.deployment_hash_hex(data) == raw.hex()
    assert base64.b64decode(m.deployment_hash_base64(data)) == raw


def test_group_spec_shapes_for_protobuf() -> None:
    (group,) = m.group_specs(parse_sdl(SEVERAL_SERVICES))
    db, web = group["resources"]
    assert db["resource"]["cpu"]["units"]["val"] == b"250"
    assert db["resource"]["memory"]["quantity"]["val"] == str(int(1.5 * 1024**3)).encode()
    assert db["price"] == {"denom": "uact", "amount": "250.5"}
    assert web["count"] == 2 and web["resource"]["id"] == 2
    assert group["requirements"]["attributes"] == [{"key": "region", "value": "us-west"}, {"key": "Tier", "value": "community"}]


DEC_AMOUNTS = ["1000", "0.5", "250.5", "007.50", "0", "", "123456789.123456789012345678",
               "0.0000000000000000001", "1.2.3", "1.", "abc", "-5"]


def test_dec_amount_wire_matches_chain_sdk_deccoin() -> None:
    results = run_node("sdl_oracle.mjs", [{"decAmount": a} for a in DEC_AMOUNTS])
    for amount, ref in zip(DEC_AMOUNTS, results):
        if "error" in ref:
            with pytest.raises(ValueError):
                m.dec_amount_wire(amount)
        else:
            assert m.dec_amount_wire(amount) == ref["decWire"], amount
    assert m.dec_amount_wire("1000") == "1000" + "0" * 18
