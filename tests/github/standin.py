"""A strict stand-in for api.github.com, serving only the endpoints Slipway calls.

It checks what GitHub checks (the App JWT, installation tokens and which repositories they
reach, App permissions) and validates every request body and every response it sends against
GitHub's own OpenAPI description (``@octokit/openapi``). Where GitHub silently ignores a
mistake that would be a bug in Slipway (an unknown body field), it is stricter and says 422.
Accepted calls are recorded for tests to assert on; its own mistakes land in ``errors``.

It also plays github.com's side of "Sign in with GitHub" (the App's OAuth web application flow,
docs: "Generating a user access token for a GitHub App" and "Troubleshooting OAuth app access
token request errors"), which the OpenAPI description does not cover: ``/login/oauth/authorize``
sends a signed-in browser back to a registered callback URL with a code and the state, and
``/login/oauth/access_token`` trades a code once, within ten minutes, for the client secret and
the same redirect_uri, answering errors as GitHub does (HTTP 200 with ``error``). Stricter than
GitHub: an authorize request without ``state`` or ``redirect_uri`` is refused (Slipway always
sends both).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from slipway.github.client import AppCredentials

OPENAPI_PATH = Path(__file__).parents[1] / "oracle/node_modules/@octokit/openapi/generated/api.github.com.json"
DOCS = "https://docs.github.com/rest"
API_VERSIONS = ("2022-11-28", "2026-03-10")
# How far in the future an App JWT's iat may be before it is refused (clock drift allowance).
JWT_SKEW_S = 30
JWT_MAX_LIFETIME_S = 600
TOKEN_LIFETIME_S = 3600
# The web flow's code lives ten minutes; a user access token eight hours, its refresh token six months.
OAUTH_CODE_LIFETIME_S = 600
USER_TOKEN_LIFETIME_S = 8 * 3600
REFRESH_TOKEN_LIFETIME_S = 15_811_200
OAUTH_ERRORS = {
    "incorrect_client_credentials": "The client_id and/or client_secret passed are incorrect.",
    "redirect_uri_mismatch": "The redirect_uri MUST match the registered callback URL for this application.",
    "bad_verification_code": "The code passed is incorrect or expired.",
    "bad_refresh_token": "The refresh token passed is incorrect or expired.",
}
SLIPWAY_PERMISSIONS = {"metadata": "read", "contents": "read", "statuses": "write", "deployments": "write",
                       "issues": "write", "pull_requests": "write"}


class Clock:
    """The stand-in's notion of now; tests share it with the client and move it forward."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


# -- GitHub's OpenAPI description ------------------------------------------------

_REF_BASE = "urn:github-openapi"


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema draft 4: absolute $refs, ``nullable`` as a null branch."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if isinstance(out.get("$ref"), str) and out["$ref"].startswith("#"):
        out["$ref"] = _REF_BASE + out["$ref"]
    if out.pop("nullable", False) is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


class OpenAPI:
    """The operations of api.github.com's description, with their validators."""

    def __init__(self, path: Path = OPENAPI_PATH):
        if not path.exists():
            raise FileNotFoundError(f"{path} missing: run scripts/test.sh (it runs npm ci in tests/oracle)")
        self.spec = json.loads(path.read_text())
        # Request/response schemas only ever $ref into components/schemas.
        components = {"components": {"schemas": _to_json_schema(self.spec["components"]["schemas"])}}
        self._registry = Registry().with_resource(_REF_BASE, DRAFT4.create_resource(components))

    def operation(self, method: str, template: str) -> dict[str, Any]:
        return self.spec["paths"][template][method.lower()]

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = functools.reduce(lambda n, key: n[key], node["$ref"].lstrip("#/").split("/"), self.spec)
        return node

    @functools.cache
    def request_schema(self, method: str, template: str) -> dict[str, Any] | None:
        body = self.operation(method, template).get("requestBody")
        if not body:
            return None
        return self._resolve(body)["content"]["application/json"]["schema"]

    @functools.cache
    def request_validator(self, method: str, template: str) -> Draft4Validator | None:
        schema = self.request_schema(method, template)
        return None if schema is None else Draft4Validator(_to_json_schema(schema), registry=self._registry)

    @functools.cache
    def response_validator(self, method: str, template: str, status: int) -> Draft4Validator | None:
        response = self.operation(method, template)["responses"].get(str(status))
        if response is None:
            return None
        content = self._resolve(response).get("content", {}).get("application/json")
        if content is None:
            return None
        return Draft4Validator(_to_json_schema(content["schema"]), registry=self._registry)

    def declared_statuses(self, method: str, template: str) -> set[int]:
        return {int(code) for code in self.operation(method, template)["responses"]}

    def example(self, name: str) -> Any:
        return copy.deepcopy(self.spec["components"]["examples"][name]["value"])


