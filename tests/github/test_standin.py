"""The stand-in is strict: it refuses what GitHub refuses, so passing tests against it mean something."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.github.examples import webhook_delivery, webhook_example, webhook_examples
from tests.github.standin import GitHubStandIn
from tests.support.github import INSTALLATION_ID, REPO

pytestmark = pytest.mark.oracle

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "test"}


@functools.cache
def other_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def app_jwt(standin: GitHubStandIn, key: str | None = None, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(standin.clock())
    payload = {"iat": now - 60, "exp": now + 540, "iss": str(standin.app_id), **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key or standin.private_key_pem, algorithm=algorithm)


def call(standin: GitHubStandIn, method: str, path: str, auth: str | None = None, body: Any = None,
         headers: dict[str, str] | None = None) -> requests.Response:
    sent = dict(HEADERS if headers is None else headers)
    if auth:
        sent["Authorization"] = auth
    return requests.request(method, standin.url + path, headers=sent, json=body, timeout=10)


def new_token(standin: GitHubStandIn, installation_id: int = INSTALLATION_ID, body: Any = None) -> str:
    resp = call(standin, "POST", f"/app/installations/{installation_id}/access_tokens", f"Bearer {app_jwt(standin)}", body)
    assert resp.status_code == 201, resp.text
    return resp.json()["token"]


def status(standin: GitHubStandIn, token: str, body: Any, repo: str = REPO, sha: str = SHA) -> requests.Response:
    return call(standin, "POST", f"/repos/{repo}/statuses/{sha}", f"token {token}", body)


# -- the App JWT ------------------------------------------------------------------------

def test_valid_jwt_is_accepted(github_standin: GitHubStandIn) -> None:
    resp = call(github_standin, "GET", "/app", f"Bearer {app_jwt(github_standin)}")
    assert resp.status_code == 200
    assert resp.json()["id"] == github_standin.app_id


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["exp"] += 1
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda s: _tamper(app_jwt(s)), "A JSON web token could not be decoded"),
        (lambda s: app_jwt(s, key=other_key_pem()), "A JSON web token could not be decoded"),
        (lambda s: app_jwt(s, key="an-hmac-secret-that-is-32-bytes-long!", algorithm="HS256"), "A JSON web token could not be decoded"),
        (lambda s: "not.a.jwt", "A JSON web token could not be decoded"),
        (lambda s: app_jwt(s, iss=str(s.app_id + 1)), "A JSON web token could not be decoded"),
        (lambda s: app_jwt(s, iss="slipway"), "'Issuer' claim ('iss') must be an Integer"),
        (lambda s: app_jwt(s, iat=int(s.clock()) - 700, exp=int(s.clock()) - 100),
         "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"),
        (lambda s: app_jwt(s, iat=int(s.clock()) + 120, exp=int(s.clock()) + 500),
         "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"),
        (lambda s: app_jwt(s, iat=int(s.clock()), exp=int(s.clock()) + 660),
         "'Expiration time' claim ('exp') is too far in the future"),
        (lambda s: app_jwt(s, iat=int(s.clock()) - 300, exp=int(s.clock()) + 400),
         "'Expiration time' claim ('exp') is too far in the future"),
    ],
    ids=["tampered", "other-key", "hs256", "garbage", "other-app", "iss-not-integer", "expired", "iat-future",
         "exp-too-far", "lifetime-over-10-min"],
)
def test_bad_jwt_is_refused(github_standin: GitHubStandIn, make: Any, message: str) -> None:
    resp = call(github_standin, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", f"Bearer {make(github_standin)}")
    assert resp.status_code == 401
    assert resp.json()["message"] == message
    assert github_standin.tokens == {}


def test_jwt_goes_stale_as_time_passes(github_standin: GitHubStandIn) -> None:
    token = app_jwt(github_standin)
    github_standin.clock.advance(541)
    assert call(github_standin, "GET", "/app", f"Bearer {token}").status_code == 401


def test_installation_token_is_not_a_jwt(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    resp = call(github_standin, "GET", "/app", f"Bearer {token}")
    assert resp.status_code == 401


# -- installation tokens ------------------------------------------------------------------

def test_unknown_installation_is_404(github_standin: GitHubStandIn) -> None:
    resp = call(github_standin, "POST", "/app/installations/424242/access_tokens", f"Bearer {app_jwt(github_standin)}")
    assert resp.status_code == 404
    assert resp.json()["message"] == "Not Found"


def test_tokens_look_like_githubs(github_standin: GitHubStandIn) -> None:
    resp = call(github_standin, "POST", f"/app/installations/{INSTALLATION_ID}/access_tokens", f"Bearer {app_jwt(github_standin)}")
    data = resp.json()
    assert data["token"].startswith("ghs_") and len(data["token"]) == 40
    assert data["expires_at"].endswith("Z")


def test_token_of_another_installation_cannot_reach_the_repo(github_standin: GitHubStandIn) -> None:
    github_standin.add_installation(2002, "other-org", ["other-org/app"])
    other = new_token(github_standin, 2002)
    resp = status(github_standin, other, {"state": "success"})
    assert resp.status_code == 404
    assert status(github_standin, other, {"state": "success"}, repo="other-org/app").status_code == 201
    assert [s["_repo"] for s in github_standin.statuses()] == ["other-org/app"]


def test_repository_not_granted_is_404(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    assert status(github_standin, token, {"state": "success"}, repo="octo-org/secret").status_code == 404


def test_token_scoped_to_some_repositories(github_standin: GitHubStandIn) -> None:
    github_standin.add_installation(2002, "wide-org", ["wide-org/a", "wide-org/b"])
    token = new_token(github_standin, 2002, {"repositories": ["a"]})
    assert status(github_standin, token, {"state": "success"}, repo="wide-org/a").status_code == 201
    assert status(github_standin, token, {"state": "success"}, repo="wide-org/b").status_code == 404
    resp = call(github_standin, "POST", "/app/installations/2002/access_tokens", f"Bearer {app_jwt(github_standin)}",
                {"repositories": ["not-there"]})
    assert resp.status_code == 422


@pytest.mark.parametrize("how", ["expire_tokens", "clock"])
def test_expired_token_is_bad_credentials(github_standin: GitHubStandIn, how: str) -> None:
    token = new_token(github_standin)
    if how == "expire_tokens":
        github_standin.expire_tokens(INSTALLATION_ID)
    else:
        github_standin.clock.advance(3601)
    resp = status(github_standin, token, {"state": "success"})
    assert resp.status_code == 401
    assert resp.json()["message"] == "Bad credentials"
    assert github_standin.statuses() == []


def test_made_up_or_missing_token_is_refused(github_standin: GitHubStandIn) -> None:
    assert status(github_standin, "ghs_" + "a" * 36, {"state": "success"}).json()["message"] == "Bad credentials"
    resp = call(github_standin, "POST", f"/repos/{REPO}/statuses/{SHA}", None, {"state": "success"})
    assert resp.status_code == 401


def test_missing_permission_is_403(github_standin: GitHubStandIn) -> None:
    github_standin.add_installation(2002, "ro-org", ["ro-org/app"], permissions={"metadata": "read", "statuses": "read"})
    token = new_token(github_standin, 2002)
    resp = status(github_standin, token, {"state": "success"}, repo="ro-org/app")
    assert resp.status_code == 403
    assert resp.json()["message"] == "Resource not accessible by integration"


# -- request bodies -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "done"}, "state"),
        ({"state": "SUCCESS"}, "state"),
        ({}, None),
        ({"state": "success", "description": "d" * 141}, "description"),
        ({"state": "success", "context": 5}, "context"),
        ({"state": "success", "contxt": "slipway"}, "contxt"),
    ],
    ids=["unknown-state", "upper-case-state", "no-state", "description-141", "context-not-string", "unknown-field"],
)
def test_invalid_status_is_422(github_standin: GitHubStandIn, body: dict[str, Any], field: str | None) -> None:
    token = new_token(github_standin)
    resp = status(github_standin, token, body)
    assert resp.status_code == 422
    data = resp.json()
    assert data["message"] == "Validation Failed"
    assert field is None or any(e.get("field") == field for e in data["errors"])
    assert github_standin.statuses() == []


def test_status_description_of_140_is_fine(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    assert status(github_standin, token, {"state": "error", "description": "d" * 140}).status_code == 201


def test_status_for_a_non_commit_is_422(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    assert status(github_standin, token, {"state": "success"}, sha="not-a-sha").status_code == 422


def test_broken_json_is_400(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    resp = requests.post(f"{github_standin.url}/repos/{REPO}/statuses/{SHA}", data=b"{nope",
                         headers={**HEADERS, "Authorization": f"token {token}"}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["message"] == "Problems parsing JSON"


def test_invalid_deployment_status_state_is_422(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    deployment = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}",
                      {"ref": SHA, "environment": "production", "required_contexts": []}).json()
    resp = call(github_standin, "POST", f"/repos/{REPO}/deployments/{deployment['id']}/statuses", f"token {token}",
                {"state": "deployed"})
    assert resp.status_code == 422
    assert github_standin.deployment_statuses() == []


def test_deployment_is_blocked_by_pending_status_unless_contexts_are_empty(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    status(github_standin, token, {"state": "pending", "context": "slipway"})
    blocked = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}", {"ref": SHA})
    assert blocked.status_code == 409
    assert blocked.json()["message"].startswith("Conflict: Commit status checks failed")
    allowed = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}", {"ref": SHA, "required_contexts": []})
    assert allowed.status_code == 201


def test_deployment_of_unknown_ref_is_422(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    resp = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}", {"ref": "no-such-branch", "required_contexts": []})
    assert resp.status_code == 422
    github_standin.repo(REPO).branches["main"] = SHA
    resp = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}", {"ref": "main", "required_contexts": []})
    assert resp.status_code == 201 and resp.json()["sha"] == SHA


def test_status_of_a_deployment_in_another_repo_is_404(github_standin: GitHubStandIn) -> None:
    github_standin.add_installation(INSTALLATION_ID, "octo-org", [REPO, "octo-org/other"])
    token = new_token(github_standin)
    deployment = call(github_standin, "POST", f"/repos/{REPO}/deployments", f"token {token}",
                      {"ref": SHA, "required_contexts": []}).json()
    path = f"/deployments/{deployment['id']}/statuses"
    assert call(github_standin, "POST", "/repos/octo-org/other" + path, f"token {token}", {"state": "success"}).status_code == 404
    assert call(github_standin, "POST", f"/repos/{REPO}/deployments/999999/statuses", f"token {token}",
                {"state": "success"}).status_code == 404


def test_editing_an_unknown_comment_is_404(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    assert call(github_standin, "PATCH", f"/repos/{REPO}/issues/comments/123456", f"token {token}", {"body": "x"}).status_code == 404
    assert call(github_standin, "POST", f"/repos/{REPO}/issues/3/comments", f"token {token}", {"text": "x"}).status_code == 422


# -- the rest of the HTTP surface -------------------------------------------------------------

def test_unknown_endpoints_and_methods_are_404(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    assert call(github_standin, "GET", f"/repos/{REPO}", f"token {token}").status_code == 404
    assert call(github_standin, "DELETE", f"/repos/{REPO}/deployments", f"token {token}").status_code == 404


def test_user_agent_is_required(github_standin: GitHubStandIn) -> None:
    resp = call(github_standin, "GET", "/app", f"Bearer {app_jwt(github_standin)}",
                headers={"Accept": "application/vnd.github+json", "User-Agent": ""})
    assert resp.status_code == 403


def test_unsupported_api_version_is_400(github_standin: GitHubStandIn) -> None:
    resp = call(github_standin, "GET", "/app", f"Bearer {app_jwt(github_standin)}", headers={**HEADERS, "X-GitHub-Api-Version": "2020-01-01"})
    assert resp.status_code == 400


def test_only_accepted_calls_are_recorded(github_standin: GitHubStandIn) -> None:
    token = new_token(github_standin)
    status(github_standin, token, {"state": "bogus"})
    status(github_standin, token, {"state": "success", "context": "slipway"})
    assert [(c.method, c.status, c.installation_id) for c in github_standin.calls] == [
        ("POST", 201, None),  # the access token, made with the JWT
        ("POST", 201, INSTALLATION_ID),
    ]
    assert github_standin.calls[-1].body == {"state": "success", "context": "slipway"}


def test_responses_are_checked_against_githubs_schema(github_standin: GitHubStandIn) -> None:
    # The stand-in's own answers go through the same validator; show it bites.
    assert github_standin._check_response("POST", "create_status", 201, {"id": "one", "state": "success"}) is False
    assert github_standin.errors and "does not match GitHub's schema" in github_standin.errors[0]
    github_standin.errors.clear()


# -- webhook examples ----------------------------------------------------------------------

@pytest.mark.parametrize("event", ["push", "pull_request", "installation", "installation_repositories", "ping"])
def test_webhook_examples_load(event: str) -> None:
    examples = webhook_examples(event)
    assert examples and all(isinstance(e, dict) for e in examples)


def test_webhook_examples_filter_by_action_and_are_copies() -> None:
    opened = webhook_examples("pull_request", "opened")
    assert opened and all(e["action"] == "opened" for e in opened)
    example = webhook_example("pull_request", "synchronize", with_installation=True)
    assert example["installation"]["id"] and example["pull_request"]["head"]["sha"]
    example["action"] = "changed"
    assert webhook_example("pull_request", "synchronize", with_installation=True)["action"] == "synchronize"
    with pytest.raises(LookupError):
        webhook_example("ping", "opened")


def test_webhook_delivery_is_signed_over_the_raw_body() -> None:
    payload = webhook_example("push")
    body, headers = webhook_delivery("push", payload, "s3cret")
    assert json.loads(body) == payload
    assert headers["X-GitHub-Event"] == "push"
    assert headers["X-Hub-Signature-256"].startswith("sha256=") and len(headers["X-Hub-Signature-256"]) == 71
