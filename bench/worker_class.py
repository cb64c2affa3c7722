"""Benchmark RQ worker classes for the registrations worker and the records pool.

Run: ``make bench`` (or ``.venv/bin/python -m bench.worker_class [--jobs N] [--samples N] [--leak-jobs N]``).
Always a private redis-server and a throwaway SQLite database; real ``manage.py rqworker`` / ``rqworker-pool``
processes, as deploy/entrypoint.sh runs them. Prints Markdown tables:

1. Throughput: no-op jobs/s through ``rqworker-pool --num-workers 1|2`` for each class.
2. Latency: enqueue -> job start (the job stamps its own start) for one idle ``rqworker``, p50/p99.
3. Memory: peak worker RSS over N no-op jobs, then over N jobs that each leak 100 KB (recycling bounds it).

``--max-jobs`` (default 1000, below production's ``RQ_WORKER_MAX_JOBS``) makes recycles happen within a run, so
the RecyclingSimpleWorker rows include their cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import Queue, get_current_job
from rq.serializers import JSONSerializer

from asyncportal import env, localredis
from asyncportal.queue_names import SERIALIZER

BASE_DIR = env.BASE_DIR
QUEUE = "bench"
STAMPS = "bench:worker-class:stamps"
CLASSES = {
    "forking `Worker`": "rq.worker.Worker",
    "`SimpleWorker`": "rq.worker.SimpleWorker",
    "`RecyclingSimpleWorker`": "asyncportal.workers.RecyclingSimpleWorker",
}
_leaked: list[bytes] = []


def noop() -> None:
    """Nothing: the figure is RQ's own cost per job."""


def stamp() -> None:
    """Push the moment the job body started, for the enqueue -> start latency."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(STAMPS, repr(time.time()))


def leak() -> None:
    """Keep 100 KB for good, like a cache without a bound."""
    _leaked.append(os.urandom(100_000))


@contextmanager
def worker(environ: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``manage.py <args>`` (a worker or pool) until the block ends, then SIGTERM it."""
    cmd = [sys.executable, str(BASE_DIR / "manage.py"), *args, "--serializer", SERIALIZER]
    proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(60)


def wait_for_workers(conn: redis.Redis, count: int) -> None:
    from rq import Worker

    deadline = time.monotonic() + 60
    while len(Worker.all(connection=conn)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} workers did not register")
        time.sleep(0.05)


def drain(queue: Queue, func: str, count: int) -> float:
    """Enqueue ``count`` jobs at once; return seconds until all have finished."""
    finished = queue.finished_job_registry
    before = finished.count
    datas = [Queue.prepare_data(func, result_ttl=600) for _ in range(count)]
    started = time.perf_counter()
    queue.enqueue_many(datas)
    while finished.count - before < count:
        time.sleep(0.005)
    return time.perf_counter() - started


def throughput(environ: dict[str, str], queue: Queue, jobs: int) -> list[tuple[str, int, float]]:
    rows = []
    for label, path in CLASSES.items():
        for processes in (1, 2):
            args = ("rqworker-pool", QUEUE, "--num-workers", str(processes), "--worker-class", path)
            with worker(environ, *args):
                wait_for_workers(queue.connection, processes)
                drain(queue, "bench.worker_class.noop", 50)  # warm-up
                rows.append((label, processes, jobs / drain(queue, "bench.worker_class.noop", jobs)))
            flush(queue.connection)
    return rows


def latency(environ: dict[str, str], queue: Queue, samples: int) -> list[tuple[str, float, float]]:
    rows = []
    for label, path in CLASSES.items():
        with worker(environ, "rqworker", QUEUE, "--worker-class", path):
            wait_for_workers(queue.connection, 1)
            gaps = []
            for i in range(samples + 10):
                sent = time.time()
                queue.enqueue("bench.worker_class.stamp", result_ttl=0)
                popped = queue.connection.blpop([STAMPS], timeout=30)
                assert popped is not None, "stamp job did not run"
                if i >= 10:  # the first jobs import the module and open connections
                    gaps.append(float(popped[1]) - sent)
        flush(queue.connection)
        cuts = statistics.quantiles(gaps, n=100)
        rows.append((label, statistics.median(gaps) * 1000, cuts[98] * 1000))
    return rows


