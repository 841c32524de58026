"""JSON API: the dashboard's data for scripts and the CLI."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify
from sqlalchemy import select

from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project

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
        # The slot's stable URL through the proxy (production or the preview), and how often the app was restarted.
        "slot_url": d.slot_url, "restarts": d.restarts,
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
