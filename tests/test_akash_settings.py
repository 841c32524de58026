"""A project's own Akash settings: checked with every problem named, stored with the project, set
from the CLI, and handed to the job as plain values."""

from dataclasses import replace

import pytest
from click.testing import CliRunner

from slipway.akash_settings import as_text, parse_akash_settings
from slipway.cli import main
from slipway.db import session_scope
from slipway.errors import UserError
from slipway.projects import get_project_by_name
from slipway.settings import set_settings

pytestmark = pytest.mark.both_databases

CEDAR = "akash1" + "q" * 38
BIRCH = "akash1" + "p" * 38


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_good_values_are_stored_as_plain_values_and_read_back_as_the_same_text():
    own = parse_akash_settings({"cpu": "250m", "memory": "256Mi", "storage": "2Gi", "gpu": "1", "gpu_model": "RTX4090",
                                "max_price_uact": "80", "budget_uact": "3000000", "budget_monthly": "monthly",
                                "providers": f"{CEDAR}, {BIRCH}", "attributes": "region=eu, tier=community",
                                "auditors": CEDAR})
    assert own == {"cpu": "250m", "memory": "256Mi", "storage": "2Gi", "gpu": 1, "gpu_model": "rtx4090",
                   "max_price_uact": 80, "budget_uact": 3_000_000, "budget_monthly": True,
                   "providers": [CEDAR, BIRCH], "attributes": {"region": "eu", "tier": "community"},
                   "auditors": [CEDAR]}
    assert parse_akash_settings(as_text(own)) == own
    # None leaves a value alone, "" gives it back to the installation's setting.
    assert parse_akash_settings({"cpu": "", "memory": None}, own) == {k: v for k, v in own.items() if k != "cpu"}


@pytest.mark.parametrize("field,value,says", [
    ("cpu", "lots", "CPU 'lots' must be a number of CPUs"),
    ("cpu", "0", "CPU '0' must be a number of CPUs"),
    ("memory", "512", "memory '512' must be a size like 512Mi"),
    ("storage", "1GB", "storage '1GB' must be a size"),
    ("gpu", "-1", "GPU count '-1' must be a whole number from 0 to 16"),
    ("max_price_uact", "1.5", "max price (uact per block) '1.5' must be a whole number"),
    ("budget_uact", "1000", "budget (uact) '1000' must be a whole number from 500000"),
    ("providers", "cedar", "providers must be Akash addresses"),
    ("auditors", "akash1short", "auditors must be Akash addresses"),
    ("attributes", "region", "attribute 'region' must be key=value"),
    ("budget_monthly", "weekly", "budget period 'weekly' must be monthly or total"),
])
def test_a_bad_value_is_refused_saying_what_to_give(field, value, says):
    with pytest.raises(UserError) as refused:
        parse_akash_settings({field: value, "budget_uact": "1000000"} if field == "budget_monthly" else {field: value})
    assert refused.value.message_id == UserError.PROJECT_AKASH_SETTINGS
    assert says in str(refused.value) and str(refused.value).startswith("The project's Akash settings are not valid")


def test_every_problem_is_named_at_once_and_combinations_are_checked():
    with pytest.raises(UserError) as refused:
        parse_akash_settings({"cpu": "x", "memory": "y", "gpu_model": "a100", "budget_monthly": "monthly"})
    text = str(refused.value)
    assert "CPU 'x'" in text and "memory 'y'" in text
    assert "a GPU model needs a GPU count" in text and "a monthly budget needs a budget in uact" in text


def test_the_cli_creates_and_changes_a_projects_akash_settings_and_warns_about_its_variables(settings):
    set_settings(replace(settings, targets="local,akash"))
    r = run("project", "create", "shop", "--repo", "https://example.com/shop.git", "--target", "akash",
            "--cpu", "0.25", "--memory", "256Mi", "--max-price", "80", "--providers", CEDAR, "--budget", "2000000")
    assert r.exit_code == 0, r.output
    assert "the provider that runs the app can read its environment variables" in r.output
    with session_scope() as s:
        assert get_project_by_name(s, "shop").akash_settings == {
            "cpu": "0.25", "memory": "256Mi", "max_price_uact": 80, "providers": [CEDAR], "budget_uact": 2_000_000}
    r = run("project", "set", "shop", "--cpu", "", "--attributes", "region=eu", "--budget-monthly")
    assert r.exit_code == 0, r.output
    assert "attributes region=eu" in r.output and "budget_monthly monthly" in r.output
    with session_scope() as s:
        own = get_project_by_name(s, "shop").akash_settings
    assert "cpu" not in own and own["attributes"] == {"region": "eu"} and own["budget_monthly"] is True


def test_the_cli_refuses_bad_akash_settings_and_changes_nothing(settings):
    r = run("project", "create", "shop", "--repo", "x", "--cpu", "many")
    assert r.exit_code == 1 and "CPU 'many' must be a number of CPUs" in r.output
    with session_scope() as s:
        assert get_project_by_name(s, "shop") is None
    run("project", "create", "shop", "--repo", "x", "--max-price", "50")
    r = run("project", "set", "shop", "--max-price", "cheap", "--branch", "prod")
    assert r.exit_code == 1 and "max price (uact per block) 'cheap'" in r.output
    with session_scope() as s:
        p = get_project_by_name(s, "shop")
        assert p.akash_settings == {"max_price_uact": 50} and p.branch == "main"
