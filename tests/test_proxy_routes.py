"""The routes to apps that run elsewhere (Akash): which provider address, which Host, TLS or not."""

from __future__ import annotations

import ipaddress

from deployer.caddy import RouteTable, Upstream, caddy_config
from slipway.proxy import route_of, upstream_of


def dns(names: dict[str, list[str]]):
    """A resolver that knows ``names`` only (the boundary route_of resolves through)."""
    def resolver(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            raise OSError(f"{host} does not resolve") from None
    return resolver


PROVIDER = dns({"abc123.ingress.provider.example": ["93.184.216.34", "1.1.1.1"],
                "evil.example": ["8.8.8.8", "127.0.0.1"], "inside.example": ["10.0.0.3"]})


def test_a_lease_is_routed_to_its_providers_ingress_by_the_uri_host():
    ref = {"dseq": 7, "network": "mainnet", "url": "http://abc123.ingress.provider.example"}
    # The address checked is the one dialled: a name cannot resolve elsewhere between check and use.
    assert route_of(ref, PROVIDER) == Upstream("93.184.216.34:80", "abc123.ingress.provider.example")
    assert upstream_of(ref, PROVIDER) == "93.184.216.34:80"
    tls = route_of({**ref, "url": "https://abc123.ingress.provider.example:8443"}, PROVIDER)
    assert tls == Upstream("93.184.216.34:8443", "abc123.ingress.provider.example", True)


def test_caddy_sends_the_uri_host_and_speaks_tls_to_an_https_provider():
    table = RouteTable(http={"site.apps.localhost": Upstream("p.example:443", "abc.ingress.p.example", True),
                             "other.apps.localhost": "127.0.0.1:9000"})
    routes = caddy_config(table, "unix:///tmp/a.sock", "127.0.0.1:8080", "127.0.0.1:8443")[
        "apps"]["http"]["servers"]["slipway_apps"]["routes"]
    by_host = {r["match"][0]["host"][0]: r["handle"][0] for r in routes if "match" in r}
    akash = by_host["site.apps.localhost"]
    assert akash["upstreams"] == [{"dial": "p.example:443"}]
    assert akash["headers"] == {"request": {"set": {"Host": ["abc.ingress.p.example"]}}}
    assert akash["transport"] == {"protocol": "http", "tls": {"server_name": "abc.ingress.p.example"}}
    assert by_host["other.apps.localhost"] == {"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9000"}]}


def test_a_provider_on_a_real_network_cannot_aim_an_apps_urls_at_this_machine():
    for url in ("http://127.0.0.1:5000", "http://10.0.0.3", "http://[::1]:8000", "http://registry.localhost",
                "http://evil.example:5000", "http://inside.example", "http://unknown.example"):
        assert route_of({"dseq": 7, "network": "mainnet", "url": url}, PROVIDER) is None, url
    # The devnet's providers serve on loopback: on the local network that is where apps are.
    assert route_of({"dseq": 7, "network": "local", "url": "http://127.0.0.1:5000"}) == Upstream(
        "127.0.0.1:5000", "127.0.0.1")


def test_only_woken_names_are_logged_and_only_when_and_where_never_who_or_what():
    table = RouteTable(http={"d4--site.apps.localhost": "127.0.0.1:9000", "site.apps.localhost": "127.0.0.1:9001"},
                       wake="127.0.0.1:8000", wake_domain="apps.localhost", logged=("d4--site.apps.localhost",))
    config = caddy_config(table, "unix:///tmp/a.sock", "127.0.0.1:8080", "127.0.0.1:8443",
                          activity_log="/data/run/activity.log")
    apps = config["apps"]["http"]["servers"]["slipway_apps"]
    assert apps["logs"] == {"logger_names": {"d4--site.apps.localhost": "slipway_activity"}}
    logs = config["logging"]["logs"]
    assert logs["default"] == {"exclude": ["http.log.access"]}  # every other request: logged nowhere
    dropped = logs["slipway_activity"]["encoder"]["fields"]
    assert {"request>headers", "request>remote_ip", "request>uri", "resp_headers"} <= set(dropped)
    # The wake route: deployments' own names only, to the web app only, its path replaced.
    wake = apps["routes"][-2]
    assert wake["match"][0]["host"] == ["*.apps.localhost"]
    assert wake["handle"] == [{"handler": "rewrite", "uri": "/_slipway/wake"},
                              {"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:8000"}]}]
    # Nothing woken: no access log at all.
    quiet = caddy_config(RouteTable(http=table.http), "unix:///tmp/a.sock", "127.0.0.1:8080", "127.0.0.1:8443",
                         activity_log="/data/run/activity.log")
    assert "logging" not in quiet and "logs" not in quiet["apps"]["http"]["servers"]["slipway_apps"]
