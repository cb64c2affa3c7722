"""Outbound HTTP: every failure mode of a fetch is a FetchError with a reason; POSTs are classified."""

from __future__ import annotations

import ipaddress
import threading
import time

import httpx
import pytest
from django.test import override_settings

from robot import clients, outbound
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


# The outbound policy at connect time (robot/outbound.py): real servers on loopback, the production policy.
PUBLIC = override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=[])
HINT = "an operator may allow it in ROBOT_OUTBOUND_ALLOW"


def resolving(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """Make public-looking ``names`` resolve to the given addresses (everything else as usual)."""
    real = outbound.resolve

    def resolve(host: str, port: int) -> list[outbound.IPAddress]:
        return [ipaddress.ip_address(names[host])] if host in names else real(host, port)

    monkeypatch.setattr(outbound, "resolve", resolve)


def port_of(stub: HttpStub) -> int:
    return int(stub.url.rsplit(":", 1)[1])


@PUBLIC
def test_the_public_policy_refuses_a_loopback_source_before_sending_anything(stub: HttpStub) -> None:
    with pytest.raises(clients.FetchError) as caught:
        clients.fetch_items(stub.url, limit=1)
    assert caught.value.code == clients.FETCH_REFUSED
    assert str(caught.value) == f"the source was refused: 127.0.0.1 is loopback; {HINT}"
    assert stub.requests() == []


@PUBLIC
def test_the_public_policy_refuses_a_private_address_without_trying_to_connect() -> None:
    started = time.monotonic()
    with pytest.raises(clients.FetchError, match="10.255.255.1 is private") as caught:
        clients.fetch_items("http://10.255.255.1/feed", limit=1)  # unroutable: a connect would hang
    assert caught.value.code == clients.FETCH_REFUSED
    assert time.monotonic() - started < 0.5


@PUBLIC
def test_a_public_looking_name_that_resolves_to_loopback_is_refused(
    stub: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"feed.example": "127.0.0.1"})
    with pytest.raises(clients.FetchError) as caught:
        clients.fetch_items(f"http://feed.example:{port_of(stub)}/", limit=1)
    assert str(caught.value) == f"the source was refused: feed.example resolves to an address that is loopback; {HINT}"
    assert stub.requests() == []


def test_a_redirect_to_an_address_not_allowed_is_refused_at_its_hop(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolving(monkeypatch, {"feed.example": "127.0.0.1", "db.internal": "10.0.0.5"})
    hops = iter([f"http://localhost:{port_of(target)}/", "http://db.internal/"])
    stub.handler = lambda seen: Reply(status=302, headers={"Location": next(hops)})
    target.handler = lambda seen: Reply(body=[{"id": 1}])
    # The first hop's host is allowed by name; the redirect goes to a loopback name that is not.
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=["feed.example"]):
        for reason in ("localhost resolves to an address that is loopback", "db.internal resolves to an address"):
            with pytest.raises(clients.FetchError, match=reason) as caught:
                clients.fetch_items(f"http://feed.example:{port_of(stub)}/", limit=1)
            assert caught.value.code == clients.FETCH_REFUSED
    assert len(stub.requests()) == 2 and target.requests() == []


def test_an_allow_listed_address_or_name_is_fetched(stub: HttpStub, monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, {"feed.example": "127.0.0.1"})
    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    for allow, url in ((["127.0.0.1/32"], stub.url), (["feed.example"], f"http://feed.example:{port_of(stub)}/")):
        with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=allow):
            assert clients.fetch_items(url, limit=1) == [{"id": 1}]
    assert [seen.headers["host"] for seen in stub.requests()] == [
        f"127.0.0.1:{port_of(stub)}",
        f"feed.example:{port_of(stub)}",  # connected to the checked address, still asking for the name
    ]


def test_cloud_metadata_is_refused_even_by_the_local_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    resolving(monkeypatch, {"metadata.google.internal": "169.254.169.254"})
    for url in ("http://169.254.169.254/latest/", "http://metadata.google.internal/computeMetadata/v1/"):
        with pytest.raises(clients.FetchError, match="a cloud metadata endpoint") as caught:
            clients.fetch_items(url, limit=1)
        assert caught.value.code == clients.FETCH_REFUSED


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO"])
def test_a_redirect_to_another_scheme_is_refused(stub: HttpStub, location: str) -> None:
    stub.handler = lambda seen: Reply(status=302, headers={"Location": location})
    with pytest.raises(clients.FetchError, match="is not allowed") as caught:
        clients.fetch_items(stub.url, limit=1)
    assert caught.value.code == clients.FETCH_REFUSED


