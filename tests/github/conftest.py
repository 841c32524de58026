"""Fixtures: a running GitHub stand-in and a Slipway client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from slipway.github.client import GitHubApp
from slipway.settings import set_settings
from tests.github.standin import GitHubStandIn

INSTALLATION_ID = 1001
ACCOUNT = "octo-org"
REPO = "octo-org/hello"


@pytest.fixture
def github_standin() -> Iterator[GitHubStandIn]:
    """A fresh api.github.com with one installation (1001) granting ``octo-org/hello``.

    Fails the test if the stand-in ever sent a response GitHub's schema does not allow.
    """
    with GitHubStandIn() as standin:
        standin.add_installation(INSTALLATION_ID, ACCOUNT, [REPO])
        yield standin
    assert not standin.errors, standin.errors


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait the client asked for, instead of waiting."""
    return []


@pytest.fixture
def github_app(github_standin: GitHubStandIn, sleeps: list[float]) -> GitHubApp:
    """Slipway's client for the stand-in's App, sharing its clock, never really sleeping."""
    return GitHubApp(github_standin.credentials(), sleep=sleeps.append, clock=github_standin.clock)


@pytest.fixture
def github_settings(settings, github_standin: GitHubStandIn):
    """Slipway configured as the stand-in's GitHub App (for tests outside tests/github: import it)."""
    s = replace(settings, github_app_id=str(github_standin.app_id),
                github_app_private_key=github_standin.private_key_pem, github_api_url=github_standin.url)
    set_settings(s)
    return s
