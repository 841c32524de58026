"""A read-only view of the app's directory in an untrusted checkout, for the detectors.

Every file is read through ``inside_checkout`` (a symbolic link out of the repository is refused)
and only up to a size cap: detection reads a few small files, never the whole tree.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from builder.images import inside_checkout

TEXT_MAX = 256 * 1024
# At most this many files are looked at when a detector lists a directory tree (a workspace's packages).
WALK_MAX = 20_000
SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "dist", "build", ".next", "out"}


class Tree:
    def __init__(self, checkout: Path, app_dir: str = ".", sha: str = ""):
        self.checkout = checkout
        self.sha = sha
        self.app_dir = str(PurePosixPath(app_dir))
        self.root = inside_checkout(checkout, self.app_dir, sha)

    def _rel(self, name: str) -> str:
        return str(PurePosixPath(self.app_dir) / name)

    def is_file(self, name: str) -> bool:
        if not (self.checkout / self._rel(name)).is_file():
            return False
        inside_checkout(self.checkout, self._rel(name), self.sha)
        return True

    def is_dir(self, name: str) -> bool:
        if not (self.checkout / self._rel(name)).is_dir():
            return False
        inside_checkout(self.checkout, self._rel(name), self.sha)
        return True

    def text(self, name: str) -> str | None:
        """The file's text (cut at TEXT_MAX), or None when it is missing or not text."""
        if not self.is_file(name):
            return None
        with open(inside_checkout(self.checkout, self._rel(name), self.sha), "rb") as fh:
            raw = fh.read(TEXT_MAX)
        return raw.decode("utf-8", errors="replace")

    def json(self, name: str) -> dict | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def files(self, file_name: str) -> list[str]:
        """Paths (relative to the app's directory) of every file called ``file_name`` below it, sorted."""
        found = []
        seen = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            seen += len(filenames)
            if seen > WALK_MAX:
                break
            if file_name in filenames:
                rel = Path(dirpath, file_name).relative_to(self.root)
                if self.is_file(str(rel)):
                    found.append(rel.as_posix())
        return sorted(found)

    def sub(self, app_dir: str) -> "Tree":
        return Tree(self.checkout, str(PurePosixPath(self.app_dir) / app_dir), self.sha)
