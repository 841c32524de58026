"""Custom domains with public names get their certificates over ACME, from a real CA: Pebble, Let's
Encrypt's test server (tests/support/acme.py), which validates each challenge against the test's own
Caddy (the front on SLIPWAY_PROXY_HTTP for HTTP-01, the router's TLS server on SLIPWAY_PROXY_HTTPS
for TLS-ALPN-01), for names its DNS sends to 127.0.0.1."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import replace

import pytest
from click.testing import CliRunner

from deployer.caddy import Acme, CaddyProxy, RouteTable, caddy_config
from slipway.cli import main
from slipway.errors import UserError
from slipway.proxy import proxy_from_settings
from slipway.settings import Settings
from tests.support.acme import pebble
from tests.support.pipeline import deploy, log_of, site_files
from tests.support.proxy import get, https_get, through_proxy

RELOAD_SETTLE_S = 5  # only bounds a failure
CERTIFICATE_WAIT_S = 40  # Pebble answers at once (PEBBLE_VA_NOSLEEP); this only bounds a failure


def _port(listen: str) -> int:
    return int(listen.rsplit(":", 1)[1])


def issuer_names(cert: dict) -> list[tuple[str, str]]:
    return [n for rdn in cert["issuer"] for n in rdn]


def status_within(url: str, wanted: int, seconds: float) -> int:
    """The status of GET ``url``, asked again (every 0.2 s) until it is ``wanted`` or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while (status := get(url).status_code) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    return status


