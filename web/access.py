"""Every route's access check, in one place: ``@guard(Action.DEPLOY)`` on a view.

``guard`` finds the route's project (from ``<name>`` or ``<deployment_id>``) and asks
``slipway.accounts.access.require`` (a team's routes, ``<team>``: ``require_team``); another team's project answers 404, a role too small 403.
Routes about no single project say so: ``@guard(Site.SIGNED_IN)`` (the view then lists only what
``visible_projects`` allows) or ``@guard(Site.OPERATOR)`` (the local admin only).

``check_every_route`` runs when the app is built: a route that is neither guarded nor one of the
machine endpoints (which carry their own credential) stops the app from starting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, abort, current_app, g
from sqlalchemy import select

from slipway.accounts import teams
from slipway.accounts.access import AccessDenied, Action, Actor, Site, require, require_site, require_team
from slipway.db import session_scope
from slipway.models import Deployment, Project

ACCESS_ATTRIBUTE = "slipway_access"
# Machines and the sign-in pages: each checks its own credential (webhook signature, deploy token,
# hook secret) or needs none. ``api-docs`` is flask-smorest's OpenAPI document: routes, no data.
PUBLIC_BLUEPRINTS = frozenset({"webhooks", "git_remote", "hooks", "auth", "api-docs",
                               # an app's own URL that no route serves (slipway.wake): anybody may visit
                               "wake"})
PUBLIC_ENDPOINTS = frozenset({"static", "healthz"})


def is_public(endpoint: str | None, blueprint: str | None) -> bool:
    return endpoint is None or blueprint in PUBLIC_BLUEPRINTS or endpoint in PUBLIC_ENDPOINTS


def current_actor() -> Actor:
    """Who this request acts as; set by web.auth before any guarded view runs."""
    actor = g.get("slipway_actor")
    if actor is None:  # a guarded view reached without a sign-in would be a bug in web.auth
        abort(401)
    return actor


def project_for(session, view_args: dict) -> Project | None:
    """The project a route is about, from its URL: ``<name>`` or ``<deployment_id>``."""
    if "name" in view_args:
        return session.scalar(select(Project).where(Project.name == view_args["name"]))
    if "deployment_id" in view_args:
        deployment = session.get(Deployment, view_args["deployment_id"])
        return deployment.project if deployment is not None else None
    raise LookupError("the route names no project (<name> or <deployment_id>)")


def check(what: Action | Site, view_args: dict) -> None:
    actor = current_actor()
    try:
        if isinstance(what, Site):
            require_site(actor, what)
            return
        with session_scope(current_app.config["SLIPWAY_SETTINGS"]) as session:
            if "team" in view_args:  # a team's page and members: its members see it, its owners manage it
                require_team(actor, teams.by_slug(session, view_args["team"]), manage=what is not Action.VIEW)
            else:
                g.slipway_role = require(actor, project_for(session, view_args), what, session)
    except AccessDenied as exc:
        abort(exc.status, exc.args[0])


def guard(what: Action | Site) -> Callable:
    """Decorate a view with its access check: right below the route, so that it runs before
    flask-smorest reads the body (a stranger learns nothing from a 422)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            check(what, kwargs)
            return view(*args, **kwargs)

        setattr(guarded, ACCESS_ATTRIBUTE, what)
        return guarded

    return decorate


def check_every_route(app: Flask) -> None:
    """Refuse to start with a route that nobody checks."""
    unchecked = []
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        if is_public(rule.endpoint, blueprint):
            continue
        view = app.view_functions[rule.endpoint]
        what = getattr(view, ACCESS_ATTRIBUTE, None)
        if what is None:
            unchecked.append(f"{rule.rule} ({rule.endpoint})")
        elif isinstance(what, Action) and not {"name", "deployment_id", "team"} & set(rule.arguments):
            unchecked.append(f"{rule.rule} ({rule.endpoint}: guard({what}) but no <name>, <deployment_id> or <team>)")
    if unchecked:
        raise RuntimeError("routes without an access check (decorate them with web.access.guard): "
                           + ", ".join(unchecked))
