"""Delivering a chunk's records in concurrent sub-batches: overlap, fences, one outcome each, one done UPDATE."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db.models import F
from django.test import override_settings

from robot import clients
from robot.models import ProcessedRecord
from robot.services import delivery
from tests.robot.support import HttpStub, IdempotentTarget, Reply, Seen
from tests.robot.test_records import CaptureWrites, deliver, fan_out, record

pytestmark = pytest.mark.django_db(transaction=True)


class Gate:
    """A target that holds every POST until ``count`` of them are in flight at once (or ``patience`` passes)."""

    def __init__(self, count: int, patience: float = 5.0) -> None:
        self.count = count
        self.patience = patience
        self.arrived = 0
        self.all_in = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        with self.lock:
            self.arrived += 1
            if self.arrived >= self.count:
                self.all_in.set()
        return Reply(status=200 if self.all_in.wait(self.patience) else 503)


@override_settings(ROBOT_DELIVERY_CONCURRENCY=4, ROBOT_POST_TIMEOUT=10)
def test_a_sub_batch_is_posted_concurrently(stub: HttpStub, target: HttpStub) -> None:
    gate = Gate(4)
    target.handler = gate
    fan_out(stub, target, [1, 2, 3, 4], batch_size=4, chunk_size=4)
    # Posted one after the other, the first POST would wait out the gate's patience and get a 503.
    assert deliver("1", "2", "3", "4")["done"] == 4
    assert gate.all_in.is_set()
    assert {r.status for r in ProcessedRecord.objects.all()} == {"done"}


@override_settings(ROBOT_DELIVERY_CONCURRENCY=3)
def test_a_record_re_dispatched_before_its_sub_batch_is_claimed_is_not_delivered(
    stub: HttpStub, target: HttpStub
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3], chunk_size=3)
    pairs = [(record(s).pk, record(s).dispatch) for s in ("1", "2", "3")]

    def sweeper_re_dispatches_2() -> bool:
        # Runs after the job read its rows and before it claims the sub-batch, as a sweeper would.
        ProcessedRecord.objects.filter(source_id="2").update(dispatch=F("dispatch") + 1)
        return False

    from robot import services

    outcome = services.records_process(pairs=pairs, stop_requested=sweeper_re_dispatches_2).as_dict()
    assert (outcome["done"], outcome["skipped"]) == (2, 1)
    assert sorted(seen.headers["idempotency-key"] for seen in target.requests("POST")) == ["r1:1", "r1:3"]
    assert (record("2").status, record("2").attempts) == ("queued", 0)


@override_settings(ROBOT_DELIVERY_CONCURRENCY=3)
def test_a_record_re_dispatched_during_its_post_keeps_the_new_dispatch(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3], chunk_size=3)
    real_post_all = delivery.post_all

    def post_all_then_lease_lapses(rows: Any, robot: Any, key: Any) -> Any:
        answers = real_post_all(rows, robot, key)
        ProcessedRecord.objects.filter(source_id="2").update(status="queued", dispatch=F("dispatch") + 1)
        return answers

    monkeypatch.setattr(delivery, "post_all", post_all_then_lease_lapses)
    outcome = deliver("1", "2", "3")
    assert (outcome["done"], outcome["skipped"]) == (2, 1)
    assert (record("1").status, record("2").status, record("3").status) == ("done", "queued", "done")
    assert record("2").dispatch == 2


@override_settings(ROBOT_DELIVERY_CONCURRENCY=4, ROBOT_RECORD_RETRIES=3)
def test_one_sub_batch_gives_a_raise_a_transient_a_4xx_and_a_success_their_own_outcomes(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.handler = IdempotentTarget({"r1:2": [503], "r1:3": [404]})
    fan_out(stub, target, [1, 2, 3, 4], batch_size=4, chunk_size=4)
    real_post = clients.post_record
    posting_threads: set[str] = set()

    def post(url: str, payload: Any, *, idempotency_key: str, secret: str) -> Any:
        posting_threads.add(threading.current_thread().name)
        if payload["id"] == 1:
            raise ValueError("unencodable payload")
        return real_post(url, payload, idempotency_key=idempotency_key, secret=secret)

    monkeypatch.setattr(clients, "post_record", post)
    outcome = deliver("1", "2", "3", "4")
    assert (outcome["done"], outcome["failed"], outcome["retried"]) == (1, 2, 1)
    assert {r.source_id: r.status for r in ProcessedRecord.objects.all()} == {
        "1": "failed",
        "2": "queued",
        "3": "failed",
        "4": "done",
    }
    assert "ValueError: unencodable payload" in record("1").error
    assert (record("2").dispatch, record("4").dispatch) == (2, 1)
    assert threading.current_thread().name not in posting_threads


@pytest.mark.parametrize("concurrency", [2, 4])
def test_a_sub_batch_is_claimed_and_marked_done_in_one_statement_each(
    stub: HttpStub, target: HttpStub, concurrency: int
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3, 4], batch_size=4, chunk_size=4)
    with override_settings(ROBOT_DELIVERY_CONCURRENCY=concurrency), CaptureWrites() as writes:
        assert deliver("1", "2", "3", "4")["done"] == 4
    sub_batches = 4 // concurrency
    # With more than one sub-batch, a completion (for a robot without a target; here it changes nothing) and a
    # hold on the rows waiting; then per sub-batch one claim and one done (then the cycle ends, elsewhere).
    on_records = [sql for sql in writes.statements if sql.startswith('UPDATE "robot_processedrecord"')]
    assert len(on_records) == 2 * (sub_batches > 1) + 2 * sub_batches
    assert {r.status for r in ProcessedRecord.objects.all()} == {"done"}


@override_settings(ROBOT_DELIVERY_CONCURRENCY=2)
def test_a_chunk_asked_to_stop_finishes_the_sub_batch_in_hand_and_hands_back_the_rest(
    stub: HttpStub, target: HttpStub
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3, 4, 5], chunk_size=5)
    asked: list[bool] = []

    def stop_after_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    from robot import services

    pairs = [(record(s).pk, record(s).dispatch) for s in ("1", "2", "3", "4", "5")]
    outcome = services.records_process(pairs=pairs, stop_requested=stop_after_first)
    assert (outcome.done, outcome.handed_back) == (2, 3)
    assert [record(s).dispatch for s in ("1", "2", "3", "4", "5")] == [1, 1, 2, 2, 2]
    assert len(target.requests("POST")) == 2
