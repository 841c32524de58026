"""One devnet provider: its bid engine, its leases' containers and its HTTPS provider API.

``DevnetProvider.start()`` opens its port and resumes bidding and its containers; ``stop()``
closes the port (it answers nothing), stops bidding and stops its containers, as a provider
that goes down does. Its leases stay on chain, so a deployer sees a dead provider and can fail over.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug.serving import WSGIRequestHandler, make_server

from deployer.akash.chain import Signer
from deployer.akash.manifest import manifest_to_sorted_json
from deployer.akash.messages import coin, dec_coin
from deployer.akash.wallet import Wallet
from devnet import config
from devnet.provider.bidding import BidEngine
from devnet.provider.chainview import ChainUnavailable, ChainView, OrderID
from devnet.provider.cluster import DockerCluster
from devnet.provider.gateway import ManifestRefused, create_gateway
from devnet.provider.mtls import TLSServerContext

log = logging.getLogger(__name__)

VERSION = "v0.10.0-slipway-devnet"


_UINT32 = 2**32 - 1


def _unmarshal(value: Any, where: str, go_type: str) -> ManifestRefused:
    kind = {bool: "bool", str: "string", list: "array", dict: "object"}.get(type(value), "number")
    return ManifestRefused(422, f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}")


def _check(value: Any, where: str, go_type: str, ok: bool) -> None:
    if not ok:
        raise _unmarshal(value, where, go_type)


def _is_uint(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def _strings(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def check_manifest(manifest: list[Any]) -> None:
    """What Go's decoder and ``Manifest.Validate`` refuse before the provider looks at the chain (422)."""
    if not manifest:
        raise ManifestRefused(422, "invalid manifest: manifest is empty")
    for group in manifest:
        _check(group, "Manifest", "v2beta3.Group", isinstance(group, dict))
        _check(group.get("name"), "Group.name", "string", isinstance(group.get("name", ""), str))
        services = group.get("services")
        _check(services, "Group.services", "v2beta3.Services", services is None or isinstance(services, list))
        if not services:
            raise ManifestRefused(422, f'invalid manifest: group "{group.get("name", "")}" contains no services')
        for svc in services:
            _check(svc, "Group.services", "v2beta3.Service", isinstance(svc, dict))
            for key in ("name", "image"):
                _check(svc.get(key), f"Service.services.{key}", "string", isinstance(svc.get(key, ""), str))
                if not svc.get(key):
                    raise ManifestRefused(422, f'invalid manifest: group "{group.get("name", "")}": '
                                               f"service {key} is empty")
            for key in ("command", "args", "env"):
                _check(svc.get(key), f"Service.services.{key}", "[]string", _strings(svc.get(key)))
            _check(svc.get("count"), "Service.services.count", "uint32", _is_uint(svc.get("count", 0), _UINT32))
            if not svc.get("count"):
                raise ManifestRefused(422, f'invalid manifest: service "{svc["name"]}": count must be at least 1')
            _check(svc.get("resources"), "Service.services.resources", "v1beta4.Resources",
                   isinstance(svc.get("resources"), dict))
            exposes = svc.get("expose")
            _check(exposes, "Service.services.expose", "v2beta3.ServiceExposes",
                   exposes is None or isinstance(exposes, list))
            for expose in exposes or []:
                _check(expose, "Service.services.expose", "v2beta3.ServiceExpose", isinstance(expose, dict))
                for key, limit in (("port", 65535), ("externalPort", 65535)):
                    _check(expose.get(key), f"ServiceExpose.expose.{key}", "uint32",
                           _is_uint(expose.get(key, 0), limit))
                _check(expose.get("proto"), "ServiceExpose.expose.proto", "string",
                       isinstance(expose.get("proto", ""), str))
                _check(expose.get("global"), "ServiceExpose.expose.global", "bool",
                       isinstance(expose.get("global", False), bool))
            cred = svc.get("credentials")
            _check(cred, "Service.services.credentials", "v2beta3.ImageCredentials",
                   cred is None or (isinstance(cred, dict) and all(isinstance(v, str) for v in cred.values())))


