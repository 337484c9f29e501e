"""service.proxies: which forwarded client address and scheme are believed (unit level; the real
server's behaviour is in test_hardening_http.py)."""

from __future__ import annotations

import pytest

from service.proxies import ConfigError, TrustedProxies, parse_networks


def test_nothing_is_trusted_by_default_loopback_included() -> None:
    proxies = TrustedProxies()
    assert proxies.resolve("127.0.0.1", "203.0.113.9", "https", "http") == ("127.0.0.1", "http")


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.7"])
    # The client may send any X-Forwarded-For of its own: only what trusted proxies appended counts.
    assert proxies.resolve("10.0.0.5", "6.6.6.6, 203.0.113.9, 192.0.2.7", None, "http") == (
        "203.0.113.9",
        "http",
    )
    assert proxies.resolve("10.0.0.5", "203.0.113.9", "https", "http") == ("203.0.113.9", "https")
    assert proxies.resolve("10.0.0.5", "203.0.113.9", "https", "ws") == ("203.0.113.9", "wss")
    assert proxies.resolve("10.0.0.5", "garbage, 203.0.113.9", None, "http")[0] == "203.0.113.9"
    assert proxies.resolve("10.0.0.5", "[2001:db8::1]:443", None, "http")[0] == "2001:db8::1"
    assert proxies.resolve("10.0.0.5", "not-an-address", "gopher", "http") == ("10.0.0.5", "http")
    # From an untrusted peer both headers are ignored.
    assert proxies.resolve("198.51.100.1", "203.0.113.9", "https", "http") == ("198.51.100.1", "http")


def test_bad_entries_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'nope'"):
        parse_networks(["10.0.0.0/8", "nope"])
    assert len(parse_networks(["10.0.0.5", " ", "2001:db8::/32"])) == 2
