"""The funding wallet and its grants to deployer wallets, as Akash Console runs managed wallets.

Before a deploy, the project's deployer wallet must hold a live fee allowance (gas, uakt) and a
``DepositAuthorization`` (deployment deposits, uact, scope deployment) from the funding wallet.
What is missing, low or about to expire is granted again in ONE funding-wallet transaction, which
also mints ACT from AKT (``MsgMintACT``) when the funding wallet's uact cannot cover the deposit,
keeping an AKT reserve for gas. Minting settles at a later block: we wait for the balance.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, ContextManager

from google.protobuf.message import Message

from deployer.akash import messages
from deployer.akash.chain import Signer, TxRefused, TxResult
from deployer.akash.lcd import Grants, Lcd
from deployer.akash.proto.akash.bme.v1.msgs_pb2 import MsgMintACT
from deployer.akash.wallet import Wallet

Log = Callable[[str], None]


class FundingError(RuntimeError):
    """The funding wallet cannot pay: says what is short and what to do."""


class BudgetSpent(FundingError):
    """The project's deposit grant for this period is used up (its budget)."""


# How long the deposit grant of a project with a total (not monthly) budget lasts: its whole life.
TOTAL_VALID_DAYS = 3650


@dataclass(frozen=True)
class Budget:
    """A project's own budget: ``uact`` per 30-day grant period, or in total (``total``)."""

    uact: int
    total: bool = True

    @classmethod
    def of(cls, values: dict | None) -> "Budget | None":
        """From a release's Akash settings or a stored reference; None when the project has none."""
        values = values or {}
        if not values.get("budget_uact"):
            return None
        return cls(int(values["budget_uact"]), total=not values.get("budget_monthly"))


@dataclass(frozen=True)
class GrantPolicy:
    gas_allowance_uakt: int = 5_000_000  # 5 AKT of gas per grant
    deposit_limit_uact: int = 50_000_000  # what a deployer may draw for deposits per grant (the budget)
    valid_days: int = 30
    renew_before_days: int = 3  # renew a grant that expires sooner than this
    akt_reserve_uakt: int = 10_000_000  # never burnt for ACT: gas for grants and the deployers
    mint_uakt: int = 20_000_000  # AKT burnt per mint (at least the chain's minimum mint in ACT)
    mint_wait_s: float = 120.0


def _included(signer: Signer, lcd: Lcd, wallet: Wallet, msgs: list[Message], timeout_s: float,
              fee_granter: str = "") -> TxResult:
    """Submit ``msgs`` in one transaction and wait for its block; TxRefused if refused at either step."""
    checked = signer.submit(wallet, msgs, fee_granter=fee_granter)
    result = lcd.wait_tx(checked.txhash, timeout_s)
    if result is None:
        raise TxRefused(-1, f"transaction {checked.txhash} was not included within {int(timeout_s)} s", "slipway",
                        checked.txhash)
    if result.code != 0:
        raise TxRefused(result.code, result.log, result.codespace, result.txhash)
    return result


