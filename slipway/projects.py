"""Creating and finding projects."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import Session

from slipway.models import Installation, Project
from slipway.settings import get_settings
from slipway.targets import target_problem
from slipway.validation import branch_problem, is_project_name, repo_url_problem, shown


@dataclass
class ProjectSpec:
    name: str
    repo_url: str
    github_repo: str | None = None
    branch: str = "main"
    dockerfile: str = "Dockerfile"
    build_context: str = "."
    # SLIPWAY_DEFAULT_TARGET unless the project names its own.
    target: str = field(default_factory=lambda: get_settings().default_target)
    health_path: str = "/"
    # Its own Akash settings, already checked (slipway.akash_settings.parse_akash_settings).
    akash_settings: dict | None = None

    def problems(self) -> list[str]:
        out = []
        if not is_project_name(self.name):
            out.append(
                f"project name {shown(self.name or '')} must be 1-40 lowercase letters, digits or dashes, "
                "starting and ending with a letter or digit"
            )
        url_problem = repo_url_problem(self.repo_url)
        if url_problem:
            out.append(url_problem)
        if self.github_repo and self.github_repo.count("/") != 1:
            out.append(f"GitHub repository {self.github_repo!r} must look like owner/name")
        target = target_problem(self.target, get_settings())
        if target:
            out.append(target)
        for label, path in (("Dockerfile path", self.dockerfile), ("build context", self.build_context)):
            if path.startswith("/") or ".." in path.split("/"):
                out.append(f"{label} {path!r} must be a relative path inside the repository")
        if not self.health_path.startswith("/"):
            out.append(f"health path {self.health_path!r} must start with /")
        branch = branch_problem(self.branch)
        if branch:
            out.append(branch)
        return out


def create_project(session: Session, spec: ProjectSpec) -> Project:
    """Validate and insert a project; ValueError says what to fix."""
    problems = spec.problems()
    if session.scalar(select(Project.id).where(Project.name == spec.name)) is not None:
        problems.append(f"a project named {spec.name!r} already exists")
    if problems:
        raise ValueError("; ".join(problems))
    project = Project(**spec.__dict__)
    session.add(project)
    session.flush()
    return project


def connect_project(session: Session, spec: ProjectSpec, installation: Installation) -> Project:
    """Create a project for a repository the GitHub App's ``installation`` grants, tied to it.

    The one road of the dashboard's Connect button and `slipway project create --github`: pushes to the
    repository then deploy it, and losing the grant disconnects it (slipway.github.installations).
    ValueError says what to fix; UserError if the installation is suspended.
    """
    from slipway.errors import UserError

    if installation.suspended:
        raise UserError(UserError.PROJECT_INSTALLATION_SUSPENDED, account=installation.account_login,
                        id=installation.id, repo=spec.github_repo)
    project = create_project(session, spec)  # validates before it writes
    project.installation_id = installation.id
    return project


def projects_for_push(session: Session, github_repo: str, branch: str) -> list[Project]:
    """Projects connected to ``github_repo`` that deploy ``branch``.

    GitHub's owner/name are case-insensitive, so a project typed as Acme/Site still matches.
    """
    return list(session.scalars(_FOR_PUSH, {"repo": github_repo.lower(), "branch": branch}))


# Built once: every push GitHub sends asks it, most of them for branches nobody deploys.
_PUSHED = (func.lower(Project.github_repo) == bindparam("repo"), Project.branch == bindparam("branch"))
_FOR_PUSH = select(Project).where(*_PUSHED)
# Whether some project, connected or not, deploys the branch ``repo`` (lower case) ``branch``.
PUSH_DEPLOYED = exists().where(*_PUSHED)


def get_project_by_name(session: Session, name: str) -> Project | None:
    return session.scalar(select(Project).where(Project.name == name))


FORK_PREVIEW_POLICIES = ("never", "collaborators", "always")


def update_project(session: Session, name: str, **changes: object) -> Project:
    """Change a project's settings; ValueError says what to fix. ``None`` values are left alone."""
    project = get_project_by_name(session, name)
    if project is None:
        raise ValueError(f"no project named {name!r}")
    changes = {k: v for k, v in changes.items() if v is not None}
    policy = changes.get("fork_previews")
    if policy is not None and policy not in FORK_PREVIEW_POLICIES:
        raise ValueError(f"fork previews must be one of {', '.join(FORK_PREVIEW_POLICIES)}")
    spec_fields = {f for f in ProjectSpec.__dataclass_fields__} - {"akash_settings"}
    spec = ProjectSpec(**{f: getattr(project, f) for f in spec_fields})
    for key in spec_fields & changes.keys():
        setattr(spec, key, changes[key])
    problems = [p for p in spec.problems() if "project name" not in p]
    if problems:
        raise ValueError("; ".join(problems))
    for key, value in changes.items():
        setattr(project, key, value)
    return project


