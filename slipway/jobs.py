"""The road from a queued deployment to a running one.

``run_deployment`` is the rq job. It loads everything from the database by id,
walks the state machine (cloning, building, pushing, deploying, live) and always
ends in a final state. It is the only code that moves a deployment it runs (through
``slipway.states.transition``, as the few roads that end deployments no job runs do); the
work of each step is the director's (``slipway.director``), which touches no database.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from redis import Redis
from sqlalchemy import select, update

from builder.git import fetch_commit
from builder.images import DockerImageBuilder, RegistryAuth
from builder.plan import BaseImages, ProjectConfig
from builder.registry import RegistryClient
from deployer.base import ended_events, failure_events
from slipway import envvars, lease_events, registry_gc
from slipway.buildlog import BuildLogWriter, SecretMasker
from slipway.buildslots import BuildSlots, NoSlot, SlotWaitStopped
from slipway.db import session_scope
from slipway.director import Director, Source, Stopped
from slipway.errors import AppError, SlipwayError, UserError, render
from slipway.health import UP
from slipway.git_remote import internal_fetch, is_git_remote_path
from slipway.interfaces import GitCredentials, ImageBuilder, Proxy, Registry, Release, Reporter, Running, Target
from slipway.logs import bound_deployment
from slipway.models import Deployment, Project, utcnow
from slipway.proxy import ProxyError, Router, Switch, dial_of, proxy_from_settings, route_of, upstream_of
from slipway.queue import deployment_job_timeout_s, job_id_for
from slipway.registry_gc import (
    RegistryUse,
    delete_old_images,
    deployment_went_live,
    kept_references,
    version_tag,
)
from slipway.reporters import default_reporters, report
from slipway.settings import Settings, get_settings
from slipway.states import State, transition

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """The deployment was cancelled or superseded while it ran."""


# Images kept per project after a deployment goes live (slipway.registry_gc: the running one and a
# few to roll back to; their deployments' own URLs answer, slipway.wake).
KEEP_IMAGES = registry_gc.KEEP_IMAGES


@dataclass(frozen=True)
class Job:
    """What the pipeline knows about one deployment, as plain values."""

    deployment_id: int
    project: str
    repo_url: str
    sha: str
    branch: str
    dockerfile: str
    build_context: str
    target: str
    health_path: str
    slot: str
    installation_id: int | None = None
    project_id: int = 0
    # Set for a redeploy: the image an earlier deployment built.
    image: str | None = None
    # The project's own Akash settings (slipway.akash_settings), plain values.
    akash: dict = field(default_factory=dict)
    # Set for a redeploy: the repository's SDL the earlier deployment was made with ("" for none).
    sdl: str = ""
    # Set for a redeploy: what the earlier deployment's slipway.toml said about running it.
    config: dict = field(default_factory=dict)


class Pipeline:
    def __init__(self, settings: Settings, redis: Redis, images: ImageBuilder, targets: dict[str, Target],
                 fetch: Callable[..., Path] = fetch_commit, reporters: Sequence[Reporter] = (),
                 github: GitCredentials | None = None, registry: Registry | None = None,
                 build_slots: BuildSlots | None = None, proxy: Proxy | None = None):
        self.settings = settings
        self.redis = redis
        self.images = images
        self.targets = targets
        self.fetch = fetch
        self.reporters = list(reporters)
        self.github = github
        # Without a registry client old images stay in the registry (tests that need no clean-up).
        self.registry = registry
        self.registry_use = RegistryUse(redis, settings.registry)
        self.build_slots = build_slots or BuildSlots(redis, settings.build_docker_host, settings.builds_per_host_n)
        # Without a proxy each app is reached at its own port (SLIPWAY_PROXY=none).
        self.router = Router(settings, redis, proxy) if proxy is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Pipeline":
        from slipway.github.app import github_client
        from slipway.queue import redis_connection
        from slipway.targets import targets_from_settings

        auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
        images = DockerImageBuilder(settings.build_docker_host, auth, memory=settings.build_memory,
                                    cpus=settings.build_cpus_n)
        return cls(settings, redis_connection(settings), images,
                   targets_from_settings(settings), reporters=default_reporters(settings),
                   github=github_client(settings), registry=RegistryClient(auth),
                   proxy=proxy_from_settings(settings))

    def run(self, deployment_id: int) -> None:
        job = self._load(deployment_id)
        if job is None:
            # Cancelled or superseded while queued: the outside world still hears of it.
            self._report(deployment_id)
            return
        if not self._claim(deployment_id):
            # A second delivery of the same job (the reconciler enqueued it again as Redis came back
            # empty, while the first was already on its way): the first one builds, never both.
            log.warning("deployment %s was already started by another job; not running it twice", deployment_id)
            return
        writer = BuildLogWriter(deployment_id, self.settings, self.redis, SecretMasker(self.settings.secret_values()))
        say = writer.write
        workdir = self.settings.workdir(deployment_id)
        final = State.FAILED
        user = job_id_for(deployment_id, self.settings)  # its claim on the registry, by job id
        try:
            # Every secret is known to the masker before anything runs: a build that prints the
            # app's variables must not store them in clear.
            env, build_args = self._env(job.project_id, writer.masker)
            director = Director(self.images, say, writer.masker, fetch=self.fetch, credentials=self.github,
                                should_stop=lambda: self._is_final(deployment_id),
                                build_timeout_s=self.settings.build_timeout_s,
                                plan_images=plan_images(self.settings))
            # Held until the job ends: the registry's blobs are never collected under a push or pull.
            self.registry_use.enter(user, deployment_job_timeout_s(self.settings), say)
            sdl = ""
            config = ProjectConfig()
            if job.image:
                # A redeploy: the image was built and pushed by an earlier deployment of this commit,
                # which may have run with the repository's SDL of that commit: so does this one.
                image, sdl = job.image, job.sdl
                config = ProjectConfig(**job.config)
                self._advance(deployment_id, State.DEPLOYING, writer)
                say(f"redeploying {image} (commit {job.sha[:7]}), built earlier: no new build")
                if sdl:
                    say("with the repository's SDL it was first deployed with")
            else:
                self._advance(deployment_id, State.CLONING, writer)
                checkout = director.fetch(self._source(job), workdir / "src")
                if job.target == "akash":
                    # Checked before the build: a broken deploy.yaml fails fast, with what to fix.
                    sdl = director.repository_sdl(checkout, job.sha)
                    if sdl:
                        self._record(deployment_id, repository_sdl=sdl)
                self._advance(deployment_id, State.BUILDING, writer)
                plan = director.plan(checkout, job.dockerfile, job.build_context, job.sha,
                                     build_args=tuple(build_args or ()))
                config = plan.config
                if config.found:
                    self._record(deployment_id, repository_config=run_config(config))
                # The watch paths decide whether the project's next pushes build (slipway.github.events.push).
                self._record_watch_paths(job.project_id, config.watch)
                tag = f"{self.settings.registry}/{job.project}:{version_tag(job.sha)}"
                with self._build_slot(deployment_id, user, writer):
                    director.build(checkout, plan, tag, job.sha, build_args, cache_from=self._previous_image(job))
                self._advance(deployment_id, State.PUSHING, writer)
                image = director.push(tag)
                self._record(deployment_id, image=tag)
                self._advance(deployment_id, State.DEPLOYING, writer)
            target = self.targets.get(job.target)
            if target is None:
                raise AppError(AppError.DEPLOY_TARGET, detail=f"the {job.target!r} target is not configured")
            previous_id, previous_ref = self._live_in_slot(job)
            # The repository's slipway.toml: its health check, non-secret environment (the project's
            # variables win), and resources and Akash placement (over the project's Akash settings).
            release = Release(job.project, deployment_id, image, config.health_check or job.health_path,
                              env={**config.env, **env}, slot=job.slot, previous_id=previous_id,
                              previous_ref=previous_ref, akash={**job.akash, **config.target_settings()}, sdl=sdl)
            # The reference is stored before waiting: if this job dies, the reconciler stops the release.
            running = director.deploy(target, release,
                                      started=lambda ref: self._record(deployment_id, target_ref=ref))
            final, replaced = self._switch(job, running, target, say)
            # Live first, then retire: users are never left without a version that answers.
            closed = director.retire(target, release, running)
            if closed:
                with session_scope(self.settings) as session:
                    lease_events.record_where_held(session, job.project_id, closed, deployment_id)
            self._unroute_replaced(say)
            director.prune(f"{self.settings.registry}/{job.project}", KEEP_IMAGES)
            budget = self.settings.build_cache_budget_bytes
            if budget is not None:
                director.tidy(budget, *self._kept_on_build_host(), grace_s=self.settings.build_timeout_s + 60)
            self._clean_registry(job.project, say)
            for older_id in replaced:
                self._report(older_id)
        except (Cancelled, Stopped) as exc:
            self._record_failure_events(job, deployment_id, exc)
            final = State.CANCELLED
            say(f"== cancelled: {self._reason(deployment_id)}")
        except SlipwayError as exc:
            self._record_failure_events(job, deployment_id, exc)
            if isinstance(exc, AppError):
                log.error("deployment %s: %s", deployment_id, exc, exc_info=exc.__cause__)
            self._fail(deployment_id, exc.message_id, str(exc), say)
        except BaseException as exc:
            ref = uuid.uuid4().hex[:8]
            log.exception("deployment %s failed unexpectedly (ref %s)", deployment_id, ref)
            self._fail(deployment_id, AppError.UNEXPECTED, render(AppError.UNEXPECTED, ref=ref), say)
            if not isinstance(exc, Exception):
                raise  # let SystemExit/KeyboardInterrupt through once recorded
        finally:
            self._leave_registry(user)
            shutil.rmtree(workdir, ignore_errors=True)
            writer.close(final.value if final != State.FAILED else self._state(deployment_id))
            self._report(deployment_id)

    def _switch(self, job: Job, running: Running, target: Target, say) -> tuple[State, list[int]]:
        """Put the new version live behind the proxy (on this machine or a provider's), then let the old drain."""
        route = route_of(running.ref)
        upstream = dial_of(route)
        if self.router is None or route is None:
            final, replaced, _ = self._go_live(job.deployment_id, running, target, say)
            return final, replaced
        at = self.router.addresses
        urls = (at.url(at.deployment_host(job.project, job.deployment_id)), at.url(at.slot_host(job.project, job.slot)))
        try:
            final, replaced, old = self.router.switch(
                Switch(job.deployment_id, job.project, job.slot, route),
                lambda: self._go_live(job.deployment_id, running, target, say, urls))
        except ProxyError as exc:
            log.error("deployment %s: the proxy failed: %s", job.deployment_id, exc)
            target.stop(running.ref, say)
            raise AppError(AppError.DEPLOY_PROXY, detail=str(exc)[:300]) from None
        say(f"{urls[1]} now goes to this version")
        self.router.drain(old - {upstream}, say)
        return final, replaced

    def _unroute_replaced(self, say) -> None:
        """Drop the routes of the versions just stopped (their own URLs answer 404 from now on)."""
        if self.router is None:
            return
        try:
            self.router.sync()
        except Exception as exc:  # noqa: BLE001 - the new version is live; the reconciler syncs again shortly
            log.warning("could not drop the replaced versions' routes: %s", exc)
            say("warning: the replaced versions' own URLs are dropped from the proxy on its next sync")

    def _source(self, job: Job) -> Source:
        if is_git_remote_path(job.project, job.repo_url):
            # The repository is on the web server's disk, maybe on another machine: go through its remote.
            url, env = internal_fetch(self.settings, job.project)
            return Source(url, job.sha, job.branch, env=env)
        return Source(job.repo_url, job.sha, job.branch, installation_id=job.installation_id)

    @contextmanager
    def _build_slot(self, deployment_id: int, user: str, writer: BuildLogWriter) -> Iterator[None]:
        """Hold one of the build host's build slots (SLIPWAY_BUILDS_PER_HOST) for the length of the build."""
        timeout_s = self.settings.build_timeout_s

        def say(line: str) -> None:
            writer.write(line)
            writer.flush()  # nothing else is written while it waits: a page loaded now shows why

        try:
            self.build_slots.take(user, ttl_s=timeout_s + 120, wait_s=timeout_s, say=say,
                                  should_stop=lambda: self._is_final(deployment_id))
        except NoSlot:
            raise UserError(UserError.BUILD_NO_SLOT, seconds=timeout_s, limit=self.build_slots.limit) from None
        except SlotWaitStopped:
            raise Cancelled() from None
        try:
            yield
        finally:
            try:
                self.build_slots.give_back(user)
            except Exception:  # noqa: BLE001 - the slot lapses on its own (its score is a deadline)
                log.warning("could not give back the build slot of %s", user, exc_info=True)

    def _kept_on_build_host(self) -> tuple[set[str], set[str]]:
        """(every project's image repository, the images that must stay: live, rollback targets, about to be pushed)."""
        repositories: set[str] = set()
        keep: set[str] = set()
        with session_scope(self.settings) as session:
            for project_id, name in session.execute(select(Project.id, Project.name)):
                repository = f"{self.settings.registry}/{name}"
                refs, pending = kept_references(session, project_id, KEEP_IMAGES)
                repositories.add(repository)
                keep |= refs | {f"{repository}:{tag}" for tag in pending}
        return repositories, keep

    def _clean_registry(self, project: str, say: Callable[[str], None]) -> None:
        """Delete the project's images nothing keeps; every few deployments, collect the blobs."""
        if self.registry is None:
            return
        try:
            delete_old_images(self.settings, self.registry, project, KEEP_IMAGES, say)
            deployment_went_live(self.settings, self.redis)
        except Exception:  # noqa: BLE001 - registry hygiene never fails a deployment that is live
            log.warning("could not clean up old images of %s in the registry", project, exc_info=True)

    def _leave_registry(self, user: str) -> None:
        try:
            self.registry_use.leave(user)
        except Exception:  # noqa: BLE001 - the claim lapses on its own (its score is a deadline)
            log.warning("could not release the registry claim %s", user, exc_info=True)

    def _env(self, project_id: int, masker: SecretMasker) -> tuple[dict[str, str], dict[str, str]]:
        """The running app's variables and the build's, decrypted only for this job; from now on
        their values are masked in the log."""
        with session_scope(self.settings) as session:
            runtime = envvars.decrypted(session, project_id, build=False)
            build = envvars.decrypted(session, project_id, build=True)
        masker.add(*runtime.values(), *build.values())
        return runtime, build

    def _report(self, deployment_id: int) -> None:
        report(self.reporters, deployment_id)

    # -- state -----------------------------------------------------------
    def _load(self, deployment_id: int) -> Job | None:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            if dep is None or dep.state_enum.final:
                return None
            p = dep.project
            # A pull request's head (a fork's commit too) is reachable in the base repository under refs/pull.
            ref = f"refs/pull/{dep.pr_number}/head" if dep.pr_number else dep.branch
            return Job(dep.id, p.name, p.repo_url, dep.sha, ref, p.dockerfile, p.build_context,
                       p.target, p.health_path, dep.slot, p.installation_id, p.id, dep.image,
                       dict(p.akash_settings or {}), dep.repository_sdl or "", dict(dep.repository_config or {}))

    def _previous_image(self, job: Job) -> str | None:
        """The image the project's newest earlier build pushed (production first): a cache for a cold build host."""
        with session_scope(self.settings) as session:
            earlier = select(Deployment.image).where(Deployment.project_id == job.project_id,
                                                     Deployment.id != job.deployment_id,
                                                     Deployment.image.is_not(None))
            return (session.scalar(earlier.where(Deployment.pr_number.is_(None)).order_by(Deployment.id.desc()))
                    or session.scalar(earlier.order_by(Deployment.id.desc())))

    def _claim(self, deployment_id: int) -> bool:
        """Mark a queued deployment as started by this job; False if another job did first.

        One conditional UPDATE, so two jobs of the same deployment never both go on (SQLite and
        PostgreSQL alike).
        """
        with session_scope(self.settings) as session:
            claimed = session.execute(
                update(Deployment)
                .where(Deployment.id == deployment_id, Deployment.state == State.QUEUED.value,
                       Deployment.started_at.is_(None))
                .values(started_at=utcnow())
            ).rowcount
        return claimed == 1

    def _advance(self, deployment_id: int, state: State, writer: BuildLogWriter) -> None:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id, with_for_update=True)
            if dep.state_enum.final:
                raise Cancelled()
            transition(dep, state)
        writer.state(state.value)  # the deployment's page moves its steps on without asking the database
        writer.write(f"== {state.value}")
        self._report(deployment_id)

    def _is_final(self, deployment_id: int) -> bool:
        """Whether the deployment ended elsewhere (cancelled, superseded); asked while building."""
        try:
            with session_scope(self.settings) as session:
                state = session.scalar(select(Deployment.state).where(Deployment.id == deployment_id))
        except Exception:  # noqa: BLE001 - a database hiccup must not stop a build
            log.warning("deployment %s: could not check for cancellation", deployment_id, exc_info=True)
            return False
        return state is None or State(state).final

    def _record_failure_events(self, job: Job, deployment_id: int, exc: BaseException) -> None:
        """A release that did not go live: the lease history its target attached (created, then
        closed with why), on the deployment that held each lease."""
        events = failure_events(exc)
        if events:
            with session_scope(self.settings) as session:
                lease_events.record_where_held(session, job.project_id, events, deployment_id)

    def _reason(self, deployment_id: int) -> str:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            return (dep.error_message if dep else None) or "cancelled"

    def _live_in_slot(self, job: Job) -> tuple[int | None, dict | None]:
        """The id and stored reference of the release live in the job's slot, if any."""
        with session_scope(self.settings) as session:
            pr = None if job.slot == "production" else int(job.slot.removeprefix("pr-"))
            live = session.scalars(
                select(Deployment).where(Deployment.project_id == job.project_id, Deployment.id != job.deployment_id,
                                         Deployment.pr_number.is_(None) if pr is None else Deployment.pr_number == pr,
                                         Deployment.state == State.LIVE.value)
                .order_by(Deployment.id.desc())
            ).first()
            return (live.id, live.target_ref) if live is not None else (None, None)

    def _record(self, deployment_id: int, **values) -> None:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            for k, v in values.items():
                setattr(dep, k, v)

    def _record_watch_paths(self, project_id: int, watch: tuple[str, ...]) -> None:
        with session_scope(self.settings) as session:
            project = session.get(Project, project_id)
            if project is not None and (project.watch_paths or None) != (list(watch) or None):
                project.watch_paths = list(watch) or None

    def _go_live(self, deployment_id: int, running: Running, target: Target, say,
                 urls: tuple[str, str] | None = None) -> tuple[State, list[int], set[str]]:
        """Mark the deployment live; returns its state, the ids of those it replaced and their upstreams.

        ``urls``: its own URL and its slot's through the proxy (default: the target's URL, no slot URL).
        """
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id, with_for_update=True)
            if dep.state_enum.final:
                # Cancelled while deploying: do not leave the new version running.
                ended = target.stop(running.ref, say)
                lease_events.record(session, dep.id, (*running.events, *ended_events(ended)))
                session.commit()
                raise Cancelled()
            transition(dep, State.LIVE)
            dep.url, dep.slot_url = urls or (running.url, None)
            dep.target_ref = running.ref
            # It has just answered: up, until a periodic check (slipway.health) finds otherwise.
            dep.health, dep.health_detail = UP, None
            dep.health_since = dep.health_checked_at = dep.finished_at
            lease_events.record(session, dep.id, running.events)
            replaced, upstreams = [], set()
            for older in session.scalars(
                select(Deployment).where(Deployment.project_id == dep.project_id, Deployment.id != dep.id,
                                         Deployment.pr_number.is_(dep.pr_number) if dep.pr_number is None
                                         else Deployment.pr_number == dep.pr_number,
                                         Deployment.state == State.LIVE.value)
            ):
                transition(older, State.SUPERSEDED)
                if upstream_of(older.target_ref):
                    upstreams.add(upstream_of(older.target_ref))
                if running.ref.get("adopts") == older.id:
                    older.target_ref = None  # updated in place: its release is the new one now
                replaced.append(older.id)
        say(f"== live at {urls[0] if urls else running.url}")
        return State.LIVE, replaced, upstreams

    def _fail(self, deployment_id: int, message_id: str, message: str, say) -> None:
        say(f"== failed: {message}")
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            if dep is not None and not dep.state_enum.final:
                transition(dep, State.FAILED, message_id, message)

    def _state(self, deployment_id: int) -> str:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            return dep.state if dep else State.FAILED.value


