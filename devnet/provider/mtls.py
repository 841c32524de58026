"""mTLS with an on-chain certificate, as akash-network/provider accepts it beside JWTs.

The provider's TLS server (``gateway/utils.NewServerTLSConfig``) *requests* a client certificate
(``tls.RequestClientCert``: none is fine, then a JWT or nothing authenticates) and checks one in
the handshake with chain-sdk's ``util/tls.ValidatePeerCertificates``: exactly one certificate,
subject CN = issuer CN = a bech32 address, the owner's *valid* on-chain certificate with that
serial, signed by the on-chain public key, and ``x509.Verify`` against the on-chain certificate
now (validity period, client-auth usage). Anything else fails the handshake; the gateway then
takes the CN as the caller (``AuthProcess``: full access, like a JWT with ``access: full``).

Python's ``ssl`` cannot do this: OpenSSL's own verification refuses Akash's self-signed client
certificates ("unsuitable certificate purpose": CA:TRUE without keyCertSign) and ``ssl`` has no
verify callback. So the server side is pyOpenSSL with a callback that ignores OpenSSL's verdict
and applies the rules above; ``TLSServerContext`` is what werkzeug's server takes as its
``ssl_context`` (it only calls ``wrap_socket``) and ``TLSConnection`` makes a pyOpenSSL connection
look like the ``ssl.SSLSocket`` werkzeug and simple-websocket use.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import SSL, crypto

from devnet import cert as certmod
from devnet.provider.auth import AuthError, Claims, _is_address, authenticate, bearer_token

log = logging.getLogger(__name__)

# (cert PEM, pubkey PEM) of the owner's valid certificate with that serial, or None
CertificateLookup = Callable[[str, int], "tuple[bytes, bytes] | None"]


class CertificateInvalid(Exception):
    """chain-sdk ``CertificateInvalidError``: its texts, and the detail Go wraps around them."""

    EMPTY = "tls: empty peer certificate(s)"
    TOO_MANY = "tls: too many peer certificates"
    INVALID_CN = "tls: invalid certificate's subject common name"
    INVALID_SN = "tls: invalid certificate serial number"
    NOT_ON_CHAIN = "tls: attempt to use non-existing or revoked certificate"
    VERIFY = "tls: unable to verify certificate"

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def validate_peer_certificate(peer: x509.Certificate, lookup: CertificateLookup,
                              now: datetime | None = None) -> str:
    """The owner the certificate authenticates; ``CertificateInvalid`` as the provider refuses it."""
    owner = certmod.common_name(peer)
    if not _is_address(owner):
        raise CertificateInvalid(CertificateInvalid.INVALID_CN, "decoding bech32 failed")
    if owner != certmod.common_name(peer, issuer=True):
        raise CertificateInvalid(CertificateInvalid.INVALID_CN)
    found = lookup(owner, peer.serial_number)
    if found is None:
        raise CertificateInvalid(CertificateInvalid.NOT_ON_CHAIN, "certificate not found")
    try:
        on_chain = x509.load_pem_x509_certificate(found[0])
        public_key = _pem_public_key(found[1])
    except ValueError:
        raise CertificateInvalid(CertificateInvalid.NOT_ON_CHAIN, "invalid certificate value") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise CertificateInvalid(CertificateInvalid.VERIFY, "invalid public key type")
    if not certmod.verify_signature(public_key, peer):
        raise CertificateInvalid(CertificateInvalid.VERIFY, "invalid certificate signature")
    # x509.Verify with the on-chain certificate as the only root: the period, then the chain, then usage
    moment = now or datetime.now(UTC)
    if not peer.not_valid_before_utc <= moment <= peer.not_valid_after_utc:
        raise CertificateInvalid(CertificateInvalid.VERIFY, "x509: certificate has expired or is not yet valid")
    if peer.public_bytes(Encoding.DER) != on_chain.public_bytes(Encoding.DER) and peer.issuer != on_chain.subject:
        raise CertificateInvalid(CertificateInvalid.VERIFY, "x509: certificate signed by unknown authority")
    try:
        usages = peer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and not {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(usages):
        raise CertificateInvalid(CertificateInvalid.VERIFY,
                                 "x509: certificate specifies an incompatible key usage")
    return owner


def _pem_public_key(pem: bytes):
    """The on-chain ``EC PUBLIC KEY`` block (PKIX DER, under the name Akash gives it)."""
    block = certmod.pem_block(pem)
    if block is None or block[0] != certmod.PEM_EC_PUBLIC_KEY:
        raise ValueError("invalid pubkey value")
    return load_der_public_key(block[1])


class _Verdict:
    """One handshake's verdict, kept on the connection: OpenSSL asks once per error it finds."""

    def __init__(self) -> None:
        self.decided: bool | None = None
        self.deeper = False