class _QuietHandler(WSGIRequestHandler):
    """No access log: deployers poll lease status every few seconds."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class ChainBidder:
    """Bids through Slipway's own signer (simulate, sign, broadcast), as the provider's key."""

    def __init__(self, signer: Signer, wallet: Wallet, deposit: int = config.BID_MIN_DEPOSIT_UACT,
                 deposit_denom: str = config.DEPOSIT_DENOM):
        # provider-services bids with --bid-deposit (default: the market's minimum bid deposit)
        # drawn from its own balance.
        self.signer, self.wallet = signer, wallet
        self.deposit, self.deposit_denom = deposit, deposit_denom

    def bid(self, order: OrderID, price: Decimal, denom: str) -> None:
        from deployer.akash.proto.akash.base.deposit.v1.deposit_pb2 import Deposit, Source
        from deployer.akash.proto.akash.market.v1.bid_pb2 import BidID
        from deployer.akash.proto.akash.market.v1beta5.bidmsg_pb2 import MsgCreateBid

        msg = MsgCreateBid(
            id=BidID(owner=order.owner, dseq=order.dseq, gseq=order.gseq, oseq=order.oseq,
                     provider=self.wallet.address, bseq=0),
            price=dec_coin(price, denom),
            deposit=Deposit(amount=coin(self.deposit, self.deposit_denom), sources=[Source.balance]),
        )
        self.signer.submit(self.wallet, [msg])

    def publish_certificate(self, cert_pem: bytes) -> None:
        """``provider-services tx cert publish server``: the provider's TLS certificate on chain, where
        deployers find it to check whom they talk to."""
        from deployer.akash.messages import create_certificate

        cert = x509.load_pem_x509_certificate(cert_pem)
        der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        body = base64.encodebytes(der)
        pubkey_pem = b"-----BEGIN EC PUBLIC KEY-----\n" + body + b"-----END EC PUBLIC KEY-----\n"
        self.signer.submit(self.wallet, [create_certificate(self.wallet.address, cert_pem, pubkey_pem)])

    def close_bid(self, order: OrderID) -> None:
        from deployer.akash.proto.akash.market.v1.bid_pb2 import BidID
        from deployer.akash.proto.akash.market.v1.types_pb2 import LeaseClosedReason
        from deployer.akash.proto.akash.market.v1beta5.bidmsg_pb2 import MsgCloseBid

        msg = MsgCloseBid(
            id=BidID(owner=order.owner, dseq=order.dseq, gseq=order.gseq, oseq=order.oseq,
                     provider=self.wallet.address, bseq=0),
            reason=LeaseClosedReason.lease_closed_reason_unspecified,
        )
        self.signer.submit(self.wallet, [msg])


def self_signed_certificate(directory: Path, address: str) -> tuple[Path, Path]:
    """The provider's TLS certificate (CN = its address, for 127.0.0.1), made once and kept."""
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    start = datetime.now(UTC) - timedelta(minutes=5)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class DevnetProvider:
    def __init__(self, name: str, address: str, chain: ChainView, bid_engine: BidEngine, cluster: DockerCluster,
                 tls: tuple[Path, Path], port: int, host: str = "127.0.0.1", tick_s: float = 1.0):
        self.name, self.address = name, address
        self.chain, self.bid_engine, self.cluster = chain, bid_engine, cluster
        self.tls, self.host, self.port, self.tick_s = tls, host, port, tick_s
        self._guard = threading.Lock()
        self._server = None
        self._server_thread: threading.Thread | None = None
        self._loop_stop = threading.Event()
        self._loop_thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<DevnetProvider {self.name} {self.address} https://{self.host}:{self.port}>"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        with self._guard:
            if self._server is not None:
                return
            try:  # leases that closed while it was down never come back
                self._release_closed_leases()
                self._publish_certificate()
            except ChainUnavailable:
                pass
            self.cluster.start_all()
            context = TLSServerContext(self.tls[0], self.tls[1], self.chain.certificate, self.name)
            try:
                self._server = make_server(self.host, self.port, create_gateway(self), threaded=True,
                                           ssl_context=context, request_handler=_QuietHandler)
            except SystemExit:  # werkzeug exits the process when the port is taken; a provider must not
                raise OSError(f"provider {self.name}: port {self.port} on {self.host} is in use") from None
            self.port = self._server.server_port  # port 0: the one the system gave
            self._server_thread = threading.Thread(target=self._server.serve_forever, name=f"provider-{self.name}",
                                                   daemon=True)
            self._server_thread.start()
            self._loop_stop.clear()
            self._loop_thread = threading.Thread(target=self._loop, name=f"bids-{self.name}", daemon=True)
            self._loop_thread.start()
            log.info("provider %s listening on %s", self.name, self.url)

    def _publish_certificate(self) -> None:
        """Its TLS certificate on chain, once (as a real provider publishes its server certificate)."""
        publish = getattr(self.bid_engine.sender, "publish_certificate", None)
        if publish is None:  # a test's sender that only bids
            return
        cert_pem = self.tls[0].read_bytes()
        serial = x509.load_pem_x509_certificate(cert_pem).serial_number
        if self.chain.certificate(self.address, serial) is None:
            try:
                publish(cert_pem)
            except Exception:  # the node refused or did not answer: the next start tries again
                log.warning("provider %s could not publish its TLS certificate", self.name, exc_info=True)

    def stop(self) -> None:
        with self._guard:
            if self._server is None:
                return
            self._loop_stop.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=30)
            self.cluster.stop_all()
            log.info("provider %s stopped", self.name)

    def _loop(self) -> None:
        last_error = ""
        while not self._loop_stop.is_set():
            try:
                self.tick()
                last_error = ""
            except ChainUnavailable as exc:
                log.debug("provider %s: chain unavailable (%s)", self.name, exc)
            except Exception as exc:  # one bad round never ends the provider
                if repr(exc) != last_error:  # said once, not every block
                    log.exception("provider %s: round failed", self.name)
                last_error = repr(exc)
            self._loop_stop.wait(self.tick_s)

    def tick(self) -> None:
        """One block's work: bid on what fits, and let go of leases that closed."""
        self.bid_engine.round()
        self._release_closed_leases()

    def _release_closed_leases(self) -> None:
        active = {lease.id for lease in self.chain.leases(self.address)}
        for lease in self.cluster.leases() - active:
            log.info("provider %s: lease %s closed, removing its services", self.name, lease.path())
            self.cluster.teardown(lease)

    # -- what the gateway asks -----------------------------------------------------------------
    def public_key(self, address: str) -> bytes | None:
        try:
            return self.chain.public_key(address)
        except ChainUnavailable:
            return None

    def version_info(self) -> dict[str, Any]:
        return {"name": "provider-services", "server_name": "provider-services", "version": VERSION, "commit": "",
                "build_tags": "", "go": "", "build_deps": [], "cosmos_sdk_version": ""}

    def status(self) -> dict[str, Any]:
        capacity = self.bid_engine.offer.capacity
        leases = self.cluster.leases()
        return {
            "cluster": {"leases": len(leases), "inventory": {"available": {"nodes": [{
                "name": self.name,
                "allocatable": {"cpu": capacity.cpu_millis, "gpu": 0, "memory": capacity.memory_bytes,
                                "storage_ephemeral": capacity.storage_bytes},
            }]}}},
            "bidengine": {"orders": len(self.bid_engine.pending)},
            "manifest": {"deployments": len({(lease.owner, lease.dseq) for lease in leases})},
            "cluster_public_hostname": self.host,
            "address": self.address,
        }

    def submit_manifest(self, owner: str, dseq: int, manifest: list[Any]) -> None:
        """Check a manifest as the provider's manifest manager does, then run it for our leases."""
        check_manifest(manifest)
        try:
            deployment = self.chain.deployment(owner, dseq)
        except ChainUnavailable as exc:
            raise ManifestRefused(500, str(exc)) from None
        if deployment is None:
            raise ManifestRefused(500, "rpc error: code = NotFound desc = deployment not found")
        try:
            version = hashlib.sha256(manifest_to_sorted_json(manifest).encode()).digest()
        except (RecursionError, ValueError, TypeError) as exc:
            raise ManifestRefused(422, f"invalid manifest: {type(exc).__name__}") from None
        if version != deployment.hash:
            raise ManifestRefused(422, "manifest version validation failed")
        # chain-sdk's Groups.CheckAgainstGSpecs: these two are not wrapped in a known error,
        # so the gateway answers them with 500.
        if len(manifest) != len(deployment.groups):
            raise ManifestRefused(500, f"invalid manifest: group count mismatch "
                                       f"({len(manifest)} != {len(deployment.groups)})")
        by_name = {group.get("name", ""): group for group in manifest}
        for name in by_name:
            if name not in {g.name for g in deployment.groups.values()}:
                raise ManifestRefused(500, f"invalid manifest: unknown deployment group ('{name}')")
        leases = [lease for lease in self.chain.leases(self.address)
                  if lease.id.owner == owner and lease.id.dseq == dseq]
        if not leases:
            raise ManifestRefused(404, "no lease for deployment")
        for lease in leases:
            spec = deployment.groups.get(lease.id.gseq)
            if spec is not None and spec.name in by_name:
                self.cluster.deploy(lease.id, by_name[spec.name])
