"""Regenerate the Python modules of Slipway's Akash protos (deployer/akash/proto).

Run ``python scripts/gen_protos.py`` after editing a ``.proto`` file and commit the
output; ``tests/deployer/akash/test_protos.py`` checks the committed modules are current.

Cosmos types (Coin, DecCoin, PageRequest) are not redefined: protoc reads their
descriptors from cosmpy's generated modules, and the generated code imports
those modules (``cosmpy.protos.cosmos...``) so one definition lives in the process.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent.parent / "deployer" / "akash" / "proto"
PACKAGE = "deployer.akash.proto"

# Top-level proto packages cosmpy ships as generated modules under cosmpy.protos.
COSMPY_ROOTS = ("cosmos", "gogoproto", "amino", "cosmos_proto")
_IMPORT = re.compile(r"^(from|import) (akash|cosmos|gogoproto|amino|cosmos_proto)([. ])", re.MULTILINE)


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted(root.rglob("*.proto"))


def _cosmpy_descriptor_set(path: Path) -> None:
    """Write a FileDescriptorSet of the cosmpy-provided files we import, with their deps."""
    import cosmpy.protos.cosmos.base.query.v1beta1.pagination_pb2 as pagination_pb2
    import cosmpy.protos.cosmos.base.v1beta1.coin_pb2 as coin_pb2
    from google.protobuf import descriptor_pb2
    from google.protobuf import duration_pb2

    seen: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(fd) -> None:  # fd: google.protobuf.descriptor.FileDescriptor
        if fd.name in seen:
            return
        for dep in fd.dependencies:
            add(dep)
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        seen[fd.name] = proto

    for module in (coin_pb2, pagination_pb2, duration_pb2):
        add(module.DESCRIPTOR)
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=list(seen.values())).SerializeToString())


def _rewrite_imports(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        prefix = PACKAGE if m.group(2) == "akash" else "cosmpy.protos"
        return f"{m.group(1)} {prefix}.{m.group(2)}{m.group(3)}"

    return _IMPORT.sub(repl, text)


def generate(out_dir: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Compile every .proto under ``root`` into ``out_dir``; return the files written."""
    from grpc_tools import protoc

    files = proto_files(root)
    with tempfile.TemporaryDirectory() as tmp:
        descriptor_set = Path(tmp) / "cosmpy.pb"
        _cosmpy_descriptor_set(descriptor_set)
        args = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--proto_path={root}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            *[str(f.relative_to(root)) for f in files],
        ]
        code = protoc.main(args)
        if code != 0:
            raise RuntimeError(f"protoc failed with exit code {code}")
    written = sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"} and p.name != "__init__.py")
    for path in written:
        path.write_text(_rewrite_imports(path.read_text()))
    # Packages, so setuptools' find_packages ships the generated modules.
    for directory in sorted({p.parent for p in written}):
        while directory != out_dir and directory.is_relative_to(out_dir):
            (directory / "__init__.py").touch()
            directory = directory.parent
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"})


def main() -> int:
    written = generate(PROTO_ROOT)
    print(f"wrote {len(written)} files under {PROTO_ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
