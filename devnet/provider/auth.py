"""Who is calling the provider API: a JWT checked as akash-network/provider checks it.

The provider (``gateway/utils.AuthProcess``) parses the bearer token with golang-jwt v5, accepting
``ES256K`` and ``ES256KADR36`` (chain-sdk ``util/jwt``), and verifies it against the public key the
issuer's account holds on chain. The answers here keep its statuses and texts
(``utils/httperror``): a token that does not verify, names no known account or is malformed is
401 "JWT is invalid"; a verified token whose claims fail (expired, not yet valid, wrong version,
bad ``leases``) is 400 "JWT has invalid claims" — golang-jwt wraps an expiry inside its
invalid-claims error and the provider tests for that one first.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cosmpy.crypto.address import Address
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from deployer.akash.provider_auth import adr36_sign_bytes
from deployer.akash.wallet import PREFIX

ALGORITHMS = ("ES256K", "ES256KADR36")
ACCESS_TYPES = ("full", "scoped", "granular")
SCOPES = ("send-manifest", "get-manifest", "logs", "shell", "events", "status", "restart",
          "hostname-migrate", "ip-migrate", "attestation")
# secp256k1's group order; Cosmos accepts only low-S signatures (s <= n/2).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class AuthError(Exception):
    """An answer of the provider's auth layer: JSON ``{"message": ...}`` with its status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def invalid_auth_header() -> AuthError:
    return AuthError(400, "invalid authorization header")


def jwt_invalid() -> AuthError:
    return AuthError(401, "JWT is invalid")


def jwt_invalid_claims() -> AuthError:
    return AuthError(400, "JWT has invalid claims")


def unauthorized() -> AuthError:
    return AuthError(401, "unauthorized access")


@dataclass(frozen=True)
class Claims:
    issuer: str = ""
    access: str = "none"
    scope: tuple[str, ...] = ()
    permissions: tuple[dict[str, Any], ...] = field(default=())

    def _permission_for(self, provider: str) -> dict[str, Any] | None:
        return next((p for p in self.permissions if p.get("provider") == provider), None)

    def authorize_provider(self, provider: str) -> bool:
        if self.access in ("full", "scoped"):
            return True
        return self.access == "granular" and self._permission_for(provider) is not None

    def authorize(self, owner: str, provider: str, scope: str, dseq: int, gseq: int = 0, oseq: int = 0) -> bool:
        """chain-sdk's ``Authorize{DeploymentID,LeaseID}ForPermissionScope`` (gseq/oseq 0: any)."""
        if not self.issuer or self.issuer != owner:
            return False
        if self.access == "full":
            return True
        if self.access == "scoped":
            return scope in self.scope
        perm = self._permission_for(provider) if self.access == "granular" else None
        if perm is None:
            return False
        if perm.get("access") == "full":
            return True
        if perm.get("access") == "scoped":
            return scope in (perm.get("scope") or [])
        for dep in perm.get("deployments") or []:
            if (int(dep.get("dseq") or 0) == dseq and int(dep.get("gseq") or 0) in (0, gseq)
                    and int(dep.get("oseq") or 0) in (0, oseq) and scope in (dep.get("scope") or [])):
                return True
        return False


NO_CLAIMS = Claims()


def _segment(text: str) -> bytes:
    # golang-jwt decodes segments as unpadded base64url and refuses padding.
    if "=" in text:
        raise ValueError("padded segment")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _is_address(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith(PREFIX + "1"):
        return False
    try:
        Address(value)
    except (RuntimeError, ValueError):
        return False
    return True


def verify_secp256k1(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Cosmos' ``secp256k1.PubKey.VerifySignature``: 64-byte r||s, low S, over sha256(message)."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < _SECP256K1_N and 0 < s <= _SECP256K1_N // 2):
        return False
    try:
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization`` header ("" when there is none)."""
    if not header:
        return ""
    parts = header.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise invalid_auth_header()
    return parts[1]


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise jwt_invalid()  # golang-jwt cannot decode it: a malformed token
    return float(value)


def _leases_valid(leases: Any) -> bool:
    """chain-sdk ``Leases.Validate``."""
    if not isinstance(leases, dict):
        return False
    access, scope, permissions = leases.get("access"), leases.get("scope") or [], leases.get("permissions") or []
    if access == "full":
        return not scope and not permissions
    if access == "scoped":
        return not permissions and bool(scope) and _scopes_valid(scope)
    if access == "granular":
        return bool(permissions) and _permissions_valid(permissions)
    return False


def _scopes_valid(scope: Any) -> bool:
    return isinstance(scope, list) and all(s in SCOPES for s in scope) and len(set(scope)) == len(scope)


def _permissions_valid(permissions: Any) -> bool:
    if not isinstance(permissions, list):
        return False
    seen = set()
    for perm in permissions:
        provider = perm.get("provider") if isinstance(perm, dict) else None
        if not _is_address(provider) or provider in seen:
            return False
        seen.add(provider)
        access, scope, deployments = perm.get("access"), perm.get("scope") or [], perm.get("deployments") or []
        if access == "full" and (scope or deployments):
            return False
        if access == "scoped" and (deployments or not scope or not _scopes_valid(scope)):
            return False
        if access == "granular":
            if scope or not deployments:
                return False
            for dep in deployments:
                if not dep.get("scope") or not _scopes_valid(dep["scope"]) or not int(dep.get("dseq") or 0):
                    return False
                if int(dep.get("oseq") or 0) and not int(dep.get("gseq") or 0):
                    return False
                services = dep.get("services") or []
                if not services or len(set(services)) != len(services):
                    return False
        if access not in ACCESS_TYPES:
            return False
    return True


def authenticate(header: str | None, public_key: Callable[[str], bytes | None], now: float | None = None) -> Claims:
    """The caller's claims; ``NO_CLAIMS`` without a token. Raises AuthError as the provider answers."""
    token = bearer_token(header)
    if not token:
        return NO_CLAIMS
    parts = token.split(".")
    if len(parts) != 3:
        raise jwt_invalid()
    try:
        header_json = json.loads(_segment(parts[0]))
        claims = json.loads(_segment(parts[1]))
        signature = _segment(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise jwt_invalid() from None
    if not isinstance(header_json, dict) or not isinstance(claims, dict):
        raise jwt_invalid()
    alg = header_json.get("alg")
    if alg not in ALGORITHMS:
        raise jwt_invalid()
    issuer = claims.get("iss")
    if not _is_address(issuer):
        raise jwt_invalid()
    iat, nbf, exp = (_numeric_date(claims, name) for name in ("iat", "nbf", "exp"))

    key = public_key(issuer)
    if key is None:
        raise jwt_invalid()
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    signed = signing_input if alg == "ES256K" else adr36_sign_bytes(issuer, signing_input)
    if not verify_secp256k1(key, signed, signature):
        raise jwt_invalid()

    moment = time.time() if now is None else now
    if exp is not None and not moment < exp:
        raise jwt_invalid_claims()  # expired
    if nbf is not None and moment < nbf:
        raise jwt_invalid_claims()  # not valid yet
    if iat is None or nbf is None or exp is None or claims.get("version") != "v1":
        raise jwt_invalid_claims()
    leases = claims.get("leases")
    try:
        valid = _leases_valid(leases)
    except (ValueError, TypeError, AttributeError):  # e.g. a dseq that is not a number
        valid = False
    if not valid:
        raise jwt_invalid_claims()
    return Claims(
        issuer=issuer,
        access=leases["access"],
        scope=tuple(leases.get("scope") or ()),
        permissions=tuple(leases.get("permissions") or ()),
    )
