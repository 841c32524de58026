"""Akash SDL (v2.0 / v2.1): parse and validate, generate from specs, inject and redact credentials.

The rules follow `@akashnetwork/chain-sdk`'s validation (its JSON schema and its semantic
checks), plus Slipway's own: every deployed service and profile exists, prices are in `uact`,
sizes and GPU units are well formed. Problems name the key path they are about, e.g.
``services.web.expose[0].port: must be an integer 1-65535``.

YAML is read the way chain-sdk's js-yaml reads it (YAML 1.2 core: only ``true``/``false`` are
booleans, ``off`` stays a string; ``1e3`` and ``0o17`` are numbers), since a different reading
would give a different manifest and so a different deployment hash.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

SDL_VERSIONS = ("2.0", "2.1")
PRICE_DENOM = "uact"
REDACTED = "<redacted>"
DEFAULT_PLACEMENT = "akash"


class SDLError(ValueError):
    """An SDL that cannot be deployed; ``problems`` lists every reason, each naming its key path."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("invalid SDL:\n" + "\n".join(f"- {p}" for p in self.problems))


# -- reading YAML like js-yaml ---------------------------------------------------------------

_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)\Z")
_INT_RE = re.compile(r"^[-+]?(?:0b[01]+|0x[0-9a-fA-F]+|0o[0-7]+|[0-9]+)\Z")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with js-yaml's (YAML 1.2 core) scalars, and duplicate keys refused as js-yaml does."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag not in (
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def _construct_bool(loader: yaml.SafeLoader, node: yaml.Node) -> bool:
    return loader.construct_scalar(node).lower() == "true"


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = loader.construct_scalar(node)
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    base = {"0b": 2, "0x": 16, "0o": 8}.get(body[:2], 10)
    return sign * int(body[2:] if base != 10 else body, base)


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> float | int:
    text = loader.construct_scalar(node).lower()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == ".inf":
        return sign * math.inf
    if body == ".nan":
        return math.nan
    return sign * float(body)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict = {}
    for key_node, value_node in node.value:
        key = _js_key(loader.construct_object(key_node, deep=True))
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicated mapping key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: _construct_mapping(loader, node, True))


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also quotes strings js-yaml would read as numbers (``0o17``, ``1e3``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_implicit_resolver("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789"))
_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def js_number_str(value: int | float) -> str:
    """A number as JavaScript's ``String(n)`` writes it (``1.0`` -> ``1``, ``1e21`` -> ``1e+21``)."""
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))  # shortest round-trip digits, the same ones JavaScript picks
    mantissa, _, exp_text = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + int(exp_text or 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    exp = ("+" if e > 0 else "-") + str(abs(e))
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exp


def js_string(value: Any) -> str:
    """JavaScript's ``String(value)`` for the values YAML can hold."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return js_number_str(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _js_key(key: Any) -> str:
    # js-yaml turns every mapping key into a string.
    return key if isinstance(key, str) else js_string(key)


_ARRAY_INDEX_RE = re.compile(r"^(?:0|[1-9][0-9]*)\Z")


def _js_normalize(value: Any) -> Any:
    """Give plain data JavaScript's shape: integral floats become ints, and mapping keys iterate
    in ``Object.keys`` order (array-index-like keys first, ascending)."""
    if isinstance(value, Mapping):
        items = [(_js_key(k), _js_normalize(v)) for k, v in value.items()]
        index_like = sorted(
            (kv for kv in items if _ARRAY_INDEX_RE.match(kv[0]) and int(kv[0]) < 2**32 - 1),
            key=lambda kv: int(kv[0]))
        rest = [kv for kv in items if not (_ARRAY_INDEX_RE.match(kv[0]) and int(kv[0]) < 2**32 - 1)]
        return dict(index_like + rest)
    if isinstance(value, (list, tuple)):
        return [_js_normalize(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return int(value)
    return value


def load_yaml(text: str) -> Any:
    """Parse YAML text the way chain-sdk's js-yaml does (safe: plain data only)."""
    return _js_normalize(yaml.load(text, Loader=_Loader))  # noqa: S506 (_Loader is a SafeLoader)


def dump_yaml(data: Any) -> str:
    """YAML that both PyYAML and js-yaml read back as ``data``."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)


# -- locale order ----------------------------------------------------------------------------

# The order of printable ASCII in ICU's root collation (what JavaScript's localeCompare uses
# in Node): punctuation and symbols, then digits, then letters with case as a later tie-break.
_ASCII_COLLATION = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY = {ch: i for i, ch in enumerate(_ASCII_COLLATION)}


def locale_key(text: str) -> tuple:
    """Sort key matching ``a.localeCompare(b)`` for ASCII text (service, placement, attribute names).

    Other characters are ordered after ASCII by code point: close to, but not exactly, ICU.
    """
    primary: list[int] = []
    tertiary: list[int] = []
    for ch in text:
        low = ch.lower() if ch.isascii() else ch
        primary.append(_PRIMARY.get(low, len(_PRIMARY) + ord(ch)))
        tertiary.append(1 if ch.isascii() and ch.isupper() else 0)
    return (primary, tertiary)


# -- validation ------------------------------------------------------------------------------

_PORT_MSG = "must be an integer 1-65535"
_CPU_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[a-zA-Z]*\Z")
_CPU_ZERO_RE = re.compile(r"^0+(\.0+)?m?\Z")
_SIZE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[kKmMgGtTpPeE]i?\Z")
_AMOUNT_RE = re.compile(r"^[0-9]+(\.[0-9]+)?\Z")
_ENDPOINT_NAME_RE = re.compile(r"^[a-z]+[-_0-9a-z]+\Z")
_HTTP_ERROR_CODES = ("error", "timeout", "500", "502", "503", "504", "403", "404", "429", "off")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Checker:
    """Collects problems while walking one SDL document."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}" if path else message)

    def mapping(self, value: Any, path: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> bool:
        if not isinstance(value, Mapping):
            self.add(path, "must be a mapping")
            return False
        for key in required:
            if key not in value:
                self.add(_at(path, key), "is required")
        if allowed is not None:
            allowed = set(allowed)
            for key in value:
                if key not in allowed:
                    self.add(_at(path, key), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return True

    def string(self, value: Any, path: str, min_length: int = 0) -> bool:
        if not isinstance(value, str):
            self.add(path, "must be a string")
            return False
        if len(value) < min_length:
            self.add(path, f"must be at least {min_length} characters long")
            return False
        return True

    def string_list(self, value: Any, path: str, nullable: bool = False) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, list):
            self.add(path, "must be a list of strings" + (" or null" if nullable else ""))
            return
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.add(_at(path, i), "must be a string")

    def integer(self, value: Any, path: str, low: int | None = None, high: int | None = None) -> bool:
        if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                self.add(path, f"must be an integer {low}-{high}")
            elif low is not None:
                self.add(path, f"must be an integer >= {low}")
            else:
                self.add(path, "must be an integer")
            return False
        return True

    def boolean(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.add(path, "must be true or false")


def validate_sdl(data: Any) -> dict[str, Any]:
    """Check plain SDL data; return it normalized (JavaScript shapes), or raise SDLError."""
    data = _js_normalize(data)
    c = _Checker()
    if not c.mapping(data, "", ("version", "services", "profiles", "deployment", "endpoints", "include"),
                     ("version", "services", "profiles", "deployment")):
        raise SDLError(c.problems or ["the SDL must be a mapping"])
    if "version" in data and data["version"] not in SDL_VERSIONS:
        c.add("version", f'must be one of "2.0", "2.1" (a quoted string), got {data["version"]!r}')
    if "include" in data:
        c.string_list(data["include"], "include")
    _check_endpoints(c, data.get("endpoints"))
    services = data.get("services")
    profiles = data.get("profiles")
    deployment = data.get("deployment")
    if services is not None and c.mapping(services, "services"):
        if not services:
            c.add("services", "must define at least one service")
        for name, svc in services.items():
            _check_service(c, _at("services", name), svc)
    if profiles is not None and c.mapping(profiles, "profiles", ("compute", "placement"), ("compute", "placement")):
        if "compute" in profiles and c.mapping(profiles["compute"], "profiles.compute"):
            for name, compute in profiles["compute"].items():
                _check_compute(c, _at("profiles.compute", name), compute)
        if "placement" in profiles and c.mapping(profiles["placement"], "profiles.placement"):
            for name, placement in profiles["placement"].items():
                _check_placement(c, _at("profiles.placement", name), placement)
    if deployment is not None and c.mapping(deployment, "deployment"):
        for svc_name, placements in deployment.items():
            path = _at("deployment", svc_name)
            if not c.mapping(placements, path):
                continue
            for placement_name, dep in placements.items():
                dpath = _at(path, placement_name)
                if c.mapping(dep, dpath, ("profile", "count"), ("profile", "count")):
                    if "profile" in dep:
                        c.string(dep["profile"], _at(dpath, "profile"))
                    if "count" in dep:
                        c.integer(dep["count"], _at(dpath, "count"), low=1)
    if not c.problems:
        # Cross references assume the structure is sound, as chain-sdk's do.
        _check_relations(c, data)
    if c.problems:
        raise SDLError(c.problems)
    return data


def _check_endpoints(c: _Checker, endpoints: Any) -> None:
    if endpoints is None or not c.mapping(endpoints, "endpoints"):
        return
    for name, ep in endpoints.items():
        path = _at("endpoints", name)
        if not _ENDPOINT_NAME_RE.match(name):
            c.add(path, "name must match ^[a-z]+[-_0-9a-z]+$")
        if c.mapping(ep, path, ("kind",), ("kind",)) and "kind" in ep and ep["kind"] != "ip":
            c.add(_at(path, "kind"), 'must be "ip"')


def _check_service(c: _Checker, path: str, svc: Any) -> None:
    allowed = ("image", "command", "args", "env", "expose", "credentials", "dependencies", "params")
    if not c.mapping(svc, path, allowed, ("image",)):
        return
    if "image" in svc:
        c.string(svc["image"], _at(path, "image"), min_length=1)
    for key in ("command", "args", "env"):
        if key in svc:
            c.string_list(svc[key], _at(path, key), nullable=True)
    if "credentials" in svc:
        _check_credentials(c, _at(path, "credentials"), svc["credentials"])
    if "dependencies" in svc:
        dpath = _at(path, "dependencies")
        if isinstance(svc["dependencies"], list):
            for i, dep in enumerate(svc["dependencies"]):
                if c.mapping(dep, _at(dpath, i), ("service",)) and "service" in dep:
                    c.string(dep["service"], _at(_at(dpath, i), "service"))
        else:
            c.add(dpath, "must be a list")
    if "expose" in svc:
        epath = _at(path, "expose")
        if isinstance(svc["expose"], list):
            for i, expose in enumerate(svc["expose"]):
                _check_expose(c, _at(epath, i), expose)
        else:
            c.add(epath, "must be a list")
    if "params" in svc:
        _check_params(c, _at(path, "params"), svc["params"])


def _check_credentials(c: _Checker, path: str, cred: Any) -> None:
    if not c.mapping(cred, path, ("host", "username", "password", "email"), ("host", "username", "password")):
        return
    for key, min_length in (("host", 1), ("username", 1), ("password", 6), ("email", 5)):
        if key in cred:
            c.string(cred[key], _at(path, key), min_length)


def _check_expose(c: _Checker, path: str, expose: Any) -> None:
    if not c.mapping(expose, path, ("port", "as", "proto", "to", "accept", "http_options"), ("port",)):
        return
    for key in ("port", "as"):
        if key in expose and not (_is_int(expose[key]) and 1 <= expose[key] <= 65535):
            c.add(_at(path, key), _PORT_MSG)
    if "proto" in expose and expose["proto"] not in ("TCP", "UDP", "tcp", "udp"):
        c.add(_at(path, "proto"), "must be TCP or UDP")
    if "accept" in expose:
        c.string_list(expose["accept"], _at(path, "accept"))
    if "to" in expose:
        tpath = _at(path, "to")
        if not isinstance(expose["to"], list):
            c.add(tpath, "must be a list")
        else:
            for i, to in enumerate(expose["to"]):
                ipath = _at(tpath, i)
                if not c.mapping(to, ipath, ("global", "service", "ip")):
                    continue
                if "global" in to:
                    c.boolean(to["global"], _at(ipath, "global"))
                if "service" in to:
                    c.string(to["service"], _at(ipath, "service"))
                if "ip" in to and c.string(to["ip"], _at(ipath, "ip"), 1) and to.get("global") is not True:
                    c.add(_at(ipath, "global"), "must be true when an ip is given")
    if "http_options" in expose:
        _check_http_options(c, _at(path, "http_options"), expose["http_options"])


def _check_http_options(c: _Checker, path: str, opts: Any) -> None:
    limits = {"max_body_size": 104857600, "read_timeout": 60000, "send_timeout": 60000,
              "next_tries": None, "next_timeout": None}
    if not c.mapping(opts, path, (*limits, "next_cases")):
        return
    for key, high in limits.items():
        if key in opts:
            c.integer(opts[key], _at(path, key), low=0, high=high)
    if "next_cases" in opts:
        cpath = _at(path, "next_cases")
        cases = opts["next_cases"]
        if not isinstance(cases, list):
            c.add(cpath, "must be a list")
            return
        for i, case in enumerate(cases):
            if case not in _HTTP_ERROR_CODES:
                c.add(_at(cpath, i), f"must be one of: {', '.join(_HTTP_ERROR_CODES)}")
        if "off" in cases and len(cases) != 1:
            c.add(cpath, '"off" must be the only entry')


def _check_params(c: _Checker, path: str, params: Any) -> None:
    if not c.mapping(params, path, ("storage", "permissions")):
        return
    if "storage" in params:
        spath = _at(path, "storage")
        if c.mapping(params["storage"], spath):
            for name, vol in params["storage"].items():
                vpath = _at(spath, name)
                if not c.mapping(vol, vpath, ("mount", "readOnly")):
                    continue
                if "mount" in vol and c.string(vol["mount"], _at(vpath, "mount"), 1) and not vol["mount"].startswith("/"):
                    c.add(_at(vpath, "mount"), "must be an absolute path")
                if "readOnly" in vol:
                    c.boolean(vol["readOnly"], _at(vpath, "readOnly"))
    if "permissions" in params:
        ppath = _at(path, "permissions")
        if c.mapping(params["permissions"], ppath, ("read",)) and "read" in params["permissions"]:
            read = params["permissions"]["read"]
            if not isinstance(read, list) or any(r not in ("deployment", "logs") for r in read):
                c.add(_at(ppath, "read"), 'must be a list of "deployment", "logs"')


def _check_compute(c: _Checker, path: str, compute: Any) -> None:
    if not c.mapping(compute, path, ("resources",), ("resources",)) or "resources" not in compute:
        return
    rpath = _at(path, "resources")
    res = compute["resources"]
    if not c.mapping(res, rpath, ("cpu", "memory", "storage", "gpu"), ("cpu", "memory", "storage")):
        return
    if "cpu" in res and c.mapping(res["cpu"], _at(rpath, "cpu"), ("units", "attributes"), ("units",)):
        cpu = res["cpu"]
        upath = _at(_at(rpath, "cpu"), "units")
        if "units" in cpu:
            units = cpu["units"]
            ok = (_is_num(units) and units > 0) or (
                isinstance(units, str) and _CPU_RE.match(units) and not _CPU_ZERO_RE.match(units)
                and re.sub(r"^[0-9.]+", "", units).lower() in ("", "m"))
            if not ok:
                c.add(upath, 'must be a positive number of CPUs (0.5) or millicores ("500m")')
        if "attributes" in cpu:
            c.mapping(cpu["attributes"], _at(_at(rpath, "cpu"), "attributes"))
    if "memory" in res and c.mapping(res["memory"], _at(rpath, "memory"), ("size",), ("size",)) and "size" in res["memory"]:
        _check_size(c, _at(_at(rpath, "memory"), "size"), res["memory"]["size"])
    if "storage" in res:
        spath = _at(rpath, "storage")
        volumes = res["storage"]
        if isinstance(volumes, list):
            for i, vol in enumerate(volumes):
                _check_volume(c, _at(spath, i), vol)
        else:
            _check_volume(c, spath, volumes)
    if "gpu" in res:
        _check_gpu(c, _at(rpath, "gpu"), res["gpu"])


def _check_size(c: _Checker, path: str, size: Any) -> None:
    if not isinstance(size, str) or not _SIZE_RE.match(size):
        c.add(path, 'must be a size like "512Mi" or "1Gi"')


def _check_volume(c: _Checker, path: str, vol: Any) -> None:
    if not c.mapping(vol, path, ("size", "name", "attributes"), ("size",)):
        return
    if "size" in vol:
        _check_size(c, _at(path, "size"), vol["size"])
    if "name" in vol:
        c.string(vol["name"], _at(path, "name"))
    if "attributes" in vol:
        apath = _at(path, "attributes")
        attrs = vol["attributes"]
        if not c.mapping(attrs, apath, ("class", "persistent")):
            return
        if "class" in attrs:
            c.string(attrs["class"], _at(apath, "class"))
        if "persistent" in attrs and not isinstance(attrs["persistent"], (bool, str)):
            c.add(_at(apath, "persistent"), "must be true or false")
        if attrs.get("class") == "ram" and attrs.get("persistent") in (True, "true"):
            c.add(apath, '"ram" storage cannot be persistent')


def _check_gpu(c: _Checker, path: str, gpu: Any) -> None:
    if not c.mapping(gpu, path, ("units", "attributes"), ("units",)):
        return
    units = gpu.get("units", 0)
    if not ((_is_int(units) and units >= 0) or (isinstance(units, str) and units.isdigit())):
        c.add(_at(path, "units"), "must be a whole number of GPUs")
        return
    if "attributes" not in gpu:
        if int(units):
            c.add(_at(path, "attributes"), "is required when units is not 0 (name the vendor, e.g. nvidia)")
        return
    apath = _at(path, "attributes")
    if not int(units):
        c.add(apath, "must not be given when units is 0")
    attrs = gpu["attributes"]
    if not c.mapping(attrs, apath, ("vendor",)):
        return
    if "vendor" not in attrs:
        if int(units):
            c.add(_at(apath, "vendor"), "is required when units is not 0")
        return
    vpath = _at(apath, "vendor")
    vendors = attrs["vendor"]
    if not c.mapping(vendors, vpath, ("nvidia",)):
        return
    if not vendors:
        c.add(vpath, "must name a vendor (nvidia)")
    for vendor, models in vendors.items():
        mpath = _at(vpath, vendor)
        if models is None:
            continue
        if not isinstance(models, list):
            c.add(mpath, "must be a list of models or null")
            continue
        for i, model in enumerate(models):
            ipath = _at(mpath, i)
            if not c.mapping(model, ipath, ("model", "ram", "interface")):
                continue
            for key in ("model", "ram"):
                if key in model:
                    c.string(model[key], _at(ipath, key))
            if "interface" in model and model["interface"] not in ("pcie", "sxm"):
                c.add(_at(ipath, "interface"), 'must be "pcie" or "sxm"')


def _check_placement(c: _Checker, path: str, placement: Any) -> None:
    if not c.mapping(placement, path, ("attributes", "pricing", "signedBy"), ("pricing",)):
        return
    if "attributes" in placement:
        c.mapping(placement["attributes"], _at(path, "attributes"))
    if "signedBy" in placement:
        spath = _at(path, "signedBy")
        if c.mapping(placement["signedBy"], spath, ("allOf", "anyOf")):
            for key in ("allOf", "anyOf"):
                if key in placement["signedBy"]:
                    c.string_list(placement["signedBy"][key], _at(spath, key))
    if "pricing" in placement and c.mapping(placement["pricing"], _at(path, "pricing")):
        for profile, price in placement["pricing"].items():
            ppath = _at(_at(path, "pricing"), profile)
            if not c.mapping(price, ppath, ("denom", "amount"), ("denom", "amount")):
                continue
            if "denom" in price and price["denom"] != PRICE_DENOM:
                c.add(_at(ppath, "denom"), f'must be "{PRICE_DENOM}" (prices and deposits are in ACT since the BME upgrade), got {price["denom"]!r}')
            if "amount" in price:
                amount = price["amount"]
                if not ((_is_num(amount) and amount >= 0) or (isinstance(amount, str) and _AMOUNT_RE.match(amount))):
                    c.add(_at(ppath, "amount"), "must be a non-negative number")


def _check_relations(c: _Checker, data: dict) -> None:
    services, deployment = data["services"], data["deployment"]
    compute, placements = data["profiles"]["compute"], data["profiles"]["placement"]
    for name in deployment:
        if name not in services:
            c.add(_at("deployment", name), f'service "{name}" is not defined in services')
    for name, svc in services.items():
        if name not in deployment:
            c.add(_at("deployment", name), f'service "{name}" is not deployed anywhere (add it to deployment)')
            continue
        if not deployment[name]:
            c.add(_at("deployment", name), "must name at least one placement")
        for placement_name, dep in deployment[name].items():
            dpath = _at(_at("deployment", name), placement_name)
            profile = dep["profile"]
            if placement_name not in placements:
                c.add(dpath, f'placement "{placement_name}" is not defined in profiles.placement')
            elif profile not in placements[placement_name]["pricing"]:
                c.add(_at(_at(_at("profiles.placement", placement_name), "pricing"), profile),
                      f'is required: no price for profile "{profile}" in placement "{placement_name}"')
            if profile not in compute:
                c.add(_at(dpath, "profile"), f'compute profile "{profile}" is not defined in profiles.compute')
                continue
            _check_storage_mounts(c, name, svc, profile, compute[profile])
        for i, expose in enumerate(svc.get("expose") or []):
            for j, to in enumerate(expose.get("to") or []):
                target = to.get("service")
                if target and target not in services:
                    c.add(_at(_at(_at(_at(_at("services", name), "expose"), i), "to"), j) + ".service",
                          f'no service "{target}"')
    _check_ips(c, data)


def _check_storage_mounts(c: _Checker, name: str, svc: dict, profile: str, compute: dict) -> None:
    storage = compute["resources"]["storage"]
    volumes = storage if isinstance(storage, list) else [storage]
    params = (svc.get("params") or {}).get("storage") or {}
    mounts: dict[str, str] = {}
    ppath = _at(_at(_at("services", name), "params"), "storage")
    names = [v.get("name") for v in volumes]
    for vol_name, vol in params.items():
        vpath = _at(ppath, vol_name)
        if vol is None:
            c.add(vpath, "is not configured")
            continue
        if vol_name not in names:
            c.add(vpath, f'no volume "{vol_name}" in profiles.compute.{profile}.resources.storage')
            continue
        mount = vol.get("mount")
        if mount is None and None in mounts:
            c.add(vpath, "several root ephemeral storages are not allowed")
        elif mount is not None and mount in mounts:
            c.add(_at(vpath, "mount"), f'"{mount}" is already used by volume "{mounts[mount]}"')
        mounts[mount] = vol_name
    for vol in volumes:
        persistent = vol.get("attributes", {}).get("persistent", False)
        if isinstance(persistent, str):
            persistent = persistent.lower() not in ("false", "no", "0", "")
        vol_name = vol.get("name") or "default"
        if persistent and not (params.get(vol.get("name") or "") or {}).get("mount"):
            c.add(_at(_at(ppath, vol_name), "mount"), f'is required: persistent storage "{vol_name}" needs a mount path')


def _check_ips(c: _Checker, data: dict) -> None:
    endpoints = data.get("endpoints") or {}
    used: set[str] = set()
    ports: dict[tuple, str] = {}
    for name, svc in data["services"].items():
        for i, expose in enumerate(svc.get("expose") or []):
            proto = (expose.get("proto") or "TCP").upper()
            for j, to in enumerate(expose.get("to") or []):
                ip = to.get("ip")
                if not ip:
                    continue
                path = f"services.{name}.expose[{i}].to[{j}].ip"
                if ip not in endpoints:
                    c.add(path, f'unknown endpoint "{ip}" (declare it under endpoints)')
                used.add(ip)
                key = (ip, expose.get("as", expose["port"]), proto)
                if key in ports:
                    c.add(path, f'endpoint "{ip}" port {key[1]} {proto} is already used by service "{ports[key]}"')
                ports[key] = name
    for ip in endpoints:
        if ip not in used:
            c.add(_at("endpoints", ip), "declared but never used")


def parse_sdl(source: str | Path | IO[str]) -> dict[str, Any]:
    """Read and validate an SDL from a path, YAML text or a text stream; raise SDLError if invalid.

    A ``str`` containing a newline or a ``:`` is taken as YAML text, any other ``str`` as a path.
    """
    if isinstance(source, Path):
        text = source.read_text()
    elif isinstance(source, str):
        text = source if ("\n" in source or ":" in source) else Path(source).read_text()
    else:
        text = source.read()
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise SDLError([f"not valid YAML: {exc}"]) from None
    return validate_sdl(data)


# -- generation ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegistryCredentials:
    """Login for a private image registry, written under the service's ``credentials``."""

    host: str
    username: str
    password: str
    email: str | None = None


@dataclass(frozen=True)
class GpuSpec:
    units: int = 1
    vendor: str = "nvidia"
    model: str | None = None  # None: any model of the vendor
    ram: str | None = None
    interface: str | None = None  # "pcie" or "sxm"


@dataclass(frozen=True)
class ServiceSpec:
    """One container. ``port`` is published globally as port 80 (with ``accept`` host names)."""

    name: str
    image: str
    port: int | None = 80
    accept: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    count: int = 1
    cpu: float | str = 0.5
    memory: str = "512Mi"
    storage: str = "1Gi"
    gpu: GpuSpec | None = None
    credentials: RegistryCredentials | None = None
    price_uact: int | str = 1000


@dataclass(frozen=True)
class DeploymentSpec:
    """Services deployed to one placement with its provider requirements."""

    services: tuple[ServiceSpec, ...]
    placement: str = DEFAULT_PLACEMENT
    attributes: Mapping[str, str] = field(default_factory=dict)
    signed_by_all_of: tuple[str, ...] = ()
    signed_by_any_of: tuple[str, ...] = ()


def _service_block(spec: ServiceSpec) -> dict[str, Any]:
    block: dict[str, Any] = {"image": spec.image}
    if spec.command is not None:
        block["command"] = list(spec.command)
    if spec.args is not None:
        block["args"] = list(spec.args)
    if spec.env:
        block["env"] = [f"{k}={v}" for k, v in spec.env.items()]
    if spec.port is not None:
        expose: dict[str, Any] = {"port": spec.port, "as": 80}
        if spec.accept:
            expose["accept"] = list(spec.accept)
        expose["to"] = [{"global": True}]
        block["expose"] = [expose]
    if spec.credentials is not None:
        block["credentials"] = _credentials_block(spec.credentials)
    return block


def _credentials_block(cred: RegistryCredentials) -> dict[str, str]:
    block = {"host": cred.host, "username": cred.username, "password": cred.password}
    if cred.email:
        block["email"] = cred.email
    return block


def _compute_block(spec: ServiceSpec) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "cpu": {"units": spec.cpu},
        "memory": {"size": spec.memory},
        "storage": {"size": spec.storage},
    }
    if spec.gpu is not None:
        model: dict[str, str] = {}
        for key in ("model", "ram", "interface"):
            if getattr(spec.gpu, key):
                model[key] = getattr(spec.gpu, key)
        vendor = [model] if model else None
        resources["gpu"] = {"units": spec.gpu.units, "attributes": {"vendor": {spec.gpu.vendor: vendor}}}
    return {"resources": resources}


def sdl_from_spec(spec: DeploymentSpec | ServiceSpec) -> dict[str, Any]:
    """SDL v2.0 as plain data for ``spec``, validated (SDLError if the spec makes no valid SDL)."""
    if isinstance(spec, ServiceSpec):
        spec = DeploymentSpec(services=(spec,))
    placement: dict[str, Any] = {}
    if spec.attributes:
        placement["attributes"] = dict(spec.attributes)
    if spec.signed_by_all_of or spec.signed_by_any_of:
        placement["signedBy"] = {}
        if spec.signed_by_all_of:
            placement["signedBy"]["allOf"] = list(spec.signed_by_all_of)
        if spec.signed_by_any_of:
            placement["signedBy"]["anyOf"] = list(spec.signed_by_any_of)
    placement["pricing"] = {s.name: {"denom": PRICE_DENOM, "amount": s.price_uact} for s in spec.services}
    data = {
        "version": "2.0",
        "services": {s.name: _service_block(s) for s in spec.services},
        "profiles": {
            "compute": {s.name: _compute_block(s) for s in spec.services},
            "placement": {spec.placement: placement},
        },
        "deployment": {s.name: {spec.placement: {"profile": s.name, "count": s.count}} for s in spec.services},
    }
    return validate_sdl(data)


def generate_sdl(spec: DeploymentSpec | ServiceSpec, *, reveal: bool = True) -> str:
    """SDL v2.0 YAML for ``spec`` (credentials included unless ``reveal=False``)."""
    return dump_sdl(sdl_from_spec(spec), reveal=reveal)


# -- credentials -----------------------------------------------------------------------------

def image_host(image: str) -> str:
    """The registry host of an image reference (``docker.io`` when none is named)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def inject_credentials(data: Mapping[str, Any], credentials: RegistryCredentials) -> dict[str, Any]:
    """A copy of ``data`` where every service whose image is on ``credentials.host`` logs in with them.

    Raises SDLError if no service pulls from that host (the credentials would silently go unused).
    """
    result = copy.deepcopy(dict(data))
    host = credentials.host.lower()
    matched = [name for name, svc in result.get("services", {}).items()
               if image_host(str(svc.get("image", ""))).lower() == host]
    if not matched:
        raise SDLError([f'services: no service pulls its image from "{credentials.host}"'])
    for name in matched:
        result["services"][name]["credentials"] = _credentials_block(credentials)
    return validate_sdl(result)


def redact_credentials(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with every registry password replaced by a placeholder."""
    result = copy.deepcopy(dict(data))
    for svc in (result.get("services") or {}).values():
        cred = svc.get("credentials") if isinstance(svc, dict) else None
        if isinstance(cred, dict) and "password" in cred:
            cred["password"] = REDACTED
    return result


def dump_sdl(data: Mapping[str, Any], *, reveal: bool = False) -> str:
    """SDL data as YAML; registry passwords are redacted unless ``reveal=True``."""
    return dump_yaml(dict(data) if reveal else redact_credentials(data))


# -- a repository's own SDL ------------------------------------------------------------------

# What a repository's SDL names as its image for the service Slipway builds.
SLIPWAY_IMAGE_PLACEHOLDER = "slipway"


def built_service(data: Mapping[str, Any]) -> str:
    """The one service whose image is the placeholder ``slipway``; SDLError if there is none or several."""
    names = [name for name, svc in (data.get("services") or {}).items()
             if isinstance(svc, Mapping) and svc.get("image") == SLIPWAY_IMAGE_PLACEHOLDER]
    if len(names) != 1:
        found = "none" if not names else f"{len(names)} ({', '.join(names)})"
        raise SDLError([f'services: exactly one service must have "image: {SLIPWAY_IMAGE_PLACEHOLDER}", found {found}'])
    return names[0]


def inject_release(data: Mapping[str, Any], image: str, credentials: RegistryCredentials,
                   env: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a repository's SDL running ``image`` (pulled with ``credentials``) in its
    ``image: slipway`` service, with the app's variables added to that service's ``env``
    (a variable the SDL sets too takes the project's value)."""
    result = copy.deepcopy(dict(data))
    svc = result["services"][built_service(result)]
    svc["image"] = image
    svc["credentials"] = _credentials_block(credentials)
    if env:
        kept = [line for line in (svc.get("env") or []) if str(line).partition("=")[0] not in env]
        svc["env"] = kept + [f"{k}={v}" for k, v in env.items()]
    return validate_sdl(result)
