"""`slipway devnet provider list|stop|start` against a devnet process's control files."""

from __future__ import annotations

from dataclasses import replace

import pytest
import requests
from click.testing import CliRunner

from devnet import config
from devnet.node import start
from devnet.provider import build_providers, control
from devnet.provider.control import Supervisor
from slipway.cli import main
from slipway.settings import set_settings
from tests.devnet.test_provider_devnet import MNEMONIC, devnet_port


def slipway(*args: str):
    return CliRunner().invoke(main, ["devnet", "provider", *args])


def test_without_a_running_devnet_the_request_waits_for_its_start(settings) -> None:
    result = slipway("stop", "birch")
    assert result.exit_code == 0, result.output
    assert "birch will be stopped when the devnet starts" in result.output
    assert (control.provider_dir(settings.devnet_path, "birch") / "stopped").exists()
    assert "devnet not running (stop requested)" in slipway("list").output
    assert slipway("start", "birch").exit_code == 0
    assert not (control.provider_dir(settings.devnet_path, "birch") / "stopped").exists()

    unknown = slipway("stop", "oak")
    assert unknown.exit_code != 0 and "no devnet provider named 'oak' (there are: cedar, birch)" in unknown.output


@pytest.mark.docker
def test_stop_and_start_a_provider_of_a_running_devnet(settings) -> None:
    s = replace(settings, devnet_port=str(devnet_port()), akash_funding_mnemonic=MNEMONIC,
                akash_chain_id=config.CHAIN_ID, akash_network="local")
    set_settings(s)
    node = start(s, blocks=False)
    supervisor = Supervisor(s.devnet_path, build_providers(node.rest_url, s), interval_s=0.1)
    supervisor.start()
    cedar = f"https://127.0.0.1:{s.devnet_port_n + config.provider_spec('cedar').port_offset}"
    cert = str(control.provider_dir(s.devnet_path, "cedar") / "tls.crt")
    try:
        assert requests.get(f"{cedar}/address", verify=cert, timeout=10).status_code == 200
        stopped = slipway("stop", "cedar")
        assert (stopped.exit_code, stopped.output) == (0, "cedar stopped\n")
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{cedar}/address", verify=cert, timeout=10)
        assert "cedar\t" in slipway("list").output and "\tstopped (stop requested)\t" in slipway("list").output
        started = slipway("start", "cedar")
        assert (started.exit_code, started.output) == (0, "cedar running\n")
        assert requests.get(f"{cedar}/address", verify=cert, timeout=10).status_code == 200
    finally:
        supervisor.stop()
        node.stop()
