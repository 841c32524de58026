"""Pull-request previews: which pull requests build, the one PR comment, and removal on close.

Payloads are GitHub's own examples with only the fields under test changed; the comment is
written to the strict GitHub stand-in; removal goes through a recording target.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from slipway.db import session_scope
from slipway.models import Deployment, Project, PullRequestPreview
from slipway.github.previews import (PreviewCommentReporter, enqueue_teardown, fork_allowed, preview_reporters,
                              remove_preview)
from slipway.queue import job_id_for
from slipway.states import State, transition
from tests.support.github import INSTALLATION_ID, REPO
from tests.support.payloads import pr_payload

pytestmark = pytest.mark.both_databases

HEAD = "a" * 40
HEAD2 = "b" * 40


@pytest.fixture
def project(settings) -> int:
    with session_scope() as s:
        p = Project(name="site", repo_url="http://127.0.0.1:1/site.git", github_repo=REPO,
                    installation_id=INSTALLATION_ID)
        s.add(p)
        s.flush()
        return p.id


def set_project(project_id: int, **values) -> None:
    with session_scope() as s:
        p = s.get(Project, project_id)
        for key, value in values.items():
            setattr(p, key, value)


def deployments() -> list[Deployment]:
    with session_scope() as s:
        return list(s.scalars(select(Deployment).order_by(Deployment.id)))


def preview_row(project_id: int, number: int) -> PullRequestPreview | None:
    with session_scope() as s:
        return s.scalar(select(PullRequestPreview).where(PullRequestPreview.project_id == project_id,
                                                         PullRequestPreview.pr_number == number))


def jobs(queue) -> list[tuple[str, tuple]]:
    return [(job.func_name, tuple(job.args)) for job in queue.jobs]  # JSON keeps them as a list


# -- who gets a preview ---------------------------------------------------------------

@pytest.mark.parametrize("policy, association, allowed", [
    ("collaborators", "OWNER", True),
    ("collaborators", "MEMBER", True),
    ("collaborators", "COLLABORATOR", True),
    ("collaborators", "CONTRIBUTOR", False),
    ("collaborators", "FIRST_TIME_CONTRIBUTOR", False),
    ("collaborators", "NONE", False),
    ("never", "OWNER", False),
    ("always", "NONE", True),
    ("sometimes", "OWNER", False),  # an unknown setting allows nothing
])
def test_fork_policy(policy, association, allowed):
    assert fork_allowed(policy, association) is allowed


def test_opened_queues_a_preview_of_the_head_commit(project, send_webhook, queue):
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, head_ref="feature/login"))
    assert resp.status_code == 202, resp.json
    (dep_id,) = resp.json["deployments"]
    (dep,) = deployments()
    assert dep.id == dep_id
    assert (dep.sha, dep.branch, dep.trigger, dep.environment, dep.pr_number, dep.slot, dep.state) == \
        (HEAD, "feature/login", "pull_request", "preview", 7, "pr-7", "queued")
    preview = preview_row(project, 7)
    assert (preview.head_sha, preview.head_repo, preview.from_fork, preview.author_association, preview.state) == \
        (HEAD, REPO, False, "OWNER", "open")
    assert queue.job_ids == [job_id_for(dep_id)]


def test_synchronize_supersedes_the_older_preview_of_the_same_pull_request_only(project, send_webhook, queue):
    production = send_webhook("push", {"ref": "refs/heads/main", "after": "c" * 40, "repository": {"full_name": REPO}})
    other_pr = send_webhook("pull_request", pr_payload("opened", 8, "d" * 40))
    first = send_webhook("pull_request", pr_payload("opened", 7, HEAD)).json["deployments"][0]
    second = send_webhook("pull_request", pr_payload("synchronize", 7, HEAD2))
    assert second.status_code == 202, second.json
    states = {d.id: (d.state, d.error_id) for d in deployments()}
    assert states[first] == ("cancelled", "app:superseded")
    assert states[second.json["deployments"][0]] == ("queued", None)
    assert states[production.json["deployments"][0]] == ("queued", None)
    assert states[other_pr.json["deployments"][0]] == ("queued", None)
    assert preview_row(project, 7).head_sha == HEAD2
    with session_scope() as s:
        assert s.scalar(select(func.count(PullRequestPreview.id))) == 2  # one row per pull request


def test_drafts_build_like_any_pull_request(project, send_webhook, queue):
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, draft=True))
    assert resp.status_code == 202 and len(resp.json["deployments"]) == 1


@pytest.mark.parametrize("action", ["labeled", "edited", "assigned", "ready_for_review", "converted_to_draft"])
def test_other_actions_are_ignored(project, send_webhook, queue, action):
    payload = pr_payload("opened", 7, HEAD)
    payload["action"] = action
    resp = send_webhook("pull_request", payload)
    assert resp.status_code == 202
    assert f"{action!r}" in resp.json["message"] and "ignored" in resp.json["message"]
    assert deployments() == [] and queue.job_ids == []


def _without(path: str):
    def change(payload):
        *parents, last = path.split(".")
        node = payload
        for key in parents:
            node = node[key]
        del node[last]
    return change


def _set(path: str, value):
    def change(payload):
        *parents, last = path.split(".")
        node = payload
        for key in parents:
            node = node[key]
        node[last] = value
    return change


@pytest.mark.parametrize("change, fragment", [
    (_without("action"), "'action'"),
    (_without("pull_request"), "'pull_request'"),
    (_set("pull_request", "seven"), "'pull_request'"),
    (_without("repository"), "'repository'"),
    (_set("repository.full_name", "no-slash"), "repository.full_name"),
    (_set("pull_request.number", "7"), "pull_request.number"),
    (_set("pull_request.number", True), "pull_request.number"),
    (_without("pull_request.head"), "pull_request.head"),
    (_set("pull_request.head.sha", "HEAD"), "pull_request.head.sha"),
    (_set("pull_request.head.ref", None), "pull_request.head.ref"),
    (_set("pull_request.head.repo", "octo/fork"), "pull_request.head.repo"),
    (_set("pull_request.author_association", 3), "author_association"),
])
def test_malformed_payloads_are_400_with_a_message(project, send_webhook, queue, change, fragment):
    payload = pr_payload("opened", 7, HEAD)
    change(payload)
    resp = send_webhook("pull_request", payload)
    assert resp.status_code == 400, resp.json
    assert fragment in resp.json["error"] if "error" in resp.json else fragment in resp.json["message"]
    assert deployments() == [] and queue.job_ids == []


def test_a_head_ref_git_would_refuse_is_400_and_nothing_is_kept(project, send_webhook, queue):
    from slipway.models import WebhookDelivery

    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, head_ref="-upload-pack=evil"))
    assert resp.status_code == 400 and "not a branch name git accepts" in resp.json["error"], resp.json
    assert deployments() == [] and preview_row(project, 7) is None and queue.job_ids == []
    with session_scope() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 0  # a corrected redelivery is processed


def test_closed_with_a_malformed_payload_is_400_too(project, send_webhook, queue):
    payload = pr_payload("closed", 7, HEAD)
    payload["pull_request"]["head"] = None
    assert send_webhook("pull_request", payload).status_code == 400


def test_nothing_builds_for_unconnected_repos_or_with_previews_off(project, send_webhook, queue):
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, repo="someone/else"))
    assert resp.status_code == 202 and "no project is connected to someone/else" in resp.json["message"]
    set_project(project, previews_enabled=False)
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD))
    assert resp.status_code == 202 and "previews are turned off for site" in resp.json["message"]
    assert deployments() == [] and queue.job_ids == []


def test_a_disconnected_project_builds_no_preview_but_still_removes_one(project, send_webhook, queue):
    send_webhook("pull_request", pr_payload("opened", 7, HEAD))
    set_project(project, disconnected_reason="the GitHub App lost access to octo-org/hello")
    resp = send_webhook("pull_request", pr_payload("synchronize", 7, HEAD2))
    assert resp.status_code == 202 and "site: the GitHub App lost access" in resp.json["message"]
    assert len(deployments()) == 1
    queue.empty()
    send_webhook("pull_request", pr_payload("closed", 7, HEAD2))
    assert jobs(queue) == [("slipway.github.previews.teardown_preview", (project, 7))]


def test_the_repository_name_matches_whatever_its_case(project, send_webhook, queue):
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, repo=REPO.upper()))
    assert len(resp.json["deployments"]) == 1


# -- forks ------------------------------------------------------------------------------

@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"])
def test_a_fork_by_an_outsider_is_not_built_and_the_comment_job_is_queued(project, send_webhook, queue, association):
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, head_repo="mallory/hello",
                                                   association=association))
    assert resp.status_code == 202, resp.json
    assert "deployments" not in resp.json
    assert "not building the fork mallory/hello" in resp.json["message"]
    assert deployments() == []
    preview = preview_row(project, 7)
    assert (preview.from_fork, preview.head_repo, preview.author_association) == (True, "mallory/hello", association)
    assert jobs(queue) == [("slipway.github.previews.report_preview", (project, 7))]


@pytest.mark.parametrize("policy, association, head_repo, built", [
    ("collaborators", "COLLABORATOR", "carol/hello", True),
    ("collaborators", "MEMBER", "carol/hello", True),
    ("collaborators", "NONE", None, False),  # the fork was deleted: still a fork
    ("never", "OWNER", "carol/hello", False),
    ("always", "NONE", "mallory/hello", True),
    ("never", "NONE", "", True),  # not a fork: the author could push to the repository itself
])
def test_forks_build_as_the_project_allows(project, send_webhook, queue, policy, association, head_repo, built):
    set_project(project, fork_previews=policy)
    resp = send_webhook("pull_request", pr_payload("opened", 7, HEAD, head_repo=head_repo, association=association))
    assert resp.status_code == 202
    assert len(deployments()) == (1 if built else 0)
    if built:
        # Fetched from the project's own repository (GitHub keeps the head there), never the fork.
        with session_scope() as s:
            dep = s.get(Deployment, resp.json["deployments"][0])
            assert dep.project.repo_url == "http://127.0.0.1:1/site.git" and dep.sha == HEAD


# -- closing ----------------------------------------------------------------------------

@pytest.mark.parametrize("merged", [True, False])
def test_closed_marks_the_preview_closed_cancels_its_builds_and_queues_the_teardown(
        project, send_webhook, queue, merged):
    other = send_webhook("pull_request", pr_payload("opened", 8, "d" * 40)).json["deployments"][0]
    building = send_webhook("pull_request", pr_payload("opened", 7, HEAD)).json["deployments"][0]
    queue.empty()
    resp = send_webhook("pull_request", pr_payload("closed", 7, HEAD, merged=merged))
    assert resp.status_code == 202 and "removing the preview of PR #7 for site" in resp.json["message"]
    with session_scope() as s:
        dep = s.get(Deployment, building)
        # Said as what happened: not "Cancelled", not "superseded by a newer push".
        assert (dep.state, dep.error_id) == ("cancelled", "app:pr-closed")
        assert dep.error_message == "Removed because pull request #7 was closed."
        assert s.get(Deployment, other).state == "queued"
    assert preview_row(project, 7).state == "closed"
    assert jobs(queue) == [("slipway.github.previews.teardown_preview", (project, 7))]


def test_closing_a_pull_request_without_a_preview_does_nothing(project, send_webhook, queue):
    resp = send_webhook("pull_request", pr_payload("closed", 7, HEAD))
    assert resp.status_code == 202 and "has no preview" in resp.json["message"]
    assert queue.job_ids == []


def test_reopened_opens_the_preview_again_and_builds(project, send_webhook, queue):
    send_webhook("pull_request", pr_payload("opened", 7, HEAD))
    send_webhook("pull_request", pr_payload("closed", 7, HEAD))
    resp = send_webhook("pull_request", pr_payload("reopened", 7, HEAD))
    assert len(resp.json["deployments"]) == 1
    assert preview_row(project, 7).state == "open"


# -- the comment --------------------------------------------------------------------------

@pytest.fixture
def reporter(settings, redis, github_app) -> PreviewCommentReporter:
    return PreviewCommentReporter(settings, github_app, redis)


def add_deployment(project_id: int, number: int, sha: str = HEAD, state: str = "queued", **values) -> int:
    with session_scope() as s:
        dep = Deployment(project_id=project_id, sha=sha, branch="feature", trigger="pull_request",
                         environment="preview", pr_number=number, state=state, **values)
        s.add(dep)
        s.flush()
        return dep.id


def add_preview(project_id: int, number: int, **values) -> None:
    with session_scope() as s:
        s.add(PullRequestPreview(project_id=project_id, pr_number=number, head_sha=values.pop("head_sha", HEAD),
                                 head_repo=values.pop("head_repo", REPO), **values))


def set_state(dep_id: int, state: State, **values) -> None:
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        transition(dep, state)
        for key, value in values.items():
            setattr(dep, key, value)


def test_one_comment_per_pull_request_edited_on_every_state(settings, project, reporter, github_standin):
    add_preview(project, 7)
    dep_id = add_deployment(project, 7)
    reporter.report(dep_id)
    (comment,) = github_standin.comments(REPO, 7)
    assert "⏳ Queued" in comment["body"]
    assert f"{settings.public_url}/deployments/{dep_id}" in comment["body"]
    assert preview_row(project, 7).comment_id == comment["id"]

    bodies = [comment["body"]]
    for state in (State.CLONING, State.BUILDING, State.PUSHING, State.DEPLOYING):
        set_state(dep_id, state)
        reporter.report(dep_id)
        (comment,) = github_standin.comments(REPO, 7)
        bodies.append(comment["body"])
    assert "🔨 Building" in bodies[-1]
    set_state(dep_id, State.LIVE, url="http://127.0.0.1:41234")
    reporter.report(dep_id)
    (comment,) = github_standin.comments(REPO, 7)
    assert "✅ Ready" in comment["body"] and "[Visit preview](http://127.0.0.1:41234)" in comment["body"]
    assert f"`{HEAD[:7]}`" in comment["body"] and "| **site** |" in comment["body"]
    assert [c.method for c in github_standin.calls if "comments" in c.path] == ["POST"] + ["PATCH"] * 5


def test_a_failed_newer_build_says_why_and_points_at_the_preview_still_serving(project, reporter, github_standin):
    add_preview(project, 7)
    add_deployment(project, 7, state="live", url="http://127.0.0.1:40001")
    newer = add_deployment(project, 7, sha=HEAD2)
    set_state(newer, State.FAILED, error_message="The Docker build failed: no | pipes.")
    reporter.report(newer)
    (comment,) = github_standin.comments(REPO, 7)
    assert "❌ Failed" in comment["body"] and f"`{HEAD2[:7]}`" in comment["body"]
    assert "[Previous preview](http://127.0.0.1:40001)" in comment["body"]
    assert "> The Docker build failed: no \\| pipes." in comment["body"]


def test_a_late_report_of_an_older_build_shows_the_newest(project, reporter, github_standin):
    add_preview(project, 7, head_sha=HEAD2)
    older = add_deployment(project, 7, state="cancelled")
    add_deployment(project, 7, sha=HEAD2, state="building")
    reporter.report(older)
    (comment,) = github_standin.comments(REPO, 7)
    assert f"`{HEAD2[:7]}`" in comment["body"] and "🔨 Building" in comment["body"]


def test_the_comment_never_shows_a_secret(settings, project, redis, github_app, github_standin):
    secret = "s3cret-registry-password-value"
    settings = replace(settings, registry_password=secret)
    add_preview(project, 7)
    dep_id = add_deployment(project, 7, state="cloning")
    set_state(dep_id, State.FAILED, error_message=f"could not log in with {secret}")
    PreviewCommentReporter(settings, github_app, redis).report(dep_id)
    (comment,) = github_standin.comments(REPO, 7)
    assert secret not in comment["body"] and "could not log in with" in comment["body"]


def test_two_reports_at_once_make_one_comment(project, reporter, github_standin):
    add_preview(project, 7)
    dep_id = add_deployment(project, 7)
    start = threading.Barrier(6)

    def report():
        start.wait()
        reporter.report(dep_id)

    threads = [threading.Thread(target=report) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(github_standin.comments(REPO, 7)) == 1
    assert [c.method for c in github_standin.calls if "comments" in c.path].count("POST") == 1


def test_reports_of_production_deployments_write_no_comment(project, reporter, github_standin):
    with session_scope() as s:
        dep = Deployment(project_id=project, sha=HEAD, branch="main", trigger="push")
        s.add(dep)
        s.flush()
        dep_id = dep.id
    reporter.report(dep_id)
    assert github_standin.comments() == []


def test_a_refused_fork_gets_a_comment_saying_how_to_allow_it(project, reporter, github_standin):
    add_preview(project, 7, head_repo="mallory/hello", from_fork=True, author_association="NONE")
    reporter.update(project, 7)
    (comment,) = github_standin.comments(REPO, 7)
    body = comment["body"]
    assert "did not build" in body and "`mallory/hello`" in body and "`NONE`" in body
    assert "fork previews** to `always`" in body and "reopening this pull request" in body


def test_an_allowed_fork_is_named_in_the_comment(project, reporter, github_standin):
    add_preview(project, 7, head_repo="carol/hello", from_fork=True, author_association="COLLABORATOR")
    reporter.report(add_deployment(project, 7))
    (comment,) = github_standin.comments(REPO, 7)
    assert "comes from the fork `carol/hello`; it was built because its author is a repository collaborator" \
        in comment["body"]


def test_a_closed_preview_is_only_commented_on_by_its_removal(project, reporter, github_standin):
    add_preview(project, 7)
    dep_id = add_deployment(project, 7)
    reporter.report(dep_id)
    with session_scope() as s:
        s.scalar(select(PullRequestPreview)).state = "closed"
    set_state(dep_id, State.CANCELLED)
    reporter.report(dep_id)  # the cancelled build's last report
    (comment,) = github_standin.comments(REPO, 7)
    assert "⏳ Queued" in comment["body"]
    reporter.update(project, 7, removed=True)
    (comment,) = github_standin.comments(REPO, 7)
    assert "was removed" in comment["body"] and "|" not in comment["body"]


def test_no_app_no_comment_reporter(settings, github_standin):
    assert preview_reporters(settings) == []
    with_app = replace(settings, github_app_id=str(github_standin.app_id),
                       github_app_private_key=github_standin.private_key_pem, github_api_url=github_standin.url)
    (reporter,) = preview_reporters(with_app)
    assert isinstance(reporter, PreviewCommentReporter)


# -- removal -----------------------------------------------------------------------------

class RecordingTarget:
    """A target that records what it was asked to tear down."""

    name = "local"

    def __init__(self):
        self.teardowns: list[tuple[str, str]] = []

    def teardown(self, project: str, slot: str, log) -> None:
        self.teardowns.append((project, slot))


class RecordingReporter:
    def __init__(self):
        self.reported: list[int] = []

    def report(self, deployment_id: int) -> None:
        self.reported.append(deployment_id)


def test_removal_tears_down_the_slot_and_ends_its_live_deployments(settings, project, reporter, github_standin):
    add_preview(project, 7)
    live = add_deployment(project, 7, state="live", url="http://127.0.0.1:40001")
    other = add_deployment(project, 8, state="live", url="http://127.0.0.1:40002")
    reporter.report(live)
    with session_scope() as s:
        s.scalar(select(PullRequestPreview).where(PullRequestPreview.pr_number == 7)).state = "closed"
    target, others = RecordingTarget(), RecordingReporter()
    assert remove_preview(settings, project, 7, {"local": target}, [reporter, others]) is True
    assert target.teardowns == [("site", "pr-7")]
    with session_scope() as s:
        removed = s.get(Deployment, live)
        # Said as what happened, never "superseded by a newer push": nothing newer replaced it.
        assert (removed.state, removed.error_id) == ("superseded", "app:pr-closed")
        assert removed.error_message == "Removed because pull request #7 was closed."
        assert s.get(Deployment, other).state == "live"
    assert others.reported == [live]
    (comment,) = github_standin.comments(REPO, 7)
    assert "was removed" in comment["body"]


def test_removal_skips_a_pull_request_reopened_meanwhile(settings, project):
    add_preview(project, 7)  # open again
    target = RecordingTarget()
    assert remove_preview(settings, project, 7, {"local": target}, []) is False
    assert target.teardowns == []


def test_the_teardown_job_carries_only_ids(settings, project, queue):
    enqueue_teardown(project, 7)
    (job,) = queue.jobs
    assert (job.func_name, tuple(job.args), job.kwargs) == ("slipway.github.previews.teardown_preview", (project, 7), {})


def test_a_close_that_cannot_queue_its_teardown_is_503_and_its_redelivery_works(
        project, app, settings, send_webhook, queue):
    from dataclasses import replace

    from slipway.settings import set_settings

    send_webhook("pull_request", pr_payload("opened", 7, HEAD))
    queue.empty()
    set_settings(replace(settings, redis_url="redis://127.0.0.1:1/0"))  # Redis goes away
    resp = send_webhook("pull_request", pr_payload("closed", 7, HEAD), delivery="close-7")
    assert resp.status_code == 503 and "redeliver" in resp.json["error"]
    assert jobs(queue) == []
    set_settings(settings)  # Redis is back; GitHub redelivers the same delivery id
    resp = send_webhook("pull_request", pr_payload("closed", 7, HEAD), delivery="close-7")
    assert resp.status_code == 202
    assert jobs(queue) == [("slipway.github.previews.teardown_preview", (project, 7))]
