"""The outbound policy's rules: which addresses are refused and why, URL checks at save time, redaction, and
how a named secret becomes a header."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from robot import outbound
from robot.checks import robot_settings_check

PUBLIC = {"ROBOT_OUTBOUND_POLICY": "public", "ROBOT_OUTBOUND_ALLOW": []}


@pytest.fixture
def public() -> Iterator[None]:
    with override_settings(**PUBLIC):
        yield


def refusal(address: str, host: str = "") -> str | None:
    return outbound.refusal(ipaddress.ip_address(address), host=host)


@pytest.mark.usefixtures("public")
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.255.255.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "unique-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "private"),  # reserved (Python counts 240/4 as private too)
        ("100.64.0.1", "not public"),  # carrier-grade NAT: neither private nor global
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 is judged by the IPv4 address it carries
        ("::ffff:10.0.0.5", "private"),
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("169.254.169.254", "a cloud metadata endpoint"),
        ("fd00:ec2::254", "a cloud metadata endpoint"),
        ("::ffff:169.254.169.254", "a cloud metadata endpoint"),
        ("168.63.129.16", "a cloud metadata endpoint"),
    ],
)
def test_the_public_policy_refuses_every_non_public_address_with_its_category(address: str, reason: str) -> None:
    assert refusal(address) == reason


@pytest.mark.usefixtures("public")
@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_the_public_policy_allows_public_addresses(address: str) -> None:
    assert refusal(address) is None


@pytest.mark.parametrize(
    ("allow", "address", "host", "reason"),
    [
        (["127.0.0.1/32"], "127.0.0.1", "", None),
        (["127.0.0.1"], "::ffff:127.0.0.1", "", None),
        (["10.0.0.0/8"], "10.1.2.3", "", None),
        (["10.0.0.0/8"], "192.168.0.1", "", "private"),
        (["internal.example"], "10.1.2.3", "Internal.Example.", None),
        (["internal.example"], "10.1.2.3", "other.example", "private"),
        (["::/0"], "127.0.0.1", "", "loopback"),  # an IPv6 network never matches an IPv4 address
        (["169.254.0.0/16"], "169.254.169.254", "", "a cloud metadata endpoint"),  # a CIDR does not open it
        (["internal.example"], "169.254.169.254", "internal.example", "a cloud metadata endpoint"),
        (["169.254.169.254"], "169.254.169.254", "", None),  # only the very address does
    ],
)
def test_the_allow_list_names_addresses_networks_and_hosts(
    allow: list[str], address: str, host: str, reason: str | None
) -> None:
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=allow):
        assert refusal(address, host) == reason


def test_the_any_policy_allows_private_addresses_but_not_cloud_metadata() -> None:
    with override_settings(ROBOT_OUTBOUND_POLICY="any", ROBOT_OUTBOUND_ALLOW=[]):
        assert [refusal(a) for a in ("127.0.0.1", "10.0.0.5", "fd00::1")] == [None, None, None]
        assert refusal("169.254.169.254") == "a cloud metadata endpoint"


@pytest.mark.usefixtures("public")
def test_a_refusal_names_the_host_of_the_url_never_the_address_it_resolved_to() -> None:
    with pytest.raises(outbound.OutboundRefused) as by_name:
        outbound.check_address("db.internal", ipaddress.ip_address("10.9.8.7"))
    with pytest.raises(outbound.OutboundRefused) as by_address:
        outbound.check_address("10.9.8.7", ipaddress.ip_address("10.9.8.7"))
    assert str(by_name.value) == (
        "db.internal resolves to an address that is private; an operator may allow it in ROBOT_OUTBOUND_ALLOW"
    )
    assert "10.9.8.7" not in str(by_name.value)
    assert str(by_address.value).startswith("10.9.8.7 is private;")


@pytest.mark.usefixtures("public")
@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://user:pass@feed.example/", "credentials"),
        ("https://token@feed.example/", "credentials"),
        ("ftp://feed.example/", "scheme"),
        ("http://10.0.0.5/feed", "refused"),
        ("http://[::1]:8000/", "refused"),
        ("http://169.254.169.254/latest/meta-data/", "refused"),
    ],
)
def test_save_time_validation_refuses_what_the_url_shows(url: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        outbound.validate_url(url)
    assert caught.value.code == code
    assert "pass" not in str(caught.value.messages) and "token" not in str(caught.value.messages)


@pytest.mark.usefixtures("public")
def test_save_time_validation_leaves_names_to_the_connect_time_check() -> None:
    outbound.validate_url("https://feed.example/items")
    outbound.validate_url("http://localhost:8000/")  # resolved and refused only when connecting


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pass@feed.example:8443/a?b=1", "https://***@feed.example:8443/a?b=1"),
        ("https://feed.example/a", "https://feed.example/a"),
        ("", ""),
    ],
)
def test_redact_removes_credentials_and_keeps_the_rest(url: str, shown: str) -> None:
    assert outbound.redact(url) == shown


@pytest.mark.parametrize(
    ("raw", "header"),
    [
        ("Bearer abc.def", ("Authorization", "Bearer abc.def")),
        ("Basic dXNlcjpwYXNz", ("Authorization", "Basic dXNlcjpwYXNz")),
        ("X-Api-Key: k:1", ("X-Api-Key", "k:1")),
        ("  Bearer a:b  ", ("Authorization", "Bearer a:b")),
    ],
)
def test_a_secret_is_an_authorization_value_or_a_header_line(
    raw: str, header: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_FEED", raw)
    assert outbound.secret_header("ROBOT_SECRET_FEED", role="source") == header


@pytest.mark.parametrize(("raw", "code"), [(None, "secret_missing"), ("X-Key:   ", "secret_invalid")])
def test_an_unusable_secret_has_a_stable_code(raw: str | None, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if raw is None:
        monkeypatch.delenv("ROBOT_SECRET_FEED", raising=False)
    else:
        monkeypatch.setenv("ROBOT_SECRET_FEED", raw)
    with pytest.raises(outbound.SecretUnusable) as caught:
        outbound.secret_header("ROBOT_SECRET_FEED", role="source")
    assert caught.value.code == code
    assert "ROBOT_SECRET_FEED" in str(caught.value)


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL", "ROBOT_SECRET_", "robot_secret_x", "ROBOT_SECRET_A-B"])
def test_a_secret_name_must_be_a_robot_secret_variable(name: str) -> None:
    with pytest.raises(ValidationError):
        outbound.validate_secret_name(name)


def test_a_secret_name_with_the_prefix_is_valid() -> None:
    outbound.validate_secret_name("ROBOT_SECRET_FEED_2")


@pytest.mark.parametrize(
    ("policy", "allow", "ids"),
    [
        ("public", ["10.0.0.0/8", "internal.example", "::1"], []),
        ("open", [], ["robot.E007"]),
        ("public", ["10.0.0.0/33"], ["robot.E008"]),
    ],
)
def test_the_outbound_settings_are_checked_at_boot(policy: str, allow: list[str], ids: list[str]) -> None:
    with override_settings(ROBOT_OUTBOUND_POLICY=policy, ROBOT_OUTBOUND_ALLOW=allow):
        found = [problem.id for problem in robot_settings_check()]
    assert [problem for problem in found if problem in ("robot.E007", "robot.E008")] == ids
