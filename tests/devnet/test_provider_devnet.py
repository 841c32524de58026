"""The devnet's providers on the devnet's chain: the whole market road through the node's REST API.

A deployer (Slipway's own Signer over CosmpyChain, ``rest+http://``) mints ACT, creates
deployments; the providers (``devnet.provider.build_providers``, as ``slipway devnet`` starts them)
bid on what matches them; a lease is created on a bid; the manifest goes to the provider's HTTPS
API; the service runs on the Docker Engine and answers at the URI the lease status reports; closing
the deployment frees the provider's capacity and removes the service. Blocks are produced by the
test (``produce_block``) so nothing depends on timing.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest
import requests

from deployer.akash import messages
from deployer.akash.chain import CosmpyChain, Signer
from deployer.akash.manifest import group_specs
from deployer.akash.proto.akash.bme.v1.msgs_pb2 import MsgMintACT
from deployer.akash.provider_auth import provider_jwt
from deployer.akash.sdl import RegistryCredentials, ServiceSpec
from deployer.akash.wallet import wallet_from_mnemonic
from deployer.local import free_port
from devnet import config
from devnet.node import start
from devnet.provider import build_providers
from devnet.provider.cluster import LABEL_PROVIDER
from devnet.provider.control import Supervisor, provider_dir
from tests.devnet.provider_fakes import Sdl

pytestmark = pytest.mark.docker

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
SERVE = 'mkdir -p /tmp/www && echo "hello from the devnet" > /tmp/www/index.html && exec httpd -f -p "$PORT" -h /tmp/www'
AUDITOR = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.AUDITOR.hd_index).address
ADDRESS = {spec.name: wallet_from_mnemonic(config.DEVNET_MNEMONIC, spec.hd_index).address for spec in config.PROVIDERS}


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def devnet_port() -> int:
    """A free port whose provider ports (+11, +12) are free too."""
    for _ in range(100):
        port = free_port("127.0.0.1")
        if port < 65000 and all(_port_free(port + spec.port_offset) for spec in config.PROVIDERS):
            return port
    raise RuntimeError("no free port range for the devnet")


@pytest.fixture
def network(settings, docker_client):
    s = replace(settings, devnet_port=str(devnet_port()), akash_network="local", akash_chain_id=config.CHAIN_ID,
                akash_funding_mnemonic=MNEMONIC)
    node = start(s, blocks=False)
    providers = build_providers(node.rest_url, s)
    for provider in providers:
        provider.tick_s = 3600  # the test runs each round (provider.tick()) after the block it needs
    supervisor = Supervisor(s.devnet_path, providers)
    supervisor.apply()
    yield s, node, {p.name: p for p in providers}
    supervisor.stop()
    node.stop()
    for provider in providers:
        for container in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROVIDER}={provider.name}"}):
            container.remove(force=True)


def web(settings, **placement) -> Sdl:
    price = placement.pop("price", 1000)
    credentials = RegistryCredentials(host=settings.registry, username=settings.registry_username,
                                      password=settings.registry_password)
    return Sdl.of(ServiceSpec(name="web", image=f"{settings.registry}/base/busybox:latest", port=8080,
                              env={"PORT": "8080"}, command=("sh", "-c"), args=(SERVE,), memory="64Mi",
                              credentials=credentials, price_uact=price), **placement)


def wait_for(predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def test_providers_bid_on_what_matches_them_and_run_the_leased_manifest(network) -> None:
    s, node, providers = network
    chain = CosmpyChain(config.CHAIN_ID, node.rest_url)
    signer = Signer(chain)
    owner = wallet_from_mnemonic(MNEMONIC, 0, "funding")

    def block(*msgs) -> None:
        signer.submit(owner, list(msgs))
        node.chain.produce_block()

    block(MsgMintACT(owner=owner.address, to=owner.address, coins_to_burn=messages.coin(20_000_000, "uakt")))
    for _ in range(config.MINT_EPOCH_BLOCKS + 1):
        node.chain.produce_block()

    deployments = {
        101: web(s, attributes={"region": "us-west"}),  # cedar's region only
        102: web(s, signed_by_all_of=(AUDITOR,), price=200),  # audited: cedar only, though birch is cheaper
        103: web(s, price=80),  # below cedar's price (100), above birch's (60)
    }
    for dseq, sdl in deployments.items():
        groups = [messages.group_spec_from_dict(g) for g in group_specs(sdl.data)]
        block(messages.create_deployment(owner.address, dseq, groups, sdl.hash, config.MIN_DEPOSIT_UACT))

    for provider in providers.values():
        provider.tick()
    node.chain.produce_block()

    def bidders(dseq: int) -> set[str]:
        return {b.bid.id.provider for b in chain.bids(owner.address, dseq)}

    assert bidders(101) == {ADDRESS["cedar"]}
    assert bidders(102) == {ADDRESS["cedar"]}
    assert bidders(103) == {ADDRESS["birch"]}
    [birch_bid] = chain.bids(owner.address, 103)
    assert messages.from_legacy_dec(birch_bid.bid.price.amount) == providers["birch"].bid_engine.offer.price

    # Another round bids on nothing new: one bid per order.
    for provider in providers.values():
        provider.tick()
    node.chain.produce_block()
    assert len(chain.bids(owner.address, 101)) == 1

    cedar, birch = providers["cedar"], providers["birch"]
    cert = str(provider_dir(s.devnet_path, "cedar") / "tls.crt")
    sdl = deployments[101]

    def put_manifest(provider) -> requests.Response:
        cert_of = str(provider_dir(s.devnet_path, provider.name) / "tls.crt")
        return requests.put(f"{provider.url}/deployment/101/manifest", data=sdl.manifest_json, verify=cert_of,
                            headers={"Authorization": f"Bearer {provider_jwt(owner)}"}, timeout=30)

    resp = put_manifest(cedar)
    assert (resp.status_code, resp.text) == (404, "no lease for deployment\n")

    [bid] = chain.bids(owner.address, 101)
    block(messages.create_lease_for_bid(bid.bid.id))
    assert put_manifest(cedar).status_code == 200
    assert put_manifest(birch).status_code == 404  # birch holds no lease of it

    def status() -> dict:
        return requests.get(f"{cedar.url}/lease/101/1/1/status", verify=cert, timeout=10,
                            headers={"Authorization": f"Bearer {provider_jwt(owner)}"}).json()

    assert wait_for(lambda: status()["services"]["web"]["available"] == 1), status()
    [uri] = status()["services"]["web"]["uris"]
    assert wait_for(lambda: _get(f"http://{uri}/")) == "hello from the devnet\n"

    block(messages.close_deployment(owner.address, 101))
    cedar.tick()
    assert cedar.cluster.leases() == set()
    assert _get(f"http://{uri}/") is None

    # A bid no lease takes is withdrawn after the bid timeout (MsgCloseBid), as provider-services does.
    birch.bid_engine.bid_timeout_s = 0
    birch.tick()
    node.chain.produce_block()
    [withdrawn] = chain.bids(owner.address, 103)
    assert withdrawn.bid.state == withdrawn.bid.State.Value("closed")


def _get(url: str) -> str | None:
    try:
        resp = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return resp.text if resp.status_code == 200 else None
