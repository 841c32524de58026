"""SDL reading, validation, generation and credentials."""

from __future__ import annotations

import io

import pytest

from deployer.akash.sdl import (
    REDACTED, DeploymentSpec, GpuSpec, RegistryCredentials, SDLError, ServiceSpec, dump_sdl, generate_sdl,
    image_host, inject_credentials, js_number_str, load_yaml, locale_key, parse_sdl, redact_credentials,
    sdl_from_spec,
)
from tests.oracle import oracle_available, run_node
from tests.support.akash_sdl import CREDENTIALS, ONE_SERVICE, SEVERAL_SERVICES


def test_reads_path_text_and_stream(tmp_path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(ONE_SERVICE)
    assert parse_sdl(path) == parse_sdl(str(path)) == parse_sdl(ONE_SERVICE) == parse_sdl(io.StringIO(ONE_SERVICE))


def test_yaml_is_read_like_js_yaml() -> None:
    data = load_yaml("a: off\nb: yes\nc: 1e3\nd: 0o17\ne: 1.0\nf: True\n2: x\n1: y\ng: 0x1F\n")
    assert data == {"1": "y", "2": "x", "a": "off", "b": "yes", "c": 1000, "d": 15, "e": 1, "f": True, "g": 31}
    assert list(data)[:2] == ["1", "2"]  # Object.keys puts index-like keys first
    with pytest.raises(Exception, match="duplicated"):
        load_yaml("a: 1\na: 2\n")


def test_js_number_str() -> None:
    cases = {1.0: "1", 0.5: "0.5", 1e21: "1e+21", 1e-7: "1e-7", 1e16: "10000000000000000",
             0.000001: "0.000001", 1100.0000000000002: "1100.0000000000002", -2.5: "-2.5", 123: "123"}
    for value, text in cases.items():
        assert js_number_str(value) == text


def test_locale_order_is_javascripts() -> None:
    names = ["web10", "web2", "web-2", "a_b", "a-b", "B", "a", "A", "b", "aA", "Aa"]
    # "a".localeCompare order in Node: punctuation < digits < letters, lower case first on ties
    assert sorted(names, key=locale_key) == ["a", "A", "a_b", "a-b", "aA", "Aa", "b", "B", "web-2", "web10", "web2"]


def broken(old: str, new: str, base: str = SEVERAL_SERVICES) -> str:
    assert old in base
    return base.replace(old, new, 1)


# (yaml, the key path the problem must name, whether chain-sdk rejects it too)
INVALID = {
    "port_zero": (broken("port: 5432", "port: 0"), "services.db.expose[0].port: must be an integer 1-65535", True),
    "port_string": (broken("port: 5432", "port: http"), "services.db.expose[0].port: must be an integer 1-65535", True),
    "as_too_big": (broken("as: 80", "as: 70000"), "services.web.expose[0].as: must be an integer 1-65535", True),
    "proto": (broken("proto: udp", "proto: sctp"), "services.web.expose[1].proto", True),
    "no_image": (broken("    image: postgres:16\n", ""), "services.db.image: is required", True),
    "unknown_key": (broken("    image: postgres:16\n", "    image: postgres:16\n    imagee: x\n"), "services.db.imagee: unknown key", True),
    "version": (broken('version: "2.0"', "version: 2.0"), "version: must be one of", True),
    "count_zero": (broken("count: 2", "count: 0"), "deployment.web.dcloud.count", True),
    "cpu_zero": (broken('units: "250m"', 'units: "0m"'), "profiles.compute.db.resources.cpu.units", True),
    "ram_persistent": (broken("attributes: {class: ram}", "attributes: {class: ram, persistent: true}"),
                       "profiles.compute.db.resources.storage[2].attributes", True),
    "password_short": (broken("password: s3cret-pw", "password: abc", CREDENTIALS),
                       "services.web.credentials.password: must be at least 6 characters long", True),
    "credentials_no_user": (broken("username: deploy, ", "", CREDENTIALS), "services.web.credentials.username: is required", True),
    "next_cases": (broken("next_cases: [off]", "next_cases: [off, error]"), "services.web.expose[0].http_options.next_cases", True),
    "mount_relative": (broken("mount: /scratch", "mount: scratch"), "services.db.params.storage.scratch.mount", True),
    "missing_volume": (broken("scratch: {mount: /scratch", "other: {mount: /scratch"), "services.db.params.storage.other", True),
    "persistent_no_mount": (broken("        pgdata: {mount: /var/lib/postgresql/data}\n", ""),
                            "services.db.params.storage.pgdata.mount: is required", True),
    "undeployed_service": (broken("  db:\n    dcloud: {profile: db, count: 1}", ""), "deployment.db: service \"db\" is not deployed", True),
    "unknown_placement": (broken("  db:\n    dcloud:", "  db:\n    nowhere:"), "deployment.db.nowhere: placement \"nowhere\"", True),
    "unknown_profile": (broken("dcloud: {profile: db,", "dcloud: {profile: nope,"), "deployment.db.dcloud.profile: compute profile \"nope\"", True),
    "no_price": (broken('db: {denom: uact, amount: "250.5"}', 'other: {denom: uact, amount: "250.5"}'),
                 "profiles.placement.dcloud.pricing.db: is required", True),
    "undefined_service_deployed": (SEVERAL_SERVICES + "  ghost:\n    dcloud: {profile: db, count: 1}\n",
                                   'deployment.ghost: service "ghost" is not defined in services', False),
    "uakt": (broken("web: {denom: uact, amount: 1000}", "web: {denom: uakt, amount: 1000}"),
             "profiles.placement.dcloud.pricing.web.denom: must be \"uact\"", False),
    "bad_size": (broken("size: 1.5Gi", "size: lots"), "profiles.compute.db.resources.memory.size", False),
    # Go's regexps (and ours) match the whole value: a trailing newline is not ignored.
    "size_newline": (broken("size: 1.5Gi", 'size: "1.5Gi\\n"'), "profiles.compute.db.resources.memory.size", False),
    "cpu_newline": (broken('units: "250m"', 'units: "250m\\n"'), "profiles.compute.db.resources.cpu.units", False),
    "gpu_units_without_vendor": (broken('units: "250m", attributes: {arch: amd64}}', 'units: "250m"}\n        gpu: {units: 1}'),
                                 "profiles.compute.db.resources.gpu.attributes: is required", True),
    "to_unknown_service": (broken("to: [{service: web}]", "to: [{service: nope}]"), "services.db.expose[0].to[0].service", False),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_problems_name_the_key(name: str) -> None:
    text, expected, _ = INVALID[name]
    with pytest.raises(SDLError) as info:
        parse_sdl(text)
    assert isinstance(info.value, ValueError)
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_all_problems_are_reported_at_once() -> None:
    text = broken("port: 5432", "port: 0", broken("count: 2", "count: 0"))
    with pytest.raises(SDLError) as info:
        parse_sdl(text)
    assert len(info.value.problems) == 2


@pytest.mark.oracle
@pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)")
def test_chain_sdk_rejects_what_we_reject() -> None:
    names = list(INVALID)
    results = run_node("sdl_oracle.mjs", [{"yaml": INVALID[n][0]} for n in names] + [{"yaml": SEVERAL_SERVICES}])
    assert results[-1]["genErrors"] is None  # the base SDL is valid for chain-sdk too
    for name, ref in zip(names, results):
        rejected = bool(ref.get("genErrors")) or "genError" in ref
        if INVALID[name][2]:
            assert rejected, name


def test_not_yaml() -> None:
    with pytest.raises(SDLError, match="not valid YAML"):
        parse_sdl("services: [\n")
    with pytest.raises(SDLError, match="must be a mapping"):
        parse_sdl("- a\n- b\n")


def test_generated_sdl_round_trips() -> None:
    spec = DeploymentSpec(
        services=(
            ServiceSpec(name="web", image="ghcr.io/acme/web:1", port=3000, accept=("a.example.com",),
                        env={"GREETING": "hi <there> & 'you'", "N": "0o17", "FLAG": "off"}, count=3,
                        credentials=RegistryCredentials("ghcr.io", "acme", "token123", "ops@example.com")),
            ServiceSpec(name="gpu", image="vllm", port=None, gpu=GpuSpec(units=2, model="h100", interface="sxm")),
        ),
        placement="dc", attributes={"region": "eu"}, signed_by_any_of=("akash1a",),
    )
    data = parse_sdl(generate_sdl(spec))
    assert data == sdl_from_spec(spec)
    web = data["services"]["web"]
    assert web["env"] == ["GREETING=hi <there> & 'you'", "N=0o17", "FLAG=off"]
    assert web["expose"] == [{"port": 3000, "as": 80, "accept": ["a.example.com"], "to": [{"global": True}]}]
    assert web["credentials"] == {"host": "ghcr.io", "username": "acme", "password": "token123", "email": "ops@example.com"}
    assert "expose" not in data["services"]["gpu"]
    assert data["profiles"]["compute"]["gpu"]["resources"]["gpu"] == {
        "units": 2, "attributes": {"vendor": {"nvidia": [{"model": "h100", "interface": "sxm"}]}}}
    assert data["profiles"]["placement"]["dc"] == {
        "attributes": {"region": "eu"}, "signedBy": {"anyOf": ["akash1a"]},
        "pricing": {"web": {"denom": "uact", "amount": 1000}, "gpu": {"denom": "uact", "amount": 1000}}}
    assert data["deployment"]["web"] == {"dc": {"profile": "web", "count": 3}}


def test_generator_refuses_bad_specs() -> None:
    with pytest.raises(SDLError, match="password: must be at least 6"):
        generate_sdl(ServiceSpec(name="web", image="ghcr.io/a/b", credentials=RegistryCredentials("ghcr.io", "u", "123")))
    with pytest.raises(SDLError, match="port: must be an integer 1-65535"):
        generate_sdl(ServiceSpec(name="web", image="nginx", port=0))


def test_image_host() -> None:
    assert image_host("nginx") == "docker.io"
    assert image_host("library/nginx:1") == "docker.io"
    assert image_host("ghcr.io/a/b") == "ghcr.io"
    assert image_host("127.0.0.1:5000/a:1") == "127.0.0.1:5000"
    assert image_host("localhost/a") == "localhost"


def test_inject_and_redact_credentials() -> None:
    data = parse_sdl(SEVERAL_SERVICES)
    cred = RegistryCredentials(host="ghcr.io", username="acme", password="hunter22")
    injected = inject_credentials(data, cred)
    assert injected["services"]["web"]["credentials"] == {"host": "ghcr.io", "username": "acme", "password": "hunter22"}
    assert "credentials" not in injected["services"]["db"]  # postgres comes from docker.io
    assert "credentials" not in data["services"]["web"]  # the input is left alone

    shown = dump_sdl(injected)
    assert "hunter22" not in shown and REDACTED in shown
    assert "hunter22" in dump_sdl(injected, reveal=True)
    assert parse_sdl(dump_sdl(injected, reveal=True)) == injected
    assert redact_credentials(injected)["services"]["web"]["credentials"]["password"] == REDACTED
    assert injected["services"]["web"]["credentials"]["password"] == "hunter22"

    with pytest.raises(SDLError, match="no service pulls its image from"):
        inject_credentials(data, RegistryCredentials(host="quay.io", username="a", password="123456"))
    with pytest.raises(SDLError, match="password"):
        inject_credentials(data, RegistryCredentials(host="ghcr.io", username="a", password="123"))
