import os
import subprocess
import sys

import pytest

from slipway.errors import UserError
from slipway.settings import GENERATED_SECRETS, KNOWN_TARGETS, Settings, init_env_file, read_env_file


def test_defaults_run_on_one_machine(tmp_path):
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'slipway.db'}"
    # Redis on a socket in the data dir: no TCP port a build or an app on the host network could reach.
    assert s.redis_url == f"unix://{tmp_path / 'run' / 'redis.sock'}?db=0"
    assert s.docker_host == f"unix://{tmp_path / 'run' / 'docker.sock'}"
    assert s.registry == "127.0.0.1:5000"


def test_environment_beats_env_file_beats_default(tmp_path):
    (tmp_path / "slipway.env").write_text("# comment\nSLIPWAY_REGISTRY=10.0.0.1:5000\nREDIS_URL=redis://file/1\n")
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://env/2"})
    assert s.redis_url == "redis://env/2"
    assert s.registry == "10.0.0.1:5000"
    assert s.bind == "127.0.0.1:8000"


def test_init_generates_secrets_once(tmp_path):
    path = init_env_file(tmp_path / "data")
    first = read_env_file(path)
    assert all(len(first[name]) >= 32 for name in GENERATED_SECRETS)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    init_env_file(tmp_path / "data")
    assert read_env_file(path) == first


def test_secret_values_lists_only_secrets(tmp_path):
    init_env_file(tmp_path)
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    values = s.secret_values()
    assert s.registry_password in values and s.github_webhook_secret in values
    assert s.registry not in values


def test_every_setting_is_documented():
    for env, _default, _secret, doc in Settings.documented():
        assert env and doc, env


def test_builds_apps_and_the_web_server_are_on_one_machine_unless_told(tmp_path):
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_DOCKER_HOST": "tcp://runner:2375",
                               "SLIPWAY_LOCAL_HOST": "0.0.0.0", "SLIPWAY_PUBLIC_URL": "https://slipway.example"})
    assert s.build_docker_host == "tcp://runner:2375"
    assert s.local_public_host == "0.0.0.0"
    assert s.internal_url == "https://slipway.example"
    apart = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_DOCKER_HOST": "tcp://runner:2375",
                                   "SLIPWAY_BUILD_DOCKER_HOST": "tcp://builder:2375",
                                   "SLIPWAY_LOCAL_PUBLIC_HOST": "apps.example",
                                   "SLIPWAY_INTERNAL_URL": "http://10.0.0.2:8000"})
    assert (apart.docker_host, apart.build_docker_host) == ("tcp://runner:2375", "tcp://builder:2375")
    assert apart.local_public_host == "apps.example" and apart.internal_url == "http://10.0.0.2:8000"


# -- deploy targets: SLIPWAY_TARGETS names only targets Slipway has, and offers the default -------------------

def test_new_projects_deploy_to_akash_on_the_local_network_unless_told(tmp_path):
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    assert (s.target_names, s.default_target, s.akash_network) == (["local", "akash"], "akash", "local")
    spaced = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_TARGETS": " local , "})
    assert spaced.target_names == ["local"]


def test_the_local_target_is_one_setting_away(tmp_path):
    told = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_DEFAULT_TARGET": "local"})
    assert (told.target_names, told.default_target) == (["local", "akash"], "local")
    # An installation offering only the local target needs no SLIPWAY_DEFAULT_TARGET to start.
    (tmp_path / "slipway.env").write_text("SLIPWAY_TARGETS=local\n")
    only_local = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    assert (only_local.target_names, only_local.default_target) == (["local"], "local")


@pytest.mark.parametrize("targets, says", [
    ("local,nowhere", "'nowhere' is not a target Slipway has"),
    ("local,fly", "'fly' is not a target Slipway has"),
    ("mars, venus", "'mars', 'venus' are not targets Slipway has"),
    (" , ", "it names no target"),
])
def test_a_target_slipway_does_not_have_is_refused_saying_what_to_give(tmp_path, targets, says):
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_TARGETS": targets})
    assert refused.value.message_id == UserError.SETTINGS_TARGETS
    assert str(refused.value) == (f"SLIPWAY_TARGETS is {targets!r}: {says}. "
                                  "Give a comma-separated list of targets from: local, akash.")


def test_a_default_target_that_is_not_offered_is_refused_saying_what_to_fix(tmp_path):
    (tmp_path / "slipway.env").write_text("SLIPWAY_TARGETS=local\nSLIPWAY_DEFAULT_TARGET=akash\n")
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    assert refused.value.message_id == UserError.SETTINGS_DEFAULT_TARGET
    assert str(refused.value) == (
        "SLIPWAY_DEFAULT_TARGET is 'akash', which SLIPWAY_TARGETS does not offer (it offers local). "
        "Set SLIPWAY_DEFAULT_TARGET to one of those, or add 'akash' to SLIPWAY_TARGETS.")