@functools.cache
def openapi() -> OpenAPI:
    """Loaded once per test process (13 MB of JSON)."""
    return OpenAPI()


@functools.cache
def app_private_key_pem() -> str:
    """One RSA key per test process; generating one per test would be slow."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# -- the world the stand-in knows --------------------------------------------------

@dataclass
class Repo:
    id: int
    full_name: str
    private: bool = True
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/")[1]


@dataclass
class Installation:
    id: int
    account: str
    repos: dict[str, Repo]  # lower-cased full name -> repo
    permissions: dict[str, str] = field(default_factory=lambda: dict(SLIPWAY_PERMISSIONS))


@dataclass
class IssuedToken:
    token: str
    installation_id: int
    expires_at: float
    repos: set[str] | None  # None: every repository of the installation


@dataclass
class User:
    """Someone on GitHub, with their access to repositories (full name -> admin/maintain/push/triage/pull)."""

    id: int
    login: str
    name: str | None
    access: dict[str, str]  # lower-cased full name -> permission
    browser_cookie: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class OAuthCode:
    user: User
    redirect_uri: str
    issued_at: float


@dataclass
class UserToken:
    token: str
    user: User
    expires_at: float


_PERMISSION_LEVELS = ("pull", "triage", "push", "maintain", "admin")


def _permissions(level: str) -> dict[str, bool]:
    rank = _PERMISSION_LEVELS.index(level)
    return {name: i <= rank for i, name in enumerate(_PERMISSION_LEVELS)}


@dataclass
class Call:
    """One accepted request: what Slipway sent and what it got."""

    method: str
    path: str
    body: Any
    status: int
    response: Any
    installation_id: int | None = None


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    path_prefix: str


class Reply(Exception):
    """Raised inside handlers to answer at once (GitHub's error bodies)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors:
            body["errors"] = errors
        self.status, self.body, self.headers = status, body, headers or {}


def _not_found() -> Reply:
    return Reply(404, "Not Found")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_SHA = re.compile(r"^[0-9a-f]{40}$")

# endpoint -> (method, OpenAPI path, auth kind)
ROUTES: dict[str, tuple[str, str, str]] = {
    "get_app": ("GET", "/app", "jwt"),
    "create_token": ("POST", "/app/installations/{installation_id}/access_tokens", "jwt"),
    "convert_manifest": ("POST", "/app-manifests/{code}/conversions", "none"),
    "list_repos": ("GET", "/installation/repositories", "token"),
    "create_status": ("POST", "/repos/{owner}/{repo}/statuses/{sha}", "token"),
    "create_deployment": ("POST", "/repos/{owner}/{repo}/deployments", "token"),
    "create_deployment_status": ("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "token"),
    "create_comment": ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "token"),
    "update_comment": ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "token"),
    "get_user": ("GET", "/user", "user"),
    "user_installations": ("GET", "/user/installations", "user"),
    "user_installation_repos": ("GET", "/user/installations/{installation_id}/repositories", "user"),
}
_URLS = Map([
    Rule(re.sub(r"\{(\w+_id|issue_number)\}", r"<int:\1>", re.sub(r"\{(owner|repo|sha|code)\}", r"<\1>", path)),
         methods=[method], endpoint=endpoint)
    for endpoint, (method, path, _) in ROUTES.items()
])
# Which App permission each repository endpoint needs (any one of them).
PERMISSIONS = {
    "create_status": ("statuses",),
    "create_deployment": ("deployments",),
    "create_deployment_status": ("deployments",),
    "create_comment": ("issues", "pull_requests"),
    "update_comment": ("issues", "pull_requests"),
}
# GitHub's resource name in 422 errors.
RESOURCES = {"create_token": "Installation", "create_status": "Status", "create_deployment": "Deployment",
             "create_deployment_status": "DeploymentStatus", "create_comment": "IssueComment",
             "update_comment": "IssueComment"}


