"""What a devnet provider reads from the chain, and the one implementation that reads it over REST.

A real provider learns about orders, leases and accounts from its node; so does a devnet provider,
through the node's public REST API (the same paths and JSON as an Akash node), never through the
devnet's internals. ``ChainView`` is that narrow boundary; tests put an in-memory chain behind it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

import requests

from deployer.akash.messages import from_legacy_dec


@dataclass(frozen=True, order=True)
class OrderID:
    owner: str
    dseq: int
    gseq: int
    oseq: int

    def path(self) -> str:
        return f"{self.owner}/{self.dseq}/{self.gseq}/{self.oseq}"


@dataclass(frozen=True, order=True)
class LeaseID:
    owner: str
    dseq: int
    gseq: int
    oseq: int
    provider: str

    @property
    def order_id(self) -> OrderID:
        return OrderID(self.owner, self.dseq, self.gseq, self.oseq)

    def path(self) -> str:
        return f"{self.owner}/{self.dseq}/{self.gseq}/{self.oseq}/{self.provider}"


@dataclass(frozen=True)
class Resources:
    """Totals over a group's resource units (each unit times its count)."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    storage_bytes: int = 0
    gpus: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu_millis + other.cpu_millis, self.memory_bytes + other.memory_bytes,
                         self.storage_bytes + other.storage_bytes, self.gpus + other.gpus)

    def times(self, count: int) -> Resources:
        return Resources(self.cpu_millis * count, self.memory_bytes * count, self.storage_bytes * count,
                         self.gpus * count)

    def fits_in(self, other: Resources) -> bool:
        return (self.cpu_millis <= other.cpu_millis and self.memory_bytes <= other.memory_bytes
                and self.storage_bytes <= other.storage_bytes and self.gpus <= other.gpus)

    def minus(self, other: Resources) -> Resources:
        return Resources(self.cpu_millis - other.cpu_millis, self.memory_bytes - other.memory_bytes,
                         self.storage_bytes - other.storage_bytes, self.gpus - other.gpus)


@dataclass(frozen=True)
class Group:
    """A deployment group's spec, as a provider judges it."""

    name: str
    attributes: tuple[tuple[str, str], ...]
    signed_by_all_of: tuple[str, ...]
    signed_by_any_of: tuple[str, ...]
    resources: Resources
    price: Decimal  # per block, for the whole group (GroupSpec.Price(): unit price times count, summed)
    denom: str
    leased_ips: int = 0  # LEASED_IP endpoints (needs the provider's IP operator)
    persistent_storage: bool = False  # a volume with attribute persistent=true


@dataclass(frozen=True)
class Order:
    id: OrderID
    group: Group


@dataclass(frozen=True)
class Bid:
    order_id: OrderID
    provider: str
    state: str  # open, active, lost, closed
    price: Decimal


@dataclass(frozen=True)
class Lease:
    id: LeaseID
    state: str  # active, insufficient_funds, closed
    price: Decimal


@dataclass(frozen=True)
class Deployment:
    owner: str
    dseq: int
    state: str  # active, closed
    hash: bytes
    groups: dict[int, Group]  # by gseq


class ChainView(Protocol):
    """What a provider reads from its node."""

    def open_orders(self) -> list[Order]: ...

    def bids(self, provider: str) -> list[Bid]:
        """The provider's bids that are still open or active."""
        ...

    def leases(self, provider: str) -> list[Lease]:
        """The provider's active leases."""
        ...

    def deployment(self, owner: str, dseq: int) -> Deployment | None: ...

    def public_key(self, address: str) -> bytes | None:
        """The account's secp256k1 public key (33 bytes), or None if it has none on chain (yet)."""
        ...

    def audits(self, provider: str) -> dict[str, frozenset[tuple[str, str]]]:
        """Auditor -> the provider attributes it signed (the audit module's records)."""
        ...


class ChainUnavailable(RuntimeError):
    """The node did not answer (or answered something that is not its API)."""


# -- parsing the node's JSON (gogoproto JSON through grpc-gateway: snake_case, 64-bit ints as strings)


def _int(value: Any) -> int:
    return int(value or 0)


