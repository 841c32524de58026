"""The director does a deployment's work through its interfaces alone: no database, no services.

Every collaborator here is a stand-in passed to the constructor; each test would fail if the
director reached past them (to a database, Docker, or GitHub)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.images import BuildStopped
from builder.plan import BaseImages
from deployer.base import Release, Running, Stopped
from slipway.buildlog import SecretMasker
from slipway.director import Director, Source, credentials_in
from slipway.errors import UserError
from slipway.github.client import GitHubError, git_auth_env
from tests.support.images import StandInImages

SHA = "a" * 40


class Fetches:
    """A git source that records each fetch and fails the first ``fail`` of them as git would."""

    def __init__(self, fail: int = 0):
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, repo_url, sha, dest: Path, log, branch=None, env=None, mask=lambda s: s) -> Path:
        self.calls.append({"url": repo_url, "sha": sha, "branch": branch, "env": env})
        log(mask(f"fetching with {env}"))
        if len(self.calls) <= self.fail:
            raise UserError("build:user:clone-failed", repo=repo_url, detail="Authentication failed")
        dest.mkdir(parents=True, exist_ok=True)
        return dest


class Tokens:
    """Installation credentials: a new token after each invalidation, or GitHub's refusal."""

    def __init__(self, refuse: int | None = None):
        self.issued = 0
        self.invalidated: list[int] = []
        self.refuse = refuse

    def git_env(self, installation_id: int, clone_url: str) -> dict[str, str]:
        if self.refuse:
            raise GitHubError(self.refuse, "Not Found")
        self.issued += 1
        return git_auth_env(f"ghs_token{self.issued}", clone_url)

    def invalidate(self, installation_id: int) -> None:
        self.invalidated.append(installation_id)


class Images(StandInImages):
    """Records each build's inputs; can stop the build; its prune fails (a tidy-up must never fail a build)."""

    def __init__(self, stop: bool = False):
        super().__init__()
        self.built: list[tuple] = []
        self.stop = stop

    def build(self, checkout, dockerfile, context, tag, log, timeout_s, sha="", should_stop=None, build_args=None,
              cache_from=None, dockerfile_text="") -> str:
        if self.stop:
            raise BuildStopped()
        self.built.append((dockerfile, context, tag, timeout_s, sha))
        self.texts.append(dockerfile_text)
        return tag

    def push(self, tag, log) -> str:
        return f"{tag}@sha256:{'0' * 64}"

    def prune(self, repository, keep, log) -> int:
        raise RuntimeError("the disk is on fire")


class Target:
    """Records the order of calls; ``fail`` makes one of them raise."""

    name = "local"

    def __init__(self, fail: str = ""):
        self.calls: list[str] = []
        self.fail = fail

    def start(self, release, log) -> dict:
        self.calls.append("start")
        return {"container_id": f"c{release.deployment_id}"}

    def wait_ready(self, release, ref, log, should_stop=None) -> Running:
        self.calls.append(f"wait_ready {ref['container_id']}")
        if should_stop():
            raise Stopped()
        return Running(url="http://127.0.0.1:1", ref=ref)

    def retire(self, release, keep, log) -> None:
        self.calls.append("retire")
        if self.fail == "retire":
            raise RuntimeError("the engine went away")


def director(lines: list[str], masker: SecretMasker | None = None, **kwargs) -> Director:
    return Director(kwargs.pop("images", Images()), lines.append, masker or SecretMasker(), **kwargs)


def test_the_reference_is_handed_over_before_the_release_is_waited_for():
    target, lines = Target(), []
    running = director(lines).deploy(target, Release("site", 4, "img"), started=lambda ref: target.calls.append(
        f"stored {ref['container_id']}"))
    assert target.calls == ["start", "stored c4", "wait_ready c4"]
    assert running.ref == {"container_id": "c4"}


def test_a_stop_while_waiting_or_building_leaves_as_stopped(tmp_path):
    target, lines = Target(), []
    with pytest.raises(Stopped):
        director(lines, should_stop=lambda: True).deploy(target, Release("site", 4, "img"), started=lambda ref: None)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(Stopped):
        d = director(lines, images=Images(stop=True))
        d.build(tmp_path, d.plan(tmp_path, "Dockerfile", ".", SHA), "r/site:v1", SHA)


