"""SDL -> provider manifest, its sorted JSON and deployment hash, and the on-chain GroupSpecs.

Byte-identical to `@akashnetwork/chain-sdk` (1.0.0-alpha.25, mainnet, manifest v2beta3):

- what is computed (ordering, resource ids, defaults, the sorted JSON and so the hash) follows
  its maintained API, ``generateManifest`` + ``manifestToSortedJSON`` + ``generateManifestVersion``;
- the shapes returned by `manifest` and `group_specs` are those of its ``SDL`` class's
  ``manifest(asString)`` and ``groups()``, which the rest of Slipway (and the tests) compare against.

The two chain-sdk APIs agree except on SDLs the older ``SDL`` class gets wrong (placements declared
out of order, services sharing a compute profile, ``params: {}``, zero http options); there we
follow ``generateManifest``. All functions take SDL data as returned by `sdl.parse_sdl`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from functools import cmp_to_key
from typing import Any

from deployer.akash.sdl import js_number_str, js_string, locale_key

# akash.base.resources.v1beta4.Endpoint.Kind
SHARED_HTTP = 0
RANDOM_PORT = 1
LEASED_IP = 2

DEC_PRECISION = 18  # cosmossdk.io/math.LegacyDec

_SIZE_PREFIXES = "kmgtpe"
_SIZE_RE = re.compile(r"^([\d.]+)([a-zA-Z])([a-zA-Z]*)\Z")
_CPU_RE = re.compile(r"^([\d.]+)([a-zA-Z]*)\Z")
_HTTP_DEFAULTS = (
    ("maxBodySize", "max_body_size", 1048576),
    ("readTimeout", "read_timeout", 60000),
    ("sendTimeout", "send_timeout", 60000),
    ("nextTries", "next_tries", 3),
    ("nextTimeout", "next_timeout", 0),
    ("nextCases", "next_cases", ["error", "timeout"]),
)


# -- quantities ------------------------------------------------------------------------------

def _js_parse_float(text: str) -> float:
    match = re.match(r"^\d*\.?\d*", text)
    try:
        return float(match.group(0)) if match else math.nan
    except ValueError:
        return math.nan


def size_bytes(size: str) -> float:
    """``"512Mi"`` -> 536870912 (chain-sdk's ``convertResourceString``; result is integral)."""
    match = _SIZE_RE.match(size.lower())
    if not match:
        raise ValueError(f"invalid size string: {size}")
    value, prefix, unit = _js_parse_float(match.group(1)), match.group(2), match.group(3)
    power = _SIZE_PREFIXES.find(prefix)
    base = 1024.0 if unit == "i" else 1000.0
    result = value * base ** (power + 1) if power != -1 else value
    return float(math.ceil(result))


def cpu_millis(units: str | int | float) -> float:
    """CPU units in millicores: ``0.5`` or ``"500m"`` -> 500."""
    if not isinstance(units, str):
        return units * 1000
    match = _CPU_RE.match(units.lower())
    if not match:
        raise ValueError(f"invalid size string: {units}")
    value = _js_parse_float(match.group(1))
    return value if match.group(2) == "m" else value * 1000


def gpu_units(gpu: Mapping[str, Any] | None) -> int | float:
    units = (gpu or {}).get("units")
    if units is None:
        return 0
    if isinstance(units, str):
        match = re.match(r"^\s*[-+]?\d+", units)
        return int(match.group(0)) if match else math.nan
    return units


def _num(value: float) -> int | float:
    """A JS number as Python would store it in JSON: integral values as int."""
    return int(value) if math.isfinite(value) and value == int(value) else value


# -- the shared plan -------------------------------------------------------------------------

def endpoint_sequence_numbers(services: Mapping[str, Any]) -> dict[str, int]:
    """Leased-IP endpoint name -> sequence number (1-based, in name order)."""
    names = [to["ip"] for svc in services.values() for expose in svc.get("expose") or []
             for to in expose.get("to") or [] if to.get("global") and to.get("ip")]
    return {name: i + 1 for i, name in enumerate(sorted(names))}


def _proto(expose: Mapping[str, Any]) -> str:
    return (expose.get("proto") or "").upper() or "TCP"


def _service_endpoints(service: Mapping[str, Any], seq: Mapping[str, int]) -> list[tuple[int, int]]:
    endpoints: list[tuple[int, int]] = []
    for expose in service.get("expose") or []:
        for to in expose.get("to") or []:
            if not to.get("global"):
                continue
            external = expose.get("as") or 0
            effective = expose["port"] if external == 0 else external
            ingress = _proto(expose) == "TCP" and effective == 80
            endpoints.append((SHARED_HTTP if ingress else RANDOM_PORT, 0))
            if to.get("ip"):
                endpoints.append((LEASED_IP, seq.get(to["ip"], 0)))
    return endpoints


class _Plan:
    """What generateManifest works out once: groups, their resource units and resource ids."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.seq = endpoint_sequence_numbers(data["services"])
        self.by_placement: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for svc_name, placements in data["deployment"].items():
            for placement_name, dep in placements.items():
                self.by_placement.setdefault(placement_name, []).append((svc_name, dep))
        for deployments in self.by_placement.values():
            deployments.sort(key=lambda item: locale_key(item[0]))
        self.units: dict[str, list[dict[str, Any]]] = {}
        self.resource_ids: dict[tuple[str, str], int] = {}
        for svc_name in sorted(data["services"], key=locale_key):
            service = data["services"][svc_name]
            for placement_name, dep in data["deployment"][svc_name].items():
                units = self.units.setdefault(placement_name, [])
                bound = next((u for u in units if u["profile"] == dep["profile"]), None)
                endpoints = _service_endpoints(service, self.seq)
                if bound is None:
                    pricing = data["profiles"]["placement"][placement_name]["pricing"][dep["profile"]]
                    bound = {"id": len(units) + 1, "profile": dep["profile"], "count": 0, "endpoints": [],
                             "price": {"denom": pricing["denom"], "amount": js_string(pricing["amount"])}}
                    units.append(bound)
                self.resource_ids.setdefault((placement_name, dep["profile"]), bound["id"])
                bound["count"] += dep["count"]
                bound["endpoints"].extend(endpoints)
        for units in self.units.values():
            for unit in units:
                unit["endpoints"].sort()
        self.group_names = sorted(self.units)


def _attributes(attrs: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if not attrs:
        return []
    return [{"key": k, "value": js_string(attrs[k])} for k in sorted(attrs, key=locale_key)]


def _storage_attributes(attrs: Mapping[str, Any] | None) -> list[dict[str, str]]:
    if not attrs:
        return []
    pairs = [{"key": k, "value": js_string(v)} for k, v in attrs.items()]
    if attrs.get("class") == "ram" and "persistent" not in attrs:
        pairs.append({"key": "persistent", "value": "false"})
    return sorted(pairs, key=lambda p: locale_key(p["key"]))


def _gpu_attributes(gpu: Mapping[str, Any] | None) -> list[dict[str, str]]:
    vendors = ((gpu or {}).get("attributes") or {}).get("vendor") or {}
    result = []
    for vendor in sorted(vendors, key=locale_key):
        models = vendors[vendor]
        if not models:
            if models is None:
                result.append({"key": f"vendor/{vendor}/model/*", "value": "true"})
            continue
        for model in models:
            key = f"vendor/{vendor}/model/{js_string(model.get('model'))}" if "model" in model else f"vendor/{vendor}/model/undefined"
            if model.get("ram"):
                key += f"/ram/{model['ram']}"
            if model.get("interface"):
                key += f"/interface/{model['interface']}"
            result.append({"key": key, "value": "true"})
    return result


def _endpoint_dicts(endpoints: list[tuple[int, int]]) -> list[dict[str, int]]:
    # SDL.groups()/manifest() leave `kind` out for SHARED_HTTP (0), as protobuf JSON would.
    return [{"kind": kind, "sequence_number": seq} if kind else {"sequence_number": seq} for kind, seq in endpoints]


def _with_attributes(base: dict[str, Any], attributes: list[dict[str, str]]) -> dict[str, Any]:
    if attributes:
        base["attributes"] = attributes
    return base


def _volumes(resources: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    storage = resources["storage"]
    return storage if isinstance(storage, list) else [storage]


# -- manifest --------------------------------------------------------------------------------

def _value(number: float, as_string: bool) -> Any:
    return js_number_str(number) if as_string else _num(number)


def _manifest_resources(resource_id: int, compute: Mapping[str, Any], service: Mapping[str, Any],
                        seq: Mapping[str, int], as_string: bool) -> dict[str, Any]:
    res = compute["resources"]
    key = "quantity" if as_string else "size"
    gpu = res.get("gpu")
    gpu_count = gpu_units(gpu)
    if as_string:
        gpu_val: Any = js_number_str(gpu_count)
    elif gpu is not None and isinstance(gpu.get("units"), str):
        gpu_val = js_number_str(gpu_count).encode()  # SDL.manifest() keeps a string count as bytes
    else:
        gpu_val = _num(gpu_count)
    return {
        "id": resource_id,
        "cpu": _with_attributes({"units": {"val": js_number_str(cpu_millis(res["cpu"]["units"]))}},
                                _attributes(res["cpu"].get("attributes"))),
        "memory": {key: {"val": _value(size_bytes(res["memory"]["size"]), as_string)}},
        "storage": [
            _with_attributes({"name": vol.get("name") or "default", key: {"val": _value(size_bytes(vol["size"]), as_string)}},
                             _storage_attributes(vol.get("attributes")))
            for vol in _volumes(res)
        ],
        "gpu": _with_attributes({"units": {"val": gpu_val}}, _gpu_attributes(gpu)),
        "endpoints": _endpoint_dicts(_service_endpoints(service, seq)),
    }


def _http_options(opts: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = opts or {}
    return {name: opts[key] if opts.get(key) is not None else default for name, key, default in _HTTP_DEFAULTS}


def _compare_expose(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    if a["service"] != b["service"]:
        return -1 if locale_key(a["service"]) < locale_key(b["service"]) else 1
    if a["port"] != b["port"]:
        return a["port"] - b["port"]
    if a["proto"] != b["proto"]:
        return -1 if locale_key(a["proto"]) < locale_key(b["proto"]) else 1
    if a["global"] != b["global"]:
        return -1 if a["global"] else 1
    return 0


def _manifest_expose(service: Mapping[str, Any], seq: Mapping[str, int]) -> list[dict[str, Any]]:
    exposes = [
        {
            "port": expose["port"],
            "externalPort": expose.get("as") or 0,
            "proto": _proto(expose),
            "service": to.get("service") or "",
            "global": bool(to.get("global")),
            "hosts": expose.get("accept") or None,
            "httpOptions": _http_options(expose.get("http_options")),
            "ip": to.get("ip") or "",
            "endpointSequenceNumber": seq.get(to.get("ip") or "", 0) if to.get("ip") else 0,
        }
        for expose in service.get("expose") or []
        for to in expose.get("to") or []
    ]
    return sorted(exposes, key=cmp_to_key(_compare_expose))


def _manifest_params(service: Mapping[str, Any]) -> dict[str, Any] | None:
    params = service.get("params")
    if not params:
        # generateManifest keeps an empty `params: {}` as {"storage": []}; only absence drops it.
        return None if "params" not in service or params is None else {"storage": []}
    storage = params.get("storage") or {}
    result: dict[str, Any] = {"storage": [
        {"name": name, "mount": (storage[name] or {}).get("mount") or "", "readOnly": bool((storage[name] or {}).get("readOnly"))}
        for name in sorted(storage)
    ]}
    if params.get("permissions"):
        result["permissions"] = params["permissions"]
    return result


def _manifest_service(plan: _Plan, placement_name: str, svc_name: str, dep: Mapping[str, Any],
                      as_string: bool) -> dict[str, Any]:
    data = plan.data
    service = data["services"][svc_name]
    compute = data["profiles"]["compute"][dep["profile"]]
    cred = service.get("credentials")
    result: dict[str, Any] = {
        "name": svc_name,
        "image": service["image"],
        "command": service.get("command") or None,
        "args": service.get("args") or None,
        "env": service.get("env") or None,
        "resources": _manifest_resources(plan.resource_ids.get((placement_name, dep["profile"]), 1),
                                         compute, service, plan.seq, as_string),
        "count": dep["count"],
        "expose": _manifest_expose(service, plan.seq),
        "credentials": {"host": cred["host"], "email": cred.get("email") or "", "username": cred["username"],
                        "password": cred["password"]} if cred else None,
    }
    params = _manifest_params(service)
    if params is not None:
        result["params"] = params
    return result


def manifest(data: Mapping[str, Any], *, as_string: bool = False) -> list[dict[str, Any]]:
    """The provider manifest (one group per placement), shaped like chain-sdk's ``SDL.manifest(asString)``.

    With ``as_string`` quantities are strings under ``quantity`` (the form that is hashed and sent,
    once `manifest_sorted_json` renames ``quantity`` to ``size``); without, numbers under ``size``.
    """
    plan = _Plan(data)
    return [
        {"name": name, "services": [_manifest_service(plan, name, svc_name, dep, as_string)
                                    for svc_name, dep in plan.by_placement[name]]}
        for name in plan.group_names
    ]


# -- sorted JSON and the hash ----------------------------------------------------------------

_NULLABLE_KEYS = {"command", "args", "env", "hosts"}
_OMITTED_KEYS = {"kind", "attributes"}
_RENAMED_KEYS = {"quantity": "size", "sequenceNumber": "sequence_number"}
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _prepare(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if key in _NULLABLE_KEYS and (item is None or item == []):
                out[_RENAMED_KEYS.get(key, key)] = None
                continue
            if key in _OMITTED_KEYS and (item == [] or (item == 0 and not isinstance(item, bool))):
                continue
            out[_RENAMED_KEYS.get(key, key)] = _prepare(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    return value


def manifest_to_sorted_json(value: Any) -> str:
    """chain-sdk's ``manifestToSortedJSON``: keys sorted, no spaces, empty command/args/env/hosts as
    null, empty attributes and zero kinds left out, ``quantity`` written ``size``, and ``<``, ``>``,
    ``&`` escaped as Go's encoding/json does."""
    text = json.dumps(_prepare(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return re.sub(r"[<>&]", lambda m: _HTML_ESCAPES[m.group(0)], text)


def manifest_sorted_json(data: Mapping[str, Any]) -> str:
    """The manifest as the provider receives it (``PUT /deployment/{dseq}/manifest``) and as hashed."""
    return manifest_to_sorted_json(manifest(data, as_string=True))


def deployment_hash(data: Mapping[str, Any]) -> bytes:
    """The deployment's on-chain ``hash``: sha256 of the manifest's sorted JSON."""
    return hashlib.sha256(manifest_sorted_json(data).encode("utf-8")).digest()


def deployment_hash_hex(data: Mapping[str, Any]) -> str:
    return deployment_hash(data).hex()


def deployment_hash_base64(data: Mapping[str, Any]) -> str:
    return base64.b64encode(deployment_hash(data)).decode("ascii")


# -- GroupSpecs ------------------------------------------------------------------------------

def _group_resource(unit: Mapping[str, Any], compute: Mapping[str, Any]) -> dict[str, Any]:
    res = compute["resources"]
    gpu = res.get("gpu")
    return {
        "id": unit["id"],
        "cpu": _with_attributes({"units": {"val": js_number_str(cpu_millis(res["cpu"]["units"])).encode()}},
                                _attributes(res["cpu"].get("attributes"))),
        "memory": {"quantity": {"val": js_number_str(size_bytes(res["memory"]["size"])).encode()}},
        "storage": [
            _with_attributes({"name": vol.get("name") or "default",
                              "quantity": {"val": js_number_str(size_bytes(vol["size"])).encode()}},
                             _storage_attributes(vol.get("attributes")))
            for vol in _volumes(res)
        ],
        "gpu": _with_attributes({"units": {"val": js_number_str(gpu_units(gpu)).encode()}}, _gpu_attributes(gpu)),
        "endpoints": _endpoint_dicts(unit["endpoints"]),
    }


def group_specs(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deployment's GroupSpecs as plain data in chain-sdk's ``SDL.groups()`` JSON shape.

    Resource quantities (``val``) are bytes of the decimal text, as protobuf's ``bytes`` fields hold;
    prices are ``{"denom", "amount"}`` with the amount as written in the SDL (see `dec_amount_wire`).
    """
    plan = _Plan(data)
    placements = data["profiles"]["placement"]
    compute = data["profiles"]["compute"]
    specs = []
    for name in plan.group_names:
        infra = placements[name]
        signed_by = infra.get("signedBy") or {}
        specs.append({
            "name": name,
            "requirements": {
                "attributes": _attributes(infra.get("attributes")),
                "signedBy": {"allOf": list(signed_by.get("allOf") or []), "anyOf": list(signed_by.get("anyOf") or [])},
            },
            "resources": [
                {"resource": _group_resource(unit, compute[unit["profile"]]), "price": dict(unit["price"]),
                 "count": unit["count"]}
                for unit in plan.units[name]
            ],
        })
    return specs


def dec_amount_wire(amount: str) -> str:
    """A DecCoin amount as it travels in protobuf (LegacyDec: 18 implied decimals): "1000" ->
    "1000" + 18 zeros, "0.5" -> "5" + 17 zeros; what chain-sdk's patched DecCoin encoder sends."""
    sign, body = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    if not body:
        return ""
    if re.search(r"[^0-9.]", body):
        raise ValueError(f"invalid decimal amount: {amount!r}")
    whole, dot, frac = body.partition(".")
    if dot:
        if "." in frac:
            raise ValueError(f"invalid decimal amount: {amount!r} (more than one separator)")
        if not frac:
            raise ValueError(f"invalid decimal amount: {amount!r} (fractional part missing)")
        frac = frac.rstrip("0")
    if len(frac) > DEC_PRECISION:
        raise ValueError(f"invalid decimal amount: {amount!r} (more than {DEC_PRECISION} decimals)")
    return sign + str(int((whole or "0") + frac.ljust(DEC_PRECISION, "0")))
