"""Refuse to connect to our own side of the network on a remote server's behalf (SSRF).

Every address a name resolves to must be public: loopback, private, link-local (cloud
metadata at 169.254.169.254 included), carrier-grade NAT, multicast, reserved and
unspecified addresses are refused, also when written as IPv4-mapped IPv6, in decimal or hex
(`http://2130706433/` resolves to 127.0.0.1, and resolution is what we check), or behind a
name that resolves to them. Hosts an operator allowlists (`MCPS_RUNTIME__ALLOWED_HOSTS`)
pass. The check resolves the name itself; the caller must then connect to what it checked
(`pinned_url`), or a second lookup could answer differently (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

from domain.shared.errors import InvalidInputError

CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedAddressError(InvalidInputError):
    code = "runtime.address_blocked"


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address) and address in CGNAT:
        return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise BlockedAddressError(f"{host} does not resolve", field="runtime.url") from None
    return sorted({str(info[4][0]) for info in infos})


def checked_address(url: str, allowed_hosts: frozenset[str] | set[str] | list[str]) -> str:
    """The one address to connect to for `url`, after checking every address of its host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if host.lower() in {h.lower() for h in allowed_hosts}:
        return addresses[0]
    for text in addresses:
        if not is_public(ipaddress.ip_address(text.split("%")[0])):
            raise BlockedAddressError(
                f"{host} resolves to {text}, an internal address; an operator can allowlist it",
                field="runtime.url",
            )
    return addresses[0]


def pinned_url(url: str, address: str) -> str:
    """`url` with its host replaced by the checked address (the Host header keeps the name)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
