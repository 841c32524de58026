"""The committed generated modules are exactly what scripts/gen_protos.py produces."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from deployer.akash.proto.akash.base.deposit.v1 import deposit_pb2
from deployer.akash.proto.akash.deployment.v1beta4 import resourceunit_pb2

ROOT = Path(__file__).resolve().parents[3]


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_modules_match_a_fresh_generation(tmp_path: Path) -> None:
    gen = _gen_module()
    gen.generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.suffix in {".py", ".pyi"}}
    committed = {
        p.relative_to(gen.PROTO_ROOT): p.read_bytes()
        for p in gen.PROTO_ROOT.rglob("*")
        if p.suffix in {".py", ".pyi"} and p.relative_to(gen.PROTO_ROOT) != Path("__init__.py")
    }
    assert sorted(fresh) == sorted(committed), "run scripts/gen_protos.py"
    stale = [str(name) for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated modules (run scripts/gen_protos.py): {stale}"


def test_cosmos_types_are_cosmpys_not_copies() -> None:
    from cosmpy.protos.cosmos.base.v1beta1 import coin_pb2

    price = resourceunit_pb2.ResourceUnit.DESCRIPTOR.fields_by_name["price"].message_type
    assert price is coin_pb2.DecCoin.DESCRIPTOR
    assert deposit_pb2.Deposit.DESCRIPTOR.fields_by_name["amount"].message_type is coin_pb2.Coin.DESCRIPTOR
