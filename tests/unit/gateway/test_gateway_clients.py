"""X-Forwarded-For is believed only when it comes through a trusted proxy."""

from __future__ import annotations

import pytest

from tapmask_gateway.domain.clients import Client, client_address, parse_networks
from tapmask_gateway.domain.quotas import Tier

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1"])


def test_an_untrusted_peer_cannot_pick_its_address() -> None:
    assert client_address("203.0.113.9", "1.1.1.1", PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_forwarded_client_counts() -> None:
    assert client_address("10.1.2.3", "198.51.100.7", PROXIES) == "198.51.100.7"


def test_a_spoofed_left_part_of_the_header_is_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended the real address.
    assert client_address("10.1.2.3", "1.1.1.1, 198.51.100.7", PROXIES) == "198.51.100.7"


def test_chains_of_trusted_proxies_are_walked() -> None:
    assert client_address("127.0.0.1", "198.51.100.7, 10.0.0.5", PROXIES) == "198.51.100.7"


def test_garbage_in_the_header_falls_back_to_the_proxy() -> None:
    assert client_address("10.1.2.3", "not-an-ip", PROXIES) == "10.1.2.3"


def test_a_bad_proxy_setting_names_itself() -> None:
    with pytest.raises(ValueError, match="'my-proxy'"):
        parse_networks(["my-proxy"])


def test_ipv6_clients_count_by_their_64() -> None:
    # One subscriber holds a whole /64: a new address per request must not be a new client.
    a = Client(ip="2001:db8:1:2::1", tier=Tier.FREE)
    b = Client(ip="2001:db8:1:2:ffff:ffff:ffff:fffe", tier=Tier.FREE)
    other = Client(ip="2001:db8:1:3::1", tier=Tier.FREE)
    assert a.subject == b.subject == "ip:2001:db8:1:2::/64"
    assert other.subject != a.subject
    # IPv4 stays per address, also written as IPv4-mapped IPv6.
    assert Client(ip="::ffff:192.0.2.7", tier=Tier.FREE).subject == "ip:192.0.2.7"
    assert Client(ip="192.0.2.8", tier=Tier.FREE).subject == "ip:192.0.2.8"


def test_what_is_stored_of_a_client_is_not_its_address() -> None:
    # The subject goes into upload rows and the month's usage rows: keyed by the gateway's
    # secret, it still counts one /64 as one client, but the address cannot be read back.
    pepper = b"s" * 32
    a = Client(ip="2001:db8:1:2::1", tier=Tier.FREE, pepper=pepper)
    b = Client(ip="2001:db8:1:2:ffff::9", tier=Tier.FREE, pepper=pepper)
    v4 = Client(ip="192.0.2.8", tier=Tier.FREE, pepper=pepper)
    assert a.subject == b.subject and a.subject.startswith("ip:")
    assert "2001" not in a.subject and "192.0.2" not in v4.subject
    assert v4.subject != Client(ip="192.0.2.9", tier=Tier.FREE, pepper=pepper).subject
    assert v4.subject != Client(ip="192.0.2.8", tier=Tier.FREE, pepper=b"t" * 32).subject
