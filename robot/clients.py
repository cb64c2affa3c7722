"""All outbound HTTP of the robot: fetch a batch from a source, POST one record to a target.

Each exchange has a total wall-clock deadline (connect, TLS, headers, a body that drips and redirects, all
together), not a per-read timeout, and the fetch has a size cap. One client per process keeps connections
alive between records. Every connection goes through the outbound policy (robot/outbound.py): the host is
resolved here, each address is checked, and only a checked address is connected to, for every redirect hop
too. This is the one module tests may fake (pass ``transport=``; ``outbound.resolve`` for names).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import json
import os
import ssl
import time
import typing
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any

import certifi
import httpcore
import httpx
from django.conf import settings

from asyncportal.numbers import exceeds
from robot import outbound
from robot.outbound import OutboundRefused, SecretUnusable

USER_AGENT = "asyncportal-robot/1"
MAX_REDIRECTS = 3
POST_DRAIN_BYTES = 64 * 1024
RESOLVER_THREADS = 4  # look-ups in flight per process; more wait in line, within their own deadline

# Stable reason codes of a failed fetch (stored on the cycle next to a sentence for people).
FETCH_TIMEOUT = "fetch_timeout"
FETCH_HTTP_STATUS = "fetch_http_status"
FETCH_NETWORK = "fetch_network"
FETCH_TOO_LARGE = "fetch_too_large"
FETCH_NOT_JSON = "fetch_not_json"
FETCH_WRONG_SHAPE = "fetch_wrong_shape"
FETCH_REFUSED = "fetch_refused"
SECRET_MISSING = outbound.SECRET_MISSING
SECRET_INVALID = outbound.SECRET_INVALID
TARGET_REFUSED = "target_refused"

_deadline: ContextVar[float | None] = ContextVar("robot_http_deadline", default=None)
# (origin, header name) of the secret sent in the current exchange: it never follows a redirect elsewhere.
_credential: ContextVar[tuple[tuple[str, str, int | None], str] | None] = ContextVar(
    "robot_http_credential", default=None
)


class FetchError(Exception):
    """The source did not give a usable batch: ``code`` is stable, ``str(exc)`` is the sentence for people."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class PostOutcome:
    """The result of one POST: delivered, or failed transiently (retry) or finally (4xx)."""

    ok: bool
    transient: bool = False
    detail: str = ""


def fetch_items(
    url: str, *, limit: int, after: str = "", secret: str = "", transport: httpx.BaseTransport | None = None
) -> list[Any]:
    """GET ``url`` with ``limit`` and ``after`` and return the items of its JSON array (or results/data).

    ``secret`` names the environment variable whose value is sent as a header (robot/outbound.py).
    """
    timeout = float(settings.ROBOT_FETCH_TIMEOUT)
    params = {"limit": str(limit), **({"after": after} if after else {})}
    request_url = httpx.URL(url).copy_merge_params(params)
    client = _client(transport)
    try:
        credential = outbound.secret_headers(secret, role="source")
        with (
            deadline(timeout),
            _sending(request_url, credential),
            client.stream(
                "GET", request_url, headers={"Accept": "application/json", **credential}, follow_redirects=True
            ) as response,
        ):
            if not response.is_success:
                raise FetchError(FETCH_HTTP_STATUS, f"the source answered HTTP {response.status_code}")
            body = _read_capped(response, settings.ROBOT_FETCH_MAX_BYTES)
    except SecretUnusable as exc:
        raise FetchError(exc.code, str(exc)) from None
    except OutboundRefused as exc:
        raise FetchError(FETCH_REFUSED, f"the source was refused: {exc}") from None
    except httpx.TimeoutException as exc:
        raise FetchError(FETCH_TIMEOUT, f"the source sent no complete answer within {timeout:g} s") from exc
    except httpx.ConnectError as exc:
        # Never the exception's text: it names internal addresses and ports.
        raise FetchError(FETCH_NETWORK, "the source could not be reached") from exc
    except httpx.HTTPError as exc:
        raise FetchError(FETCH_NETWORK, f"the exchange with the source failed: {type(exc).__name__}") from exc
    return _items(body)


def post_record(
    url: str,
    payload: Any,
    *,
    idempotency_key: str,
    secret: str = "",
    transport: httpx.BaseTransport | None = None,
) -> PostOutcome:
    """POST ``payload`` as JSON with an ``Idempotency-Key``; classify the answer, never raise for HTTP.

    A refused target or an unusable ``secret`` is a final failure: retrying cannot change the answer.
    """
    timeout = float(settings.ROBOT_POST_TIMEOUT)
    try:
        credential = outbound.secret_headers(secret, role="target")
        headers = {"Idempotency-Key": idempotency_key, **credential}
        with (
            deadline(timeout),
            _sending(httpx.URL(url), credential),
            _client(transport).stream("POST", url, json=payload, headers=headers) as response,
        ):
            status = response.status_code
            # Drain a small answer so the connection can be reused; a dripping one meets the deadline.
            drained = 0
            for chunk in response.iter_bytes():
                drained += len(chunk)
                if drained > POST_DRAIN_BYTES:
                    break
    except SecretUnusable as exc:
        return PostOutcome(ok=False, detail=f"{exc.code}: {exc}")
    except OutboundRefused as exc:
        return PostOutcome(ok=False, detail=f"{TARGET_REFUSED}: the target was refused: {exc}")
    except httpx.TimeoutException as exc:
        return PostOutcome(ok=False, transient=True, detail=f"timeout after {timeout:g}s: {type(exc).__name__}")
    except httpx.ConnectError:
        return PostOutcome(ok=False, transient=True, detail="network error: the target could not be reached")
    except httpx.HTTPError as exc:
        return PostOutcome(ok=False, transient=True, detail=f"network error: {type(exc).__name__}")
    if 200 <= status < 300:
        return PostOutcome(ok=True, detail=f"HTTP {status}")
    transient = status >= 500 or status in (408, 429)
    return PostOutcome(ok=False, transient=transient, detail=f"HTTP {status} from target")


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound every socket operation inside the block by one wall-clock deadline ``seconds`` from now."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _remaining(timeout: float | None, error: type[Exception]) -> float | None:
    due = _deadline.get()
    if due is None:
        return timeout
    left = due - time.monotonic()
    if left <= 0:
        raise error("deadline passed")
    return left if timeout is None else min(timeout, left)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


