"""The robot's outbound policy: which addresses it may connect to, URL checks at save time, named secrets.

The authoritative check runs in robot/clients.py at connect time, on the very address connected to, for every
request and redirect hop (so DNS rebinding or a redirect to an internal host is refused too); the save-time
checks here only catch what the URL itself shows. Refusal messages name what the URL showed (its host) and
the category, never the address a name resolved to: that would map internal DNS for whoever set the URL.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from asyncportal import env

logger = logging.getLogger(__name__)

POLICY_PUBLIC = "public"
POLICY_ANY = "any"
POLICIES = (POLICY_PUBLIC, POLICY_ANY)
SCHEMES = ("http", "https")
SECRET_PREFIX = "ROBOT_SECRET_"
SECRET_NAME = re.compile(r"ROBOT_SECRET_[A-Z0-9_]+")
SECRET_MISSING = "secret_missing"
SECRET_INVALID = "secret_invalid"
# "Header-Name: value"; anything else is the value of Authorization ("Bearer …", "Basic …").
HEADER_LINE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)", re.DOTALL)
ALLOW_HINT = "an operator may allow it in ROBOT_OUTBOUND_ALLOW"
CREDENTIALS_REFUSED = (
    "Credentials in the URL are not allowed: put them in an environment variable and name it in "
    "source_secret / target_secret (see docs/security.md)."
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints (AWS/GCP/Azure IMDS, AWS ECS, AWS IPv6 IMDS, Alibaba, Azure wire server, Oracle).
# Refused under every policy unless the allow-list names the very address: a broad CIDR does not open them.
METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


class OutboundRefused(Exception):
    """The outbound policy refuses this request; ``str(exc)`` is the reason for people."""


class SecretUnusable(Exception):
    """A named secret is not set or not a usable header: ``code`` is stable, ``str(exc)`` the sentence."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return the addresses of ``host`` (tests replace this to make a public-looking name resolve locally)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))


def checked_addresses(host: str, port: int) -> list[IPAddress]:
    """Resolve ``host`` and check every address: one refused address refuses the host (no mixed answers)."""
    addresses = resolve(host, port)
    for address in addresses:
        try:
            check_address(host, address)
        except OutboundRefused as exc:
            # Operators get the address in the log; the cycle or record only says what the URL showed.
            logger.warning("outbound connection refused host=%s address=%s port=%s: %s", host, address, port, exc)
            raise
    return addresses


def check_address(host: str, address: IPAddress) -> None:
    """Raise ``OutboundRefused`` unless the robot may connect to ``address`` (one of ``host``'s addresses)."""
    reason = refusal(address, host=host)
    if reason is None:
        return
    shown = host.strip("[]")
    what = f"{shown} is {reason}" if is_literal(shown) else f"{shown} resolves to an address that is {reason}"
    raise OutboundRefused(f"{what}; {ALLOW_HINT}")


def refusal(address: IPAddress, *, host: str = "") -> str | None:
    """Return why ``address`` is refused (e.g. "private"), or None when the policy lets the robot connect."""
    networks, names = allow_list()
    # An IPv6 address carrying an IPv4 one is judged by both (the carried one first: it names the category).
    candidates = [*_embedded(address), address]

    def allowed(*, exact: bool) -> bool:
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in networks
            if network.num_addresses == 1 or not exact
        )

    if allowed(exact=True):
        return None
    if any(candidate in METADATA for candidate in candidates):
        return "a cloud metadata endpoint"
    if host.strip("[]").lower().rstrip(".") in names or allowed(exact=False):
        return None
    if settings.ROBOT_OUTBOUND_POLICY == POLICY_ANY:
        return None
    return next(filter(None, (_category(candidate) for candidate in candidates)), None)


def allow_list() -> tuple[list[IPNetwork], set[str]]:
    """Split ``ROBOT_OUTBOUND_ALLOW`` into networks (addresses, CIDRs) and host names."""
    networks: list[IPNetwork] = []
    names: set[str] = set()
    for entry in settings.ROBOT_OUTBOUND_ALLOW:
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return networks, names


def _embedded(address: IPAddress) -> list[IPAddress]:
    """Return the IPv4 addresses an IPv6 address carries (IPv4-mapped, 6to4, NAT64): they are checked too."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [candidate for candidate in found if candidate is not None]


def _category(address: IPAddress) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", isinstance(address, ipaddress.IPv6Address) and address in UNIQUE_LOCAL),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not public", not address.is_global),  # e.g. 100.64.0.0/10, shared by carrier-grade NAT
    )
    return next((label for label, matches in checks if matches), None)


def is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def validate_url(value: str) -> None:
    """Refuse what the URL itself shows: another scheme, credentials, an IP literal the policy refuses."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in SCHEMES:
        raise ValidationError("Only http:// and https:// URLs are allowed.", code="scheme")
    if "@" in parts.netloc:
        raise ValidationError(CREDENTIALS_REFUSED, code="credentials")
    host = parts.hostname or ""
    if not is_literal(host):
        return
    reason = refusal(ipaddress.ip_address(host), host=host)
    if reason is not None:
        raise ValidationError(f"The address {host} is {reason}; {ALLOW_HINT}.", code="refused")


def redact(url: str) -> str:
    """Return ``url`` without the user:password it may carry (for anything shown or logged)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def validate_secret_name(value: str) -> None:
    if not SECRET_NAME.fullmatch(value):
        raise ValidationError(
            f"Name an environment variable starting with {SECRET_PREFIX} (capital letters, digits and _).",
            code="secret_name",
        )


def secret_is_set(name: str) -> bool:
    """Whether secret ``name`` has a value in this process's environment (the value itself is never shown)."""
    return bool(name) and bool(env.secret(name))


def secret_headers(name: str, *, role: str) -> dict[str, str]:
    """Return the header secret ``name`` holds (none without a name), read from the environment now."""
    if not name:
        return {}
    header, value = secret_header(name, role=role)
    return {header: value}


def secret_header(name: str, *, role: str) -> tuple[str, str]:
    """Return the ``(header, value)`` secret ``name`` holds, read from the environment now, never kept."""
    raw = env.secret(name)
    if not raw:
        raise SecretUnusable(SECRET_MISSING, f"the {role} secret {name} is not set in the worker's environment")
    match = HEADER_LINE.fullmatch(raw)
    header, value = (match[1], match[2].strip()) if match else ("Authorization", raw.strip())
    if not value or any(char in value for char in "\r\n\0"):
        raise SecretUnusable(SECRET_INVALID, f"the {role} secret {name} is not a usable header value")
    return header, value
