"""Akash wallets and signer come from settings; missing settings say what to set."""

from dataclasses import replace

import pytest

from deployer.akash.config import AkashNotConfigured, chain, signer, wallets
from deployer.akash.wallet import wallet_from_mnemonic

MNEMONIC = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about")


def test_missing_settings_name_the_variable(settings):
    with pytest.raises(AkashNotConfigured, match="SLIPWAY_AKASH_FUNDING_MNEMONIC"):
        wallets(settings)
    with pytest.raises(AkashNotConfigured, match="SLIPWAY_AKASH_GRPC_URL"):
        chain(settings)


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
