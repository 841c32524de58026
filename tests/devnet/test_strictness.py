"""The devnet accepts and refuses transactions as an Akash node does, with its codes and messages.

Every transaction here is signed by an independent client (@cosmjs/proto-signing, messages
encoded by @akashnetwork/chain-sdk) and broadcast over the REST API; one test per rule.
"""

from __future__ import annotations

import time
from datetime import UTC

from devnet import config
from tests.support.devnet import BLOCK_TIME, b64, expiry, needs_oracle
from tests.support.devnet_messages import create_deployment, deposit_grant, fee_allowance, group, next_dseq

pytestmark = needs_oracle


def send(client, frm: int, to: str, amount: int, denom: str = "uakt") -> dict:
    return {"@type": "/cosmos.bank.v1beta1.MsgSend", "from_address": client.address(frm), "to_address": to,
            "amount": [{"denom": denom, "amount": str(amount)}]}


def test_a_valid_transaction_is_included_in_the_next_block_and_only_then_known(client, devnet):
    tx = client.sign(0, [send(client, 0, client.address(90), 1000)])
    checked = client.broadcast(tx)
    assert checked["code"] == 0 and checked["height"] == "0"
    included = client.wait_tx(checked["txhash"])
    assert included["code"] == 0 and int(included["height"]) >= 1
    assert included["tx"]["body"]["messages"][0]["@type"] == "/cosmos.bank.v1beta1.MsgSend"
    assert client.balance(client.address(90), "uakt") == 1000


def test_an_unknown_message_type_is_refused(client):
    tx = client.sign(0, [send(client, 0, client.address(90), 1)])
    renamed = client.oracle([{"op": "raw_any", "b64": tx, "replace_type_url": {
        "from": "/cosmos.bank.v1beta1.MsgSend", "to": "/akash.deployment.v1beta9.MsgNoSuchThing"}}])[0]["b64"]
    refused = client.broadcast(renamed)
    assert (refused["codespace"], refused["code"]) == ("sdk", 2)
    assert "unable to resolve type URL /akash.deployment.v1beta9.MsgNoSuchThing" in refused["raw_log"]


def test_a_message_with_a_field_its_type_does_not_have_is_refused(client):
    tx = client.sign(0, [send(client, 0, client.address(90), 1)])
    malformed = client.oracle([{"op": "raw_any", "b64": tx, "append_field": 99}])[0]["b64"]
    refused = client.broadcast(malformed)
    assert (refused["codespace"], refused["code"]) == ("sdk", 2)
    assert "errUnknownField" in refused["raw_log"] and "cosmos.bank.v1beta1.MsgSend" in refused["raw_log"]


def test_a_wrong_chain_id_fails_signature_verification(client):
    account = client.account(client.address(0))
    refused = client.broadcast(client.sign(0, [send(client, 0, client.address(90), 1)], sign_chain_id="akashnet-2"))
    assert (refused["codespace"], refused["code"]) == ("sdk", 4)
    assert refused["raw_log"] == (
        f"signature verification failed; please verify account number ({account['account_number']}) and chain-id"
        f" ({config.CHAIN_ID}): (unable to verify single signer signature): unauthorized"
    )


def test_a_wrong_account_number_fails_signature_verification(client):
    account = client.account(client.address(0))
    wrong = int(account["account_number"]) + 1
    refused = client.broadcast(client.sign(0, [send(client, 0, client.address(90), 1)], sign_account_number=str(wrong)))
    assert (refused["codespace"], refused["code"]) == ("sdk", 4)
    assert "signature verification failed" in refused["raw_log"]


def test_a_reused_or_skipped_sequence_is_refused_with_code_32(client):
    index = client.funded_deployer()
    first = client.sign(index, [send(client, index, client.address(90), 1)], sequence=0)
    assert client.broadcast(first)["code"] == 0
    # The mempool counts the pending transaction: 0 is used, the next one is 1.
    reused = client.broadcast(client.sign(index, [send(client, index, client.address(90), 2)], sequence=0))
    assert (reused["codespace"], reused["code"]) == ("sdk", 32)
    assert reused["raw_log"] == "account sequence mismatch, expected 1, got 0: incorrect account sequence"
    skipped = client.broadcast(client.sign(index, [send(client, index, client.address(90), 3)], sequence=5))
    assert skipped["raw_log"] == "account sequence mismatch, expected 1, got 5: incorrect account sequence"


