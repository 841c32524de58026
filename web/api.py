"""JSON API: the dashboard's data for scripts and the CLI."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import select

from slipway import envvars
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import get_project_by_name

bp = Blueprint("api", __name__, url_prefix="/api")


def _iso(value):
    return value.isoformat() if value else None


def deployment_json(d: Deployment) -> dict:
    return {
        "id": d.id, "project": d.project.name, "sha": d.sha, "branch": d.branch, "trigger": d.trigger,
        "state": d.state, "image": d.image, "url": d.url, "error": d.error_message, "error_id": d.error_id,
        "created_at": _iso(d.created_at), "started_at": _iso(d.started_at), "finished_at": _iso(d.finished_at),
        "health": d.health, "health_detail": d.health_detail, "health_checked_at": _iso(d.health_checked_at),
        "health_since": _iso(d.health_since),
    }


@bp.get("/projects")
def projects():
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        rows = session.scalars(select(Project).order_by(Project.name)).all()
        return jsonify([
            {"name": p.name, "repo_url": p.repo_url, "github_repo": p.github_repo, "branch": p.branch,
             "target": p.target}
            for p in rows
        ])


@bp.get("/deployments/<int:deployment_id>")
def deployment(deployment_id: int):
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        d = session.get(Deployment, deployment_id)
        if d is None:
            abort(404)
        return jsonify(deployment_json(d))


@bp.get("/deployments/<int:deployment_id>/log")
def deployment_log(deployment_id: int):
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        if session.get(Deployment, deployment_id) is None:
            abort(404)
        rows = session.scalars(select(BuildLog).where(BuildLog.deployment_id == deployment_id).order_by(BuildLog.seq))
        return jsonify([{"seq": r.seq, "line": r.line} for r in rows])


# -- a project's variables: names and scopes out, values only in ------------------------------

@bp.get("/projects/<name>/env")
def env_list(name: str):
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        project = get_project_by_name(session, name) or abort(404)
        return jsonify([{"name": n, "scope": scope} for n, scope in envvars.scopes(session, project.id).items()])


@bp.put("/projects/<name>/env/<key>")
def env_set(name: str, key: str):
    """Set one variable: ``{"value": "...", "scope": "runtime" | "build" | "both"}`` (scope optional:
    a new variable is the running app's, a replaced one keeps its scope). The value is never sent back."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("value"), str) \
            or not isinstance(body.get("scope", ""), str):
        return jsonify({"error": 'send JSON {"value": "...", "scope": "runtime" | "build" | "both"}'}), 400
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        project = get_project_by_name(session, name) or abort(404)
        try:
            envvars.set_vars(session, project, {key: body["value"]}, body.get("scope") or None)
        except ValueError as exc:
            session.rollback()
            return jsonify({"error": str(exc)}), 400
        return jsonify({"name": key, "scope": envvars.scopes(session, project.id)[key]})


@bp.delete("/projects/<name>/env/<key>")
def env_unset(name: str, key: str):
    with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
        project = get_project_by_name(session, name) or abort(404)
        if envvars.unset_vars(session, project, [key]):
            abort(404)
    return "", 204
