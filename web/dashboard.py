"""Dashboard pages: projects, deployments, and a deployment's live log."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from sqlalchemy import select

from slipway import envvars
from slipway.accounts import audit
from slipway.accounts.access import Action, Site, can, visible_projects
from slipway.akash_settings import FIELDS, as_text
from slipway.buildlog import follow, stream_key
from slipway.db import session_scope
from slipway.deployments import BranchHead, DeployRequestError, cancel_deployment, request_deployment, request_redeploy
from slipway.errors import UserError
from slipway.git_remote import remote_url, uses_git_remote
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import set_akash_settings
from slipway.queue import redis_connection
from slipway.states import State
from web.access import current_actor, guard
from web.csrf import check_csrf

bp = Blueprint("dashboard", __name__)


def _settings():
    return current_app.config["SLIPWAY_SETTINGS"]


@bp.get("/")
@guard(Site.SIGNED_IN)
def index():
    visible = visible_projects(current_actor())
    with session_scope(_settings()) as session:
        projects = session.scalars(select(Project).where(visible).order_by(Project.name)).all()
        latest = {p.id: _newest(session, p.id) for p in projects}
        # What serves production now can be older than the latest attempt (which may have failed).
        live = {p.id: _newest(session, p.id, Deployment.state == State.LIVE.value, Deployment.pr_number.is_(None))
                for p in projects}
        recent = session.scalars(select(Deployment).join(Project).where(visible)
                                 .order_by(Deployment.id.desc()).limit(20)).all()
        for d in recent:
            _ = d.project.name
        return render_template("index.html", projects=projects, latest=latest, live=live, recent=recent)


def _newest(session, project_id: int, *conditions) -> Deployment | None:
    return session.scalar(
        select(Deployment).where(Deployment.project_id == project_id, *conditions).order_by(Deployment.id.desc()).limit(1)
    )


@bp.get("/projects/<name>")
@guard(Action.VIEW)
def project(name: str):
    return _project_page(name)


def _project_page(name: str, akash_form: dict | None = None, akash_error: str | None = None, status: int = 200,
                  env_error: str | None = None):
    settings = _settings()
    with session_scope(settings) as session:
        p = session.scalar(select(Project).where(Project.name == name))
        if p is None:
            abort(404)
        deployments = session.scalars(
            select(Deployment).where(Deployment.project_id == p.id).order_by(Deployment.id.desc()).limit(50)
        ).all()
        live = _newest(session, p.id, Deployment.state == State.LIVE.value, Deployment.pr_number.is_(None))
        git_remote = remote_url(settings, p.name) if uses_git_remote(settings, p.name, p.repo_url) else None
        actor = current_actor()
        from slipway.domains import domain_url

        domains = [(d.name, domain_url(settings, d.name)) for d in p.domains]
        return render_template("project.html", project=p, deployments=deployments, live=live, domains=domains,
                               can_deploy=can(actor, p, Action.DEPLOY, session),
                               can_settings=can(actor, p, Action.SETTINGS, session),
                               git_remote=git_remote, has_hook=bool(p.deploy_hook_enc),
                               env_scopes=envvars.scopes(session, p.id), akash_fields=AKASH_FIELDS,
                               akash_form=akash_form or as_text(p.akash_settings or {}),
                               akash_error=akash_error, env_error=env_error,
                               **_leases(settings, session, p.id)), status


# The project's own Akash settings, as the form labels them (slipway.akash_settings).
AKASH_FIELDS = (
    ("cpu", "CPU", "0.5 or 500m"), ("memory", "Memory", "512Mi"), ("storage", "Storage", "1Gi"),
    ("gpu", "GPUs", "0"), ("gpu_model", "GPU model (nvidia)", "rtx4090"),
    ("max_price_uact", "Max price, uact per block", "100"), ("budget_uact", "Budget, uact", "50000000"),
    ("budget_monthly", "Budget period", "total or monthly"),
    ("providers", "Trusted providers", "akash1..., akash1..."), ("attributes", "Required attributes", "region=eu"),
    ("auditors", "Auditors (signedBy)", "akash1..."),
)


@bp.post("/projects/<name>/akash")
@guard(Action.SETTINGS)
def akash_settings(name: str):
    """Change the project's own Akash settings; a bad value shows the form again with what to fix (400)."""
    from flask import request

    check_csrf()
    raw = {key: request.form.get(key, "") for key in FIELDS}
    with session_scope(_settings()) as session:
        try:
            project = set_akash_settings(session, name, raw)
        except ValueError:
            abort(404)
        except UserError as exc:
            session.rollback()
            error = str(exc)
        else:
            error = None
            audit.record(session, current_actor(), "settings.akash", project, fields=sorted(FIELDS))
    if error:
        return _project_page(name, akash_form=raw, akash_error=error, status=400)
    flash("Akash settings saved; they apply from the next deployment.", "notice")
    return redirect(url_for("dashboard.project", name=name))