@contextlib.contextmanager
def _sending(url: httpx.URL, credential: dict[str, str]) -> Iterator[None]:
    """Mark the secret header of this exchange as bound to ``url``'s origin."""
    token = _credential.set((_origin(url), next(iter(credential))) if credential else None)
    try:
        yield
    finally:
        _credential.reset(token)


def _on_request(request: httpx.Request) -> None:
    """Check every request and every redirect hop before it is sent (the address is checked at connect)."""
    if request.url.scheme not in outbound.SCHEMES:
        raise OutboundRefused(f"the scheme {request.url.scheme}: is not allowed")
    if request.url.userinfo:
        raise OutboundRefused("credentials in the URL are not allowed; name a secret instead")
    credential = _credential.get()
    if credential is not None and _origin(request.url) != credential[0]:
        # A secret goes only to the origin it was set for, never along a redirect to another one.
        request.headers.pop(credential[1], None)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the exchange's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname, _remaining(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = _resolve_by_deadline(host, port, timeout)
        except (OSError, ValueError) as exc:
            raise httpcore.ConnectError(f"{host} did not resolve") from exc
        failure: httpcore.ConnectError | None = None
        # Connect to a checked address itself, never the name again (no second, rebindable, look-up);
        # TLS (SNI, certificate) and the Host header still use the name.
        for address in addresses:
            left = _remaining(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._backend.connect_tcp(str(address), port, left, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _resolve_by_deadline(host: str, port: int, timeout: float | None) -> list[outbound.IPAddress]:
    """``outbound.checked_addresses`` within the exchange's deadline: ``getaddrinfo`` itself takes no timeout.

    The look-up runs on a small per-process pool; one that outlives the deadline is abandoned to it (the
    system resolver's own timeouts end it) and the exchange fails as a connect timeout.
    """
    if outbound.is_literal(host):
        return outbound.checked_addresses(host, port)  # no look-up, nothing to wait for
    left = _remaining(timeout, httpcore.ConnectTimeout)
    future = _resolvers(os.getpid()).submit(contextvars.copy_context().run, outbound.checked_addresses, host, port)
    try:
        return future.result(timeout=left)
    except concurrent.futures.TimeoutError:
        raise httpcore.ConnectTimeout(f"{host} did not resolve within the deadline") from None


@cache
def _resolvers(pid: int) -> concurrent.futures.ThreadPoolExecutor:
    """One look-up pool per process (keyed by pid: a forked child has none of its parent's threads)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=RESOLVER_THREADS, thread_name_prefix="robot-dns")


def _transport() -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(verify=tls_context())
    # httpx has no total timeout and no public hook for the network backend: swap in a pool built on ours.
    # As many connections as a worker POSTs at once (robot/services/delivery.py), so none waits for another.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=tls_context(),
        network_backend=_DeadlineBackend(),
        max_connections=max(10, settings.ROBOT_DELIVERY_CONCURRENCY),
    )
    return transport


@cache
def _shared_client(pid: int) -> httpx.Client:
    """One client per process (keyed by pid: a forked child must not share its parent's sockets)."""
    return _make_client(_transport())


def _client(transport: httpx.BaseTransport | None) -> httpx.Client:
    return _shared_client(os.getpid()) if transport is None else _make_client(transport)


def _make_client(transport: httpx.BaseTransport) -> httpx.Client:
    # The per-phase timeout is a backstop; the deadline above is what bounds an exchange.
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(max(settings.ROBOT_FETCH_TIMEOUT, settings.ROBOT_POST_TIMEOUT)),
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
        event_hooks={"request": [_on_request]},
    )


@cache
def tls_context() -> ssl.SSLContext:
    """Build the TLS context once per process (about 40 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


def warm_up() -> None:
    """Pay the one-time costs (TLS context, httpcore's lazy imports: ~60 ms) at app start-up, not per record."""
    _make_client(_transport()).close()


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """Read the body, refusing more than ``max_bytes``."""
    declared = response.headers.get("Content-Length", "")
    if exceeds(declared, max_bytes):
        raise FetchError(FETCH_TOO_LARGE, f"the source declared {declared} bytes, more than the {max_bytes} allowed")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(FETCH_TOO_LARGE, f"the source sent more than the {max_bytes} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def _items(body: bytes) -> list[Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise FetchError(FETCH_NOT_JSON, f"the source's answer is not JSON ({type(exc).__name__})") from exc
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("results", "data"):
            if isinstance(data.get(key), list):
                items: list[Any] = data[key]
                return items
    raise FetchError(
        FETCH_WRONG_SHAPE, "the source's answer is not a JSON array nor an object with an array under results/data"
    )