def run_config(config: ProjectConfig) -> dict:
    """What a slipway.toml says about running its commit, kept on the deployment for its redeploys."""
    return {"health_check": config.health_check, "env": dict(config.env), "resources": dict(config.resources),
            "akash": dict(config.akash)}


def plan_images(settings: Settings) -> BaseImages:
    """The base images of generated build plans, from the settings (SLIPWAY_PLAN_*_IMAGE)."""
    return BaseImages(node=settings.plan_node_image, python=settings.plan_python_image, go=settings.plan_go_image,
                      static=settings.plan_static_image, runtime=settings.plan_runtime_image)


def run_deployment(deployment_id: int) -> None:
    """rq job: build and deploy one deployment."""
    settings = get_settings()
    with bound_deployment(deployment_id):
        Pipeline.from_settings(settings).run(deployment_id)


def on_job_failure(job, connection, type_, value, traceback) -> None:
    """rq failure callback: the job died outside the pipeline's own handling (its work-horse was
    killed, or the hard time-out); its commit status follows, and the reconciler removes its containers."""
    from slipway.reconcile import fail_worker_lost

    deployment_id = job.args[0] if job.args else None
    if isinstance(deployment_id, int):
        settings = get_settings()
        if fail_worker_lost(settings, connection, deployment_id):
            report(default_reporters(settings), deployment_id)
