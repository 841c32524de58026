"""Where a notification may be sent: public addresses only, unless the operator allows a private network.

Whoever may change a project's settings chooses its webhook URLs, and the worker that sends them sits
inside Slipway's network, beside the dashboard, the registry, the devnet's REST API and a cloud's
metadata service. So a URL's host is resolved, every address it resolves to must be public (or in a
network the operator lists in SLIPWAY_NOTIFY_ALLOW_PRIVATE, e.g. an internal relay), and the request
goes to one of the addresses checked, not to a second lookup that DNS could answer differently.
This runs when a channel is added and again before every send.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from slipway.errors import UserError
from slipway.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where Slack and Discord say their incoming webhooks live.
CHAT_HOSTS = {"slack": ("hooks.slack.com",), "discord": ("discord.com", "discordapp.com")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(Exception):
    """A webhook's target is not one Slipway sends to; ``str()`` names the host and address, never the path."""

    def __init__(self, error: UserError):
        super().__init__(str(error))
        self.error = error


def _embedded_v4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to (mapped, 6to4, NAT64), which is where it really goes."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_private(address: Address) -> bool:
    """Not an address on the public internet: loopback, private, link-local, unique-local, shared, reserved..."""
    inner = _embedded_v4(address)
    if inner is not None and is_private(inner):
        return True
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    return not address.is_global or address.is_multicast or site_local


def is_allowed(settings: Settings, address: Address) -> bool:
    """Public, or in one of the operator's SLIPWAY_NOTIFY_ALLOW_PRIVATE networks."""
    if not is_private(address):
        return True
    candidates = [address] + ([v4] if (v4 := _embedded_v4(address)) else [])
    return any(a in network for a in candidates for network in settings.notify_private_networks
               if a.version == network.version)


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (a literal address is itself); OSError if it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[Address] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].partition("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


def is_documented_chat_host(kind: str, url: str) -> bool:
    parts = urlsplit(url)
    return kind in CHAT_HOSTS and parts.scheme == "https" and parts.hostname in CHAT_HOSTS[kind]


def refusal_on_adding(settings: Settings, kind: str, url: str) -> UserError | None:
    """Why a new channel's webhook is refused, or None. Slack's and Discord's own hosts need no lookup
    now (they are public, and are checked like any other before each send)."""
    if is_documented_chat_host(kind, url):
        return None
    try:
        checked_addresses(settings, kind, url)
    except TargetRefused as refused:
        return refused.error
    return None


def checked_addresses(settings: Settings, kind: str, url: str) -> list[Address]:
    """The addresses a webhook may be sent to, in the resolver's order; TargetRefused says why not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    known_chat_host = any(host in hosts for hosts in CHAT_HOSTS.values())
    if kind in CHAT_HOSTS and known_chat_host and not is_documented_chat_host(kind, url):
        raise TargetRefused(UserError(UserError.NOTIFY_CHAT_HOST, kind=kind, host=f"{parts.scheme}://{host}",
                                      hosts=" or ".join(CHAT_HOSTS[kind])))
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefused(UserError(UserError.NOTIFY_UNRESOLVABLE, kind=kind, host=host,
                                      detail=type(exc).__name__)) from None
    if not addresses:
        raise TargetRefused(UserError(UserError.NOTIFY_UNRESOLVABLE, kind=kind, host=host, detail="no address"))
    for address in addresses:
        if not is_allowed(settings, address):
            raise TargetRefused(UserError(UserError.NOTIFY_PRIVATE_TARGET, kind=kind, host=host, address=address))
    if kind in CHAT_HOSTS:
        documented = is_documented_chat_host(kind, url)
        relay = all(is_private(a) for a in addresses)  # each one allowed by the operator, as checked above
        if not (documented or relay):
            raise TargetRefused(UserError(UserError.NOTIFY_CHAT_HOST, kind=kind, host=f"{parts.scheme}://{host}",
                                          hosts=" or ".join(CHAT_HOSTS[kind])))
    return addresses
