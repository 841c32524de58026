"""slipway.github.client against the strict stand-in: auth, token cache, retries, the calls Slipway makes."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import os
import subprocess
import threading
from base64 import b64decode
from pathlib import Path

import jwt
import pytest

from slipway.github.client import (
    AppCredentials,
    GitHubApp,
    GitHubError,
    InstallationToken,
    git_auth_env,
    mint_app_jwt,
    verify_webhook_signature,
)
from tests.github.examples import webhook_delivery, webhook_example
from tests.github.standin import GitHubStandIn
from tests.support.github import INSTALLATION_ID, REPO

pytestmark = pytest.mark.oracle

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"


# -- the App JWT -------------------------------------------------------------------

def test_app_jwt_claims_follow_github_rules(github_standin: GitHubStandIn) -> None:
    creds = github_standin.credentials()
    token = mint_app_jwt(creds, now=1_700_000_000)
    public_key = github_standin._public_key
    claims = jwt.decode(token, public_key, algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims == {"iat": 1_700_000_000 - 60, "exp": 1_700_000_000 + 540, "iss": str(github_standin.app_id)}
    assert claims["exp"] - claims["iat"] <= 600


def test_minted_jwt_is_accepted_by_github(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    app = github_app.get_app()
    assert app["id"] == github_standin.app_id
    assert app["slug"] == github_standin.slug


def test_credentials_and_tokens_keep_secrets_out_of_repr(github_app: GitHubApp) -> None:
    token = github_app.installation_token(INSTALLATION_ID)
    assert "PRIVATE KEY" not in repr(github_app.creds)
    assert "PRIVATE KEY" not in repr(github_app)
    assert token.token.startswith("ghs_")
    assert token.token not in repr(token)


# -- installation tokens -----------------------------------------------------------

def test_installation_token_is_cached(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    first = github_app.installation_token(INSTALLATION_ID)
    second = github_app.installation_token(INSTALLATION_ID)
    assert first == second
    assert github_standin.tokens_issued(INSTALLATION_ID) == 1


def test_installation_token_is_renewed_five_minutes_before_expiry(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    first = github_app.installation_token(INSTALLATION_ID)
    github_standin.clock.advance(54 * 60)  # 6 minutes left: still good
    assert github_app.installation_token(INSTALLATION_ID) == first
    github_standin.clock.advance(2 * 60)  # 4 minutes left: renew
    renewed = github_app.installation_token(INSTALLATION_ID)
    assert renewed.token != first.token
    assert renewed.expires_at > first.expires_at
    assert github_standin.tokens_issued(INSTALLATION_ID) == 2


def test_invalidate_forces_a_new_token(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    first = github_app.installation_token(INSTALLATION_ID)
    github_app.invalidate(INSTALLATION_ID)
    assert github_app.installation_token(INSTALLATION_ID).token != first.token


def test_concurrent_callers_share_one_token(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    results: list[InstallationToken] = []
    threads = [threading.Thread(target=lambda: results.append(github_app.installation_token(INSTALLATION_ID)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.token for r in results}) == 1
    assert github_standin.tokens_issued(INSTALLATION_ID) == 1


def test_token_expired_server_side_mid_run_is_renewed(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "pending", description="Building")
    github_standin.expire_tokens(INSTALLATION_ID)  # GitHub says expired; the client's cache does not know
    github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "success", description="Deployed")
    assert [s["state"] for s in github_standin.statuses(REPO, SHA)] == ["pending", "success"]
    assert github_standin.tokens_issued(INSTALLATION_ID) == 2
    assert [status for _, path, status in github_standin.requests if "/statuses/" in path] == [201, 401, 201]


def test_unknown_installation_is_an_error(github_app: GitHubApp) -> None:
    with pytest.raises(GitHubError) as err:
        github_app.installation_token(999)
    assert err.value.status == 404


# -- retries -----------------------------------------------------------------------

def test_retries_on_bad_gateway_with_backoff(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_app.installation_token(INSTALLATION_ID)
    github_standin.fail_next(502, times=2, path_prefix="/repos/")
    github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "pending")
    assert sleeps == [1.0, 2.0]
    assert [s for _, p, s in github_standin.requests if p.startswith("/repos/")] == [502, 502, 201]
    assert len(github_standin.statuses(REPO)) == 1


def test_retries_are_bounded(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_app.installation_token(INSTALLATION_ID)
    github_standin.fail_next(503, times=10, path_prefix="/repos/")
    with pytest.raises(GitHubError) as err:
        github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "pending")
    assert err.value.status == 503
    assert len(sleeps) == 3  # 4 attempts
    assert len([p for _, p, _ in github_standin.requests if p.startswith("/repos/")]) == 4
    assert github_standin.statuses() == []


def test_secondary_rate_limit_waits_retry_after(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_standin.fail_next(403, headers={"retry-after": "7"}, message="You have exceeded a secondary rate limit.")
    assert github_app.get_app()["id"] == github_standin.app_id
    assert sleeps == [7.0]


def test_rate_limit_waits_until_reset(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    reset = int(github_standin.clock()) + 30
    github_standin.fail_next(429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
                             message="API rate limit exceeded")
    github_app.get_app()
    assert len(sleeps) == 1 and 30 <= sleeps[0] <= 32


def test_rate_limit_longer_than_max_wait_fails_fast(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_standin.fail_next(403, headers={"retry-after": "3600"}, message="You have exceeded a secondary rate limit.")
    with pytest.raises(GitHubError) as err:
        github_app.get_app()
    assert err.value.status == 403
    assert "secondary rate limit" in str(err.value)
    assert sleeps == []


def test_permission_403_is_not_retried(github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_standin.add_installation(2002, "no-statuses", ["no-statuses/app"], permissions={"metadata": "read"})
    client = GitHubApp(github_standin.credentials(), sleep=sleeps.append, clock=github_standin.clock)
    with pytest.raises(GitHubError) as err:
        client.create_commit_status(2002, "no-statuses/app", SHA, "pending")
    assert err.value.status == 403
    assert err.value.message == "Resource not accessible by integration"
    assert sleeps == []


def test_unreachable_github_is_a_github_error(sleeps: list[float]) -> None:
    from tests.github.standin import app_private_key_pem

    client = GitHubApp(AppCredentials(1, app_private_key_pem(), "http://127.0.0.1:9"), sleep=sleeps.append)
    with pytest.raises(GitHubError) as err:
        client.get_app()
    assert err.value.status is None
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert len(sleeps) == 3


# -- errors never carry tokens ----------------------------------------------------------

def test_github_error_never_contains_the_token(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    token = github_app.installation_token(INSTALLATION_ID).token
    # A GitHub message that echoes the token back must still not leak it.
    github_standin.fail_next(422, message=f"token {token} is not allowed here", path_prefix="/repos/")
    with pytest.raises(GitHubError) as err:
        github_app.create_issue_comment(INSTALLATION_ID, REPO, 1, "hi")
    error = err.value
    assert error.status == 422
    texts = [str(error), repr(error), error.message, *map(str, error.args)]
    assert all(token not in t for t in texts)
    assert all(token[4:] not in t for t in texts)
    assert "[redacted]" in error.message


def test_github_error_carries_githubs_message(github_app: GitHubApp) -> None:
    with pytest.raises(GitHubError) as err:
        github_app.create_commit_status(INSTALLATION_ID, "octo-org/not-granted", SHA, "pending")
    assert err.value.status == 404
    assert err.value.message == "Not Found"
    assert err.value.request_id


# -- round trips ----------------------------------------------------------------------

def test_commit_status_round_trip_truncates_description(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    long = "x" * 300
    result = github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "failure", "https://slipway.example/d/1", long)
    [recorded] = github_standin.statuses(REPO, SHA)
    assert recorded["state"] == "failure"
    assert recorded["context"] == "slipway"
    assert recorded["target_url"] == "https://slipway.example/d/1"
    assert len(recorded["description"]) == 140 and recorded["description"].endswith("\u2026")
    assert result["id"] == recorded["id"]


def test_commit_status_state_is_checked_before_sending(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    with pytest.raises(ValueError):
        github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "done")
    with pytest.raises(ValueError):
        github_app.create_commit_status(INSTALLATION_ID, "no-slash", SHA, "pending")
    assert github_standin.requests == []


def test_deployment_round_trip_despite_pending_status(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    # Slipway's own status is pending while it deploys; required_contexts=[] keeps GitHub from refusing.
    github_app.create_commit_status(INSTALLATION_ID, REPO, SHA, "pending", description="Deploying")
    deployment = github_app.create_deployment(
        INSTALLATION_ID, REPO, SHA, "preview/pr-7", "Preview of #7",
        transient_environment=True, production_environment=False,
    )
    github_app.create_deployment_status(INSTALLATION_ID, REPO, deployment["id"], "in_progress", log_url="https://slipway.example/d/1")
    github_app.create_deployment_status(
        INSTALLATION_ID, REPO, deployment["id"], "success", environment_url="https://pr-7.slipway.example",
        log_url="https://slipway.example/d/1", description="y" * 200,
    )
    [recorded] = github_standin.deployments(REPO)
    assert recorded["environment"] == "preview/pr-7"
    assert recorded["sha"] == SHA and recorded["transient_environment"] is True
    assert recorded["production_environment"] is False
    states = github_standin.deployment_statuses(deployment["id"])
    assert [s["state"] for s in states] == ["in_progress", "success"]
    assert states[1]["environment_url"] == "https://pr-7.slipway.example"
    assert states[1]["log_url"] == "https://slipway.example/d/1"
    assert len(states[1]["description"]) == 140
    [call] = [c for c in github_standin.calls if c.path.endswith("/deployments")]
    assert call.body["auto_merge"] is False and call.body["required_contexts"] == []


def test_comment_round_trip(github_app: GitHubApp, github_standin: GitHubStandIn) -> None:
    created = github_app.create_issue_comment(INSTALLATION_ID, REPO, 7, "Deploying preview...")
    github_app.update_issue_comment(INSTALLATION_ID, REPO, created["id"], "Preview ready: https://pr-7.slipway.example")
    [comment] = github_standin.comments(REPO, 7)
    assert comment["id"] == created["id"]
    assert comment["body"] == "Preview ready: https://pr-7.slipway.example"


def test_list_installation_repositories_follows_pages(github_standin: GitHubStandIn, github_app: GitHubApp) -> None:
    names = [f"big-org/repo-{i}" for i in range(150)]
    github_standin.add_installation(3003, "big-org", names)
    repos = github_app.list_installation_repositories(3003)
    assert [r["full_name"] for r in repos] == names
    assert len([p for _, p, _ in github_standin.requests if p == "/installation/repositories"]) == 2


def test_app_manifest_conversion(github_standin: GitHubStandIn, github_app: GitHubApp) -> None:
    code = github_standin.add_manifest_code()
    registration = github_app.convert_app_manifest(code)
    assert registration.app_id == github_standin.app_id
    assert (registration.slug, registration.name) == (github_standin.slug, github_standin.slug)
    assert registration.pem not in repr(registration) and registration.client_secret not in repr(registration)
    # The credentials it returns work as an App.
    fresh = GitHubApp(registration.credentials(github_standin.url), clock=github_standin.clock)
    assert fresh.get_app()["id"] == github_standin.app_id
    with pytest.raises(GitHubError) as err:  # a code works once
        github_app.convert_app_manifest(code)
    assert err.value.status == 404


# -- cloning without writing the token anywhere -----------------------------------------------

def _git(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_git_auth_env_is_scoped_to_the_host() -> None:
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
           **git_auth_env("ghs_secret", "https://github.com", environ={})}
    got = _git("config", "--get-urlmatch", "http.extraheader", "https://github.com/octo-org/hello.git", env=env)
    assert got.stdout.strip() == "AUTHORIZATION: basic " + "eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA=="
    assert b64decode(got.stdout.split()[-1]) == b"x-access-token:ghs_secret"
    other = _git("config", "--get-urlmatch", "http.extraheader", "https://gitlab.com/x/y.git", env=env)
    assert other.returncode == 1 and other.stdout == ""


def test_git_auth_env_appends_to_existing_git_config_env() -> None:
    env = git_auth_env("ghs_x", environ={"GIT_CONFIG_COUNT": "2"})
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_2"] == "http.https://github.com/.extraheader"


class _RecordAuth(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_clone_sends_the_token_and_leaves_none_on_disk(tmp_path: Path, github_app: GitHubApp) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clone_url = f"http://127.0.0.1:{server.server_port}/octo-org/hello.git"
        token = github_app.installation_token(INSTALLATION_ID).token
        env = {**os.environ, "HOME": str(tmp_path), **github_app.git_env(INSTALLATION_ID, clone_url)}
        work = tmp_path / "work"
        work.mkdir()
        _git("init", "-q", "repo", env=env, cwd=work)
        # fetch (not clone) so the repository directory survives for inspection
        _git("-C", "repo", "fetch", clone_url, env=env, cwd=work)
        assert _RecordAuth.seen and all(b64decode(h.split()[-1]).decode() == f"x-access-token:{token}" for h in _RecordAuth.seen)
        leaked = [p for p in tmp_path.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
        assert leaked == []
    finally:
        server.shutdown()
        server.server_close()


# -- webhook signatures ---------------------------------------------------------------

def test_webhook_signature_accepts_githubs_signature() -> None:
    body, headers = webhook_delivery("push", webhook_example("push"), "s3cret")
    assert verify_webhook_signature("s3cret", body, headers["X-Hub-Signature-256"])


@pytest.mark.parametrize("case", ["wrong-secret", "tampered-body", "missing", "empty", "sha1", "no-prefix", "non-ascii"])
def test_webhook_signature_rejects(case: str) -> None:
    body, headers = webhook_delivery("ping", webhook_example("ping"), "s3cret")
    good = headers["X-Hub-Signature-256"]
    secret, header = "s3cret", good
    if case == "wrong-secret":
        secret = "other"
    elif case == "tampered-body":
        body = body.replace(b"zen", b"Zen")
    elif case == "missing":
        header = None
    elif case == "empty":
        header = ""
    elif case == "sha1":
        header = headers["X-Hub-Signature"]
    elif case == "no-prefix":
        header = good.removeprefix("sha256=")
    elif case == "non-ascii":
        header = "sha256=" + "\u00e9" * 64
    assert verify_webhook_signature(secret, body, header) is False


def test_webhook_signature_requires_a_secret() -> None:
    body = b"{}"
    header = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
    assert verify_webhook_signature("", body, header) is False



def test_errors_scrub_anything_shaped_like_a_credential(github_app: GitHubApp) -> None:
    app_jwt = github_app.app_jwt()
    token = "ghs_" + "A1b2" * 9
    error = GitHubError(401, f"bad {app_jwt} and {token} and github_pat_11ABCDEFG0123456789_abcdef")
    assert app_jwt not in str(error) and token not in str(error) and "github_pat_" not in str(error)
    assert str(error).count("[redacted]") == 3


def test_server_error_honours_retry_after(github_app: GitHubApp, github_standin: GitHubStandIn, sleeps: list[float]) -> None:
    github_standin.fail_next(503, headers={"retry-after": "5"})
    github_app.get_app()
    assert sleeps == [5.0]


def test_git_env_scopes_to_the_clone_host_without_url_credentials(github_app: GitHubApp) -> None:
    env = github_app.git_env(INSTALLATION_ID, "https://someone@github.com/octo-org/hello.git")
    index = int(env["GIT_CONFIG_COUNT"]) - 1
    assert env[f"GIT_CONFIG_KEY_{index}"] == "http.https://github.com/.extraheader"
