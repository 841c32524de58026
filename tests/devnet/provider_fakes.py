"""An in-memory chain behind the devnet providers' ChainView, and helpers to build what they judge.

Only what a provider reads is here (orders, bids, leases, deployments, public keys); the devnet's
real chain is tested through its REST API elsewhere.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from deployer.akash import manifest as m
from deployer.akash.sdl import DeploymentSpec, ServiceSpec, sdl_from_spec
from devnet.provider.chainview import (
    Bid,
    Deployment,
    Group,
    Lease,
    LeaseID,
    Order,
    OrderID,
    Resources,
    parse_group_spec,
)

GIB = 1024**3


def group(name: str = "dcloud", *, attributes: dict[str, str] | None = None, all_of: tuple[str, ...] = (),
          any_of: tuple[str, ...] = (), price: str = "1000", cpu: int = 500, memory: int = GIB // 2,
          storage: int = GIB) -> Group:
    return Group(name, tuple((attributes or {}).items()), all_of, any_of, Resources(cpu, memory, storage),
                 Decimal(price), "uact")


def rest_group_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """chain-sdk's ``SDL.groups()`` shape (what ``manifest.group_specs`` gives) as a node's REST JSON."""
    req = spec["requirements"]
    units = []
    for unit in spec["resources"]:
        res = unit["resource"]

        def val(v: Any) -> str:
            return v.decode() if isinstance(v, bytes) else str(v)

        units.append({
            "resource": {
                "id": res["id"],
                "cpu": {"units": {"val": val(res["cpu"]["units"]["val"])}, "attributes": []},
                "memory": {"quantity": {"val": val(res["memory"]["quantity"]["val"])}, "attributes": []},
                "storage": [{"name": s["name"], "quantity": {"val": val(s["quantity"]["val"])}, "attributes": []}
                            for s in res["storage"]],
                "gpu": {"units": {"val": val(res["gpu"]["units"]["val"])}, "attributes": []},
                "endpoints": [],
            },
            "count": unit["count"],
            "price": {"denom": unit["price"]["denom"], "amount": f"{Decimal(unit['price']['amount']):.18f}"},
        })
    return {
        "name": spec["name"],
        "requirements": {"signed_by": {"all_of": req["signedBy"]["allOf"], "any_of": req["signedBy"]["anyOf"]},
                         "attributes": req["attributes"]},
        "resources": units,
    }


@dataclass
class Sdl:
    """An SDL's manifest, hash and groups, from Slipway's own SDL code."""

    data: dict[str, Any]

    @classmethod
    def of(cls, *services: ServiceSpec, **placement: Any) -> Sdl:
        return cls(sdl_from_spec(DeploymentSpec(services=services, **placement)))

    @property
    def manifest(self) -> list[dict[str, Any]]:
        return m.manifest(self.data, as_string=True)

    @property
    def manifest_json(self) -> str:
        return m.manifest_sorted_json(self.data)

    @property
    def hash(self) -> bytes:
        return m.deployment_hash(self.data)

    def groups(self) -> dict[int, Group]:
        return {i + 1: parse_group_spec(rest_group_spec(spec)) for i, spec in enumerate(m.group_specs(self.data))}


@dataclass
class FakeChain:
    """The ChainView of one test: the test sets orders, leases, deployments and keys."""

    orders: dict[OrderID, Group] = field(default_factory=dict)
    bid_list: list[Bid] = field(default_factory=list)
    lease_list: list[Lease] = field(default_factory=list)
    deployments: dict[tuple[str, int], Deployment] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)
    audit_records: dict[str, dict[str, frozenset[tuple[str, str]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    # -- set-up ----------------------------------------------------------------------------------
    def deploy(self, owner: str, dseq: int, sdl: Sdl, *, open_orders: bool = True) -> Deployment:
        dep = Deployment(owner, dseq, "active", sdl.hash, sdl.groups())
        with self._lock:
            self.deployments[(owner, dseq)] = dep
            if open_orders:
                for gseq, grp in dep.groups.items():
                    self.orders[OrderID(owner, dseq, gseq, 1)] = grp
        return dep

    def update(self, owner: str, dseq: int, sdl: Sdl) -> None:
        with self._lock:
            old = self.deployments[(owner, dseq)]
            self.deployments[(owner, dseq)] = Deployment(owner, dseq, old.state, sdl.hash, old.groups)

    def open_order(self, order: OrderID, grp: Group) -> None:
        with self._lock:
            self.orders[order] = grp
            self.deployments.setdefault((order.owner, order.dseq),
                                        Deployment(order.owner, order.dseq, "active", b"", {}))
            self.deployments[(order.owner, order.dseq)].groups[order.gseq] = grp

    def lease(self, order: OrderID, provider: str, price: str = "100") -> LeaseID:
        lease_id = LeaseID(order.owner, order.dseq, order.gseq, order.oseq, provider)
        with self._lock:
            self.orders.pop(order, None)
            self.bid_list = [b for b in self.bid_list if b.order_id != order]
            self.lease_list.append(Lease(lease_id, "active", Decimal(price)))
        return lease_id

    def close_lease(self, lease_id: LeaseID) -> None:
        with self._lock:
            self.lease_list = [lease for lease in self.lease_list if lease.id != lease_id]

    # -- ChainView ---------------------------------------------------------------------------------
    def open_orders(self) -> list[Order]:
        with self._lock:
            return [Order(oid, grp) for oid, grp in self.orders.items()]

    def bids(self, provider: str) -> list[Bid]:
        with self._lock:
            return [b for b in self.bid_list if b.provider == provider]

    def leases(self, provider: str) -> list[Lease]:
        with self._lock:
            return [lease for lease in self.lease_list if lease.id.provider == provider]

    def deployment(self, owner: str, dseq: int) -> Deployment | None:
        with self._lock:
            return self.deployments.get((owner, dseq))

    def public_key(self, address: str) -> bytes | None:
        return self.keys.get(address)

    def audits(self, provider: str) -> dict[str, frozenset[tuple[str, str]]]:
        return dict(self.audit_records.get(provider, {}))


@dataclass
class RecordingBidder:
    """A BidSender that puts the bid on the fake chain (as the next block would)."""

    chain: FakeChain
    provider: str
    refuse: bool = False
    sent: list[tuple[OrderID, Decimal]] = field(default_factory=list)
    closed: list[OrderID] = field(default_factory=list)

    def bid(self, order: OrderID, price: Decimal, denom: str) -> None:
        if self.refuse:
            raise RuntimeError("chain refused the transaction (market code 21): invalid bid: bid exists from provider")
        self.sent.append((order, price))
        self.chain.bid_list.append(Bid(order, self.provider, "open", price))

    def close_bid(self, order: OrderID) -> None:
        self.closed.append(order)
        self.chain.bid_list = [b for b in self.chain.bid_list if (b.order_id, b.provider) != (order, self.provider)]
