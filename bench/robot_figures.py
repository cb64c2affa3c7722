"""The robot benchmark's measurements; each adds to ``Results`` (the bench process has Django set up)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import httpx
from rq import Worker
from rq.queue import Queue

from asyncportal import queues
from bench import robot_counts
from bench.robot_procs import wait

if TYPE_CHECKING:
    from bench.robot_throughput import Results, Sizes

NOOP = "bench.jobs.noop"
FAR = 86_400  # an interval that never comes: the throughput robots run one cycle each


def reachable(url: str) -> bool:
    try:
        return httpx.get(url, params={"limit": "1"}, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def warm_web(base: str) -> None:
    """Serve the pages people open (beside the demo feed the robots read) before reading the web peak RSS."""
    with httpx.Client(base_url=base, timeout=10) as client:
        for path in ("/healthz", "/admin/login/", "/api/robots/demo/", "/", "/api/demo/todos/?limit=10000"):
            for _ in range(5):
                client.get(path)


def wait_workers(count: int) -> None:
    queue = queues.get_queue(queues.RECORDS)
    wait(lambda: len(Worker.all(queue=queue)) >= count, 60, f"{count} record workers")


def make_robot(*, batch_size: int, chunk: int, target: str, source: str, token: str = "", interval: int = FAR) -> Any:
    from robot.models import Robot

    name = f"bench-{time.time_ns()}"
    return Robot.objects.create(
        name=name,
        source_url=source,
        batch_size=batch_size,
        interval=interval,
        target_url=target,
        chunk_size=chunk,
        chain_token=token,
    )


def anchor_rate(jobs: int) -> float:
    """Raw RQ: enqueue ``jobs`` no-op jobs in one pipeline and time them until all are finished."""
    queue = queues.get_queue(queues.RECORDS)
    registry = queue.finished_job_registry
    before = registry.count
    stamp = time.time_ns()
    datas = [Queue.prepare_data(NOOP, args=[str(i)], job_id=f"noop-{stamp}-{i}", result_ttl=300) for i in range(jobs)]
    started = time.monotonic()
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    wait(lambda: registry.count - before >= jobs, 600, "raw jobs to drain")
    return jobs / (time.monotonic() - started)


def cycle_rate(results: Results, source: str, target: str, workers: int, chunk: int, records: int) -> None:
    """Run one cycle through the robot worker and the pool; records/s from fan-out to the cycle's end."""
    from robot import services
    from robot.models import RobotCycle

    robot = make_robot(batch_size=records, chunk=chunk, target=target, source=source)
    services.robot_run_once(name=robot.name, actor=services.SYSTEM)
    cycle = wait(
        lambda: RobotCycle.objects.filter(robot=robot, finished_at__isnull=False).first(), 900, "cycle", every=0.05
    )
    assert cycle.fanned_out_at and cycle.finished_at and cycle.done == records, (cycle, cycle.error)
    results.rates[(workers, chunk, bool(target))] = records / (cycle.finished_at - cycle.fanned_out_at).total_seconds()


def fan_out(results: Results, source: str, records: int) -> None:
    """Time ``cycle_run`` (fetch, rows, enqueue) in this process with no pool running, against raw
    ``enqueue_many`` of as many trivial jobs."""
    queue = queues.get_queue(queues.RECORDS)
    _fan_out_once(source, 20, 1, queue)  # warm-up: imports, connections
    results.fan_out["anchor"] = (_enqueue_many_seconds(records, queue), 0.0)
    results.fan_out["chunk_size 1"] = _fan_out_once(source, records, 1, queue)
    results.fan_out["chunk_size 50"] = _fan_out_once(source, records, 50, queue)


def profile_fan_out(source: str, records: int) -> str:
    """One chunk-1 fan-out of ``records`` under pyinstrument (a sampler: little skew from the profiler)."""
    from pyinstrument import Profiler

    queue = queues.get_queue(queues.RECORDS)
    profiler = Profiler(interval=0.0005)
    with profiler:
        seconds, _ = _fan_out_once(source, records, 1, queue)
    text = profiler.output_text(unicode=True, show_all=False, short_mode=False)
    return f"pyinstrument of one {records}-record chunk-1 fan-out ({seconds:.2f} s in cycle_run):\n{text}\n"


