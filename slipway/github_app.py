"""Which GitHub App Slipway is, and a client for it.

The App's credentials come from settings (SLIPWAY_GITHUB_APP_ID ...) or, when it was
created through the dashboard's manifest flow, from the database, decrypted here.
"""

from __future__ import annotations

from sqlalchemy import select

from slipway.crypto import decrypt
from slipway.db import session_scope
from slipway.github import AppCredentials, GitHubApp
from slipway.models import GitHubAppRecord
from slipway.settings import Settings, get_settings


def app_credentials(settings: Settings | None = None) -> AppCredentials | None:
    settings = settings or get_settings()
    if settings.github_app_id and settings.github_private_key_pem:
        return AppCredentials(int(settings.github_app_id), settings.github_private_key_pem, settings.github_api_url)
    record = _stored_app(settings)
    if record is None:
        return None
    return AppCredentials(record.app_id, decrypt(record.private_key_enc, settings.secret_key), settings.github_api_url)


def github_client(settings: Settings | None = None) -> GitHubApp | None:
    """The App's API client, or None when no App is configured."""
    creds = app_credentials(settings)
    return GitHubApp(creds) if creds else None


def webhook_secrets(settings: Settings | None = None) -> list[str]:
    """Every secret a GitHub delivery may be signed with: the configured one and the App's."""
    settings = settings or get_settings()
    secrets = [settings.github_webhook_secret] if settings.github_webhook_secret else []
    record = _stored_app(settings)
    if record is not None:
        secrets.append(decrypt(record.webhook_secret_enc, settings.secret_key))
    return secrets


def _stored_app(settings: Settings) -> GitHubAppRecord | None:
    with session_scope(settings) as session:
        return session.scalar(select(GitHubAppRecord).order_by(GitHubAppRecord.id.desc()).limit(1))
