"""Who a request comes from: the peer address, or the client a trusted proxy says it forwards.

Limits are counted per client, so the client must be something a caller cannot choose: not a
session hash, not a header from an unknown peer. Only addresses that `TrustedProxies` vouch for
are believed, walking X-Forwarded-For from the right (each proxy appends whom it heard from).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from .config import TrustedProxies

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(peer: str, forwarded_for: Sequence[str], proxies: TrustedProxies) -> str:
    """The address of the client behind `peer`, given the X-Forwarded-For header values."""
    chain = [item.strip() for value in forwarded_for for item in value.split(",") if item.strip()]
    chain.append(peer)
    if proxies.hops:
        return _normal(chain[max(0, len(chain) - 1 - proxies.hops)])
    last_trusted = peer
    for entry in reversed(chain):
        address = _parse(entry)
        if address is None:
            # Only a caller writes something that is not an address; the proxy to its right
            # is the furthest hop anyone vouches for.
            return _normal(last_trusted)
        if not any(address in network for network in proxies.networks):
            return str(address)
        last_trusted = entry
    return _normal(chain[0])


def trusts(peer: str, proxies: TrustedProxies) -> bool:
    """Whether `peer` is a proxy we believe about the request it forwards: the client's address,
    and the host and scheme the client asked for (X-Forwarded-Host, X-Forwarded-Proto)."""
    if proxies.hops:
        return True
    address = _parse(peer)
    return address is not None and any(address in network for network in proxies.networks)


def limit_key(address: str) -> str:
    """What a client's requests are counted under: its IPv4 address, or its IPv6 /64.

    An IPv6 user is given a whole /64 and may use a new address from it for every request.
    """
    parsed = _parse(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port, as some proxies write it
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _normal(text: str) -> str:
    address = _parse(text)
    return str(address) if address is not None else text
