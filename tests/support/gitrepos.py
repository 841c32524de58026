"""Git repositories served over smart HTTP on loopback, standing in for GitHub's git hosting, and a
developer's working copy that pushes with the real git client."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from git import Actor, Repo
from werkzeug.serving import make_server

from slipway.git_remote.smart_http import GitHttpBackend

AUTHOR = Actor("Test Author", "author@example.com")


class GitServer:
    def __init__(self, root: Path):
        self.root = root
        self._server = make_server("127.0.0.1", 0, GitHttpBackend(root), threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()

    def create(self, name: str) -> SourceRepo:
        bare = self.root / f"{name}.git"
        Repo.init(bare, bare=True, initial_branch="main")
        work = self.root / "work" / name
        repo = Repo.init(work, initial_branch="main")
        repo.create_remote("origin", str(bare))
        return SourceRepo(name=name, url=f"{self.base_url}/{name}.git", work=work, repo=repo)


@dataclass
class SourceRepo:
    name: str
    url: str
    work: Path
    repo: Repo

    def commit(self, files: dict[str, str], message: str = "change", branch: str = "main",
               remove: tuple[str, ...] = (), symlinks: dict[str, str] | None = None) -> str:
        """Write ``files`` (and ``symlinks``: path -> target), commit, push ``branch``; returns the new sha."""
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink():
                target.unlink()  # replace the link itself, never write through it
            target.write_text(content)
        for path, link_target in (symlinks or {}).items():
            link = self.work / path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(link_target)
        for path in remove:
            (self.work / path).unlink()
        self.repo.git.add("-A")
        commit = self.repo.index.commit(message, author=AUTHOR, committer=AUTHOR)
        self.repo.git.push("origin", f"HEAD:refs/heads/{branch}", "--force")
        return commit.hexsha


class Checkout:
    """A developer's working copy, using the real git client with no ambient configuration."""

    def __init__(self, path: Path):
        self.path = path
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(path.parent), "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
        }
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True, check=False,
                              timeout=60)
        if check:
            assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def commit(self, files: dict[str, str], message: str = "change", amend: bool = False) -> str:
        for rel, content in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, *(["--amend"] if amend else []))
        return self.git("rev-parse", "HEAD").stdout.strip()
