"""Whom Slipway talks to at a provider's address: the provider's certificate on chain, pinned.

Akash providers serve a self-signed certificate whose subject CN is their address, and publish it
on chain (x/cert; ``provider-services tx cert publish server``). Akash's own client accepts a
provider's certificate only when the chain holds it, valid, for that provider (akash-network/provider
``gateway/rest/client.go``, ``verifyPeerCertificate``). Slipway is stricter: the certificate the
provider serves must be, byte for byte, one of the provider's valid certificates on chain with the
provider's address as its CN; every connection then pins its SHA-256 (urllib3's
``assert_fingerprint``), checked after the TLS handshake and before a request, and the JWT in it,
is written. A provider that serves a certificate a public CA signed for its host (a provider's
certificate issuer) is verified as any HTTPS site is.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from requests.adapters import HTTPAdapter

from deployer.akash.lcd import Lcd


class PinnedAdapter(HTTPAdapter):
    """HTTPS to one certificate only: its SHA-256 fingerprint is checked before anything is sent."""

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["assert_fingerprint"] = self.fingerprint
        return super().init_poolmanager(*args, **kwargs)


class _PinnedSocket(ssl.SSLSocket):
    def do_handshake(self, *args, **kwargs):
        super().do_handshake(*args, **kwargs)
        served = self.getpeercert(binary_form=True) or b""
        if hashlib.sha256(served).hexdigest() != self.context.fingerprint:
            raise ssl.SSLCertVerificationError("the certificate served is not the provider's certificate on chain")


class PinnedContext(ssl.SSLContext):
    """TLS to one certificate only, for clients that take an ``SSLContext`` (the provider's websockets):
    its SHA-256 fingerprint is checked as the handshake ends, before anything is sent."""

    sslsocket_class = _PinnedSocket
    fingerprint = ""


def pinned_context(fingerprint: str) -> PinnedContext:
    context = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin, not a CA, is the check
    context.fingerprint = fingerprint
    return context


class ProviderTLS:
    """One HTTPS session per provider address, pinned to its on-chain certificate."""

    def __init__(self, lcd: Lcd, timeout_s: float = 10.0):
        self.lcd = lcd
        self.timeout_s = timeout_s
        self._sessions: dict[tuple[str, str], tuple[requests.Session, bool, ssl.SSLContext]] = {}
        self._lock = threading.Lock()

    def session(self, provider: str, host_uri: str) -> tuple[requests.Session, bool]:
        """The session for ``provider`` at ``host_uri`` and the ``verify`` its requests pass
        (False where the pin, not a CA, is the check)."""
        session, verify, _context = self._get(provider, host_uri)
        return session, verify

    def ssl_context(self, provider: str, host_uri: str) -> ssl.SSLContext:
        """The same check for a client other than requests: pinned, or a public CA's for the host."""
        return self._get(provider, host_uri)[2]

    def _get(self, provider: str, host_uri: str) -> tuple[requests.Session, bool, ssl.SSLContext]:
        key = (provider, host_uri.rstrip("/"))
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = self._open(provider, key[1])
            return self._sessions[key]

    def forget(self, provider: str, host_uri: str) -> None:
        """After a TLS failure: the provider may have published a new certificate; look again next time."""
        with self._lock:
            self._sessions.pop((provider, host_uri.rstrip("/")), None)

    def _open(self, provider: str, base: str) -> tuple[requests.Session, bool, ssl.SSLContext]:
        parts = urlsplit(base)
        try:
            served = ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(
                (parts.hostname, parts.port or 443), timeout=self.timeout_s))
        except (OSError, ValueError) as exc:  # refused, timed out, not TLS: as requests says it
            raise requests.exceptions.ConnectionError(f"{base}: {type(exc).__name__}: {exc}") from None
        session = requests.Session()
        if served in self._on_chain(provider):
            fingerprint = hashlib.sha256(served).hexdigest()
            session.mount(base + "/", PinnedAdapter(fingerprint))
            return session, False, pinned_context(fingerprint)
        # Not the chain's: only a certificate a public CA signed for the host will do.
        return session, True, ssl.create_default_context()

    def _on_chain(self, provider: str) -> set[bytes]:
        found = set()
        for pem in self.lcd.certificates(provider):
            try:
                cert = x509.load_pem_x509_certificate(pem)
            except ValueError:
                continue
            names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if names and names[0].value == provider:
                found.add(cert.public_bytes(Encoding.DER))
        return found
