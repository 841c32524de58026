"""mTLS with an on-chain certificate: x/cert on the devnet's chain, and a provider that accepts it.

Certificates are made as Akash clients make them, by chain-sdk's ``CertificateManager``
(tests/oracle/cert_oracle.mjs), published and revoked with transactions the independent client
signs, and read back through the node's REST API. The provider's market is in memory (FakeChain)
but its certificates come from the devnet node (``CertsOnNode``), as a real provider reads them.
"""

from __future__ import annotations

import base64
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deployer.akash.provider_auth import provider_jwt
from deployer.akash.sdl import RegistryCredentials, ServiceSpec
from deployer.akash.wallet import wallet_from_mnemonic
from devnet.provider.bidding import BidEngine, Offer
from devnet.provider.chainview import OrderID, Resources, RestChainView
from devnet.provider.cluster import LABEL_PROVIDER, DockerCluster
from devnet.provider.mtls import CertificateInvalid, validate_peer_certificate
from devnet.provider.service import DevnetProvider, self_signed_certificate
from tests.oracle import run_node
from tests.support.devnet import MNEMONIC, needs_oracle
from tests.support.devnet_provider import GIB, FakeChain, RecordingBidder, Sdl

pytestmark = needs_oracle

CREATE, REVOKE = "/akash.cert.v1.MsgCreateCertificate", "/akash.cert.v1.MsgRevokeCertificate"
PROVIDER_KEY = wallet_from_mnemonic(MNEMONIC, 990)
FAILED = "failed to execute message; message index: 0: "
NOT_ON_CHAIN = "tls: attempt to use non-existing or revoked certificate: certificate not found"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_certificate(address: str, *, valid_from: datetime | None = None,
                     valid_to: datetime | None = None) -> dict[str, str]:
    """chain-sdk's CertificateManager.generatePEM: {"cert", "publicKey", "privateKey"} (PEM)."""
    item = {"op": "generate", "address": address}
    if valid_from:
        item["valid_from"] = valid_from.isoformat()
    if valid_to:
        item["valid_to"] = valid_to.isoformat()
    result = run_node("cert_oracle.mjs", {"items": [item]})["results"][0]
    assert "error" not in result, result["error"]
    return result


def serial_of(pem: dict[str, str]) -> str:
    info = run_node("cert_oracle.mjs", {"items": [{"op": "parse", "cert": pem["cert"]}]})["results"][0]
    return str(int(info["hSerial"], 16))


def create_msg(owner: str, pem: dict[str, str], pubkey: str | None = None) -> dict:
    return {"@type": CREATE, "owner": owner, "cert": b64(pem["cert"]), "pubkey": b64(pubkey or pem["publicKey"])}


def revoke_msg(owner: str, serial: str) -> dict:
    return {"@type": REVOKE, "id": {"owner": owner, "serial": serial}}


def refused_at_check(client, index: int, messages: list[dict]) -> dict:
    checked = client.broadcast(client.sign(index, messages))
    assert checked["code"] != 0, checked
    return checked


def certificates(client, **filters: str) -> list[dict]:
    r = client.get("/akash/cert/v1/certificates/list", **{f"filter.{k}": v for k, v in filters.items()})
    assert r.status_code == 200, r.text
    return r.json()["certificates"]


# -- the chain: x/cert --------------------------------------------------------------------------

