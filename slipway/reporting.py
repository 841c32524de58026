"""Reporting deployments to GitHub: commit statuses and GitHub Deployments."""

from __future__ import annotations

from slipway.settings import Settings


def github_reporters(settings: Settings) -> list:
    """The reporters to run for this configuration (none yet)."""
    return []
