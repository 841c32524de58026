"""`slipway sdl check` and `slipway sdl manifest`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from deployer.akash.manifest import deployment_hash_hex, manifest_sorted_json
from deployer.akash.sdl import parse_sdl
from slipway.cli import main
from tests.support.akash_sdl import ENV_ESCAPING, SEVERAL_SERVICES

BROKEN = SEVERAL_SERVICES.replace("port: 5432", "port: 0").replace("denom: uact, amount: 1000", "denom: uakt, amount: 1000")


def test_check_prints_hash_and_summary(tmp_path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(SEVERAL_SERVICES)
    result = CliRunner().invoke(main, ["sdl", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert f"hash: {deployment_hash_hex(parse_sdl(SEVERAL_SERVICES))}" in result.output
    assert "placement dcloud:" in result.output
    assert "web: ghcr.io/acme/web:2 x2 (profile web)" in result.output
    assert "price 250.5uact/block x1" in result.output


def test_check_reads_stdin() -> None:
    result = CliRunner().invoke(main, ["sdl", "check", "-"], input=SEVERAL_SERVICES)
    assert result.exit_code == 0
    assert deployment_hash_hex(parse_sdl(SEVERAL_SERVICES)) in result.output


def test_check_lists_every_problem_and_fails() -> None:
    result = CliRunner().invoke(main, ["sdl", "check", "-"], input=BROKEN)
    assert result.exit_code == 1
    assert "invalid SDL" in result.output
    assert "services.db.expose[0].port: must be an integer 1-65535" in result.output
    assert 'profiles.placement.dcloud.pricing.web.denom: must be "uact"' in result.output
    assert "hash:" not in result.output


def test_check_missing_file() -> None:
    result = CliRunner().invoke(main, ["sdl", "check", "/nonexistent/deploy.yaml"])
    assert result.exit_code == 2


def test_manifest_prints_sorted_json(tmp_path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(ENV_ESCAPING)
    result = CliRunner().invoke(main, ["sdl", "manifest", str(path)])
    assert result.exit_code == 0
    assert result.output == manifest_sorted_json(parse_sdl(ENV_ESCAPING)) + "\n"
    assert "\\u003c" in result.output and "<" not in result.output
    assert json.loads(result.output)[0]["name"] == "dcloud"


def test_manifest_of_invalid_sdl_fails() -> None:
    result = CliRunner().invoke(main, ["sdl", "manifest", "-"], input=BROKEN)
    assert result.exit_code == 1
    assert "services.db.expose[0].port" in result.output