def _quantity(value: Any) -> int:
    """A ResourceValue's ``val``: the node writes math.Int as a decimal string; plain JSON of the
    protobuf ``bytes`` field would be base64 of that text. Accept both."""
    val = (value or {}).get("val", "0") if isinstance(value, dict) else value
    text = str(val or "0")
    if text.isdigit():
        return int(text)
    try:
        decoded = base64.b64decode(text, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ChainUnavailable(f"unreadable resource quantity {text!r}") from None
    return int(decoded or "0")


def _dec(amount: Any) -> Decimal:
    """A DecCoin amount: a node's JSON writes LegacyDec as "100.000000000000000000"; protojson of
    the bare protobuf field is the wire integer with 18 implied decimals ("100" + 18 zeros)."""
    text = str(amount or "0")
    return Decimal(text) if "." in text else from_legacy_dec(text)


def parse_group_spec(spec: dict[str, Any]) -> Group:
    requirements = spec.get("requirements") or {}
    signed_by = requirements.get("signed_by") or {}
    total = Resources()
    price = Decimal(0)
    denom = ""
    leased_ips, persistent = 0, False
    for unit in spec.get("resources") or []:
        count = _int(unit.get("count"))
        res = unit.get("resource") or {}
        volumes = res.get("storage") or []
        storage = sum(_quantity(vol.get("quantity")) for vol in volumes)
        persistent = persistent or any((a.get("key"), a.get("value")) == ("persistent", "true")
                                       for vol in volumes for a in vol.get("attributes") or [])
        leased_ips += count * sum(1 for ep in res.get("endpoints") or [] if ep.get("kind") in ("LEASED_IP", 2))
        one = Resources(_quantity((res.get("cpu") or {}).get("units")),
                        _quantity((res.get("memory") or {}).get("quantity")), storage,
                        _quantity((res.get("gpu") or {}).get("units")))
        total = total + one.times(count)
        unit_price = unit.get("price") or {}
        denom = denom or unit_price.get("denom", "")
        price += _dec(unit_price.get("amount")) * count
    return Group(
        name=spec.get("name", ""),
        attributes=tuple((a.get("key", ""), a.get("value", "")) for a in requirements.get("attributes") or []),
        signed_by_all_of=tuple(signed_by.get("all_of") or []),
        signed_by_any_of=tuple(signed_by.get("any_of") or []),
        resources=total,
        price=price,
        denom=denom,
        leased_ips=leased_ips,
        persistent_storage=persistent,
    )


def _order_id(d: dict[str, Any]) -> OrderID:
    return OrderID(d["owner"], _int(d["dseq"]), _int(d["gseq"]), _int(d["oseq"]))


def _lease_id(d: dict[str, Any]) -> LeaseID:
    return LeaseID(d["owner"], _int(d["dseq"]), _int(d["gseq"]), _int(d["oseq"]), d["provider"])


def _state(value: Any) -> str:
    return str(value or "").lower()


class RestChainView:
    """An Akash node's REST API (``http://127.0.0.1:1317``; a ``rest+`` prefix is dropped)."""

    PAGE = 500

    def __init__(self, url: str, timeout_s: float = 10.0, session: requests.Session | None = None):
        self.base = url.removeprefix("rest+").rstrip("/")
        self.timeout_s = timeout_s
        self._http = session or requests.Session()

    def _get(self, path: str, **params: Any) -> dict[str, Any] | None:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urlencode(params)
        try:
            resp = self._http.get(url, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise ChainUnavailable(f"{path}: {type(exc).__name__}") from None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise ChainUnavailable(f"{path}: HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError:
            raise ChainUnavailable(f"{path}: not JSON") from None

    def _list(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        # Offset paging: every Cosmos gateway honours pagination.offset (a key is optional).
        items: list[dict[str, Any]] = []
        while True:
            body = self._get(path, **params, **{"pagination.limit": self.PAGE, "pagination.offset": len(items)}) or {}
            page = body.get(key) or []
            items.extend(page)
            if not page or not (body.get("pagination") or {}).get("next_key"):
                return items

    def open_orders(self) -> list[Order]:
        orders = []
        for entry in self._list("/akash/market/v1beta5/orders/list", "orders", **{"filters.state": "open"}):
            order = entry.get("order", entry)
            if _state(order.get("state")) != "open":
                continue
            orders.append(Order(_order_id(order["id"]), parse_group_spec(order.get("spec") or {})))
        return orders

    def bids(self, provider: str) -> list[Bid]:
        result = []
        for state in ("open", "active"):
            for entry in self._list("/akash/market/v1beta5/bids/list", "bids",
                                    **{"filters.provider": provider, "filters.state": state}):
                bid = entry.get("bid", entry)
                bid_id = bid["id"]
                if bid_id.get("provider") != provider or _state(bid.get("state")) != state:
                    continue
                result.append(Bid(_order_id(bid_id), provider, state, _dec((bid.get("price") or {}).get("amount"))))
        return result

    def leases(self, provider: str) -> list[Lease]:
        result = []
        for entry in self._list("/akash/market/v1beta5/leases/list", "leases",
                                **{"filters.provider": provider, "filters.state": "active"}):
            lease = entry.get("lease", entry)
            lease_id = _lease_id(lease["id"])
            if lease_id.provider != provider or _state(lease.get("state")) != "active":
                continue
            result.append(Lease(lease_id, "active", _dec((lease.get("price") or {}).get("amount"))))
        return result

    def deployment(self, owner: str, dseq: int) -> Deployment | None:
        body = self._get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq})
        if not body or "deployment" not in body:
            return None
        dep = body["deployment"]
        groups = {
            _int(g["id"]["gseq"]): parse_group_spec(g.get("group_spec") or g.get("spec") or {})
            for g in body.get("groups") or []
        }
        return Deployment(owner, dseq, _state(dep.get("state")), base64.b64decode(dep.get("hash") or ""), groups)

    def audits(self, provider: str) -> dict[str, frozenset[tuple[str, str]]]:
        records = self._list(f"/akash/audit/v1/audit/attributes/{provider}/list", "providers")
        return {r["auditor"]: frozenset((a.get("key", ""), a.get("value", "")) for a in r.get("attributes") or [])
                for r in records if r.get("owner") == provider and r.get("auditor")}

    def public_key(self, address: str) -> bytes | None:
        body = self._get(f"/cosmos/auth/v1beta1/accounts/{address}")
        if not body:
            return None
        account = body.get("account") or {}
        # A BaseAccount, or a vesting/module account that wraps one.
        base = account.get("base_account") or (account.get("base_vesting_account") or {}).get("base_account") or account
        pub = base.get("pub_key") or {}
        if not pub.get("key"):
            return None
        return base64.b64decode(pub["key"])