def test_url_credentials_are_refused_at_request_time_too(stub: HttpStub) -> None:
    with pytest.raises(clients.FetchError, match="credentials in the URL") as caught:
        clients.fetch_items(stub.url.replace("http://", "http://user:hunter2@"), limit=1)
    assert caught.value.code == clients.FETCH_REFUSED and "hunter2" not in str(caught.value)
    assert stub.requests() == []


@PUBLIC
def test_a_refused_target_fails_the_record_for_good(target: HttpStub) -> None:
    outcome = clients.post_record(target.url, {}, idempotency_key="k")
    assert (outcome.ok, outcome.transient) == (False, False)
    assert outcome.detail == f"target_refused: the target was refused: 127.0.0.1 is loopback; {HINT}"
    assert target.requests() == []


def test_connect_errors_name_no_address_or_port() -> None:
    with pytest.raises(clients.FetchError) as caught:
        clients.fetch_items("http://127.0.0.1:1/", limit=1)
    outcome = clients.post_record("http://127.0.0.1:1/", {}, idempotency_key="k")
    assert str(caught.value) == "the source could not be reached"
    assert outcome.detail == "network error: the target could not be reached"


def test_a_named_secret_reaches_the_source_and_the_target_as_headers(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_FEED", "Bearer feed-token")
    monkeypatch.setenv("ROBOT_SECRET_SINK", "X-Api-Key: sink-token")
    clients.fetch_items(stub.url, limit=1, secret="ROBOT_SECRET_FEED")
    assert clients.post_record(target.url, {}, idempotency_key="k", secret="ROBOT_SECRET_SINK").ok
    assert stub.requests()[0].headers["authorization"] == "Bearer feed-token"
    assert target.requests()[0].headers["x-api-key"] == "sink-token"


def test_a_secret_header_never_follows_a_redirect_to_another_origin(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_FEED", "X-Api-Key: feed-token")
    stub.handler = lambda seen: (
        Reply(status=302, headers={"Location": "/moved"})
        if seen.path == "/"
        else Reply(status=302, headers={"Location": target.url})
    )
    target.handler = lambda seen: Reply(body=[])
    clients.fetch_items(f"{stub.url}/", limit=1, secret="ROBOT_SECRET_FEED")
    assert [seen.headers.get("x-api-key") for seen in stub.requests()] == ["feed-token", "feed-token"]
    assert "x-api-key" not in target.requests()[0].headers


def test_a_missing_secret_is_a_clear_error_and_nothing_is_sent(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROBOT_SECRET_NOPE", raising=False)
    with pytest.raises(clients.FetchError) as caught:
        clients.fetch_items(stub.url, limit=1, secret="ROBOT_SECRET_NOPE")
    outcome = clients.post_record(target.url, {}, idempotency_key="k", secret="ROBOT_SECRET_NOPE")
    assert caught.value.code == clients.SECRET_MISSING
    assert str(caught.value) == "the source secret ROBOT_SECRET_NOPE is not set in the worker's environment"
    assert (outcome.ok, outcome.transient) == (False, False) and outcome.detail.startswith("secret_missing: ")
    assert stub.requests() == [] and target.requests() == []


def hanging_resolver(monkeypatch: pytest.MonkeyPatch, seconds: float) -> threading.Event:
    """Make every name look-up hang for ``seconds`` (or until the returned event is set)."""
    release = threading.Event()

    def resolve(host: str, port: int) -> list[outbound.IPAddress]:
        release.wait(seconds)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(outbound, "resolve", resolve)
    return release


@override_settings(ROBOT_POST_TIMEOUT=0.5)
def test_a_name_look_up_that_hangs_is_inside_the_post_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = hanging_resolver(monkeypatch, 10)
    started = time.monotonic()
    try:
        outcome = clients.post_record("http://dns-hangs.example:8080/", {}, idempotency_key="k")
    finally:
        release.set()
    assert (outcome.ok, outcome.transient) == (False, True)
    assert "timeout" in outcome.detail
    assert time.monotonic() - started < 1.5


@override_settings(ROBOT_FETCH_TIMEOUT=0.5)
def test_a_name_look_up_that_hangs_is_inside_the_fetch_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    release = hanging_resolver(monkeypatch, 10)
    started = time.monotonic()
    try:
        with pytest.raises(clients.FetchError) as caught:
            clients.fetch_items("http://dns-hangs.example:8080/", limit=1)
    finally:
        release.set()
    assert caught.value.code == clients.FETCH_TIMEOUT
    assert time.monotonic() - started < 1.5
