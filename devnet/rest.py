"""The devnet's REST API: the paths and JSON of a Cosmos SDK / Akash node's gRPC gateway.

JSON is protojson as the gateway writes it (proto field names, defaults emitted, 64-bit integers
as strings, enums by name, ``@type`` in Any); errors are the gateway's ``{code, message,
details}`` with the gRPC status code and its HTTP status. Request bodies and query parameters
are read with either proto or JSON (camelCase) field names, as the gateway reads them.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable

from cosmpy.protos.cosmos.auth.v1beta1.auth_pb2 import BaseAccount
from cosmpy.protos.cosmos.auth.v1beta1.query_pb2 import QueryAccountResponse
from cosmpy.protos.cosmos.authz.v1beta1.authz_pb2 import Grant
from cosmpy.protos.cosmos.bank.v1beta1.query_pb2 import QueryAllBalancesResponse, QueryBalanceResponse
from cosmpy.protos.cosmos.base.abci.v1beta1.abci_pb2 import TxResponse
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin
from cosmpy.protos.cosmos.feegrant.v1beta1.feegrant_pb2 import Grant as FeeGrant
from cosmpy.protos.cosmos.tx.v1beta1.service_pb2 import (
    BroadcastTxRequest,
    BroadcastTxResponse,
    GetTxResponse,
    SimulateRequest,
    SimulateResponse,
)
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import AuthInfo, Tx, TxBody
from flask import Flask, Response, request
from google.protobuf import json_format
from google.protobuf.message import Message
from werkzeug.serving import WSGIRequestHandler, make_server

from deployer.akash.messages import legacy_dec_json, map_legacy_decs
from deployer.akash.proto.akash.audit.v1.audit_pb2 import AuditedProvider
from deployer.akash.proto.akash.audit.v1.audit_pb2 import QueryProvidersResponse as QueryAuditResponse
from deployer.akash.proto.akash.bme.v1.params_pb2 import Params as BmeParams
from deployer.akash.proto.akash.bme.v1.query_pb2 import QueryParamsResponse as BmeParamsResponse
from deployer.akash.proto.akash.bme.v1.query_pb2 import QueryStatusResponse
from deployer.akash.proto.akash.bme.v1.types_pb2 import MintStatus
from deployer.akash.proto.akash.deployment.v1.deployment_pb2 import Deployment
from deployer.akash.proto.akash.deployment.v1beta4.group_pb2 import Group
from deployer.akash.proto.akash.deployment.v1beta4.query_pb2 import (
    QueryDeploymentRequest,
    QueryDeploymentResponse,
    QueryDeploymentsRequest,
    QueryDeploymentsResponse,
)
from deployer.akash.proto.akash.escrow.id.v1.id_pb2 import Scope
from deployer.akash.proto.akash.escrow.types.v1.account_pb2 import Account as EscrowAccount
from deployer.akash.proto.akash.escrow.types.v1.payment_pb2 import Payment
from deployer.akash.proto.akash.escrow.v1.query_pb2 import (
    QueryAccountsRequest,
    QueryAccountsResponse,
    QueryPaymentsRequest,
    QueryPaymentsResponse,
)
from deployer.akash.proto.akash.market.v1.lease_pb2 import Lease
from deployer.akash.proto.akash.market.v1beta5.bid_pb2 import Bid
from deployer.akash.proto.akash.market.v1beta5.order_pb2 import Order
from deployer.akash.proto.akash.market.v1beta5.query_pb2 import (
    QueryBidRequest,
    QueryBidResponse,
    QueryBidsRequest,
    QueryBidsResponse,
    QueryLeaseRequest,
    QueryLeaseResponse,
    QueryLeasesRequest,
    QueryLeasesResponse,
    QueryOrdersRequest,
    QueryOrdersResponse,
)
from deployer.akash.proto.akash.provider.v1beta4.provider_pb2 import Provider
from deployer.akash.proto.akash.provider.v1beta4.query_pb2 import QueryProviderResponse, QueryProvidersResponse
from devnet import app as appmod
from devnet import config
from devnet.chain import Chain
from devnet.errors import ChainError
from devnet.store import Cache

# gRPC status codes and the gateway's HTTP status for each.
INVALID_ARGUMENT, NOT_FOUND, UNKNOWN = 3, 5, 2
HTTP_STATUS = {2: 500, 3: 400, 5: 404, 12: 501, 13: 500}


class GatewayError(Exception):
    def __init__(self, grpc_code: int, message: str):
        self.grpc_code, self.message = grpc_code, message
        super().__init__(message)


def to_json(msg: Message) -> dict:
    """protojson as the gateway writes it; LegacyDec amounts as decimals, as gogoproto's JSON gives them."""
    shown = type(msg)()
    shown.CopyFrom(msg)
    map_legacy_decs(shown, legacy_dec_json)
    return json_format.MessageToDict(shown, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _reply(payload: dict, status: int = 200) -> Response:
    import json

    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _query_request(cls: type[Message]) -> Message:
    """A request message from query parameters (``filters.owner=...``, ``pagination.limit=...``)."""
    nested: dict = {}
    for key, value in request.args.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    try:
        return json_format.ParseDict(nested, cls(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        raise GatewayError(INVALID_ARGUMENT, f"invalid query parameters: {exc}") from None


def _body_request(cls: type[Message]) -> Message:
    try:
        return json_format.Parse(request.get_data(as_text=True) or "{}", cls())
    except json_format.ParseError as exc:
        raise GatewayError(INVALID_ARGUMENT, str(exc)) from None


def _page(items: list, req: Message | None) -> tuple[list, dict]:
    """Offset/limit pagination (the gateway's PageRequest), total when asked for."""
    pagination = getattr(req, "pagination", None) if req is not None else None
    offset = int(pagination.offset) if pagination is not None else 0
    limit = int(pagination.limit) if pagination is not None and pagination.limit else 100
    page = items[offset:offset + limit]
    more = offset + limit < len(items)
    next_key = base64.b64encode(str(offset + limit).encode()).decode() if more else None
    return page, {"next_key": next_key, "total": str(len(items))}


def _with_page(response: dict, page_info: dict) -> dict:
    response["pagination"] = page_info
    return response


def _matches(value, wanted) -> bool:
    return not wanted or value == wanted


def create_rest_app(chain: Chain) -> Flask:
    api = Flask("devnet-rest")
    api.config["JSON_SORT_KEYS"] = False

    def read(fn: Callable[[Cache], object]):
        return chain.read(fn)

    @api.errorhandler(GatewayError)
    def gateway_error(err: GatewayError):
        return _reply({"code": err.grpc_code, "message": err.message, "details": []}, HTTP_STATUS.get(err.grpc_code, 500))

    @api.errorhandler(404)
    def not_found(_err):
        return _reply({"code": 5, "message": "Not Implemented", "details": []}, 501)

    @api.errorhandler(405)
    def not_allowed(_err):
        return _reply({"code": 12, "message": "Method Not Allowed", "details": []}, 405)

    # -- cosmos: auth, bank --------------------------------------------------------
    @api.get("/cosmos/auth/v1beta1/accounts/<address>")
    def account(address: str):
        acc = read(lambda s: s.get_msg(appmod.k_account(address), BaseAccount))
        if acc is None:
            raise GatewayError(NOT_FOUND, f"account {address} not found")
        response = QueryAccountResponse()
        response.account.Pack(acc, type_url_prefix="/")
        return _reply(to_json(response))

    @api.get("/cosmos/bank/v1beta1/balances/<address>")
    def balances(address: str):
        coins = read(lambda s: chain.app.balances(s, address))
        page, info = _page(coins, _query_request_lenient())
        return _reply(_with_page(to_json(QueryAllBalancesResponse(balances=page)), info))

    @api.get("/cosmos/bank/v1beta1/balances/<address>/by_denom")
    def balance(address: str):
        denom = request.args.get("denom", "")
        amount = read(lambda s: chain.app.balance(s, address, denom))
        response = QueryBalanceResponse()
        response.balance.denom, response.balance.amount = denom, str(amount)
        return _reply(to_json(response))

    # -- cosmos: tx ----------------------------------------------------------------
    @api.post("/cosmos/tx/v1beta1/simulate")
    def simulate():
        req = _body_request(SimulateRequest)
        tx_bytes = req.tx_bytes or (req.tx.SerializeToString() if req.HasField("tx") else b"")
        try:
            gas_used = chain.simulate(tx_bytes)
        except ChainError as err:
            raise GatewayError(UNKNOWN, f"{err.log} With gas wanted: '0' and gas used: '0' ") from None
        response = SimulateResponse()
        response.gas_info.gas_used = gas_used
        response.result.SetInParent()
        return _reply(to_json(response))

    @api.post("/cosmos/tx/v1beta1/txs")
    def broadcast():
        req = _body_request(BroadcastTxRequest)
        if not req.tx_bytes:
            raise GatewayError(INVALID_ARGUMENT, "invalid empty tx")
        result = chain.broadcast(req.tx_bytes)
        response = BroadcastTxResponse(
            tx_response=TxResponse(
                txhash=result.hash, code=result.code, codespace=result.codespace, raw_log=result.log,
                gas_wanted=result.gas_wanted, gas_used=result.gas_used,
            )
        )
        return _reply(to_json(response))

    @api.get("/cosmos/tx/v1beta1/txs/<txhash>")
    def get_tx(txhash: str):
        included = chain.tx(txhash)
        if included is None:
            raise GatewayError(NOT_FOUND, f"tx not found: {txhash}")
        return _reply(tx_json(included))

    # -- cosmos: feegrant, authz ------------------------------------------------------
    @api.get("/cosmos/feegrant/v1beta1/allowance/<granter>/<grantee>")
    def allowance(granter: str, grantee: str):
        grant = read(lambda s: s.get_msg(appmod.k_feegrant(granter, grantee), FeeGrant))
        if grant is None:
            raise GatewayError(NOT_FOUND, "fee-grant not found: not found")
        return _reply({"allowance": to_json(grant)})

    @api.get("/cosmos/feegrant/v1beta1/allowances/<grantee>")
    def allowances(grantee: str):
        grants = read(lambda s: [g for _, g in s.iter_msgs(f"feegrant/{grantee}/", FeeGrant)])
        page, info = _page(grants, _query_request_lenient())
        return _reply({"allowances": [to_json(g) for g in page], "pagination": info})

    @api.get("/cosmos/authz/v1beta1/grants")
    def grants():
        granter, grantee = request.args.get("granter", ""), request.args.get("grantee", "")
        msg_type = request.args.get("msg_type_url", "") or request.args.get("msgTypeUrl", "")
        if not granter or not grantee:
            raise GatewayError(INVALID_ARGUMENT, "empty address string is not allowed")
        found = read(lambda s: [
            g for key, g in s.iter_msgs(appmod.k_authz(granter, grantee), Grant)
            if _matches(key.split("/", 3)[3], msg_type)
        ])
        if msg_type and not found:
            raise GatewayError(NOT_FOUND, f"authorization not found for {msg_type} type")
        page, info = _page(found, _query_request_lenient())
        return _reply({"grants": [to_json(g) for g in page], "pagination": info})

    # -- cosmos: blocks, node --------------------------------------------------------
    @api.get("/cosmos/base/tendermint/v1beta1/blocks/latest")
    def latest_block():
        block = chain.block()
        return _reply(block_json(chain, block))

    @api.get("/cosmos/base/tendermint/v1beta1/blocks/<int:height>")
    def block_at(height: int):
        block = chain.block(height)
        if block is None:
            raise GatewayError(INVALID_ARGUMENT, "requested block height is bigger then the chain length")
        return _reply(block_json(chain, block))

    @api.get("/cosmos/base/tendermint/v1beta1/node_info")
    def node_info():
        return _reply({
            "default_node_info": {"network": chain.chain_id, "moniker": "slipway-devnet", "version": "0.38.0"},
            "application_version": {"name": "akash", "app_name": "akash", "version": "slipway-devnet"},
        })

    # -- akash: deployment ------------------------------------------------------------
    def deployment_response(s: Cache, deployment: Deployment) -> QueryDeploymentResponse:
        owner, dseq = deployment.id.owner, deployment.id.dseq
        response = QueryDeploymentResponse(deployment=deployment)
        response.groups.extend(g for _, g in s.iter_msgs(appmod.k_group(owner, dseq), Group))
        escrow = s.get_msg(appmod.k_escrow_account(Scope.deployment, appmod.deployment_xid(owner, dseq)), EscrowAccount)
        if escrow is not None:
            response.escrow_account.CopyFrom(escrow)
        return response

    @api.get("/akash/deployment/v1beta4/deployments/list")
    def deployments():
        req = _query_request(QueryDeploymentsRequest)
        f = req.filters

        def collect(s: Cache):
            prefix = appmod.k_deployment(f.owner) if f.owner else "deployment/"
            return [
                deployment_response(s, d) for _, d in s.iter_msgs(prefix, Deployment)
                if _matches(d.id.dseq, f.dseq) and _matches(Deployment.State.Name(d.state), f.state)
            ]

        page, info = _page(read(collect), req)
        return _reply(_with_page(to_json(QueryDeploymentsResponse(deployments=page)), info))

    @api.get("/akash/deployment/v1beta4/deployments/info")
    def deployment_info():
        req = _query_request(QueryDeploymentRequest)

        def one(s: Cache):
            d = s.get_msg(appmod.k_deployment(req.id.owner, req.id.dseq), Deployment)
            return None if d is None else deployment_response(s, d)

        response = read(one)
        if response is None:
            raise GatewayError(NOT_FOUND, "deployment not found")
        return _reply(to_json(response))

    # -- akash: market -----------------------------------------------------------------
    def _id_filter(f, obj_id) -> bool:
        return all(
            _matches(getattr(obj_id, name), getattr(f, name))
            for name in ("owner", "dseq", "gseq", "oseq", "provider", "bseq")
            if name in f.DESCRIPTOR.fields_by_name and name in obj_id.DESCRIPTOR.fields_by_name
        )

    def _prefix(kind: str, f) -> str:
        if not f.owner:
            return f"{kind}/"
        if not f.dseq:
            return f"{kind}/{f.owner}/"
        return f"{kind}/{f.owner}/{appmod._n(f.dseq)}/"

    @api.get("/akash/market/v1beta5/orders/list")
    def orders():
        req = _query_request(QueryOrdersRequest)
        f = req.filters
        found = read(lambda s: [
            o for _, o in s.iter_msgs(_prefix("order", f), Order)
            if _id_filter(f, o.id) and _matches(Order.State.Name(o.state), f.state)
        ])
        page, info = _page(found, req)
        return _reply(_with_page(to_json(QueryOrdersResponse(orders=page)), info))

    def bid_response(s: Cache, bid: Bid) -> QueryBidResponse:
        response = QueryBidResponse(bid=bid)
        escrow = s.get_msg(appmod.k_escrow_account(Scope.bid, appmod.bid_xid(bid.id)), EscrowAccount)
        if escrow is not None:
            response.escrow_account.CopyFrom(escrow)
        return response

    @api.get("/akash/market/v1beta5/bids/list")
    def bids():
        req = _query_request(QueryBidsRequest)
        f = req.filters
        found = read(lambda s: [
            bid_response(s, b) for _, b in s.iter_msgs(_prefix("bid", f), Bid)
            if _id_filter(f, b.id) and _matches(Bid.State.Name(b.state), f.state)
        ])
        page, info = _page(found, req)
        return _reply(_with_page(to_json(QueryBidsResponse(bids=page)), info))

    @api.get("/akash/market/v1beta5/bids/info")
    def bid_info():
        req = _query_request(QueryBidRequest)

        def one(s: Cache):
            b = s.get_msg(appmod.k_bid(req.id), Bid)
            return None if b is None else bid_response(s, b)

        response = read(one)
        if response is None:
            raise GatewayError(NOT_FOUND, "bid not found")
        return _reply(to_json(response))

    def lease_response(s: Cache, lease: Lease) -> QueryLeaseResponse:
        response = QueryLeaseResponse(lease=lease)
        xid = appmod.deployment_xid(lease.id.owner, lease.id.dseq)
        payment = s.get_msg(appmod.k_escrow_payment(Scope.deployment, xid, appmod.payment_xid(lease.id)), Payment)
        if payment is not None:
            response.escrow_payment.CopyFrom(payment)
        return response

    @api.get("/akash/market/v1beta5/leases/list")
    def leases():
        req = _query_request(QueryLeasesRequest)
        f = req.filters
        found = read(lambda s: [
            lease_response(s, le) for _, le in s.iter_msgs(_prefix("lease", f), Lease)
            if _id_filter(f, le.id) and _matches(Lease.State.Name(le.state), f.state)
        ])
        page, info = _page(found, req)
        return _reply(_with_page(to_json(QueryLeasesResponse(leases=page)), info))

    @api.get("/akash/market/v1beta5/leases/info")
    def lease_info():
        req = _query_request(QueryLeaseRequest)

        def one(s: Cache):
            le = s.get_msg(appmod.k_lease(req.id), Lease)
            return None if le is None else lease_response(s, le)

        response = read(one)
        if response is None:
            raise GatewayError(NOT_FOUND, "lease not found")
        return _reply(to_json(response))

    # -- akash: escrow -------------------------------------------------------------------
    def _escrow_list(kind: str, cls, req):
        state = req.state

        def collect(s: Cache):
            found = []
            for scope in (Scope.deployment, Scope.bid):
                for _, item in s.iter_msgs(f"escrow/{kind}/{scope}/", cls):
                    xid = item.id.xid if kind == "acc" else item.id.aid.xid
                    # xid selects by whole path segments: "owner" or "owner/dseq"
                    if req.xid and xid != req.xid and not xid.startswith(req.xid + "/"):
                        continue
                    from deployer.akash.proto.akash.escrow.types.v1.state_pb2 import State

                    if state and State.Name(item.state.state) != state:
                        continue
                    found.append(item)
            return found

        return read(collect)

    @api.get("/akash/escrow/v1/types/accounts")
    def escrow_accounts():
        req = _query_request(QueryAccountsRequest)
        page, info = _page(_escrow_list("acc", EscrowAccount, req), req)
        return _reply(_with_page(to_json(QueryAccountsResponse(accounts=page)), info))

    @api.get("/akash/escrow/v1/types/payments")
    def escrow_payments():
        req = _query_request(QueryPaymentsRequest)
        page, info = _page(_escrow_list("pay", Payment, req), req)
        return _reply(_with_page(to_json(QueryPaymentsResponse(payments=page)), info))

    # -- akash: provider, audit ------------------------------------------------------------
    @api.get("/akash/provider/v1beta4/providers")
    def providers():
        found = read(lambda s: [p for _, p in s.iter_msgs("provider/", Provider)])
        page, info = _page(found, _query_request_lenient())
        return _reply(_with_page(to_json(QueryProvidersResponse(providers=page)), info))

    @api.get("/akash/provider/v1beta4/providers/<owner>")
    def provider(owner: str):
        found = read(lambda s: s.get_msg(appmod.k_provider(owner), Provider))
        if found is None:
            raise GatewayError(NOT_FOUND, "invalid provider: address not found")
        return _reply(to_json(QueryProviderResponse(provider=found)))

    @api.get("/akash/audit/v1/audit/attributes/list")
    def audits():
        found = read(lambda s: [a for _, a in s.iter_msgs("audit/", AuditedProvider)])
        return _reply(_with_page(to_json(QueryAuditResponse(providers=found)), _page(found, None)[1]))

    @api.get("/akash/audit/v1/audit/attributes/<owner>/list")
    def audits_of(owner: str):
        found = read(lambda s: [a for _, a in s.iter_msgs(appmod.k_audit(owner), AuditedProvider)])
        return _reply(_with_page(to_json(QueryAuditResponse(providers=found)), _page(found, None)[1]))

    # -- akash: bme --------------------------------------------------------------------------
    @api.get("/akash/bme/v1/params")
    def bme_params():
        params = BmeParams(
            min_epoch_blocks=config.MINT_EPOCH_BLOCKS,
            mint_spread_bps=config.MINT_SPREAD_BPS,
            min_mint=[Coin(denom=config.DEPOSIT_DENOM, amount=str(config.MIN_MINT_UACT))],
        )
        return _reply(to_json(BmeParamsResponse(params=params)))

    @api.get("/akash/bme/v1/status")
    def bme_status():
        return _reply(to_json(QueryStatusResponse(
            status=MintStatus.mint_status_healthy, mints_allowed=True, refunds_allowed=True,
            collateral_ratio="1.000000000000000000", warn_threshold="0.950000000000000000",
            halt_threshold="0.900000000000000000",
        )))

    return api


def _query_request_lenient():
    """Pagination for list endpoints whose other parameters are path parts."""
    from cosmpy.protos.cosmos.base.query.v1beta1.pagination_pb2 import PageRequest

    class _Req:
        pagination = PageRequest(
            offset=int(request.args.get("pagination.offset", 0) or 0),
            limit=int(request.args.get("pagination.limit", 0) or 0),
        )

    return _Req()


def tx_json(included) -> dict:
    """``GetTxResponse``: the decoded transaction and its result."""
    from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import TxRaw

    raw = TxRaw.FromString(included.tx_bytes)
    tx = Tx(body=TxBody.FromString(raw.body_bytes), auth_info=AuthInfo.FromString(raw.auth_info_bytes),
            signatures=list(raw.signatures))
    o = included.outcome
    tx_response = TxResponse(
        height=included.height, txhash=included.hash, codespace=o.codespace, code=o.code, raw_log=o.log,
        gas_wanted=o.gas_wanted, gas_used=o.gas_used, timestamp=included.time,
    )
    tx_response.tx.Pack(tx, type_url_prefix="/")
    for event in o.events:
        ev = tx_response.events.add(type=event["type"])
        for attr in event["attributes"]:
            ev.attributes.add(key=attr["key"], value=attr["value"], index=attr.get("index", False))
    return to_json(GetTxResponse(tx=tx, tx_response=tx_response))


def block_json(chain: Chain, block) -> dict:
    if block is None:
        height, when, block_hash, _ = 0, "", "", 0
    else:
        height, when, block_hash, _ = block
    header = {
        "version": {"block": "11", "app": "0"},
        "chain_id": chain.chain_id,
        "height": str(height),
        "time": when,
        "last_block_id": {"hash": "", "part_set_header": {"total": 0, "hash": ""}},
        "proposer_address": "",
    }
    txs = [base64.b64encode(tx).decode() for tx in chain.block_txs(height)] if height else []
    body = {"header": header, "data": {"txs": txs}, "evidence": {"evidence": []}, "last_commit": None}
    hash_b64 = base64.b64encode(bytes.fromhex(block_hash)).decode() if block_hash else ""
    return {
        "block_id": {"hash": hash_b64, "part_set_header": {"total": 1, "hash": hash_b64}},
        "block": body,
        "sdk_block": body,
    }


class _QuietHandler(WSGIRequestHandler):
    """No access log: providers and clients poll every block."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class RestServer:
    """Serves the REST API on loopback from a thread."""

    def __init__(self, chain: Chain, host: str = "127.0.0.1", port: int = 1317):
        self._server = make_server(host, port, create_rest_app(chain), threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="devnet-rest", daemon=True)

    def start(self) -> RestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
