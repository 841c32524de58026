"""Fixtures: a running GitHub stand-in, a Slipway client pointed at it, and a project connected through
its App to a private repository."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from git import Repo
from werkzeug.serving import make_server

from deployer.local import LABEL_PROJECT
from slipway.db import session_scope
from slipway.git_remote.smart_http import GitHttpBackend
from slipway.github.client import GitHubApp
from slipway.models import Installation, InstallationRepository, Project
from slipway.settings import set_settings
from tests.github.standin import GitHubStandIn
from tests.support.github import ACCOUNT, INSTALLATION_ID, REPO, TokenGate
from tests.support.gitrepos import SourceRepo


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
    """Slipway configured as the stand-in's GitHub App."""
    s = replace(settings, github_app_id=str(github_standin.app_id),
                github_app_private_key=github_standin.private_key_pem, github_api_url=github_standin.url)
    set_settings(s)
    return s


@pytest.fixture
def private_git(tmp_path, github_standin):
    """A git server for the installation's repositories that refuses anyone without its token."""
    root = tmp_path / "private-git"
    root.mkdir()
    gate = TokenGate(GitHttpBackend(root), github_standin, INSTALLATION_ID)
    server = make_server("127.0.0.1", 0, gate, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    gate.base_url = f"http://127.0.0.1:{server.server_port}"
    gate.root = root
    yield gate
    server.shutdown()
    server.server_close()


@pytest.fixture
def connected(github_settings, private_git, github_standin, docker_client):
    """A project connected to the installation's private repository (as the dashboard would)."""
    name = f"gh-{uuid.uuid4().hex[:8]}"
    bare = private_git.root / "octo-org" / "hello.git"
    Repo.init(bare, bare=True, initial_branch="main")
    work = private_git.root / "work" / name
    repo = Repo.init(work, initial_branch="main")
    repo.create_remote("origin", str(bare))
    source = SourceRepo(name=name, url=f"{private_git.base_url}/octo-org/hello.git", work=work, repo=repo)
    with session_scope() as s:
        inst = Installation(id=INSTALLATION_ID, account_login="octo-org", account_type="Organization")
        inst.repositories.append(InstallationRepository(repo_id=github_standin.repo(REPO).id, full_name=REPO,
                                                        private=True))
        s.add(inst)
        s.add(Project(name=name, repo_url=source.url, github_repo=REPO, installation_id=INSTALLATION_ID))
    yield source
    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
        c.remove(force=True)
