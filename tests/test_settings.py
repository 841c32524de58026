from slipway.settings import GENERATED_SECRETS, Settings, init_env_file, read_env_file


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
