"""The forms a secret may leak in, as the secrets audits look for them."""

from __future__ import annotations

import base64
from urllib.parse import quote


def forms(secret: str) -> list[str]:
    """What the audit looks for: the secret as is, base64 (alone) and URL-encoded."""
    return [secret, base64.b64encode(secret.encode()).decode().rstrip("="), quote(secret, safe="")]