@bp.post("/projects/<name>/env")
@guard(Action.SETTINGS)
def env_set(name: str):
    """Set one variable from the page's form; a bad name or scope shows the page again saying what to fix (400)."""
    from flask import request

    check_csrf()
    key, scope = request.form.get("name", "").strip(), request.form.get("scope", "").strip()
    value = request.form.get("value", "")  # as typed: spaces may belong to it
    with session_scope(_settings()) as session:
        p = session.scalar(select(Project).where(Project.name == name))
        if p is None:
            abort(404)
        try:
            envvars.set_vars(session, p, {key: value}, scope or None)
        except ValueError as exc:
            session.rollback()
            error = str(exc)
        else:
            error = None
            audit.record(session, current_actor(), "env.set", p, name=key, **({"scope": scope} if scope else {}))
    if error:
        return _project_page(name, env_error=error, status=400)
    flash(f"{key} set; it applies from the next deployment.", "notice")
    return redirect(url_for("dashboard.project", name=name))


@bp.post("/projects/<name>/env/<key>/unset")
@guard(Action.SETTINGS)
def env_unset(name: str, key: str):
    check_csrf()
    with session_scope(_settings()) as session:
        p = session.scalar(select(Project).where(Project.name == name))
        if p is None or envvars.unset_vars(session, p, [key]):
            abort(404)
        audit.record(session, current_actor(), "env.unset", p, name=key)
    flash(f"{key} removed; the next deployment goes without it.", "notice")
    return redirect(url_for("dashboard.project", name=name))


@bp.post("/projects/<name>/deploy")
@guard(Action.DEPLOY)
def deploy_now(name: str):
    """The dashboard's "Deploy now": the head of the project's branch."""
    check_csrf()
    try:
        dep_id = request_deployment(name, BranchHead(), "dashboard", settings=_settings()).deployment_id
    except DeployRequestError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.project", name=name))
    record_deployment_action(_settings(), "deploy", dep_id)
    return redirect(url_for("dashboard.deployment", deployment_id=dep_id))


@bp.get("/deployments/<int:deployment_id>")
@guard(Action.VIEW)
def deployment(deployment_id: int):
    with session_scope(_settings()) as session:
        d = session.get(Deployment, deployment_id)
        if d is None:
            abort(404)
        _ = d.project.name
        lines = session.scalars(
            select(BuildLog).where(BuildLog.deployment_id == deployment_id).order_by(BuildLog.seq)
        ).all()
        return render_template("deployment.html", d=d, lines=lines,
                               last_seq=lines[-1].seq if lines else 0,
                               can_deploy=can(current_actor(), d.project, Action.DEPLOY, session))


@bp.post("/deployments/<int:deployment_id>/redeploy")
@guard(Action.DEPLOY)
def redeploy(deployment_id: int):
    """Run this deployment's image again (an instant rollback): no rebuild."""
    check_csrf()
    try:
        new_id = request_redeploy(deployment_id)
    except DeployRequestError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.deployment", deployment_id=deployment_id))
    record_deployment_action(_settings(), "redeploy", new_id, of=deployment_id)
    return redirect(url_for("dashboard.deployment", deployment_id=new_id))


@bp.post("/deployments/<int:deployment_id>/cancel")
@guard(Action.DEPLOY)
def cancel(deployment_id: int):
    """Stop an unfinished deployment; its job reports the cancellation."""
    check_csrf()
    try:
        cancel_deployment(deployment_id, _settings())
    except DeployRequestError as exc:
        if exc.status == 404:
            abort(404)
        flash(str(exc), "error")
    else:
        record_deployment_action(_settings(), "cancel", deployment_id)
    return redirect(url_for("dashboard.deployment", deployment_id=deployment_id))


@bp.get("/deployments/<int:deployment_id>/log/stream")
@guard(Action.VIEW)
def log_stream(deployment_id: int):
    """Server-sent events: log lines after ``?after=SEQ``, then an ``end`` event with the state."""
    from flask import request

    after = request.args.get("after", default=0, type=int)
    settings = _settings()
    with session_scope(settings) as session:
        d = session.get(Deployment, deployment_id)
        if d is None:
            abort(404)
        final = d.state_enum.final
        state = d.state

    def events():
        if final:
            yield from _db_lines(settings, deployment_id, after)
            yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
            return
        key = stream_key(deployment_id, settings.queue_name)
        for entry in follow(redis_connection(settings), key, after_seq=after, block_ms=10000):
            if "idle" in entry:
                yield ": keep-alive\n\n"
                with session_scope(settings) as s:
                    dep = s.get(Deployment, deployment_id)
                    if dep.state_enum.final:
                        yield from _db_lines(settings, deployment_id, after)
                        yield f"event: end\ndata: {json.dumps({'state': dep.state})}\n\n"
                        return
            elif "end" in entry:
                yield f"event: end\ndata: {json.dumps({'state': entry['end']})}\n\n"
                return
            else:
                yield f"id: {entry['seq']}\ndata: {json.dumps(entry)}\n\n"

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def record_deployment_action(settings, action: str, deployment_id: int, **detail) -> None:
    """The audit entry of a deploy, redeploy or cancel, by whoever asked."""
    with session_scope(settings) as session:
        d = session.get(Deployment, deployment_id)
        audit.record(session, current_actor(), action, d.project if d is not None else None,
                     deployment_id=deployment_id, **detail)
