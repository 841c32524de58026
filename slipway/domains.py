"""Custom domains: names a project's production answers at over HTTPS, through the proxy.

Caddy gets a certificate for a public name on its own (ACME, once the name's DNS points at this
machine and ports 80 and 443 reach the proxy) and signs a local one (``.localhost``, ``.local``,
``.internal``, ``.test``) with its internal CA. Adding or removing one reloads the proxy's routes.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from deployer.caddy import is_local_name
from slipway.errors import UserError
from slipway.models import Domain, Project
from slipway.settings import Settings

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def domain_problem(name: str, settings: Settings) -> str | None:
    """What is wrong with ``name`` as a custom domain, or None."""
    if len(name) > 253 or "." not in name:
        return "give a full host name such as www.example.com"
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return "each part may hold only letters, digits and inner hyphens (at most 63 each)"
    if labels[-1].isdigit():
        return "give a host name, not an IP address"
    apps = settings.apps_domain.strip(".").lower()
    if name == apps or name.endswith("." + apps):
        return f"names under {apps} are Slipway's own (SLIPWAY_APPS_DOMAIN)"
    if name in (settings.dashboard_domain, settings.registry_domain):
        return "it is the dashboard's or the registry's name"
    return None


def normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


def add_domain(session: Session, settings: Settings, project: Project, name: str) -> Domain:
    """Record ``name`` for ``project``; UserError when it is not a host name or is taken."""
    name = normalise(name)
    problem = domain_problem(name, settings)
    if problem:
        raise UserError(UserError.DOMAIN_INVALID, name=name[:260], problem=problem)
    owner = session.scalar(select(Project.name).join(Domain).where(Domain.name == name))
    if owner is not None:
        raise UserError(UserError.DOMAIN_TAKEN, name=name, project=owner)
    domain = Domain(project=project, name=name)
    session.add(domain)
    session.flush()
    return domain


def remove_domain(session: Session, project: Project, name: str) -> None:
    name = normalise(name)
    domain = session.scalar(select(Domain).where(Domain.project_id == project.id, Domain.name == name))
    if domain is None:
        raise UserError(UserError.DOMAIN_NOT_FOUND, name=name[:260], project=project.name)
    session.delete(domain)


def domain_url(settings: Settings, name: str) -> str:
    port = int(settings.proxy_https.rsplit(":", 1)[1])
    return f"https://{name}" + ("" if port == 443 else f":{port}")


def certificate_note(name: str) -> str:
    if is_local_name(name):
        return "a local name: Caddy's internal CA signs it (tls internal)"
    return "Caddy gets its certificate once the name's DNS points at this server and ports 80 and 443 reach it"
