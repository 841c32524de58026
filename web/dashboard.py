"""Dashboard pages: projects, deployments, and a deployment's live log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

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
from sqlalchemy.orm import Session

from slipway import envvars
from slipway.accounts import audit, teams
from slipway.accounts.access import Action, Site, can, visible_projects
from slipway.akash_settings import FIELDS, as_text
from slipway.buildlog import follow, stream_key
from slipway.db import session_scope
from slipway.deployments import BranchHead, DeployRequestError, cancel_deployment, request_deployment, request_redeploy
from slipway.errors import AppError, UserError, render
from slipway.git_remote import mask_url_credentials, remote_url, uses_git_remote
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import creatable_teams, importable_repos, make_project, set_akash_settings
from slipway.queue import redis_connection
from slipway.states import State, comes_after
from web.access import current_actor, guard
from web.csrf import check_csrf
from web.present import ago, duration, failing_line, log_html, spend, steps

bp = Blueprint("dashboard", __name__)
bp.add_app_template_filter(ago, "ago")
bp.add_app_template_filter(duration, "duration")
bp.add_app_template_filter(log_html, "log_html")


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
        sources = {p.id: p.github_repo or ("git push" if uses_git_remote(_settings(), p.name, p.repo_url)
                                           else mask_url_credentials(p.repo_url)) for p in projects}
        return render_template("index.html", projects=projects, latest=latest, live=live, recent=recent,
                               sources=sources)


def _newest(session, project_id: int, *conditions) -> Deployment | None:
    return session.scalar(
        select(Deployment).where(Deployment.project_id == project_id, *conditions).order_by(Deployment.id.desc()).limit(1)
    )


@bp.get("/projects/<name>")
@guard(Action.VIEW)
def project(name: str):
    return _project_page(name)


@contextmanager
def _project_session(name: str) -> Iterator[tuple[Session, Project]]:
    """A session (committed at the end) and the route's project (404 when there is none)."""
    with session_scope(_settings()) as session:
        project = session.scalar(select(Project).where(Project.name == name))
        if project is None:
            abort(404)
        yield session, project


def _project_page(name: str, status: int = 200):
    settings = _settings()
    with _project_session(name) as (session, p):
        deployments = session.scalars(
            select(Deployment).where(Deployment.project_id == p.id).order_by(Deployment.id.desc()).limit(50)
        ).all()
        live = _newest(session, p.id, Deployment.state == State.LIVE.value, Deployment.pr_number.is_(None))
        git_remote = remote_url(settings, p.name) if uses_git_remote(settings, p.name, p.repo_url) else None
        actor = current_actor()
        from slipway.deployments import rollback_source
        from slipway.domains import domain_url

        domains = [(d.name, domain_url(settings, d.name)) for d in p.domains]
        source = p.github_repo or ("git push to Slipway" if git_remote else mask_url_credentials(p.repo_url))
        return render_template("project.html", project=p, deployments=deployments, live=live, source=source,
                               rollback_to=rollback_source(session, p), domains=domains,
                               can_deploy=can(actor, p, Action.DEPLOY, session),
                               can_settings=can(actor, p, Action.SETTINGS, session),
                               can_reconnect=actor.is_admin,  # the GitHub page is the operator's (Site.OPERATOR)
                               git_remote=git_remote, has_hook=bool(p.deploy_hook_enc),
                               env_names=envvars.names(session, p.id), **_leases(settings, session, p.id)), status


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
        return _settings_page(name, status=400, akash_form=raw, akash_error=error)
    flash("Akash settings saved; they apply from the next deployment.", "notice")
    return redirect(url_for("dashboard.project_settings", name=name))


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
                               last_seq=lines[-1].seq if lines else 0, failing=failing_line(lines, d.state),
                               steps=steps(d, has_log=bool(lines)),
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
        # The state first, so a page rendered a moment ago never shows "queued" under a streaming build.
        yield _state_event(state)
        if final:
            yield from _db_lines(settings, deployment_id, after)
            yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
            return
        shown, sent = state, after
        key = stream_key(deployment_id, settings.queue_name)
        for entry in follow(redis_connection(settings), key, after_seq=after, block_ms=QUIET_CHECK_MS):
            if "end" in entry:
                yield f"event: end\ndata: {json.dumps({'state': entry['end']})}\n\n"
                return
            if "state" in entry:
                # Each step as the worker takes it; the stream replays earlier ones, never shown twice.
                if comes_after(entry["state"], shown):
                    shown = entry["state"]
                    yield _state_event(shown)
                continue
            if "idle" not in entry:
                sent = max(sent, entry["seq"])
                yield _line_event(entry["seq"], entry["line"])
                continue
            # Quiet for QUIET_CHECK_MS: the database, in case it ended without its stream's end mark
            # (a worker that died, a deployment cancelled before any job ran it).
            with session_scope(settings) as s:
                dep = s.get(Deployment, deployment_id)
                now_state, now_final = dep.state, dep.state_enum.final
            if now_state != shown:
                shown = now_state
                yield _state_event(now_state)
            if now_final:
                yield from _db_lines(settings, deployment_id, sent)
                yield f"event: end\ndata: {json.dumps({'state': now_state})}\n\n"
                return
            yield ": keep-alive\n\n"

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
    with _project_session(name) as (session, p):
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
    with _project_session(name) as (session, p):
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
            yield _line_event(row.seq, row.line)


