"""JSON API: what the dashboard does, for scripts and the CLI (``slipway login URL``).

Built with flask-smorest: each route declares its arguments and answer as marshmallow schemas,
which check the input (422 with what to fix) and make the OpenAPI document at
``/api/openapi.json``, never written by hand. Every route carries ``web.access.guard``.
Authentication: a browser session, ``Authorization: Bearer <API token>``, or the admin password.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import marshmallow as ma
from flask import Flask, abort, current_app, jsonify
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint
from sqlalchemy import select

from slipway import envvars
from slipway.accounts import audit, teams
from slipway.accounts import tokens as api_tokens
from slipway.accounts.access import AccessDenied, Action, Role, Scope, Site, require_team, role, visible_projects
from slipway.accounts.models import Membership, Team
from slipway.akash_settings import FIELDS, as_text
from slipway.db import session_scope
from slipway.deployments import (
    BranchHead,
    DeployRequestError,
    GivenCommit,
    cancel_deployment,
    request_deployment,
    request_redeploy,
)
from slipway.errors import UserError, render
from slipway.git_remote import mask_url_credentials
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import set_akash_settings
from web.access import current_actor, guard

bp = Blueprint("api", __name__, url_prefix="/api", description="Slipway's projects, deployments, variables, "
               "tokens and teams")


class Api(SmorestApi):
    """flask-smorest's Api, without its app-wide error handlers: pages keep their HTML error pages,
    and the app's own handlers answer /api/ paths as ``{"error": ...}``."""

    def _register_error_handlers(self):
        pass


def install(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Slipway", API_VERSION="1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API token (slp_..., `slipway login URL` or POST /api/tokens makes one), "
                               "or SLIPWAY_ADMIN_PASSWORD"}}},
            "security": [{"bearer": []}],
        },
    )
    api = Api(app)
    api.register_blueprint(bp)
    return api


def _settings():
    return current_app.config["SLIPWAY_SETTINGS"]


def _iso(value):
    return value.isoformat() if value else None


# -- schemas -------------------------------------------------------------------------------

class ProjectOut(ma.Schema):
    name = ma.fields.String(required=True)
    repo_url = ma.fields.String(required=True)
    github_repo = ma.fields.String(allow_none=True)
    branch = ma.fields.String(required=True)
    target = ma.fields.String(required=True)
    team = ma.fields.String(allow_none=True, metadata={"description": "The team's slug, if it belongs to one"})
    role = ma.fields.String(metadata={"description": "Your role on it: owner, member or viewer"})


class DeploymentOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    project = ma.fields.String(required=True)
    sha = ma.fields.String(required=True)
    branch = ma.fields.String(required=True)
    trigger = ma.fields.String(required=True)
    state = ma.fields.String(required=True)
    image = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    error_id = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(allow_none=True)
    started_at = ma.fields.String(allow_none=True)
    finished_at = ma.fields.String(allow_none=True)
    health = ma.fields.String(allow_none=True)
    health_detail = ma.fields.String(allow_none=True)
    health_checked_at = ma.fields.String(allow_none=True)
    health_since = ma.fields.String(allow_none=True)
    pr_number = ma.fields.Integer(allow_none=True, metadata={"description": "The pull request a preview is of"})
    commit_message = ma.fields.String(allow_none=True, metadata={"description": "The commit's first line"})
    commit_author = ma.fields.String(allow_none=True)
    slot_url = ma.fields.String(allow_none=True, metadata={
        "description": "The stable URL of the deployment's slot (production or its pull request's preview)"})
    restarts = ma.fields.Integer(allow_none=True, metadata={"description": "How often the app was started again"})


class LogLineOut(ma.Schema):
    seq = ma.fields.Integer(required=True)
    line = ma.fields.String(required=True)


class DeployIn(ma.Schema):
    sha = ma.fields.String(load_default=None, metadata={"description": "A commit sha, branch or tag (default: "
                                                                         "the head of the project's branch)"})


class RequestedOut(ma.Schema):
    deployment_id = ma.fields.Integer(required=True)
    project = ma.fields.String(required=True)
    sha = ma.fields.String(required=True)
    branch = ma.fields.String(required=True)
    replaced = ma.fields.List(ma.fields.Integer())
    dashboard_url = ma.fields.String()


class EnvNamesOut(ma.Schema):
    names = ma.fields.List(ma.fields.String(), required=True)
    scopes = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True,
                            metadata={"description": "Who gets each variable: runtime, build or both"})


class EnvValueIn(ma.Schema):
    value = ma.fields.String(required=True, load_only=True, metadata={"description": "Write-only: never shown"})
    scope = ma.fields.String(load_default=None, validate=ma.validate.OneOf(["runtime", "build", "both"]),
                             metadata={"description": "runtime (a new variable's default), build or both; "
                                       "a replaced variable keeps its scope when this is left out"})