def set_akash_settings(session: Session, name: str, raw: dict[str, str | None]) -> Project:
    """Change a project's own Akash settings from text (None: leave alone, "": back to the installation's).

    UserError (project:user:akash-settings) lists every value to fix; ValueError if there is no such project.
    """
    from slipway.akash_settings import parse_akash_settings

    project = get_project_by_name(session, name)
    if project is None:
        raise ValueError(f"no project named {name!r}")
    project.akash_settings = parse_akash_settings(raw, project.akash_settings or {})
    return project


# -- a new project, as the dashboard and the API make it ---------------------------------------

def importable_repos(session, actor) -> list[tuple]:
    """(installation, repository) pairs the actor may make a project of: the App's installations'
    repositories; a GitHub user only those their own token can push to (member or owner)."""
    from slipway.accounts.access import Role
    from slipway.github.installations import active_installations

    roles = None if actor.is_admin else actor.repo_roles()
    out = []
    for i in active_installations(session):
        if i.suspended:
            continue
        for r in sorted(i.repositories, key=lambda r: r.full_name.lower()):
            if roles is None or roles.get(r.full_name.lower()) in (Role.OWNER, Role.MEMBER):
                out.append((i, r))
    return out


def creatable_teams(session, actor) -> list:
    """Teams the actor may put a new project in (owner or member); the admin may put it in none."""
    from slipway.accounts import teams
    from slipway.accounts.access import Role

    return [t for t in teams.visible(session, actor)
            if actor.is_admin or actor.team_roles.get(t.id) in (Role.OWNER, Role.MEMBER)]


def make_project(session: Session, settings, actor, *, source: str, name: str, branch: str, target: str, team: str,
                 repo: str, github_repo: str = "") -> tuple[Project, str | None]:
    """The one road to a new project, for the dashboard's /new and the API: from a repository the
    actor may import (``source="github"``, ``repo`` as "installation:repository id" or owner/name), a
    git-push project (``source="git"``), or a repository cloned from its URL (``source="url"``, ``repo`` the
    URL, ``github_repo`` the repository whose plain webhook deploys it), in one of the actor's teams.
    Returns it and, for git push, its remote's token (shown once). UserError or ValueError says what to fix."""
    from slipway.accounts import audit, teams
    from slipway.errors import UserError
    from slipway.git_remote import ensure_repository, issue_push_token, repository_path

    chosen = None
    if team:
        chosen = next((t for t in creatable_teams(session, actor) if t.slug == team), None)
        if chosen is None:
            raise UserError(UserError.DASH_NO_SUCH_TEAM, team=team)
    elif not actor.is_admin and source != "github":
        raise UserError(UserError.DASH_TEAM_NEEDED)
    installation_id = None
    if source == "github":
        pairs = {}
        for i, r in importable_repos(session, actor):
            pairs[f"{i.id}:{r.repo_id}"] = pairs[r.full_name.lower()] = (i, r)
        if repo.lower() not in pairs:
            raise UserError(UserError.DASH_NO_SUCH_REPO)
        i, r = pairs[repo.lower()]
        installation_id, github_repo = i.id, r.full_name
        repo_url = f"{settings.github_url.rstrip('/')}/{r.full_name}.git"
    elif source == "url":
        cloned_url_check(actor, repo, github_repo)
        github_repo, repo_url = github_repo or None, repo
    else:
        github_repo, repo_url = None, str(repository_path(settings, name or "-"))
    project = create_project(session, ProjectSpec(name=name, repo_url=repo_url, github_repo=github_repo,
                                                  branch=branch, target=target))
    project.installation_id = installation_id
    if chosen is not None:
        teams.assign(session, project, chosen)
    token = None
    if source == "git":
        ensure_repository(settings, project.name, project.branch)
        token = issue_push_token(project, settings)
    audit.record(session, actor, "project.create", project, team=chosen.slug if chosen else None)
    return project, token


def cloned_url_check(actor, url: str, github_repo: str = "") -> None:
    """Whether ``actor`` may have Slipway clone ``url`` (UserError says why not).

    The operator (the local admin) may give whatever ``slipway project create --repo`` takes on the
    machine. Anyone else gets a repository on the public internet over https:// or http:// only: the
    clone runs on Slipway's machine, where a path or file:// URL would read its disk (other projects'
    repositories), ssh:// and git@ its own SSH keys, and a private address its own network. Nor may
    they tie the project to a GitHub repository's webhook, which only the App's connection proves.
    """
    from urllib.parse import urlsplit

    from builder.git import mask_url_credentials
    from slipway.errors import UserError
    from slipway.notifications.egress import is_private, resolve

    if actor.is_admin:
        return
    if github_repo:
        raise UserError(UserError.PROJECT_URL_GITHUB)
    shown_url = mask_url_credentials(url)
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UserError(UserError.PROJECT_URL_PUBLIC, url=shown_url, why="it is not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UserError(UserError.PROJECT_URL_PUBLIC, url=shown_url, why="it is not an https:// or http:// URL")
    try:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError, ValueError) as exc:
        raise UserError(UserError.PROJECT_URL_PUBLIC, url=shown_url,
                        why=f"{host} does not resolve ({type(exc).__name__})") from None
    if not addresses:
        raise UserError(UserError.PROJECT_URL_PUBLIC, url=shown_url, why=f"{host} has no address")
    private = next((a for a in addresses if is_private(a)), None)
    if private is not None:
        raise UserError(UserError.PROJECT_URL_PUBLIC, url=shown_url,
                        why=f"{host} is at {private}, not an address on the public internet")


