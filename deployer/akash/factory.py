"""The Akash target built from Slipway's settings (``slipway.targets`` calls it)."""

from __future__ import annotations

from deployer.akash import config
from deployer.akash.grants import Funding, GrantPolicy
from deployer.akash.lcd import Lcd
from deployer.akash.sdl import RegistryCredentials
from deployer.akash.target import AkashTarget, Policy, Resources, Timeouts
from slipway.settings import Settings


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in _names(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"SLIPWAY_AKASH_ATTRIBUTES: {item!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def slot_refs(settings: Settings):
    """The stored Akash references of a project's deployments in one slot (every slot with None)."""

    def lookup(project: str, slot: str | None) -> list[dict]:
        from sqlalchemy import select

        from slipway.db import session_scope
        from slipway.models import Deployment, Project

        with session_scope(settings) as session:
            rows = session.scalars(
                select(Deployment).join(Project)
                .where(Project.name == project, Project.target == "akash", Deployment.target_ref.is_not(None))
            ).all()
            # A reference cleared in Python is stored as JSON null, which "IS NOT NULL" lets through.
            return [dict(d.target_ref) for d in rows if d.target_ref and (slot is None or d.slot == slot)]

    return lookup


def provider_uptime(settings: Settings):
    """Each provider's uptime from the installation's lease events (``slipway.lease_events``)."""

    def uptime() -> dict[str, float]:
        from slipway import lease_events
        from slipway.db import session_scope

        with session_scope(settings) as session:
            return lease_events.provider_uptime(session)

    return uptime


def funding_lock(settings: Settings):
    """A Redis lock every worker of this installation takes around the funding wallet's transactions."""

    def lock():
        from slipway.queue import redis_connection

        # Long enough for a mint to settle; a worker that dies holding it frees it when it expires.
        return redis_connection(settings).lock(f"{settings.queue_name}:akash-funding", timeout=300,
                                               blocking_timeout=600)

    return lock


class Unconfigured:
    """Stands in for the Akash target while its settings are missing: every use says what to set,
    and the other targets (and every job that uses them) work meanwhile."""

    name = "akash"

    def __init__(self, why: str):
        self.why = why

    def _refuse(self, *args, **kwargs):
        from slipway.errors import AppError

        raise AppError(AppError.AKASH_NOT_CONFIGURED, detail=self.why)

    start = wait_ready = stop = retire = teardown = remove_all = _refuse

    def check(self, ref: dict):
        from deployer.base import Health

        return Health(False, f"the Akash target is not configured: {self.why}")

    def deployments(self) -> set[int]:
        return set()

    def remove_deployment(self, deployment_id: int, log) -> None:
        return None


def target_from_settings(settings: Settings):
    """The Akash target, or a stand-in that says which setting is missing."""
    try:
        return akash_target(settings)
    except config.AkashNotConfigured as exc:
        return Unconfigured(str(exc))


def installation_resources(settings: Settings) -> Resources:
    """What an app asks of a provider unless its project says otherwise (SLIPWAY_AKASH_CPU ...)."""
    return Resources(cpu=settings.akash_cpu, memory=settings.akash_memory, storage=settings.akash_storage,
                     max_price_uact=int(settings.akash_max_price))


def installation_policy(settings: Settings) -> Policy:
    """Whose bids may be taken unless the project says otherwise (SLIPWAY_AKASH_PROVIDERS ...)."""
    return Policy(providers=_names(settings.akash_providers), attributes=_pairs(settings.akash_attributes),
                  auditors=_names(settings.akash_auditors))


def akash_target(settings: Settings) -> AkashTarget:
    if not (settings.akash_rest_url or "").strip():
        raise config.AkashNotConfigured("set SLIPWAY_AKASH_REST_URL to an Akash node's REST address")
    wallets = config.wallets(settings)
    signer = config.signer(settings)
    lcd = Lcd(settings.akash_rest_url)
    policy = GrantPolicy(gas_allowance_uakt=int(settings.akash_gas_allowance),
                         deposit_limit_uact=int(settings.akash_budget),
                         akt_reserve_uakt=int(settings.akash_akt_reserve), mint_uakt=int(settings.akash_mint))
    funding = Funding(wallets.funding, signer, lcd, policy, lock=funding_lock(settings))
    registry = RegistryCredentials(host=settings.registry, username=settings.registry_username,
                                   password=settings.registry_password)
    return AkashTarget(
        network=settings.akash_network, wallets=wallets, signer=signer, lcd=lcd, funding=funding, registry=registry,
        resources=installation_resources(settings), policy=installation_policy(settings),
        deposit_uact=int(settings.akash_deposit),
        timeouts=Timeouts(bids_s=float(settings.akash_bid_timeout), ready_s=float(settings.akash_ready_timeout)),
        slot_refs=slot_refs(settings), provider_uptime=provider_uptime(settings),
    )
