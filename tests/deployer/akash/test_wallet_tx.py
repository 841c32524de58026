"""Wallets and transactions: derivation and signatures checked with @cosmjs; sequence
lanes and the one retry checked against the strict stand-in node."""

from __future__ import annotations

import base64
import pickle
import threading
from typing import Any

import pytest

from deployer.akash import messages as m
from deployer.akash.chain import Signer, TxRefused, build_tx
from deployer.akash.wallet import Wallets
from tests.deployer.akash.chain_standin import StandinChain
from tests.oracle import oracle_available, run_node

# Published BIP-39 test mnemonics, never funded: keys in tests must not be real ones.
MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
OTHER_MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"

needs_oracle = pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def wallets() -> Wallets:
    return Wallets(MNEMONIC)


# -- wallets -----------------------------------------------------------------------


@needs_oracle
@pytest.mark.oracle
def test_wallets_derive_like_cosmjs(wallets: Wallets) -> None:
    separate = Wallets(MNEMONIC, OTHER_MNEMONIC)
    items = [
        {"op": "derive", "mnemonic": MNEMONIC, "prefix": "akash", "indexes": [0, 1, 7]},
        {"op": "derive", "mnemonic": OTHER_MNEMONIC, "prefix": "akash", "indexes": [0, 2]},
    ]
    ours, theirs = run_node("sign_oracle.mjs", {"items": items})["results"]
    expected = [wallets.funding, wallets.deployer(1), wallets.deployer(7)]
    # Project indexes are large (deployer_index); two that share their first three digits are two
    # wallets (cosmpy's path parser reads three digits: both were the wallet of index 847).
    items = [{"op": "derive", "mnemonic": MNEMONIC, "prefix": "akash", "indexes": [847, 847823040, 847256965]}]
    (large,) = run_node("sign_oracle.mjs", {"items": items})["results"]
    mine = [wallets.deployer(i) for i in (847, 847823040, 847256965)]
    assert large["accounts"] == [{"address": w.address, "pubkey": b64(w.public_key)} for w in mine]
    assert len({w.address for w in mine}) == 3
    assert ours["accounts"] == [{"address": w.address, "pubkey": b64(w.public_key)} for w in expected]
    expected = [separate.deployer(0), separate.deployer(2)]
    assert theirs["accounts"] == [{"address": w.address, "pubkey": b64(w.public_key)} for w in expected]
    assert all(w.address.startswith("akash1") for w in expected)


def test_wallets_keep_their_secrets(wallets: Wallets) -> None:
    deployer = wallets.deployer(1)
    key_hex = deployer._key.private_key_hex
    for text in (repr(wallets), str(wallets), repr(deployer), str(deployer)):
        assert "abandon" not in text and key_hex not in text
    assert deployer.address in repr(deployer)
    with pytest.raises(TypeError):
        pickle.dumps(deployer)
    with pytest.raises(TypeError):
        pickle.dumps(wallets)
    with pytest.raises(ValueError):
        wallets.deployer(0)  # the funding wallet's own index


# -- signatures ----------------------------------------------------------------------


@needs_oracle
@pytest.mark.oracle
def test_signed_tx_verifies_under_cosmos_sign_doc_rules(wallets: Wallets) -> None:
    funding, deployer = wallets.funding, wallets.deployer(2)
    msgs = [
        m.create_deployment(deployer.address, 42, [], bytes(32), 500000, from_grant=True),
        m.create_lease(deployer.address, 42, 1, 1, funding.address, 1),
    ]
    tx = build_tx(
        deployer,
        msgs,
        chain_id="akashnet-2",
        account_number=1234,
        sequence=56,
        gas_limit=300000,
        fee=[m.coin(7500, "uakt")],
        fee_granter=funding.address,
        memo="slipway",
    )
    items = [
        {"op": "verify_tx", "b64": b64(tx), "chain_id": "akashnet-2", "account_number": 1234, "sequence": 56, "pubkey": b64(deployer.public_key)},
        # the right sign doc, someone else's key
        {"op": "verify_tx", "b64": b64(tx), "chain_id": "akashnet-2", "account_number": 1234, "sequence": 56, "pubkey": b64(funding.public_key)},
    ]
    right, other_key = run_node("sign_oracle.mjs", {"items": items})["results"]
    assert right["valid"] is True
    assert (right["wrong_chain_id"], right["wrong_account_number"], right["wrong_sequence"]) == (False, False, False)
    assert other_key["valid"] is False
    assert right["tx"] == {
        "type_urls": ["/akash.deployment.v1beta4.MsgCreateDeployment", "/akash.market.v1beta5.MsgCreateLease"],
        "memo": "slipway",
        "sequence": "56",
        "sign_mode": 1,  # SIGN_MODE_DIRECT
        "pubkey_type": "/cosmos.crypto.secp256k1.PubKey",
        "pubkey": b64(deployer.public_key),
        "gas_limit": "300000",
        "fee": [{"denom": "uakt", "amount": "7500"}],
        "granter": funding.address,
        "payer": "",
    }


