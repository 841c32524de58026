"""A devnet provider's bid engine: attributes, signedBy, price, capacity, one bid per order."""

from __future__ import annotations

from decimal import Decimal

from devnet.provider.bidding import BidEngine, Offer
from devnet.provider.chainview import OrderID, Resources
from tests.devnet.provider_fakes import GIB, FakeChain, RecordingBidder, group

PROVIDER = "akash1provider"
AUDITOR = "akash1auditor"
OWNER = "akash1owner"


ATTRIBUTES = (("region", "us-west"), ("tier", "community"))


def engine(chain: FakeChain, *, audited: bool = True, price: str = "100",
           cpu: int = 4000, refuse: bool = False) -> tuple[BidEngine, RecordingBidder]:
    if audited:  # the auditor's on-chain record: it signed all of the provider's attributes
        chain.audit_records[PROVIDER] = {AUDITOR: frozenset(ATTRIBUTES)}
    offer = Offer(PROVIDER, ATTRIBUTES, Decimal(price), "uact", Resources(cpu, 8 * GIB, 100 * GIB))
    sender = RecordingBidder(chain, PROVIDER, refuse=refuse)
    return BidEngine(offer, chain, sender), sender


def order(dseq: int) -> OrderID:
    return OrderID(OWNER, dseq, 1, 1)


def test_bids_on_a_matching_order_at_its_own_price_and_only_once() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(attributes={"region": "us-west"}, price="1000"))
    bids, sender = engine(chain)
    assert bids.round() == [order(1)]
    assert sender.sent == [(order(1), Decimal(100))]
    assert bids.round() == []  # its bid is on chain: no second bid
    assert len(sender.sent) == 1


def test_declines_orders_whose_attributes_it_lacks() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(attributes={"region": "eu-central"}))
    chain.open_order(order(2), group(attributes={"region": "us-west", "gpu": "h100"}))
    bids, sender = engine(chain)
    assert bids.round() == []
    assert sender.sent == []


def test_honours_signed_by_all_of_and_any_of() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(all_of=(AUDITOR,)))
    chain.open_order(order(2), group(any_of=("akash1other", AUDITOR)))
    chain.open_order(order(3), group(all_of=(AUDITOR, "akash1other")))
    chain.open_order(order(4), group(any_of=("akash1other",)))
    audited, _ = engine(chain)
    assert audited.round() == [order(1), order(2)]

    unaudited_chain = FakeChain()
    unaudited_chain.open_order(order(1), group(all_of=(AUDITOR,)))
    unaudited_chain.open_order(order(5), group())
    unaudited, _ = engine(unaudited_chain, audited=False)
    assert unaudited.round() == [order(5)]


def test_an_auditor_vouches_only_for_the_attributes_it_signed() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(attributes={"region": "us-west"}, all_of=(AUDITOR,)))
    chain.open_order(order(2), group(attributes={"tier": "community"}, all_of=(AUDITOR,)))
    bids, _ = engine(chain, audited=False)
    chain.audit_records[PROVIDER] = {AUDITOR: frozenset({("region", "us-west")})}
    assert bids.round() == [order(1)]


def test_never_bids_above_the_orders_price() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(price="99"))
    chain.open_order(order(2), group(price="100"))
    bids, sender = engine(chain, price="100")
    assert bids.round() == [order(2)]
    assert sender.sent == [(order(2), Decimal(100))]


def test_bids_only_within_capacity_and_frees_it_when_a_lease_closes() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(cpu=3000))
    chain.open_order(order(2), group(cpu=3000))
    bids, _ = engine(chain, cpu=4000)
    assert bids.round() == [order(1)]  # the second does not fit beside the first's reservation
    lease = chain.lease(order(1), PROVIDER)
    assert bids.round() == []  # the lease holds the capacity now
    chain.close_lease(lease)
    assert bids.round() == [order(2)]


def test_declines_what_a_devnet_provider_cannot_run() -> None:
    from dataclasses import replace

    chain = FakeChain()
    chain.open_order(order(1), replace(group(), resources=Resources(500, GIB, GIB, gpus=1)))
    chain.open_order(order(2), replace(group(), leased_ips=1))
    chain.open_order(order(3), replace(group(), persistent_storage=True))
    chain.open_order(order(4), group())
    bids, _ = engine(chain)
    assert bids.round() == [order(4)]


def test_a_bid_no_lease_took_is_withdrawn_after_the_bid_timeout_and_frees_capacity() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group(cpu=3000))
    bids, sender = engine(chain, cpu=4000)
    assert bids.round(now=0) == [order(1)]
    chain.open_order(order(2), group(cpu=3000))
    assert bids.round(now=1) == []  # no room beside the open bid
    assert bids.round(now=299) == [] and sender.closed == []
    assert bids.round(now=302) == [order(2)]  # the first bid timed out: closed, its room taken
    assert sender.closed == [order(1)]
    assert bids.round(now=1000) == [] and sender.sent[-1][0] == order(2)  # never bid on order 1 again
    assert sender.closed == [order(1), order(2)]


def test_a_refused_bid_is_not_retried_every_block() -> None:
    chain = FakeChain()
    chain.open_order(order(1), group())
    bids, sender = engine(chain, refuse=True)
    assert bids.round() == []
    assert bids.round() == []
    assert order(1) in bids.refused and sender.sent == []


def test_group_specs_read_from_a_nodes_json_and_from_protojson() -> None:
    """A real node writes ResourceValue.val as "500" and LegacyDec as "1000.000000000000000000";
    protojson of the bare protobuf writes base64 bytes and the wire integer. Both read the same."""
    from devnet.provider.chainview import parse_group_spec

    def spec(cpu, memory, storage, amount) -> dict:
        return {"name": "akash", "requirements": {"signed_by": {"all_of": [AUDITOR], "any_of": []},
                                                   "attributes": [{"key": "region", "value": "us-west"}]},
                "resources": [{"resource": {"id": 1, "cpu": {"units": {"val": cpu}},
                                            "memory": {"quantity": {"val": memory}},
                                            "storage": [{"name": "default", "quantity": {"val": storage}}],
                                            "gpu": {"units": {"val": "0"}}, "endpoints": []},
                               "count": 2, "price": {"denom": "uact", "amount": amount}}]}

    node = parse_group_spec(spec("500", "536870912", "1073741824", "1000.000000000000000000"))
    protojson = parse_group_spec(spec("NTAw", "NTM2ODcwOTEy", "MTA3Mzc0MTgyNA==", "1000" + "0" * 18))
    assert node == protojson
    assert node.resources == Resources(1000, 1 << 30, 2 << 30)
    gpu = spec("500", "536870912", "1073741824", "1.0")
    gpu["resources"][0]["resource"]["gpu"]["units"]["val"] = "1"
    gpu["resources"][0]["resource"]["endpoints"] = [{"kind": "LEASED_IP", "sequence_number": 1}]
    gpu["resources"][0]["resource"]["storage"].append(
        {"name": "data", "quantity": {"val": "1"}, "attributes": [{"key": "persistent", "value": "true"}]})
    parsed = parse_group_spec(gpu)
    assert (parsed.resources.gpus, parsed.leased_ips, parsed.persistent_storage) == (2, 2, True)
    assert node.price == Decimal(2000) and node.denom == "uact"
    assert node.attributes == (("region", "us-west"),) and node.signed_by_all_of == (AUDITOR,)
