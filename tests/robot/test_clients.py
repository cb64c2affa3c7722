"""Outbound HTTP: every failure mode of a fetch is a FetchError with a reason; POSTs are classified."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from django.test import override_settings

from robot import clients
from tests.robot.support import HttpStub, Reply, Seen


def transport(status: int = 200, body: bytes = b"[]", headers: dict[str, str] | None = None) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body, headers=headers))


def test_fetch_sends_limit_and_after_keeping_the_sources_own_query(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    items = clients.fetch_items(f"{stub.url}/feed?key=abc&limit=999", limit=7, after="41")
    assert items == [{"id": 1}]
    assert stub.requests()[0].query == {"key": "abc", "limit": "7", "after": "41"}


def test_fetch_omits_after_before_any_id_was_seen(stub: HttpStub) -> None:
    clients.fetch_items(stub.url, limit=3)
    assert stub.requests()[0].query == {"limit": "3"}


@pytest.mark.parametrize("key", ["results", "data"])
def test_fetch_accepts_an_object_holding_the_array(key: str) -> None:
    body = f'{{"{key}": [{{"id": 5}}], "next": null}}'.encode()
    assert clients.fetch_items("http://source.test/", limit=1, transport=transport(body=body)) == [{"id": 5}]


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, b"[]", "HTTP 503 from source"),
        (404, b"[]", "HTTP 404 from source"),
        (200, b"<html>oops</html>", "not JSON"),
        (200, b'{"items": []}', "wrong shape"),
        (200, b'"just a string"', "wrong shape"),
        (200, b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_fetch_failure_has_a_reason(status: int, body: bytes, reason: str) -> None:
    with pytest.raises(clients.FetchError, match=reason):
        clients.fetch_items("http://source.test/", limit=1, transport=transport(status, body))


@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_refuses_a_declared_oversize_body_without_reading_it() -> None:
    big = transport(body=b"[" + b"1," * 2000 + b"1]")
    with pytest.raises(clients.FetchError, match="too large"):
        clients.fetch_items("http://source.test/", limit=1, transport=big)


@pytest.mark.parametrize("declared", ["²".encode("latin-1"), b"-1", b"1e9"])
def test_fetch_ignores_a_content_length_that_is_not_a_number(declared: bytes) -> None:
    body = b'[{"id": 1}]'
    odd = httpx.MockTransport(lambda request: httpx.Response(200, content=body, headers={b"Content-Length": declared}))
    assert clients.fetch_items("http://source.test/", limit=1, transport=odd) == [{"id": 1}]


def test_fetch_refuses_a_content_length_too_long_for_int() -> None:
    huge = transport(body=b"[]", headers={"Content-Length": "9" * 5000})
    with pytest.raises(clients.FetchError, match="too large"):
        clients.fetch_items("http://source.test/", limit=1, transport=huge)


@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_refuses_an_oversize_body_without_content_length() -> None:
    chunked = httpx.MockTransport(lambda request: httpx.Response(200, content=iter([b"[" + b"1," * 2000 + b"1]"])))
    with pytest.raises(clients.FetchError, match="too large"):
        clients.fetch_items("http://source.test/", limit=1, transport=chunked)


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_fetch_times_out_on_a_silent_source(stub: HttpStub) -> None:
    release = threading.Event()
    stub.handler = lambda seen: Reply(body=[], wait=release)
    try:
        with pytest.raises(clients.FetchError, match="timeout"):
            clients.fetch_items(stub.url, limit=1)
    finally:
        release.set()


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_fetch_has_a_total_deadline_for_a_source_that_drips() -> None:
    def drip() -> Iterator[bytes]:
        yield b"["
        for _ in range(20):
            time.sleep(0.2)
            yield b"1,"

    slow = httpx.MockTransport(lambda request: httpx.Response(200, content=drip()))
    with pytest.raises(clients.FetchError, match="still arriving"):
        clients.fetch_items("http://source.test/", limit=1, transport=slow)


def test_fetch_reports_a_refused_connection() -> None:
    with pytest.raises(clients.FetchError, match="network error"):
        clients.fetch_items("http://127.0.0.1:1/", limit=1)


def test_post_sends_payload_and_idempotency_key(stub: HttpStub) -> None:
    outcome = clients.post_record(f"{stub.url}/in", {"id": 3, "title": "x"}, idempotency_key="demo:3")
    seen: Seen = stub.requests("POST")[0]
    assert outcome.ok
    assert seen.body == {"id": 3, "title": "x"}
    assert seen.headers["idempotency-key"] == "demo:3"
    assert seen.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "ok", "transient"),
    [(200, True, False), (201, True, False), (500, False, True), (503, False, True), (429, False, True)]
    + [(408, False, True), (400, False, False), (404, False, False), (422, False, False), (302, False, False)],
)
def test_post_classifies_the_answer(status: int, ok: bool, transient: bool) -> None:
    outcome = clients.post_record("http://target.test/", {}, idempotency_key="k", transport=transport(status))
    assert (outcome.ok, outcome.transient) == (ok, transient)
    assert str(status) in outcome.detail


@override_settings(ROBOT_POST_TIMEOUT=1)
def test_post_timeout_is_transient(stub: HttpStub) -> None:
    release = threading.Event()
    stub.handler = lambda seen: Reply(wait=release)
    try:
        outcome = clients.post_record(stub.url, {}, idempotency_key="k")
    finally:
        release.set()
    assert (outcome.ok, outcome.transient) == (False, True)
    assert "timeout" in outcome.detail


def test_post_to_an_unreachable_target_is_transient() -> None:
    outcome = clients.post_record("http://127.0.0.1:1/", {}, idempotency_key="k")
    assert (outcome.ok, outcome.transient) == (False, True)
