"""A devnet provider's API over HTTPS, its containers on the real Docker Engine, stop and start.

The chain behind the provider is in memory (tests/devnet/provider_fakes.py): these tests are
about what the provider does with what the chain says.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import simple_websocket

from deployer.akash.provider_auth import provider_jwt, sign_adr36
from deployer.akash.sdl import RegistryCredentials, ServiceSpec
from deployer.akash.wallet import Wallet, Wallets
from devnet.provider import control
from devnet.provider.bidding import BidEngine, Offer
from devnet.provider.chainview import OrderID, Resources
from devnet.provider.cluster import LABEL_PROVIDER, DockerCluster
from devnet.provider.control import Supervisor
from devnet.provider.service import DevnetProvider, self_signed_certificate
from tests.devnet.provider_fakes import GIB, FakeChain, RecordingBidder, Sdl

pytestmark = pytest.mark.docker

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
WALLETS = Wallets(MNEMONIC)
OWNER, OTHER, PROVIDER_KEY = WALLETS.deployer(1), WALLETS.deployer(2), WALLETS.deployer(3)
SERVE = ('echo "web starting on $PORT"; mkdir -p /tmp/www && echo "hello from $GREETING" > /tmp/www/index.html '
         '&& exec httpd -f -p "$PORT" -h /tmp/www')


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(iss: str, signer: Wallet, *, alg: str = "ES256KADR36", iat: int | None = None, ttl_s: int = 900,
        **extra) -> str:
    """A provider JWT claiming ``iss`` and signed by ``signer`` (not necessarily the same account)."""
    now = int(time.time()) if iat is None else iat
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":"), sort_keys=True).encode())
    claims = {"iss": iss, "iat": now, "nbf": now, "exp": now + ttl_s, "version": "v1", "leases": {"access": "full"}}
    claims.update(extra)
    payload = _b64url(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    # ES256KADR36: the ADR-036 amino doc names the issuer as signer, whoever signs.
    signature = signer.sign(signing_input) if alg == "ES256K" else _adr36(iss, signer, signing_input)
    return f"{header}.{payload}.{_b64url(signature)}"


def _adr36(iss: str, signer: Wallet, data: bytes) -> bytes:
    if iss == signer.address:
        return sign_adr36(signer, data)
    from deployer.akash.provider_auth import adr36_sign_bytes

    return signer.sign(adr36_sign_bytes(iss, data))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Harness:
    provider: DevnetProvider
    chain: FakeChain
    cert: Path
    docker: object

    @property
    def url(self) -> str:
        return self.provider.url

    def call(self, method: str, path: str, token: str | None = None, headers: dict | None = None,
             **kw) -> requests.Response:
        headers = {**(bearer(token) if token else {}), **(headers or {})}
        return requests.request(method, self.url + path, headers=headers, verify=str(self.cert), timeout=10, **kw)

    def put_manifest(self, dseq: int, body: str | bytes, token: str | None = None) -> requests.Response:
        return self.call("PUT", f"/deployment/{dseq}/manifest", token or provider_jwt(OWNER), data=body)

    def status(self, dseq: int) -> requests.Response:
        return self.call("GET", f"/lease/{dseq}/1/1/status", provider_jwt(OWNER))

    def ws(self, path: str) -> simple_websocket.Client:
        context = ssl.create_default_context(cafile=str(self.cert))
        return simple_websocket.Client.connect(self.url.replace("https", "wss") + path,
                                               headers=bearer(provider_jwt(OWNER)), ssl_context=context)

    def containers(self, running_only: bool = False) -> list:
        return self.docker.containers.list(all=not running_only,
                                           filters={"label": f"{LABEL_PROVIDER}={self.provider.name}"})


@pytest.fixture
def harness(settings, docker_client, tmp_path):
    chain = FakeChain(keys={OWNER.address: OWNER.public_key, OTHER.address: OTHER.public_key})
    name = f"test-{uuid.uuid4().hex[:10]}"
    offer = Offer(PROVIDER_KEY.address, (("region", "us-west"),), Decimal(100), "uact",
                  Resources(8000, 16 * GIB, 100 * GIB))
    provider = DevnetProvider(
        name=name, address=PROVIDER_KEY.address, chain=chain,
        bid_engine=BidEngine(offer, chain, RecordingBidder(chain, PROVIDER_KEY.address)),
        cluster=DockerCluster(settings.docker_host, name, tmp_path / "leases"),
        tls=self_signed_certificate(tmp_path / "tls", PROVIDER_KEY.address), port=0,
        tick_s=3600,  # the test drives rounds itself (provider.tick())
    )
    provider.start()
    h = Harness(provider, chain, tmp_path / "tls" / "tls.crt", docker_client)
    yield h
    provider.stop()
    for container in h.containers():
        container.remove(force=True)


def web(settings, password: str | None = None, greeting: str = "one") -> Sdl:
    credentials = RegistryCredentials(host=settings.registry, username=settings.registry_username,
                                      password=password or settings.registry_password)
    return Sdl.of(ServiceSpec(name="web", image=f"{settings.registry}/base/busybox:latest", port=8080,
                              env={"PORT": "8080", "GREETING": greeting}, command=("sh", "-c"), args=(SERVE,),
                              memory="64Mi", credentials=credentials))


def lease(h: Harness, dseq: int, sdl: Sdl) -> None:
    h.chain.deploy(OWNER.address, dseq, sdl)
    h.chain.lease(OrderID(OWNER.address, dseq, 1, 1), PROVIDER_KEY.address)


def wait_for(predicate, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def events(h: Harness, dseq: int) -> list[dict]:
    ws = h.ws(f"/lease/{dseq}/1/1/kubeevents")
    out = []
    try:
        while True:
            out.append(json.loads(ws.receive(timeout=10)))
    except simple_websocket.ConnectionClosed:
        return out


def closed_with(ws: simple_websocket.Client) -> tuple[int, str]:
    try:
        while True:
            ws.receive(timeout=10)
    except simple_websocket.ConnectionClosed as closed:
        return closed.reason, closed.message


# -- public endpoints and auth ---------------------------------------------------------------------

def test_public_endpoints_answer_without_auth(harness) -> None:
    assert harness.call("GET", "/address").json() == {"address": PROVIDER_KEY.address}
    assert harness.call("GET", "/version").json()["akash"]["name"] == "provider-services"
    status = harness.call("GET", "/status").json()
    assert status["address"] == PROVIDER_KEY.address
    assert status["cluster"]["leases"] == 0 and status["manifest"] == {"deployments": 0}
    missing = harness.call("GET", "/nowhere")
    assert (missing.status_code, missing.text) == (404, "404 page not found\n")


def test_manifest_needs_a_jwt_of_the_owners_key_still_valid(harness, settings) -> None:
    sdl = web(settings)
    lease(harness, 10, sdl)
    cases = {
        "none": (None, 401, {"message": "unauthorized access"}),
        "another key": (jwt(OWNER.address, OTHER), 401, {"message": "JWT is invalid"}),
        "another key, ES256K": (jwt(OWNER.address, OTHER, alg="ES256K"), 401, {"message": "JWT is invalid"}),
        "no account on chain": (provider_jwt(WALLETS.deployer(7)), 401, {"message": "JWT is invalid"}),
        # golang-jwt wraps "expired" in its invalid-claims error, which the gateway tests first
        "expired": (jwt(OWNER.address, OWNER, iat=int(time.time()) - 1000, ttl_s=900), 400,
                    {"message": "JWT has invalid claims"}),
        "not yet valid": (jwt(OWNER.address, OWNER, nbf=int(time.time()) + 600), 400,
                          {"message": "JWT has invalid claims"}),
        "wrong version": (jwt(OWNER.address, OWNER, version="v2"), 400, {"message": "JWT has invalid claims"}),
    }
    for case, (token, status, body) in cases.items():
        headers = bearer(token) if token else {}
        resp = requests.put(f"{harness.url}/deployment/10/manifest", data=sdl.manifest_json, headers=headers,
                            verify=str(harness.cert), timeout=10)
        assert (resp.status_code, resp.json()) == (status, body), case
    bad_header = harness.call("PUT", "/deployment/10/manifest", data=sdl.manifest_json,
                              headers={"Authorization": "Token abc"})
    assert bad_header.status_code == 400 and bad_header.json() == {"message": "invalid authorization header"}
    assert harness.containers() == []  # nothing refused ever ran

    # Both algorithms the provider accepts, signed by the owner: accepted.
    assert harness.put_manifest(10, sdl.manifest_json, jwt(OWNER.address, OWNER, alg="ES256K")).status_code == 200
    assert harness.put_manifest(10, sdl.manifest_json, provider_jwt(OWNER)).status_code == 200


def test_a_manifest_with_another_hash_is_refused(harness, settings) -> None:
    lease(harness, 11, web(settings, greeting="one"))
    resp = harness.put_manifest(11, web(settings, greeting="two").manifest_json)
    assert (resp.status_code, resp.text) == (422, "manifest version validation failed\n")
    assert harness.status(11).status_code == 404 and harness.containers() == []


def test_no_lease_for_deployment_before_the_lease(harness, settings) -> None:
    sdl = web(settings)
    harness.chain.deploy(OWNER.address, 12, sdl)
    resp = harness.put_manifest(12, sdl.manifest_json)
    assert (resp.status_code, resp.text) == (404, "no lease for deployment\n")
    assert harness.status(12).status_code == 404
    harness.chain.lease(OrderID(OWNER.address, 12, 1, 1), PROVIDER_KEY.address)
    assert harness.put_manifest(12, sdl.manifest_json).status_code == 200


def test_a_lease_of_another_owner_is_not_theirs_to_read(harness, settings) -> None:
    lease(harness, 13, web(settings))
    assert harness.put_manifest(13, web(settings).manifest_json).status_code == 200
    # The lease id is the caller's own address + the path: OTHER has no lease 13.
    resp = harness.call("GET", "/lease/13/1/1/status", provider_jwt(OTHER))
    assert resp.status_code == 404


# -- running the manifest -----------------------------------------------------------------------------

def test_a_wrong_registry_password_ends_with_the_pull_failing(harness, settings) -> None:
    wrong = "not-the-password-123"
    sdl = web(settings, password=wrong)
    lease(harness, 20, sdl)
    assert harness.put_manifest(20, sdl.manifest_json).status_code == 200
    failed = wait_for(lambda: [e for e in events(harness, 20) if e["reason"] == "Failed"])
    assert failed, "no pull failure reported"
    assert failed[0]["type"] == "Warning" and failed[0]["note"].startswith(
        f'Failed to pull image "{settings.registry}/base/busybox:latest"')
    assert wrong not in json.dumps(events(harness, 20))
    services = harness.status(20).json()["services"]
    assert services["web"]["available"] == 0 and services["web"]["total"] == 1
    assert harness.containers() == []
    # Logs end as the gateway ends them: 4000 "no running pods"; 4001 for a lease it does not know.
    assert closed_with(harness.ws("/lease/20/1/1/logs?follow=true")) == (4000, "no running pods")
    assert closed_with(harness.ws("/lease/99/1/1/logs?follow=true"))[0] == 4001


def test_the_service_runs_answers_at_its_uri_and_a_new_manifest_replaces_it(harness, settings) -> None:
    sdl = web(settings, greeting="one")
    lease(harness, 21, sdl)
    assert harness.put_manifest(21, sdl.manifest_json).status_code == 200

    def available():
        body = harness.status(21).json()
        return body if body["services"]["web"]["available"] == 1 else None

    status = wait_for(available)
    assert status, harness.status(21).text
    [uri] = status["services"]["web"]["uris"]
    assert uri.startswith("127.0.0.1:")
    page = wait_for(lambda: _get(f"http://{uri}/"))
    assert page == "hello from one\n"

    logs = harness.ws("/lease/21/1/1/logs?follow=false&tail=10&service=web")
    first = json.loads(logs.receive(timeout=10))
    assert first["name"] == "web-0" and first["message"].startswith("web starting on ")

    # After MsgUpdateDeployment: the new manifest replaces the running service.
    update = web(settings, greeting="two")
    harness.chain.update(OWNER.address, 21, update)
    assert harness.put_manifest(21, sdl.manifest_json).status_code == 422  # the old one no longer matches
    assert harness.put_manifest(21, update.manifest_json).status_code == 200
    new_uri = wait_for(lambda: (available() or {}).get("services", {}).get("web", {}).get("uris", [None])[0]
                       if (available() or {}).get("services", {}).get("web", {}).get("observed_generation") == 2
                       else None)
    assert new_uri
    assert wait_for(lambda: _get(f"http://{new_uri}/")) == "hello from two\n"
    assert len(harness.containers()) == 1

    # An update whose image cannot be pulled never becomes available; the running version stays.
    broken = web(settings, password="wrong-password-42", greeting="three")
    harness.chain.update(OWNER.address, 21, broken)
    assert harness.put_manifest(21, broken.manifest_json).status_code == 200
    assert wait_for(lambda: len([e for e in events(harness, 21) if e["reason"] == "Failed"]) > 0)
    assert harness.status(21).json()["services"]["web"]["available"] == 0
    assert _get(f"http://{new_uri}/") == "hello from two\n"

    # The lease closes on chain: the provider removes its services at its next round.
    harness.chain.close_lease(harness.provider.cluster.leases().pop())
    harness.provider.tick()
    assert harness.containers() == []
    assert harness.status(21).status_code == 404


def test_a_stopped_provider_answers_nothing_and_its_containers_stop(harness, settings) -> None:
    sdl = web(settings)
    lease(harness, 30, sdl)
    assert harness.put_manifest(30, sdl.manifest_json).status_code == 200
    assert wait_for(lambda: harness.status(30).json()["services"]["web"]["available"] == 1)

    harness.provider.stop()
    with pytest.raises(requests.ConnectionError):
        harness.call("GET", "/address")
    assert harness.containers() and harness.containers(running_only=True) == []

    # A lease that closes while the provider is down does not come back with it.
    lease(harness, 31, sdl)
    harness.provider.start()
    assert harness.put_manifest(31, sdl.manifest_json).status_code == 200
    assert wait_for(lambda: harness.status(31).json()["services"]["web"]["available"] == 1)
    harness.provider.stop()
    harness.chain.close_lease(next(lid for lid in harness.provider.cluster.leases() if lid.dseq == 31))
    harness.provider.start()
    assert {lid.dseq for lid in harness.provider.cluster.leases()} == {30}
    assert harness.call("GET", "/address").status_code == 200
    assert wait_for(lambda: harness.status(30).json()["services"]["web"]["available"] == 1)
    [uri] = harness.status(30).json()["services"]["web"]["uris"]
    assert wait_for(lambda: _get(f"http://{uri}/")) == "hello from one\n"

    # A devnet restarted later knows its leases' manifests and ports from its data dir.
    cluster = harness.provider.cluster
    again = DockerCluster(cluster.docker_host, cluster.provider, cluster.state_dir)
    assert again.leases() == cluster.leases()
    services, _ = again.service_status(next(iter(again.leases())))
    assert services["web"]["available"] == 1 and services["web"]["uris"] == [uri]


def _get(url: str) -> str | None:
    try:
        resp = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return resp.text if resp.status_code == 200 else None


def test_without_credentials_a_private_image_fails_to_pull(harness, settings) -> None:
    """The provider never lends a lease the registry logins of the machine it runs on."""
    sdl = Sdl.of(ServiceSpec(name="web", image=f"{settings.registry}/base/busybox:latest", port=8080,
                             command=("sh", "-c"), args=(SERVE,), memory="64Mi"))
    lease(harness, 22, sdl)
    assert harness.put_manifest(22, sdl.manifest_json).status_code == 200
    assert wait_for(lambda: [e for e in events(harness, 22) if e["reason"] == "Failed"])
    assert harness.status(22).json()["services"]["web"]["available"] == 0


def test_control_files_stop_and_start_a_running_provider(harness, tmp_path) -> None:
    """What `slipway devnet provider stop|start NAME` leaves for the devnet, and the devnet's answer."""
    devnet_path, name = tmp_path / "devnet", harness.provider.name
    supervisor = Supervisor(devnet_path, [harness.provider])
    supervisor.apply()
    assert control.state(devnet_path, name) == control.RUNNING

    control.request(devnet_path, name, running=False)
    supervisor.apply()
    assert control.state(devnet_path, name) == control.STOPPED
    with pytest.raises(requests.ConnectionError):
        harness.call("GET", "/address")

    control.request(devnet_path, name, running=True)
    supervisor.apply()
    assert control.state(devnet_path, name) == control.RUNNING
    assert harness.call("GET", "/address").status_code == 200


