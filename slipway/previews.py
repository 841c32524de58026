"""Pull-request previews: the one PR comment that tracks a preview."""

from __future__ import annotations

from slipway.settings import Settings


def preview_reporters(settings: Settings) -> list:
    """The reporters to run for this configuration (none yet)."""
    return []
