"""GitHub App: create it from a manifest, see installations, connect repositories.

The operator's page: only the local admin reaches it (others get 404).

The manifest flow: ``POST /github/app`` builds the manifest and a one-time ``state``
(kept in the session) and sends the browser on to GitHub; GitHub sends it back to
``/github/callback?code=...&state=...``, where the code becomes the App's credentials,
stored encrypted, and the browser goes on to install the App.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from slipway.accounts.access import Site
from slipway.crypto import SecretKeyMissing
from slipway.db import session_scope
from slipway.github import installations as inst
from slipway.github.app import (
    APP_NAME_MAX,
    app_manifest,
    app_state,
    github_client,
    manifest_post_url,
    register_from_manifest,
)
from slipway.github.client import GitHubError
from slipway.models import Installation, InstallationRepository, Project
from slipway.projects import ProjectSpec, connect_project
from slipway.settings import Settings
from slipway.validation import is_int_id
from web.access import guard
from web.csrf import check_csrf, csrf_token

bp = Blueprint("github", __name__)

STATE_KEY = "github_manifest_state"
GITHUB_LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


# -- pages -----------------------------------------------------------------------

@bp.get("/github")
@guard(Site.OPERATOR)
def index():
    return _page()


@bp.post("/github/app")
@guard(Site.OPERATOR)
def create_app_start():
    """Build the manifest and hand the browser to GitHub (a form that submits itself)."""
    check_csrf()
    settings = _settings()
    if app_state(settings).source != "none":
        return _page(app_error="Slipway already has a GitHub App; remove it before creating another.", status=409)
    name = request.form.get("name", "").strip()
    organization = request.form.get("organization", "").strip()
    problems = []
    if not name or len(name) > APP_NAME_MAX:
        problems.append(f"the App name must be 1-{APP_NAME_MAX} characters")
    if organization and not GITHUB_LOGIN_RE.fullmatch(organization):
        problems.append(f"{organization!r} is not a GitHub organization name")
    if problems:
        return _page(app_error="; ".join(problems), app_values={"name": name, "organization": organization}, status=400)
    state = secrets.token_urlsafe(32)
    session[STATE_KEY] = state
    return render_template(
        "github_create.html",
        action=manifest_post_url(settings, state, organization),
        manifest=json.dumps(app_manifest(settings, name)),
        organization=organization,
        name=name,
    )


@bp.get("/github/callback")
@guard(Site.OPERATOR)
def callback():
    """GitHub's redirect after the App was registered: store its credentials, then install it."""
    expected = session.pop(STATE_KEY, None)
    state = request.args.get("state", "")
    if not expected or not state or not hmac.compare_digest(expected.encode(), state.encode()):
        return _error(400, "This link does not belong to an App creation started here",
                      "The state GitHub sent back does not match the one Slipway handed out (or the creation "
                      "was already finished). Nothing was stored. Start again from the GitHub page.")
    code = request.args.get("code", "")
    if not code:
        return _error(400, "GitHub sent no code", "The callback carries no code, so there is nothing to finish. "
                      "Start again from the GitHub page.")
    try:
        record = register_from_manifest(code, _settings())
    except GitHubError as exc:
        if exc.status in (404, 422):
            return _error(400, "GitHub did not accept the code",
                          "The code was already used or has expired (a code works once, within an hour). "
                          "If the App was created, it is listed in your GitHub settings under Developer settings; "
                          "delete it there or configure it through SLIPWAY_GITHUB_APP_ID, then start again.")
        current_app.logger.warning("github: manifest conversion failed: %s", exc)
        return _error(502, "GitHub could not finish the App creation",
                      f"GitHub answered {exc.status or 'nothing'} while Slipway fetched the App's credentials. "
                      "Try again from the GitHub page.")
    except SecretKeyMissing:
        return _error(500, "Slipway cannot store the App's secrets",
                      "SLIPWAY_SECRET_KEY is not set, and the App's private key is only ever stored encrypted. "
                      "Run `slipway init`, restart, and start again.")
    current_app.logger.info("github: App %s (%s) created through the manifest flow", record.app_id, record.slug)
    return redirect(f"{record.html_url}/installations/new")


@bp.get("/github/installed")
@guard(Site.OPERATOR)
def installed():
    """GitHub's setup URL: the App was installed or its repositories changed.

    The query string comes from the browser, so it is only shown, never trusted:
    the signed ``installation`` webhook is what records the installation.
    """
    if request.args.get("setup_action") == "update":
        flash("GitHub says the installation changed. Its repositories update here when GitHub's event arrives.")
    else:
        flash("GitHub says the App was installed. Its repositories appear here when GitHub's installation "
              "event arrives (reload in a moment).")
    return redirect(url_for("github.index"))


