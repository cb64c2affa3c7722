"""RQ job entry points: take primitive ids, call one service. Paths are referenced by ``services.queueing``."""

from __future__ import annotations

from rq import get_current_job

from robot import services


def run_cycle(robot_id: int, token: str) -> int | None:
    """Run one cycle of robot ``robot_id`` if ``token`` is still its chain token."""
    return services.cycle_run(robot_id=robot_id, token=token)


def process_record(record_id: int) -> str:
    """Deliver one record; raising lets RQ retry it with backoff while retries remain."""
    job = get_current_job()
    can_retry = bool(job is not None and job.retries_left)
    return services.record_process(record_id=record_id, can_retry=can_retry)
