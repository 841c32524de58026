"""The provider API (akash-network/provider ``gateway/rest``), served by a devnet provider.

Routes, statuses and bodies follow the real gateway: auth errors are JSON ``{"message": ...}``
(``DefaultErrorHandler``), other errors plain text with a newline (Go's ``http.Error``), a lease
with no manifest is a bare 404, and streams (logs, kube events) are websockets that end with the
gateway's close codes (4001 lease not found, 4000 "no running pods").
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, Response, g, request
from flask_sock import Sock

from devnet.provider.auth import AuthError, authenticate, unauthorized
from devnet.provider.chainview import LeaseID

MAX_MANIFEST_BYTES = 8 * 1024 * 1024
log = logging.getLogger(__name__)

WS_INTERNAL_ERROR = 4000
WS_LEASE_NOT_FOUND = 4001
_UINT64, _UINT32 = 2**64 - 1, 2**32 - 1

PUBLIC_ENDPOINTS = {"version", "address", "status"}
# endpoint -> the permission scope the JWT must grant (chain-sdk util/jwt PermissionScope)
SCOPES = {
    "manifest": "send-manifest",
    "get_manifest": "get-manifest",
    "lease_status": "status",
    "service_status": "status",  # the gateway checks no scope here; status is the closest
    "logs": "logs",
    "kubeevents": "events",
}
STREAMS = {"logs", "kubeevents"}


class ManifestRefused(Exception):
    """A manifest the provider will not run: the gateway's status and text."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


