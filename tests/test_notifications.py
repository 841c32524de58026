"""Notifications: real HTTP and SMTP servers receive them, retried on failure, never a deployment's problem."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from slipway.cli import main
from slipway.db import session_scope
from slipway.models import Deployment, NotificationChannel, NotificationDelivery, Project
from slipway.notifications.messages import (
    DISCORD_CONTENT_MAX,
    DISCORD_DESCRIPTION_MAX,
    DISCORD_TITLE_MAX,
    SLACK_SECTION_MAX,
    Notice,
    discord_payload,
    slack_payload,
)
from slipway.notifications.reporter import NotificationReporter
from slipway.settings import set_settings

SLACK_PATH = "/services/T0SLACK/B0SLACK/slack-token-do-not-log"
DISCORD_PATH = "/api/webhooks/1234/discord-token-do-not-log"


def cli(*args: str, **kwargs):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


class Receiver:
    """A real HTTP server that records every request and answers each path from a script of statuses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                statuses = receiver.script.get(self.path) or [200]
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.mails.append(envelope)
        return "250 OK"

    def __init__(self):
        self.mails = []


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def mailbox():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


@pytest.fixture
def notifying(settings, mailbox):
    """Settings with an SMTP server on this machine, retries without waiting, and this machine's
    addresses allowed as an operator allows an internal relay (the receivers listen on 127.0.0.1)."""
    s = replace(settings, smtp_host="127.0.0.1", smtp_port=str(mailbox.port), smtp_security="none",
                smtp_from="slipway@example.com", notify_retry_backoff="0,0", notify_timeout="5",
                notify_allow_private="127.0.0.0/8,::1")
    set_settings(s)
    return s


@pytest.fixture
def failing_project(notifying, git_server):
    """A project whose next deployment fails at once (its commit has no Dockerfile)."""
    name = f"n-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    repo.commit({"README.md": "no Dockerfile here\n"})
    assert cli("project", "create", name, "--repo", repo.url).exit_code == 0
    return name


def deploy_and_run(name: str, run_worker) -> Deployment:
    r = cli("deploy", name)
    assert r.exit_code == 0, r.output
    run_worker()  # the deployment's job, then the notification jobs it queued, and their retries
    with session_scope() as s:
        dep = s.query(Deployment).join(Project).filter(Project.name == name).one()
        s.expunge(dep)
        return dep


def deliveries(name: str) -> dict[str, NotificationDelivery]:
    with session_scope() as s:
        rows = s.query(NotificationDelivery, NotificationChannel.name).join(NotificationChannel).all()
        for d, _ in rows:
            s.expunge(d)
        return {channel: d for d, channel in rows}


# -- formats -------------------------------------------------------------------

NOTICE = Notice(event="failed", project="shop", deployment_id=12, state="failed", sha="a" * 40, branch="main",
                pr_number=None, trigger="push", url=None, reason="<!channel> @everyone " + "x" * 5000,
                dashboard_url="http://127.0.0.1:8000/deployments/12", duration_s=12.5)


def test_slack_payload_is_an_incoming_webhook_message_with_markup_escaped():
    payload = slack_payload(NOTICE)
    assert set(payload) == {"text", "blocks"} and isinstance(payload["text"], str)
    (block,) = payload["blocks"]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert len(block["text"]["text"]) <= SLACK_SECTION_MAX
    # A commit's text cannot ping the channel: Slack's control characters arrive escaped.
    assert "<!channel>" not in block["text"]["text"] and "&lt;!channel&gt;" in block["text"]["text"]
    assert "<http://127.0.0.1:8000/deployments/12|Deployment 12 in Slipway>" in block["text"]["text"]


def test_discord_payload_stays_within_discords_limits_and_pings_nobody():
    payload = discord_payload(NOTICE)
    assert set(payload) == {"content", "embeds", "allowed_mentions"}
    assert len(payload["content"]) <= DISCORD_CONTENT_MAX and payload["allowed_mentions"] == {"parse": []}
    (embed,) = payload["embeds"]
    assert len(embed["title"]) <= DISCORD_TITLE_MAX and len(embed["description"]) <= DISCORD_DESCRIPTION_MAX
    assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
    assert embed["url"] == NOTICE.dashboard_url


# -- the whole road --------------------------------------------------------------