class GitHubStandIn:
    """api.github.com for one GitHub App, on 127.0.0.1; use as a context manager."""

    def __init__(self, app_id: int = 4242, slug: str = "slipway-test", clock: Clock | None = None):
        self.app_id = app_id
        self.slug = slug
        self.client_id = f"Iv23li{app_id:014d}"
        self.private_key_pem = app_private_key_pem()
        self._public_key = serialization.load_pem_private_key(self.private_key_pem.encode(), None).public_key()
        self.clock = clock or Clock()
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.calls: list[Call] = []
        self.requests: list[tuple[str, str, int]] = []  # every request, accepted or not
        self.errors: list[str] = []  # the stand-in's own bugs: a response GitHub would never send
        self._manifest_codes: set[str] = set()
        self.client_secret = secrets.token_hex(20)
        self.callback_urls: list[str] = []  # the App's registered callback URLs (tests set them)
        self.users: dict[str, User] = {}
        self._oauth_codes: dict[str, OAuthCode] = {}
        self.user_tokens: dict[str, UserToken] = {}
        self._refresh_tokens: dict[str, UserToken] = {}
        self.oauth_requests: list[tuple[str, str, int, str | None]] = []  # path, status, error
        self._failures: list[_Failure] = []
        self._statuses: list[dict[str, Any]] = []
        self._deployments: dict[int, dict[str, Any]] = {}
        self._deployment_statuses: list[dict[str, Any]] = []
        self._comments: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.api = openapi()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "GitHubStandIn":
        self._server = make_server("127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="github-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "GitHubStandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def credentials(self) -> AppCredentials:
        return AppCredentials(self.app_id, self.private_key_pem, self.url)

    # -- arranging the world (tests) -------------------------------------------
    def add_installation(self, installation_id: int, account: str, repositories: list[str] | None = None,
                         permissions: dict[str, str] | None = None) -> Installation:
        names = repositories if repositories is not None else [f"{account}/hello"]
        repos = {name.lower(): Repo(next(self._ids), name) for name in names}
        installation = Installation(installation_id, account, repos,
                                    dict(permissions) if permissions is not None else dict(SLIPWAY_PERMISSIONS))
        self.installations[installation_id] = installation
        return installation

    def add_user(self, login: str, access: dict[str, str] | None = None, name: str | None = None) -> User:
        """Someone who can sign in; ``access``: repository full name -> pull/triage/push/maintain/admin."""
        user = User(next(self._ids), login, name, {k.lower(): v for k, v in (access or {}).items()})
        self.users[login.lower()] = user
        return user

    def expire_user_tokens(self) -> None:
        with self._lock:
            for issued in self.user_tokens.values():
                issued.expires_at = self.clock() - 1

    def repo(self, full_name: str) -> Repo:
        for installation in self.installations.values():
            if full_name.lower() in installation.repos:
                return installation.repos[full_name.lower()]
        raise KeyError(full_name)

    def add_manifest_code(self) -> str:
        code = secrets.token_hex(10)
        self._manifest_codes.add(code)
        return code

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Make GitHub consider the installation's tokens expired (the client does not know)."""
        with self._lock:
            for issued in self.tokens.values():
                if installation_id is None or issued.installation_id == installation_id:
                    issued.expires_at = self.clock() - 1

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None,
                  message: str = "Server Error", path_prefix: str = "/") -> None:
        """Answer the next ``times`` requests under ``path_prefix`` with this error instead."""
        for _ in range(times):
            self._failures.append(_Failure(status, headers or {}, {"message": message, "documentation_url": DOCS},
                                           path_prefix))

    def tokens_issued(self, installation_id: int) -> int:
        return sum(1 for issued in self.tokens.values() if issued.installation_id == installation_id)

    # -- what happened (tests) -------------------------------------------------
    def statuses(self, repo: str | None = None, sha: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self._statuses if (repo is None or s["_repo"] == repo.lower()) and (sha is None or s["_sha"] == sha)]

    def deployments(self, repo: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self._deployments.values() if repo is None or d["_repo"] == repo.lower()]

    def deployment_statuses(self, deployment_id: int | None = None) -> list[dict[str, Any]]:
        return [s for s in self._deployment_statuses if deployment_id is None or s["_deployment_id"] == deployment_id]

    def comments(self, repo: str | None = None, issue_number: int | None = None) -> list[dict[str, Any]]:
        return [c for c in self._comments.values()
                if (repo is None or c["_repo"] == repo.lower()) and (issue_number is None or c["_issue"] == issue_number)]

    # -- WSGI ------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path.startswith("/login/oauth/"):
            with self._lock:
                response = self._oauth(request)
            return response(environ, start_response)
        with self._lock:
            status, body, headers = self._handle(request)
        self.requests.append((request.method, request.path, status))
        response = Response(json.dumps(public(body)), status=status, headers=headers,
                            content_type="application/json; charset=utf-8")
        response.headers["x-github-request-id"] = uuid.uuid4().hex[:20].upper()
        return response(environ, start_response)

    def _handle(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        endpoint: str | None = None
        try:
            try:
                endpoint, args = _URLS.bind_to_environ(request.environ).match()
            except HTTPException:
                raise _not_found() from None
            method, template, auth = ROUTES[endpoint]
            if not request.headers.get("User-Agent"):
                raise Reply(403, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
            version = request.headers.get("X-GitHub-Api-Version")
            if version is not None and version not in API_VERSIONS:
                raise Reply(400, f"API version {version} is not supported.")
            failure = next((f for f in self._failures if request.path.startswith(f.path_prefix)), None)
            if failure is not None:
                self._failures.remove(failure)
                return failure.status, failure.body, failure.headers
            installation, issued = None, None
            if auth == "jwt":
                self._check_app_jwt(request)
            elif auth == "token":
                issued = self._check_token(request)
                installation = self.installations[issued.installation_id]
            elif auth == "user":
                issued = self._check_user_token(request)
            body = self._request_body(request, endpoint)
            status, payload = getattr(self, "_" + endpoint)(body=body, installation=installation, issued=issued,
                                                             request=request, **args)
        except Reply as reply:
            status, payload, headers = reply.status, reply.body, reply.headers
            self._check_response(request.method, endpoint, status, payload)
            return status, payload, headers
        except Exception as exc:  # a bug here must fail the test, not look like GitHub's answer
            self.errors.append(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
            return 500, {"message": "stand-in error", "documentation_url": DOCS}, {}
        if not self._check_response(method, endpoint, status, payload):
            return 500, {"message": "stand-in produced an invalid response", "documentation_url": DOCS}, {}
        self.calls.append(Call(method, request.path, body, status, public(payload),
                               getattr(issued, "installation_id", None)))
        return status, payload, {}

    def _check_response(self, method: str, endpoint: str | None, status: int, payload: Any) -> bool:
        if endpoint is None:
            return True
        _, template, _ = ROUTES[endpoint]
        validator = self.api.response_validator(method, template, status)
        if validator is None:
            return True
        problems = [e.message for e in validator.iter_errors(public(payload))]
        if problems:
            self.errors.append(f"{method} {template} -> {status} does not match GitHub's schema: {problems[:3]}")
        return not problems

    # -- authentication --------------------------------------------------------
    def _check_app_jwt(self, request: Request) -> None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not value:
            raise Reply(401, "A JSON web token could not be decoded")
        undecodable = Reply(401, "A JSON web token could not be decoded")
        try:
            header = jwt.get_unverified_header(value)
            claims = jwt.decode(value, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise undecodable from None
        if scheme.lower() != "bearer" or header.get("alg") != "RS256":
            raise undecodable
        iss = claims.get("iss")
        if iss != self.client_id and not (isinstance(iss, int) or (isinstance(iss, str) and iss.isdigit())):
            raise Reply(401, "'Issuer' claim ('iss') must be an Integer")
        if iss != self.client_id and int(iss) != self.app_id:
            raise undecodable  # GitHub looks the key up by iss; another app's key does not verify
        try:
            jwt.decode(value, self._public_key, algorithms=["RS256"],
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_iss": False})
        except jwt.PyJWTError:
            raise undecodable from None
        now, iat, exp = self.clock(), claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or iat > now + JWT_SKEW_S:
            raise Reply(401, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
        if not isinstance(exp, int) or exp <= now:
            raise Reply(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
        if exp - iat > JWT_MAX_LIFETIME_S or exp > now + JWT_MAX_LIFETIME_S:
            raise Reply(401, "'Expiration time' claim ('exp') is too far in the future")

    def _check_token(self, request: Request) -> IssuedToken:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not value:
            raise Reply(401, "Requires authentication")
        issued = self.tokens.get(value) if scheme.lower() in ("token", "bearer") else None
        if issued is None or issued.expires_at <= self.clock():
            raise Reply(401, "Bad credentials")
        return issued

    def _check_user_token(self, request: Request) -> UserToken:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not value:
            raise Reply(401, "Requires authentication")
        issued = self.user_tokens.get(value) if scheme.lower() in ("token", "bearer") else None
        if issued is None or issued.expires_at <= self.clock():
            raise Reply(401, "Bad credentials")
        return issued

    # -- github.com: the OAuth web application flow ----------------------------------
    def _oauth(self, request: Request) -> Response:
        error: str | None = None
        if request.path == "/login/oauth/authorize" and request.method == "GET":
            status, response = self._authorize(request)
        elif request.path == "/login/oauth/access_token" and request.method == "POST":
            status, payload = self._access_token(request)
            error = payload.get("error")
            if request.accept_mimetypes.best == "application/json":
                response = Response(json.dumps(payload), status=status, content_type="application/json; charset=utf-8")
            else:  # GitHub's default answer is form-encoded
                from urllib.parse import urlencode

                response = Response(urlencode(payload), status=status, content_type="application/x-www-form-urlencoded")
        else:
            status, response = 404, Response("Not Found", status=404)
        self.oauth_requests.append((request.path, request.method, status, error))
        return response

    def _authorize(self, request: Request) -> tuple[int, Response]:
        """A browser arrives; if it carries a signed-in user's cookie, send it back with a code."""
        args = request.args
        if args.get("client_id") != self.client_id:
            return 404, Response("Not Found: no application has this client_id", status=404)
        redirect_uri, state = args.get("redirect_uri", ""), args.get("state", "")
        if not redirect_uri or redirect_uri not in self.callback_urls:
            # GitHub shows the user an error page, never redirects to an unregistered URL.
            return 400, Response("The redirect_uri is not associated with this application.", status=400)
        if not state:
            return 400, Response("Stand-in: an authorize request without state is refused (CSRF)", status=400)
        user = next((u for u in self.users.values() if u.browser_cookie == request.cookies.get("user_session")), None)
        if user is None:
            return 200, Response("GitHub sign-in page (no signed-in browser)", status=200)
        from urllib.parse import urlencode

        code = secrets.token_hex(10)
        self._oauth_codes[code] = OAuthCode(user, redirect_uri, self.clock())
        return 302, Response("", status=302, headers={"Location": f"{redirect_uri}?{urlencode({'code': code, 'state': state})}"})

    def _access_token(self, request: Request) -> tuple[int, dict[str, Any]]:
        form = request.form
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 200, self._oauth_error("incorrect_client_credentials")
        if form.get("grant_type") == "refresh_token":
            old = self._refresh_tokens.pop(form.get("refresh_token", ""), None)
            if old is None or old.expires_at <= self.clock():
                return 200, self._oauth_error("bad_refresh_token")
            return 200, self._issue_user_token(old.user)
        code = self._oauth_codes.get(form.get("code", ""))
        if code is not None and form.get("redirect_uri") and form["redirect_uri"] != code.redirect_uri:
            return 200, self._oauth_error("redirect_uri_mismatch")
        if code is None or code.issued_at + OAUTH_CODE_LIFETIME_S <= self.clock():
            return 200, self._oauth_error("bad_verification_code")
        del self._oauth_codes[form["code"]]  # a code works once
        return 200, self._issue_user_token(code.user)

    def _oauth_error(self, error: str) -> dict[str, Any]:
        return {"error": error, "error_description": OAUTH_ERRORS[error],
                "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"}

    def _issue_user_token(self, user: User) -> dict[str, Any]:
        token = "ghu_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
        refresh = "ghr_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(76))
        now = self.clock()
        self.user_tokens[token] = UserToken(token, user, now + USER_TOKEN_LIFETIME_S)
        self._refresh_tokens[refresh] = UserToken(refresh, user, now + REFRESH_TOKEN_LIFETIME_S)
        return {"access_token": token, "expires_in": USER_TOKEN_LIFETIME_S, "refresh_token": refresh,
                "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_S, "scope": "", "token_type": "bearer"}

    # -- the user's token ------------------------------------------------------------
    def _user_repos(self, user: User, installation: Installation) -> list[tuple[Repo, str]]:
        return [(repo, user.access[key]) for key, repo in installation.repos.items() if key in user.access]

    def _get_user(self, issued: UserToken, **_: Any) -> tuple[int, Any]:
        data = self.api.example("private-user")
        data.update(id=issued.user.id, login=issued.user.login, name=issued.user.name)
        return 200, data

    def _page(self, request: Request, items: list[Any]) -> list[Any]:
        try:
            per_page = max(1, min(int(request.args.get("per_page", 30)), 100))
            page = int(request.args.get("page", 1))
        except ValueError:
            raise Reply(422, "Validation Failed", [{"resource": "Search", "code": "invalid", "field": "per_page"}]) from None
        return items[(page - 1) * per_page: page * per_page]

    def _user_installations(self, issued: UserToken, request: Request, **_: Any) -> tuple[int, Any]:
        reachable = [i for i in self.installations.values() if self._user_repos(issued.user, i)]
        out = []
        for installation in self._page(request, reachable):
            data = self.api.example("installation")
            data.update(id=installation.id, app_id=self.app_id, app_slug=self.slug, client_id=self.client_id,
                        permissions=dict(installation.permissions), repository_selection="selected")
            data["account"].update(login=installation.account)
            out.append(data)
        return 200, {"total_count": len(reachable), "installations": out}

    def _user_installation_repos(self, issued: UserToken, installation_id: int, request: Request,
                                 **_: Any) -> tuple[int, Any]:
        installation = self.installations.get(installation_id)
        repos = self._user_repos(issued.user, installation) if installation is not None else []
        if not repos:
            raise _not_found()
        out = []
        for repo, level in self._page(request, repos):
            data = self._repository(repo)
            data["permissions"] = _permissions(level)
            out.append(data)
        return 200, {"total_count": len(repos), "repositories": out, "repository_selection": "selected"}

    def _repo_for(self, issued: IssuedToken, owner: str, repo: str, endpoint: str) -> Repo:
        """The repository, if this token reaches it; 404 otherwise, as GitHub hides what you cannot see."""
        key = f"{owner}/{repo}".lower()
        installation = self.installations[issued.installation_id]
        if key not in installation.repos or (issued.repos is not None and key not in issued.repos):
            raise _not_found()
        needed = PERMISSIONS[endpoint]
        if not any(installation.permissions.get(p) == "write" for p in needed):
            raise Reply(403, "Resource not accessible by integration")
        return installation.repos[key]

    # -- request bodies ----------------------------------------------------------
    def _request_body(self, request: Request, endpoint: str) -> Any:
        method, template, _ = ROUTES[endpoint]
        schema = self.api.request_schema(method, template)
        raw = request.get_data()
        if schema is None:
            return None
        if not raw.strip():
            body: Any = {}
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                raise Reply(400, "Problems parsing JSON") from None
        resource = RESOURCES.get(endpoint, "Request")
        errors = [
            {"resource": resource, "field": "/".join(str(p) for p in e.absolute_path) or None, "code": "invalid",
             "message": e.message}
            for e in self.api.request_validator(method, template).iter_errors(body)
        ]
        if isinstance(body, dict) and "properties" in schema:
            # Stricter than GitHub, which ignores unknown fields: a typo here is a Slipway bug.
            errors += [{"resource": resource, "field": key, "code": "invalid", "message": f"{key} is not a known field"}
                       for key in body if key not in schema["properties"]]
        if errors:
            raise Reply(422, "Validation Failed", [{k: v for k, v in e.items() if v is not None} for e in errors])
        return body

    # -- handlers ------------------------------------------------------------------
    def _user(self) -> dict[str, Any]:
        user = self.api.example("status")["creator"]
        user.update(login=f"{self.slug}[bot]", id=self.app_id * 10, type="Bot",
                    html_url=f"https://github.com/apps/{self.slug}", url=f"https://api.github.com/users/{self.slug}%5Bbot%5D")
        return user

    def _app(self) -> dict[str, Any]:
        app = self.api.example("integration")
        app.update(id=self.app_id, slug=self.slug, client_id=self.client_id, name=self.slug,
                   html_url=f"https://github.com/apps/{self.slug}", permissions=dict(SLIPWAY_PERMISSIONS),
                   events=["push", "pull_request", "installation", "installation_repositories"])
        return app

    def _get_app(self, **_: Any) -> tuple[int, Any]:
        return 200, self._app()

    def _convert_manifest(self, code: str, **_: Any) -> tuple[int, Any]:
        if code not in self._manifest_codes:
            raise _not_found()
        self._manifest_codes.discard(code)  # a code works once, and GitHub expires it after an hour
        app = self._app()
        app.update(client_secret=self.client_secret, webhook_secret=secrets.token_hex(20), pem=self.private_key_pem)
        return 201, app

    def _create_token(self, installation_id: int, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        installation = self.installations.get(installation_id)
        if installation is None:
            raise _not_found()
        repos: set[str] | None = None
        if body.get("repositories"):
            repos = {f"{installation.account}/{name}".lower() for name in body["repositories"]}
            if not repos <= set(installation.repos):
                raise Reply(422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
        token = "ghs_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
        expires_at = self.clock() + TOKEN_LIFETIME_S
        self.tokens[token] = IssuedToken(token, installation_id, expires_at, repos)
        return 201, {"token": token, "expires_at": _iso(expires_at), "permissions": dict(installation.permissions),
                     "repository_selection": "selected"}

    def _repository(self, repo: Repo) -> dict[str, Any]:
        template = self.api.example("repository-paginated-2")["repositories"][0]
        data = json.loads(json.dumps(template).replace("octocat/Hello-World", repo.full_name))
        data.update(id=repo.id, name=repo.name, full_name=repo.full_name, private=repo.private,
                    default_branch=repo.default_branch)
        data["owner"].update(login=repo.owner)
        return data

    def _list_repos(self, installation: Installation, issued: IssuedToken, request: Request, **_: Any) -> tuple[int, Any]:
        try:
            per_page = int(request.args.get("per_page", 30))
            page = int(request.args.get("page", 1))
        except ValueError:
            raise Reply(422, "Validation Failed", [{"resource": "Repository", "code": "invalid", "field": "per_page"}]) from None
        per_page = max(1, min(per_page, 100))
        visible = [r for key, r in installation.repos.items() if issued.repos is None or key in issued.repos]
        chunk = visible[(page - 1) * per_page: page * per_page]
        return 200, {"total_count": len(visible), "repositories": [self._repository(r) for r in chunk],
                     "repository_selection": "selected"}

    def _resolve_sha(self, repo: Repo, ref: str) -> str | None:
        if _SHA.match(ref):
            return ref
        return repo.branches.get(ref.removeprefix("refs/heads/"))

    @staticmethod
    def _too_long(resource: str, text: str | None) -> None:
        if text is not None and len(text) > 140:
            raise Reply(422, "Validation Failed", [{"resource": resource, "code": "custom", "field": "description",
                                                   "message": "description is too long (maximum is 140 characters)"}])

    def _create_status(self, issued: IssuedToken, owner: str, repo: str, sha: str, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        target = self._repo_for(issued, owner, repo, "create_status")
        resolved = self._resolve_sha(target, sha)
        if resolved is None:
            raise Reply(422, f"No commit found for SHA: {sha}")
        self._too_long("Status", body.get("description"))
        status = self.api.example("status")
        now = _iso(self.clock())
        status_id = next(self._ids)
        status.update(id=status_id, state=body["state"], description=body.get("description"),
                      target_url=body.get("target_url"), context=body.get("context", "default"), created_at=now,
                      updated_at=now, creator=self._user(),
                      url=f"https://api.github.com/repos/{target.full_name}/statuses/{resolved}")
        self._statuses.append({**status, "_repo": target.full_name.lower(), "_sha": resolved})
        return 201, status

    def _create_deployment(self, issued: IssuedToken, owner: str, repo: str, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        target = self._repo_for(issued, owner, repo, "create_deployment")
        sha = self._resolve_sha(target, body["ref"])
        if sha is None:
            raise Reply(422, f"No ref found for: {body['ref']}")
        # GitHub checks commit statuses first; without required_contexts=[] a pending status blocks it.
        latest: dict[str, str] = {}
        for s in self.statuses(target.full_name, sha):
            latest[s["context"]] = s["state"]
        required = body.get("required_contexts", list(latest))
        failing = [{"context": c, "state": latest.get(c, "missing")} for c in required if latest.get(c) != "success"]
        if failing:
            raise Reply(409, f"Conflict: Commit status checks failed for {body['ref']}.",
                        [{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}])
        deployment = self.api.example("deployment")
        deployment_id = next(self._ids)
        now = _iso(self.clock())
        base = f"https://api.github.com/repos/{target.full_name}"
        environment = body.get("environment", "production")
        deployment.update(
            id=deployment_id, sha=sha, ref=body["ref"], task=body.get("task", "deploy"), payload=body.get("payload", {}),
            original_environment=environment, environment=environment, description=body.get("description", ""),
            creator=self._user(), created_at=now, updated_at=now, url=f"{base}/deployments/{deployment_id}",
            statuses_url=f"{base}/deployments/{deployment_id}/statuses", repository_url=base,
            transient_environment=body.get("transient_environment", False),
            production_environment=body.get("production_environment", environment == "production"),
            performed_via_github_app=self._app(),
        )
        self._deployments[deployment_id] = {**deployment, "_repo": target.full_name.lower()}
        return 201, deployment

    def _create_deployment_status(self, issued: IssuedToken, owner: str, repo: str, deployment_id: int,
                                  body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        target = self._repo_for(issued, owner, repo, "create_deployment_status")
        deployment = self._deployments.get(deployment_id)
        if deployment is None or deployment["_repo"] != target.full_name.lower():
            raise _not_found()
        self._too_long("DeploymentStatus", body.get("description"))
        status = self.api.example("deployment-status")
        now = _iso(self.clock())
        status_id = next(self._ids)
        log_url = body.get("log_url") or body.get("target_url") or ""
        status.update(
            id=status_id, state=body["state"], creator=self._user(), description=body.get("description", ""),
            environment=body.get("environment", deployment["environment"]), target_url=log_url, log_url=log_url,
            environment_url=body.get("environment_url", ""), created_at=now, updated_at=now,
            url=f"{deployment['url']}/statuses/{status_id}", deployment_url=deployment["url"],
            repository_url=deployment["repository_url"], performed_via_github_app=self._app(),
        )
        self._deployment_statuses.append({**status, "_deployment_id": deployment_id})
        return 201, status

    def _comment(self, target: Repo, comment_id: int, issue_number: int, text: str) -> dict[str, Any]:
        comment = self.api.example("issue-comment")
        now = _iso(self.clock())
        comment.update(
            id=comment_id, body=text, user=self._user(), created_at=now, updated_at=now,
            url=f"https://api.github.com/repos/{target.full_name}/issues/comments/{comment_id}",
            html_url=f"https://github.com/{target.full_name}/pull/{issue_number}#issuecomment-{comment_id}",
            issue_url=f"https://api.github.com/repos/{target.full_name}/issues/{issue_number}",
            author_association="NONE", performed_via_github_app=self._app(),
        )
        return comment

    def _create_comment(self, issued: IssuedToken, owner: str, repo: str, issue_number: int,
                        body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        target = self._repo_for(issued, owner, repo, "create_comment")
        comment = self._comment(target, next(self._ids), issue_number, body["body"])
        self._comments[comment["id"]] = {**comment, "_repo": target.full_name.lower(), "_issue": issue_number}
        return 201, comment

    def _update_comment(self, issued: IssuedToken, owner: str, repo: str, comment_id: int,
                        body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        target = self._repo_for(issued, owner, repo, "update_comment")
        stored = self._comments.get(comment_id)
        if stored is None or stored["_repo"] != target.full_name.lower():
            raise _not_found()
        comment = self._comment(target, comment_id, stored["_issue"], body["body"])
        comment["created_at"] = stored["created_at"]
        self._comments[comment_id] = {**comment, "_repo": stored["_repo"], "_issue": stored["_issue"]}
        return 200, comment


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:  # the test's own assertions say what matters
        pass


def public(payload: Any) -> Any:
    """``payload`` without the stand-in's bookkeeping keys (those starting with ``_``)."""
    if isinstance(payload, dict):
        return {k: v for k, v in payload.items() if not k.startswith("_")}
    return payload