def go_error(text: str, status: int) -> Response:
    """Go's ``http.Error``."""
    resp = Response(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def auth_error(err: AuthError) -> Response:
    return Response(json.dumps({"message": err.message}), status=err.status, content_type="application/json")


def json_response(value: Any) -> Response:
    return Response(json.dumps(value, separators=(",", ":")), content_type="application/json; charset=UTF-8")


def _no_constant(name: str):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _uint(text: str, limit: int, name: str) -> int:
    if not text.isdigit() or int(text) > limit:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax' if not text.isdigit()
                         else f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def create_gateway(provider) -> Flask:
    """``provider``: a ``devnet.provider.service.DevnetProvider`` (address, chain, cluster, manifests)."""
    app = Flask(f"devnet-provider-{provider.name}")
    app.config["MAX_CONTENT_LENGTH"] = MAX_MANIFEST_BYTES
    sock = Sock(app)

    @app.errorhandler(404)
    def not_found(_err):
        return go_error("404 page not found", 404)  # gorilla/mux's answer

    @app.errorhandler(405)
    def not_allowed(_err):
        return Response(b"", status=405)

    @app.errorhandler(413)
    def too_large(_err):
        return go_error("http: request body too large", 413)

    @app.errorhandler(500)
    def internal(err):
        log.error("provider %s: %s", provider.name, getattr(err, "original_exception", err))
        return go_error("internal error", 500)

    @app.before_request
    def authorize():
        try:
            g.claims = authenticate(request.headers.get("Authorization"), provider.public_key)
        except AuthError as err:
            return auth_error(err)
        endpoint = request.endpoint or ""
        if endpoint in PUBLIC_ENDPOINTS or request.url_rule is None:
            return None
        claims = g.claims
        if not claims.authorize_provider(provider.address) or not claims.issuer:
            return auth_error(unauthorized())
        args = request.view_args or {}
        try:
            dseq = _uint(args.get("dseq", ""), _UINT64, "dseq")
            gseq = _uint(args["gseq"], _UINT32, "gseq") if "gseq" in args else 0
            oseq = _uint(args["oseq"], _UINT32, "oseq") if "oseq" in args else 0
        except ValueError as exc:
            return go_error(str(exc), 400)
        if "gseq" in args:
            g.lease = LeaseID(claims.issuer, dseq, gseq, oseq, provider.address)
        g.dseq = dseq
        if not claims.authorize(claims.issuer, provider.address, SCOPES.get(endpoint, "status"), dseq, gseq, oseq):
            return auth_error(unauthorized())
        if endpoint in STREAMS:
            return _stream_params()
        return None

    def _stream_params():
        services = request.args.get("service", "")
        if services.endswith(","):
            return go_error('parameter "service" must not contain trailing comma', 400)
        follow = request.args.get("follow", "")
        if follow and follow.lower() not in ("1", "t", "true", "0", "f", "false"):
            return go_error(f'strconv.ParseBool: parsing "{follow}": invalid syntax', 400)
        g.follow = follow.lower() in ("1", "t", "true")
        tail = request.args.get("tail", "")
        g.tail = None
        if tail:
            try:
                value = int(tail)
            except ValueError:
                return go_error(f'strconv.ParseInt: parsing "{tail}": invalid syntax', 400)
            if value < -1:
                return go_error('parameter "tail" contains invalid value', 400)
            g.tail = value if value > -1 else None
        g.services = [s for s in services.split(",") if s]
        return None

    @app.get("/version")
    def version():
        return json_response({"akash": provider.version_info(), "kube": None})

    @app.get("/address")
    def address():
        return json_response({"address": provider.address})

    @app.get("/status")
    def status():
        return json_response(provider.status())

    @app.put("/deployment/<dseq>/manifest")
    def manifest(dseq: str):
        try:
            body = json.loads(request.get_data() or b"null", parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:  # Go's decoder refuses NaN/Infinity too
            return go_error(f"invalid character in manifest JSON: {str(exc)[:200]}", 422)
        if not isinstance(body, list):
            return go_error("json: cannot unmarshal into Go value of type v2beta3.Manifest", 422)
        try:
            provider.submit_manifest(g.claims.issuer, g.dseq, body)
        except ManifestRefused as refused:
            return go_error(refused.text, refused.status)
        return Response(b"", status=200)

    @app.get("/lease/<dseq>/<gseq>/<oseq>/manifest")
    def get_manifest(dseq: str, gseq: str, oseq: str):
        group = provider.cluster.manifest_group(g.lease)
        if group is None:
            return go_error("lease not found", 404)
        return json_response([group])

    @app.get("/lease/<dseq>/<gseq>/<oseq>/status")
    def lease_status(dseq: str, gseq: str, oseq: str):
        found = provider.cluster.service_status(g.lease)
        if found is None:  # no manifest: no lease, as far as the gateway knows
            return Response(b"", status=404)
        services, forwarded = found
        return json_response({"services": services, "forwarded_ports": forwarded or None, "ips": None})

    @app.get("/lease/<dseq>/<gseq>/<oseq>/service/<service>/status")
    def service_status(dseq: str, gseq: str, oseq: str, service: str):
        found = provider.cluster.service_status(g.lease)
        if found is None or service not in found[0]:
            return go_error("no service for that lease", 404) if found else go_error("lease not found", 404)
        return json_response(found[0][service])

    @sock.route("/lease/<dseq>/<gseq>/<oseq>/logs")
    def logs(ws, dseq: str, gseq: str, oseq: str):
        lines = provider.cluster.logs(g.lease, g.services, g.follow, g.tail) \
            if provider.cluster.has_manifest(g.lease) else False
        if lines is False:
            ws.close(WS_LEASE_NOT_FOUND, "")
            return
        if lines is None:
            ws.close(WS_INTERNAL_ERROR, "no running pods")
            return
        try:
            for line in lines:
                if line is not None:
                    ws.send(json.dumps(line))
                elif not ws.connected:  # the client left while the service was quiet
                    return
        finally:
            lines.close()
        ws.close(1000, "")

    @sock.route("/lease/<dseq>/<gseq>/<oseq>/kubeevents")
    def kubeevents(ws, dseq: str, gseq: str, oseq: str):
        sent = 0
        while True:
            events = provider.cluster.events(g.lease)
            if events is None:
                ws.close(WS_LEASE_NOT_FOUND if sent == 0 else 1000, "")
                return
            for event in events[sent:]:
                ws.send(json.dumps(event))
            sent = len(events)
            if not g.follow:
                ws.close(1000, "")
                return
            if ws.receive(timeout=0.5) is None and not ws.connected:
                return
            time.sleep(0)

    return app
