"""x/cert: the on-chain client certificates Akash providers accept for mTLS.

``parse_and_validate`` is chain-sdk's ``ParseAndValidateCertificate`` (go/node/cert/v1/cert.go),
run by ``MsgCreateCertificate.ValidateBasic`` and again by the keeper: the public key is one PEM
``EC PUBLIC KEY`` block, the certificate one PEM ``CERTIFICATE`` block whose signature verifies
with that key (ECDSA over sha256 of the TBS, whatever the certificate names), and the subject's
common name is the owner's address. Like the node it checks no validity period: the provider does.
A certificate is keyed by owner and serial (unique per owner, in either state); revoking moves it
from ``valid`` to ``revoked``.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.x509.oid import NameOID

from deployer.akash.proto.akash.cert.v1.cert_pb2 import Certificate, State
from devnet import errors

PEM_CERTIFICATE, PEM_EC_PUBLIC_KEY = "CERTIFICATE", "EC PUBLIC KEY"
_PEM = re.compile(rb"\A\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----\r?\n?", re.DOTALL)
_SERIAL = re.compile(r"\A[+-]?[0-9]+\Z")


def pem_block(data: bytes) -> tuple[str, bytes] | None:
    """Go's ``pem.Decode`` for one block and nothing after it (``None`` otherwise)."""
    found = _PEM.match(data)
    if found is None or found.end() != len(data):
        return None
    body = b"".join(line.strip() for line in found.group(2).splitlines() if b":" not in line)
    try:
        return found.group(1).decode(), base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return None


def common_name(cert: x509.Certificate, issuer: bool = False) -> str:
    names = (cert.issuer if issuer else cert.subject).get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode()


def verify_signature(public_key: ec.EllipticCurvePublicKey, cert: x509.Certificate) -> bool:
    """Go's ``ecdsa.VerifyASN1(pk, sha256(RawTBSCertificate), Signature)``."""
    try:
        public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_and_validate(owner: str, cert_pem: bytes, pubkey_pem: bytes, valid_address) -> x509.Certificate:
    """The parsed certificate, or the node's refusal. ``valid_address(text)`` raises on a bad bech32."""
    block = pem_block(pubkey_pem)
    if block is None:
        raise errors.INVALID_PUBKEY_VALUE()
    if block[0] != PEM_EC_PUBLIC_KEY:
        raise errors.INVALID_PUBKEY_VALUE().followed_by("invalid pem block type")
    try:
        key = load_der_public_key(block[1])
    except ValueError:
        raise errors.INVALID_PUBKEY_VALUE().followed_by("x509: failed to parse public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise errors.INVALID_PUBKEY_VALUE().followed_by("invalid public key type")

    block = pem_block(cert_pem)
    if block is None:
        raise errors.INVALID_CERTIFICATE_VALUE()
    if block[0] != PEM_CERTIFICATE:
        raise errors.INVALID_CERTIFICATE_VALUE().followed_by("invalid pem block type")
    try:
        cert = x509.load_der_x509_certificate(block[1])
        cert.subject  # noqa: B018 - parsing the names can fail on its own
    except ValueError:
        raise errors.undefined("x509: malformed certificate") from None
    if not verify_signature(key, cert):
        raise errors.INVALID_CERTIFICATE_VALUE().followed_by("invalid certificate signature")
    cn = common_name(cert)
    try:
        valid_address(cn)
    except errors.ChainError as exc:
        raise errors.INVALID_CERTIFICATE_VALUE().followed_by(exc.log) from None
    if cn != owner:
        raise errors.INVALID_CERTIFICATE_VALUE().followed_by("CommonName does not match owner")
    return cert


def serial_of(text: str) -> int:
    """``big.Int.SetString(serial, 10)``, refused as ``ErrInvalidSerialNumber``."""
    if not _SERIAL.match(text):
        raise errors.INVALID_SERIAL_NUMBER()
    return int(text)


def key(state: int, owner: str, serial: int | None = None) -> str:
    """Store key: the state first (the node's prefixes), then owner and serial."""
    prefix = f"cert/{state}/{owner}/"
    return prefix if serial is None else f"{prefix}{serial:050d}"


def serial_from_key(store_key: str) -> str:
    return str(int(store_key.rsplit("/", 1)[1]))


STATES = (State.valid, State.revoked)  # the order the node's query walks its stores

__all__ = ["Certificate", "State", "STATES", "common_name", "key", "parse_and_validate", "pem_block",
           "serial_from_key", "serial_of", "verify_signature"]