# -- the signing lanes, against the stand-in node ---------------------------------------


def granted_chain(wallets: Wallets, *indexes: int) -> StandinChain:
    chain = StandinChain()
    chain.open_account(wallets.funding.address)
    for i in indexes:
        chain.open_account(wallets.deployer(i).address)
        chain.fee_grants.add((wallets.funding.address, wallets.deployer(i).address))
    return chain


def test_parallel_submissions_on_one_account_all_land_in_order(wallets: Wallets) -> None:
    chain = granted_chain(wallets, 1, 2)
    signer = Signer(chain)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def deploy(n: int) -> None:
        wallet = wallets.deployer(1 if n % 4 else 2)
        start.wait()
        try:
            signer.submit(wallet, [m.close_deployment(wallet.address, n)], fee_granter=wallets.funding.address)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for index, count in ((1, 12), (2, 4)):
        address = wallets.deployer(index).address
        assert [seq for signer_, seq, _ in chain.included if signer_ == address] == list(range(count))
        assert chain.accounts[address].sequence == count
    # each account was looked up once; later sequences were counted locally
    assert chain.account_queries == 2


def test_a_stale_sequence_is_recovered_once(wallets: Wallets) -> None:
    chain = granted_chain(wallets, 3)
    signer = Signer(chain)
    deployer = wallets.deployer(3)
    granter = wallets.funding.address
    signer.submit(deployer, [m.close_deployment(deployer.address, 1)], fee_granter=granter)
    chain.use_elsewhere(deployer.address)  # e.g. the same wallet used from another process
    signer.submit(deployer, [m.close_deployment(deployer.address, 2)], fee_granter=granter)
    assert [seq for _, seq, _ in chain.included] == [0, 2]
    assert chain.account_queries == 2


def test_only_one_retry(wallets: Wallets) -> None:
    class Racing(StandinChain):
        def simulate(self, tx_bytes: bytes) -> int:
            self.use_elsewhere(wallets.deployer(4).address)  # always someone faster
            return super().simulate(tx_bytes)

    chain = Racing()
    chain.open_account(wallets.deployer(4).address)
    with pytest.raises(TxRefused) as refused:
        Signer(chain).submit(wallets.deployer(4), [m.close_deployment("x", 1)])
    assert refused.value.code == 32
    assert "account sequence mismatch" in str(refused.value)
    assert chain.account_queries == 2


def test_refusal_carries_code_and_log_not_secrets(wallets: Wallets) -> None:
    chain = StandinChain()
    deployer = wallets.deployer(5)
    chain.open_account(deployer.address)  # but no fee grant
    with pytest.raises(TxRefused) as refused:
        Signer(chain).submit(deployer, [m.close_deployment(deployer.address, 1)], fee_granter=wallets.funding.address)
    err = refused.value
    assert err.code == 38 and err.codespace == "feegrant" and "fee-grant not found" in err.log
    assert "abandon" not in str(err) and deployer._key.private_key_hex not in str(err)
    assert chain.included == []


def test_standin_refuses_a_wrong_chain_id(wallets: Wallets) -> None:
    chain = granted_chain(wallets, 6)
    deployer = wallets.deployer(6)
    tx = build_tx(deployer, [m.close_deployment(deployer.address, 1)], chain_id="other-chain", account_number=2, sequence=0, gas_limit=10**6)
    result = chain.broadcast(tx)
    assert result.code == 4 and "signature verification failed" in result.log
    good = build_tx(deployer, [m.close_deployment(deployer.address, 1)], chain_id=chain.chain_id, account_number=2, sequence=0, gas_limit=10**6)
    assert chain.broadcast(good).code == 0


def test_fee_comes_from_simulation_with_margin(wallets: Wallets) -> None:
    seen: dict[str, Any] = {}

    class Recording(StandinChain):
        def broadcast(self, tx_bytes: bytes):
            from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, TxRaw

            seen["fee"] = AuthInfo.FromString(TxRaw.FromString(tx_bytes).auth_info_bytes).fee
            return super().broadcast(tx_bytes)

    chain = Recording()
    deployer = wallets.deployer(8)
    chain.open_account(deployer.address)
    Signer(chain, gas_multiplier=1.25).submit(deployer, [m.close_deployment(deployer.address, 1)] * 2)
    assert seen["fee"].gas_limit == 200_000  # 2 x 80000 simulated, x 1.25
    assert [(c.denom, c.amount) for c in seen["fee"].amount] == [("uakt", "5000")]  # x 0.025uakt
    assert seen["fee"].granter == ""