class TLSServerContext:
    """werkzeug's ``ssl_context``: a pyOpenSSL server context that requests a client certificate."""

    def __init__(self, cert_path: Path, key_path: Path, lookup: CertificateLookup, name: str = "provider"):
        self.lookup, self.name = lookup, name
        self.context = SSL.Context(SSL.TLS_SERVER_METHOD)
        self.context.set_min_proto_version(SSL.TLS1_2_VERSION)
        self.context.use_certificate_file(str(cert_path))
        self.context.use_privatekey_file(str(key_path))
        # VERIFY_PEER without FAIL_IF_NO_PEER_CERT: Go's RequestClientCert
        self.context.set_verify(SSL.VERIFY_PEER, self._verify)

    def _verify(self, conn: SSL.Connection, cert: crypto.X509, _errno: int, depth: int, _ok: int) -> bool:
        verdict = conn.get_app_data()
        if depth > 0:  # OpenSSL built a chain out of more than the one certificate Akash allows
            verdict.deeper = True
            return True
        if verdict.decided is None:
            try:
                if verdict.deeper:
                    raise CertificateInvalid(CertificateInvalid.TOO_MANY)
                validate_peer_certificate(cert.to_cryptography(), self.lookup)
                verdict.decided = True
            except CertificateInvalid as refused:
                log.info("provider %s: TLS handshake refused: %s", self.name, refused)
                verdict.decided = False
            except Exception:  # the chain did not answer: no certificate can be trusted now
                log.exception("provider %s: TLS handshake refused", self.name)
                verdict.decided = False
        return verdict.decided

    def wrap_socket(self, sock: socket.socket, server_side: bool = True) -> _Listener:
        return _Listener(sock, self.context)


class _Listener:
    """The listening socket: ``accept`` hands out server-side TLS connections (handshake on first read)."""

    def __init__(self, sock: socket.socket, context: SSL.Context):
        self._sock, self._context = sock, context

    def accept(self) -> tuple[TLSConnection, object]:
        raw, address = self._sock.accept()
        conn = SSL.Connection(self._context, raw)
        conn.set_app_data(_Verdict())
        conn.set_accept_state()
        return TLSConnection(conn, raw), address

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class TLSConnection:
    """A pyOpenSSL connection with the socket methods werkzeug and simple-websocket call."""

    def __init__(self, conn: SSL.Connection, raw: socket.socket):
        self._conn, self._raw = conn, raw
        self._io_refs = 0
        self._closed = False
        self._write = threading.Lock()

    # -- reading and writing ---------------------------------------------------------------
    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        try:
            return self._conn.recv_into(buffer, nbytes or None)
        except SSL.ZeroReturnError:
            return 0
        except SSL.SysCallError as exc:
            if exc.args and exc.args[0] == -1:  # the peer went away without close_notify
                return 0
            raise ConnectionResetError(str(exc)) from None
        except SSL.Error as exc:  # a refused or broken handshake, a bad record
            raise ConnectionAbortedError(f"TLS: {exc}") from None

    def recv(self, size: int, flags: int = 0) -> bytes:
        buffer = bytearray(size)
        return bytes(buffer[: self.recv_into(buffer, size)])

    def sendall(self, data, flags: int = 0) -> None:
        with self._write:  # pyOpenSSL writes partially; callers of send() expect all of it
            try:
                self._conn.sendall(bytes(data))
            except SSL.SysCallError as exc:
                raise ConnectionResetError(str(exc)) from None
            except SSL.Error as exc:
                raise ConnectionAbortedError(f"TLS: {exc}") from None

    def send(self, data, flags: int = 0) -> int:
        self.sendall(data)
        return len(data)

    def makefile(self, mode: str = "r", buffering: int | None = None, **kwargs):
        return socket.socket.makefile(self, mode, buffering, **kwargs)  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._close_now()

    # -- what the TLS layer knows --------------------------------------------------------------
    def getpeercert(self, binary_form: bool = False):
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        if peer is None:
            return None
        if not binary_form:
            raise ValueError("only the binary form is available")
        return peer.public_bytes(Encoding.DER)

    # -- closing --------------------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        try:
            self._conn.shutdown()
        except SSL.Error:
            pass
        try:
            self._raw.shutdown(how)
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._close_now()

    def _close_now(self) -> None:
        self._raw.close()

    def fileno(self) -> int:
        return self._raw.fileno()

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


def ambiguous() -> AuthError:
    return AuthError(400, "auth: ambiguous authentication. may not use mTLS and JWT at the same time")


def authenticate_request(header: str | None, peer_pem: str | None,
                         public_key: Callable[[str], bytes | None]) -> Claims:
    """``gateway/utils.AuthProcess``: a client certificate (checked in the handshake) makes its CN the
    caller with full access; a JWT beside it is refused; otherwise the JWT decides (``authenticate``)."""
    token = bearer_token(header)
    if not peer_pem:
        return authenticate(header, public_key)
    if token:
        raise ambiguous()
    owner = certmod.common_name(x509.load_pem_x509_certificate(peer_pem.encode()))
    return Claims(issuer=owner, access="full")
