"""Outbound HTTP: every failure mode of a fetch is a FetchError with a reason; POSTs are classified."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from django.test import override_settings

from robot import clients
from tests.robot.support import DripServer, HttpStub, Reply, Seen


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
    ("status", "body", "code", "sentence"),
    [
        (503, b"[]", clients.FETCH_HTTP_STATUS, "the source answered HTTP 503"),
        (404, b"[]", clients.FETCH_HTTP_STATUS, "the source answered HTTP 404"),
        (200, b"<html>oops</html>", clients.FETCH_NOT_JSON, "not JSON"),
        (200, b'{"items": []}', clients.FETCH_WRONG_SHAPE, "not a JSON array"),
        (200, b'"just a string"', clients.FETCH_WRONG_SHAPE, "not a JSON array"),
        (200, b"[" * 100_000 + b"]" * 100_000, clients.FETCH_NOT_JSON, "not JSON"),
    ],
)
def test_fetch_failure_has_a_stable_code_and_a_sentence(status: int, body: bytes, code: str, sentence: str) -> None:
    with pytest.raises(clients.FetchError, match=sentence) as caught:
        clients.fetch_items("http://source.test/", limit=1, transport=transport(status, body))
    assert caught.value.code == code


@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_refuses_a_declared_oversize_body_without_reading_it() -> None:
    big = transport(body=b"[" + b"1," * 2000 + b"1]")
    with pytest.raises(clients.FetchError, match="more than"):
        clients.fetch_items("http://source.test/", limit=1, transport=big)


@pytest.mark.parametrize("declared", ["²".encode("latin-1"), b"-1", b"1e9"])
def test_fetch_ignores_a_content_length_that_is_not_a_number(declared: bytes) -> None:
    body = b'[{"id": 1}]'
    odd = httpx.MockTransport(lambda request: httpx.Response(200, content=body, headers={b"Content-Length": declared}))
    assert clients.fetch_items("http://source.test/", limit=1, transport=odd) == [{"id": 1}]


def test_fetch_refuses_a_content_length_too_long_for_int() -> None:
    huge = transport(body=b"[]", headers={"Content-Length": "9" * 5000})
    with pytest.raises(clients.FetchError, match="more than"):
        clients.fetch_items("http://source.test/", limit=1, transport=huge)


@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_refuses_an_oversize_body_without_content_length() -> None:
    chunked = httpx.MockTransport(lambda request: httpx.Response(200, content=iter([b"[" + b"1," * 2000 + b"1]"])))
    with pytest.raises(clients.FetchError, match="more than"):
        clients.fetch_items("http://source.test/", limit=1, transport=chunked)


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_fetch_times_out_on_a_silent_source(stub: HttpStub) -> None:
    release = threading.Event()
    stub.handler = lambda seen: Reply(body=[], wait=release)
    try:
        with pytest.raises(clients.FetchError, match="no complete answer within 1 s") as caught:
            clients.fetch_items(stub.url, limit=1)
        assert caught.value.code == clients.FETCH_TIMEOUT
    finally:
        release.set()


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_fetch_has_a_total_deadline_for_a_source_that_drips(drip: DripServer) -> None:
    drip.plan(header_delay=0.6, body=b"[" + b"1," * 40 + b"1]", byte_interval=0.05)
    started = time.monotonic()
    with pytest.raises(clients.FetchError) as caught:
        clients.fetch_items(drip.url, limit=1)
    assert caught.value.code == clients.FETCH_TIMEOUT
    assert time.monotonic() - started < 1.3


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_fetch_deadline_covers_slow_headers_then_silence(drip: DripServer) -> None:
    drip.plan(header_delay=0.9, body=b"[1]", byte_interval=5.0)
    started = time.monotonic()
    with pytest.raises(clients.FetchError):
        clients.fetch_items(drip.url, limit=1)
    assert time.monotonic() - started < 1.3


@override_settings(ROBOT_POST_TIMEOUT=1)
def test_post_is_cut_at_its_total_deadline_by_a_target_that_drips(drip: DripServer) -> None:
    drip.plan(header_delay=0.8, body=b"x" * 100, byte_interval=0.05)
    started = time.monotonic()
    outcome = clients.post_record(drip.url, {"id": 1}, idempotency_key="k")
    assert (outcome.ok, outcome.transient) == (False, True)
    assert "timeout" in outcome.detail
    assert time.monotonic() - started < 1.3


def test_posts_reuse_one_connection_per_process(drip: DripServer) -> None:
    drip.plan(header_delay=0, body=b"ok", byte_interval=0)
    for key in ("a", "b", "c"):
        assert clients.post_record(drip.url, {}, idempotency_key=key).ok
    assert drip.connections == 1


def test_fetch_reports_a_refused_connection() -> None:
    with pytest.raises(clients.FetchError, match="could not be reached") as caught:
        clients.fetch_items("http://127.0.0.1:1/", limit=1)
    assert caught.value.code == clients.FETCH_NETWORK


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