def test_a_fee_below_the_minimum_gas_price_is_refused(client):
    gas = 200_000
    required = int(gas * config.MIN_GAS_PRICE)
    low = client.broadcast(client.sign(0, [send(client, 0, client.address(90), 1)], gas=gas,
                                       fee=[{"denom": "uakt", "amount": str(required - 1)}]))
    assert (low["codespace"], low["code"]) == ("sdk", 13)
    assert low["raw_log"] == f"insufficient fees; got: {required - 1}uakt required: {required}uakt: insufficient fee"
    in_act = client.broadcast(client.sign(0, [send(client, 0, client.address(90), 1)], gas=gas,
                                          fee=[{"denom": "uact", "amount": str(required)}]))
    assert (in_act["codespace"], in_act["code"]) == ("sdk", 13)


def test_the_gas_limit_is_enforced(client):
    msg = send(client, 0, client.address(90), 1)
    simulated = client.simulate(client.sign(0, [msg], gas=0, fee=[]))
    assert simulated.status_code == 200, simulated.text
    gas_used = int(simulated.json()["gas_info"]["gas_used"])
    short = client.broadcast(client.sign(0, [msg], gas=gas_used - 1))
    if short["code"] == 0:  # enough for the ante handler: runs out in the block, fee and sequence spent
        short = client.wait_tx(short["txhash"])
    assert (short["codespace"], short["code"]) == ("sdk", 11)
    assert "out of gas" in short["raw_log"]
    # Simulating with an empty fee skips the fee deduction, as the SDK does: hence a gas margin (Slipway: 1.5).
    client.submit_ok(0, [msg], gas=int(gas_used * 1.5))


def test_a_fee_granter_without_an_allowance_is_refused(client):
    index = client.funded_deployer()
    refused = client.broadcast(client.sign(index, [send(client, index, client.address(90), 1)], granter=client.address(0)))
    assert (refused["codespace"], refused["code"]) == ("sdk", 38)
    assert refused["raw_log"] == (
        f"{client.address(0)} does not allow to pay fees for {client.address(index)}: fee-grant not found: not found"
    )