def _enqueue_many_seconds(jobs: int, queue: Queue) -> float:
    stamp = time.time_ns()
    datas = [Queue.prepare_data(NOOP, args=[str(i)], job_id=f"many-{stamp}-{i}") for i in range(jobs)]
    started = time.monotonic()
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    seconds = time.monotonic() - started
    assert queue.count == jobs, queue.count
    queue.empty()  # type: ignore[no-untyped-call]
    return seconds


def _fan_out_once(source: str, records: int, chunk: int, queue: Queue) -> tuple[float, float]:
    from robot import services
    from robot.models import RobotCycle

    robot = make_robot(batch_size=records, chunk=chunk, target="", source=source, token="fan-out")
    started = time.monotonic()
    cycle_id = services.cycle_run(robot_id=robot.pk, token="fan-out")
    seconds = time.monotonic() - started
    assert cycle_id is not None
    cycle = RobotCycle.objects.get(pk=cycle_id)
    assert cycle.fanned_out_at and cycle.dispatched == records, (cycle, cycle.error)
    assert queue.count == math.ceil(records / chunk), queue.count
    queue.empty()  # type: ignore[no-untyped-call]
    robot_counts.drop_robot(robot)  # else the sweeper would later re-dispatch its records
    return seconds, (cycle.fanned_out_at - cycle.started_at).total_seconds()


def gaps(results: Results, source: str, sizes: Sizes) -> None:
    """Cycle start minus previous end minus interval: one robot for ``gap_cycles`` cycles, then a crowd."""
    from robot.models import RobotCycle

    one = _start_robots(1, source)
    wait(
        lambda: RobotCycle.objects.filter(robot__in=one, finished_at__isnull=False).count() >= sizes.gap_cycles,
        sizes.gap_cycles * 10,
        "cycles",
        every=0.1,
    )
    results.gaps["1 robot"] = _stop_and_collect(one)
    crowd = _start_robots(sizes.crowd_robots, source)
    time.sleep(sizes.crowd_seconds)
    results.gaps[f"{sizes.crowd_robots} robots"] = _stop_and_collect(crowd)


def _start_robots(count: int, source: str) -> list[Any]:
    from robot import services

    robots = [make_robot(batch_size=3, chunk=10, target="", source=source, interval=1) for _ in range(count)]
    for robot in robots:
        services.robot_start(name=robot.name, actor=services.SYSTEM)
    return robots


def _stop_and_collect(robots: list[Any]) -> list[float]:
    from robot import services
    from robot.models import RobotCycle

    for robot in robots:
        services.robot_stop(name=robot.name, actor=services.SYSTEM)
    found: list[float] = []
    for robot in robots:
        cycles = list(RobotCycle.objects.filter(robot=robot, finished_at__isnull=False).order_by("number"))
        pairs = zip(cycles, cycles[1:], strict=False)
        found += [(b.started_at - _ended(a)).total_seconds() - robot.interval for a, b in pairs]
    return found


def _ended(cycle: Any) -> Any:
    assert cycle.finished_at is not None
    return cycle.finished_at


def counts(results: Results, source: str, target: str, *, profile: bool) -> None:
    for chunk in (1, 50, 200):
        for target_url in ("", target):
            records = 1000 if chunk == 1 else 2000
            found = robot_counts.measure(
                records=records, chunk=chunk, target=target_url, source=source, make_robot=make_robot
            )
            results.counts.append(found)
    if profile:
        for target_url in ("", target):
            results.profile += robot_counts.profile(
                records=1000, chunk=1, target=target_url, source=source, make_robot=make_robot
            )
        # The chunked-with-target path too: what its job's thread waits on (POSTs run in other threads).
        results.profile += robot_counts.profile(
            records=2000, chunk=50, target=target, source=source, make_robot=make_robot
        )
