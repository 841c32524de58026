"""The README is the contract: its commands exist and its settings table matches the code."""

import re
from pathlib import Path

from slipway.settings import GENERATED_SECRETS, Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_and_nothing_else():
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README, flags=re.M))
    assert documented == {env for env, *_ in Settings.documented()}


def test_readme_defaults_match_the_code():
    for env, default, secret, _doc in Settings.documented():
        row = re.search(rf"^\| `{env}` \| ([^|]+) \|", README, flags=re.M).group(1).strip()
        if env in GENERATED_SECRETS:
            assert row == "generated", env
        elif default:
            assert row == f"`{default}`", env
        else:
            assert row, env


def test_the_two_commands_exist_and_ci_runs_the_test_command():
    assert "```sh\nscripts/up.sh\n```" in README and "```sh\nscripts/test.sh\n```" in README
    for script in ("scripts/up.sh", "scripts/test.sh", "scripts/down.sh"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"
    ci = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci[-1].strip() in ("exec scripts/test.sh", "scripts/test.sh")


def test_every_cli_command_in_the_readme_exists():
    from click.testing import CliRunner

    from slipway.cli import main

    for line in re.findall(r"^\| `slipway ([a-z ]+?)(?: [A-Z\[-].*)?` \|", README, flags=re.M):
        result = CliRunner().invoke(main, [*line.split(), "--help"])
        assert result.exit_code == 0, f"slipway {line}: {result.output}"
