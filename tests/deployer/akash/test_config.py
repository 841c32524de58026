"""Akash wallets and signer come from settings; missing settings say what to set."""

from dataclasses import replace

import pytest

from deployer.akash.config import AkashNotConfigured, chain, signer, wallets
from deployer.akash.wallet import wallet_from_mnemonic

MNEMONIC = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")


def test_missing_settings_name_the_variable(settings):
    with pytest.raises(AkashNotConfigured, match="SLIPWAY_AKASH_FUNDING_MNEMONIC"):
        wallets(replace(settings, akash_funding_mnemonic=""))
    elsewhere = replace(settings, akash_network="mainnet", akash_rest_url="", akash_grpc_url="")
    with pytest.raises(AkashNotConfigured, match="SLIPWAY_AKASH_REST_URL"):
        chain(elsewhere)


def test_the_local_network_is_the_default_and_its_node_is_the_devnets_rest_api(tmp_path):
    from slipway.settings import Settings

    local = Settings.load({"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_DEVNET_PORT": "14317"})
    assert local.akash_network == "local" and local.akash_chain_id == "slipway-local-1"
    assert local.akash_rest_url == "rest+http://127.0.0.1:14317"
    assert chain(local).chain_id == "slipway-local-1"
    mainnet = Settings.load({"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_AKASH_NETWORK": "mainnet"})
    assert mainnet.akash_chain_id == "akashnet-2" and mainnet.akash_rest_url == "rest+https://api.akashnet.net:443"
    sandbox = Settings.load({"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_AKASH_NETWORK": "sandbox"})
    assert sandbox.akash_chain_id == "sandbox-2" and sandbox.akash_rest_url.startswith("rest+https://")
    # Each default is overridable; a network Slipway does not know needs its node named.
    own = Settings.load({"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_AKASH_NETWORK": "sandbox",
                         "SLIPWAY_AKASH_CHAIN_ID": "sandbox-3", "SLIPWAY_AKASH_REST_URL": "rest+https://node.example:443"})
    assert (own.akash_chain_id, own.akash_rest_url) == ("sandbox-3", "rest+https://node.example:443")
    other = Settings.load({"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_AKASH_NETWORK": "testnet-x"})
    assert other.akash_rest_url == ""


def test_init_generates_a_funding_mnemonic_only_for_the_local_network(tmp_path):
    from slipway.settings import init_env_file, read_env_file

    path = init_env_file(tmp_path / "local", environ={})
    words = read_env_file(path)["SLIPWAY_AKASH_FUNDING_MNEMONIC"].split()
    assert len(words) == 24
    wallet_from_mnemonic(" ".join(words), 0, "x")  # a valid BIP-39 mnemonic
    init_env_file(tmp_path / "local", environ={})
    assert read_env_file(path)["SLIPWAY_AKASH_FUNDING_MNEMONIC"].split() == words  # never replaced
    other = init_env_file(tmp_path / "mainnet", environ={"SLIPWAY_AKASH_NETWORK": "mainnet"})
    assert "SLIPWAY_AKASH_FUNDING_MNEMONIC" not in read_env_file(other)


def test_wallets_and_signer_follow_settings(settings):
    s = replace(settings, akash_funding_mnemonic=MNEMONIC, akash_gas_multiplier="1.3", akash_gas_price="0.03")
    w = wallets(s)
    assert w.funding.address == wallet_from_mnemonic(MNEMONIC, 0, "x").address
    assert w.deployer(1).address == wallet_from_mnemonic(MNEMONIC, 1, "x").address
    assert MNEMONIC.split()[0] not in repr(w)
    sig = signer(s, chain_=object())
    assert sig.gas_multiplier == 1.3 and str(sig.gas_price) == "0.03"


def test_mnemonics_are_masked_as_secrets(settings):
    s = replace(settings, akash_funding_mnemonic=MNEMONIC)
    assert MNEMONIC in s.secret_values()