def handshake(host: str, port: int) -> str:
    """One TLS handshake with SNI ``host``, unverified: what the server offers, or why it refused."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return tls.recv(65536).decode(errors="replace").splitlines()[0]
    except ssl.SSLError as exc:
        return f"refused: {exc.reason}"


# -- the configuration alone ------------------------------------------------------------------------

def test_public_names_get_an_acme_policy_for_the_ca_set_and_local_names_the_internal_ca():
    acme = Acme("https://ca.example/dir", "/etc/ca.pem", "ops@example.com", http_port=80)
    table = RouteTable(https={"shop.example.com": "127.0.0.1:3000", "shop.test": "127.0.0.1:3000"})
    policies = caddy_config(table, "unix//run/caddy.sock", "127.0.0.1:2030", "0.0.0.0:443",
                            acme)["apps"]["tls"]["automation"]["policies"]
    assert policies == [
        {"subjects": ["shop.test"], "issuers": [{"module": "internal"}]},
        {"subjects": ["shop.example.com"], "issuers": [{
            "module": "acme", "ca": "https://ca.example/dir", "email": "ops@example.com",
            "trusted_roots_pem_files": ["/etc/ca.pem"],
            # Where the CA connects: the front's HTTP port (not the router's), the TLS server's port.
            "challenges": {"http": {"alternate_port": 80}, "tls-alpn": {"alternate_port": 443}}}]},
    ]
    # No public name, no ACME policy; no CA set: Caddy's own default issuers, in its order.
    assert "tls" not in caddy_config(RouteTable(http={"a.localhost": "127.0.0.1:1"}), "x:1", "127.0.0.1:2", "127.0.0.1:3")
    default = caddy_config(RouteTable(https={"shop.example.com": "127.0.0.1:3000"}), "x:1", "127.0.0.1:2",
                           "127.0.0.1:8443")["apps"]["tls"]["automation"]["policies"][0]["issuers"]
    assert [i["module"] for i in default] == ["acme", "zerossl"] and not any("ca" in i for i in default)


def test_the_proxy_takes_the_acme_settings_and_the_fronts_port(tmp_path):
    s = Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_ACME_CA": "https://ca.example/dir",
                               "SLIPWAY_ACME_EMAIL": "ops@example.com", "SLIPWAY_PROXY_HTTP": "0.0.0.0:80"})
    assert proxy_from_settings(s).acme == Acme("https://ca.example/dir", "", "ops@example.com", http_port=80)


@pytest.mark.parametrize("value", ["acme-v02.api.letsencrypt.org/directory", "http://ca.example/dir"])
def test_an_acme_directory_that_is_not_an_https_url_is_refused_saying_what_to_give(tmp_path, value):
    with pytest.raises(UserError) as refused:
        Settings.load(environ={"SLIPWAY_DATA_DIR": str(tmp_path), "SLIPWAY_ACME_CA": value})
    assert refused.value.message_id == UserError.SETTINGS_ACME_CA
    assert f"SLIPWAY_ACME_CA is {value!r}" in str(refused.value) and "https://" in str(refused.value)


# -- through the real Caddy, with Pebble as the CA -----------------------------------------------------

@pytest.fixture(scope="module")
def ca(base_settings, tmp_path_factory):
    with pebble(tmp_path_factory.mktemp("pebble"), _port(base_settings.proxy_http),
                _port(base_settings.proxy_https)) as running:
        yield running


@pytest.fixture
def issuing_root(ca, tmp_path):
    return ca.issuing_root(tmp_path / "pebble-root.pem")


@pytest.mark.docker
@pytest.mark.one_proxy
def test_a_public_custom_domain_gets_a_certificate_from_the_acme_ca_and_goes_with_the_domain(
        settings, ca, issuing_root, site, send_webhook, run_worker):
    proxied = through_proxy(settings, acme_ca=ca.directory, acme_ca_root=str(ca.ca_root),
                            acme_email="ops@example.com")
    domain = f"shop-{site.name}.example.com"  # a name of its own: Caddy keeps certificates across runs
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "shop"))
    assert v1.state == "live", log_of(v1.id)
    result = CliRunner().invoke(main, ["domain", "add", site.name, domain])
    assert result.exit_code == 0, result.output
    https_port = _port(proxied.proxy_https)

    # Verified against Pebble's root (the system's CAs would not do), for the domain's name.
    answer, cert = https_get(domain, https_port, issuing_root, timeout_s=CERTIFICATE_WAIT_S)
    assert answer.startswith("HTTP/1.1 200") and answer.endswith("shop"), answer
    assert ("DNS", domain) in cert["subjectAltName"]
    assert any(k == "commonName" and v.startswith("Pebble Intermediate CA") for k, v in issuer_names(cert))

    result = CliRunner().invoke(main, ["domain", "remove", site.name, domain])
    assert result.exit_code == 0, result.output
    # Caddy drops the certificate with the name: it no longer completes a handshake for it at all.
    assert handshake(domain, https_port).startswith("refused: ")
    # Its plain-HTTP redirect goes too. Under load, the request right after a reload has once been
    # answered by the configuration being replaced (CI: a 308), so this allows the router a moment.
    assert status_within(f"http://{domain}:{_port(proxied.proxy_http)}/", 404, RELOAD_SETTLE_S) == 404


class OneChallenge(CaddyProxy):
    """The router's proxy with every ACME challenge type but ``kind`` turned off, so a certificate can
    only come through that one (Caddy otherwise picks one at random and falls back to the other)."""

    def __init__(self, kind: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def config(self, table: RouteTable) -> dict:
        config = super().config(table)
        for policy in config["apps"].get("tls", {}).get("automation", {}).get("policies", []):
            for issuer in policy["issuers"]:
                for kind, challenge in issuer["challenges"].items():
                    challenge["disabled"] = kind != self.kind
        return config


@pytest.mark.docker
@pytest.mark.one_proxy
@pytest.mark.parametrize("kind", ["http", "tls-alpn"])
def test_each_challenge_is_answered_where_the_ca_connects(settings, ca, issuing_root, site, send_webhook,
                                                          run_worker, kind):
    # HTTP-01 reaches the router through the front, which the router answers although it redirects
    # every other plain-HTTP request for the name; TLS-ALPN-01 is answered in the TLS handshake.
    v1 = deploy(send_webhook, run_worker, site, site_files(settings.registry, kind))  # no proxy: own port
    assert v1.state == "live", log_of(v1.id)
    domain = f"{kind}-{site.name}.example.com"
    s = replace(settings, acme_ca=ca.directory, acme_ca_root=str(ca.ca_root))
    acme = proxy_from_settings(replace(s, proxy="caddy")).acme
    caddy = OneChallenge(kind, s.proxy_admin, s.proxy_router, s.proxy_https, acme=acme)
    try:
        caddy.apply(RouteTable(https={domain: v1.target_ref["upstream"]}))
        answer, cert = https_get(domain, _port(s.proxy_https), issuing_root, timeout_s=CERTIFICATE_WAIT_S)
        assert answer.startswith("HTTP/1.1 200") and answer.endswith(kind), answer
        assert ("DNS", domain) in cert["subjectAltName"]
    finally:
        caddy.apply(RouteTable())
    # Pebble went through the front on SLIPWAY_PROXY_HTTP for HTTP-01 (and not at all for TLS-ALPN-01).
    asked_over_http = f"Attempting to validate w/ HTTP: http://{domain}:{_port(s.proxy_http)}/.well-known/acme-challenge/"
    assert (asked_over_http in ca.log.read_text()) == (kind == "http")
