"""Pebble, Let's Encrypt's ACME test server (RFC 8555; Debian's ``pebble``), as the CA of a test.

Pebble validates challenges for real: it looks the name up in DNS and connects to the ports it is
given (``httpPort`` for HTTP-01, ``tlsPort`` for TLS-ALPN-01), here the test proxy's. Its DNS is
:class:`EveryNameHere`, a dnslib server that answers every A query with 127.0.0.1, so any name
(``shop.example.com``) leads to this machine's proxy. ``PEBBLE_VA_NOSLEEP`` only skips the random
wait before validating; ``PEBBLE_VA_ALWAYS_VALID`` is never set: a challenge must really be answered.

Pebble signs with a root it makes at start (fetched from its management API, ``/roots/0``) and
serves its own API over HTTPS with a certificate made here, trusted through ``ca_root``.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from dnslib import QTYPE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

LOOPBACK = "127.0.0.1"


class EveryNameHere(BaseResolver):
    """A for every name is 127.0.0.1; every other type has no record (so no AAAA, no CAA)."""

    def resolve(self, request, handler):
        reply = request.reply()
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(LOOPBACK), ttl=60))
        return reply


@dataclass(frozen=True)
class Pebble:
    directory: str  # the ACME directory URL: SLIPWAY_ACME_CA
    ca_root: Path  # trusts the directory's HTTPS: SLIPWAY_ACME_CA_ROOT
    management: str
    log: Path

    def issuing_root(self, into: Path) -> Path:
        """The root Pebble's certificates chain to (it makes a new one at every start)."""
        resp = requests.get(f"{self.management}/roots/0", verify=str(self.ca_root), timeout=5)
        resp.raise_for_status()
        into.write_text(resp.text)
        return into


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _api_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for Pebble's own HTTPS listeners on 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test API")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(LOOPBACK)),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = workdir / "api-cert.pem", workdir / "api-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@contextmanager
def pebble(workdir: Path, http_port: int, tls_port: int, timeout_s: float = 30) -> Iterator[Pebble]:
    """Pebble validating HTTP-01 on ``http_port`` and TLS-ALPN-01 on ``tls_port`` of whatever a name
    resolves to (always 127.0.0.1); stopped afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    dns = DNSServer(EveryNameHere(), address=LOOPBACK, port=0, logger=DNSLogger(log="-request,-reply,-truncated"))
    dns.start_thread()
    dns_port = dns.server.server_address[1]
    cert, key = _api_certificate(workdir)
    api, management = f"{LOOPBACK}:{_free_port()}", f"{LOOPBACK}:{_free_port()}"
    config = workdir / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": api, "managementListenAddress": management,
        "certificate": str(cert), "privateKey": str(key),
        "httpPort": http_port, "tlsPort": tls_port, "ocspResponderURL": "",
        "externalAccountBindingRequired": False}}))
    log = workdir / "pebble.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PEBBLE_VA_NOSLEEP": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"{LOOPBACK}:{dns_port}"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        running = Pebble(f"https://{api}/dir", cert, f"https://{management}", log)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                requests.get(running.directory, verify=str(cert), timeout=2).raise_for_status()
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() >= deadline:
                    raise RuntimeError(f"Pebble did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        dns.stop()
