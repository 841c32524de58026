"""An image as the registry holds it: its manifest, config and every layer's files, read over HTTP."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass

import requests

from builder.registry import MANIFEST_TYPES, split_reference


@dataclass
class PushedImage:
    manifest: bytes
    config: bytes
    # Each layer as the uncompressed tar stream (names, headers and contents), by digest.
    layers: dict[str, bytes]

    def files(self) -> dict[str, bytes]:
        """Every regular file in every layer, by path (a later layer's copy wins)."""
        found: dict[str, bytes] = {}
        for tar_bytes in self.layers.values():
            with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        found["/" + member.name.lstrip("./")] = tar.extractfile(member).read()
        return found

    def everything(self) -> list[tuple[str, bytes]]:
        """What to search for a value that must not be there: manifest, config, each layer whole."""
        return [("manifest", self.manifest), ("config", self.config)] + list(self.layers.items())


def pushed_image(settings, image: str) -> PushedImage:
    name, reference = split_reference(image, settings.registry)
    base = f"http://{settings.registry}/v2/{name}"
    auth = (settings.registry_username, settings.registry_password)

    def get(url: str, **headers) -> bytes:
        resp = requests.get(url, auth=auth, headers=headers, timeout=30)
        resp.raise_for_status()
        return resp.content

    manifest = get(f"{base}/manifests/{reference}", Accept=MANIFEST_TYPES)
    parsed = json.loads(manifest)
    config = get(f"{base}/blobs/{parsed['config']['digest']}")
    layers = {}
    for layer in parsed["layers"]:
        layers[layer["digest"]] = uncompressed(get(f"{base}/blobs/{layer['digest']}"))
    return PushedImage(manifest, config, layers)


def uncompressed(blob: bytes) -> bytes:
    """A layer blob as its tar stream (gzip, as the Engine pushes them; a plain tar as is)."""
    return gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
