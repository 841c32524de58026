"""Which bid is leased: trusted providers only (when a list is set), the lowest price, then the
provider's uptime as Slipway observed it (``slipway.lease_events.provider_uptime``)."""

from __future__ import annotations

from decimal import Decimal

from deployer.akash.lcd import Bid
from deployer.akash.target import Policy
from deployer.base import CLOSED_UNDER_IT, MOVED_AWAY
from slipway import lease_events
from slipway.db import session_scope
from slipway.models import Deployment, Project


def bid(provider: str, price: int) -> Bid:
    return Bid(provider=provider, gseq=1, oseq=1, bseq=1, price=Decimal(price), denom="uact", raw_id={})


def test_the_lowest_price_wins_then_the_better_uptime_then_the_address():
    bids = [bid("akash1a", 60), bid("akash1b", 60), bid("akash1c", 50)]
    assert Policy().choose(bids, uptime={"akash1c": 0.1}).provider == "akash1c"  # price first
    tied = bids[:2]
    assert Policy().choose(tied).provider == "akash1a"
    assert Policy().choose(tied, uptime={"akash1a": 0.5, "akash1b": 0.9}).provider == "akash1b"
    assert Policy().choose(tied, uptime={"akash1a": 0.5}).provider == "akash1b"  # no history: a clean record
    assert Policy(providers=("akash1a",)).choose(bids, uptime={"akash1a": 0.0}).provider == "akash1a"
    assert Policy().choose(tied, avoid=frozenset({"akash1b"}), uptime={"akash1a": 0.0}).provider == "akash1a"


def test_uptime_counts_the_leases_a_provider_lost_under_slipway(settings):
    with session_scope() as s:
        project = Project(name="app", repo_url="x", target="akash")
        dep = Deployment(project=project, sha="a" * 40, branch="main", trigger="push", state="live")
        s.add(dep)
        s.flush()
        events = [{"kind": "leased", "provider": p, "dseq": n} for n, p in enumerate(
            ["akash1good"] * 3 + ["akash1flaky"] * 4 + ["akash1gone"])]
        events += [
            {"kind": "closed", "provider": "akash1flaky", "dseq": 4, "detail": f"{MOVED_AWAY} akash1good"},
            {"kind": "closed", "provider": "akash1flaky", "dseq": 5, "detail": CLOSED_UNDER_IT},
            {"kind": "closed", "provider": "akash1gone", "dseq": 7, "detail": CLOSED_UNDER_IT},
            # Closed by Slipway's own doing: no mark against the provider.
            {"kind": "closed", "provider": "akash1good", "dseq": 0, "detail": "replaced by deployment 9"},
            {"kind": "closed", "provider": "akash1good", "dseq": 1, "detail": "its Slipway deployment ended"},
        ]
        lease_events.record(s, dep.id, events)
    with session_scope() as s:
        assert lease_events.provider_uptime(s) == {"akash1good": 1.0, "akash1flaky": 0.5, "akash1gone": 0.0}
