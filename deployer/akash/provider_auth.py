"""Authentication to Akash providers: an ES256KADR36 JWT, or (older providers) mTLS.

The JWT is chain-sdk's ``JwtTokenManager`` format: header and payload are sorted,
compact JSON in base64url; the signature is an amino ADR-036 ``sign/MsgSignData``
signature over the text ``header.payload`` made with the deployer wallet's key.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deployer.akash.messages import create_certificate
from deployer.akash.proto.akash.cert.v1.msg_pb2 import MsgCreateCertificate
from deployer.akash.wallet import Wallet

JWT_ALGORITHM = "ES256KADR36"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sorted_json(value: Any) -> str:
    """Sorted, compact JSON as json-stable-stringify writes it (what chain-sdk signs)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def adr36_sign_bytes(signer: str, data: bytes) -> bytes:
    """The amino sign doc of ADR-036 arbitrary data: what the key actually signs."""
    doc = {
        "account_number": "0",
        "chain_id": "",
        "fee": {"amount": [], "gas": "0"},
        "memo": "",
        "msgs": [{"type": "sign/MsgSignData", "value": {"data": base64.b64encode(data).decode(), "signer": signer}}],
        "sequence": "0",
    }
    # cosmjs' serializeSignDoc escapes these like Go's encoding/json does.
    text = _sorted_json(doc).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return text.encode()


def sign_adr36(wallet: Wallet, data: bytes) -> bytes:
    """64-byte secp256k1 signature of ``data`` under ADR-036, signer = the wallet's address."""
    return wallet.sign(adr36_sign_bytes(wallet.address, data))


def provider_jwt(wallet: Wallet, *, ttl_s: int = 900, now: int | None = None, access: str = "full") -> str:
    """A bearer token for the provider API, valid ``ttl_s`` seconds, for all of the wallet's leases."""
    issued = int(time.time()) if now is None else now
    header = _b64url(_sorted_json({"alg": JWT_ALGORITHM, "typ": "JWT"}).encode())
    payload = _b64url(
        _sorted_json(
            {
                "iss": wallet.address,
                "iat": issued,
                "nbf": issued,
                "exp": issued + ttl_s,
                "version": "v1",
                "leases": {"access": access},
            }
        ).encode()
    )
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{_b64url(sign_adr36(wallet, signing_input.encode()))}"


# -- mTLS (providers older than v0.7.0) ------------------------------------------------


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate in the shape chain-sdk's CertificateManager makes; the key stays in memory."""

    cert_pem: bytes
    pubkey_pem: bytes  # "EC PUBLIC KEY" armour, as published on chain
    key_pem: bytes

    def __repr__(self) -> str:
        return "<ClientCertificate>"

    def message(self, owner: str) -> MsgCreateCertificate:
        return create_certificate(owner, self.cert_pem, self.pubkey_pem)


def client_certificate(address: str, *, valid_days: int = 365, now: datetime | None = None) -> ClientCertificate:
    """Self-signed P-256 certificate with CN = the owner's address, for clientAuth."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        # chain-sdk uses the time in microseconds; the chain indexes certificates by serial.
        .serial_number(int(start.timestamp() * 1_000_000) + x509.random_serial_number() % 1_000_000)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pubkey_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ClientCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        pubkey_pem=pubkey_pem.replace(b"PUBLIC KEY", b"EC PUBLIC KEY"),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
