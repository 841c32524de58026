"""Slipway's own log (the operator's, not a build log): one setup for web and worker.

Every record carries the deployment it concerns (bound for the length of a job) and
passes through the secret masker, message and traceback alike, so an exception that
quotes a token never writes it to disk. ``SLIPWAY_LOG_FORMAT=json`` gives one JSON
object per line for log shippers.
"""

from __future__ import annotations

import contextvars
import json
import logging
from contextlib import contextmanager
from typing import Iterator

from slipway.buildlog import SecretMasker
from slipway.settings import Settings

_deployment: contextvars.ContextVar[int | None] = contextvars.ContextVar("deployment_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [deployment %(deployment_id)s] %(message)s"


@contextmanager
def bound_deployment(deployment_id: int) -> Iterator[None]:
    """Tag every record logged inside the block with ``deployment_id``."""
    token = _deployment.set(deployment_id)
    try:
        yield
    finally:
        _deployment.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``deployment_id`` and masks secrets; installed on handlers so it sees every record."""

    def __init__(self, masker: SecretMasker):
        super().__init__()
        self.masker = masker
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.deployment_id = _deployment.get() or "-"
        record.msg = self.masker(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.masker(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "deployment_id": getattr(record, "deployment_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry)


def configure(settings: Settings, level: int = logging.INFO) -> None:
    """Give the root logger one masked, deployment-tagged handler (idempotent)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_slipway", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._slipway = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.filters = [ContextFilter(SecretMasker(settings.secret_values()))]
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level)
