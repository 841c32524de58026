"""The Akash target end to end on the local network: a devnet chain with short blocks, its two
providers running leases on the real Docker Engine and pulling from the real registry.

Through the real pipeline: push -> build -> registry -> grants from the funding wallet ->
MsgCreateDeployment (sources: grant) -> bids -> lease -> manifest over HTTPS -> the app answers at
the provider's URI; a second push with the same resources updates the deployment in place (one
deployer transaction, same lease). Failures close what they created. Transactions are counted
from the chain (an account's sequence is the number of transactions it signed).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import pytest
import requests
from sqlalchemy import select

from deployer.akash.lcd import Lcd
from deployer.akash.target import AkashTarget, deployer_index
from deployer.akash.wallet import wallet_from_mnemonic
from deployer.base import Release
from devnet import config
from devnet.node import start
from devnet.provider import build_providers
from devnet.provider.cluster import LABEL_PROVIDER
from devnet.provider.control import Supervisor, request
from slipway.db import session_scope
from slipway.errors import AppError, UserError
from slipway.models import BuildLog, Deployment
from slipway.projects import ProjectSpec, create_project
from slipway.queue import redis_connection
from slipway.settings import Settings, set_settings
from slipway.targets import targets_from_settings
from tests.support.devnet import devnet_port
from tests.support.payloads import push_payload
from tests.support.repository_sdl import REPOSITORY_SDL
from tests.support.targets import deploy

pytestmark = pytest.mark.docker

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
FUNDING = wallet_from_mnemonic(MNEMONIC, 0).address
BLOCK_TIME = "0.2"


def dockerfile(registry: str) -> str:
    return (f"FROM {registry}/base/busybox:latest\nCOPY www /www\n"
            'CMD ["sh", "-c", "exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n')


@dataclass
class Network:
    """The devnet of this module: its chain, its two providers and their supervisor."""

    settings: Settings
    supervisor: Supervisor
    providers: list

    @property
    def devnet_path(self) -> Path:
        return self.settings.devnet_path


@pytest.fixture(scope="module")
def network(base_settings, tmp_path_factory):
    """One devnet with its providers for the whole module (starting one took seconds per test).

    Tests share its chain, so each uses wallets of its own (a project's wallet comes from its
    random name) and compares the funding wallet's transactions before and after, never from genesis.
    """
    port = devnet_port()
    s = replace(base_settings, data_dir=str(tmp_path_factory.mktemp("akash-devnet")), devnet_port=str(port),
                devnet_block_time=BLOCK_TIME, akash_chain_id=config.CHAIN_ID, akash_funding_mnemonic=MNEMONIC,
                akash_gas_price="0.0025")
    node = start(s)
    providers = build_providers(node.rest_url, s)
    supervisor = Supervisor(s.devnet_path, providers)
    supervisor.apply()
    yield Network(s, supervisor, providers)
    # Killed first: a stopping provider stops each container it still runs with a grace period, one
    # after the other (20 leases closed at the end of a test took 40 s).
    remove_leases(s.docker_host, providers)
    supervisor.stop()
    node.stop()
    remove_leases(s.docker_host, providers)


def remove_leases(docker_host: str, providers) -> None:
    client = docker.DockerClient(base_url=docker_host)
    try:
        for provider in providers:
            # Sparse: listing in full inspects each container, and one its provider removed meanwhile failed that.
            for c in client.containers.list(all=True, sparse=True,
                                            filters={"label": f"{LABEL_PROVIDER}={provider.name}"}):
                try:
                    c.remove(force=True)
                except docker.errors.APIError:  # removed by its provider meanwhile
                    pass
    finally:
        client.close()


@pytest.fixture
def akash(settings, app, network):
    """Settings whose akash target is the module's devnet; both its providers run at the start of each test."""
    s = replace(settings, devnet_port=network.settings.devnet_port, devnet_block_time=BLOCK_TIME,
                akash_network="local", akash_chain_id=config.CHAIN_ID, akash_funding_mnemonic=MNEMONIC,
                akash_rest_url=f"rest+http://127.0.0.1:{network.settings.devnet_port}", akash_gas_price="0.0025",
                targets="local,akash", akash_bid_timeout="20", akash_ready_timeout="60")
    set_settings(s)
    yield s
    for spec in config.PROVIDERS:  # a test that stopped one: started again for the next
        request(network.devnet_path, spec.name, running=True)
    network.supervisor.apply()


def target_of(s) -> AkashTarget:
    return targets_from_settings(s)["akash"]


def sequence(lcd: Lcd, address: str) -> int:
    found = lcd.get(f"/cosmos/auth/v1beta1/accounts/{address}")
    return int(found["account"].get("sequence") or 0) if found else 0


def events_of(dep_id: int) -> list[tuple]:
    from slipway.models import LeaseEvent

    with session_scope() as s:
        return [(e.kind, e.dseq, e.provider) for e in
                s.scalars(select(LeaseEvent).where(LeaseEvent.deployment_id == dep_id).order_by(LeaseEvent.id))]


def closed_detail(dep_id: int) -> str | None:
    from slipway.models import LeaseEvent

    with session_scope() as s:
        return s.scalar(select(LeaseEvent.detail).where(LeaseEvent.deployment_id == dep_id, LeaseEvent.kind == "closed")
                        .order_by(LeaseEvent.id.desc()).limit(1))


def log_of(dep_id: int) -> str:
    with session_scope() as s:
        return "\n".join(s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)))


def push(send_webhook, run_worker, repo, text: str) -> Deployment:
    sha = repo.commit({"Dockerfile": dockerfile_for[repo.name], "www/index.html": text})
    resp = send_webhook("push", push_payload(f"acme/{repo.name}", sha, clone_url=repo.url))
    assert resp.status_code == 202, resp.json
    (dep_id,) = resp.json["deployments"]
    run_worker()
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        s.expunge(dep)
        return dep


dockerfile_for: dict[str, str] = {}


def wait_for_value(get, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.2)
    return get()


def _text(url: str) -> str | None:
    try:
        resp = requests.get(url, timeout=2)
    except requests.RequestException:
        return None
    return resp.text if resp.status_code == 200 else None