class AkashSettingsIO(ma.Schema):
    class Meta:
        unknown = ma.RAISE


for _field in FIELDS:
    AkashSettingsIO._declared_fields[_field] = ma.fields.String(allow_none=True, load_default=None)


class TeamIn(ma.Schema):
    team = ma.fields.String(required=True, allow_none=True, metadata={"description": "A team's slug, or null"})


class TokenIn(ma.Schema):
    name = ma.fields.String(required=True, metadata={"description": "What the token is for"})
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf([s.value for s in Scope]))
    days = ma.fields.Integer(load_default=None, metadata={"description": "Lifetime (default SLIPWAY_API_TOKEN_DAYS)"})


class TokenOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    prefix = ma.fields.String(required=True, metadata={"description": "The token's first characters"})
    scope = ma.fields.String(required=True)
    created_at = ma.fields.String()
    expires_at = ma.fields.String()
    last_used_at = ma.fields.String(allow_none=True)


class TokenCreatedOut(TokenOut):
    token = ma.fields.String(required=True, metadata={"description": "Shown this once; Slipway keeps its hash"})


class MemberOut(ma.Schema):
    login = ma.fields.String(required=True)
    role = ma.fields.String(required=True)


class TeamOut(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    role = ma.fields.String(allow_none=True, metadata={"description": "Your role in it"})
    members = ma.fields.List(ma.fields.Nested(MemberOut))


class TeamCreateIn(ma.Schema):
    slug = ma.fields.String(required=True)
    name = ma.fields.String(load_default=None)


class MemberIn(ma.Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf([r.value for r in Role]))


class AuditOut(ma.Schema):
    at = ma.fields.String(required=True)
    actor = ma.fields.String(required=True)
    action = ma.fields.String(required=True)
    project = ma.fields.String(allow_none=True)
    detail = ma.fields.Dict(allow_none=True)


class MeOut(ma.Schema):
    login = ma.fields.String(required=True)
    admin = ma.fields.Boolean(required=True)
    scope = ma.fields.String(allow_none=True, metadata={"description": "The API token's scope, if one is used"})
    teams = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


# -- helpers ---------------------------------------------------------------------------

def deployment_json(d: Deployment) -> dict:
    return {
        "id": d.id, "project": d.project.name, "sha": d.sha, "branch": d.branch, "trigger": d.trigger,
        "state": d.state, "image": d.image, "url": d.url, "error": d.error_message, "error_id": d.error_id,
        "created_at": _iso(d.created_at), "started_at": _iso(d.started_at), "finished_at": _iso(d.finished_at),
        "health": d.health, "health_detail": d.health_detail, "health_checked_at": _iso(d.health_checked_at),
        "health_since": _iso(d.health_since), "pr_number": d.pr_number,
        # The slot's stable URL through the proxy (production or the preview), and how often the app was restarted.
        "slot_url": d.slot_url, "restarts": d.restarts,
        "commit_message": d.commit_message, "commit_author": d.commit_author,
    }


def _project_json(session, p: Project) -> dict:
    team = teams.team_of(session, p.id)
    found = role(current_actor(), p, session)
    return {"name": p.name, "repo_url": mask_url_credentials(p.repo_url), "github_repo": p.github_repo,
            "branch": p.branch, "target": p.target, "team": team.slug if team else None,
            "role": found.value if found else None}


def _project(session, name: str) -> Project:
    p = session.scalar(select(Project).where(Project.name == name))
    if p is None:
        abort(404)
    return p


def _error(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    abort(response)


@contextmanager
def _project_session(name: str) -> Iterator[tuple]:
    """A session (committed at the end) and the route's project, which ``guard`` has let the caller reach."""
    with session_scope(_settings()) as session:
        yield session, _project(session, name)


@contextmanager
def _refused(*errors: type[Exception], status: int | None = 422) -> Iterator[None]:
    """One of ``errors`` answers ``{"error": its text}`` with ``status`` (None: the error's own ``status``);
    the session it was raised in rolls back."""
    try:
        yield
    except errors as exc:
        _error(status or exc.status, str(exc))


def _audit(session, action: str, project: Project | None = None, **detail) -> None:
    """The audit entry of what the caller did."""
    audit.record(session, current_actor(), action, project, **detail)


def _requested_json(settings, dep) -> dict:
    return {"deployment_id": dep.deployment_id, "project": dep.project, "sha": dep.sha, "branch": dep.branch,
            "replaced": list(dep.replaced), "dashboard_url": settings.deployment_url(dep.deployment_id)}


# -- who am I ------------------------------------------------------------------------------

@bp.get("/me")
@guard(Site.SIGNED_IN)
@bp.response(200, MeOut)
def me():
    """Who the credential acts as, and its teams."""
    actor = current_actor()
    with session_scope(_settings()) as session:
        names = {t.slug: (teams.role_in(actor, t) or Role.VIEWER).value for t in teams.visible(session, actor)}
    return {"login": actor.login, "admin": actor.is_admin, "scope": actor.scope.value if actor.scope else None,
            "teams": names}


# -- projects and deployments ----------------------------------------------------------------

@bp.get("/projects")
@guard(Site.SIGNED_IN)
@bp.response(200, ProjectOut(many=True))
def projects():
    """The projects you can see."""
    with session_scope(_settings()) as session:
        rows = session.scalars(select(Project).where(visible_projects(current_actor())).order_by(Project.name)).all()
        return [_project_json(session, p) for p in rows]


@bp.get("/projects/<name>")
@guard(Action.VIEW)
@bp.response(200, ProjectOut)
def project(name: str):
    with _project_session(name) as (session, p):
        return _project_json(session, p)


class DeploymentsQuery(ma.Schema):
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(1, 200),
                              metadata={"description": "How many, at most (1-200)"})
    before = ma.fields.Integer(load_default=None, metadata={"description": "Only deployments older than this id "
                                                            "(the last id of a page, for the next page)"})


def _newest_deployments(session, args: dict, *conditions) -> list[dict]:
    """Deployments matching ``conditions``, newest first, one page of ``DeploymentsQuery``."""
    query = select(Deployment).where(*conditions).order_by(Deployment.id.desc()).limit(args["limit"])
    if args["before"] is not None:
        query = query.where(Deployment.id < args["before"])
    return [deployment_json(d) for d in session.scalars(query)]


@bp.get("/deployments")
@guard(Site.SIGNED_IN)
@bp.arguments(DeploymentsQuery, location="query")
@bp.response(200, DeploymentOut(many=True))
def deployments(args: dict):
    """The deployments of every project you can see, newest first."""
    with session_scope(_settings()) as session:
        return _newest_deployments(session, args, Deployment.project_id.in_(
            select(Project.id).where(visible_projects(current_actor()))))


@bp.get("/projects/<name>/deployments")
@guard(Action.VIEW)
@bp.arguments(DeploymentsQuery, location="query")
@bp.response(200, DeploymentOut(many=True))
def project_deployments(args: dict, name: str):
    """The project's deployments, newest first."""
    with _project_session(name) as (session, p):
        return _newest_deployments(session, args, Deployment.project_id == p.id)


@bp.post("/projects/<name>/deployments")
@guard(Action.DEPLOY)
@bp.arguments(DeployIn)
@bp.response(201, RequestedOut)
def deploy(args: dict, name: str):
    """Deploy the head of the project's branch, or a given commit."""
    settings = _settings()
    source = GivenCommit(args["sha"]) if args.get("sha") else BranchHead()
    with _refused(DeployRequestError, status=None):
        dep = request_deployment(name, source, "api", settings=settings)
    with _project_session(name) as (session, p):
        _audit(session, "deploy", p, deployment_id=dep.deployment_id)
    return _requested_json(settings, dep)


@bp.get("/deployments/<int:deployment_id>")
@guard(Action.VIEW)
@bp.response(200, DeploymentOut)
def deployment(deployment_id: int):
    with session_scope(_settings()) as session:
        d = session.get(Deployment, deployment_id)
        if d is None:
            abort(404)
        return deployment_json(d)


class LogQuery(ma.Schema):
    after = ma.fields.Integer(load_default=0, metadata={"description": "Only lines after this seq (to follow a log)"})


@bp.get("/deployments/<int:deployment_id>/log")
@guard(Action.VIEW)
@bp.arguments(LogQuery, location="query")
@bp.response(200, LogLineOut(many=True))
def deployment_log(args: dict, deployment_id: int):
    with session_scope(_settings()) as session:
        if session.get(Deployment, deployment_id) is None:
            abort(404)
        rows = session.scalars(select(BuildLog).where(BuildLog.deployment_id == deployment_id,
                                                      BuildLog.seq > args["after"]).order_by(BuildLog.seq))
        return [{"seq": r.seq, "line": r.line} for r in rows]


class AppLogQuery(ma.Schema):
    tail = ma.fields.Integer(load_default=200, validate=ma.validate.Range(0, 10000),
                             metadata={"description": "How many of the last lines"})
    follow = ma.fields.Boolean(load_default=False, metadata={
        "description": "Then keep sending new lines: the answer is a stream of JSON lines (application/x-ndjson), "
                       "`{\"line\": ...}` each (or one `{\"none\": why}`), for a few minutes at most (ask again "
                       "with tail=0), unless the app stops: then a last `{\"end\": why}`"})


class AppLogOut(ma.Schema):
    deployment_id = ma.fields.Integer(allow_none=True)
    lines = ma.fields.List(ma.fields.String(), required=True)
    none = ma.fields.String(allow_none=True, metadata={"description": "Why there is nothing to show: the deployment "
                                                                      "runs nothing, or its target cannot show it"})


@bp.get("/deployments/<int:deployment_id>/app-log")
@guard(Action.VIEW)
@bp.arguments(AppLogQuery, location="query")
@bp.response(200, AppLogOut)
def deployment_app_log(args: dict, deployment_id: int):
    """What the deployment's app prints (its container's output), masked as build logs are."""
    return _app_log(deployment_id, None, args)


@bp.get("/projects/<name>/app-log")
@guard(Action.VIEW)
@bp.arguments(AppLogQuery, location="query")
@bp.response(200, AppLogOut)
def project_app_log(args: dict, name: str):
    """What the app of the project's live production deployment prints, masked as build logs are."""
    from slipway.applogs import live_deployment_of

    return _app_log(live_deployment_of(_settings(), name), f"{name} has no live production deployment", args)


def _app_log(deployment_id: int | None, missing: str | None, args: dict):
    """The app's lines as JSON, or (``follow``) a stream of JSON lines; ``missing`` says why there is no
    deployment to read (``deployment_id`` None)."""
    import json

    from flask import Response, stream_with_context

    from slipway.applogs import NoAppLog, app_log
    from slipway.targets import targets_from_settings
    from web.dashboard import APP_LOG_STREAM_S

    why_none = missing if deployment_id is None else None
    if deployment_id is None:
        lines = iter(())
    else:
        settings = _settings()
        lines = app_log(settings, targets_from_settings(settings), deployment_id, follow=args["follow"],
                        tail=args["tail"])
    if not args["follow"]:
        try:
            return {"deployment_id": deployment_id, "lines": list(lines), "none": why_none}
        except NoAppLog as exc:
            return {"deployment_id": deployment_id, "lines": [], "none": str(exc)}

    def stream():
        until = time.monotonic() + APP_LOG_STREAM_S  # then the client asks again (tail=0)
        try:
            if why_none:
                yield json.dumps({"none": why_none}) + "\n"
                return
            for line in lines:
                yield json.dumps({"line": line}) + "\n"
                if time.monotonic() > until:
                    return
            # The output itself ended: the app stopped, or its container is gone. Asking again finds no more.
            yield json.dumps({"end": f"deployment {deployment_id}'s app is not running"}) + "\n"
        except NoAppLog as exc:
            yield json.dumps({"none": str(exc)}) + "\n"
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    return Response(stream_with_context(stream()), mimetype="application/x-ndjson",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/deployments/<int:deployment_id>/redeploy")
@guard(Action.DEPLOY)
@bp.response(201, RequestedOut)
def redeploy(deployment_id: int):
    """Run this deployment's image again (a rollback when it is older than what is live)."""
    settings = _settings()
    with _refused(DeployRequestError, status=None):
        new_id = request_redeploy(deployment_id)
    with session_scope(settings) as session:
        d = session.get(Deployment, new_id)
        _audit(session, "rollback", d.project, deployment_id=new_id, of=deployment_id)
        return {"deployment_id": new_id, "project": d.project.name, "sha": d.sha, "branch": d.branch,
                "replaced": [], "dashboard_url": settings.deployment_url(new_id)}


class RollbackIn(ma.Schema):
    to = ma.fields.Integer(load_default=None, metadata={"description": "The deployment whose image to run again "
                                                        "(default: the production version before the live one)"})


@bp.post("/projects/<name>/rollback")
@guard(Action.DEPLOY)
@bp.arguments(RollbackIn)
@bp.response(201, RequestedOut)
def rollback(args: dict, name: str):
    """Run an earlier version again, from its image: no rebuild."""
    from slipway.deployments import rollback_source

    with _project_session(name) as (session, p):
        if args["to"] is None:
            source = rollback_source(session, p)
            if source is None:
                _error(409, render(UserError.DASH_NOTHING_TO_ROLL_BACK))
        else:
            source = session.get(Deployment, args["to"])
            if source is None or source.project_id != p.id:
                _error(404, f"deployment {args['to']} is not a deployment of {name}")
        source_id = source.id
    return redeploy.__wrapped__(source_id)


@bp.post("/deployments/<int:deployment_id>/cancel")
@guard(Action.DEPLOY)
@bp.response(200, DeploymentOut)
def cancel(deployment_id: int):
    """Stop an unfinished deployment."""
    settings = _settings()
    with _refused(DeployRequestError, status=None):
        cancel_deployment(deployment_id, settings)
    with session_scope(settings) as session:
        d = session.get(Deployment, deployment_id)
        _audit(session, "cancel", d.project, deployment_id=deployment_id)
        return deployment_json(d)


# -- settings: variables, Akash, team, audit ------------------------------------------------------

@bp.get("/projects/<name>/env")
@guard(Action.SETTINGS)
@bp.response(200, EnvNamesOut)
def env_names(name: str):
    """The names of the project's variables (values are write-only)."""
    with _project_session(name) as (session, p):
        scopes = envvars.scopes(session, p.id)
        return {"names": list(scopes), "scopes": scopes}


@bp.put("/projects/<name>/env/<key>")
@guard(Action.SETTINGS)
@bp.arguments(EnvValueIn)
@bp.response(204)
def env_set(args: dict, name: str, key: str):
    """Set a variable; it applies from the next deployment."""
    with _project_session(name) as (session, p):
        with _refused(ValueError):
            envvars.set_vars(session, p, {key: args["value"]}, args.get("scope"))
        _audit(session, "env.set", p, name=key, **({"scope": args["scope"]} if args.get("scope") else {}))


@bp.delete("/projects/<name>/env/<key>")
@guard(Action.SETTINGS)
@bp.response(204)
def env_unset(name: str, key: str):
    with _project_session(name) as (session, p):
        if envvars.unset_vars(session, p, [key]):
            abort(404)
        _audit(session, "env.unset", p, name=key)


@bp.get("/projects/<name>/akash")
@guard(Action.SETTINGS)
@bp.response(200, AkashSettingsIO)
def akash_get(name: str):
    """The project's own Akash settings, as text (empty: the installation's SLIPWAY_AKASH_*)."""
    with _project_session(name) as (_session, p):
        return as_text(p.akash_settings or {})


@bp.put("/projects/<name>/akash")
@guard(Action.SETTINGS)
@bp.arguments(AkashSettingsIO)
@bp.response(200, AkashSettingsIO)
def akash_put(args: dict, name: str):
    with _project_session(name) as (session, _p), _refused(UserError):
        p = set_akash_settings(session, name, {k: v or "" for k, v in args.items()})
        _audit(session, "settings.akash", p, fields=sorted(args))
        return as_text(p.akash_settings or {})


@bp.put("/projects/<name>/team")
@guard(Action.MANAGE)
@bp.arguments(TeamIn)
@bp.response(200, ProjectOut)
def project_team(args: dict, name: str):
    """Give the project to a team you own (or, with null, to none)."""
    with _project_session(name) as (session, p):
        team = None
        if args["team"] is not None:
            team = teams.by_slug(session, args["team"])
            try:
                require_team(current_actor(), team, manage=True)
            except AccessDenied:
                _error(422, render(UserError.TEAM_NOT_OWNER, slug=args["team"]))
        teams.assign(session, p, team)
        _audit(session, "project.team", p, team=team.slug if team else None)
        return _project_json(session, p)


@bp.get("/projects/<name>/audit")
@guard(Action.SETTINGS)
@bp.response(200, AuditOut(many=True))
def project_audit(name: str):
    """Who did what to the project, newest first."""
    with _project_session(name) as (session, p):
        return [{"at": _iso(e.at), "actor": e.actor, "action": e.action, "project": e.project_name,
                 "detail": e.detail} for e in audit.entries(session, p.id)]


# -- API tokens ----------------------------------------------------------------------------

def _token_json(t, text: str | None = None) -> dict:
    out = {"id": t.id, "name": t.name, "prefix": t.prefix, "scope": t.scope, "created_at": _iso(t.created_at),
           "expires_at": _iso(t.expires_at), "last_used_at": _iso(t.last_used_at)}
    if text is not None:
        out["token"] = text
    return out


@bp.get("/tokens")
@guard(Site.SIGNED_IN)
@bp.response(200, TokenOut(many=True))
def tokens_list():
    """Your API tokens (never their text)."""
    with session_scope(_settings()) as session:
        return [_token_json(t) for t in api_tokens.owned(session, current_actor().user_id)]


@bp.post("/tokens")
@guard(Site.SIGNED_IN)
@bp.arguments(TokenIn)
@bp.response(201, TokenCreatedOut)
def tokens_create(args: dict):
    """A new API token, shown once. A token cannot make tokens wider than its own scope."""
    actor = current_actor()
    if actor.scope is not None and actor.scope is not Scope.ADMIN:
        _error(403, render(UserError.ACCESS_SCOPE, scope=actor.scope.value, action="make tokens"))
    settings = _settings()
    with session_scope(settings) as session:
        with _refused(api_tokens.TokenError):
            token, text = api_tokens.create(session, actor.user_id, args["name"], args["scope"],
                                            args["days"] or settings.api_token_days_n)
        _audit(session, "api-token.create", token_id=token.id, scope=token.scope)
        return _token_json(token, text)


@bp.delete("/tokens/<int:token_id>")
@guard(Site.SIGNED_IN)
@bp.response(204)
def tokens_revoke(token_id: int):
    actor = current_actor()
    with session_scope(_settings()) as session:
        if api_tokens.revoke(session, actor.user_id, token_id) is None:
            abort(404)
        _audit(session, "api-token.revoke", token_id=token_id)


# -- teams -----------------------------------------------------------------------------------

def _team_json(session, team: Team) -> dict:
    members = session.execute(select(Membership).where(Membership.team_id == team.id)).scalars()
    found = teams.role_in(current_actor(), team)
    return {"slug": team.slug, "name": team.name, "role": found.value if found else None,
            "members": sorted(({"login": m.user.login, "role": m.role} for m in members), key=lambda m: m["login"])}


def _team(session, slug: str, manage: bool = False) -> Team:
    team = teams.by_slug(session, slug)
    try:
        require_team(current_actor(), team, manage=manage)
    except AccessDenied as exc:
        abort(exc.status)
    return team


@bp.get("/teams")
@guard(Site.SIGNED_IN)
@bp.response(200, TeamOut(many=True))
def teams_list():
    with session_scope(_settings()) as session:
        return [_team_json(session, t) for t in teams.visible(session, current_actor())]


@bp.post("/teams")
@guard(Site.SIGNED_IN)
@bp.arguments(TeamCreateIn)
@bp.response(201, TeamOut)
def teams_create(args: dict):
    """A new team; you own it."""
    actor = current_actor()
    if actor.scope is not None and actor.scope is not Scope.ADMIN:
        _error(403, render(UserError.ACCESS_SCOPE, scope=actor.scope.value, action="make teams"))
    with session_scope(_settings()) as session:
        with _refused(teams.TeamError):
            team = teams.create(session, actor, args["slug"], args["name"])
        _audit(session, "team.create", team=team.slug)
        session.flush()
        actor.team_roles[team.id] = Role.OWNER
        return _team_json(session, team)


@bp.get("/teams/<team>")
@guard(Action.VIEW)
@bp.response(200, TeamOut)
def team_get(team: str):
    with session_scope(_settings()) as session:
        return _team_json(session, _team(session, team))


@bp.put("/teams/<team>/members/<login>")
@guard(Action.MANAGE)
@bp.arguments(MemberIn)
@bp.response(200, TeamOut)
def team_member_set(args: dict, team: str, login: str):
    """Add someone by their GitHub login, or change their role (team owners)."""
    return _set_member(team, login, args["role"])


@bp.delete("/teams/<team>/members/<login>")
@guard(Action.MANAGE)
@bp.response(200, TeamOut)
def team_member_remove(team: str, login: str):
    return _set_member(team, login, None)


def _set_member(slug: str, login: str, new_role: str | None):
    with session_scope(_settings()) as session:
        team = _team(session, slug, manage=True)
        with _refused(teams.TeamError):
            teams.set_member(session, team, login, new_role)
        _audit(session, "team.member", team=team.slug, login=login, role=new_role)
        return _team_json(session, team)


# -- creating, changing and deleting projects --------------------------------------------------------

class ProjectCreateIn(ma.Schema):
    name = ma.fields.String(required=True)
    source = ma.fields.String(load_default="git", validate=ma.validate.OneOf(["github", "git", "url"]),
                              metadata={"description": "github: a repository of the App's installations you can "
                                        "push to; git: deployed by `git push` to Slipway's remote; url: cloned "
                                        "from repo (an https:// repository on the public internet, unless you are "
                                        "the admin), deployed by `slipway deploy`, the dashboard or a hook"})
    repo = ma.fields.String(load_default="", metadata={"description": "With source github: owner/name; with "
                                                       "source url: the URL to clone"})
    github_repo = ma.fields.String(load_default="", metadata={
        "description": "With source url, for the admin only: the owner/name whose plain GitHub webhook deploys it"})
    branch = ma.fields.String(load_default="main")
    target = ma.fields.String(load_default=None, metadata={"description": "Default: SLIPWAY_DEFAULT_TARGET"})
    team = ma.fields.String(load_default="", metadata={"description": "A team you own or are a member of "
                                                       "(required for a git-push project unless you are the admin)"})


class ProjectCreatedOut(ProjectOut):
    remote = ma.fields.String(allow_none=True, metadata={"description": "A git-push project's remote"})
    token = ma.fields.String(allow_none=True, metadata={"description": "Its remote's token: shown this once"})


class ProjectSettingsIO(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    branch = ma.fields.String(load_default=None)
    dockerfile = ma.fields.String(load_default=None)
    build_context = ma.fields.String(load_default=None)
    health_path = ma.fields.String(load_default=None)
    target = ma.fields.String(load_default=None)
    previews_enabled = ma.fields.Boolean(load_default=None)
    fork_previews = ma.fields.String(load_default=None, metadata={"description": "never, collaborators or always"})


SETTING_FIELDS = tuple(ProjectSettingsIO._declared_fields)


@bp.post("/projects")
@guard(Site.SIGNED_IN)
@bp.arguments(ProjectCreateIn)
@bp.response(201, ProjectCreatedOut)
def project_create(args: dict):
    """A new project, as the dashboard's New project makes it; a git-push project's token is shown once."""
    from slipway.git_remote import remote_url
    from slipway.projects import make_project

    actor = current_actor()
    if actor.scope is not None and actor.scope is not Scope.ADMIN:
        _error(403, render(UserError.ACCESS_SCOPE, scope=actor.scope.value, action="create projects"))
    settings = _settings()
    args["target"] = args["target"] or settings.default_target
    with session_scope(settings) as session:
        with _refused(UserError, ValueError):
            p, token = make_project(session, settings, actor, **args)
        session.flush()
        out = _project_json(session, p)
        out.update(remote=remote_url(settings, p.name) if token else None, token=token)
        return out


@bp.delete("/projects/<name>")
@guard(Action.MANAGE)
@bp.response(204)
def project_delete(name: str):
    """Delete the project and everything it runs or keeps here (containers, images, git remote, rows).
    A target that fails answers 503, saying so, with nothing deleted: ask again later."""
    import logging

    from slipway.errors import AppError
    from slipway.projects import delete_project

    with _refused(AppError, status=503), _refused(ValueError, status=404):
        delete_project(_settings(), name, logging.getLogger(__name__).info,
                       record=lambda session, p: _audit(session, "project.delete", p))


@bp.get("/projects/<name>/settings")
@guard(Action.SETTINGS)
@bp.response(200, ProjectSettingsIO)
def project_settings(name: str):
    with _project_session(name) as (_session, p):
        return {f: getattr(p, f) for f in SETTING_FIELDS}


@bp.patch("/projects/<name>/settings")
@guard(Action.SETTINGS)
@bp.arguments(ProjectSettingsIO)
@bp.response(200, ProjectSettingsIO)
def project_settings_change(args: dict, name: str):
    """Change what is given (the rest stays); it applies from the next deployment."""
    from slipway.projects import update_project

    with _project_session(name) as (session, _p):
        with _refused(ValueError):
            p = update_project(session, name, **args)
        _audit(session, "settings.project", p, fields=sorted(k for k, v in args.items() if v is not None))
        return {f: getattr(p, f) for f in SETTING_FIELDS}


# -- custom domains --------------------------------------------------------------------------------

class DomainIn(ma.Schema):
    domain = ma.fields.String(required=True, metadata={"description": "A host name, like www.example.com"})


class DomainOut(ma.Schema):
    name = ma.fields.String(required=True)
    url = ma.fields.String(required=True)
    certificate = ma.fields.String(metadata={"description": "How its certificate is got"})


def _domain_json(name: str) -> dict:
    from slipway.domains import certificate_note, domain_url

    return {"name": name, "url": domain_url(_settings(), name), "certificate": certificate_note(name)}


@bp.get("/projects/<name>/domains")
@guard(Action.VIEW)
@bp.response(200, DomainOut(many=True))
def domains_list(name: str):
    """The host names the project's production answers at, over HTTPS."""
    with _project_session(name) as (_session, p):
        return [_domain_json(d.name) for d in sorted(p.domains, key=lambda d: d.name)]


@bp.post("/projects/<name>/domains")
@guard(Action.SETTINGS)
@bp.arguments(DomainIn)
@bp.response(201, DomainOut)
def domains_add(args: dict, name: str):
    from slipway.domains import add_domain
    from slipway.proxy import sync_routes

    settings = _settings()
    with _project_session(name) as (session, p):
        with _refused(UserError):
            added = add_domain(session, settings, p, args["domain"]).name
        _audit(session, "domain.add", p, domain=added)
    sync_routes(settings)
    return _domain_json(added)


@bp.delete("/projects/<name>/domains/<domain>")
@guard(Action.SETTINGS)
@bp.response(204)
def domains_remove(name: str, domain: str):
    from slipway.domains import normalise, remove_domain
    from slipway.proxy import sync_routes

    settings = _settings()
    with _project_session(name) as (session, p):
        with _refused(UserError, status=404):
            remove_domain(session, p, domain)
        _audit(session, "domain.remove", p, domain=normalise(domain))
    sync_routes(settings)


# -- notifications ---------------------------------------------------------------------------------

class ChannelIn(ma.Schema):
    name = ma.fields.String(required=True, metadata={"description": "1-40 lowercase letters, digits or dashes"})
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(["slack", "discord", "email", "webhook"]))
    target = ma.fields.String(required=True, load_only=True,
                              metadata={"description": "The webhook URL or email address (lists show its host only)"})
    on_failure = ma.fields.Boolean(load_default=True)
    on_success = ma.fields.Boolean(load_default=False)


class ChannelOut(ma.Schema):
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    to = ma.fields.String(required=True, metadata={"description": "The target without its secret path"})
    on_failure = ma.fields.Boolean(required=True)
    on_success = ma.fields.Boolean(required=True)
    last = ma.fields.Dict(allow_none=True, metadata={"description": "The last delivery: status, deployment_id, "
                                                                     "attempts, error"})


class ChannelCreatedOut(ChannelOut):
    secret = ma.fields.String(allow_none=True, metadata={"description": "A signed webhook's secret: shown this once"})


def _channel_json(session, c) -> dict:
    from slipway.notifications import last_delivery, shown_target, target_of

    last = last_delivery(session, c.id)
    return {"name": c.name, "kind": c.kind, "to": shown_target(c.kind, target_of(c)), "on_failure": c.on_failure,
            "on_success": c.on_success,
            "last": None if last is None else {"status": last.status, "deployment_id": last.deployment_id,
                                               "attempts": last.attempts, "error": last.last_error}}


@bp.get("/projects/<name>/notifications")
@guard(Action.SETTINGS)
@bp.response(200, ChannelOut(many=True))
def channels_list(name: str):
    from slipway.notifications import channels_of

    with _project_session(name) as (session, p):
        return [_channel_json(session, c) for c in channels_of(session, p.id)]


@bp.post("/projects/<name>/notifications")
@guard(Action.SETTINGS)
@bp.arguments(ChannelIn)
@bp.response(201, ChannelCreatedOut)
def channels_add(args: dict, name: str):
    """Tell a channel how deployments end (on failure, and optionally on success)."""
    from slipway.notifications import add_channel

    settings = _settings()
    with _project_session(name) as (session, p):
        with _refused(ValueError):
            channel, secret = add_channel(session, settings, p, args["name"], args["kind"], args["target"].strip(),
                                          on_failure=args["on_failure"], on_success=args["on_success"])
        _audit(session, "notification.add", p, channel=channel.name, kind=channel.kind)
        return {**_channel_json(session, channel), "secret": secret}


@bp.delete("/projects/<name>/notifications/<channel>")
@guard(Action.SETTINGS)
@bp.response(204)
def channels_remove(name: str, channel: str):
    from slipway.notifications import remove_channel

    with _project_session(name) as (session, p):
        if not remove_channel(session, p, channel):
            abort(404)
        _audit(session, "notification.remove", p, channel=channel)


# -- the deploy hook and the git remote's token --------------------------------------------------------

class HookOut(ma.Schema):
    url = ma.fields.String(required=True, metadata={"description": "POST here to deploy; keep it secret (anyone "
                                                                   "with it can deploy)"})
    branch = ma.fields.String(required=True)


class PushTokenOut(ma.Schema):
    remote = ma.fields.String(required=True)
    token = ma.fields.String(required=True, metadata={"description": "The remote's password: shown this once"})


@bp.get("/projects/<name>/hook")
@guard(Action.SETTINGS)
@bp.response(200, HookOut)
def hook_get(name: str):
    """The deploy hook URL there is (kept encrypted, so shown again, as `slipway project hook` on the
    Slipway machine shows it); 404 when the project has none."""
    from slipway.git_remote import hook_token, hook_url

    with _project_session(name) as (_session, p):
        token = hook_token(p)
        if token is None:
            _error(404, f"{name} has no deploy hook")
        return {"url": hook_url(_settings(), token), "branch": p.branch}


@bp.post("/projects/<name>/hook")
@guard(Action.SETTINGS)
@bp.response(201, HookOut)
def hook_make(name: str):
    """A new deploy hook URL; the old one stops working."""
    from slipway.git_remote import hook_url, issue_hook_token

    settings = _settings()
    with _project_session(name) as (session, p):
        token = issue_hook_token(p)
        _audit(session, "project.hook", p)
        return {"url": hook_url(settings, token), "branch": p.branch}


@bp.delete("/projects/<name>/hook")
@guard(Action.SETTINGS)
@bp.response(204)
def hook_remove(name: str):
    with _project_session(name) as (session, p):
        if not p.deploy_hook_enc:
            abort(404)
        p.deploy_hook_enc = None
        _audit(session, "project.hook", p, removed=True)


@bp.post("/projects/<name>/token")
@guard(Action.SETTINGS)
@bp.response(201, PushTokenOut)
def push_token_make(name: str):
    """A new token for a git-push project's remote; the old one stops working."""
    from slipway.git_remote import issue_push_token, remote_url

    settings = _settings()
    with _project_session(name) as (session, p):
        with _refused(ValueError):
            token = issue_push_token(p, settings)
        _audit(session, "project.token", p)
        return {"remote": remote_url(settings, p.name), "token": token}
