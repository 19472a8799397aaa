"""Who is asking: the client address, trusting X-Forwarded-For only from known proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """`10.0.0.0/8`, `127.0.0.1`, ... as networks; a bad entry raises ValueError naming it."""
    out: list[Network] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"trusted proxy {entry!r} is not an IP address or network") from exc
    return tuple(out)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The address to count a request against.

    The direct peer, unless it is a trusted proxy: then walk X-Forwarded-For from the
    right (the entries proxies appended) and take the first address that is not a
    trusted proxy. The left-most entries are whatever the client wrote, so they are
    never believed on their own.
    """
    current = peer or "unknown"
    if not forwarded_for or not _trusted(current, proxies):
        return current
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return current  # garbage in the header: count the last trustworthy hop
        if not _trusted(hop, proxies):
            return hop
        current = hop
    return current


def address_key(address: str) -> str:
    """What one client's address is counted as: IPv6 by its /64, since one subscriber
    gets a whole /64 and can take a new address in it for every request; IPv4 (also
    when written IPv4-mapped) by the address itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
