"""Installation events keep the App's repositories, and which projects may build, up to date."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape

import pytest
from sqlalchemy import select

from slipway.db import session_scope
from slipway.github.installations import connected, split_connected
from slipway.models import Deployment, Installation, InstallationRepository, Project
from slipway.projects import ProjectSpec, create_project
from slipway.settings import set_settings
from tests.github.standin import GitHubStandIn
from tests.support.payloads import installation_event, installation_obj, push_payload, repo, repositories_event
from tests.support.web import sign_in

SHA = "5" * 40


def make_project(name, github_repo, installation_id=123, states=()):
    with session_scope() as s:
        p = create_project(s, ProjectSpec(name=name, repo_url=f"https://github.com/{github_repo}.git",
                                          github_repo=github_repo))
        p.installation_id = installation_id
        for state in states:
            s.add(Deployment(project=p, sha=SHA, branch="main", trigger="push", state=state))
        return p.id


def project(name) -> Project:
    with session_scope() as s:
        return s.scalar(select(Project).where(Project.name == name))


def deployment_states(name) -> list[tuple[str, str | None]]:
    with session_scope() as s:
        p = s.scalar(select(Project).where(Project.name == name))
        return [(d.state, d.error_message) for d in sorted(p.deployments, key=lambda d: d.id)]


def repo_names(installation_id=123) -> list[str]:
    with session_scope() as s:
        return sorted(s.scalars(select(InstallationRepository.full_name)
                                .where(InstallationRepository.installation_id == installation_id)))


def get_installation(installation_id=123) -> Installation | None:
    with session_scope() as s:
        return s.get(Installation, installation_id)


SITE, BLOG, DOCS = repo(1, "acme/site"), repo(2, "acme/blog"), repo(3, "acme/docs")


# -- installation ----------------------------------------------------------------

def test_created_records_the_installation_and_its_repositories(send_webhook):
    resp = send_webhook("installation", installation_event("created", repositories=[SITE, BLOG]))
    assert resp.status_code == 200
    assert resp.json["message"] == "installation 123 on acme created with 2 repositories"
    inst = get_installation()
    assert (inst.account_login, inst.account_type, inst.suspended, inst.deleted_at) == ("acme", "Organization", False, None)
    assert repo_names() == ["acme/blog", "acme/site"]


def test_created_again_replaces_the_list(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE, BLOG]))
    send_webhook("installation", installation_event("created", repositories=[DOCS]))
    assert repo_names() == ["acme/docs"]


def test_created_without_a_repository_list_keeps_what_was_known(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    resp = send_webhook("installation", installation_event("created"))
    assert resp.status_code == 200 and "listed no repositories" in resp.json["message"]
    assert repo_names() == ["acme/site"]


def test_repositories_added_and_removed(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    resp = send_webhook("installation_repositories", repositories_event("added", added=[BLOG, DOCS]))
    assert resp.status_code == 200 and resp.json["message"] == "installation 123 on acme: added acme/blog, acme/docs"
    resp = send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    assert resp.json["message"] == "installation 123 on acme: removed acme/site"
    assert repo_names() == ["acme/blog", "acme/docs"]


def test_a_removed_repository_disconnects_its_projects_and_cancels_their_deployments(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE, BLOG]))
    make_project("site", "acme/site", states=["live", "building", "queued"])
    make_project("site-staging", "Acme/Site")  # GitHub's names are case-insensitive
    make_project("blog", "acme/blog", states=["queued"])

    resp = send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    assert resp.status_code == 200
    assert resp.json["message"].endswith("; disconnected site, site-staging")

    reason = project("site").disconnected_reason
    assert re.fullmatch(r"The GitHub App no longer has access to acme/site \(removed from installation 123 on "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d UTC\); add the repository to the installation again\.", reason)
    assert not connected(project("site")) and not connected(project("site-staging"))
    assert connected(project("blog"))
    states = deployment_states("site")
    assert states[0] == ("live", None)  # finished deployments stay as they were
    assert [s for s, _ in states[1:]] == ["cancelled", "cancelled"]
    assert all(msg == f"Cancelled. {reason}" for _, msg in states[1:])
    assert deployment_states("blog") == [("queued", None)]


def test_readding_the_repository_reconnects(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    make_project("site", "acme/site")
    send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    assert not connected(project("site"))
    resp = send_webhook("installation_repositories", repositories_event("added", added=[SITE]))
    assert resp.json["message"].endswith("; reconnected site")
    assert connected(project("site")) and project("site").installation_id == 123


def test_deleting_the_installation_disconnects_all_its_projects(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE, BLOG]))
    make_project("site", "acme/site", states=["deploying"])
    make_project("blog", "acme/blog", states=["cloning", "failed"])
    make_project("elsewhere", "other/app", installation_id=456, states=["queued"])

    resp = send_webhook("installation", installation_event("deleted", repositories=[SITE, BLOG]))
    assert resp.status_code == 200
    assert resp.json["message"] == "installation 123 on acme deleted; disconnected blog, site"
    assert get_installation().deleted_at is not None and repo_names() == []
    for name in ("site", "blog"):
        assert project(name).disconnected_reason.startswith("The GitHub App was uninstalled from acme (installation 123 deleted on ")
    assert [s for s, _ in deployment_states("site")] == ["cancelled"]
    assert [s for s, _ in deployment_states("blog")] == ["cancelled", "failed"]
    assert connected(project("elsewhere")) and deployment_states("elsewhere") == [("queued", None)]


def test_a_reinstall_moves_disconnected_projects_to_the_new_installation(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    make_project("site", "acme/site")
    send_webhook("installation", installation_event("deleted"))
    resp = send_webhook("installation", installation_event("created", installation_id=777, repositories=[SITE]))
    assert resp.json["message"].endswith("; reconnected site")
    assert connected(project("site")) and project("site").installation_id == 777


def test_suspend_disconnects_and_unsuspend_reconnects(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    make_project("site", "acme/site", states=["queued"])
    resp = send_webhook("installation", installation_event("suspend", suspended_at="2026-04-29T02:32:50Z"))
    assert resp.json["message"] == "installation 123 on acme suspended; disconnected site"
    assert get_installation().suspended and "is suspended" in project("site").disconnected_reason
    assert [s for s, _ in deployment_states("site")] == ["cancelled"]
    resp = send_webhook("installation", installation_event("unsuspend"))
    assert resp.json["message"] == "installation 123 on acme unsuspended; reconnected site"
    assert not get_installation().suspended and connected(project("site"))


def test_projects_without_an_installation_are_left_alone(send_webhook):
    make_project("hooked", "acme/site", installation_id=None, states=["queued"])
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    send_webhook("installation", installation_event("deleted"))
    p = project("hooked")
    assert connected(p) and p.installation_id is None
    assert deployment_states("hooked") == [("queued", None)]


@pytest.mark.parametrize("event, payload, fragment", [
    ("installation", {"action": "created"}, "installation.id"),
    ("installation", {"action": "created", "installation": {"id": "7"}}, "installation.id"),
    ("installation", {"action": "created", "installation": installation_obj(), "repositories": [{"id": 1}]},
     "'id' and 'full_name'"),
    ("installation_repositories", {"action": "added", "installation": installation_obj(),
                                   "repositories_added": ["acme/site"]}, "'id' and 'full_name'"),
])
def test_malformed_payloads_are_400_and_change_nothing(send_webhook, event, payload, fragment):
    resp = send_webhook(event, payload)
    assert resp.status_code == 400 and fragment in resp.json["message"]
    assert get_installation() is None or repo_names() == []


def test_unused_actions_are_ignored(send_webhook):
    resp = send_webhook("installation", {"action": "renamed", "installation": installation_obj()})
    assert resp.status_code == 202 and "not used" in resp.json["message"]


def test_split_connected(settings):
    make_project("a", "acme/a")
    make_project("b", "acme/b")
    with session_scope() as s:
        s.scalar(select(Project).where(Project.name == "b")).disconnected_reason = "gone"
    ok, cut = split_connected([project("a"), project("b")])
    assert [p.name for p in ok] == ["a"] and [p.name for p in cut] == ["b"]


def test_a_push_for_a_disconnected_project_builds_nothing(send_webhook, queue):
    send_webhook("installation", installation_event("created", repositories=[SITE]))
    make_project("site", "acme/site")
    send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    resp = send_webhook("push", push_payload("acme/site", SHA))
    assert resp.status_code == 202 and "no longer has access to acme/site" in resp.json["message"]
    assert deployment_states("site") == [] and queue.count == 0


# -- the /github page: installations, connecting repositories ------------------------

def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


@pytest.fixture
def installed(send_webhook):
    send_webhook("installation", installation_event("created", repositories=[SITE, repo(4, "acme/Hello_World")]))


def test_the_page_lists_installations_and_their_repositories(client, installed):
    page = client.get("/github").data.decode()
    assert "acme" in page and "installation 123" in page
    assert "acme/site" in page and "acme/Hello_World" in page
    assert 'value="hello-world"' in page  # a valid project name suggested from the repository's


def test_connect_creates_a_project_for_the_repository(client, installed, settings):
    token = csrf_of(client.get("/github").data.decode())
    resp = client.post("/github/connect", data={"csrf": token, "installation_id": 123, "repo_id": 4,
                                                "name": "hello", "branch": "trunk"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/projects/hello")
    p = project("hello")
    assert (p.github_repo, p.installation_id, p.branch, p.repo_url, p.target, p.disconnected_reason) == (
        "acme/Hello_World", 123, "trunk", "https://github.com/acme/Hello_World.git", settings.default_target, None)
    page = client.get("/github").data.decode()
    assert '<a href="/projects/hello">hello</a>' in page


def test_connect_uses_the_configured_github_address(app, client, installed, settings):
    app.config["SLIPWAY_SETTINGS"] = replace(settings, github_url="https://ghe.example.com/")
    token = csrf_of(client.get("/github").data.decode())
    client.post("/github/connect", data={"csrf": token, "installation_id": 123, "repo_id": 1, "name": "site"})
    p = project("site")
    assert p.repo_url == "https://ghe.example.com/acme/site.git" and p.branch == "main"


@pytest.mark.parametrize("name, fragment", [
    ("Bad Name", "must be 1-40 lowercase letters"),
    ("taken", "a project named 'taken' already exists"),
])
def test_connect_shows_validation_errors_next_to_the_repository(client, installed, name, fragment):
    make_project("taken", "acme/other")
    token = csrf_of(client.get("/github").data.decode())
    resp = client.post("/github/connect", data={"csrf": token, "installation_id": 123, "repo_id": 1,
                                                "name": name, "branch": "main"})
    assert resp.status_code == 422
    page = unescape(resp.data.decode())
    start = page.index('id="repo-1"')
    row = page[start:page.index("</tr>", start)]
    assert fragment in row and f'value="{name}"' in row
    assert project("site") is None


def test_connect_refuses_a_repository_the_installation_does_not_grant(client, installed):
    token = csrf_of(client.get("/github").data.decode())
    resp = client.post("/github/connect", data={"csrf": token, "installation_id": 123, "repo_id": 99, "name": "x"})
    assert resp.status_code == 404 and "does not grant" in resp.data.decode()
    resp = client.post("/github/connect", data={"installation_id": 123, "repo_id": 1, "name": "site"})
    assert resp.status_code == 400 and project("site") is None


def test_ids_beyond_64_bits_in_the_pages_forms_are_404_not_500(client, installed):
    token = csrf_of(client.get("/github").data.decode())
    for installation_id, repo_id in [(2**63, 1), (123, 2**63), (2**70, 2**70)]:
        resp = client.post("/github/connect", data={"csrf": token, "installation_id": installation_id,
                                                    "repo_id": repo_id, "name": "x"})
        assert resp.status_code == 404 and "does not grant" in resp.data.decode()
    assert client.post(f"/github/installations/{2**63}/refresh", data={"csrf": token}).status_code in (404, 409)


def test_disconnected_projects_are_shown_with_their_reason(client, installed, send_webhook):
    make_project("site", "acme/site")
    send_webhook("installation_repositories", repositories_event("removed", removed=[SITE]))
    page = unescape(client.get("/github").data.decode())
    assert "Disconnected projects" in page
    assert "The GitHub App no longer has access to acme/site (removed from installation 123" in page


def test_refresh_asks_github_for_the_installations_repositories(client, settings, send_webhook):
    from web import create_app

    with GitHubStandIn() as standin:
        standin.add_installation(1001, "octo-org", ["octo-org/hello", "octo-org/world"])
        s = replace(settings, github_api_url=standin.url, github_app_id=str(standin.app_id),
                    github_app_private_key=standin.private_key_pem)
        set_settings(s)
        web = sign_in(create_app(s).test_client())
        # the installation event listed only one repository, and a project lost the other meanwhile
        send_webhook("installation", installation_event("created", installation_id=1001, login="octo-org",
                                                        repositories=[repo(1, "octo-org/stale")]))
        make_project("world", "octo-org/world", installation_id=1001)
        with session_scope() as db:
            db.scalar(select(Project).where(Project.name == "world")).disconnected_reason = "removed earlier"
        token = csrf_of(web.get("/github").data.decode())
        resp = web.post("/github/installations/1001/refresh", data={"csrf": token})
        assert resp.status_code == 302
        assert repo_names(1001) == ["octo-org/hello", "octo-org/world"]
        assert connected(project("world"))
        assert "Installation 1001 grants 2 repositories. Reconnected: world." in web.get("/github").data.decode()
    assert not standin.errors
