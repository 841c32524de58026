"""Which GitHub App Slipway is, and a client for it.

The App's credentials come from settings (SLIPWAY_GITHUB_APP_ID ...) or, when it was
created through the dashboard's manifest flow, from the database, decrypted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from slipway.crypto import SecretKeyMissing, decrypt, encrypt
from slipway.db import session_scope
from slipway.github.client import AppCredentials, AppRegistration, GitHubApp
from slipway.github.oauth import OAuthApp, UserClient
from slipway.models import GitHubAppRecord
from slipway.settings import Settings, get_settings

# What the App may do: read code, report statuses and deployments, comment on pull requests.
APP_PERMISSIONS = {
    "contents": "read",
    "metadata": "read",
    "statuses": "write",
    "deployments": "write",
    "pull_requests": "write",
    "issues": "write",
}
# `installation` and `installation_repositories` are sent to every App; GitHub refuses a
# manifest that lists them ("Default events unsupported").
APP_EVENTS = ["push", "pull_request"]
# GitHub App names are unique across GitHub and at most 34 characters.
APP_NAME_MAX = 34


def app_credentials(settings: Settings | None = None) -> AppCredentials | None:
    settings = settings or get_settings()
    if settings.github_app_id and settings.github_private_key_pem:
        return AppCredentials(int(settings.github_app_id), settings.github_private_key_pem, settings.github_api_url)
    record = stored_app(settings)
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
    record = stored_app(settings)
    if record is not None and record.webhook_secret_enc:
        secrets.append(decrypt(record.webhook_secret_enc, settings.secret_key))
    return secrets


def stored_app(settings: Settings | None = None) -> GitHubAppRecord | None:
    """The App created through the dashboard (the newest, should there be several)."""
    with session_scope(settings or get_settings()) as session:
        return session.scalar(select(GitHubAppRecord).order_by(GitHubAppRecord.id.desc()).limit(1))



# -- the App's state, for the dashboard -------------------------------------------

@dataclass(frozen=True)
class AppState:
    """Where Slipway's App comes from: ``settings``, ``created`` here, or ``none``."""

    source: str
    app_id: int | None = None
    name: str | None = None
    slug: str | None = None
    html_url: str | None = None
    has_webhook_secret: bool = True

    @property
    def install_url(self) -> str | None:
        return f"{self.html_url}/installations/new" if self.html_url else None


def app_state(settings: Settings | None = None) -> AppState:
    settings = settings or get_settings()
    record = stored_app(settings)
    if settings.github_app_id and settings.github_private_key_pem:
        # Settings win over a stored App (see app_credentials); show the stored one's page if it is the same App.
        same = record is not None and str(record.app_id) == settings.github_app_id
        return AppState("settings", int(settings.github_app_id), record.name if same else None,
                        record.slug if same else None, record.html_url if same else None)
    if record is not None:
        return AppState("created", record.app_id, record.name, record.slug, record.html_url,
                        has_webhook_secret=bool(record.webhook_secret_enc))
    return AppState("none")


# -- the manifest flow -----------------------------------------------------------

def app_manifest(settings: Settings, name: str) -> dict[str, Any]:
    """The manifest GitHub registers the App from (docs: "Registering a GitHub App from a manifest")."""
    public = settings.public_url.rstrip("/")
    return {
        "name": name,
        "url": public,
        "hook_attributes": {"url": f"{public}/webhooks/github", "active": True},
        "redirect_url": f"{public}/github/callback",
        "setup_url": f"{public}/github/installed",
        # Where GitHub sends people back after "Sign in with GitHub" (the App's OAuth client).
        "callback_urls": [oauth_callback_url(settings)],
        "public": False,
        "default_permissions": dict(APP_PERMISSIONS),
        "default_events": list(APP_EVENTS),
    }


def oauth_callback_url(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/login/github/callback"


def oauth_app(settings: Settings | None = None) -> OAuthApp | None:
    """The App's OAuth client (SLIPWAY_GITHUB_CLIENT_ID and _SECRET, or the App created here), or None."""
    settings = settings or get_settings()
    if settings.github_client_id and settings.github_client_secret:
        return OAuthApp(settings.github_client_id, settings.github_client_secret, settings.github_url,
                        settings.github_api_url)
    record = stored_app(settings)
    if record is None or not record.client_id or not record.client_secret_enc:
        return None
    return OAuthApp(record.client_id, decrypt(record.client_secret_enc, settings.secret_key), settings.github_url,
                    settings.github_api_url)


def user_client(settings: Settings | None = None) -> UserClient | None:
    """A client for signing people in and asking GitHub with their tokens; None without an App."""
    app = oauth_app(settings)
    return UserClient(app) if app else None


def manifest_post_url(settings: Settings, state: str, organization: str = "") -> str:
    """Where the browser POSTs the manifest: the user's or an organization's new-App page."""
    base = settings.github_url.rstrip("/")
    where = f"/organizations/{quote(organization, safe='')}" if organization else ""
    return f"{base}{where}/settings/apps/new?state={quote(state, safe='')}"


def register_from_manifest(code: str, settings: Settings | None = None, client: GitHubApp | None = None) -> GitHubAppRecord:
    """Trade the callback's one-time ``code`` for the new App's credentials and store them encrypted.

    GitHubError propagates (404: the code was used already or expired).
    """
    settings = settings or get_settings()
    if not settings.secret_key:  # checked first: a converted code cannot be converted again
        raise SecretKeyMissing("SLIPWAY_SECRET_KEY is not set; run `slipway init`")
    # The conversion is the one call GitHub takes without authentication: no App exists yet.
    client = client or GitHubApp(AppCredentials(0, "", settings.github_api_url))
    return store_registration(client.convert_app_manifest(code), settings)


def store_registration(reg: AppRegistration, settings: Settings | None = None) -> GitHubAppRecord:
    settings = settings or get_settings()
    key = settings.secret_key
    with session_scope(settings) as session:
        record = session.scalar(select(GitHubAppRecord).where(GitHubAppRecord.app_id == reg.app_id))
        if record is None:
            record = GitHubAppRecord(app_id=reg.app_id)
            session.add(record)
        record.slug = reg.slug
        record.name = reg.name
        record.html_url = reg.html_url
        record.client_id = reg.client_id
        record.client_secret_enc = encrypt(reg.client_secret, key)
        record.private_key_enc = encrypt(reg.pem, key)
        # GitHub may send no webhook secret; "" records that (deliveries then need SLIPWAY_GITHUB_WEBHOOK_SECRET).
        record.webhook_secret_enc = encrypt(reg.webhook_secret, key) if reg.webhook_secret else ""
        session.flush()
        return record