def test_a_chain_sdk_certificate_is_published_listed_and_revoked(client) -> None:
    index = client.funded_deployer()
    owner = client.address(index)
    pem = make_certificate(owner)
    serial = serial_of(pem)
    client.submit_ok(index, [create_msg(owner, pem)])

    listed = certificates(client, owner=owner)
    assert listed == [{"certificate": {"state": "valid", "cert": b64(pem["cert"]), "pubkey": b64(pem["publicKey"])},
                       "serial": serial}]
    assert certificates(client, owner=owner, serial=serial, state="valid") == listed
    assert certificates(client, owner=owner, serial=str(int(serial) + 1)) == []
    # chain-sdk decodes the node's answer
    decoded = client.oracle([{"op": "get", "type": "akash.cert.v1.QueryCertificatesResponse",
                              "url": f"{client.url}/akash/cert/v1/certificates/list?filter.owner={owner}"}])[0]
    assert decoded["json"]["certificates"][0]["serial"] == serial

    again = client.submit(index, [create_msg(owner, pem)])
    assert (again["codespace"], again["code"], again["raw_log"]) == ("cert", 3, FAILED + "certificate exists")

    client.submit_ok(index, [revoke_msg(owner, serial)])
    assert certificates(client, owner=owner, state="valid") == []
    assert [c["certificate"]["state"] for c in certificates(client, owner=owner)] == ["revoked"]
    twice = client.submit(index, [revoke_msg(owner, serial)])
    assert (twice["codespace"], twice["code"], twice["raw_log"]) == ("cert", 4, FAILED + "certificate already revoked")
    unknown = client.submit(index, [revoke_msg(owner, "12345")])
    assert (unknown["codespace"], unknown["code"], unknown["raw_log"]) == ("cert", 1, FAILED + "certificate not found")
    bad = refused_at_check(client, index, [revoke_msg(owner, "0x12")])
    assert (bad["codespace"], bad["code"]) == ("cert", 5)

    r = client.get("/akash/cert/v1/certificates/list", **{"filter.state": "expired"})
    assert (r.status_code, r.json()["message"]) == (400, "invalid state value")


def test_the_chain_refuses_a_certificate_that_is_not_the_signers(client) -> None:
    index = client.funded_deployer()
    owner, someone = client.address(index), client.address(client.new_index())

    not_theirs = refused_at_check(client, index, [create_msg(owner, make_certificate(someone))])
    assert (not_theirs["codespace"], not_theirs["code"]) == ("cert", 6)
    assert "invalid certificate value: CommonName does not match owner" in not_theirs["raw_log"]

    # someone's certificate under someone's name, but signed by the owner: the signer is not the owner
    stolen = refused_at_check(client, index, [create_msg(someone, make_certificate(someone))])
    assert stolen["codespace"] == "sdk"
    assert certificates(client, owner=someone) == []

    other_key = make_certificate(owner)["publicKey"]
    mismatched = refused_at_check(client, index, [create_msg(owner, make_certificate(owner), pubkey=other_key)])
    assert (mismatched["codespace"], mismatched["code"]) == ("cert", 6)
    assert "invalid certificate signature" in mismatched["raw_log"]

    not_pem = refused_at_check(client, index, [{**create_msg(owner, make_certificate(owner)), "pubkey": b64("x")}])
    assert (not_pem["codespace"], not_pem["code"], not_pem["raw_log"]) == ("cert", 7, "invalid pubkey value")
    assert certificates(client, owner=owner) == []


# -- the provider: mTLS ----------------------------------------------------------------------------

@dataclass
class CertsOnNode(FakeChain):
    """The market in memory, the certificates from the devnet node's REST API."""

    node: RestChainView | None = None

    def certificate(self, owner: str, serial: int) -> tuple[bytes, bytes] | None:
        return self.node.certificate(owner, serial)


@dataclass
class Harness:
    provider: DevnetProvider
    chain: CertsOnNode
    ca: Path
    keys: Path

    def client_cert(self, pem: dict[str, str]) -> tuple[str, str]:
        name = uuid.uuid4().hex[:8]
        cert, key = self.keys / f"{name}.crt", self.keys / f"{name}.key"
        cert.write_text(pem["cert"])
        key.write_text(pem["privateKey"])
        return str(cert), str(key)

    def call(self, method: str, path: str, pem: dict[str, str] | None = None, token: str | None = None,
             **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.provider.url + path, headers=headers, verify=str(self.ca),
                                cert=self.client_cert(pem) if pem else None, timeout=15, **kw)


