import subprocess

import pytest
from sqlalchemy import func, select

from slipway.db import session_scope
from slipway.models import Project
from slipway.projects import ProjectSpec, create_project, projects_for_push

pytestmark = pytest.mark.both_databases


def test_create_and_find_for_push(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="web", repo_url="https://x/y.git", github_repo="me/web"))
        create_project(s, ProjectSpec(name="web-staging", repo_url="https://x/y.git", github_repo="me/web",
                                      branch="staging"))
    with session_scope() as s:
        assert [p.name for p in projects_for_push(s, "me/web", "main")] == ["web"]
        assert [p.name for p in projects_for_push(s, "me/web", "staging")] == ["web-staging"]
        assert projects_for_push(s, "me/other", "main") == []
        assert [p.name for p in projects_for_push(s, "Me/Web", "main")] == ["web"]


@pytest.mark.parametrize("spec, fragment", [
    (dict(name="Bad_Name"), "lowercase"),
    (dict(name="ok", github_repo="noslash"), "owner/name"),
    (dict(name="ok", dockerfile="../etc/passwd"), "relative path"),
    (dict(name="ok", build_context="/abs"), "relative path"),
    (dict(name="ok", target="mars"), "target"),
    (dict(name="ok", target="akash"), "must be one of local"),
    (dict(name="ok", health_path="health"), "start with /"),
    (dict(name="ok", branch="refs/heads/main"), "branch name"),
])
def test_invalid_specs_say_what_to_fix(settings, spec, fragment):
    with session_scope() as s, pytest.raises(ValueError, match=fragment):
        create_project(s, ProjectSpec(repo_url="https://x/y.git", **spec))


def test_a_project_deploys_to_the_default_target_unless_it_names_its_own(settings):
    from dataclasses import replace

    from slipway.settings import set_settings

    set_settings(replace(settings, targets="local,akash", default_target="akash"))
    with session_scope() as s:
        assert create_project(s, ProjectSpec(name="on-akash", repo_url="https://x/y.git")).target == "akash"
        assert create_project(s, ProjectSpec(name="here", repo_url="https://x/y.git", target="local")).target == "local"
    set_settings(replace(settings, targets="local,akash", default_target="local"))
    with session_scope() as s:
        assert create_project(s, ProjectSpec(name="told", repo_url="https://x/y.git")).target == "local"


def test_duplicate_name_is_refused(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="dup", repo_url="u"))
    with session_scope() as s, pytest.raises(ValueError, match="already exists"):
        create_project(s, ProjectSpec(name="dup", repo_url="u"))


# -- input validation: whole-string matches, git's ref rules, URLs git cannot read as options ----

@pytest.mark.parametrize("name", ["site\n", "site\r\n", "\nsite", "a" * 41, "-site", "site-", ""])
def test_project_names_are_matched_whole(settings, name):
    with session_scope() as s, pytest.raises(ValueError, match="lowercase"):
        create_project(s, ProjectSpec(name=name, repo_url="https://x/y.git"))


BAD_BRANCHES = ["a..b", "x" * 5000, "main\n", "ma\nin", "-x", "--upload-pack=touch pwned", "a b", "a~1", "a^",
                "a:b", "a?", "a*", "a[b", "a\\b", "a/", "/a", "a//b", "a.", ".a", "a/.b", "a.lock", "a/b.lock/c",
                "a@{1}", "@", "HEAD", "a\x7f", "a\tb", ""]


@pytest.mark.parametrize("branch", BAD_BRANCHES)
def test_branches_follow_gits_ref_rules(settings, branch):
    with session_scope() as s, pytest.raises(ValueError, match="branch") as err:
        create_project(s, ProjectSpec(name="ok", repo_url="https://x/y.git", branch=branch))
    assert len(str(err.value)) < 300  # a 5,000-character name is not echoed back whole
    with session_scope() as s:
        assert s.scalar(select(func.count(Project.id))) == 0


@pytest.mark.parametrize("branch", ["main", "feature/x-1", "release-2.0", "v1.0/hot_fix", "x@", "é", "a" * 255])
def test_ordinary_branches_are_accepted(settings, branch):
    with session_scope() as s:
        assert create_project(s, ProjectSpec(name="ok", repo_url="https://x/y.git", branch=branch)).branch == branch


def test_what_slipway_accepts_as_a_branch_git_accepts_too():
    """Every name we accept passes `git check-ref-format --branch`; every name git refuses, we refuse."""
    from slipway.validation import branch_problem

    for name in BAD_BRANCHES + ["main", "feature/x-1", "x@", "é", "a" * 255, "a.b", "a-", "_"]:
        git_ok = bool(name) and subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True,
                                               check=False).returncode == 0
        if branch_problem(name) is None:
            assert git_ok, name
        if not git_ok:
            assert branch_problem(name) is not None, name


@pytest.mark.parametrize("url", ["--upload-pack=touch pwned", "-oProxyCommand=touch pwned", "ext::sh -c touch% pwned",
                                 "fd::17", "https://x/y\n.git", "https://x/ y.git", "ftp://x/y.git", "https://",
                                 "x" * 501, ""])
def test_repository_urls_that_git_could_misread_are_refused(settings, url):
    with session_scope() as s, pytest.raises(ValueError, match="repository URL"):
        create_project(s, ProjectSpec(name="ok", repo_url=url))


@pytest.mark.parametrize("url", ["https://github.com/acme/site.git", "http://127.0.0.1:8080/site.git",
                                 "ssh://git@example.com:2222/acme/site.git", "git@github.com:acme/site.git",
                                 "git://example.com/site.git", "file:///srv/git/site.git", "/srv/git/site.git",
                                 "../site.git", "/srv/my repos/site.git"])
def test_ordinary_repository_urls_are_accepted(settings, url):
    with session_scope() as s:
        assert create_project(s, ProjectSpec(name="ok", repo_url=url)).repo_url == url