class Funding:
    """The funding wallet: grants to deployers, and ACT for their deposits."""

    def __init__(self, wallet: Wallet, signer: Signer, lcd: Lcd, policy: GrantPolicy | None = None,
                 tx_timeout_s: float = 60.0, lock: Callable[[], ContextManager] | None = None):
        self.wallet = wallet
        self.signer = signer
        self.lcd = lcd
        self.policy = policy or GrantPolicy()
        self.tx_timeout_s = tx_timeout_s
        # One grant decision at a time in this process, and (``lock``, e.g. a Redis lock) across the
        # workers sharing the funding wallet: two deploys never both top up, and the funding wallet's
        # transactions never race for a sequence number (each is included before the next is signed).
        self._lock = threading.Lock()
        self._shared_lock = lock or contextlib.nullcontext
        self.transactions = 0  # funding-wallet transactions sent (the benchmark counts them)

    def grants_of(self, deployer: str) -> Grants:
        return self.lcd.grants(self.wallet.address, deployer)

    def ensure(self, deployer: str, deposit_uact: int, log: Log, *, mint: bool = False,
               budget: Budget | None = None) -> None:
        """Make sure ``deployer`` can pay gas and a deposit of ``deposit_uact``; one transaction at most.

        ``mint``: mint ACT even though the balance looked enough (a deposit was just refused for want of
        it: deposits of other deploys in flight had not reached the balance yet).
        ``budget``: the project's own budget instead of the installation's (``policy.deposit_limit_uact``).
        """
        p = self.policy
        limit = budget.uact if budget else p.deposit_limit_uact
        named = "the project's Akash budget" if budget else "SLIPWAY_AKASH_BUDGET"
        with self._lock, self._shared_lock():
            now = datetime.now(timezone.utc)
            renew_at = now + timedelta(days=p.renew_before_days)
            grants = self.grants_of(deployer)
            fee_ok = (grants.fee_left is not None and grants.fee_left >= p.gas_allowance_uakt // 10
                      and (grants.fee_expires is None or grants.fee_expires > renew_at))
            deposit_live = (grants.deposit_left is not None
                            and (grants.deposit_expires is None or grants.deposit_expires > renew_at))
            msgs: list[Message] = []
            # What the budget allows now: a total one, the budget less what the project's deployments
            # drew for good, read from the chain (so changing it, or a deploy that failed after a
            # change, never grants more than the budget); a monthly one (or the installation's), its limit.
            total = bool(budget and budget.total)
            allowed = budget.uact - int(self.lcd.drawn(deployer)) if total else limit
            if deposit_live and max(allowed, 0) != grants.deposit_left and (total or allowed < grants.deposit_left):
                # Raised or lowered since the grant: a new DepositAuthorization replaces the old one
                # (same expiry), or, with nothing left, the grant goes.
                verb = "raising" if allowed > grants.deposit_left else "lowering"
                log(f"the project's budget of {limit} uact allows {max(allowed, 0)} uact of deposits, its wallet's "
                    f"grant {grants.deposit_left} uact: {verb} the grant")
                if allowed > 0:
                    msgs.append(messages.grant_deposit_authorization(self.wallet.address, deployer, allowed,
                                                                     grants.deposit_expires))
                else:
                    msgs.append(messages.revoke_deposit_authorization(self.wallet.address, deployer))
                grants = replace(grants, deposit_left=max(allowed, 0))
            deposit_ok = deposit_live and grants.deposit_left >= deposit_uact
            if deposit_live and not deposit_ok:
                if msgs:  # the grant comes down to the budget even though this deposit is refused
                    _included(self.signer, self.lcd, self.wallet, msgs, self.tx_timeout_s)
                    self.transactions += 1
                # The budget of this grant period is spent: no new grant before the period ends.
                raise BudgetSpent(f"the project has drawn its budget of {limit} uact "
                                  f"({named}) for deposits until {grants.deposit_expires:%Y-%m-%d}: "
                                  f"{grants.deposit_left} uact are left, {deposit_uact} are needed")
            mint = self._mint_message(deposit_uact, log, force=mint)
            if mint is not None:
                msgs.append(mint)
            expiration = now + timedelta(days=p.valid_days)
            # A total budget is one grant for the project's life; a monthly one is renewed every period.
            deposit_expiration = now + timedelta(days=TOTAL_VALID_DAYS) if budget and budget.total else expiration
            if not fee_ok:
                if grants.fee_left is not None:  # the feegrant module keeps one allowance per pair
                    msgs.append(messages.revoke_fee_allowance(self.wallet.address, deployer))
                msgs.append(messages.grant_fee_allowance(self.wallet.address, deployer, p.gas_allowance_uakt, expiration))
                log(f"{'renewing' if grants.fee_left is not None else 'granting'} the project's wallet "
                    f"{p.gas_allowance_uakt} uakt of gas from the funding wallet, until {expiration:%Y-%m-%d}")
            if not deposit_ok:
                if deposit_uact > allowed:
                    left = f", {max(allowed, 0)} uact of it are left" if total else ""
                    raise BudgetSpent(f"a deposit of {deposit_uact} uact is above the budget of "
                                      f"{limit} uact ({named}){left}")
                msgs.append(messages.grant_deposit_authorization(self.wallet.address, deployer, allowed,
                                                                 deposit_expiration))
                log(f"{'renewing' if grants.deposit_left is not None else 'granting'} the project's wallet "
                    f"up to {allowed} uact of deposits from the funding wallet, until {deposit_expiration:%Y-%m-%d}")
            if not msgs:
                log("the project's wallet already has live grants for gas and deposits")
                return
            before = self.lcd.balance(self.wallet.address, messages.DEPOSIT_DENOM)
            _included(self.signer, self.lcd, self.wallet, msgs, self.tx_timeout_s)
            self.transactions += 1
            if mint is not None:
                self._wait_for_act(before, deposit_uact, log)

    def refund(self, deployer: str, uact: int, log: Log, budget: Budget | None = None) -> None:
        """Give back to the project's budget what a closed deployment returned to the funding wallet
        (the chain refunds the granter, not the grant): the grant is rewritten, same expiry, never
        above the budget (``budget``, else the installation's)."""
        if uact <= 0:
            return
        with self._lock, self._shared_lock():
            grants = self.grants_of(deployer)
            if grants.deposit_left is None or grants.deposit_expires is None:
                return
            limit = min(budget.uact if budget else self.policy.deposit_limit_uact, grants.deposit_left + uact)
            if limit <= grants.deposit_left:
                return
            msg = messages.grant_deposit_authorization(self.wallet.address, deployer, limit, grants.deposit_expires)
            _included(self.signer, self.lcd, self.wallet, [msg], self.tx_timeout_s)
            self.transactions += 1
            log(f"{limit - grants.deposit_left} uact returned to the project's budget ({limit} uact left)")

    def _mint_message(self, deposit_uact: int, log: Log, force: bool = False) -> MsgMintACT | None:
        p = self.policy
        uact = self.lcd.balance(self.wallet.address, messages.DEPOSIT_DENOM)
        if uact >= deposit_uact and not force:
            return None
        uakt = self.lcd.balance(self.wallet.address, messages.GAS_DENOM)
        burn = min(p.mint_uakt, uakt - p.akt_reserve_uakt)
        if burn <= 0:
            raise FundingError(f"the funding wallet {self.wallet.address} has {uact} uact, less than the "
                               f"{deposit_uact} uact deposit, and {uakt} uakt, no more than its reserve of "
                               f"{p.akt_reserve_uakt} uakt: send it AKT")
        why = "deposits in flight need more" if uact >= deposit_uact else "less than the deposit"
        log(f"the funding wallet has {uact} uact, {why}: minting ACT from {burn} uakt")
        return MsgMintACT(owner=self.wallet.address, to=self.wallet.address,
                          coins_to_burn=messages.coin(burn, messages.GAS_DENOM))

    def _wait_for_act(self, before: int, wanted: int, log: Log) -> None:
        deadline = time.monotonic() + self.policy.mint_wait_s
        while time.monotonic() < deadline:
            now = self.lcd.balance(self.wallet.address, messages.DEPOSIT_DENOM)
            if now > before:
                log(f"minted: the funding wallet has {now} uact")
                return
            time.sleep(0.5)
        raise FundingError(f"the ACT minted by the funding wallet did not arrive within "
                           f"{int(self.policy.mint_wait_s)} s (is minting halted on this network?)")
