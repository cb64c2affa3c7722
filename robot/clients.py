"""All outbound HTTP of the robot: fetch a batch from a source, POST one record to a target.

Every call has a timeout, the fetch has a total deadline and a size cap; this is the one module tests may fake
(pass ``transport=``).
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import certifi
import httpx
from django.conf import settings

from asyncportal.numbers import exceeds

USER_AGENT = "asyncportal-robot/1"
MAX_REDIRECTS = 3


class FetchError(Exception):
    """The source did not give a usable batch; ``str(exc)`` is the reason recorded on the cycle."""


@dataclass(frozen=True)
class PostOutcome:
    """The result of one POST: delivered, or failed transiently (retry) or finally (4xx)."""

    ok: bool
    transient: bool = False
    detail: str = ""


def fetch_items(url: str, *, limit: int, after: str = "", transport: httpx.BaseTransport | None = None) -> list[Any]:
    """GET ``url`` with ``limit`` and ``after`` and return the items of its JSON array (or results/data)."""
    timeout = float(settings.ROBOT_FETCH_TIMEOUT)
    params = {"limit": str(limit), **({"after": after} if after else {})}
    request_url = httpx.URL(url).copy_merge_params(params)
    try:
        with (
            _client(timeout, transport, follow_redirects=True) as client,
            client.stream("GET", request_url, headers={"Accept": "application/json"}) as response,
        ):
            if not response.is_success:
                raise FetchError(f"HTTP {response.status_code} from source")
            body = _read_capped(response, settings.ROBOT_FETCH_MAX_BYTES, deadline=time.monotonic() + timeout)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timeout after {timeout:g}s: {type(exc).__name__}") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"network error: {type(exc).__name__}: {exc}") from exc
    return _items(body)


def post_record(
    url: str, payload: Any, *, idempotency_key: str, transport: httpx.BaseTransport | None = None
) -> PostOutcome:
    """POST ``payload`` as JSON with an ``Idempotency-Key``; classify the answer, never raise for HTTP."""
    timeout = float(settings.ROBOT_POST_TIMEOUT)
    headers = {"Idempotency-Key": idempotency_key}
    try:
        # The target's answer body is not needed: stream and close without reading it.
        with (
            _client(timeout, transport, follow_redirects=False) as client,
            client.stream("POST", url, json=payload, headers=headers) as response,
        ):
            status = response.status_code
    except httpx.TimeoutException as exc:
        return PostOutcome(ok=False, transient=True, detail=f"timeout after {timeout:g}s: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return PostOutcome(ok=False, transient=True, detail=f"network error: {type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return PostOutcome(ok=True, detail=f"HTTP {status}")
    transient = status >= 500 or status in (408, 429)
    return PostOutcome(ok=False, transient=transient, detail=f"HTTP {status} from target")


@cache
def tls_context() -> ssl.SSLContext:
    """Build the TLS context once per process (about 40 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


def warm_up() -> None:
    """Pay the one-time costs (TLS context, httpcore's lazy imports: ~60 ms) before RQ forks a work horse per job.

    Called at app start-up, so each forked horse inherits them instead of paying them for every record.
    """
    _client(1.0, None, follow_redirects=False).close()


def _client(timeout: float, transport: httpx.BaseTransport | None, *, follow_redirects: bool) -> httpx.Client:
    return httpx.Client(
        verify=tls_context(),
        timeout=httpx.Timeout(timeout),
        transport=transport,
        follow_redirects=follow_redirects,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )


def _read_capped(response: httpx.Response, max_bytes: int, *, deadline: float) -> bytes:
    """Read the body, refusing more than ``max_bytes`` and anything still arriving after ``deadline``."""
    declared = response.headers.get("Content-Length", "")
    if exceeds(declared, max_bytes):
        raise FetchError(f"response too large: {declared} bytes > {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"response too large: more than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError(f"timeout: body still arriving after {settings.ROBOT_FETCH_TIMEOUT}s")
        chunks.append(chunk)
    return b"".join(chunks)


def _items(body: bytes) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise FetchError(f"not JSON: {type(exc).__name__}: {exc}") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("results", "data"):
            if isinstance(data.get(key), list):
                items: list[Any] = data[key]
                return items
    raise FetchError("wrong shape: expected a JSON array, or an object with an array under 'results' or 'data'")
