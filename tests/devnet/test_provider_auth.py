"""The provider API's JWT check (devnet/provider/auth.py) beside what the tests over HTTPS cover."""

from __future__ import annotations

import base64
import json
import time

import pytest

from deployer.akash.provider_auth import provider_jwt
from deployer.akash.wallet import Wallets
from devnet.provider.auth import AuthError, authenticate, verify_secp256k1

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
OWNER = Wallets(MNEMONIC).deployer(1)
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def keys(address: str) -> bytes | None:
    return OWNER.public_key if address == OWNER.address else None


def refusal(header: str | None) -> tuple[int, str]:
    with pytest.raises(AuthError) as caught:
        authenticate(header, keys)
    return caught.value.status, caught.value.message


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_slipways_own_token_gives_the_owners_claims() -> None:
    claims = authenticate(f"Bearer {provider_jwt(OWNER)}", keys)
    assert (claims.issuer, claims.access) == (OWNER.address, "full")
    assert claims.authorize(OWNER.address, "akash1provider", "send-manifest", 5)
    assert not claims.authorize("akash1someoneelse", "akash1provider", "send-manifest", 5)


def test_no_header_is_no_claims_and_a_malformed_one_is_refused() -> None:
    assert authenticate(None, keys).issuer == ""
    assert refusal("Bearer") == (400, "invalid authorization header")
    assert refusal("Bearer a b") == (400, "invalid authorization header")
    assert refusal("Bearer not-a-jwt") == (401, "JWT is invalid")


def test_a_high_s_signature_is_refused_as_cosmos_refuses_it() -> None:
    message = b"header.payload"
    signature = OWNER.sign(message)
    assert verify_secp256k1(OWNER.public_key, message, signature)
    s = int.from_bytes(signature[32:], "big")
    malleated = signature[:32] + (N - s).to_bytes(32, "big")
    assert not verify_secp256k1(OWNER.public_key, message, malleated)


def test_other_algorithms_and_padded_segments_are_refused() -> None:
    header, payload, signature = provider_jwt(OWNER).split(".")
    none_alg = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    assert refusal(f"Bearer {none_alg}.{payload}.") == (401, "JWT is invalid")
    assert refusal(f"Bearer {header}.{payload}.{signature}==") == (401, "JWT is invalid")


def test_claims_the_provider_requires() -> None:
    now = int(time.time())

    def signed(claims: dict) -> str:
        header = b64url(b'{"alg":"ES256K","typ":"JWT"}')
        payload = b64url(json.dumps(claims).encode())
        return f"Bearer {header}.{payload}.{b64url(OWNER.sign(f'{header}.{payload}'.encode()))}"

    good = {"iss": OWNER.address, "iat": now, "nbf": now, "exp": now + 60, "version": "v1",
            "leases": {"access": "full"}}
    assert authenticate(signed(good), keys).issuer == OWNER.address
    for change in ({"exp": None}, {"iat": None}, {"leases": {"access": "scoped"}},
                   {"leases": {"access": "full", "scope": ["logs"]}}, {"leases": {"access": "everything"}}):
        claims = {k: v for k, v in {**good, **change}.items() if v is not None}
        assert refusal(signed(claims)) == (400, "JWT has invalid claims"), change
    scoped = authenticate(signed({**good, "leases": {"access": "scoped", "scope": ["status"]}}), keys)
    assert scoped.authorize(OWNER.address, "akash1p", "status", 1)
    assert not scoped.authorize(OWNER.address, "akash1p", "send-manifest", 1)