@pytest.fixture
def harness(devnet, settings, docker_client, tmp_path):
    chain = CertsOnNode(node=RestChainView(devnet.rest.url))
    name = f"test-{uuid.uuid4().hex[:10]}"
    offer = Offer(PROVIDER_KEY.address, (("region", "us-west"),), Decimal(100), "uact",
                  Resources(8000, 16 * GIB, 100 * GIB))
    provider = DevnetProvider(
        name=name, address=PROVIDER_KEY.address, chain=chain,
        bid_engine=BidEngine(offer, chain, RecordingBidder(chain, PROVIDER_KEY.address)),
        cluster=DockerCluster(settings.docker_host, name, tmp_path / "leases"),
        tls=self_signed_certificate(tmp_path / "tls", PROVIDER_KEY.address), port=0, tick_s=3600,
    )
    provider.start()
    (tmp_path / "client").mkdir()
    yield Harness(provider, chain, tmp_path / "tls" / "tls.crt", tmp_path / "client")
    provider.stop()
    for container in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROVIDER}={name}"}):
        container.remove(force=True)


def web(settings) -> Sdl:
    credentials = RegistryCredentials(host=settings.registry, username=settings.registry_username,
                                      password=settings.registry_password)
    return Sdl.of(ServiceSpec(name="web", image=f"{settings.registry}/base/busybox:latest", port=8080,
                              env={"PORT": "8080"}, command=("sh", "-c"), args=("exec httpd -f -p $PORT",),
                              memory="64Mi", credentials=credentials))


def lease(h: Harness, owner: str, dseq: int, sdl: Sdl) -> None:
    h.chain.deploy(owner, dseq, sdl)
    h.chain.lease(OrderID(owner, dseq, 1, 1), PROVIDER_KEY.address)


def refused_handshake(h: Harness, pem: dict[str, str], dseq: int, sdl: Sdl, caplog) -> str:
    """Why the provider refused the TLS handshake (the client sees an alert, or the connection end first)."""
    caplog.clear()
    with pytest.raises(requests.exceptions.ConnectionError):
        h.call("PUT", f"/deployment/{dseq}/manifest", pem, data=sdl.manifest_json)
    reasons = [r.getMessage().split("TLS handshake refused: ", 1)[1] for r in caplog.records
               if "TLS handshake refused: " in r.getMessage()]
    assert len(reasons) == 1, caplog.text
    return reasons[0]


@pytest.mark.docker
def test_a_published_certificate_lets_its_owner_send_the_manifest(harness, client, settings) -> None:
    index = client.funded_deployer()
    owner = client.address(index)
    harness.chain.keys[owner] = wallet_from_mnemonic(MNEMONIC, index).public_key
    pem = make_certificate(owner)
    client.submit_ok(index, [create_msg(owner, pem)])
    sdl = web(settings)
    lease(harness, owner, 31, sdl)

    sent = harness.call("PUT", "/deployment/31/manifest", pem, data=sdl.manifest_json)
    assert (sent.status_code, sent.text) == (200, "")
    assert harness.call("GET", "/lease/31/1/1/status", pem).status_code == 200
    # the certificate and a JWT together are ambiguous; the JWT alone still works
    both = harness.call("PUT", "/deployment/31/manifest", pem, token=provider_jwt(wallet_from_mnemonic(MNEMONIC, index)),
                        data=sdl.manifest_json)
    assert (both.status_code, both.json()) == (
        400, {"message": "auth: ambiguous authentication. may not use mTLS and JWT at the same time"})
    jwt_only = harness.call("PUT", "/deployment/31/manifest", token=provider_jwt(wallet_from_mnemonic(MNEMONIC, index)),
                            data=sdl.manifest_json)
    assert jwt_only.status_code == 200
    nobody = harness.call("PUT", "/deployment/31/manifest", data=sdl.manifest_json)
    assert (nobody.status_code, nobody.json()) == (401, {"message": "unauthorized access"})


