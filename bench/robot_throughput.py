"""Robot benchmark: records/s through the record pool, next to raw RQ, and the cycle gap beyond the interval.

Usage: .venv/bin/python bench/robot_throughput.py [--workers 2] [--records 1000] [--cycles 21]

Uses REDIS_URL and DATABASE_URL when set (give it a scratch database: it creates robots), otherwise starts a
private redis-server and a temporary SQLite database. Real processes throughout: ``manage.py rqworker robot
--with-scheduler`` and ``manage.py rqworker-pool records``, as in the Procfile.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SERIALIZER = "rq.serializers.JSONSerializer"


def noop() -> None:
    """The anchor's job: nothing, so the figure is RQ's own cost per job (fork, Redis, bookkeeping)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=21, help="cycles for the gap measurement (gaps = cycles - 1)")
    parser.add_argument("--worker-class", default="", help="e.g. rq.worker.SimpleWorker (default: forking Worker)")
    args = parser.parse_args()
    sys.path.insert(0, str(BASE_DIR))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="robot-bench-")))
        _environment(stack, tmp, args.workers)
        rows = _run(stack, tmp, args)
    _print(rows, args)
    return 0


def _environment(stack: ExitStack, tmp: Path, workers: int) -> None:
    from asyncportal import localredis

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asyncportal.settings.local")
    os.environ["DEBUG"] = "false"
    os.environ["WORKERS"] = str(workers)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("REDIS_URL"):
        server = localredis.start(tmp / "redis", persistent=False)
        stack.callback(server.stop)
        os.environ["REDIS_URL"] = server.url
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _run(stack: ExitStack, tmp: Path, args: argparse.Namespace) -> list[tuple[str, str]]:
    source = stack.enter_context(_http_server(_demo_feed))
    sink = stack.enter_context(_http_server(lambda method, query: (200, b'{"ok": true}')))
    stack.enter_context(_worker(tmp, "rqworker", "robot", "--with-scheduler"))
    pool = ["records", "--num-workers", str(args.workers)]
    pool += ["--worker-class", args.worker_class] if args.worker_class else []
    stack.enter_context(_worker(tmp, "rqworker-pool", *pool))
    _wait(lambda: _registered_workers() >= 1 + args.workers, 60, "workers to register")
    rows = [("raw RQ no-op jobs (anchor)", f"{_raw_rq_rate(args.records):8.1f} jobs/s")]
    stored, total = _cycle_rate(f"{source}/todos", args.records, "")
    rows.append((f"robot, {args.records}-record cycle, store only", f"{stored:8.1f} records/s ({total:.1f}s cycle)"))
    posted, total = _cycle_rate(f"{source}/todos", args.records, f"{sink}/in")
    rows.append((f"robot, {args.records}-record cycle, + POST", f"{posted:8.1f} records/s ({total:.1f}s cycle)"))
    gaps = _gaps(f"{source}/todos", args.cycles)
    rows.append((f"cycle gap - interval, median ({len(gaps)} gaps)", f"{statistics.median(gaps) * 1000:8.0f} ms"))
    rows.append(("cycle gap - interval, min / max", f"{min(gaps) * 1000:8.0f} / {max(gaps) * 1000:.0f} ms"))
    return rows


def _raw_rq_rate(count: int) -> float:
    from rq.queue import Queue

    from asyncportal import queues

    queue = queues.get_queue(queues.RECORDS)
    finished = queue.finished_job_registry
    before = finished.count
    datas = [
        Queue.prepare_data("bench.robot_throughput.noop", job_id=f"bench-noop-{i}-{time.time_ns()}")
        for i in range(count)
    ]
    started = time.monotonic()
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(datas, pipeline=pipe)
        pipe.execute()
    _wait(lambda: finished.count - before >= count, 300, "raw jobs to drain")
    return count / (time.monotonic() - started)


def _cycle_rate(source_url: str, records: int, target_url: str) -> tuple[float, float]:
    """Run one cycle of ``records`` and return (records/s from fan-out to the cycle's end, whole cycle seconds)."""
    from robot import services
    from robot.models import Robot, RobotCycle

    name = f"bench-{time.time_ns()}"
    Robot.objects.create(name=name, source_url=source_url, records=records, interval=86_400, target_url=target_url)
    services.robot_run_once(name=name, actor=services.SYSTEM)
    cycle = _wait(lambda: RobotCycle.objects.filter(robot__name=name, finished_at__isnull=False).first(), 600, "cycle")
    assert cycle.fanned_out_at and cycle.finished_at and cycle.done == records, cycle
    processing = (cycle.finished_at - cycle.fanned_out_at).total_seconds()
    return records / processing, (cycle.finished_at - cycle.started_at).total_seconds()


def _gaps(source_url: str, cycles: int) -> list[float]:
    from robot import services
    from robot.models import Robot, RobotCycle

    name = f"bench-gap-{time.time_ns()}"
    Robot.objects.create(name=name, source_url=source_url, records=5, interval=1)
    services.robot_start(name=name, actor=services.SYSTEM)
    done = _wait(
        lambda: (lambda found: found if len(found) >= cycles else None)(
            list(RobotCycle.objects.filter(robot__name=name, finished_at__isnull=False).order_by("number"))
        ),
        cycles * 10,
        "cycles",
    )
    services.robot_stop(name=name, actor=services.SYSTEM)
    return [(b.started_at - a.finished_at).total_seconds() - 1 for a, b in zip(done, done[1:], strict=False)]


def _registered_workers() -> int:
    from rq import Worker

    from asyncportal import queues

    return len(Worker.all(connection=queues.get_connection()))


def _demo_feed(method: str, query: dict[str, str]) -> tuple[int, bytes]:
    from robot.services.demo import demo_todos

    limit, after = int(query.get("limit", "20")), int(query.get("after", "0"))
    return 200, json.dumps(demo_todos(limit=limit, after=after)).encode()


@contextmanager
def _http_server(reply: Callable[[str, dict[str, str]], tuple[int, bytes]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
            status, body = reply(self.command, query)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def _worker(tmp: Path, command: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    log = open(tmp / f"{command}-{args[0]}.log", "wb")  # noqa: SIM115 - closed below
    cmd = [sys.executable, str(BASE_DIR / "manage.py"), command, *args, "--serializer", SERIALIZER]
    env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=BASE_DIR)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def _print(rows: list[tuple[str, str]], args: argparse.Namespace) -> None:
    from django.db import connection

    kind = args.worker_class or "rq.worker.Worker (forks a work horse per job)"
    print(f"\nrobot benchmark: WORKERS={args.workers}, database={connection.vendor}, record pool: {kind}\n")
    width = max(len(label) for label, _ in rows)
    print(f"{'measure'.ljust(width)} | result")
    print(f"{'-' * width}-+-{'-' * 40}")
    for label, value in rows:
        print(f"{label.ljust(width)} | {value.strip()}")


if __name__ == "__main__":
    sys.exit(main())
