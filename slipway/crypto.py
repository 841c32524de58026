"""Secrets at rest: encrypted with a key derived from SLIPWAY_SECRET_KEY; tokens kept as hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from slipway.settings import get_settings


class SecretKeyMissing(RuntimeError):
    pass


def _fernet(secret_key: str | None = None) -> Fernet:
    key = secret_key if secret_key is not None else get_settings().secret_key
    if not key:
        raise SecretKeyMissing("SLIPWAY_SECRET_KEY is not set; run `slipway init`")
    return _derived_fernet(key)


@lru_cache(maxsize=8)
def _derived_fernet(key: str) -> Fernet:
    # Derived once per key, not once per secret read.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"slipway", info=b"secrets-at-rest").derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str, secret_key: str | None = None) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(token: str, secret_key: str | None = None) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretKeyMissing("a stored secret cannot be decrypted: SLIPWAY_SECRET_KEY changed?") from None


def new_token(prefix: str) -> str:
    """A random token whose prefix says what it is (like GitHub's ghp_)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    return bool(stored_hash) and hmac.compare_digest(token_hash(token), stored_hash)
