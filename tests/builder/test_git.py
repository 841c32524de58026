"""builder.git: a fetch only ever touches its own checkout."""

from __future__ import annotations

import os
import shutil

import pytest
from git import Repo

from builder.git import fetch_commit
from slipway.errors import UserError


def test_a_checkout_removed_under_a_fetch_never_lets_git_touch_the_current_directory(git_server, tmp_path):
    """GitPython runs git in the process's current directory when a repo's work dir is gone; a
    worker started in a checkout of Slipway would then have it fetched into and checked out."""
    source = git_server.create(f"pin-{os.getpid()}")
    sha = source.commit({"README": "theirs\n"})
    bystander = Repo.init(tmp_path / "bystander", initial_branch="main")
    (tmp_path / "bystander" / "mine.txt").write_text("mine\n")
    bystander.git.add("-A")
    bystander.index.commit("mine")
    head_before = bystander.head.commit.hexsha
    dest = tmp_path / "work" / "src"

    def log(line: str) -> None:
        if line.startswith("$ git fetch"):
            shutil.rmtree(dest, ignore_errors=True)  # a cancelled copy of the job cleans up

    cwd = os.getcwd()
    os.chdir(bystander.working_dir)
    try:
        with pytest.raises(UserError):
            fetch_commit(source.url, sha, dest, log, branch="main")
    finally:
        os.chdir(cwd)
    assert bystander.head.commit.hexsha == head_before
    assert (tmp_path / "bystander" / "mine.txt").read_text() == "mine\n"
    assert not (tmp_path / "bystander" / "README").exists()
    with pytest.raises(Exception):
        bystander.git.cat_file("-e", sha)  # nothing of theirs was fetched into it