def test_push_goes_live_on_a_devnet_provider_then_updates_the_same_lease(akash, git_server, send_webhook,
                                                                          run_worker):
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(akash.registry)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    env_secret = f"AppSecret-{uuid.uuid4().hex}"
    with session_scope() as s:
        from slipway import envvars
        from slipway.models import Project

        envvars.set_vars(s, s.scalar(select(Project).where(Project.name == name)), {"API_KEY": env_secret})
    lcd = Lcd(akash.akash_rest_url)
    owner = wallet_from_mnemonic(MNEMONIC, deployer_index(name)).address
    funding_txs = sequence(lcd, FUNDING)

    first = push(send_webhook, run_worker, repo, "hello from v1\n")
    log = log_of(first.id)
    assert first.state == "live", f"{first.error_message}\n{log}"
    assert requests.get(first.url, timeout=5).text == "hello from v1\n"
    ref = first.target_ref
    assert (ref["kind"], ref["owner"], ref["provider"]) == ("create", owner, ref["provider"])
    assert ref["provider"] == wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address
    # Two deployer transactions (deployment, lease), one of the funding wallet (mint + both grants).
    assert sequence(lcd, owner) == 2
    assert sequence(lcd, FUNDING) - funding_txs == 1
    for line in ("granting the project's wallet", "creating Akash deployment", "bid(s)", "leasing from provider",
                 "the provider accepted the manifest", "answers"):
        assert line in log, line
    assert akash.registry_password not in log and MNEMONIC not in log

    second = push(send_webhook, run_worker, repo, "hello from v2\n")
    log2 = log_of(second.id)
    assert second.state == "live", f"{second.error_message}\n{log2}"
    assert requests.get(second.url, timeout=5).text == "hello from v2\n"
    ref2 = second.target_ref
    assert (ref2["kind"], ref2["dseq"], ref2["provider"], ref2["adopts"]) == ("update", ref["dseq"], ref["provider"], first.id)
    assert second.url == first.url  # the lease keeps its address, as a provider's ingress does
    assert sequence(lcd, owner) == 3  # exactly one more deployer transaction: MsgUpdateDeployment
    assert sequence(lcd, FUNDING) - funding_txs == 1  # grants still live: no funding transaction
    assert lcd.active_deployments(owner) == [ref["dseq"]]
    assert len(lcd.leases(owner, ref["dseq"])) == 1
    with session_scope() as s:
        older = s.get(Deployment, first.id)
        # Superseded by its own update: its reference went to the new release, so nothing closes the lease.
        assert (older.state, older.target_ref) == ("superseded", None)
    assert events_of(first.id) == [("created", ref["dseq"], None), ("leased", ref["dseq"], ref["provider"])]
    assert events_of(second.id) == [("updated", ref["dseq"], ref["provider"])]

    # No key, mnemonic, JWT, registry password or app secret in the database, the logs or Redis.
    from tests.support.pipeline import everything_stored
    from tests.support.secrets import forms

    redis = redis_connection(akash)
    stored = "\n".join([everything_stored(), log + log2] + [
        repr(redis.hgetall(k) if redis.type(k) == b"hash" else k) for k in redis.scan_iter()
        if akash.queue_name.encode() in k])
    key_hex = wallet_from_mnemonic(MNEMONIC, deployer_index(name))._key.private_key_hex
    for secret in (MNEMONIC, akash.registry_password, env_secret, key_hex, "eyJhbGciOi"):
        for form in forms(secret):
            assert form.lower() not in stored.lower(), secret[:6]

    # A third version never answers: it fails, and the live (second) version is put back on the lease.
    set_settings(replace(akash, akash_ready_timeout="8"))
    dockerfile_for[name] = f"FROM {akash.registry}/base/busybox:latest\nCMD [\"sh\", \"-c\", \"exit 3\"]\n"
    third = push(send_webhook, run_worker, repo, "never\n")
    assert (third.state, third.error_id) == ("failed", "akash:user:never-available"), third.error_message
    assert "putting " in log_of(third.id) and sequence(lcd, owner) == 5  # the update, and the restoring one
    set_settings(akash)
    target = target_of(akash)
    wallet = target.wallet(name)
    status = wait_for_value(lambda: target._status(wallet, ref2))
    assert status["services"][name]["uris"] == [second.url.removeprefix("http://")]
    assert wait_for_value(lambda: _text(second.url)) == "hello from v2\n"
    assert lcd.active_deployments(owner) == [ref["dseq"]]
    with session_scope() as s:
        assert s.get(Deployment, second.id).state == "live"

    assert target.check(ref2).ok
    # The project is deleted: its deployment closes, and the periodic check says so.
    target.remove_all(name, lambda line: None)
    assert lcd.active_deployments(owner) == []
    health = target.check(ref2)
    assert not health.ok and "closed" in health.detail and health.gone
    assert [e["kind"] for e in health.events] == ["closed"]


def test_a_project_created_with_the_defaults_goes_live_on_a_devnet_provider(akash, git_server, send_webhook,
                                                                             run_worker):
    """The README's first app: `slipway project create` with no --target, a push, the app on Akash."""
    from click.testing import CliRunner

    from slipway.cli import main
    from slipway.settings import DEFAULT_TARGET, Settings

    assert Settings.default_target == DEFAULT_TARGET == "akash"
    set_settings(replace(akash, default_target=Settings.default_target))
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(akash.registry)
    created = CliRunner().invoke(main, ["project", "create", name, "--repo", repo.url, "--github", f"acme/{name}"])
    assert created.exit_code == 0, created.output
    assert "Akash settings:" in created.output  # an Akash project from the start

    dep = push(send_webhook, run_worker, repo, "my first app\n")
    assert dep.state == "live", f"{dep.error_message}\n{log_of(dep.id)}"
    assert requests.get(dep.url, timeout=5).text == "my first app\n"
    owner = wallet_from_mnemonic(MNEMONIC, deployer_index(name)).address
    assert (dep.target_ref["network"], dep.target_ref["owner"]) == ("local", owner)
    assert Lcd(akash.akash_rest_url).active_deployments(owner) == [dep.target_ref["dseq"]]
    status = CliRunner().invoke(main, ["akash", "status"])
    assert status.exit_code == 0 and name in status.output and str(dep.target_ref["dseq"]) in status.output
    target_of(akash).remove_all(name, lambda line: None)


def release(s, project: str, deployment_id: int = 1, **kw) -> Release:
    return Release(project, deployment_id, f"{s.registry}/base/busybox:latest", **kw)


