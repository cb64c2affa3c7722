"""The client's address: the peer, or what a trusted proxy says the peer was.

``X-Forwarded-For`` is whatever the client wrote plus one entry per proxy it went through, each proxy appending
the address it saw. Only the entries appended by our own proxies can be believed, so the header is read only when
the peer is a trusted proxy, from the right, skipping trusted proxies: the first other entry is the client.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Return ``entries`` (IPs or CIDRs) as networks; raise ValueError for one that is neither."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)


def parse(text: str) -> Address | None:
    """Return the address in ``text`` (an optional port and IPv6 brackets stripped), None when there is none."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _trusted(address: Address | None, proxies: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(remote_addr: str, forwarded_for: str, trusted_proxies: Sequence[str]) -> str:
    """Return the client's address: ``remote_addr``, or from ``forwarded_for`` when that peer is trusted.

    An entry a trusted proxy appended that is no address (a misconfigured proxy) counts as that proxy, so a
    client cannot escape its limit by sending garbage.
    """
    proxies = networks(tuple(trusted_proxies))
    hop = parse(remote_addr)
    if not _trusted(hop, proxies):
        return str(hop) if hop is not None else remote_addr
    for entry in reversed([item for item in forwarded_for.split(",") if item.strip()]):
        address = parse(entry)
        if address is None:
            break
        hop = address
        if not _trusted(hop, proxies):
            break
    return str(hop)


def from_request(request: HttpRequest) -> str:
    """Return the address of the client that sent ``request`` (see ``client_address``)."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )
