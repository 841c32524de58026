import pytest

from slipway.db import session_scope
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
    (dict(name="ok", target="akash"), "not available yet"),
    (dict(name="ok", health_path="health"), "start with /"),
    (dict(name="ok", branch="refs/heads/main"), "branch name"),
])
def test_invalid_specs_say_what_to_fix(settings, spec, fragment):
    with session_scope() as s, pytest.raises(ValueError, match=fragment):
        create_project(s, ProjectSpec(repo_url="https://x/y.git", **spec))


def test_duplicate_name_is_refused(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="dup", repo_url="u"))
    with session_scope() as s, pytest.raises(ValueError, match="already exists"):
        create_project(s, ProjectSpec(name="dup", repo_url="u"))
