"""Stopping and starting a devnet provider from outside the devnet process.

``slipway devnet provider stop|start NAME`` runs in another process than the devnet, so it leaves
a request in the devnet's data dir: ``providers/NAME/stopped`` (present: keep NAME stopped). The
devnet watches these files and answers through ``providers/NAME/state`` ("running"/"stopped")
once it has acted. A stopped provider stays stopped across a devnet restart until started again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

RUNNING, STOPPED = "running", "stopped"


def provider_dir(devnet_path: Path, name: str) -> Path:
    return devnet_path / "providers" / name


def request(devnet_path: Path, name: str, running: bool) -> None:
    """Ask the devnet to start (``running``) or stop the provider ``name``."""
    directory = provider_dir(devnet_path, name)
    directory.mkdir(parents=True, exist_ok=True)
    flag = directory / "stopped"
    if running:
        flag.unlink(missing_ok=True)
    else:
        flag.touch()


def state(devnet_path: Path, name: str) -> str | None:
    """What the devnet last reported for ``name`` (None: it never ran it)."""
    try:
        return (provider_dir(devnet_path, name) / "state").read_text().strip() or None
    except FileNotFoundError:
        return None


def wait_for(devnet_path: Path, name: str, wanted: str, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if state(devnet_path, name) == wanted:
            return True
        time.sleep(0.1)
    return state(devnet_path, name) == wanted


class Supervisor:
    """Inside the devnet: keeps each provider in the state its control file asks for."""

    def __init__(self, devnet_path: Path, providers: Iterable, interval_s: float = 0.25):
        self.devnet_path = devnet_path
        self.providers = {p.name: p for p in providers}
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors: dict[str, str] = {}

    def apply(self) -> None:
        for name, provider in self.providers.items():
            directory = provider_dir(self.devnet_path, name)
            directory.mkdir(parents=True, exist_ok=True)
            wanted_running = not (directory / "stopped").exists()
            try:
                if wanted_running and not provider.running:
                    provider.start()
                elif not wanted_running and provider.running:
                    provider.stop()
            except Exception as exc:  # noqa: BLE001 - e.g. its port is taken: try again next round
                if self._errors.get(name) != str(exc):  # said once, not every round
                    log.error("provider %s could not be %s: %s", name, "started" if wanted_running else "stopped", exc)
                self._errors[name] = str(exc)
            else:
                self._errors.pop(name, None)
            current = RUNNING if provider.running else STOPPED
            state_file = directory / "state"
            if state(self.devnet_path, name) != current:
                state_file.write_text(current + "\n")

    def start(self) -> None:
        self.apply()
        self._thread = threading.Thread(target=self._run, name="devnet-providers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.apply()

    def stop(self) -> None:
        """The devnet stops: every provider stops (the control files stay as they are)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for provider in self.providers.values():
            provider.stop()
        for name in self.providers:
            directory = provider_dir(self.devnet_path, name)
            if directory.exists():
                (directory / "state").write_text(STOPPED + "\n")
