"""Workers killed or stopped mid-job, with real processes: SIGKILL is healed within a minute, SIGTERM finishes first.

The robot worker SIGKILLed mid-cycle is in test_robot_healing.py, the records pool given SIGTERM in
test_robot_workers.py.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.contrib.auth.models import User

from asyncportal.queues import REGISTRATIONS
from registration import services as registration_services
from registration.models import Registration, Status
from robot import services
from robot.models import RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.registration.factories import VALID
from tests.robot.support import (
    HttpStub,
    Reply,
    Seen,
    StartSweeper,
    demo_source,
    finished_cycles,
    kill_tree,
    make_robot,
    start_sweeper,
    stub,
)

__all__ = ["start_sweeper", "stub"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")
HEAL_DEADLINE = 60.0
# A job that is surely mid-way when the test acts (4 s demo delay), and a lease that still passes check E003.
SLOW_REGISTRATION = {"REGISTRATION_DEMO_DELAY": "4", "EMAIL_TIMEOUT": "2", "REGISTRATION_LEASE_SECONDS": "12"}


def submitted() -> Registration:
    return registration_services.registration_create(data=registration_services.RegistrationData(**VALID))  # type: ignore[typeddict-item]


def status_of(registration: Registration) -> str:
    return Registration.objects.values_list("status", flat=True).get(pk=registration.pk)


def test_a_registration_whose_worker_was_killed_mid_job_is_done_within_a_minute(
    start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    worker = start_worker(REGISTRATIONS, extra_env=SLOW_REGISTRATION)
    start_sweeper(SLOW_REGISTRATION)
    registration = submitted()
    wait_for(lambda: status_of(registration) == Status.PROCESSING, timeout=30, message="the job to claim it")
    first_job = Registration.objects.get(pk=registration.pk).job_id
    kill_tree(worker)  # the pod dies mid-job: worker and work horse
    killed_at = time.time()
    start_worker(REGISTRATIONS, extra_env=SLOW_REGISTRATION)
    wait_for(lambda: status_of(registration) == Status.DONE, timeout=HEAL_DEADLINE, message="the registration done")
    registration.refresh_from_db()
    done_after = registration.updated_at.timestamp() - killed_at
    print(
        f"registration worker kill: done_after={done_after:.1f}s attempts={registration.attempts} "
        f"users={User.objects.count()} lease={SLOW_REGISTRATION['REGISTRATION_LEASE_SECONDS']}s"
    )
    assert done_after <= HEAL_DEADLINE
    assert registration.job_id != first_job and registration.attempts == 2
    assert list(User.objects.values_list("username", flat=True)) == [VALID["login"]]
    assert registration.user is not None and registration.welcome_sent_at is not None


def test_a_registrations_worker_given_sigterm_mid_job_finishes_it_then_exits_0(start_worker: StartWorker) -> None:
    worker = start_worker(REGISTRATIONS, extra_env=SLOW_REGISTRATION)
    registration = submitted()
    wait_for(lambda: status_of(registration) == Status.PROCESSING, timeout=30, message="the job to claim it")
    signalled_at = time.time()
    worker.send_signal(signal.SIGTERM)
    assert worker.poll() is None  # still finishing the job
    code = worker.wait(timeout=30)
    exited_after = time.time() - signalled_at
    registration.refresh_from_db()
    print(
        f"registration worker sigterm: exit={code} exited_after={exited_after:.1f}s "
        f"status={registration.status} attempts={registration.attempts}"
    )
    assert (code, registration.status, registration.attempts) == (0, Status.DONE, 1)
    assert User.objects.count() == 1


def test_a_robot_worker_given_sigterm_mid_fetch_finishes_the_cycle_then_exits_0(
    stub: HttpStub, start_worker: StartWorker
) -> None:
    fetches: list[Seen] = []

    def slow_source(seen: Seen) -> Reply:
        fetches.append(seen)
        return Reply(body=demo_source(seen).body, delay=1.0)  # the source answers after about a second

    stub.handler = slow_source
    robot = make_robot(source_url=stub.url, batch_size=3, interval=60)
    worker = start_worker("robot")
    start_worker("records", pool=1)
    services.robot_start(name=robot.name, actor=ACTOR)
    wait_for(lambda: fetches, timeout=30, message="the first cycle's fetch in flight")
    signalled_at = time.time()
    worker.send_signal(signal.SIGTERM)
    assert worker.poll() is None  # still fetching
    code = worker.wait(timeout=30)
    exited_after = time.time() - signalled_at
    (cycle,) = wait_for(lambda: finished_cycles(robot, 1), timeout=30, message="the cycle to finish")
    print(
        f"robot worker sigterm: exit={code} exited_after={exited_after:.1f}s "
        f"cycle={cycle.status} done={cycle.done} fetches={len(fetches)}"
    )
    assert code == 0
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 3, 0)
    assert RobotCycle.objects.filter(robot=robot).count() == 1