def test_a_fee_allowance_pays_within_its_spend_limit_only(client):
    index = client.new_index()
    grantee = client.address(index)
    gas = 100_000
    fee = int(gas * config.MIN_GAS_PRICE) + 1
    client.submit_ok(0, [fee_allowance(client.address(0), grantee, fee + fee // 2, expiry())])
    assert client.account(grantee) is not None  # the grant creates the grantee's account
    funding_before = client.balance(client.address(0), "uakt")
    msg = fee_allowance(grantee, client.address(91), 1, expiry())
    client.submit_ok(index, [msg], gas=gas, granter=client.address(0))
    assert client.balance(client.address(0), "uakt") == funding_before - fee
    allowance = client.get(f"/cosmos/feegrant/v1beta1/allowance/{client.address(0)}/{grantee}").json()["allowance"]
    assert allowance["allowance"]["spend_limit"] == [{"denom": "uakt", "amount": str(fee // 2)}]
    over = client.broadcast(client.sign(index, [msg], gas=gas, granter=client.address(0)))
    assert (over["codespace"], over["code"]) == ("feegrant", 2)
    assert over["raw_log"].endswith("basic allowance: fee limit exceeded")


def test_an_expired_fee_allowance_is_refused(client):
    from datetime import datetime

    # An allowance that expires soon after its grant is included: a loaded machine signs and includes
    # the grant later, so a grant the chain finds already expired is made again with a longer margin.
    client.wait_height(1)  # a block with a time (run alone, the devnet has only just started)
    for margin in (2, 10, 60):
        index = client.new_index()
        grantee = client.address(index)
        soon = client.block_time().timestamp() + margin
        expiration = datetime.fromtimestamp(soon, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        granted = client.submit(0, [fee_allowance(client.address(0), grantee, 10_000_000, expiration)])
        if not granted["raw_log"].endswith("expiration is before current block time: fee allowance expired"):
            break
    assert granted["code"] == 0, granted
    while client.block_time().timestamp() <= soon + 1:
        time.sleep(BLOCK_TIME)
    msg = {"@type": "/cosmos.feegrant.v1beta1.MsgRevokeAllowance", "granter": grantee, "grantee": client.address(91)}
    refused = client.broadcast(client.sign(index, [msg], granter=client.address(0)))
    assert (refused["codespace"], refused["code"]) == ("feegrant", 3)
    assert refused["raw_log"].endswith("basic allowance: fee allowance expired")


def test_a_deposit_from_a_grant_is_drawn_from_the_granter_within_the_authorization(client, act):
    index = client.funded_deployer()
    owner, granter = client.address(index), client.address(0)
    client.submit_ok(0, [deposit_grant(granter, owner, 800_000, expiry())])
    granter_before = client.balance(granter, "uact")
    owner_before = client.balance(owner, "uact")
    client.submit_ok(index, [create_deployment(owner, next_dseq(), deposit=600_000, source="grant")])
    assert client.balance(granter, "uact") == granter_before - 600_000
    assert client.balance(owner, "uact") == owner_before
    grants = client.get("/cosmos/authz/v1beta1/grants", granter=granter, grantee=owner).json()["grants"]
    assert grants[0]["authorization"]["spend_limits"] == [{"denom": "uact", "amount": "200000"}]
    by_grantee = client.get(f"/cosmos/authz/v1beta1/grants/grantee/{owner}").json()["grants"]
    assert [(g["granter"], g["authorization"]["@type"]) for g in by_grantee] == [
        (granter, "/akash.escrow.v1.DepositAuthorization")]
    # 200000uact left in the grant, the owner has no ACT: the next deposit is refused.
    over = client.submit(index, [create_deployment(owner, next_dseq(), deposit=600_000, source="grant")])
    assert (over["codespace"], over["code"]) == ("market", 28)
    assert over["raw_log"].endswith("deposit invalid: insufficient balance")


def test_a_deposit_grant_outside_its_scope_or_expiry_is_not_used(client, act):
    index = client.funded_deployer()
    owner, granter = client.address(index), client.address(0)
    client.submit_ok(0, [deposit_grant(granter, owner, 800_000, expiry(), scopes=("bid",))])
    refused = client.submit(index, [create_deployment(owner, next_dseq(), source="grant")])
    assert (refused["codespace"], refused["code"]) == ("market", 28)
    past = client.submit(0, [deposit_grant(granter, owner, 800_000, expiry(-1))])
    assert (past["codespace"], past["code"]) == ("authz", 3)


def test_a_non_zero_deprecated_spend_limit_is_refused(client):
    refused = client.broadcast(client.sign(0, [deposit_grant(
        client.address(0), client.address(92), 800_000, expiry(), spend_limit={"denom": "uact", "amount": "5"})]))
    assert (refused["codespace"], refused["code"]) == ("sdk", 10)
    assert refused["raw_log"] == "spend limit is deprecated and must be zero: invalid coins"


def test_a_uakt_deposit_at_create_is_refused(client):
    index = client.funded_deployer()
    owner = client.address(index)
    refused = client.submit(index, [create_deployment(owner, next_dseq(), denom="uakt", deposit=5_000_000)])
    assert (refused["codespace"], refused["code"]) == ("deployment", 20)


def test_a_deposit_below_the_minimum_is_refused(client, act):
    index = client.funded_deployer()
    owner = client.address(index)
    client.submit_ok(0, [deposit_grant(client.address(0), owner, 800_000, expiry())])
    refused = client.submit(index, [create_deployment(owner, next_dseq(), deposit=config.MIN_DEPOSIT_UACT - 1, source="grant")])
    assert (refused["codespace"], refused["code"]) == ("deployment", 20)
    assert refused["raw_log"].endswith(f"Deposit too low - {config.MIN_DEPOSIT_UACT - 1} < {config.MIN_DEPOSIT_UACT}uact: Deposit invalid")


def test_group_prices_must_be_in_uact(client, act):
    index = client.funded_deployer()
    owner = client.address(index)
    client.submit_ok(0, [deposit_grant(client.address(0), owner, 800_000, expiry())])
    refused = client.submit(index, [create_deployment(owner, next_dseq(), source="grant", groups=[group(denom="uakt")])])
    assert (refused["codespace"], refused["code"]) == ("deployment", 24)
    assert "unsupported denomination uakt" in refused["raw_log"]


def test_groups_are_validated_as_x_deployment_validates_them(client, act):
    index = client.funded_deployer()
    owner = client.address(index)
    client.submit_ok(0, [deposit_grant(client.address(0), owner, 800_000, expiry())])
    tiny = group()
    tiny["resources"][0]["resource"]["cpu"]["units"]["val"] = b64(b"5")  # 5 millicores < 10
    refused = client.submit(index, [create_deployment(owner, next_dseq(), source="grant", groups=[tiny])])
    assert (refused["codespace"], refused["code"]) == ("deployment", 7)
    assert "invalid unit CPU" in refused["raw_log"]
    twins = client.submit(index, [create_deployment(owner, next_dseq(), source="grant", groups=[group(), group()])])
    assert (twins["codespace"], twins["code"]) == ("deployment", 25)


def test_mint_act_settles_at_the_epoch_and_a_mint_below_the_minimum_is_refunded(client):
    index = client.funded_deployer(uakt=100_000_000)
    owner = client.address(index)
    burn, small, fee = 20_000_000, 1_000_000, 1001
    mint = {"@type": "/akash.bme.v1.MsgMintACT", "owner": owner, "to": owner}
    uakt_before = client.balance(owner, "uakt")
    included = client.submit_ok(index, [{**mint, "coins_to_burn": {"denom": "uakt", "amount": str(burn)}},
                                        {**mint, "coins_to_burn": {"denom": "uakt", "amount": str(small)}}],
                                fee=[{"denom": "uakt", "amount": str(fee)}])
    height = int(included["height"])
    client.wait_height(-(-height // config.MINT_EPOCH_BLOCKS) * config.MINT_EPOCH_BLOCKS)  # the epoch at or after it
    minted = int(burn * config.MINT_PRICE)
    assert client.balance(owner, "uact") == minted - minted * config.MINT_SPREAD_BPS // 10_000
    assert client.balance(owner, "uakt") == uakt_before - fee - burn  # 1.25 ACT < 10 ACT minimum: refunded
    other = client.broadcast(client.sign(index, [{**mint, "to": client.address(0),
                                                  "coins_to_burn": {"denom": "uakt", "amount": str(burn)}}]))
    assert (other["codespace"], other["code"]) == ("bme", 11)


def test_act_is_not_transferable(client, act):
    refused = client.submit(0, [send(client, 0, client.address(90), 10, denom="uact")])
    assert (refused["codespace"], refused["code"]) == ("bank", 5)


def test_update_deployment_only_by_its_owner_and_with_a_new_hash(client, act):
    index = client.funded_deployer()
    other = client.funded_deployer()
    owner, dseq = client.address(index), next_dseq()
    client.submit_ok(0, [deposit_grant(client.address(0), owner, 800_000, expiry())])
    client.submit_ok(index, [create_deployment(owner, dseq, source="grant", hash_text="v1")])
    update = {"@type": "/akash.deployment.v1beta4.MsgUpdateDeployment", "id": {"owner": owner, "dseq": str(dseq)}}
    from tests.support.devnet_messages import manifest_hash

    same = client.submit(index, [{**update, "hash": manifest_hash("v1")}])
    assert (same["codespace"], same["code"]) == ("deployment", 10)
    stranger = client.broadcast(client.sign(other, [{**update, "hash": manifest_hash("v2")}]))
    assert (stranger["codespace"], stranger["code"]) == ("sdk", 8)
    assert "pubKey does not match signer address" in stranger["raw_log"]
    client.submit_ok(index, [{**update, "hash": manifest_hash("v2")}])
    info = client.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq}).json()
    assert info["deployment"]["hash"] == manifest_hash("v2")


def test_account_deposit_tops_up_and_close_returns_the_rest_to_the_granter(client, act):
    index = client.funded_deployer()
    owner, granter, dseq = client.address(index), client.address(0), next_dseq()
    client.submit_ok(0, [deposit_grant(granter, owner, 2_000_000, expiry())])
    client.submit_ok(index, [create_deployment(owner, dseq, source="grant")])
    client.submit_ok(index, [{"@type": "/akash.escrow.v1.MsgAccountDeposit", "signer": owner,
                              "id": {"scope": "deployment", "xid": f"{owner}/{dseq}"},
                              "deposit": {"amount": {"denom": "uact", "amount": "700000"}, "sources": ["grant"]}}])
    accounts = client.get("/akash/escrow/v1/types/accounts", xid=f"{owner}/{dseq}").json()["accounts"]
    assert accounts[0]["state"]["funds"] == [{"denom": "uact", "amount": "1200000.000000000000000000"}]
    before = client.balance(granter, "uact")
    client.submit_ok(index, [{"@type": "/akash.deployment.v1beta4.MsgCloseDeployment", "id": {"owner": owner, "dseq": str(dseq)}}])
    assert client.balance(granter, "uact") == before + 1_200_000  # no lease: nothing was spent
    info = client.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq}).json()
    assert info["deployment"]["state"] == "closed" and info["escrow_account"]["state"]["state"] == "closed"
    again = client.submit(index, [{"@type": "/akash.deployment.v1beta4.MsgCloseDeployment", "id": {"owner": owner, "dseq": str(dseq)}}])
    assert (again["codespace"], again["code"]) == ("deployment", 5)


def test_simulate_reports_gas_and_refuses_what_the_node_would(client):
    ok = client.simulate(client.sign(0, [send(client, 0, client.address(90), 1)], gas=0, fee=[]))
    assert ok.status_code == 200 and int(ok.json()["gas_info"]["gas_used"]) > 0
    stale = client.simulate(client.sign(0, [send(client, 0, client.address(90), 1)], gas=0, fee=[], sequence=0))
    account = client.account(client.address(0))
    if account["sequence"] != "0":
        assert stale.status_code == 500
        body = stale.json()
        assert body["code"] == 2 and "account sequence mismatch" in body["message"] and body["details"] == []
