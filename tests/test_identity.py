"""Whom a request is counted for: the peer, or the client that trusted proxies vouch for."""

from __future__ import annotations

import pytest

from studio.services.config import DEFAULT_TRUSTED_PROXIES, TrustedProxies
from studio.services.identity import client_address, limit_key

SPACE = TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES)
NONE = TrustedProxies.parse("")


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "client"),
    [
        # Nobody trusted: the peer, whatever the header says.
        ("203.0.113.7", ["198.51.100.1"], NONE, "203.0.113.7"),
        ("127.0.0.1", ["198.51.100.1"], NONE, "127.0.0.1"),
        # A public peer is never a proxy we trust, even with the default networks.
        ("203.0.113.7", ["198.51.100.1"], SPACE, "203.0.113.7"),
        # Behind the Hub's proxy (a 10.x peer): the address it appended.
        ("10.16.3.80", ["198.51.100.1"], SPACE, "198.51.100.1"),
        # A caller's own X-Forwarded-For is left of what the proxy appended: ignored.
        ("10.16.3.80", ["1.2.3.4, 198.51.100.1"], SPACE, "198.51.100.1"),
        ("10.16.3.80", ["1.2.3.4", "198.51.100.1"], SPACE, "198.51.100.1"),
        # Two private hops in a row are walked past.
        ("10.0.0.2", ["198.51.100.1, 10.0.0.9"], SPACE, "198.51.100.1"),
        # Garbage only a caller could write stops the walk at the last vouched-for hop.
        ("10.0.0.2", ["not-an-address"], SPACE, "10.0.0.2"),
        # Counting hops: one proxy appends one entry; anything further left is the caller's.
        ("127.0.0.1", ["1.2.3.4, 198.51.100.1"], TrustedProxies(hops=1), "198.51.100.1"),
        ("127.0.0.1", ["1.2.3.4, 198.51.100.1"], TrustedProxies(hops=2), "1.2.3.4"),
        ("127.0.0.1", [], TrustedProxies(hops=1), "127.0.0.1"),
        # Mapped and bracketed forms are the same client.
        ("10.0.0.2", ["[::ffff:198.51.100.1]:4711"], SPACE, "198.51.100.1"),
        ("::ffff:203.0.113.7", [], NONE, "203.0.113.7"),
    ],
)
def test_the_client_is_the_first_address_no_trusted_proxy_added(
    peer: str, forwarded: list[str], proxies: TrustedProxies, client: str
) -> None:
    assert client_address(peer, forwarded, proxies) == client


def test_an_ipv6_client_is_counted_by_its_64_so_new_addresses_change_nothing() -> None:
    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("198.51.100.1") == "198.51.100.1"
