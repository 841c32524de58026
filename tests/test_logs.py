"""Slipway's own log: every record says which deployment it concerns and never carries a secret."""

import io
import json
import logging
from dataclasses import replace

import pytest

from slipway.buildlog import MASK
from slipway.logs import configure, bound_deployment

SECRET = "ghs_0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def output(settings):
    """Slipway's handler, writing into a buffer we can read."""
    stream = io.StringIO()

    def setup(log_format: str = "text") -> io.StringIO:
        configure(replace(settings, log_format=log_format, registry_password=SECRET))
        (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_slipway", False)]
        handler.setStream(stream)
        return stream

    yield setup
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_slipway", False)]


def test_records_are_tagged_with_the_deployment_and_masked(output):
    stream = output()
    log = logging.getLogger("slipway.test")
    with bound_deployment(42):
        log.warning("fetching with %s", SECRET)
        try:
            raise RuntimeError(f"refused: {SECRET}")
        except RuntimeError:
            log.exception("it broke")
    log.warning("outside a job")
    text = stream.getvalue()
    assert SECRET not in text
    assert f"[deployment 42] fetching with {MASK}" in text
    assert f"RuntimeError: refused: {MASK}" in text  # the traceback is masked too
    assert "[deployment -] outside a job" in text


def test_json_lines(output):
    stream = output("json")
    with bound_deployment(7):
        logging.getLogger("slipway.test").error("token %s", SECRET)
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["deployment_id"] == 7 and entry["level"] == "ERROR" and entry["message"] == f"token {MASK}"


def test_configure_is_idempotent(output):
    output()
    output()
    assert len([h for h in logging.getLogger().handlers if getattr(h, "_slipway", False)]) == 1