def test_a_first_deploy_that_fails_records_its_lease_created_then_closed_with_why(akash, git_server, send_webhook,
                                                                                   run_worker):
    """No bids in time, then never available: each push's deployment is closed, and the project's
    lease history (page, `slipway akash status`) says created -> (leased ->) closed, and why."""
    from click.testing import CliRunner

    from slipway.cli import main

    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(akash.registry)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    owner = wallet_from_mnemonic(MNEMONIC, deployer_index(name)).address
    lcd = Lcd(akash.akash_rest_url)

    set_settings(replace(akash, akash_attributes="region=mars", akash_bid_timeout="3"))
    first = push(send_webhook, run_worker, repo, "nobody bids\n")
    assert (first.state, first.error_id) == ("failed", "akash:user:no-bids"), first.error_message
    dseq = first.target_ref["dseq"]
    assert events_of(first.id) == [("created", dseq, None), ("closed", dseq, None)]
    assert "did not go live" in closed_detail(first.id) and "bid" in closed_detail(first.id)

    set_settings(replace(akash, akash_ready_timeout="5"))
    dockerfile_for[name] = f"FROM {akash.registry}/base/busybox:latest\nCMD [\"sh\", \"-c\", \"exit 3\"]\n"
    second = push(send_webhook, run_worker, repo, "never answers\n")
    assert (second.state, second.error_id) == ("failed", "akash:user:never-available"), second.error_message
    ref = second.target_ref
    assert [e[:2] for e in events_of(second.id)] == [("created", ref["dseq"]), ("leased", ref["dseq"]),
                                                     ("closed", ref["dseq"])]
    assert events_of(second.id)[2][2] == events_of(second.id)[1][2]  # closed on the provider it leased from
    assert "did not go live" in closed_detail(second.id)
    assert lcd.active_deployments(owner) == []
    set_settings(akash)

    status = CliRunner().invoke(main, ["akash", "status"])
    assert status.exit_code == 0, status.output
    mine = [line for line in status.output.splitlines() if f"deployment {ref['dseq']}" in line]
    assert [line.split()[3] for line in mine] == ["created", "leased", "closed"], status.output
    assert "did not go live" in mine[-1], mine


def test_no_bids_in_time_closes_the_deployment_and_names_the_step(akash):
    s = replace(akash, akash_attributes="region=mars", akash_bid_timeout="3")
    target = target_of(s)
    project = f"t-{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    with pytest.raises(UserError) as failed:
        deploy(target, release(s, project), lines.append)
    assert failed.value.message_id == UserError.AKASH_NO_BIDS
    owner = target.wallet(project).address
    assert target.lcd.active_deployments(owner) == []
    assert any("closing deployment" in line for line in lines), lines
    # The deposit went back to the funding wallet: no escrow holds it any more.
    escrow = target.lcd.get("/akash/escrow/v1/types/accounts", xid=f"{owner}/")
    assert all(a["state"]["state"] != "open" for a in (escrow or {}).get("accounts") or []), escrow


def test_an_app_that_never_answers_closes_its_deployment(akash):
    s = replace(akash, akash_ready_timeout="5")
    target = target_of(s)
    project = f"t-{uuid.uuid4().hex[:8]}"
    # The bare base image has no command that serves HTTP: it is leased, but never answers.
    with pytest.raises(UserError) as failed:
        deploy(target, release(s, project), lambda line: None)
    assert failed.value.message_id == UserError.AKASH_NEVER_AVAILABLE
    assert target.lcd.active_deployments(target.wallet(project).address) == []


def test_a_loopback_registry_is_refused_on_a_real_network_before_any_transaction(akash):
    s = replace(akash, akash_network="sandbox")
    target = target_of(s)
    project = f"t-{uuid.uuid4().hex[:8]}"
    funding_txs = sequence(target.lcd, FUNDING)
    with pytest.raises(UserError) as refused:
        target.start(release(s, project), lambda line: None)
    assert refused.value.message_id == UserError.AKASH_LOOPBACK_REGISTRY
    assert "SLIPWAY_REGISTRY" in str(refused.value)
    assert sequence(target.lcd, target.wallet(project).address) == 0
    assert sequence(target.lcd, FUNDING) == funding_txs


def test_a_refused_transaction_fails_with_its_step(akash):
    # A deposit below the chain's minimum (500000 uact) is refused by the chain.
    s = replace(akash, akash_deposit="1000")
    target = target_of(s)
    project = f"t-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AppError) as refused:
        deploy(target, release(s, project), lambda line: None)
    assert refused.value.message_id == AppError.AKASH_STEP
    assert "creating the deployment" in str(refused.value) and "deposit" in str(refused.value).lower(), str(refused.value)
    assert "txBytes" not in str(refused.value)  # the node's reason, not the signed transaction
    assert target.lcd.active_deployments(target.wallet(project).address) == []


def test_a_worker_killed_after_the_deployment_was_created_leaves_nothing_open(akash, git_server, tmp_path):
    from slipway.deployments import BranchHead, request_deployment
    from tests.support.workers import SETTLED_WITHIN_S, Workers, state_of, wait_for

    # Only an unknown provider is trusted: the deploy waits for bids long enough to be killed in.
    s = replace(akash, akash_providers="akash1nobodybidsforthis", akash_bid_timeout="600")
    set_settings(s)
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    repo.commit({"Dockerfile": dockerfile(s.registry), "www/index.html": "x"})
    with session_scope() as session:
        create_project(session, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    workers = Workers(s, tmp_path)
    try:
        worker = workers.start()
        dep_id = request_deployment(name, BranchHead(), "cli").deployment_id
        ref = wait_for(lambda: state_of(dep_id).target_ref, 120, "the deployment was never created", workers)
        lcd = Lcd(s.akash_rest_url)
        wait_for(lambda: lcd.deployment_active(ref["owner"], ref["dseq"]), 30, "not on chain", workers)

        workers.kill(worker)
        killed_at = time.monotonic()
        assert state_of(dep_id).state == "deploying"
        workers.start()  # restarted, as a process manager does: its reconciler closes the deployment
        wait_for(lambda: state_of(dep_id).state_enum.final and not lcd.deployment_active(ref["owner"], ref["dseq"]),
                 SETTLED_WITHIN_S - (time.monotonic() - killed_at),
                 "the deployment is still open a minute after its worker was killed", workers)
        assert state_of(dep_id).error_id == "app:worker-lost"
        assert lcd.active_deployments(ref["owner"]) == []
        # Recorded just after the chain closed it, by the same reconciler pass.
        wait_for(lambda: events_of(dep_id), 30, "no lease event", workers)
        assert events_of(dep_id) == [("closed", ref["dseq"], None)]
        assert closed_detail(dep_id) == "its Slipway deployment ended"
    finally:
        workers.stop_all()


@pytest.fixture(scope="module")
def web_image(network) -> str:
    """An image that serves HTTP on $PORT, in the test registry (built once per module, offline)."""
    # Not named like a project: `slipway registry gc --delete-orphans` (tests/test_registry_gc.py) keeps it.
    return pushed_image(network.settings, "web", "")


def pushed_image(s: Settings, name: str, also: str) -> str:
    """``akash-test/NAME``: busybox serving HTTP on $PORT after running the shell text ``also``."""
    import io

    tag = f"{s.registry}/akash-test/{name}:latest"
    dockerfile_text = (f"FROM {s.registry}/base/busybox:latest\n"
                       'CMD ["sh", "-c", "mkdir -p /tmp/www && echo hello > /tmp/www/index.html && '
                       f"{also}"
                       'exec busybox httpd -f -p \\"$PORT\\" -h /tmp/www"]\n')
    client = docker.DockerClient(base_url=s.docker_host)
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile_text.encode()), tag=tag, network_mode="host", rm=True)
        client.images.push(tag, auth_config={"username": s.registry_username, "password": s.registry_password})
    finally:
        client.close()
    return tag