def delete_project(settings, name: str, log, record=None) -> None:
    """Delete a project and everything it runs or keeps on this machine.

    What its own target runs goes first: if the target fails, AppError (project:app:delete-target) says so
    and nothing is deleted, so deleting again later picks up where it stopped. Then unfinished deployments
    are cancelled (a running build stops at its next check; what one started meanwhile is removed too),
    and its containers on other targets, its local images, its images in the registry, its git remote
    repository and its rows (deployments, logs, variables, previews) go; ``record(session, project)``
    writes the audit entry in the transaction that deletes the rows. The layers the registry frees are
    collected by a job queued last (``slipway.registry_gc``).
    """
    import shutil

    from builder.images import DockerImageBuilder, RegistryAuth
    from builder.registry import RegistryClient
    from slipway.db import session_scope
    from slipway.errors import AppError, render
    from slipway.git_remote import repository_path
    from slipway.models import Deployment
    from slipway.registry_gc import delete_all_images, enqueue_collection
    from slipway.states import FINAL_STATES, State, transition
    from slipway.targets import targets_from_settings

    with session_scope(settings) as session:
        project = get_project_by_name(session, name)
        if project is None:
            raise ValueError(f"no project named {name!r}")
        own_target = project.target

    def remove_from_own_target(targets, kept: str) -> None:
        try:
            if own_target in targets:  # what it runs must go, or the project stays
                targets[own_target].remove_all(name, log)
        except Exception as exc:  # noqa: BLE001 - any failure of the target: the user retries
            log(f"could not remove what {name} runs on the {own_target} target: {exc}")
            raise AppError(AppError.PROJECT_DELETE_TARGET, name=name, target=own_target,
                           detail=type(exc).__name__, kept=kept) from None

    try:
        targets = targets_from_settings(settings)
    except Exception as exc:  # noqa: BLE001 - a target that cannot even be set up
        log(f"could not set up the targets to delete {name}: {exc}")
        raise AppError(AppError.PROJECT_DELETE_TARGET, name=name, target=own_target, detail=type(exc).__name__,
                       kept="Nothing was deleted.") from None
    remove_from_own_target(targets, "Nothing was deleted.")
    with session_scope(settings) as session:
        unfinished = session.scalars(select(Deployment).where(
            Deployment.project_id == select(Project.id).where(Project.name == name).scalar_subquery(),
            Deployment.state.not_in([s.value for s in FINAL_STATES]))).all()
        for dep in unfinished:
            transition(dep, State.CANCELLED, AppError.CANCELLED,
                       f"{render(AppError.CANCELLED)} The project was deleted.")
    if unfinished:  # a build that was deploying may have started something since
        remove_from_own_target(targets, "Its unfinished deployments were cancelled; nothing else was deleted.")
    for target_name, target in targets.items():
        if target_name == own_target:
            continue
        try:  # what an earlier choice of target left (another target's network may be down)
            target.remove_all(name, log)
        except Exception as exc:  # noqa: BLE001
            log(f"warning: could not look for what the {target_name} target still runs ({exc})")
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    # The image is on the Engine that built it and on the one that pulled it to run it.
    for docker_host in dict.fromkeys((settings.build_docker_host, settings.docker_host)):
        try:
            DockerImageBuilder(docker_host, auth).prune(f"{settings.registry}/{name}", 0, log)
        except Exception as exc:  # noqa: BLE001 - a cache on that Engine, not the project's data: it still goes
            log(f"warning: could not remove its images from the Docker Engine at {docker_host} ({exc})")
    try:
        delete_all_images(RegistryClient(auth), name, log)
    except Exception as exc:  # noqa: BLE001 - the project still goes; the operator can clean up later
        log(f"warning: could not delete its images from the registry ({exc}); run `slipway registry gc` later")
    shutil.rmtree(repository_path(settings, name), ignore_errors=True)
    with session_scope(settings) as session:
        project = get_project_by_name(session, name)
        if project is not None:
            if record is not None:
                record(session, project)
            session.delete(project)
    try:
        enqueue_collection(settings)
    except Exception as exc:  # noqa: BLE001 - Redis down: the next collection frees the layers
        log(f"warning: could not queue the registry's garbage collection ({exc})")
    from slipway.proxy import sync_routes

    sync_routes(settings, say=log)  # its URLs and domains answer no more
    log(f"deleted project {name}")
