"""Who hears about a deployment: the reporters of the configured integrations, and telling them.

Apart from the job (``slipway.jobs``) so that the reconciler and the webhook receiver reach
them without importing the job, and the job's failure callback the reconciler.
"""

from __future__ import annotations

import logging
from typing import Sequence

from slipway.github.previews import preview_reporters
from slipway.github.reporting import github_reporters
from slipway.interfaces import Reporter
from slipway.notifications.reporter import notification_reporters
from slipway.settings import Settings

log = logging.getLogger(__name__)


def report(reporters: Sequence[Reporter], deployment_id: int) -> None:
    """Tell every reporter about a deployment; a reporter's failure is logged, never raised."""
    for reporter in reporters:
        try:
            reporter.report(deployment_id)
        except Exception:  # noqa: BLE001 - reporting never fails a deployment
            log.exception("reporter %s failed for deployment %s", type(reporter).__name__, deployment_id)


def default_reporters(settings: Settings) -> list[Reporter]:
    """Reporters for the configured integrations (GitHub's need an App), and the projects' notifications."""
    return [*github_reporters(settings), *preview_reporters(settings), *notification_reporters(settings)]
