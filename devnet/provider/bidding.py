"""A devnet provider's bid engine: which open orders it bids on, and at what price.

As akash-network/provider's ``bidengine`` does: a provider bids on an order when it has the
attributes the group requires, when the group's ``signedBy`` auditors (all of ``all_of``, one of
``any_of``) have signed, on chain, the attributes the group requires of it, when its price is not
above the group's, and when what is left of its capacity (minus its active leases and open bids,
its reservations) holds the group.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from devnet.provider.chainview import ChainView, Group, Order, OrderID, Resources

log = logging.getLogger(__name__)

# A bid sent but not yet seen on chain is kept as a reservation this long.
PENDING_BID_S = 30.0
# provider-services' --bid-timeout: an open bid no lease took is closed (MsgCloseBid) after this.
BID_TIMEOUT_S = 300.0


class BidSender(Protocol):
    def bid(self, order: OrderID, price: Decimal, denom: str) -> None:
        """Place a bid (``MsgCreateBid``); raise if the chain refuses it."""
        ...

    def close_bid(self, order: OrderID) -> None:
        """Withdraw the bid on ``order`` (``MsgCloseBid``); raise if the chain refuses it."""
        ...


@dataclass(frozen=True)
class Offer:
    """What a provider is and asks."""

    address: str
    attributes: tuple[tuple[str, str], ...]
    price: Decimal  # per block, for a group
    denom: str
    capacity: Resources


def decline_reason(offer: Offer, group: Group, free: Resources,
                   audits: dict[str, frozenset[tuple[str, str]]] | None = None) -> str | None:
    """Why ``offer`` does not bid on ``group`` (None: it bids); ``audits``: auditor -> signed attributes."""
    have = set(offer.attributes)
    missing = [f"{k}={v}" for k, v in group.attributes if (k, v) not in have]
    if missing:
        return f"incompatible provider attributes (missing {', '.join(missing)})"
    # An auditor vouches for this group when it signed every attribute the group requires.
    vouching = {auditor for auditor, signed in (audits or {}).items() if set(group.attributes) <= signed}
    if group.signed_by_all_of and not set(group.signed_by_all_of) <= vouching:
        return "attribute signature requirements not met (all_of)"
    if group.signed_by_any_of and not set(group.signed_by_any_of) & vouching:
        return "attribute signature requirements not met (any_of)"
    if group.denom != offer.denom:
        return f"unsupported denomination {group.denom!r}"
    if group.price < offer.price:
        return f"price too high, not bidding ({offer.price}{offer.denom} > {group.price}{group.denom})"
    if group.leased_ips:
        return "no leased IPs on this provider"
    if group.persistent_storage:
        return "no persistent storage on this provider"
    if not group.resources.fits_in(free):
        return "insufficient capacity"  # GPUs included: devnet providers have none
    return None


@dataclass
class BidEngine:
    """One round per block: bid on the orders this provider can take, once each; withdraw a bid
    no lease took within ``bid_timeout_s`` and do not bid on that order again."""

    offer: Offer
    chain: ChainView
    sender: BidSender
    bid_timeout_s: float = BID_TIMEOUT_S
    pending: dict[OrderID, tuple[Group, float]] = field(default_factory=dict)
    refused: set[OrderID] = field(default_factory=set)  # refused or timed out: never bid on again
    open_since: dict[OrderID, float] = field(default_factory=dict)
    groups: dict[OrderID, Group] = field(default_factory=dict)  # what each bid or lease of ours holds

    def _group_of(self, order: OrderID) -> Group | None:
        if order not in self.groups:
            deployment = self.chain.deployment(order.owner, order.dseq)
            if deployment is None or order.gseq not in deployment.groups:
                return None
            self.groups[order] = deployment.groups[order.gseq]
        return self.groups[order]

    def reserved(self, held: set[OrderID]) -> Resources:
        total = Resources()
        for order in held:
            group = self._group_of(order)
            if group is not None:
                total = total + group.resources
        return total

    def round(self, now: float | None = None) -> list[OrderID]:
        """Bid on what fits; returns the orders bid on in this round."""
        now = time.monotonic() if now is None else now
        orders = self.chain.open_orders()
        open_ids = {o.id for o in orders}
        bids = self.chain.bids(self.offer.address)
        mine = {b.order_id for b in bids}
        mine -= self._withdraw_stale({b.order_id for b in bids if b.state == "open"}, now)
        leased = {lease.id.order_id for lease in self.chain.leases(self.offer.address)}
        for order_id, (_, since) in list(self.pending.items()):
            if order_id in mine or order_id not in open_ids or now - since > PENDING_BID_S:
                del self.pending[order_id]
        held = mine | leased | set(self.pending)
        for order_id in list(self.groups):
            if order_id not in held:
                del self.groups[order_id]
        free = self.offer.capacity.minus(self.reserved(held))
        audits = self.chain.audits(self.offer.address) if any(
            o.group.signed_by_all_of or o.group.signed_by_any_of for o in orders) else {}
        placed = []
        for order in sorted(orders, key=lambda o: o.id):
            if order.id in held or order.id in self.refused:
                continue
            reason = decline_reason(self.offer, order.group, free, audits)
            if reason:
                log.debug("not bidding on %s: %s", order.id.path(), reason)
                continue
            if not self._bid(order):
                continue
            self.pending[order.id] = (order.group, now)
            self.open_since[order.id] = now  # the bid timeout runs from the bid
            self.groups[order.id] = order.group
            free = free.minus(order.group.resources)
            placed.append(order.id)
        return placed

    def _withdraw_stale(self, open_bids: set[OrderID], now: float) -> set[OrderID]:
        """Close the open bids that waited ``bid_timeout_s``; returns those withdrawn."""
        for order_id in list(self.open_since):
            if order_id not in open_bids and order_id not in self.pending:
                del self.open_since[order_id]
        withdrawn = set()
        for order_id in sorted(open_bids):
            since = self.open_since.setdefault(order_id, now)
            if now - since < self.bid_timeout_s:
                continue
            try:
                self.sender.close_bid(order_id)
            except Exception as exc:  # noqa: BLE001 - e.g. a lease took it meanwhile; next round sees
                log.warning("closing the bid on %s failed: %s", order_id.path(), exc)
                continue
            log.info("bid on %s timed out: closed", order_id.path())
            self.refused.add(order_id)
            del self.open_since[order_id]
            withdrawn.add(order_id)
        return withdrawn

    def _bid(self, order: Order) -> bool:
        try:
            self.sender.bid(order.id, self.offer.price, self.offer.denom)
        except Exception as exc:  # noqa: BLE001 - a refused bid is not retried; the loop goes on
            log.warning("bid on %s refused: %s", order.id.path(), exc)
            self.refused.add(order.id)
            return False
        log.info("bid on %s at %s%s", order.id.path(), self.offer.price, self.offer.denom)
        return True