def test_a_build_is_given_its_time_limit_and_commit_and_a_push_returns_the_digest(tmp_path):
    images, lines = Images(), []
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    d = director(lines, images=images, build_timeout_s=42)
    d.build(tmp_path, d.plan(tmp_path, "app/Dockerfile", "app", SHA), "r/site:v1", SHA)
    assert images.built == [("app/Dockerfile", "app", "r/site:v1", 42, SHA)]
    assert images.texts == [""]  # the repository's own Dockerfile, as it is
    assert d.push("r/site:v1").startswith("r/site:v1@sha256:")


def test_without_a_dockerfile_the_plan_is_printed_first_and_built_from_outside_the_checkout(tmp_path):
    images, lines = Images(), []
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    d = director(lines, images=images, plan_images=BaseImages(static="mirror.example/caddy:2"))
    plan = d.plan(tmp_path, "Dockerfile", ".", SHA)
    assert lines[0] == "# Slipway build plan: static files (index.html), served by Caddy"
    assert "FROM mirror.example/caddy:2" in lines
    d.build(tmp_path, plan, "r/site:v1", SHA)
    assert images.texts == [plan.dockerfile] and "COPY . /srv" in plan.dockerfile
    # The generated Dockerfile is never a file of the checkout, and is kept out of the image.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".dockerignore", "index.html"]
    assert ".dockerfile.*" in (tmp_path / ".dockerignore").read_text().splitlines()


def test_a_repository_with_a_dockerignore_keeps_it_and_gets_one_line_more(tmp_path):
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / ".dockerignore").write_text("secrets/")
    d = director([], images=Images())
    d.build(tmp_path, d.plan(tmp_path, "Dockerfile", ".", SHA), "r/site:v1", SHA)
    assert (tmp_path / ".dockerignore").read_text().split() == ["secrets/", ".dockerfile.*"]


def test_a_link_named_dockerignore_that_leaves_the_checkout_is_refused(tmp_path):
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    (tmp_path / ".dockerignore").symlink_to("/etc/hostname")
    d = director([], images=Images())
    with pytest.raises(UserError) as err:
        d.build(tmp_path, d.plan(tmp_path, "Dockerfile", ".", SHA), "r/site:v1", SHA)
    assert err.value.message_id == UserError.BUILD_OUTSIDE_CHECKOUT


def test_retiring_and_pruning_never_fail_a_live_deployment():
    target, lines = Target(fail="retire"), []
    d = director(lines)
    d.retire(target, Release("site", 4, "img"), Running("http://127.0.0.1:1", {}))
    d.prune("r/site", 3)
    assert "warning: the previous version could not be stopped; the operator has been told" in lines


def test_a_public_repository_is_fetched_without_credentials(tmp_path):
    fetches, lines = Fetches(), []
    director(lines, fetch=fetches, credentials=Tokens()).fetch(Source("https://x/r.git", SHA, "main"), tmp_path)
    assert fetches.calls == [{"url": "https://x/r.git", "sha": SHA, "branch": "main", "env": None}]


def test_an_installation_token_refused_by_git_is_renewed_once_and_masked(tmp_path):
    fetches, tokens, lines = Fetches(fail=1), Tokens(), []
    source = Source("https://github.com/acme/site.git", SHA, "main", installation_id=9)
    assert director(lines, fetch=fetches, credentials=tokens).fetch(source, tmp_path / "src") == tmp_path / "src"
    assert tokens.invalidated == [9] and len(fetches.calls) == 2
    assert "fetching again with a new installation token" in lines
    secrets = [s for call in fetches.calls for s in credentials_in(call["env"])]
    assert len(secrets) == 4 and not any(s in line for s in secrets for line in lines)


def test_known_credentials_are_masked_and_no_token_is_asked_for(tmp_path):
    fetches, tokens, lines = Fetches(), Tokens(), []
    env = git_auth_env("internal-fetch-token", "http://web/git/site.git")
    director(lines, fetch=fetches, credentials=tokens).fetch(
        Source("http://web/git/site.git", SHA, "main", installation_id=9, env=env), tmp_path)
    assert fetches.calls[0]["env"] == env and tokens.issued == 0
    (header, _token) = credentials_in(env)
    assert lines and not any(header in line for line in lines)


@pytest.mark.parametrize("status, message_id", [(404, "build:user:github-access"), (502, "app:github")])
def test_github_refusing_a_token_says_whose_fault_it_is(tmp_path, status, message_id):
    from slipway.errors import SlipwayError

    source = Source("https://github.com/acme/site.git", SHA, "main", installation_id=9)
    with pytest.raises(SlipwayError) as err:
        director([], fetch=Fetches(), credentials=Tokens(refuse=status)).fetch(source, tmp_path)
    assert err.value.message_id == message_id