# How long one app-log stream stays open; the browser's EventSource reconnects after it.
APP_LOG_STREAM_S = 300


@bp.get("/deployments/<int:deployment_id>/app-log")
@guard(Action.VIEW)
def app_log_stream(deployment_id: int):
    """Server-sent events: what the running app prints (the last lines, then new ones), secrets masked."""
    import time

    from slipway.applogs import NoAppLog, app_log
    from slipway.targets import targets_from_settings

    settings = _settings()
    with session_scope(settings) as session:
        if session.get(Deployment, deployment_id) is None:
            abort(404)
    lines = app_log(settings, targets_from_settings(settings), deployment_id, follow=True)

    def events():
        until = time.monotonic() + APP_LOG_STREAM_S
        try:
            for line in lines:
                yield f"data: {json.dumps({'line': line})}\n\n"
                if time.monotonic() > until:
                    break
        except NoAppLog as exc:
            yield f"event: none\ndata: {json.dumps({'why': str(exc)})}\n\n"
        finally:
            lines.close()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/projects/<name>/domains")
@guard(Action.SETTINGS)
def add_domain(name: str):
    """Serve the project's production at a custom domain, over HTTPS."""
    from slipway.domains import add_domain as add
    from slipway.domains import certificate_note, domain_url, normalise
    from slipway.proxy import sync_routes

    check_csrf()
    settings = _settings()
    domain = request.form.get("domain", "")
    with session_scope(settings) as session:
        p = session.scalar(select(Project).where(Project.name == name))
        if p is None:
            abort(404)
        try:
            add(session, settings, p, domain)
        except UserError as exc:
            session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("dashboard.project", name=name), code=303)
        audit.record(session, current_actor(), "domain.add", p, domain=normalise(domain))
    sync_routes(settings)
    domain = normalise(domain)
    flash(f"{name} answers at {domain_url(settings, domain)} ({certificate_note(domain)})", "notice")
    return redirect(url_for("dashboard.project", name=name), code=303)


@bp.post("/projects/<name>/domains/<domain>/remove")
@guard(Action.SETTINGS)
def remove_domain(name: str, domain: str):
    from slipway.domains import remove_domain as remove
    from slipway.proxy import sync_routes

    check_csrf()
    settings = _settings()
    with session_scope(settings) as session:
        p = session.scalar(select(Project).where(Project.name == name))
        if p is None:
            abort(404)
        try:
            remove(session, p, domain)
        except UserError as exc:
            session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("dashboard.project", name=name), code=303)
        audit.record(session, current_actor(), "domain.remove", p, domain=domain)
    sync_routes(settings)
    flash(f"removed {domain}", "notice")
    return redirect(url_for("dashboard.project", name=name), code=303)


def _db_lines(settings, deployment_id: int, after: int):
    with session_scope(settings) as session:
        rows = session.scalars(
            select(BuildLog).where(BuildLog.deployment_id == deployment_id, BuildLog.seq > after).order_by(BuildLog.seq)
        ).all()
        for row in rows:
            yield f"id: {row.seq}\ndata: {json.dumps({'seq': row.seq, 'line': row.line})}\n\n"


def _leases(settings, session, project_id: int) -> dict:
    """The project's open leases (live deployments with an Akash reference) and their events."""
    from slipway.lease_events import per_month
    from slipway.models import LeaseEvent

    live = session.scalars(select(Deployment).where(Deployment.project_id == project_id,
                                                    Deployment.state == State.LIVE.value,
                                                    Deployment.target_ref.is_not(None))).all()
    refs = [(d.id, d.target_ref) for d in live if (d.target_ref or {}).get("dseq")]
    lcd = None
    if refs:
        from slipway.targets import targets_from_settings

        lcd = getattr(targets_from_settings(settings).get("akash"), "lcd", None)
    leases = []
    for dep_id, ref in refs:
        escrow = None
        if lcd is not None:
            try:
                left = lcd.escrow_left(ref["owner"], int(ref["dseq"]))
                escrow = int(left) if left is not None else None
            except Exception:  # noqa: BLE001 - the node may be away: the page shows "?"
                escrow = None
        leases.append({"deployment_id": dep_id, "network": ref.get("network"), "provider": ref.get("provider"),
                       "dseq": ref["dseq"], "price_uact": ref.get("price_uact"),
                       "per_month": per_month(ref.get("price_uact")), "escrow_left": escrow})
    history = session.scalars(select(LeaseEvent).join(Deployment).where(Deployment.project_id == project_id)
                              .order_by(LeaseEvent.id.desc()).limit(50)).all()
    return {"leases": leases, "lease_history": history}