def memory(environ: dict[str, str], queue: Queue, jobs: int, max_jobs: int) -> list[tuple[str, int, int, int]]:
    """Per class: peak RSS (MiB) of the worker process idle, over ``jobs`` no-op jobs, over ``jobs`` leaking ones."""
    rows = []
    for label, path in CLASSES.items():
        with worker({**environ, "RQ_WORKER_MAX_JOBS": str(max_jobs)}, "rqworker", QUEUE, "--worker-class", path) as p:
            wait_for_workers(queue.connection, 1)
            idle = rss_mib(p.pid)
            with peak_rss(p.pid) as noop_peak:
                drain(queue, "bench.worker_class.noop", jobs)
            with peak_rss(p.pid) as leak_peak:
                drain(queue, "bench.worker_class.leak", jobs)
            rows.append((label, idle, max(noop_peak), max(leak_peak)))
        flush(queue.connection)
    return rows


@contextmanager
def peak_rss(pid: int) -> Iterator[list[int]]:
    """Sample the RSS of ``pid`` every 20 ms while the block runs; the list holds the samples."""
    samples = [rss_mib(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            # An exec'ing (recycling) worker briefly has a tiny RSS; that is not the peak anyway.
            with suppress(FileNotFoundError, RuntimeError):
                samples.append(rss_mib(pid))

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def flush(conn: redis.Redis) -> None:
    """Forget the previous worker's jobs and registrations (private Redis: nothing else lives there)."""
    conn.flushdb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per throughput and memory run")
    parser.add_argument("--samples", type=int, default=300, help="latency samples per class")
    parser.add_argument("--max-jobs", type=int, default=1000, help="RQ_WORKER_MAX_JOBS for the workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="worker-class-bench-") as tmp:
        server = localredis.start(Path(tmp) / "redis", persistent=False)
        environ = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "REDIS_URL": server.url,
            "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
            "RQ_WORKER_MAX_JOBS": str(args.max_jobs),
            "PYTHONPATH": str(BASE_DIR),
        }
        try:
            queue = Queue(QUEUE, connection=redis.Redis.from_url(server.url), serializer=JSONSerializer)
            rates = throughput(environ, queue, args.jobs)
            delays = latency(environ, queue, args.samples)
            sizes = memory(environ, queue, args.jobs, args.max_jobs)
        finally:
            server.stop()
    report(args, rates, delays, sizes)
    return 0


def report(
    args: argparse.Namespace,
    rates: list[tuple[str, int, float]],
    delays: list[tuple[str, float, float]],
    sizes: list[tuple[str, int, int, int]],
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{when}; {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; ", end="")
    print(f"`python -m bench.worker_class --jobs {args.jobs} --samples {args.samples} --max-jobs {args.max_jobs}`")
    print(f"\n`RecyclingSimpleWorker` recycles every {args.max_jobs} jobs per process in every table below.")
    print("\n| class | processes | no-op jobs/s |\n|---|---|---|")
    for label, processes, rate in rates:
        print(f"| {label} | {processes} | {rate:.0f} |")
    print("\n| class (one idle `rqworker`) | enqueue -> start p50 | p99 |\n|---|---|---|")
    for label, p50, p99 in delays:
        print(f"| {label} | {p50:.1f} ms | {p99:.1f} ms |")
    print(f"\n| class (one `rqworker`) | RSS idle | peak over {args.jobs} no-op jobs ", end="")
    print(f"| peak over {args.jobs} more jobs leaking 100 KB each |\n|---|---|---|---|")
    for label, idle, after_noop, after_leak in sizes:
        print(f"| {label} | {idle} MiB | {after_noop} MiB | {after_leak} MiB |")


if __name__ == "__main__":
    sys.exit(main())