# How often a live log stream looks at the deployment's state (the steps), in milliseconds.
# How long a running deployment's stream may be quiet before the database is asked how it is.
QUIET_CHECK_MS = 5000


def _line_event(seq: int, line: str) -> str:
    return f"id: {seq}\ndata: {json.dumps({'seq': seq, 'line': line, 'html': str(log_html(line))})}\n\n"


def _state_event(state: str) -> str:
    return f"event: state\ndata: {json.dumps({'state': state})}\n\n"


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
    project = session.get(Project, project_id)
    budget = (project.akash_settings or {}).get("budget_uact") or _int_or_none(settings.akash_budget)
    return {"leases": leases, "lease_history": history, "akash_spend": spend(history, leases, budget)}


def _int_or_none(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


# -- creating a project ---------------------------------------------------------

def _new_page(values: dict | None = None, error: str | None = None, status: int = 200):
    settings = _settings()
    actor = current_actor()
    with session_scope(settings) as session:
        repos = [(i.id, r.repo_id, r.full_name, r.private) for i, r in importable_repos(session, actor)]
        team_slugs = [(t.slug, t.name) for t in creatable_teams(session, actor)]
    return render_template("new_project.html", repos=repos, teams=team_slugs, values=values or {},
                           error=error, targets=_target_names(settings), default_target=settings.default_target,
                           is_admin=actor.is_admin), status


def _target_names(settings) -> list[str]:
    from slipway.targets import targets_from_settings

    try:
        return sorted(targets_from_settings(settings))
    except Exception:  # noqa: BLE001 - a misconfigured target: offer the default only
        return [settings.default_target]


@bp.get("/new")
@guard(Site.SIGNED_IN)
def new_project():
    return _new_page()


@bp.post("/new")
@guard(Site.SIGNED_IN)
def create_project():
    """Create a project from a GitHub repository the App can read, or one deployed by ``git push``."""
    check_csrf()
    settings = _settings()
    form = request.form
    values = {k: form.get(k, "").strip() for k in ("source", "name", "branch", "target", "team", "repo")}
    values["branch"] = values["branch"] or "main"
    values["target"] = values["target"] or settings.default_target
    with session_scope(settings) as session:
        try:
            project, token = make_project(session, settings, current_actor(), **values)
        except (UserError, ValueError) as exc:
            session.rollback()
            return _new_page(values, str(exc), 422)
        name = project.name
    if token is None:
        flash(f"Created {name}: push to its branch on GitHub, or deploy it now.", "notice")
        return redirect(url_for("dashboard.project", name=name))
    return _secret_page(name, "git remote", token=token, remote=remote_url(settings, name), status=201)


def _secret_page(name: str, what: str, status: int = 200, **shown_once):
    """A token or hook URL, shown on this page only: Slipway keeps its hash or its ciphertext."""
    return render_template("shown_once.html", name=name, what=what, **shown_once), status


# -- a project's settings ------------------------------------------------------

# The marks a variable can carry (slipway.envvars): (form field, label, explanation). The variable
# form draws one checkbox per entry and passes the checked ones to ``_set_variable``.
ENV_MARKS: tuple[tuple[str, str, str], ...] = (
    ("runtime", "Runtime", "given to the running app (a new variable's default)"),
    ("build", "Build", "given to the Dockerfile's build stages only (declare it with ARG in a stage the final "
                       "image is not made FROM), never to the image"),
)


@bp.get("/projects/<name>/settings")
@guard(Action.SETTINGS)
def project_settings(name: str):
    return _settings_page(name)


def _settings_page(name: str, error: str | None = None, status: int = 200, **extra):
    settings = _settings()
    with _project_session(name) as (session, p):
        git_remote = remote_url(settings, p.name) if uses_git_remote(settings, p.name, p.repo_url) else None
        return render_template("settings.html", project=p, error=error, git_remote=git_remote,
                               has_hook=bool(p.deploy_hook_enc), env_names=envvars.names(session, p.id),
                               env_scopes=envvars.scopes(session, p.id), env_marks=ENV_MARKS, akash_fields=AKASH_FIELDS,
                               akash_form=extra.pop("akash_form", None) or as_text(p.akash_settings or {}),
                               akash_error=extra.pop("akash_error", None), targets=_target_names(settings),
                               can_manage=can(current_actor(), p, Action.MANAGE, session),
                               team=teams.team_of(session, p.id), **extra), status


@bp.post("/projects/<name>/settings")
@guard(Action.SETTINGS)
def save_settings(name: str):
    from slipway.projects import update_project

    check_csrf()
    form = request.form
    changes = {k: form.get(k, "").strip() or None
               for k in ("branch", "dockerfile", "build_context", "health_path", "target", "fork_previews")}
    if "previews_shown" in form:
        changes["previews_enabled"] = form.get("previews_enabled") == "on"
    with session_scope(_settings()) as session:
        try:
            project = update_project(session, name, **changes)
        except ValueError as exc:
            session.rollback()
            error = str(exc)
        else:
            error = None
            audit.record(session, current_actor(), "settings.project", project,
                         fields=sorted(k for k, v in changes.items() if v is not None))
    if error:
        return _settings_page(name, error=error, status=400)
    flash("Settings saved; they apply from the next deployment.", "notice")
    return redirect(url_for("dashboard.project_settings", name=name))


@bp.post("/projects/<name>/env")
@guard(Action.SETTINGS)
def set_variable(name: str):
    """Add or replace a variable. Its value is write-only: no page ever shows it again."""
    check_csrf()
    key = request.form.get("key", "").strip()
    value = request.form.get("value", "")
    marks = [field for field, _label, _why in ENV_MARKS if request.form.get(field) == "on"]
    with _project_session(name) as (session, project):
        try:
            _set_variable(session, project, key, value, marks)
        except ValueError as exc:
            session.rollback()
            error = str(exc)
        else:
            error = None
            audit.record(session, current_actor(), "env.set", project, names=[key], marks=marks)
    if error:
        return _settings_page(name, error=error, status=400, env_key=key)
    flash(f"{key} saved; it applies from the next deployment.", "notice")
    return redirect(url_for("dashboard.project_settings", name=name) + "#variables")


def _set_variable(session, project: Project, key: str, value: str, marks: list[str]) -> None:
    """The one place the form's marks meet slipway.envvars: runtime, build, both, or (none ticked) the
    variable's scope so far (a new one: runtime)."""
    scope = {("build", "runtime"): "both", ("build",): "build", ("runtime",): "runtime"}.get(tuple(sorted(marks)))
    envvars.set_vars(session, project, {key: value}, scope)


@bp.post("/projects/<name>/env/<key>/delete")
@guard(Action.SETTINGS)
def unset_variable(name: str, key: str):
    check_csrf()
    with _project_session(name) as (session, project):
        missing = envvars.unset_vars(session, project, [key])
        if not missing:
            audit.record(session, current_actor(), "env.unset", project, names=[key])
    flash(f"{key} was not set." if missing else f"{key} removed; it applies from the next deployment.",
          "error" if missing else "notice")
    return redirect(url_for("dashboard.project_settings", name=name) + "#variables")


@bp.post("/projects/<name>/hook")
@guard(Action.SETTINGS)
def make_hook(name: str):
    """A new deploy hook URL (the old one stops working), shown once."""
    from slipway.git_remote import hook_url, issue_hook_token

    check_csrf()
    settings = _settings()
    with _project_session(name) as (session, project):
        token = issue_hook_token(project)
        audit.record(session, current_actor(), "project.hook", project)
        branch = project.branch
    return _secret_page(name, "deploy hook", hook=hook_url(settings, token), branch=branch)


@bp.post("/projects/<name>/hook/delete")
@guard(Action.SETTINGS)
def delete_hook(name: str):
    check_csrf()
    with _project_session(name) as (session, project):
        project.deploy_hook_enc = None
        audit.record(session, current_actor(), "project.hook", project, removed=True)
    flash("Deploy hook removed: its URL no longer deploys.", "notice")
    return redirect(url_for("dashboard.project_settings", name=name) + "#hook")


@bp.post("/projects/<name>/token")
@guard(Action.SETTINGS)
def make_push_token(name: str):
    """A new token for the project's git remote (the old one stops working), shown once."""
    from slipway.git_remote import issue_push_token

    check_csrf()
    settings = _settings()
    with _project_session(name) as (session, project):
        try:
            token = issue_push_token(project, settings)
        except ValueError as exc:
            session.rollback()
            flash(str(exc), "error")
            return redirect(url_for("dashboard.project_settings", name=name))
        audit.record(session, current_actor(), "project.token", project)
    return _secret_page(name, "git remote", token=token, remote=remote_url(settings, name))


@bp.post("/projects/<name>/rollback")
@guard(Action.DEPLOY)
def rollback(name: str):
    """Run the production deployment before the live one again (its image, no rebuild)."""
    from slipway.deployments import rollback_source

    check_csrf()
    with _project_session(name) as (session, project):
        source = rollback_source(session, project)
        source_id = source.id if source is not None else None
    if source_id is None:
        flash(render(UserError.DASH_NOTHING_TO_ROLL_BACK), "error")
        return redirect(url_for("dashboard.project", name=name))
    return redeploy.__wrapped__(source_id)


@bp.post("/projects/<name>/delete")
@guard(Action.MANAGE)
def delete(name: str):
    """Delete the project, once its name is typed again."""
    import logging

    from slipway.projects import delete_project

    check_csrf()
    if request.form.get("confirm", "").strip() != name:
        return _settings_page(name, error=render(UserError.DASH_DELETE_CONFIRM, name=name), status=400)
    actor = current_actor()
    try:
        delete_project(_settings(), name, logging.getLogger(__name__).info,
                       record=lambda session, p: audit.record(session, actor, "project.delete", p))
    except AppError as exc:  # its target failed: nothing was deleted, say so and let them try again
        return _settings_page(name, error=str(exc), status=503)
    except ValueError:  # deleted meanwhile
        abort(404)
    flash(f"Deleted {name}.", "notice")
    return redirect(url_for("dashboard.index"))
