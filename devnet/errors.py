"""Refusals the way a Cosmos SDK node reports them: codespace, code and the wrapped log.

The codes are the registered ones (cosmos-sdk ``types/errors``, x/feegrant, x/authz, and
akash-network/chain-sdk ``go/node/*/errors.go``); ``log`` reads like ``errorsmod.Wrap``:
``"<context>: <registered message>"``.
"""

from __future__ import annotations


class ChainError(Exception):
    def __init__(self, codespace: str, code: int, message: str, context: str = ""):
        self.codespace, self.code, self.message = codespace, code, message
        self.log = f"{context}: {message}" if context else message
        super().__init__(self.log)

    def wrap(self, context: str) -> ChainError:
        return ChainError(self.codespace, self.code, self.log, context)

    def followed_by(self, detail: str) -> ChainError:
        """Go's ``fmt.Errorf("%w: detail", err)``: the registered message first."""
        err = ChainError(self.codespace, self.code, self.message)
        err.log = f"{self.log}: {detail}"
        return err


def _kind(codespace: str, code: int, message: str):
    def make(context: str = "") -> ChainError:
        return ChainError(codespace, code, message, context)

    return make


# cosmos-sdk types/errors (codespace "sdk")
TX_DECODE = _kind("sdk", 2, "tx parse error")
INVALID_SEQUENCE = _kind("sdk", 3, "invalid sequence")
UNAUTHORIZED = _kind("sdk", 4, "unauthorized")
INSUFFICIENT_FUNDS = _kind("sdk", 5, "insufficient funds")
UNKNOWN_REQUEST = _kind("sdk", 6, "unknown request")
INVALID_ADDRESS = _kind("sdk", 7, "invalid address")
INVALID_PUBKEY = _kind("sdk", 8, "invalid pubkey")
UNKNOWN_ADDRESS = _kind("sdk", 9, "unknown address")
INVALID_COINS = _kind("sdk", 10, "invalid coins")
OUT_OF_GAS = _kind("sdk", 11, "out of gas")
INSUFFICIENT_FEE = _kind("sdk", 13, "insufficient fee")
TOO_MANY_SIGNATURES = _kind("sdk", 14, "maximum number of signatures exceeded")
NO_SIGNATURES = _kind("sdk", 15, "no signatures supplied")
INVALID_REQUEST = _kind("sdk", 18, "invalid request")
INVALID_TYPE = _kind("sdk", 29, "invalid type")
WRONG_SEQUENCE = _kind("sdk", 32, "incorrect account sequence")
NOT_FOUND = _kind("sdk", 38, "not found")

# x/bank
SEND_DISABLED = _kind("bank", 5, "send transactions are disabled")

# x/feegrant
FEE_LIMIT_EXCEEDED = _kind("feegrant", 2, "fee limit exceeded")
FEE_LIMIT_EXPIRED = _kind("feegrant", 3, "fee allowance expired")

# x/authz
AUTHORIZATION_NOT_FOUND = _kind("authz", 2, "authorization not found")
INVALID_EXPIRATION = _kind("authz", 3, "expiration time of authorization should be more than current time")
GRANTEE_IS_GRANTER = _kind("authz", 7, "grantee and granter should be different")

# akash deployment (go/node/deployment/v1/errors.go)
DEPLOYMENT_EXISTS = _kind("deployment", 3, "Deployment exists")
DEPLOYMENT_NOT_FOUND = _kind("deployment", 4, "Deployment not found")
DEPLOYMENT_CLOSED = _kind("deployment", 5, "Deployment closed")
INVALID_GROUPS = _kind("deployment", 7, "Invalid groups")
INVALID_DEPLOYMENT_ID = _kind("deployment", 8, "Invalid: deployment id")
EMPTY_HASH = _kind("deployment", 9, "Invalid: empty hash")
INVALID_HASH = _kind("deployment", 10, "Invalid: deployment hash")
DEPLOYMENT_INVALID_DEPOSIT = _kind("deployment", 20, "Deposit invalid")
INVALID_PRICE = _kind("deployment", 24, "invalid price")

# akash escrow (go/node/escrow/module/error.go)
ESCROW_ACCOUNT_CLOSED = _kind("escrow", 2, "account closed")
ESCROW_ACCOUNT_NOT_FOUND = _kind("escrow", 3, "account not found")
ESCROW_INVALID_DENOMINATION = _kind("escrow", 5, "invalid denomination")
UNAUTHORIZED_DEPOSIT_SCOPE = _kind("escrow", 15, "unauthorized deposit scope")
INVALID_AUTHZ_SCOPE = _kind("escrow", 17, "invalid authz scope")

# akash market (go/node/market/v1/errors.go)
SAME_ACCOUNT = _kind("market", 2, "owner and provider are the same account")
ATTRIBUTE_MISMATCH = _kind("market", 5, "attribute mismatch")
UNKNOWN_BID = _kind("market", 6, "unknown bid")
UNKNOWN_LEASE_FOR_BID = _kind("market", 8, "unknown lease for bid")
UNKNOWN_ORDER_FOR_BID = _kind("market", 9, "unknown order for bid")
LEASE_NOT_ACTIVE = _kind("market", 10, "lease not active")
BID_NOT_ACTIVE = _kind("market", 11, "bid not active")
BID_NOT_OPEN = _kind("market", 12, "bid not open")
ORDER_NOT_OPEN = _kind("market", 13, "bid: order not open")
ORDER_NOT_FOUND = _kind("market", 15, "invalid order: order not found")
BID_NOT_FOUND = _kind("market", 18, "invalid bid: bid not found")
GROUP_NOT_OPEN = _kind("market", 17, "group not open")
BID_ZERO_PRICE = _kind("market", 19, "invalid bid: zero price")
LEASE_NOT_FOUND = _kind("market", 20, "invalid lease: lease not found")
BID_EXISTS = _kind("market", 21, "invalid bid: bid exists from provider")
BID_INVALID_PRICE = _kind("market", 22, "bid price is invalid")
ORDER_ACTIVE = _kind("market", 23, "order active")
ORDER_CLOSED = _kind("market", 24, "order closed")
INVALID_BID = _kind("market", 31, "invalid bid")
MARKET_INVALID_DEPOSIT = _kind("market", 28, "deposit invalid")
UNKNOWN_PROVIDER = _kind("market", 30, "unknown provider")

# akash bme (go/node/bme/v1/errors.go)
BME_INVALID_DENOM = _kind("bme", 9, "invalid denomination")
BME_INVALID_SENDER = _kind("bme", 11, "invalid sender")
