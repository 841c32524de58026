"""The Akash target: a release runs as an Akash deployment leased from a provider.

``start`` makes sure the project's deployer wallet has its grants (one funding-wallet
transaction at most), then sends ``MsgCreateDeployment`` with ``sources: [grant]`` and returns
the deployment's reference (owner/dseq) at once, so the job stores it before anything else can
go wrong. ``wait_ready`` waits for bids, chooses one by the policy, creates the lease, sends the
manifest to the provider and waits until every service is available and answers HTTP.

A release whose resources are those of the slot's live release keeps that lease: ``start``
sends ``MsgUpdateDeployment`` (the new manifest hash) and ``wait_ready`` re-sends the manifest to
the same provider. Such a reference says ``kind: update`` and names the deployment it adopts
(``adopts``): stopping it never closes the lease, which belongs to whichever release is live.

Every failure of a first deploy (no bids in time, a refused transaction, a refused manifest,
never available, cancelled) closes the deployment, so no escrow stays locked; the error names
the step and the cause. Wallet keys, JWTs and the registry password are never logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import ssl
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Mapping
from urllib.parse import urlencode

import requests
from google.protobuf.message import Message
from urllib3.exceptions import InsecureRequestWarning

from deployer.akash import messages
from deployer.akash.chain import Signer, TxRefused, TxResult
from deployer.akash.grants import Budget, BudgetSpent, Funding, FundingError
from deployer.akash.lcd import Bid, Lcd, LcdError, price_value
from deployer.akash.manifest import deployment_hash, group_specs, manifest_sorted_json
from deployer.akash.provider_auth import provider_jwt
from deployer.akash.provider_tls import ProviderTLS
from deployer.akash.sdl import (DeploymentSpec, GpuSpec, RegistryCredentials, SDLError, ServiceSpec, image_host,
                                inject_release, load_yaml, sdl_from_spec, validate_sdl)
from deployer.akash.wallet import Wallet, Wallets
from deployer.base import (CLOSED_AT_BUDGET, CLOSED_UNDER_IT, MOVED_AWAY, Ended, Health, Log, Release, Running,
                           Stopped, attach_events, never)
from slipway.errors import AppError, UserError

log = logging.getLogger(__name__)

LOCAL_NETWORK = "local"
# The port the app listens on inside its container on Akash (given to it as PORT).
AKASH_APP_PORT = 8080
# After the first acceptable bid, how long other providers get to bid too.
BID_GRACE_S = 2.0
POLL_S = 0.5
NO_LEASE = "no lease for deployment"
# The chain's smallest deposit (uact), for a deployment and for a top-up of its escrow.
MIN_DEPOSIT_UACT = 500_000

# Providers serve self-signed certificates, checked against the chain, not a CA, and pinned
# (``deployer.akash.provider_tls``): urllib3 would warn on every such request.
warnings.filterwarnings("ignore", message="Unverified HTTPS request", category=InsecureRequestWarning)


@dataclass(frozen=True)
class Resources:
    cpu: str = "0.5"
    memory: str = "512Mi"
    storage: str = "1Gi"
    max_price_uact: int = 100  # per block, per group


@dataclass(frozen=True)
class Policy:
    """Which bids may be taken: the trusted providers (all when empty), placement and auditors."""

    providers: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    auditors: tuple[str, ...] = ()

    def choose(self, bids: list[Bid], avoid: frozenset[str] = frozenset(),
               uptime: Mapping[str, float] | None = None) -> Bid | None:
        """The cheapest acceptable bid; at the same price the provider with the better ``uptime`` (as
        Slipway observed it, 1.0 for one it has no history with), then the address, for a stable choice.

        The chain already kept out providers without the required attributes or auditors' signatures
        (the SDL's placement): they cannot bid."""
        ok = [b for b in bids if b.denom == messages.DEPOSIT_DENOM and b.provider not in avoid
              and (not self.providers or b.provider in self.providers)]
        seen = uptime or {}
        return min(ok, key=lambda b: (b.price, -seen.get(b.provider, 1.0), b.provider)) if ok else None


@dataclass(frozen=True)
class Timeouts:
    tx_s: float = 60.0
    bids_s: float = 120.0
    ready_s: float = 300.0
    manifest_s: float = 60.0


def lease_event(kind: str, ref: dict, **values) -> dict:
    """One entry of a lease's history, returned to the caller (the target has no database)."""
    return {"kind": kind, "network": ref.get("network"), "dseq": int(ref["dseq"]) if ref.get("dseq") else None,
            "provider": ref.get("provider"), **values}


def deployer_index(project: str) -> int:
    """The project's HD index: derived from its name, so no table of keys is ever needed (1 .. 2^31-1)."""
    digest = hashlib.sha256(f"slipway-project:{project}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1


def is_loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified


def resources_for(own: dict, installation: Resources) -> Resources:
    """The installation's resources, with what the project sets for itself (``Release.akash``) instead."""
    r = installation
    return Resources(cpu=str(own.get("cpu") or r.cpu), memory=str(own.get("memory") or r.memory),
                     storage=str(own.get("storage") or r.storage),
                     max_price_uact=int(own.get("max_price_uact") or r.max_price_uact))


def policy_for(own: dict, installation: Policy) -> Policy:
    """The installation's provider policy, each part replaced by the project's own when it sets one."""
    p = installation
    return Policy(providers=tuple(own["providers"]) if own.get("providers") else p.providers,
                  attributes=dict(own["attributes"]) if own.get("attributes") else dict(p.attributes),
                  auditors=tuple(own["auditors"]) if own.get("auditors") else p.auditors)


def settings_sdl(release: Release, registry: RegistryCredentials, resources: Resources, policy: Policy) -> dict:
    """The SDL of a release without a repository SDL: one service from the resources, price ceiling,
    GPU, placement attributes and auditors in force (what ``slipway sdl export`` prints too)."""
    gpu = None
    if release.akash.get("gpu"):
        gpu = GpuSpec(units=int(release.akash["gpu"]), model=release.akash.get("gpu_model") or None)
    spec = ServiceSpec(
        name=release.project, image=release.image, port=AKASH_APP_PORT,
        env={**release.env, "PORT": str(AKASH_APP_PORT)}, cpu=resources.cpu, memory=resources.memory,
        storage=resources.storage, gpu=gpu, credentials=registry, price_uact=resources.max_price_uact)
    return sdl_from_spec(DeploymentSpec(services=(spec,), attributes=dict(policy.attributes),
                                        signed_by_any_of=tuple(policy.auditors)))


class AkashTarget:
    name = "akash"

    def __init__(self, *, network: str, wallets: Wallets, signer: Signer, lcd: Lcd, funding: Funding,
                 registry: RegistryCredentials, resources: Resources | None = None, policy: Policy | None = None,
                 deposit_uact: int = 5_000_000, timeouts: Timeouts | None = None,
                 slot_refs: Callable[[str, str | None], list[dict]] | None = None,
                 provider_uptime: Callable[[], Mapping[str, float]] | None = None,
                 top_up_below_blocks: int = 14_400):
        self.network = network
        self.wallets = wallets
        self.signer = signer
        self.lcd = lcd
        self.funding = funding
        self.registry = registry
        self.resources = resources or Resources()
        self.policy = policy or Policy()
        self.deposit_uact = deposit_uact
        self.timeouts = timeouts or Timeouts()
        # The references stored for a project's slot (None: every slot) by deployments that ended:
        # how retire and teardown find dseqs the chain cannot tell apart.
        self.slot_refs = slot_refs or (lambda project, slot: [])
        # Each provider's uptime as this installation saw it (``slipway.lease_events.provider_uptime``):
        # at the same price, the better one is leased.
        self.provider_uptime = provider_uptime or dict
        # About a day of 6 s blocks: a periodic check tops the escrow up before it runs that low.
        self.top_up_below_blocks = top_up_below_blocks
        self.deployer_transactions = 0  # sent by deployer wallets (the benchmark counts them)
        self.provider_tls = ProviderTLS(lcd)

    # -- the SDL -------------------------------------------------------------------
    def wallet(self, project: str) -> Wallet:
        return self.wallets.deployer(deployer_index(project))

    def resources_of(self, release: Release) -> Resources:
        return resources_for(release.akash, self.resources)

    def policy_of(self, release: Release) -> Policy:
        return policy_for(release.akash, self.policy)

    def sdl(self, release: Release) -> dict:
        if release.sdl:
            # The repository's own SDL (checked by the job when it read it): its resources and prices
            # are the repository's; the built image and the registry login go into its slipway service.
            try:
                return inject_release(validate_sdl(load_yaml(release.sdl)), release.image, self.registry,
                                      release.env)
            except SDLError as exc:
                raise UserError(UserError.AKASH_SDL, detail="; ".join(exc.problems)) from None
        return settings_sdl(release, self.registry, self.resources_of(release), self.policy_of(release))

    # -- phase one -----------------------------------------------------------------
    def start(self, release: Release, log_: Log) -> dict:
        host = image_host(release.image)
        if self.network != LOCAL_NETWORK and is_loopback_host(host):
            raise UserError(UserError.AKASH_LOOPBACK_REGISTRY, registry=host, network=self.network)
        wallet = self.wallet(release.project)
        data = self.sdl(release)
        groups = [messages.group_spec_from_dict(g) for g in group_specs(data)]
        resources_key = hashlib.sha256(b"".join(g.SerializeToString(deterministic=True) for g in groups)).hexdigest()
        manifest_hash = deployment_hash(data)
        base = {"network": self.network, "owner": wallet.address, "project": release.project, "slot": release.slot,
                "resources": resources_key, "hash": manifest_hash.hex(), "image": release.image}
        budget = Budget.of(release.akash)
        if budget:  # the periodic check tops up (and closes at) the project's budget from the reference
            base["budget"] = {"budget_uact": budget.uact, "budget_monthly": not budget.total}
        previous = self._updatable(release, base)
        self._ensure_grants(wallet, 0 if previous else self.deposit_uact, log_, budget=budget)
        if previous is not None:
            dseq = int(previous["dseq"])
            log_(f"same resources as the live release: updating Akash deployment {dseq} in place "
                 f"on provider {previous['provider']}")
            result = self._send(wallet, [messages.update_deployment(wallet.address, dseq, manifest_hash)],
                                "updating the deployment")
            return {**base, "kind": "update", "dseq": dseq, "txhash": result.txhash,
                    "adopts": release.previous_id, "provider": previous["provider"],
                    "gseq": previous["gseq"], "oseq": previous["oseq"]}
        dseq = self._new_dseq(release)
        log_(f"creating Akash deployment {dseq} of {wallet.address} with a {self.deposit_uact} uact deposit "
             f"from the funding wallet's grant")
        msg = messages.create_deployment(wallet.address, dseq, groups, manifest_hash, self.deposit_uact, from_grant=True)
        try:
            result = self._send(wallet, [msg], "creating the deployment", raw=True)
        except TxRefused as exc:
            if "insufficient funds" not in exc.log:
                raise AppError(AppError.AKASH_STEP, step="creating the deployment", detail=str(exc)[:300]) from None
            # Other deploys' deposits drew the funding wallet's ACT after our check: mint, then once more.
            log_("the funding wallet's ACT went to other deployments meanwhile")
            self._ensure_grants(wallet, self.deposit_uact, log_, mint=True, budget=budget)
            result = self._send(wallet, [msg], "creating the deployment")
        return {**base, "kind": "create", "dseq": dseq, "txhash": result.txhash}

    def _ensure_grants(self, wallet: Wallet, deposit_uact: int, log_: Log, mint: bool = False,
                       budget: Budget | None = None) -> None:
        try:
            self.funding.ensure(wallet.address, deposit_uact, log_, mint=mint, budget=budget)
        except BudgetSpent as exc:
            raise UserError(UserError.AKASH_BUDGET_SPENT, detail=str(exc), what="Nothing was started.") from None
        except FundingError as exc:
            raise AppError(AppError.AKASH_STEP, step="granting the project's wallet", detail=str(exc)) from None
        except (TxRefused, LcdError) as exc:
            raise AppError(AppError.AKASH_STEP, step="granting the project's wallet", detail=str(exc)[:300]) from None

    def _new_dseq(self, release: Release) -> int:
        # Console uses the block height; the deployment id keeps two deploys in one block apart.
        return self.lcd.height() * 1000 + release.deployment_id % 1000

    def _updatable(self, release: Release, base: dict) -> dict | None:
        """The live release's reference when this one can update its lease in place."""
        prev = release.previous_ref
        if not prev or prev.get("network") != self.network or prev.get("owner") != base["owner"]:
            return None
        if prev.get("resources") != base["resources"] or not prev.get("provider"):
            return None
        try:
            leases = self.lcd.leases(prev["owner"], int(prev["dseq"]))
        except LcdError:
            return None
        return prev if any(le["id"]["provider"] == prev["provider"] for le in leases) else None

    # -- phase two -----------------------------------------------------------------
    def wait_ready(self, release: Release, ref: dict, log_: Log, should_stop: Callable[[], bool] = never,
                   *, avoid: frozenset[str] = frozenset()) -> Running:
        wallet = self.wallet(release.project)
        step = "creating the deployment" if ref["kind"] == "create" else "updating the deployment"
        events: list[dict] = []
        try:
            self._wait_included(ref["txhash"], step, should_stop)
            if ref["kind"] == "create":
                log_(f"deployment {ref['dseq']} is on chain; waiting up to {int(self.timeouts.bids_s)} s for bids")
                step = "waiting for bids"
                bid = self._choose_bid(wallet.address, ref["dseq"], log_, should_stop, avoid,
                                       policy=self.policy_of(release))
                step = "creating the lease"
                log_(f"leasing from provider {bid.provider} at {bid.price.normalize():f} uact per block")
                lease = messages.create_lease(wallet.address, ref["dseq"], bid.gseq, bid.oseq, bid.provider, bid.bseq)
                self._wait_included(self._send(wallet, [lease], step).txhash, step, should_stop)
                ref = {**ref, "provider": bid.provider, "gseq": bid.gseq, "oseq": bid.oseq,
                       "price_uact": f"{bid.price.normalize():f}"}
                events += [lease_event("created", {**ref, "provider": None}, amount_uact=self.deposit_uact),
                           lease_event("leased", ref, price_uact=ref["price_uact"])]
            else:
                events.append(lease_event("updated", ref, price_uact=ref.get("price_uact"),
                                          detail=f"image {release.image}"))
            step = "sending the manifest"
            host_uri = self.lcd.provider_host_uri(ref["provider"])
            if not host_uri:
                raise AppError(AppError.AKASH_STEP, step=step, detail=f"provider {ref['provider']} has no address on chain")
            ref = {**ref, "host_uri": host_uri}
            self._send_manifest(wallet, ref, release, log_, should_stop)
            step = "waiting for the app"
            url = self._wait_available(wallet, ref, release, log_, should_stop)
            return Running(url=url, ref={**ref, "url": url}, events=tuple(events))
        except (Stopped, UserError, AppError) as exc:
            self._after_failure(wallet, ref, release, log_, exc)
            raise
        except TxRefused as exc:
            failure = AppError(AppError.AKASH_STEP, step=step, detail=str(exc)[:300])
            self._after_failure(wallet, ref, release, log_, failure)
            raise failure from None
        except (LcdError, requests.RequestException) as exc:
            failure = AppError(AppError.AKASH_STEP, step=step, detail=str(exc)[:300])
            self._after_failure(wallet, ref, release, log_, failure)
            raise failure from None

    def _after_failure(self, wallet: Wallet, ref: dict, release: Release, log_: Log, failure: Exception) -> None:
        """Undo what a release that did not go live holds, and attach the lease's history on the way to
        ``failure`` (``deployer.base.failure_events``: the job records it, as it does a live one's)."""
        if ref.get("kind") == "update":
            self._restore(wallet, ref, release, log_)
            return
        log_(f"closing deployment {ref['dseq']} so its deposit returns to the funding wallet")
        try:
            closed = self._close(wallet, [int(ref["dseq"])], Budget.of(ref.get("budget")))
        except Exception:  # noqa: BLE001 - the reconciler closes it from the stored reference later
            log.exception("could not close Akash deployment %s after a failure", ref.get("dseq"))
            log_("warning: the deployment could not be closed now; it will be closed later")
            closed = None  # on chain, still open: its "closed" comes from whoever closes it
        if closed == []:
            return  # never on chain (its transaction was not included), or closed already: no history
        events = [lease_event("created", {**ref, "provider": None}, amount_uact=self.deposit_uact)]
        if ref.get("provider"):
            events.append(lease_event("leased", ref, price_uact=ref.get("price_uact")))
        if closed:
            why = "the deployment was cancelled" if isinstance(failure, Stopped) else str(failure)
            events.append(lease_event("closed", ref, detail=f"it did not go live: {why}"))
        attach_events(failure, events)

    def _restore(self, wallet: Wallet, ref: dict, release: Release, log_: Log) -> None:
        """An update that did not go live: put the live release's image back on the same lease.

        The lease stays with the live release. If the new manifest reached the provider, the lease
        runs the new version, so the previous image is sent again (one more transaction).
        """
        image = (release.previous_ref or {}).get("image")
        if not image or "host_uri" not in ref:
            log_("the update did not go live; the lease stays with the live release")
            return
        previous = replace(release, image=image, previous_id=None, previous_ref=None)
        log_(f"the update did not go live: putting {image} back on the lease")
        try:
            data = self.sdl(previous)
            result = self._send(wallet, [messages.update_deployment(wallet.address, int(ref["dseq"]),
                                                                     deployment_hash(data))], "restoring the live release")
            self._wait_included(result.txhash, "restoring the live release", never)
            self._send_manifest(wallet, ref, previous, log_, never)
        except Exception:  # noqa: BLE001 - the original failure is what the user must hear of
            log.exception("could not restore the live release of Akash deployment %s", ref.get("dseq"))
            log_("warning: the previous version could not be put back; the operator has been told")

    def _choose_bid(self, owner: str, dseq: int, log_: Log, should_stop: Callable[[], bool],
                    avoid: frozenset[str] = frozenset(), policy: Policy | None = None) -> Bid:
        policy = policy or self.policy
        deadline = time.monotonic() + self.timeouts.bids_s
        uptime = self.provider_uptime()
        first_seen = None
        seen: list[Bid] = []
        while True:
            if should_stop():
                raise Stopped()
            seen = self.lcd.bids(owner, dseq)
            chosen = policy.choose(seen, avoid, uptime)
            now = time.monotonic()
            if chosen is not None:
                first_seen = first_seen or now
                if now - first_seen >= BID_GRACE_S or now >= deadline:
                    log_(f"{len(seen)} bid(s): " + ", ".join(f"{b.provider} at {b.price.normalize():f} uact"
                                                             for b in sorted(seen, key=lambda b: b.price)))
                    return chosen
            elif now >= deadline:
                detail = (f"{len(seen)} bid(s), none from a trusted provider" if seen
                          else f"no provider bid within {int(self.timeouts.bids_s)} s")
                raise UserError(UserError.AKASH_NO_BIDS, detail=detail, seconds=int(self.timeouts.bids_s))
            time.sleep(POLL_S)

    def _provider_headers(self, wallet: Wallet) -> dict:
        return {"Authorization": f"Bearer {provider_jwt(wallet)}"}

    def _provider(self, method: str, wallet: Wallet, ref: dict, path: str, **kw) -> requests.Response:
        """A request to the lease's provider, over TLS pinned to its certificate on chain."""
        session, verify = self.provider_tls.session(ref["provider"], ref["host_uri"])
        try:
            return session.request(method, ref["host_uri"] + path, headers=self._provider_headers(wallet),
                                   verify=verify, timeout=30, **kw)
        except requests.exceptions.SSLError:
            self.provider_tls.forget(ref["provider"], ref["host_uri"])
            raise

    def app_logs(self, ref: dict, follow: bool = False, tail: int = 200) -> Iterator[str]:
        """What the lease's containers print, from the provider's log stream: a websocket
        (``/lease/{dseq}/{gseq}/{oseq}/logs``) over the same pinned TLS and with the same JWT as every
        other call to the provider; the last ``tail`` lines, then (``follow``) new ones as they come."""
        import simple_websocket

        wallet = self.wallet(ref["project"])
        base = ref["host_uri"].rstrip("/")
        query = urlencode({"follow": "true" if follow else "false", "tail": str(tail)})
        url = "wss://" + base.removeprefix("https://") + f"/lease/{ref['dseq']}/{ref['gseq']}/{ref['oseq']}/logs?{query}"
        try:
            ws = simple_websocket.Client.connect(url, headers=self._provider_headers(wallet),
                                                 ssl_context=self.provider_tls.ssl_context(ref["provider"], base))
        except ssl.SSLError as exc:
            self.provider_tls.forget(ref["provider"], base)
            raise AppError(AppError.AKASH_PROVIDER_LOGS, provider=ref["provider"], detail=type(exc).__name__) from None
        except (OSError, requests.RequestException, simple_websocket.ConnectionError) as exc:
            raise AppError(AppError.AKASH_PROVIDER_LOGS, provider=ref["provider"], detail=type(exc).__name__) from None
        try:
            while True:
                try:
                    message = ws.receive()
                except simple_websocket.ConnectionClosed as closed:
                    if int(closed.reason) not in (1000, 1005):  # 1005: closed without a status
                        raise AppError(AppError.AKASH_PROVIDER_LOGS, provider=ref["provider"],
                                       detail=f"the stream closed with {int(closed.reason)} {closed.message or ''}"
                                       .strip()) from None
                    return
                try:
                    line = json.loads(message)["message"]
                except (ValueError, KeyError, TypeError):
                    continue  # not a log line in the provider's shape
                yield str(line).rstrip("\n")
        finally:
            with contextlib.suppress(simple_websocket.ConnectionClosed):  # already closed by the provider
                ws.close()

    def _send_manifest(self, wallet: Wallet, ref: dict, release: Release, log_: Log,
                       should_stop: Callable[[], bool]) -> None:
        body = manifest_sorted_json(self.sdl(release))
        path = f"/deployment/{ref['dseq']}/manifest"
        log_(f"sending the manifest to provider {ref['provider']} ({ref['host_uri']})")
        deadline = time.monotonic() + self.timeouts.manifest_s
        while True:
            if should_stop():
                raise Stopped()
            resp = self._provider("PUT", wallet, ref, path, data=body)
            if resp.status_code == 200:
                log_("the provider accepted the manifest")
                return
            text = resp.text.strip()[:300]
            if NO_LEASE in text and time.monotonic() < deadline:
                time.sleep(POLL_S)  # the provider has not seen the lease's block yet
                continue
            what = ("the live version stays on the lease" if ref.get("kind") == "update"
                    else "the deployment was closed")
            raise AppError(AppError.AKASH_MANIFEST_REFUSED, provider=ref["provider"], what=what,
                            detail=f"{resp.status_code} {text}")

    def _status(self, wallet: Wallet, ref: dict) -> dict | None:
        resp = self._provider("GET", wallet, ref, f"/lease/{ref['dseq']}/{ref['gseq']}/{ref['oseq']}/status")
        return resp.json() if resp.status_code == 200 else None

    def _wait_available(self, wallet: Wallet, ref: dict, release: Release, log_: Log,
                        should_stop: Callable[[], bool]) -> str:
        log_(f"waiting up to {int(self.timeouts.ready_s)} s for every service to be available")
        deadline = time.monotonic() + self.timeouts.ready_s
        url = None
        while time.monotonic() < deadline:
            if should_stop():
                raise Stopped()
            try:
                status = self._status(wallet, ref) or {}
            except requests.RequestException:
                status = {}
            services = status.get("services") or {}
            if services and all(s.get("total") and s.get("available", 0) >= s["total"] for s in services.values()):
                uris = [u for s in services.values() for u in (s.get("uris") or [])]
                if uris:
                    url = uris[0] if "://" in uris[0] else f"http://{uris[0]}"
                    try:
                        requests.get(url + release.health_path, timeout=2, allow_redirects=False)
                        log_(f"every service is available and {url} answers")
                        return url
                    except requests.RequestException:
                        pass
            time.sleep(POLL_S)
        raise UserError(UserError.AKASH_NEVER_AVAILABLE, provider=ref["provider"], seconds=int(self.timeouts.ready_s),
                        url=url or "its address")

    # -- transactions ----------------------------------------------------------------
    def _send(self, wallet: Wallet, msgs: list[Message], step: str, raw: bool = False) -> TxResult:
        """Sign and broadcast as the deployer, gas paid through the funding wallet's allowance.

        ``raw``: a refusal is raised as TxRefused, for the caller to look at.
        """
        try:
            result = self.signer.submit(wallet, msgs, fee_granter=self.funding.wallet.address)
        except TxRefused as exc:
            if raw:
                raise
            raise AppError(AppError.AKASH_STEP, step=step, detail=str(exc)[:300]) from None
        except (LcdError, requests.RequestException, RuntimeError) as exc:
            raise AppError(AppError.AKASH_STEP, step=step, detail=str(exc)[:300]) from None
        self.deployer_transactions += 1
        return result

    def _wait_included(self, txhash: str, step: str, should_stop: Callable[[], bool]) -> None:
        result = self.lcd.wait_tx(txhash, self.timeouts.tx_s, should_stop=should_stop)
        if result is None:
            if should_stop():
                raise Stopped()
            raise AppError(AppError.AKASH_STEP, step=step,
                           detail=f"transaction {txhash} was not included within {int(self.timeouts.tx_s)} s")
        if result.code != 0:
            raise AppError(AppError.AKASH_STEP, step=step,
                           detail=f"the chain refused it (code {result.code}: {result.log[:200]})")

    def _close(self, wallet: Wallet, dseqs: list[int], budget: Budget | None = None) -> list[int]:
        """Close the deployments among ``dseqs`` still open, in one transaction; which were closed.

        What they had left returns to the project's budget (``budget``, else the installation's)."""
        open_ = [d for d in dict.fromkeys(dseqs) if self.lcd.deployment_active(wallet.address, d)]
        if not open_:
            return []
        left = sum((self.lcd.escrow_left(wallet.address, d) or 0) for d in open_)
        result = self._send(wallet, [messages.close_deployment(wallet.address, d) for d in open_],
                            "closing the deployment")
        self._wait_included(result.txhash, "closing the deployment", never)
        try:
            self.funding.refund(wallet.address, int(left), lambda line: log.info("%s: %s", wallet.address, line),
                                budget=budget)
        except Exception:  # noqa: BLE001 - closed is what matters; the budget is only lower than it should be
            log.exception("could not return %s uact to the budget of %s", left, wallet.address)
        return open_

    # -- the rest of the contract ----------------------------------------------------------
    def check(self, ref: dict) -> Health:
        wallet = self.wallet(ref["project"])
        try:
            leases = self.lcd.leases(ref["owner"], int(ref["dseq"]))
        except LcdError as exc:
            return Health(False, f"the Akash node cannot be read ({exc})")
        lease = next((le for le in leases if le["id"]["provider"] == ref.get("provider")), None)
        if lease is None:
            return Health(False, f"the lease of deployment {ref['dseq']} is closed", gone=True,
                          events=(lease_event("closed", ref, detail=CLOSED_UNDER_IT),))
        events: tuple[dict, ...] = ()
        try:
            amount = self.top_up(ref, lease, lambda line: log.info("akash deployment %s: %s", ref["dseq"], line))
            if amount:
                events = (lease_event("topped-up", ref, amount_uact=amount),)
        except UserError as exc:
            return Health(False, str(exc), events=(lease_event("closed", ref, detail=CLOSED_AT_BUDGET),))
        except (AppError, LcdError, TxRefused) as exc:
            return Health(False, f"the escrow of deployment {ref['dseq']} could not be topped up ({exc})")
        try:
            status = self._status(wallet, ref)
        except requests.RequestException as exc:
            return Health(False, f"provider {ref.get('provider')} does not answer ({type(exc).__name__})", events=events)
        if not status:
            return Health(False, f"provider {ref.get('provider')} does not know the lease", events=events)
        down = [name for name, s in (status.get("services") or {}).items() if s.get("available", 0) < s.get("total", 1)]
        if down:
            return Health(False, f"not available on provider {ref.get('provider')}: {', '.join(down)}", events=events)
        return Health(True, events=events)

    def top_up(self, ref: dict, lease: dict, log_: Log) -> int:
        """Deposit into the deployment's escrow (from the grant) when it would run dry within
        ``top_up_below_blocks`` blocks at the lease's price; the uact deposited (0: none). Without top-ups the
        chain closes a lease whose escrow is spent (a 5 ACT deposit lasts days, not months)."""
        price = price_value((lease.get("price") or {}).get("amount", "0"))
        left = self.lcd.escrow_left(ref["owner"], int(ref["dseq"]))
        if left is None or price <= 0 or left >= price * self.top_up_below_blocks:
            return 0
        wallet = self.wallet(ref["project"])
        budget = Budget.of(ref.get("budget"))
        try:
            self.funding.ensure(wallet.address, MIN_DEPOSIT_UACT, log_, budget=budget)
        except BudgetSpent as exc:
            # At the budget: close now, so what is left returns to the funding wallet.
            self._close(wallet, [int(ref["dseq"])], budget)
            raise UserError(UserError.AKASH_BUDGET_SPENT, detail=str(exc),
                            what=f"Deployment {ref['dseq']} was closed, and what was left of its deposit "
                                 "returned to the funding wallet.") from None
        except (FundingError, TxRefused, LcdError) as exc:
            raise AppError(AppError.AKASH_STEP, step="topping up the escrow", detail=str(exc)[:300]) from None
        # What the budget still allows, up to a full deposit (near the budget, a smaller last one).
        amount = min(self.deposit_uact, self.funding.grants_of(wallet.address).deposit_left or 0)
        msg = messages.account_deposit(wallet.address, wallet.address, int(ref["dseq"]), amount, from_grant=True)
        result = self._send(wallet, [msg], "topping up the escrow")
        self._wait_included(result.txhash, "topping up the escrow", never)
        log_(f"topped up the escrow of deployment {ref['dseq']} with {amount} uact "
             f"({left.normalize():f} uact were left, {int(left / price)} blocks at {price.normalize():f} uact)")
        return int(amount)

    def failover(self, release: Release, ref: dict, log_: Log, why: str = "") -> Running:
        """Run ``release`` on another provider, by the same policy, then close the deployment at ``ref``.

        For a live release whose provider stopped answering or whose lease closed under it (the
        periodic check says so). The old deployment closes only once the new one answers.
        """
        log_(f"moving deployment {ref['dseq']} away from provider {ref.get('provider')}")
        fresh = replace(release, previous_id=None, previous_ref=None)
        new_ref = self.start(fresh, log_)
        running = self.wait_ready(fresh, new_ref, log_, avoid=frozenset({ref.get("provider", "")}))
        wallet = self.wallet(release.project)
        to = running.ref["provider"]
        events = [*running.events, lease_event("moved", running.ref, detail=(
            f"from provider {ref.get('provider')} (deployment {ref['dseq']}) to {to}" + (f": {why}" if why else "")))]
        for dseq in self._close(wallet, [int(ref["dseq"])], Budget.of(ref.get("budget"))):
            log_(f"closed deployment {dseq} on provider {ref.get('provider')}")
            events.append(lease_event("closed", ref, detail=f"{MOVED_AWAY} {to}"))
        log_(f"moved to provider {to}: {running.url}")
        return replace(running, events=tuple(events))

    def stop(self, ref: dict, log_: Log) -> Ended:
        if ref.get("kind") == "update":
            return Ended(False)  # the lease belongs to the live release it updated (or was adopted by)
        wallet = self.wallet(ref["project"])
        closed = self._close(wallet, [int(ref["dseq"])], Budget.of(ref.get("budget")))
        if closed:
            log_(f"closed Akash deployment {ref['dseq']}")
        return Ended(bool(closed), tuple(lease_event("closed", ref, detail="its Slipway deployment ended")
                                         for _ in closed))

    def retire(self, release: Release, keep: Running, log_: Log) -> Ended:
        wallet = self.wallet(release.project)
        refs = {int(r["dseq"]): r for r in self.slot_refs(release.project, release.slot)
                if r.get("owner") == wallet.address and int(r["dseq"]) != int(keep.ref["dseq"])}
        events = []
        for dseq in self._close(wallet, list(refs), Budget.of(release.akash)):
            log_(f"closed the previous Akash deployment {dseq}")
            events.append(lease_event("closed", refs[dseq], detail=f"replaced by deployment {keep.ref['dseq']}"))
        return Ended(bool(events), tuple(events))

    def teardown(self, project: str, slot: str, log_: Log) -> Ended:
        wallet = self.wallet(project)
        refs = {int(r["dseq"]): r for r in self.slot_refs(project, slot) if r.get("owner") == wallet.address}
        events = []
        for dseq in self._close(wallet, list(refs)):
            log_(f"closed Akash deployment {dseq}")
            events.append(lease_event("closed", refs[dseq], detail=f"the preview ({slot}) was removed"))
        return Ended(bool(events), tuple(events))

    def remove_all(self, project: str, log_: Log) -> Ended:
        wallet = self.wallet(project)
        # The chain knows every open deployment of the wallet; the stored references name their providers.
        known = {int(r["dseq"]): r for r in self.slot_refs(project, None) if r.get("owner") == wallet.address}
        events = []
        for dseq in self._close(wallet, self.lcd.active_deployments(wallet.address)):
            log_(f"closed Akash deployment {dseq}")
            ref = known.get(dseq) or {"network": self.network, "dseq": dseq}
            events.append(lease_event("closed", ref, detail="every deployment of the project was closed"))
        return Ended(bool(events), tuple(events))

    def deployments(self) -> set[int]:
        # Akash deployments are found from their stored references (stored right after broadcast).
        return set()

    def remove_deployment(self, deployment_id: int, log_: Log) -> None:
        return None
