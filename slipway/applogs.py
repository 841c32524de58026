"""What a running app prints (its container's output), masked as build logs are.

The masker knows every secret of the installation and the project's own variables before the
first line is read, so an app that prints its token shows ``***`` instead, on the deployment's
page (``web.dashboard.app_log_stream``) and in ``slipway logs NAME --app``. Only targets that can
read their releases' output have ``app_logs``: the local target (the container's output) and Akash
(the provider's lease log stream).
"""

from __future__ import annotations

from typing import Iterator, Mapping

from sqlalchemy import select

from slipway import envvars
from slipway.buildlog import SecretMasker
from slipway.db import session_scope
from slipway.errors import AppError
from slipway.interfaces import Target
from slipway.models import Deployment, Project
from slipway.settings import Settings
from slipway.states import State


class NoAppLog(Exception):
    """The deployment runs nothing whose output can be read; the message says why."""


def live_deployment_of(settings: Settings, project: str) -> int | None:
    """The id of ``project``'s live production deployment."""
    with session_scope(settings) as session:
        return session.scalar(
            select(Deployment.id).join(Project)
            .where(Project.name == project, Deployment.state == State.LIVE.value, Deployment.pr_number.is_(None))
            .order_by(Deployment.id.desc()))


def app_log(settings: Settings, targets: Mapping[str, Target], deployment_id: int, follow: bool = False,
            tail: int = 200) -> Iterator[str]:
    """The app's output lines, masked: the last ``tail``, then (``follow``) new ones as they come."""
    with session_scope(settings) as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None:
            raise NoAppLog(f"no deployment {deployment_id}")
        if not dep.target_ref:
            raise NoAppLog(f"deployment {deployment_id} runs nothing ({dep.state})")
        target_name, ref = dep.project.target, dict(dep.target_ref)
        masker = SecretMasker(settings.secret_values())
        masker.add(*envvars.decrypted(session, dep.project_id).values())
    target = targets.get(target_name)
    read = getattr(target, "app_logs", None)
    if read is None:
        raise NoAppLog(f"the {target_name} target cannot show its apps' output yet")
    try:
        for line in read(ref, follow=follow, tail=tail):
            yield masker(line)
    except AppError as exc:  # the target could not read it (an Akash provider that does not answer)
        raise NoAppLog(str(exc)) from None