def test_every_target_settings_accepts_is_one_slipway_can_build():
    from slipway.targets import IMPLEMENTATIONS

    assert set(KNOWN_TARGETS) == set(IMPLEMENTATIONS)


def test_the_cli_refuses_to_start_with_targets_it_cannot_offer(tmp_path):
    """Run as an operator runs it: the error says what to fix, without a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update(SLIPWAY_DATA_DIR=str(tmp_path), SLIPWAY_TARGETS="local", SLIPWAY_DEFAULT_TARGET="elsewhere")
    done = subprocess.run([sys.executable, "-m", "slipway.cli", "settings"], env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout
    assert done.stderr == ("Error: SLIPWAY_DEFAULT_TARGET is 'elsewhere', which SLIPWAY_TARGETS does not offer (it "
                           "offers local). Set SLIPWAY_DEFAULT_TARGET to one of those, or add 'elsewhere' to "
                           "SLIPWAY_TARGETS.\n")


def test_the_proxys_admin_api_is_a_socket_in_the_data_dir_by_default(tmp_path):
    # Not a port: builds and apps share the host's network (tests/test_proxy_admin.py).
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path)})
    assert s.proxy_admin == f"unix://{tmp_path / 'run' / 'caddy-admin.sock'}"
    from deployer.caddy import RouteTable, caddy_config

    assert caddy_config(RouteTable(), s.proxy_admin, s.proxy_router, s.proxy_https)["admin"] == {
        "listen": f"unix/{tmp_path / 'run' / 'caddy-admin.sock'}"}
    remote = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_PROXY_ADMIN": "10.0.0.7:2019"})
    assert remote.proxy_admin == "10.0.0.7:2019"


@pytest.mark.parametrize("value, says", [
    ("127.0.0.1:2029", "on this machine's loopback"),
    ("localhost:2019", "on this machine's loopback"),
    ("[::1]:2019", "on this machine's loopback"),
    ("0.0.0.0:2019", "on this machine's loopback"),
    ("unix://run/caddy.sock", "a socket's path must be absolute"),
    ("caddy-admin", "it is neither unix:///PATH nor HOST:PORT"),
])
def test_a_proxy_admin_api_builds_could_reach_is_refused_saying_what_to_give(tmp_path, value, says):
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_PROXY_ADMIN": value})
    assert refused.value.message_id == UserError.SETTINGS_PROXY_ADMIN
    assert str(refused.value).startswith(f"SLIPWAY_PROXY_ADMIN is {value!r}: {says}")
    assert "unix:///PATH" in str(refused.value)
# -- notifications: a mistyped SMTP security is refused, not quietly taken for STARTTLS -----------------------

@pytest.mark.parametrize("security", ["starttls", "ssl", "none"])
def test_each_smtp_security_slipway_has_is_accepted(tmp_path, security):
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_SMTP_SECURITY": security})
    assert s.smtp_security == security


@pytest.mark.parametrize("security", ["tls", "STARTTLS ", "off"])
def test_an_smtp_security_slipway_does_not_have_is_refused_saying_what_to_give(tmp_path, security):
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_SMTP_SECURITY": security})
    assert refused.value.message_id == UserError.SETTINGS_SMTP_SECURITY
    assert str(refused.value) == (f"SLIPWAY_SMTP_SECURITY is {security!r}, which is not a way Slipway secures SMTP. "
                                  "Give one of: starttls, ssl, none.")


def test_a_workers_heartbeat_is_a_sixth_of_the_silence_that_makes_it_dead(tmp_path):
    def load(**env):
        return Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), **env})

    default = load()
    assert (default.worker_dead_after_s, default.heartbeat_every_s, default.reconcile_every_s) == (30, 5, 15)
    assert load(SLIPWAY_WORKER_DEAD_AFTER="15").heartbeat_every_s == 2
    assert load(SLIPWAY_WORKER_DEAD_AFTER="600").heartbeat_every_s == 5


@pytest.mark.parametrize("name, value, least", [("SLIPWAY_WORKER_DEAD_AFTER", "5", 6),
                                                ("SLIPWAY_WORKER_DEAD_AFTER", "half a minute", 6),
                                                ("SLIPWAY_RECONCILE_EVERY", "0", 1)])
def test_worker_timings_that_would_take_a_live_worker_for_dead_are_refused(tmp_path, name, value, least):
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), name: value})
    assert refused.value.message_id == UserError.SETTINGS_SECONDS
    assert str(refused.value) == f"{name} is {value!r}: give a number of seconds, at least {least}."