def test_a_failed_deployment_reaches_slack_discord_a_signed_webhook_and_email(
        failing_project, receiver, mailbox, run_worker, caplog, tmp_path):
    name = failing_project
    caplog.set_level(logging.DEBUG)
    assert cli("notify", "add", name, "team-slack", "slack", input=receiver.url + SLACK_PATH + "\n").exit_code == 0
    assert cli("notify", "add", name, "chat", "discord", receiver.url + DISCORD_PATH).exit_code == 0
    assert cli("notify", "add", name, "ops", "email", "ops@example.com").exit_code == 0
    added = cli("notify", "add", name, "ci", "webhook", receiver.url + "/hook")
    (secret,) = re.findall(r"whsec_[A-Za-z0-9_-]+", added.output)

    dep = deploy_and_run(name, run_worker)
    assert dep.state == "failed" and "found nothing it knows how to build" in dep.error_message

    (slack,) = receiver.to(SLACK_PATH)
    body = json.loads(slack["body"])
    assert f"deployment {dep.id}" in body["text"] and "failed" in body["text"]
    assert "found nothing it knows how to build" in body["blocks"][0]["text"]["text"]
    (discord,) = receiver.to(DISCORD_PATH)
    assert json.loads(discord["body"])["embeds"][0]["title"] == f"Deployment {dep.id} failed"

    (hook,) = receiver.to("/hook")
    payload = json.loads(hook["body"])
    assert payload["event"] == "deployment.failed" and payload["deployment"]["id"] == dep.id
    assert payload["deployment"]["reason"] == dep.error_message
    # Verified as a receiver would, with the standard library and the secret shown once...
    expected = "sha256=" + hmac.new(secret.encode(), hook["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hook["headers"]["X-Slipway-Signature-256"], expected)
    # ... and with openssl, which is not Python at all.
    (tmp_path / "body").write_bytes(hook["body"])
    import subprocess

    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret, str(tmp_path / "body")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith(hook["headers"]["X-Slipway-Signature-256"].removeprefix("sha256="))

    (mail,) = mailbox.mails
    assert mail.mail_from == "slipway@example.com" and mail.rcpt_tos == ["ops@example.com"]
    text = mail.content.decode()
    assert f"Subject: [Slipway] {name}: deployment {dep.id}" in text and "found nothing it knows how to build" in text

    assert {c: (d.status, d.attempts) for c, d in deliveries(name).items()} == {
        "team-slack": ("sent", 1), "chat": ("sent", 1), "ops": ("sent", 1), "ci": ("sent", 1)}
    # The tokens in the URLs and the signing secret appear in no log line.
    for secret_text in ("slack-token-do-not-log", "discord-token-do-not-log", secret):
        assert secret_text not in caplog.text
    listed = cli("notify", "list", name).output
    assert "slack-token" not in listed and f"{receiver.url}/…" in listed and "sent" in listed


def test_a_500_is_retried_and_a_notification_that_never_gets_through_leaves_the_deployment_alone(
        failing_project, receiver, run_worker, caplog):
    name = failing_project
    caplog.set_level(logging.DEBUG)
    receiver.script = {"/flaky": [500, 200], "/down": [500]}
    cli("notify", "add", name, "flaky", "slack", receiver.url + "/flaky")
    cli("notify", "add", name, "down", "discord", receiver.url + "/down")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/gone-token-do-not-log"
    cli("notify", "add", name, "gone", "webhook", closed)

    dep = deploy_and_run(name, run_worker)

    assert dep.state == "failed" and "found nothing it knows how to build" in dep.error_message  # as the build left it
    got = deliveries(name)
    assert (got["flaky"].status, got["flaky"].attempts) == ("sent", 2) and len(receiver.to("/flaky")) == 2
    assert (got["down"].status, got["down"].attempts, got["down"].last_error) == (
        "failed", 3, "the discord webhook answered HTTP 500")
    assert len(receiver.to("/down")) == 3  # one try and SLIPWAY_NOTIFY_RETRY_BACKOFF's two retries
    assert (got["gone"].status, got["gone"].last_error) == (
        "failed", "the webhook webhook could not be reached (NewConnectionError)")
    assert "gone-token-do-not-log" not in caplog.text
    with session_scope() as s:
        again = s.get(Deployment, dep.id)
        assert (again.state, again.error_message) == (dep.state, dep.error_message)


def test_each_end_is_announced_once_and_successes_only_where_asked(notifying, queue):
    with session_scope() as s:
        p = Project(name="once", repo_url="x")
        live = Deployment(project=p, sha="b" * 40, branch="main", trigger="cli", state="live", url="http://a")
        building = Deployment(project=p, sha="c" * 40, branch="main", trigger="cli", state="building")
        s.add_all([live, building])
        s.flush()
        live_id, building_id = live.id, building.id
    cli("notify", "add", "once", "failures", "slack", "https://hooks.slack.com/services/a")
    cli("notify", "add", "once", "everything", "slack", "https://hooks.slack.com/services/b", "--on-success")
    reporter = NotificationReporter(notifying)
    for _ in range(3):  # reporters hear of a deployment after every step, and again at the end
        reporter.report(live_id)
        reporter.report(building_id)
    (only,) = deliveries("once").items()
    assert only[0] == "everything" and only[1].event == "succeeded" and only[1].deployment_id == live_id
    assert queue.job_ids == [f"{notifying.queue_name}-notification-{only[1].id}"]
    assert list(queue.jobs[0].args) == [only[1].id]  # an id only: the URL and secret stay in the database


def test_notify_cli_says_what_to_fix_and_removes(settings):
    cli("project", "create", "cfg", "--repo", "https://example.com/x.git")
    r = cli("notify", "add", "cfg", "mail", "email", "ops@example.com")
    assert r.exit_code == 1 and "SLIPWAY_SMTP_HOST" in r.output
    r = cli("notify", "add", "cfg", "Bad Name", "slack", "ftp://x")
    assert r.exit_code == 1 and "lowercase" in r.output and "http(s) URL" in r.output
    r = cli("notify", "add", "cfg", "quiet", "slack", "https://hooks.slack.com/x", "--no-on-failure")
    assert r.exit_code == 1 and "says nothing" in r.output
    assert cli("notify", "add", "cfg", "ok", "slack", "https://hooks.slack.com/T/B/tok").exit_code == 0
    assert cli("notify", "add", "cfg", "ok", "slack", "https://hooks.slack.com/x").exit_code == 1
    items = json.loads(cli("notify", "list", "cfg", "--json").output)
    assert items == [{"name": "ok", "kind": "slack", "to": "https://hooks.slack.com/…", "on": ["failure"],
                      "last": None}]
    with session_scope() as s:
        (channel,) = s.query(NotificationChannel).all()
        assert "tok" not in channel.target_enc  # encrypted at rest
    assert cli("notify", "remove", "cfg", "ok").exit_code == 0
    assert cli("notify", "remove", "cfg", "ok").exit_code == 1
    assert "notifies nobody" in cli("notify", "list", "cfg").output



# -- no notification to an internal service (SSRF) --------------------------------------------------------------

REFUSED_TARGETS = [
    ("webhook", "http://127.0.0.1:8000/deployments", "127.0.0.1"),  # the dashboard
    ("webhook", "http://localhost:1317/cosmos/bank", "127.0.0.1"),  # a name for this machine
    ("webhook", "http://169.254.169.254/latest/meta-data/", "169.254.169.254"),  # cloud metadata
    ("webhook", "http://10.1.2.3/", "10.1.2.3"),
    ("webhook", "http://172.16.0.9:2019/config/", "172.16.0.9"),  # a proxy's admin API
    ("webhook", "https://192.168.1.1/", "192.168.1.1"),
    ("webhook", "http://0.0.0.0:5000/v2/", "0.0.0.0"),  # reaches this machine on Linux
    ("webhook", "http://[::1]:8000/", "::1"),
    ("webhook", "http://[fd00::5]/", "fd00::5"),
    ("webhook", "http://[fe80::1]/", "fe80::1"),
    ("webhook", "http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),  # 127.0.0.1 in IPv6's clothes
    ("webhook", "http://2130706433/", "127.0.0.1"),  # 127.0.0.1 as one number
    ("slack", "http://127.0.0.1:5000/v2/", "127.0.0.1"),
    ("discord", "https://localhost/api/webhooks/1/t", "127.0.0.1"),
]


@pytest.mark.parametrize("kind, url, address", REFUSED_TARGETS)
def test_a_webhook_at_a_private_address_is_refused_when_added_naming_the_address_and_the_setting(
        settings, kind, url, address):
    from slipway.notifications import check_target

    problem = check_target(settings, kind, url)
    assert problem is not None and problem.startswith(f"{address} is a private address")
    assert "SLIPWAY_NOTIFY_ALLOW_PRIVATE" in problem


def test_slack_and_discord_are_only_their_own_https_hosts_or_an_allowed_relay(settings, notifying):
    from slipway.notifications import check_target

    assert check_target(settings, "slack", "https://hooks.slack.com/services/T/B/x") is None
    assert check_target(settings, "discord", "https://discord.com/api/webhooks/1/x") is None
    assert check_target(settings, "discord", "https://discordapp.com/api/webhooks/1/x") is None
    for kind, url in [("slack", "http://hooks.slack.com/services/T/B/x"), ("slack", "https://discord.com/x"),
                      ("discord", "https://hooks.slack.com/x"),
                      ("slack", "https://8.8.8.8/services/T/B/x"), ("discord", "https://1.1.1.1/api/webhooks/1/x")]:
        problem = check_target(settings, kind, url)
        assert problem is not None and problem.startswith(f"a {kind} webhook must be an https URL at"), problem
    # An operator's relay, in a network SLIPWAY_NOTIFY_ALLOW_PRIVATE lists, is taken for either.
    assert check_target(notifying, "slack", "http://127.0.0.1:9/services/T/B/x") is None
    assert check_target(notifying, "webhook", "http://localhost:9/hook") is None
    assert check_target(notifying, "webhook", "http://10.1.2.3/hook").startswith("10.1.2.3 is a private address")


def test_the_cli_and_the_setting_say_what_to_change(settings):
    cli("project", "create", "ssrf", "--repo", "https://example.com/x.git")
    r = cli("notify", "add", "ssrf", "meta", "webhook", "http://169.254.169.254/latest/meta-data/")
    assert r.exit_code == 1 and "169.254.169.254 is a private address" in r.output
    assert "the operator adds 169.254.169.254 to SLIPWAY_NOTIFY_ALLOW_PRIVATE" in r.output
    from slipway.errors import UserError

    with pytest.raises(UserError) as refused:
        replace(settings, notify_allow_private="10.0.0.0/8,intranet")
    assert refused.value.message_id == UserError.SETTINGS_NOTIFY_ALLOW_PRIVATE and "'intranet'" in str(refused.value)


def test_a_private_target_is_refused_at_send_time_too_and_not_retried(failing_project, notifying, receiver,
                                                                      run_worker):
    """Allowed when added, then the operator takes the allowance back (or DNS now answers 127.0.0.1):
    the worker resolves again before sending, and nothing reaches the private address."""
    name = failing_project
    port = receiver.server.server_port
    assert cli("notify", "add", name, "by-name", "webhook", f"http://localhost:{port}/by-name").exit_code == 0
    assert cli("notify", "add", name, "by-address", "slack", f"{receiver.url}/by-address").exit_code == 0
    set_settings(replace(notifying, notify_allow_private=""))

    deploy_and_run(name, run_worker)

    assert receiver.requests == []
    got = deliveries(name)
    assert (got["by-name"].status, got["by-name"].attempts) == ("failed", 1)  # refused once, never retried
    assert got["by-name"].last_error.startswith("127.0.0.1 is a private address")
    assert "webhook webhook to localhost" in got["by-name"].last_error
    assert "SLIPWAY_NOTIFY_ALLOW_PRIVATE" in got["by-name"].last_error
    assert (got["by-address"].status, got["by-address"].attempts) == ("failed", 1)
    assert got["by-address"].last_error.startswith("127.0.0.1 is a private address")


def test_an_allowed_private_target_by_name_gets_its_notification_and_a_redirect_is_not_followed(
        failing_project, receiver, run_worker):
    name = failing_project
    port = receiver.server.server_port
    receiver.script = {"/moved": [302]}
    cli("notify", "add", name, "relay", "webhook", f"http://localhost:{port}/relay")
    cli("notify", "add", name, "moved", "webhook", f"{receiver.url}/moved")

    dep = deploy_and_run(name, run_worker)

    (relayed,) = receiver.to("/relay")
    assert relayed["headers"]["Host"] == f"localhost:{port}"  # sent to the checked address, by the URL's name
    assert json.loads(relayed["body"])["deployment"]["id"] == dep.id
    got = deliveries(name)
    assert got["relay"].status == "sent"
    assert (got["moved"].status, got["moved"].last_error) == ("failed", "the webhook webhook answered HTTP 302")
    assert len(receiver.requests) == 1 + 3  # the relay once; the redirect three times, never followed


# -- nothing is left "queued" or "retrying" forever ---------------------------------------------------------------

def test_the_reconciler_settles_deliveries_that_a_stopped_worker_or_an_emptied_redis_left_unfinished(
        notifying, queue, redis, receiver, run_worker):
    from rq import Worker
    from rq.job import JobStatus

    from slipway.notifications.jobs import job_id
    from slipway.reconcile import Reconciler

    with session_scope() as s:
        dep = Deployment(project=Project(name="lost", repo_url="x"), sha="d" * 40, branch="main", trigger="cli",
                         state="failed")
        s.add(dep)
        s.flush()
        dep_id = dep.id
    for channel in ("never-tried", "mid-send", "ended", "sending"):
        assert cli("notify", "add", "lost", channel, "webhook", f"{receiver.url}/{channel}").exit_code == 0
    NotificationReporter(notifying).report(dep_id)  # four deliveries, each queued with its job
    ids = {channel: d.id for channel, d in deliveries("lost").items()}
    jobs = {channel: queue.fetch_job(job_id(i, notifying)) for channel, i in ids.items()}

    def started_by(channel: str, worker: Worker, attempts: int, status: str) -> None:
        """As rq leaves a job its worker took: out of the queue, "started", with the worker's name."""
        queue.remove(jobs[channel])
        jobs[channel].worker_name = worker.name
        jobs[channel].save()
        jobs[channel].set_status(JobStatus.STARTED)
        with session_scope() as s:
            row = s.get(NotificationDelivery, ids[channel])
            row.attempts, row.status = attempts, status

    # Redis lost the first one's job before any worker took it (emptied, or the enqueue never got there).
    jobs["never-tried"].delete()
    # The second one's worker was killed while sending it: its job still says "started", by a dead worker.
    dead = Worker([queue], connection=redis, name=f"dead-{uuid.uuid4().hex[:8]}")
    dead.register_birth()
    dead.register_death()
    started_by("mid-send", dead, attempts=2, status="retrying")
    # The third one's job ended (rq found it abandoned) and nothing recorded how it went.
    started_by("ended", dead, attempts=1, status="queued")
    jobs["ended"].set_status(JobStatus.FAILED)
    # The fourth one is being sent by a worker that is alive: it is left alone.
    alive = Worker([queue], connection=redis, name=f"alive-{uuid.uuid4().hex[:8]}")
    alive.register_birth()
    alive.heartbeat()
    started_by("sending", alive, attempts=1, status="queued")

    outcome = Reconciler(notifying, queue, {}, []).run()

    assert outcome.notifications_requeued == [ids["never-tried"]]
    assert outcome.notifications_failed == sorted([ids["mid-send"], ids["ended"]])
    run_worker()
    got = deliveries("lost")
    assert (got["never-tried"].status, got["never-tried"].attempts) == ("sent", 1)
    assert [r["path"] for r in receiver.requests] == ["/never-tried"]  # the others were not sent again
    assert got["mid-send"].status == "failed" and got["mid-send"].last_error == (
        f"The worker sending this notification stopped before it finished (its worker {dead.name} stopped); "
        "it was not sent again, so it may or may not have arrived.")
    assert got["ended"].status == "failed" and "its job ended (failed)" in got["ended"].last_error
    assert got["sending"].status == "queued"
    again = Reconciler(notifying, queue, {}, []).run()
    assert (again.notifications_requeued, again.notifications_failed) == ([], [])
    # rq's own clean-up may later requeue the dead worker's job: what was given up on stays so.
    from slipway.notifications.jobs import enqueue_delivery

    enqueue_delivery(notifying, ids["mid-send"])
    run_worker()
    assert [r["path"] for r in receiver.requests] == ["/never-tried"]
    assert deliveries("lost")["mid-send"].status == "failed"