def test_parallel_first_deploys_from_one_funding_wallet_never_race_for_its_sequence(akash, web_image):
    from concurrent.futures import ThreadPoolExecutor

    count = 20
    lcd = Lcd(akash.akash_rest_url)
    funding_before = sequence(lcd, FUNDING)
    projects = [f"t-{uuid.uuid4().hex[:8]}" for _ in range(count)]

    def first_deploy(i: int):
        # Each with a target of its own, as separate workers have: only the shared lock orders them.
        target = target_of(akash)
        return deploy(target, Release(projects[i], 100 + i, web_image), logs[i].append)

    logs: list[list[str]] = [[] for _ in range(count)]

    with ThreadPoolExecutor(count) as pool:
        running = list(pool.map(first_deploy, range(count)))
    assert all(requests.get(r.url, timeout=5).text == "hello\n" for r in running)
    # One funding transaction per new project (the first one mints ACT too), and at most one more per
    # deploy: a mint when deposits in flight drew more ACT than its check saw. Two per deployer: no
    # transaction was refused for its sequence and sent again.
    assert count <= sequence(lcd, FUNDING) - funding_before <= 2 * count
    for project, lines in zip(projects, logs):
        address = wallet_from_mnemonic(MNEMONIC, deployer_index(project)).address
        assert sequence(lcd, address) == 2, "\n\n".join("\n".join(ls) for ls in logs if address in "\n".join(ls))
    target = target_of(akash)
    for project in projects:
        target.remove_all(project, lambda line: None)


def test_akash_status_and_close_commands(akash, web_image):
    from click.testing import CliRunner

    from slipway.cli import main

    name = f"t-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        project = create_project(session, ProjectSpec(name=name, repo_url="https://x/y.git", target="akash"))
    running = deploy(target_of(akash), Release(name, 1, web_image), lambda line: None)
    with session_scope() as session:
        held = Deployment(project_id=project.id, sha="a" * 40, branch="main", trigger="push", state="live",
                          url=running.url, target_ref=running.ref)
        session.add(held)
        session.flush()
        held_id = held.id
    birch = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address

    status = CliRunner().invoke(main, ["akash", "status"])
    assert status.exit_code == 0, status.output
    assert f"funding wallet {FUNDING}" in status.output
    assert f"deployment {running.ref['dseq']}: provider {birch}, 60 uact per block (~25920000 uact per month)" \
        in status.output, status.output
    assert "deposit grant" in status.output and MNEMONIC not in status.output

    closed = CliRunner().invoke(main, ["akash", "close", name])
    assert closed.exit_code == 0, closed.output
    assert f"closed Akash deployment {running.ref['dseq']}" in closed.output
    assert Lcd(akash.akash_rest_url).active_deployments(running.ref["owner"]) == []
    assert events_of(held_id) == [("closed", running.ref["dseq"], birch)]
    assert closed_detail(held_id) == "every deployment of the project was closed"


def test_a_change_of_resources_makes_a_new_deployment_and_closes_the_old_once_live(akash, git_server, send_webhook,
                                                                                    run_worker):
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(akash.registry)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    lcd = Lcd(akash.akash_rest_url)
    first = push(send_webhook, run_worker, repo, "small\n")
    assert first.state == "live", f"{first.error_message}\n{log_of(first.id)}"

    set_settings(replace(akash, akash_memory="256Mi"))
    second = push(send_webhook, run_worker, repo, "bigger\n")
    assert second.state == "live", f"{second.error_message}\n{log_of(second.id)}"
    assert requests.get(second.url, timeout=5).text == "bigger\n"
    old, new = first.target_ref, second.target_ref
    assert new["kind"] == "create" and new["dseq"] != old["dseq"]
    assert lcd.active_deployments(new["owner"]) == [new["dseq"]]  # the old one closed after the new went live
    assert f"closed the previous Akash deployment {old['dseq']}" in log_of(second.id)
    # The old deployment's history says its lease closed, and why.
    assert events_of(first.id)[-1] == ("closed", old["dseq"], old["provider"])
    assert closed_detail(first.id) == f"replaced by deployment {new['dseq']}"


