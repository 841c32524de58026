"""Reads from an Akash node's REST (LCD) API, as JSON: what the target needs besides signing.

Every Akash node serves this gateway (``/cosmos/...``, ``/akash/...``); the local network's
node serves the same paths. Amounts come back as JSON strings; prices (LegacyDec) either as
decimals ("100.000000000000000000") or, from some gateways, as the 18-decimal integer form.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from deployer.akash.chain import TxResult
from deployer.akash.messages import from_legacy_dec


class LcdError(RuntimeError):
    """The node could not be read (down, or an answer Slipway does not understand)."""


@dataclass(frozen=True)
class Bid:
    provider: str
    gseq: int
    oseq: int
    bseq: int
    price: Decimal  # uact per block
    denom: str
    raw_id: dict


@dataclass(frozen=True)
class Grants:
    """What the funding wallet has granted one deployer wallet, as the chain holds it now."""

    fee_left: int | None  # uakt; None: no allowance
    fee_expires: datetime | None
    deposit_left: int | None  # uact; None: no DepositAuthorization
    deposit_expires: datetime | None


def price_value(amount: str) -> Decimal:
    text = str(amount or "0")
    return Decimal(text) if "." in text else from_legacy_dec(text)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Lcd:
    def __init__(self, url: str, timeout_s: float = 15.0):
        # Slipway's chain URLs name their protocol (rest+https://...); the gateway itself is plain HTTP(S).
        self.url = url.removeprefix("rest+").rstrip("/")
        self.timeout_s = timeout_s
        self._http = requests.Session()
        # Reads only, so asking again is safe: a kept-alive connection the node (or a load balancer in
        # front of it) closed just as it was reused, or a refused connect, is tried once more.
        retry = Retry(total=2, connect=2, read=1, status=0, other=0, redirect=0, backoff_factor=0.2,
                      allowed_methods=frozenset({"GET"}), raise_on_status=False)
        for scheme in ("http://", "https://"):
            self._http.mount(scheme, HTTPAdapter(max_retries=retry))

    def get(self, path: str, **params: Any) -> dict | None:
        """The JSON answer, or None when the node says the thing does not exist."""
        try:
            resp = self._http.get(self.url + path, params=params, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise LcdError(f"the Akash node at {self.url} does not answer ({type(exc).__name__})") from None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise LcdError(f"the Akash node answered {resp.status_code} to {path}: {resp.text[:200]}")
        return resp.json()

    # -- blocks and transactions -----------------------------------------------------
    def height(self) -> int:
        block = self.get("/cosmos/base/tendermint/v1beta1/blocks/latest") or {}
        return int(block["block"]["header"]["height"])

    def tx(self, txhash: str) -> TxResult | None:
        found = self.get(f"/cosmos/tx/v1beta1/txs/{txhash}")
        if found is None:
            return None
        r = found["tx_response"]
        return TxResult(r["txhash"], int(r.get("code") or 0), r.get("raw_log", ""), r.get("codespace", ""),
                        int(r.get("height") or 0), int(r.get("gas_wanted") or 0), int(r.get("gas_used") or 0))

    def wait_tx(self, txhash: str, timeout_s: float, pause_s: float = 0.2,
                should_stop: Callable[[], bool] = lambda: False) -> TxResult | None:
        """The included transaction's result; None if it was not included in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.tx(txhash)
            if result is not None or time.monotonic() >= deadline or should_stop():
                return result
            time.sleep(pause_s)

    # -- bank, grants --------------------------------------------------------------
    def balance(self, address: str, denom: str) -> int:
        found = self.get(f"/cosmos/bank/v1beta1/balances/{address}/by_denom", denom=denom) or {}
        return int((found.get("balance") or {}).get("amount") or 0)

    def grants(self, granter: str, grantee: str) -> Grants:
        fee_left = fee_expires = deposit_left = deposit_expires = None
        found = self.get(f"/cosmos/feegrant/v1beta1/allowance/{granter}/{grantee}")
        if found and found.get("allowance"):
            allowance = found["allowance"].get("allowance") or {}
            fee_left = sum(int(c["amount"]) for c in allowance.get("spend_limit") or [] if c["denom"] == "uakt")
            fee_expires = _time(allowance.get("expiration"))
        try:
            authz = self.get("/cosmos/authz/v1beta1/grants", granter=granter, grantee=grantee) or {}
        except LcdError:
            authz = {}  # some nodes answer an error instead of an empty list
        for grant in authz.get("grants") or []:
            authorization = grant.get("authorization") or {}
            if authorization.get("@type") == "/akash.escrow.v1.DepositAuthorization":
                deposit_left = sum(int(c["amount"]) for c in authorization.get("spend_limits") or []
                                   if c["denom"] == "uact")
                deposit_expires = _time(grant.get("expiration"))
        return Grants(fee_left, fee_expires, deposit_left, deposit_expires)

    # -- deployments, market ----------------------------------------------------------
    def deployment(self, owner: str, dseq: int) -> dict | None:
        """``{"deployment": {..., "state": "active"|"closed", "hash"}, "groups": [...], "escrow_account": ...}``."""
        return self.get("/akash/deployment/v1beta4/deployments/info", **{"id.owner": owner, "id.dseq": dseq})

    def escrow_left(self, owner: str, dseq: int) -> Decimal | None:
        """uact left in the deployment's escrow account; None if it has none."""
        found = self.deployment(owner, dseq)
        state = ((found or {}).get("escrow_account") or {}).get("state") or {}
        funds = [f for f in state.get("funds") or [] if f.get("denom") == "uact"]
        return sum((price_value(f["amount"]) for f in funds), Decimal(0)) if found and state else None

    def deployment_active(self, owner: str, dseq: int) -> bool:
        found = self.deployment(owner, dseq)
        return bool(found) and found["deployment"].get("state") == "active"

    def active_deployments(self, owner: str) -> list[int]:
        found = self.get("/akash/deployment/v1beta4/deployments/list",
                         **{"filters.owner": owner, "filters.state": "active", "pagination.limit": 1000}) or {}
        return sorted(int(d["deployment"]["id"]["dseq"]) for d in found.get("deployments") or [])

    def drawn(self, owner: str) -> Decimal:
        """uact the owner's deployments, open and closed, drew for good: paid to providers, plus what
        the open ones still hold in escrow (what closed ones held went back to their depositors)."""
        found = self.get("/akash/deployment/v1beta4/deployments/list",
                         **{"filters.owner": owner, "pagination.limit": 1000}) or {}
        total = Decimal(0)
        for item in found.get("deployments") or []:
            state = (item.get("escrow_account") or {}).get("state") or {}
            for key in ("transferred", "funds"):
                total += sum((price_value(c["amount"]) for c in state.get(key) or [] if c.get("denom") == "uact"),
                             Decimal(0))
        return total

    def bids(self, owner: str, dseq: int) -> list[Bid]:
        found = self.get("/akash/market/v1beta5/bids/list",
                         **{"filters.owner": owner, "filters.dseq": dseq, "filters.state": "open"}) or {}
        out = []
        for item in found.get("bids") or []:
            bid = item["bid"]
            ident = bid.get("id") or bid.get("bid_id")
            out.append(Bid(ident["provider"], int(ident["gseq"]), int(ident["oseq"]), int(ident.get("bseq") or 0),
                           price_value(bid["price"]["amount"]), bid["price"]["denom"], ident))
        return out

    def leases(self, owner: str, dseq: int, state: str = "active") -> list[dict]:
        params = {"filters.owner": owner, "filters.dseq": dseq}
        if state:
            params["filters.state"] = state
        found = self.get("/akash/market/v1beta5/leases/list", **params) or {}
        return [item["lease"] for item in found.get("leases") or []]

    def provider_host_uri(self, provider: str) -> str | None:
        found = self.get(f"/akash/provider/v1beta4/providers/{provider}")
        return (found or {}).get("provider", {}).get("host_uri")

    def certificates(self, owner: str) -> list[bytes]:
        """The owner's valid (not revoked) certificates on chain (x/cert), as PEM."""
        found = self.get("/akash/cert/v1/certificates/list",
                         **{"filter.owner": owner, "filter.state": "valid", "pagination.limit": 100}) or {}
        return [base64.b64decode((item.get("certificate") or {}).get("cert") or "")
                for item in found.get("certificates") or []]
