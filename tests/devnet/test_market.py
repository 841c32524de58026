"""The market and escrow: orders, bids from registered providers, leases, payments per block.

Bids are signed as the devnet's providers by the independent client (cosmjs + chain-sdk), and
chain-sdk decodes the REST answers. The devnet here runs no provider processes: the tests bid.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from deployer.akash.messages import to_legacy_dec
from devnet import config
from devnet.node import devnet_wallet, provider_wallet
from tests.devnet.conftest import expiry, needs_oracle
from tests.devnet.helpers import create_deployment, dec18, deposit_grant, group, next_dseq

pytestmark = needs_oracle

CEDAR, BIRCH = config.provider_spec("cedar"), config.provider_spec("birch")
AUDITOR = devnet_wallet(config.AUDITOR.hd_index, "auditor").address


def bid(owner: str, dseq: int, provider: config.ProviderSpec, price: str, *, gseq: int = 1, oseq: int = 1) -> dict:
    return {
        "@type": "/akash.market.v1beta5.MsgCreateBid",
        "id": {"owner": owner, "dseq": str(dseq), "gseq": gseq, "oseq": oseq,
               "provider": provider_wallet(provider).address, "bseq": 0},
        "price": {"denom": "uact", "amount": dec18(price)},
        "deposit": {"amount": {"denom": "uact", "amount": str(config.BID_MIN_DEPOSIT_UACT)}, "sources": ["balance"]},
        "resources_offer": [],
    }


def provider_submit(client, provider: config.ProviderSpec, messages: list[dict]) -> dict:
    return client.submit(provider.hd_index, messages, mnemonic=config.DEVNET_MNEMONIC)


def lease_msg(owner: str, dseq: int, provider: config.ProviderSpec) -> dict:
    return {"@type": "/akash.market.v1beta5.MsgCreateLease", "bid_id": {
        "owner": owner, "dseq": str(dseq), "gseq": 1, "oseq": 1, "provider": provider_wallet(provider).address, "bseq": 0}}


def deployment(client, *, groups=None, deposit: int = 500_000) -> tuple[int, str, int]:
    """A deployment by a new deployer, its deposit granted by the funding wallet: (index, owner, dseq)."""
    index = client.funded_deployer()
    owner, dseq = client.address(index), next_dseq()
    client.submit_ok(0, [deposit_grant(client.address(0), owner, deposit, expiry())])
    client.submit_ok(index, [create_deployment(owner, dseq, deposit=deposit, source="grant", groups=groups)])
    return index, owner, dseq


def test_a_deployment_opens_an_order_per_group(client, act):
    _, owner, dseq = deployment(client, groups=[group(name="web"), group(name="db")])
    orders = client.get("/akash/market/v1beta5/orders/list", **{"filters.owner": owner, "filters.dseq": dseq}).json()
    assert [(o["id"]["gseq"], o["id"]["oseq"], o["state"]) for o in orders["orders"]] == [(1, 1, "open"), (2, 1, "open")]
    assert [o["spec"]["name"] for o in orders["orders"]] == ["web", "db"]


def test_bids_at_or_under_the_order_price_and_a_lease_closes_the_other_bids(client, act):
    index, owner, dseq = deployment(client, groups=[group(price_uact="1000")])
    over = provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "1000.5")])
    assert (over["codespace"], over["code"]) == ("market", 22)  # x/market: "bid price is invalid"
    cedar_before = client.balance(provider_wallet(CEDAR).address, "uact")
    assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "100")])["code"] == 0
    assert provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "60")])["code"] == 0
    again = provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "50")])
    assert (again["codespace"], again["code"]) == ("market", 21)
    assert client.balance(provider_wallet(CEDAR).address, "uact") == cedar_before - config.BID_MIN_DEPOSIT_UACT

    client.submit_ok(index, [lease_msg(owner, dseq, BIRCH)])
    bids = client.get("/akash/market/v1beta5/bids/list", **{"filters.owner": owner, "filters.dseq": dseq}).json()["bids"]
    states = {b["bid"]["id"]["provider"]: b["bid"]["state"] for b in bids}
    assert states == {provider_wallet(BIRCH).address: "active", provider_wallet(CEDAR).address: "lost"}
    assert client.balance(provider_wallet(CEDAR).address, "uact") == cedar_before  # its bid deposit came back
    leases = client.get("/akash/market/v1beta5/leases/list", **{"filters.owner": owner}).json()["leases"]
    assert [(le["lease"]["state"], le["lease"]["price"]["amount"]) for le in leases] == [("active", dec18("60"))]
    order = client.get("/akash/market/v1beta5/orders/list", **{"filters.owner": owner}).json()["orders"][0]
    assert order["state"] == "active"


def test_bids_must_match_the_groups_attributes_and_auditors(client, act):
    _, owner, dseq = deployment(client, groups=[group(signed_by=[AUDITOR])])
    unaudited = provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "10")])
    assert (unaudited["codespace"], unaudited["code"]) == ("market", 5)
    assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "10")])["code"] == 0
    _, owner, dseq = deployment(client, groups=[group(attributes={"region": "eu-central"})])
    elsewhere = provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "10")])
    assert (elsewhere["codespace"], elsewhere["code"]) == ("market", 5)
    assert provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "10")])["code"] == 0


def test_an_order_with_a_lease_takes_no_more_bids(client, act):
    index, owner, dseq = deployment(client)
    assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "10")])["code"] == 0
    client.submit_ok(index, [lease_msg(owner, dseq, CEDAR)])
    late = provider_submit(client, BIRCH, [bid(owner, dseq, BIRCH, "5")])
    assert (late["codespace"], late["code"]) == ("market", 23)


def test_a_provider_closing_its_lease_pauses_the_group_and_an_owner_closing_one_reopens_it(client, act):
    index, owner, dseq = deployment(client, groups=[group(name="web"), group(name="db")])
    for gseq in (1, 2):
        assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "10", gseq=gseq)])["code"] == 0
    lease = dict(lease_msg(owner, dseq, CEDAR))
    client.submit_ok(index, [lease, {**lease, "bid_id": {**lease["bid_id"], "gseq": 2}}])
    lease_id = {"owner": owner, "dseq": str(dseq), "gseq": 1, "oseq": 1, "provider": provider_wallet(CEDAR).address, "bseq": 0}
    closed = provider_submit(client, CEDAR, [{"@type": "/akash.market.v1beta5.MsgCloseBid", "id": lease_id,
                                              "reason": "lease_closed_reason_unstable"}])
    assert closed["code"] == 0, closed
    client.submit_ok(index, [{"@type": "/akash.market.v1beta5.MsgCloseLease", "id": {**lease_id, "gseq": 2}}])
    info = client.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq}).json()
    assert [g["state"] for g in info["groups"]] == ["paused", "open"]
    leases = client.get("/akash/market/v1beta5/leases/list", **{"filters.owner": owner, "filters.dseq": dseq}).json()
    assert [(le["lease"]["state"], le["lease"]["reason"]) for le in leases["leases"]] == [
        ("closed", "lease_closed_reason_unstable"), ("closed", "lease_closed_owner")]
    orders = client.get("/akash/market/v1beta5/orders/list", **{"filters.owner": owner, "filters.dseq": dseq}).json()
    assert [(o["id"]["gseq"], o["id"]["oseq"], o["state"]) for o in orders["orders"]] == [
        (1, 1, "closed"), (2, 1, "closed"), (2, 2, "open")]


def test_only_registered_providers_bid(client, act):
    _, owner, dseq = deployment(client)
    stranger = client.funded_deployer()
    msg = bid(owner, dseq, CEDAR, "10")
    msg["id"]["provider"] = client.address(stranger)
    refused = client.submit(stranger, [msg])
    assert (refused["codespace"], refused["code"]) == ("market", 30)


def test_escrow_pays_the_bid_price_each_block_and_closes_the_deployment_when_empty(client, act):
    price = 100_000  # uact per block: the 500000uact deposit lasts five blocks
    index, owner, dseq = deployment(client, groups=[group(price_uact=str(price))], deposit=500_000)
    cedar = provider_wallet(CEDAR).address
    assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, str(price))])["code"] == 0
    with_bid = client.balance(cedar, "uact")
    lease_height = int(client.submit_ok(index, [lease_msg(owner, dseq, CEDAR)])["height"])

    info = client.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq}).json()
    state = info["escrow_account"]["state"]
    blocks = int(state["settled_at"]) - lease_height
    paid = Decimal(price * blocks)
    if info["deployment"]["state"] == "active":
        assert state["funds"] == [{"denom": "uact", "amount": dec18(Decimal(500_000) - paid)}]
        assert state["transferred"] == ([{"denom": "uact", "amount": dec18(paid)}] if blocks else [])

    client.wait_height(lease_height + 500_000 // price + 2)
    info = client.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq}).json()
    assert info["deployment"]["state"] == "closed"
    assert [g["state"] for g in info["groups"]] == ["insufficient_funds"]
    assert info["escrow_account"]["state"]["transferred"] == [{"denom": "uact", "amount": dec18(500_000)}]
    lease = client.get("/akash/market/v1beta5/leases/list", **{"filters.owner": owner}).json()["leases"][0]
    assert lease["lease"]["state"] == "insufficient_funds"
    assert lease["lease"]["reason"] == "lease_closed_reason_insufficient_funds"
    assert lease["escrow_payment"]["state"]["withdrawn"] == {"denom": "uact", "amount": "500000"}
    # The provider got the whole deposit, a block at a time (its other leases pay it too, so the
    # balance only grew by at least that), and its bid deposit back.
    assert client.balance(cedar, "uact") >= with_bid + 500_000 + config.BID_MIN_DEPOSIT_UACT
    bid_escrow = client.get("/akash/escrow/v1/types/accounts", xid=f"{owner}/{dseq}/1/1/{cedar}/0").json()["accounts"]
    assert [(a["state"]["state"], a["state"]["funds"]) for a in bid_escrow] == [("closed", [])]


def test_chain_sdk_decodes_the_rest_answers(client, act):
    index, owner, dseq = deployment(client, deposit=600_000)
    assert provider_submit(client, CEDAR, [bid(owner, dseq, CEDAR, "100")])["code"] == 0
    client.submit_ok(index, [lease_msg(owner, dseq, CEDAR)])
    url = client.url
    decoded = client.oracle([
        {"op": "get", "type": "akash.deployment.v1beta4.QueryDeploymentResponse",
         "url": f"{url}/akash/deployment/v1beta4/deployments/info?id.owner={owner}&id.dseq={dseq}"},
        {"op": "get", "type": "akash.deployment.v1beta4.QueryDeploymentsResponse",
         "url": f"{url}/akash/deployment/v1beta4/deployments/list?filters.owner={owner}"},
        {"op": "get", "type": "akash.market.v1beta5.QueryBidsResponse",
         "url": f"{url}/akash/market/v1beta5/bids/list?filters.owner={owner}&filters.dseq={dseq}"},
        {"op": "get", "type": "akash.market.v1beta5.QueryLeasesResponse",
         "url": f"{url}/akash/market/v1beta5/leases/list?filters.owner={owner}&filters.dseq={dseq}"},
        {"op": "get", "type": "akash.escrow.v1.QueryAccountsResponse",
         "url": f"{url}/akash/escrow/v1/types/accounts?xid={owner}/{dseq}"},
    ])
    info, listed, bids, leases, accounts = (d["json"] for d in decoded)
    assert info["deployment"]["id"] == {"owner": owner, "dseq": str(dseq)}
    assert info["deployment"]["state"] == "active"
    assert info["groups"][0]["group_spec"]["resources"][0]["price"]["amount"] == dec18("1000")
    assert info["escrow_account"]["id"] == {"scope": "deployment", "xid": f"{owner}/{dseq}"}
    assert info["escrow_account"]["state"]["deposits"][0]["owner"] == client.address(0)
    assert info["escrow_account"]["state"]["deposits"][0]["source"] == "grant"
    assert listed["deployments"][0]["deployment"]["id"]["dseq"] == str(dseq)
    assert bids["bids"][0]["bid"]["state"] == "active"
    assert bids["bids"][0]["bid"]["price"] == {"denom": "uact", "amount": dec18("100")}
    assert bids["bids"][0]["escrow_account"]["id"]["scope"] == "bid"
    assert leases["leases"][0]["lease"]["id"]["provider"] == provider_wallet(CEDAR).address
    assert leases["leases"][0]["escrow_payment"]["state"]["rate"]["amount"] == dec18("100")
    assert accounts["accounts"][0]["state"]["state"] == "open"
    # Nothing chain-sdk knows is lost on the way: its round trip equals what the devnet sent.
    raw = client.get("/akash/market/v1beta5/leases/list", **{"filters.owner": owner, "filters.dseq": dseq}).json()
    sent, decoded_id = raw["leases"][0]["lease"]["id"], leases["leases"][0]["lease"]["id"]
    assert {k: v for k, v in sent.items() if v not in (0, "0", "")} == decoded_id  # chain-sdk omits defaults


def test_slipways_own_chain_client_works_against_the_devnet_over_rest(client, devnet, act):
    """CosmpyChain + Signer (Slipway's real road) over rest+http: grants, deployment, bids and leases."""
    from datetime import datetime, timedelta

    from deployer.akash import messages
    from deployer.akash.chain import CosmpyChain, Signer
    from deployer.akash.wallet import Wallets
    from tests.devnet.conftest import MNEMONIC
    from tests.devnet.helpers import group as group_json

    chain = CosmpyChain(devnet.chain.chain_id, devnet.rest_url)
    signer = Signer(chain)
    wallets = Wallets(MNEMONIC)
    deployer = wallets.deployer(client.new_index())
    expiration = datetime.now(UTC) + timedelta(days=1)
    grants = signer.submit(wallets.funding, messages.grant_messages(
        wallets.funding.address, deployer.address, gas_limit=5_000_000, deposit_limit=1_000_000, expiration=expiration))
    assert chain.wait_for_tx(grants.txhash).code == 0
    from google.protobuf.json_format import ParseDict

    from deployer.akash.proto.akash.deployment.v1beta4.groupspec_pb2 import GroupSpec

    spec = ParseDict(group_json(), GroupSpec())
    spec.resources[0].price.amount = to_legacy_dec("1000")  # Slipway's messages carry the wire form
    dseq = next_dseq()
    create = signer.submit(deployer, [messages.create_deployment(
        deployer.address, dseq, [spec], b"\x01" * 32, 500_000, from_grant=True)], fee_granter=wallets.funding.address)
    assert chain.wait_for_tx(create.txhash).code == 0
    assert provider_submit(client, CEDAR, [bid(deployer.address, dseq, CEDAR, "100")])["code"] == 0
    bids = chain.bids(deployer.address, dseq)
    assert [(b.bid.id.provider, b.bid.price.amount) for b in bids] == [(provider_wallet(CEDAR).address, to_legacy_dec("100"))]
    lease = signer.submit(deployer, [messages.create_lease_for_bid(bids[0].bid.id)], fee_granter=wallets.funding.address)
    assert chain.wait_for_tx(lease.txhash).code == 0
    assert [le.lease.state for le in chain.leases(deployer.address, dseq)] == [1]  # active
    # What a provider reads, through the same client.
    info = chain.deployment(deployer.address, dseq)
    assert info.deployment.hash == b"\x01" * 32 and info.escrow_account.id.xid == f"{deployer.address}/{dseq}"
    cedar_leases = chain.provider_leases(provider_wallet(CEDAR).address, state="active")
    assert (deployer.address, dseq) in [(le.lease.id.owner, le.lease.id.dseq) for le in cedar_leases]
    open_orders = chain.orders(state="open")
    assert (deployer.address, dseq) not in [(o.id.owner, o.id.dseq) for o in open_orders]
