"""Provider JWTs checked with chain-sdk and @cosmjs (tests/oracle/jwt_oracle.mjs); mTLS certificate shape."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from deployer.akash.provider_auth import client_certificate, provider_jwt
from deployer.akash.wallet import Wallets
from tests.oracle import oracle_available, run_node

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


@pytest.mark.oracle
@pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)")
def test_jwt_is_chain_sdks_and_its_adr036_signature_verifies() -> None:
    wallets = Wallets(MNEMONIC)
    funding, deployer = wallets.funding, wallets.deployer(1)
    now = int(time.time())
    ours = provider_jwt(funding, now=now, ttl_s=900)
    other = provider_jwt(deployer, now=now)
    items = [
        {"op": "check", "token": ours, "pubkey": base64.b64encode(funding.public_key).decode()},
        {"op": "generate", "mnemonic": MNEMONIC, "iat": now, "nbf": now, "exp": now + 900},
        # a token checked against another wallet's key must not verify
        {"op": "check", "token": other, "pubkey": base64.b64encode(funding.public_key).decode()},
    ]
    check, generated, wrong_key = run_node("jwt_oracle.mjs", {"items": items})["results"]
    assert check["header"] == {"alg": "ES256KADR36", "typ": "JWT"}
    assert check["payload"] == {
        "iss": funding.address, "iat": now, "nbf": now, "exp": now + 900, "version": "v1", "leases": {"access": "full"},
    }
    assert check["validator"]["isValid"] is True, check["validator"]
    assert check["payload_check"] == {"isValid": True}
    assert check["signature_valid"] is True
    # RFC 6979 signatures are deterministic: chain-sdk's own token for this wallet is ours.
    assert generated["address"] == funding.address
    assert generated["token"] == ours
    assert wrong_key["signature_valid"] is False


def test_client_certificate_has_the_shape_akash_expects() -> None:
    address = Wallets(MNEMONIC).deployer(1).address
    cc = client_certificate(address)
    cert = x509.load_pem_x509_certificate(cc.cert_pem)
    cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    assert cn == [address] and cert.issuer == cert.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey) and cert.public_key().curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_encipherment and usage.value.data_encipherment
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert cc.pubkey_pem.startswith(b"-----BEGIN EC PUBLIC KEY-----")
    spki = cc.pubkey_pem.replace(b"EC PUBLIC KEY", b"PUBLIC KEY")
    assert serialization.load_pem_public_key(spki) == cert.public_key()
    key = serialization.load_pem_private_key(cc.key_pem, None)
    assert key.public_key() == cert.public_key()
    msg = cc.message(address)
    assert (msg.owner, msg.cert, msg.pubkey) == (address, cc.cert_pem, cc.pubkey_pem)
    assert "PRIVATE" not in repr(cc)