@pytest.mark.docker
def test_certificates_the_provider_refuses(harness, client, settings, caplog) -> None:
    caplog.set_level(logging.INFO, logger="devnet.provider.mtls")
    index, other = client.funded_deployer(), client.funded_deployer()
    owner, someone = client.address(index), client.address(other)
    sdl = web(settings)
    lease(harness, owner, 32, sdl)

    unpublished = make_certificate(owner)
    assert refused_handshake(harness, unpublished, 32, sdl, caplog) == NOT_ON_CHAIN

    revoked = make_certificate(owner)
    client.submit_ok(index, [create_msg(owner, revoked)])
    client.submit_ok(index, [revoke_msg(owner, serial_of(revoked))])
    assert refused_handshake(harness, revoked, 32, sdl, caplog) == NOT_ON_CHAIN

    now = datetime.now(UTC)
    expired = make_certificate(owner, valid_from=now - timedelta(days=30), valid_to=now - timedelta(days=1))
    client.submit_ok(index, [create_msg(owner, expired)])  # the chain checks no validity period
    assert refused_handshake(harness, expired, 32, sdl, caplog) == (
        "tls: unable to verify certificate: x509: certificate has expired or is not yet valid")

    # another owner's valid certificate authenticates that owner, who has no such deployment
    theirs = make_certificate(someone)
    client.submit_ok(other, [create_msg(someone, theirs)])
    answer = harness.call("PUT", "/deployment/32/manifest", theirs, data=sdl.manifest_json)
    assert (answer.status_code, answer.text) == (500, "rpc error: code = NotFound desc = deployment not found\n")
    assert harness.call("GET", "/lease/32/1/1/status", theirs).status_code == 404

    # a published certificate of the owner still gets through the same provider
    good = make_certificate(owner)
    client.submit_ok(index, [create_msg(owner, good)])
    assert harness.call("PUT", "/deployment/32/manifest", good, data=sdl.manifest_json).status_code == 200


# -- the handshake's check, certificate by certificate ---------------------------------------------

def forged(owner: str, serial: int, *, issuer: str | None = None, usage=ExtendedKeyUsageOID.CLIENT_AUTH,
           start: datetime | None = None) -> x509.Certificate:
    """A certificate shaped as CertificateManager makes one (P-256, CN = owner, CA, client auth), own key."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = start or datetime.now(UTC) - timedelta(minutes=1)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, owner)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or owner)]))
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(start).not_valid_after(start + timedelta(days=365))
            .add_extension(x509.KeyUsage(False, False, True, True, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def on_chain(cert: x509.Certificate) -> tuple[bytes, bytes]:
    pub = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    pem = b"-----BEGIN EC PUBLIC KEY-----\n" + base64.encodebytes(pub) + b"-----END EC PUBLIC KEY-----\n"
    return cert.public_bytes(Encoding.PEM), pem


def verdict(peer: x509.Certificate, published: dict[tuple[str, int], tuple[bytes, bytes]]) -> str:
    try:
        return validate_peer_certificate(peer, lambda owner, serial: published.get((owner, serial)))
    except CertificateInvalid as refused:
        return str(refused)


def test_the_handshake_check_follows_chain_sdks_validate_peer_certificates() -> None:
    owner = PROVIDER_KEY.address
    published_cert = forged(owner, 7)
    published = {(owner, 7): on_chain(published_cert)}
    assert verdict(published_cert, published) == owner

    assert verdict(forged(owner, 7), published) == (  # same owner and serial, another key
        "tls: unable to verify certificate: invalid certificate signature")
    assert verdict(forged(owner, 8), published).startswith("tls: attempt to use non-existing or revoked certificate")
    assert verdict(forged("not-an-address", 7), published).startswith(
        "tls: invalid certificate's subject common name")
    assert verdict(forged(owner, 7, issuer="akash1someoneelse"), published) == (
        "tls: invalid certificate's subject common name")

    later = forged(owner, 9, start=datetime.now(UTC) + timedelta(days=1))
    assert verdict(later, {(owner, 9): on_chain(later)}) == (
        "tls: unable to verify certificate: x509: certificate has expired or is not yet valid")
    server_only = forged(owner, 10, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    assert verdict(server_only, {(owner, 10): on_chain(server_only)}) == (
        "tls: unable to verify certificate: x509: certificate specifies an incompatible key usage")