def test_malformed_manifests_and_claims_get_clear_4xx_answers_never_500(harness, settings) -> None:
    sdl = web(settings)
    lease(harness, 40, sdl)
    good = sdl.manifest
    service = good[0]["services"][0]
    bodies = {
        "not json": "{",
        "NaN": "[NaN]",
        "deep": "[" * 100_000 + "]" * 100_000,
        "an object": "{}",
        "a group that is not an object": "[1]",
        "count not a number": json.dumps([{**good[0], "services": [{**service, "count": "many"}]}]),
        "count negative": json.dumps([{**good[0], "services": [{**service, "count": -1}]}]),
        "port not a number": json.dumps([{**good[0], "services": [
            {**service, "expose": [{**service["expose"][0], "port": "eighty"}]}]}]),
        "env not strings": json.dumps([{**good[0], "services": [{**service, "env": [1, 2]}]}]),
        "credentials not an object": json.dumps([{**good[0], "services": [{**service, "credentials": "x"}]}]),
    }
    for case, body in bodies.items():
        resp = harness.put_manifest(40, body)
        assert resp.status_code == 422, (case, resp.status_code, resp.text[:200])
    granular = jwt(OWNER.address, OWNER, leases={"access": "granular", "permissions": [
        {"provider": PROVIDER_KEY.address, "access": "granular", "deployments": [{"dseq": "forty", "scope": ["status"]}]}]})
    resp = harness.put_manifest(40, sdl.manifest_json, granular)
    assert (resp.status_code, resp.json()) == (400, {"message": "JWT has invalid claims"})
    assert harness.containers() == []


def test_a_taken_port_is_an_error_of_the_provider_not_the_end_of_the_process(harness) -> None:
    other = DevnetProvider(name="other", address=PROVIDER_KEY.address, chain=harness.chain,
                           bid_engine=harness.provider.bid_engine, cluster=harness.provider.cluster,
                           tls=harness.provider.tls, port=harness.provider.port)
    with pytest.raises(OSError, match="is in use"):
        other.start()
    assert not other.running