def test_the_periodic_check_tops_up_an_escrow_about_to_run_dry(akash, web_image):
    target = target_of(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    running = deploy(target, Release(name, 1, web_image), lambda line: None)
    owner, dseq = running.ref["owner"], running.ref["dseq"]
    before = target.lcd.escrow_left(owner, dseq)
    txs = sequence(target.lcd, owner)
    assert 0 < before <= int(akash.akash_deposit)

    assert target.check(running.ref).ok  # a day's worth is left: nothing to do
    assert sequence(target.lcd, owner) == txs

    # More than the escrow holds is "about to run dry": the check deposits from the grant.
    target.top_up_below_blocks = 10**9
    assert target.check(running.ref).ok
    assert sequence(target.lcd, owner) == txs + 1
    assert target.lcd.escrow_left(owner, dseq) > before + int(akash.akash_deposit) // 2
    target.remove_all(name, lambda line: None)


@pytest.fixture(scope="module")
def chatty_image(network) -> str:
    """An image that serves HTTP on $PORT and prints a numbered line every half second."""
    return pushed_image(network.settings, "chatty",
                        "(i=0; while true; do i=$((i+1)); echo tick $i; busybox sleep 0.5; done) & ")


def test_what_an_akash_app_prints_is_read_from_its_providers_log_stream(akash, chatty_image):
    """Through the provider's websocket (pinned TLS, the JWT): the last lines, then new ones as they come."""
    target = target_of(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    running = deploy(target, Release(name, 1, chatty_image), lambda line: None)
    try:
        def ticks(lines) -> list[int]:
            return [int(line.split()[1]) for line in lines if line.startswith("tick ")]

        assert wait_for_value(lambda: ticks(target.app_logs(running.ref, follow=False, tail=5)))
        last = ticks(target.app_logs(running.ref, follow=False, tail=2))
        assert 1 <= len(last) <= 2, last  # only the tail asked for
        followed = target.app_logs(running.ref, follow=True, tail=1)
        seen = [next(followed) for _ in range(4)]
        followed.close()
        numbers = ticks(seen)
        assert len(numbers) == 4 and numbers == sorted(numbers) and numbers[-1] > last[-1], (last, seen)
    finally:
        target.remove_all(name, lambda line: None)
    with pytest.raises(AppError) as gone:  # the lease is closed: the provider has no log for it
        list(target.app_logs(running.ref, follow=False))
    assert gone.value.message_id == AppError.AKASH_PROVIDER_LOGS


def test_only_a_trusted_provider_is_leased_even_when_another_bids_lower(akash, web_image):
    cedar = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("cedar").hd_index).address
    target = target_of(replace(akash, akash_providers=cedar))
    name = f"t-{uuid.uuid4().hex[:8]}"
    lines: list[str] = []
    running = deploy(target, Release(name, 1, web_image), lines.append)
    assert running.ref["provider"] == cedar and running.ref["price_uact"] == "100"
    assert any("2 bid(s)" in line for line in lines), lines  # birch bid 60, and was passed over
    target.remove_all(name, lambda line: None)


def test_closing_a_preview_closes_its_deployment_and_nothing_else(akash, web_image):
    from slipway.models import Project

    target = target_of(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    with session_scope() as session:
        create_project(session, ProjectSpec(name=name, repo_url="https://x/y.git", target="akash"))
    runs = {}
    for dep_id, slot, pr in ((1, "production", None), (2, "pr-7", 7)):
        running = deploy(target, Release(name, dep_id, web_image, slot=slot), lambda line: None)
        runs[slot] = running.ref
        with session_scope() as session:
            project = session.scalar(select(Project).where(Project.name == name))
            session.add(Deployment(project_id=project.id, sha="a" * 40, branch="main", trigger="push", pr_number=pr,
                                   state="live", url=running.url, target_ref=running.ref))
    owner = runs["production"]["owner"]
    assert target.lcd.active_deployments(owner) == sorted(r["dseq"] for r in runs.values())

    from slipway.github.previews import CLOSED, remove_preview
    from slipway.models import PullRequestPreview

    with session_scope() as session:
        project = session.scalar(select(Project).where(Project.name == name))
        project_id = project.id
        session.add(PullRequestPreview(project_id=project_id, pr_number=7, head_sha="a" * 40, head_repo="acme/x",
                                       state=CLOSED))
        preview_id = session.scalar(select(Deployment.id).where(Deployment.pr_number == 7))
    assert remove_preview(akash, project_id, 7, {"akash": target}, [])
    assert target.lcd.active_deployments(owner) == [runs["production"]["dseq"]]
    assert events_of(preview_id) == [("closed", runs["pr-7"]["dseq"], runs["pr-7"]["provider"])]
    assert closed_detail(preview_id) == "the preview (pr-7) was removed"
    target.remove_all(name, lambda line: None)
    assert target.lcd.active_deployments(owner) == []


def test_a_provider_is_talked_to_only_over_its_certificate_on_chain(akash, tmp_path):
    """Each devnet provider published its TLS certificate on chain, as real providers do; a server at
    the provider's address with another certificate, even one naming the provider, gets no request
    (and so no JWT)."""
    import http.server
    import ssl
    import threading

    from devnet.provider.service import self_signed_certificate

    target = target_of(akash)
    birch = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address
    wallet = target.wallet("t-tls")
    real = {"provider": birch, "host_uri": target.lcd.provider_host_uri(birch)}
    assert wait_for_value(lambda: target.lcd.certificates(birch))  # published when it started
    # It answers over the pinned connection (401: this wallet has no key on chain to check its JWT by).
    assert target._provider("GET", wallet, real, "/status").status_code == 401

    cert, key = self_signed_certificate(tmp_path / "impostor", birch)  # same CN, not on chain
    requests_seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            requests_seen.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        impostor = {"provider": birch, "host_uri": f"https://127.0.0.1:{server.server_port}"}
        with pytest.raises(requests.exceptions.SSLError):
            target._provider("GET", wallet, impostor, "/status")
        # The app's log stream (a websocket, not requests) is held to the same pin.
        with pytest.raises(AppError) as refused:
            list(target.app_logs({**impostor, "project": "t-tls", "dseq": 1, "gseq": 1, "oseq": 1}))
        assert "SSL" in str(refused.value), refused.value
        assert requests_seen == []
    finally:
        server.shutdown()


def test_a_manifest_the_provider_refuses_fails_with_its_answer_and_the_live_release_keeps_the_lease(akash, web_image):
    """Two updates of one lease overlap (both started from the same live release): the chain holds the
    second's version, so the provider refuses the first's manifest, as akash-network/provider does
    ("manifest version validation failed"). The first fails saying so; nothing new stays open and the
    live version is put back on the lease."""
    target = target_of(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    live = deploy(target, Release(name, 1, web_image), lambda line: None)
    owner, dseq = live.ref["owner"], live.ref["dseq"]
    first, second = (Release(name, n, web_image, env={"VERSION": str(n)}, previous_id=1, previous_ref=live.ref)
                     for n in (2, 3))
    ref1 = target.start(first, lambda line: None)
    ref2 = target.start(second, lambda line: None)
    assert (ref1["kind"], ref2["kind"], ref1["dseq"], ref2["dseq"]) == ("update", "update", dseq, dseq)
    assert target.lcd.wait_tx(ref2["txhash"], 30).code == 0

    lines: list[str] = []
    with pytest.raises(AppError) as refused:
        target.wait_ready(first, ref1, lines.append)
    assert refused.value.message_id == AppError.AKASH_MANIFEST_REFUSED
    assert str(refused.value) == (f"Provider {live.ref['provider']} refused the deployment's manifest (422 manifest "
                                  "version validation failed), so the live version stays on the lease.")
    assert any("putting " in line for line in lines), lines  # the live image back on the lease
    assert target.lcd.active_deployments(owner) == [dseq]
    assert len(target.lcd.leases(owner, dseq)) == 1
    assert wait_for_value(lambda: _text(live.url)) == "hello\n"
    target.remove_all(name, lambda line: None)
    assert target.lcd.active_deployments(owner) == []


def test_an_unfunded_funding_wallet_fails_at_the_grant_step_and_says_what_to_do(akash):
    from cosmpy.mnemonic import generate_mnemonic

    s = replace(akash, akash_funding_mnemonic=generate_mnemonic())  # not in the devnet's genesis
    target = target_of(s)
    project = f"t-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AppError) as failed:
        target.start(release(s, project), lambda line: None)
    assert failed.value.message_id == AppError.AKASH_STEP
    assert "granting the project's wallet" in str(failed.value) and "send it AKT" in str(failed.value)
    assert s.akash_funding_mnemonic not in str(failed.value)
    assert sequence(target.lcd, target.wallet(project).address) == 0


def test_a_provider_that_stops_answering_is_left_for_another_by_the_same_policy(akash, network, web_image):
    target = target_of(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    release_ = Release(name, 1, web_image)
    running = deploy(target, release_, lambda line: None)
    birch = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address
    assert running.ref["provider"] == birch  # the cheaper one

    request(network.devnet_path, "birch", running=False)  # `slipway devnet provider stop birch`
    network.supervisor.apply()
    health = target.check(running.ref)
    assert not health.ok and "does not answer" in health.detail, health

    lines: list[str] = []
    moved = target.failover(release_, running.ref, lines.append)
    assert moved.ref["provider"] != birch and moved.ref["dseq"] != running.ref["dseq"]
    assert requests.get(moved.url, timeout=5).text == "hello\n"
    assert target.lcd.active_deployments(running.ref["owner"]) == [moved.ref["dseq"]]
    assert any(line.startswith("moved to provider") for line in lines), lines
    target.remove_all(name, lambda line: None)


def test_an_unconfigured_akash_target_refuses_with_what_to_set_and_leaves_the_local_target_working(settings):
    s = replace(settings, targets="local,akash", akash_funding_mnemonic="")
    targets = targets_from_settings(s)  # no exception: local deployments go on
    assert set(targets) == {"local", "akash"}
    with pytest.raises(AppError) as refused:
        targets["akash"].start(release(s, "t-x"), lambda line: None)
    assert refused.value.message_id == AppError.AKASH_NOT_CONFIGURED
    assert "SLIPWAY_AKASH_FUNDING_MNEMONIC" in str(refused.value)
    assert not targets["akash"].check({}).ok


def test_a_budget_caps_what_a_project_draws_and_closes_its_deployment_at_the_cap(akash, web_image):
    # Room for a deposit and a bit over half: closing gives back what was left; top-ups stop at the cap.
    s = replace(akash, akash_deposit="1000000", akash_budget="1600000")
    target = target_of(s)
    name = f"t-{uuid.uuid4().hex[:8]}"
    first = deploy(target, Release(name, 1, web_image), lambda line: None)
    owner = first.ref["owner"]
    assert target.funding.grants_of(owner).deposit_left == 600_000
    target.remove_all(name, lambda line: None)
    assert target.funding.grants_of(owner).deposit_left > 1_500_000  # the deposit came back to the budget

    second = deploy(target, Release(name, 2, web_image), lambda line: None)
    target.top_up_below_blocks = 10**9  # the escrow counts as about to run dry: top it up
    escrow = target.lcd.escrow_left(owner, second.ref["dseq"])
    assert target.check(second.ref).ok  # the last (over 500000) uact the budget allows
    assert target.lcd.escrow_left(owner, second.ref["dseq"]) > escrow + 500_000
    assert target.funding.grants_of(owner).deposit_left == 0
    health = target.check(second.ref)  # nothing left to top up with: closed at the budget
    assert not health.ok and "budget is spent" in health.detail and "was closed" in health.detail, health
    assert target.lcd.active_deployments(owner) == []


def total_budget(uact: int) -> dict:
    """A project's Akash settings: a total (not monthly) budget of ``uact``."""
    return {"budget_uact": uact, "budget_monthly": False}


def test_raising_a_total_budget_raises_the_grant_already_given_never_beyond_the_budget(akash, web_image):
    s = replace(akash, akash_deposit="1000000")
    target = target_of(s)
    name = f"t-{uuid.uuid4().hex[:8]}"

    first = deploy(target, Release(name, 1, web_image, akash=total_budget(1_500_000)), lambda line: None)
    owner = first.ref["owner"]
    assert target.funding.grants_of(owner).deposit_left == 500_000
    with pytest.raises(UserError) as spent:  # a second deposit is beyond the budget
        target.start(Release(name, 2, web_image, slot="pr-1", akash=total_budget(1_500_000)), lambda line: None)
    assert spent.value.message_id == UserError.AKASH_BUDGET_SPENT

    lines: list[str] = []
    second = deploy(target, Release(name, 3, web_image, slot="pr-1", akash=total_budget(2_600_000)), lines.append)
    assert any("raising the grant" in line for line in lines), lines
    left = target.funding.grants_of(owner).deposit_left
    drawn = int(target.lcd.drawn(owner))
    assert drawn >= 2_000_000 and left == 2_600_000 - drawn  # never more than the budget allows
    # The same budget again: nothing to raise, and no room for a third deposit.
    with pytest.raises(UserError):
        target.start(Release(name, 4, web_image, slot="pr-2", akash=total_budget(2_600_000)), lambda line: None)
    assert target.funding.grants_of(owner).deposit_left == left
    assert second.ref["dseq"] in target.lcd.active_deployments(owner)
    target.remove_all(name, lambda line: None)


def test_lowering_a_total_budget_lowers_the_grant_already_given_at_the_next_deploy_or_top_up(akash, web_image):
    s = replace(akash, akash_deposit="1000000")
    target = target_of(s)
    name = f"t-{uuid.uuid4().hex[:8]}"

    first = deploy(target, Release(name, 1, web_image, akash=total_budget(2_600_000)), lambda line: None)
    owner = first.ref["owner"]
    assert target.funding.grants_of(owner).deposit_left == 1_600_000
    # Lowered to 1.8 ACT, 1 drawn: the grant comes down to 0.8, and a second deposit is refused.
    lines: list[str] = []
    with pytest.raises(UserError) as spent:
        target.start(Release(name, 2, web_image, slot="pr-1", akash=total_budget(1_800_000)), lines.append)
    assert spent.value.message_id == UserError.AKASH_BUDGET_SPENT
    assert any("lowering the grant" in line for line in lines), lines
    assert target.funding.grants_of(owner).deposit_left == 800_000
    assert target.lcd.active_deployments(owner) == [first.ref["dseq"]]

    # Lowered to 1.7 ACT: the periodic top-up brings the grant down too, and deposits only what is left.
    target.top_up_below_blocks = 10**9  # the escrow counts as about to run dry
    escrow = target.lcd.escrow_left(owner, first.ref["dseq"])
    assert target.check({**first.ref, "budget": total_budget(1_700_000)}).ok
    assert escrow + 600_000 < target.lcd.escrow_left(owner, first.ref["dseq"]) <= escrow + 700_000
    assert target.funding.grants_of(owner).deposit_left == 0

    # Below what was drawn: the grant goes, and no new one is given while nothing is left.
    closed = deploy(target, Release(name, 3, web_image, slot="pr-1", akash=total_budget(2_800_000)), lambda line: None)
    target.remove_all(name, lambda line: None)  # both deployments closed: their deposits come back
    assert target.funding.grants_of(owner).deposit_left > 0
    drawn = int(target.lcd.drawn(owner))
    with pytest.raises(UserError) as spent:
        target.start(Release(name, 4, web_image, slot="pr-1", akash=total_budget(max(drawn - 1, 1))), lambda line: None)
    assert spent.value.message_id == UserError.AKASH_BUDGET_SPENT
    assert target.funding.grants_of(owner).deposit_left is None
    funding_txs = target.funding.transactions
    with pytest.raises(UserError) as spent:
        target.start(Release(name, 5, web_image, akash=total_budget(max(drawn - 1, 1))), lambda line: None)
    assert spent.value.message_id == UserError.AKASH_BUDGET_SPENT and "0 uact of it are left" in str(spent.value)
    assert (target.funding.grants_of(owner).deposit_left, target.funding.transactions) == (None, funding_txs)
    assert target.lcd.active_deployments(owner) == [] and closed.ref["dseq"] != first.ref["dseq"]


def test_the_periodic_check_tops_up_within_the_projects_budget_as_set_now(akash, web_image):
    """The budget is lowered after the release started: the check's top-up lowers the grant with it."""
    from slipway.health import check_live
    from slipway.models import Project

    s = replace(akash, akash_deposit="1000000", health_check_every="0.001")
    set_settings(s)
    target = target_of(s)
    name = f"t-{uuid.uuid4().hex[:8]}"
    own = total_budget(2_600_000)
    with session_scope() as session:
        project = create_project(session, ProjectSpec(name=name, repo_url="https://x/y.git", target="akash",
                                                      akash_settings=own))
        project_id = project.id
    running = deploy(target, Release(name, 1, web_image, akash=own), lambda line: None)
    owner = running.ref["owner"]
    with session_scope() as session:
        held = Deployment(project_id=project_id, sha="a" * 40, branch="main", trigger="push", state="live",
                          url=running.url, target_ref=running.ref)
        session.add(held)
        session.flush()
        held_id = held.id
        session.get(Project, project_id).akash_settings = {**own, "budget_uact": 1_700_000}
    assert target.funding.grants_of(owner).deposit_left == 1_600_000

    target.top_up_below_blocks = 10**9  # the escrow counts as about to run dry
    escrow = target.lcd.escrow_left(owner, running.ref["dseq"])
    checked = check_live(s, {"akash": target})
    assert [(c.deployment_id, c.health.ok) for c in checked] == [(held_id, True)], checked
    assert escrow + 600_000 < target.lcd.escrow_left(owner, running.ref["dseq"]) <= escrow + 700_000
    assert target.funding.grants_of(owner).deposit_left == 0
    set_settings(akash)
    target.remove_all(name, lambda line: None)


def test_a_projects_own_settings_shape_its_lease_and_its_budget_caps_what_it_starts(akash, web_image):
    """Resources, price ceiling and trusted providers of the project, not the installation's; its own
    total budget: a deploy beyond it starts nothing and says why."""
    cedar = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("cedar").hd_index).address
    target = target_of(replace(akash, akash_deposit="1000000"))
    name = f"t-{uuid.uuid4().hex[:8]}"
    own = {"cpu": "0.25", "memory": "256Mi", "max_price_uact": 150, "providers": [cedar], "budget_uact": 1_600_000}
    lines: list[str] = []
    running = deploy(target, Release(name, 1, web_image, akash=own), lines.append)
    ref = running.ref
    # Cedar bids 100, birch 60: only the project's trusted provider is leased, under its ceiling.
    assert (ref["provider"], ref["price_uact"]) == (cedar, "100") and any("2 bid(s)" in line for line in lines)
    assert _text(running.url) == "hello\n"
    (group,) = target.lcd.deployment(ref["owner"], ref["dseq"])["groups"]
    (unit,) = group["group_spec"]["resources"]
    value = lambda quantity: base64.b64decode(quantity["val"]).decode()  # noqa: E731 - bytes, as the LCD gives them
    assert value(unit["resource"]["cpu"]["units"]) == "250"
    assert value(unit["resource"]["memory"]["quantity"]) == str(256 * 2**20)
    assert unit["price"] == {"denom": "uact", "amount": "150.000000000000000000"}
    # The project's total budget is its grant, for the project's life (not a 30-day period).
    grants = target.funding.grants_of(ref["owner"])
    assert grants.deposit_left == 600_000 and grants.deposit_expires.year >= time.gmtime().tm_year + 5
    assert ref["budget"] == {"budget_uact": 1_600_000, "budget_monthly": False}

    # A preview would need another 1000000 uact deposit: beyond the budget, nothing starts.
    with pytest.raises(UserError) as refused:
        deploy(target, Release(name, 2, web_image, akash=own, slot="pr-1"), lambda line: None)
    assert refused.value.message_id == UserError.AKASH_BUDGET_SPENT
    assert "budget of 1600000 uact (the project's Akash budget)" in str(refused.value)
    assert "Nothing was started" in str(refused.value)
    assert target.lcd.active_deployments(ref["owner"]) == [ref["dseq"]]
    # Top-ups draw on the project's budget too (it travels in the reference): the last 600000
    # uact, then, at the budget, the deployment is closed.
    target.top_up_below_blocks = 10**9
    assert target.check(ref).ok and target.funding.grants_of(ref["owner"]).deposit_left == 0
    health = target.check(ref)
    assert not health.ok and "the project's Akash budget" in health.detail and "was closed" in health.detail, health
    assert target.lcd.active_deployments(ref["owner"]) == []
    # What it had left went back to the project's budget, never above it.
    assert 1_500_000 < target.funding.grants_of(ref["owner"]).deposit_left <= 1_600_000


def test_a_repositorys_own_sdl_runs_with_the_built_image_and_registry_login_injected(akash, git_server, send_webhook,
                                                                                       run_worker):
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    # The app shows the variable the project sets (the SDL's own value is overridden) at /greeting.
    dockerfile_for[name] = (f"FROM {akash.registry}/base/busybox:latest\nCOPY www /www\n"
                            'CMD ["sh", "-c", "echo \\"$GREETING\\" > /www/greeting && '
                            'exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n')
    with session_scope() as s:
        from slipway import envvars
        from slipway.models import Project

        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
        envvars.set_vars(s, s.scalar(select(Project).where(Project.name == name)), {"GREETING": "from the project"})
    sha = repo.commit({"Dockerfile": dockerfile_for[name], "www/index.html": "sdl\n", "deploy.yaml": REPOSITORY_SDL})
    resp = send_webhook("push", push_payload(f"acme/{name}", sha, clone_url=repo.url))
    (dep_id,) = resp.json["deployments"]
    run_worker()
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        state, url, ref, error = dep.state, dep.url, dict(dep.target_ref or {}), dep.error_message
    log = log_of(dep_id)
    assert state == "live", f"{error}\n{log}"
    assert "using the repository's deploy.yaml: Slipway's image runs as its service 'web'" in log
    # The provider pulled the built image from the private registry: the login was injected.
    assert _text(url) == "sdl\n" and _text(url + "/greeting") == "from the project\n"
    assert akash.registry_password not in log
    target = target_of(akash)
    (group,) = target.lcd.deployment(ref["owner"], ref["dseq"])["groups"]
    (unit,) = group["group_spec"]["resources"]
    assert base64.b64decode(unit["resource"]["cpu"]["units"]["val"]).decode() == "300"  # the repository's resources
    status = target._status(target.wallet(name), ref)
    assert list(status["services"]) == ["web"]

    # A redeploy of that image runs with the same deploy.yaml: same resources, so the same lease, updated.
    from slipway.deployments import request_redeploy

    again = request_redeploy(dep_id, "redeploy")
    run_worker()
    with session_scope() as s:
        dep = s.get(Deployment, again)
        state, ref2, error = dep.state, dict(dep.target_ref or {}), dep.error_message
    assert state == "live", f"{error}\n{log_of(again)}"
    assert "with the repository's SDL it was first deployed with" in log_of(again)
    assert (ref2["kind"], ref2["dseq"]) == ("update", ref["dseq"])
    assert list(target._status(target.wallet(name), ref2)["services"]) == ["web"]
    assert _text(url + "/greeting") == "from the project\n"

    # An SDL with no `image: slipway` service, or none valid, fails before the build with what to fix.
    for text, error_id, says in (
            (REPOSITORY_SDL.replace("image: slipway", "image: nginx"), UserError.AKASH_SDL_NO_SERVICE,
             "names no service for the image Slipway builds: give exactly one service `image: slipway` (services: web)"),
            (REPOSITORY_SDL.replace("amount: 120", "amount: lots"), UserError.AKASH_REPOSITORY_SDL,
             "deploy.yaml in commit")):
        sha = repo.commit({"deploy.yaml": text})
        resp = send_webhook("push", push_payload(f"acme/{name}", sha, clone_url=repo.url))
        (dep_id,) = resp.json["deployments"]
        run_worker()
        with session_scope() as s:
            dep = s.get(Deployment, dep_id)
            assert (dep.state, dep.error_id) == ("failed", error_id), dep.error_message
            assert says in dep.error_message, dep.error_message
        assert "== building" not in log_of(dep_id)
    target.remove_all(name, lambda line: None)


def test_the_periodic_check_moves_an_app_whose_provider_stopped_to_the_other_and_records_it(
        akash, network, git_server, send_webhook, run_worker, queue, app, client):
    from click.testing import CliRunner

    from slipway.cli import main
    from slipway.reconcile import Reconciler

    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(akash.registry)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    live = push(send_webhook, run_worker, repo, "still here\n")
    assert live.state == "live", f"{live.error_message}\n{log_of(live.id)}"
    old = live.target_ref
    birch = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address
    cedar = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("cedar").hd_index).address
    assert old["provider"] == birch

    request(network.devnet_path, "birch", running=False)  # `slipway devnet provider stop birch`
    network.supervisor.apply()
    s = replace(akash, akash_failover_after="0", health_check_every="0.001")
    set_settings(s)
    checked = Reconciler(s, queue, targets_from_settings(s)).run().checked
    assert [(c.deployment_id, c.health.ok, c.failover) for c in checked] == [(live.id, False, True)]
    run_worker()  # the failover job

    with session_scope() as session:
        dep = session.get(Deployment, live.id)
        assert (dep.state, dep.health) == ("live", "up")
        new = dep.target_ref
        url = dep.url
    assert new["provider"] == cedar and new["dseq"] != old["dseq"]
    assert requests.get(url, timeout=5).text == "still here\n"
    lcd = Lcd(akash.akash_rest_url)
    assert lcd.active_deployments(old["owner"]) == [new["dseq"]]
    log = log_of(live.id)
    assert "== failover: provider" in log and f"moved to provider {cedar}" in log, log
    assert events_of(live.id) == [
        ("created", old["dseq"], None), ("leased", old["dseq"], birch),
        ("created", new["dseq"], None), ("leased", new["dseq"], cedar), ("moved", new["dseq"], cedar),
        ("closed", old["dseq"], birch)]

    # The next check finds it up on cedar: nothing moves again.
    checked = Reconciler(s, queue, targets_from_settings(s)).run().checked
    assert [(c.health.ok, c.failover) for c in checked] == [(True, False)]

    status = CliRunner().invoke(main, ["akash", "status"])
    assert status.exit_code == 0, status.output
    assert f"moved deployment {new['dseq']} on local provider {cedar}" in status.output, status.output
    assert f"closed deployment {old['dseq']} on local provider {birch}" in status.output
    app.config["SLIPWAY_SETTINGS"] = s
    page = client.get(f"/projects/{name}").get_data(as_text=True)
    assert "<h2>Leases</h2>" in page and cedar in page and str(new["dseq"]) in page
    assert "~25920000 uact" not in page  # cedar bids 100 uact per block
    assert "~43200000 uact" in page and " uact</td>" in page
    target_of(s).remove_all(name, lambda line: None)


@pytest.mark.one_proxy
def test_an_akash_app_answers_at_its_stable_url_through_the_proxy_and_still_does_after_a_failover(
        akash, network, git_server, send_webhook, run_worker, queue):
    from slipway.proxy import addresses
    from slipway.reconcile import Reconciler
    from tests.support.proxy import get, through_proxy

    s = through_proxy(akash)
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    dockerfile_for[name] = dockerfile(s.registry)
    with session_scope() as session:
        create_project(session, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}", target="akash"))
    live = push(send_webhook, run_worker, repo, "on akash\n")
    assert live.state == "live", f"{live.error_message}\n{log_of(live.id)}"
    at = addresses(s)
    production, own = at.url(at.production_host(name)), at.url(at.deployment_host(name, live.id))
    assert (live.url, live.slot_url) == (own, production)  # reported everywhere, not the provider's URI
    assert live.target_ref["url"].startswith("http://127.0.0.1:")  # the target still returns the provider's
    assert get(production).text == get(own).text == "on akash\n"

    # Its provider stops: the failover moves the lease, and the route follows it.
    birch = wallet_from_mnemonic(config.DEVNET_MNEMONIC, config.provider_spec("birch").hd_index).address
    assert live.target_ref["provider"] == birch
    request(network.devnet_path, "birch", running=False)
    network.supervisor.apply()
    moving = replace(s, akash_failover_after="0", health_check_every="0.001")
    set_settings(moving)
    checked = Reconciler(moving, queue, targets_from_settings(moving)).run().checked
    assert [(c.deployment_id, c.failover) for c in checked] == [(live.id, True)]
    run_worker()
    with session_scope() as session:
        dep = session.get(Deployment, live.id)
        moved, url = dep.target_ref, dep.url
    assert moved["dseq"] != live.target_ref["dseq"] and url == own
    assert get(production).text == get(own).text == "on akash\n"
    assert f"== live at {own}" in log_of(live.id)
    target_of(moving).remove_all(name, lambda line: None)
