"""The client's address: X-Forwarded-For is believed only as far as our own proxies wrote it."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import RequestFactory, override_settings

from asyncportal.clientip import client_address, from_request, parse

PROXIES = ["10.0.0.0/8", "192.0.2.7"]


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert client_address("198.51.100.4", "203.0.113.9", []) == "198.51.100.4"


def test_an_untrusted_peer_cannot_choose_its_address_by_header() -> None:
    assert client_address("198.51.100.4", "203.0.113.9, 10.1.1.1", PROXIES) == "198.51.100.4"


def test_a_trusted_proxy_names_the_client_as_the_last_entry() -> None:
    assert client_address("10.0.0.5", "203.0.113.9", PROXIES) == "203.0.113.9"


def test_entries_the_client_wrote_before_the_proxies_are_ignored() -> None:
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.9", PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_skipped_from_the_right() -> None:
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.9, 192.0.2.7, 10.9.9.9", PROXIES) == "203.0.113.9"


def test_a_trusted_peer_without_the_header_is_itself_the_client() -> None:
    assert client_address("10.0.0.5", "", PROXIES) == "10.0.0.5"


def test_when_every_entry_is_a_trusted_proxy_the_leftmost_is_the_client() -> None:
    assert client_address("10.0.0.5", "10.2.2.2, 10.3.3.3", PROXIES) == "10.2.2.2"


@pytest.mark.parametrize("garbage", ["unknown", "not-an-ip", "1.2.3.4.5", "_hidden"])
def test_a_garbage_entry_counts_as_the_proxy_that_passed_it_on(garbage: str) -> None:
    assert client_address("10.0.0.5", f"203.0.113.9, {garbage}", PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", f"{garbage}, 10.6.6.6", PROXIES) == "10.6.6.6"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.9:5123", "203.0.113.9"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
    ],
)
def test_ports_brackets_case_and_mapped_ipv4_are_normalised(text: str, expected: str) -> None:
    assert str(parse(text)) == expected
    assert client_address("10.0.0.5", text, PROXIES) == expected


def test_ipv6_proxies_and_clients_work_alike() -> None:
    assert client_address("fd00::2", "2001:db8::9", ["fd00::/8"]) == "2001:db8::9"


def test_a_request_is_read_with_the_trusted_proxies_setting() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert from_request(request) == "10.0.0.5"
    with override_settings(TRUSTED_PROXIES=PROXIES):
        assert from_request(request) == "203.0.113.9"


def test_a_trusted_proxy_that_is_no_address_or_network_is_check_error_e001() -> None:
    with override_settings(TRUSTED_PROXIES=["10.0.0.0/8", "proxy.internal"]):
        assert [message.id for message in run_checks() if message.id == "asyncportal.E001"] == ["asyncportal.E001"]