@bp.post("/github/installations/<int:installation_id>/refresh")
@guard(Site.OPERATOR)
def refresh(installation_id: int):
    """Ask GitHub which repositories the installation grants (when an event was missed)."""
    check_csrf()
    settings = _settings()
    client = github_client(settings)
    if client is None:
        return _page(app_error="No GitHub App is configured, so there is nothing to ask GitHub with.", status=409)
    with session_scope(settings) as db:
        if _active_installation(db, installation_id) is None:
            abort(404)
    try:
        repos = client.list_installation_repositories(installation_id)
    except GitHubError as exc:
        current_app.logger.warning("github: listing installation %s repositories failed: %s", installation_id, exc)
        return _page(app_error=f"GitHub answered {exc.status or 'nothing'} when asked for installation "
                               f"{installation_id}'s repositories.", status=502)
    with session_scope(settings) as db:
        installation = _active_installation(db, installation_id)
        if installation is None:
            abort(404)
        names = inst.replace_repositories(db, installation, [
            {"id": r["id"], "full_name": r["full_name"], "private": r.get("private", False)} for r in repos
        ])
        disconnected, reconnected = inst.reconcile(db, installation)
    message = f"Installation {installation_id} grants {len(names)} repositories."
    if disconnected:
        message += f" Disconnected: {', '.join(disconnected)}."
    if reconnected:
        message += f" Reconnected: {', '.join(reconnected)}."
    flash(message)
    return redirect(url_for("github.index"))


@bp.post("/github/connect")
@guard(Site.OPERATOR)
def connect():
    """Create a project for one of an installation's repositories."""
    check_csrf()
    settings = _settings()
    installation_id = request.form.get("installation_id", type=int)
    repo_id = request.form.get("repo_id", type=int)
    values = {"name": request.form.get("name", "").strip(), "branch": request.form.get("branch", "").strip() or "main"}
    with session_scope(settings) as db:
        installation = _active_installation(db, installation_id) if installation_id else None
        repo = db.scalar(select(InstallationRepository).where(
            InstallationRepository.installation_id == installation_id, InstallationRepository.repo_id == repo_id,
        )) if installation is not None and is_int_id(repo_id) else None
        if repo is None:
            return _error(404, "No such repository",
                          "The installation does not grant this repository (any more). Reload the GitHub page.")
        if installation.suspended:
            return _page(connect_error=(installation_id, repo_id, "The installation is suspended on GitHub; "
                                        "unsuspend it before connecting its repositories."),
                         connect_values=values, status=409)
        spec = ProjectSpec(
            name=values["name"], repo_url=f"{settings.github_url.rstrip('/')}/{repo.full_name}.git",
            github_repo=repo.full_name, branch=values["branch"], target=settings.default_target,
        )
        try:
            name = connect_project(db, spec, installation).name
        except ValueError as exc:
            error = (installation_id, repo_id, str(exc))
        else:
            error = None
    if error:
        return _page(connect_error=error, connect_values=values, status=422)
    return redirect(url_for("dashboard.project", name=name))


# -- helpers ---------------------------------------------------------------------

def _page(*, app_error: str | None = None, app_values: dict | None = None, connect_error: tuple | None = None,
          connect_values: dict | None = None, status: int = 200):
    settings = _settings()
    with session_scope(settings) as db:
        installations = inst.active_installations(db)
        projects = db.scalars(select(Project).where(Project.github_repo.is_not(None)).order_by(Project.name)).all()
        by_repo: dict[str, list[Project]] = {}
        for p in projects:
            by_repo.setdefault(p.github_repo.lower(), []).append(p)
        rows = [
            (i, sorted(i.repositories, key=lambda r: r.full_name.lower()))
            for i in installations
        ]
        body = render_template(
            "github.html",
            app=app_state(settings),
            settings=settings,
            public_url=settings.public_url.rstrip("/"),
            public_is_local=_is_local(settings.public_url),
            installations=rows,
            by_repo=by_repo,
            disconnected=[p for p in projects if not inst.connected(p)],
            suggest=suggest_project_name,
            app_error=app_error,
            app_values=app_values or {"name": default_app_name(), "organization": ""},
            connect_error=connect_error,
            connect_values=connect_values or {},
            messages=get_flashed_messages(),
            csrf=csrf_token(),
        )
    return body, status


def _error(status: int, title: str, message: str):
    return render_template("github_error.html", title=title, message=message), status


def _active_installation(db, installation_id: int) -> Installation | None:
    if not is_int_id(installation_id):  # out of the column's range: no such row, and no database error
        return None
    installation = db.get(Installation, installation_id)
    return installation if installation is not None and installation.deleted_at is None else None


def _is_local(url: str) -> bool:
    """GitHub cannot deliver webhooks to an address only this machine knows."""
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "0.0.0.0", "::1") or host.startswith("127.")


def suggest_project_name(full_name: str) -> str:
    """A valid project name from a repository's name: ``Octo/Hello_World`` -> ``hello-world``."""
    name = re.sub(r"[^a-z0-9]+", "-", full_name.split("/")[-1].lower()).strip("-")[:40].strip("-")
    return name or "app"


def default_app_name() -> str:
    """App names are unique across GitHub; a random suffix keeps a first try from colliding."""
    return f"slipway-{secrets.token_hex(3)}"
