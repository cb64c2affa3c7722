"""Benchmark the registration path against anchors measured in the same run; print Markdown tables.

Run: ``make bench`` (or ``.venv/bin/python -m bench.registration_intake [--requests N] [--submissions N]``).
Always a private Redis (the bench empties its queues); SQLite in a temporary directory, and PostgreSQL too when
it answers at 127.0.0.1:5432 (database ``asyncportal_bench``, dropped and re-created).

1. Intake over HTTP (gunicorn, ``asyncportal/gunicorn.conf.py``, WEB_CONCURRENCY=2) at 4 and 32 client threads:
   POST /api/registrations/ (validate, store, enqueue after commit) vs a bare Django view, in alternating rounds;
   also a yardstick, ``bench/urls.py``'s floor view (read the body, one INSERT, one RQ enqueue, no checks): how
   close any durable Django + RQ intake can come to the bare view on this server.
2. Submit → job start: one idle worker (``WORKER_COMMAND``, once per class in ``WORKER_CLASSES``); POST and time
   until RQ's ``started_at`` of the registration job, vs a raw ``Queue.enqueue`` of a no-op job on the same worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from asyncportal import env, localredis
from asyncportal.queue_names import REGISTRATIONS, SERIALIZER

BASE_DIR = env.BASE_DIR
CLIENTS = (4, 32)
WEB = (sys.executable, "-m", "gunicorn", "bench.wsgi:application", "--config", "asyncportal/gunicorn.conf.py")
WEB_CONCURRENCY = "2"
# The one worker command line; the class is appended. Switch or add classes here (e.g. asyncportal.workers.*).
WORKER_COMMAND = (sys.executable, "manage.py", "rqworker", REGISTRATIONS, "bench", "--serializer", SERIALIZER)
WORKER_CLASSES = ("rq.worker.SimpleWorker", "rq.worker.Worker")
POSTGRES = "postgres://postgres@127.0.0.1:5432/"
POSTGRES_DB = "asyncportal_bench"
PERSON = {"first_name": "Bench", "last_name": "Mark", "phone": "+380501234567"}
# Each intake figure is this many alternating bare/POST rounds (see ``alternate``).
ROUNDS = 5
Measured = tuple[float, list[float]]  # (seconds, per-request latencies)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def manage(*args: str, environ: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=environ, check=True)


def databases(tmp: str) -> Iterator[tuple[str, str]]:
    """Yield (label, DATABASE_URL): SQLite always, PostgreSQL when it answers."""
    yield "SQLite", f"sqlite:///{tmp}/bench.sqlite3"
    try:
        with psycopg.connect(POSTGRES + "postgres", connect_timeout=2, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {POSTGRES_DB}")
            connection.execute(f"CREATE DATABASE {POSTGRES_DB}")
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {exc}".strip(), file=sys.stderr)
        return
    yield "PostgreSQL", POSTGRES + POSTGRES_DB


@contextmanager
def process(cmd: tuple[str, ...], environ: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, cwd=BASE_DIR, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            # Seen once (a SimpleWorker after its last job): the figures are taken; do not lose the run for it.
            print(f"warning: {' '.join(cmd[:4])} did not stop within 30 s of SIGTERM; killed", file=sys.stderr)
            proc.kill()
            proc.wait()


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False


class Hammer:
    """Send requests from ``clients`` threads, each with its own keep-alive client; logins never repeat."""

    def __init__(self) -> None:
        self.counter = 0
        self.lock = threading.Lock()

    def body(self) -> dict[str, str]:
        with self.lock:
            self.counter += 1
            i = self.counter
        return {**PERSON, "login": f"bench{i}", "email": f"bench{i}@example.com"}

    def run(self, url: str, requests: int, clients: int, post: bool) -> tuple[float, list[float]]:
        """Return (wall seconds, per-request latencies) of ``requests`` requests shared by ``clients`` threads."""
        # Clients are built before the clock starts: an httpx.Client costs milliseconds (its SSL context).
        sessions = [httpx.Client(timeout=30) for _ in range(clients)]
        latencies: list[float] = []
        barrier = threading.Barrier(clients + 1)

        def client_thread(session: httpx.Client, count: int) -> None:
            barrier.wait()
            for _ in range(count):
                start = time.perf_counter()
                response = session.post(url, json=self.body()) if post else session.get(url)
                assert response.status_code in (200, 202), response.text
                latencies.append(time.perf_counter() - start)

        threads = [
            threading.Thread(target=client_thread, args=(session, requests // clients + (i < requests % clients)))
            for i, session in enumerate(sessions)
        ]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        for session in sessions:
            session.close()
        return elapsed, latencies


def started_after(connection: redis.Redis, job_id: str, since: float) -> float:
    """Wait for job ``job_id`` to finish; return seconds from ``since`` (epoch) to its RQ ``started_at``."""
    key = Job.key_for(job_id)
    wait_until(lambda: connection.hget(key, "status") in (b"finished", b"failed"), f"job {job_id}")
    raw = connection.hget(key, "started_at")
    assert isinstance(raw, bytes), job_id
    started = datetime.strptime(raw.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return started.timestamp() - since


def start_latencies(base: str, connection: redis.Redis, submissions: int, hammer: Hammer) -> dict[str, list[float]]:
    """Time submit → start and raw enqueue → start, one job at a time, alternating, on an idle worker."""
    bench_queue = Queue("bench", connection=connection, serializer=JSONSerializer)
    measured: dict[str, list[float]] = {"raw": [], "post": []}
    with httpx.Client(timeout=30) as client:
        for i in range(submissions):
            since = time.time()
            job = bench_queue.enqueue("bench.jobs.noop", args=[str(i)])
            measured["raw"].append(started_after(connection, job.id, since))
            since = time.time()
            response = client.post(f"{base}/api/registrations/", json=hammer.body())
            assert response.status_code == 202 and response.json()["job_id"], response.text
            measured["post"].append(started_after(connection, response.json()["job_id"], since))
    return measured


def empty_registrations(connection: redis.Redis) -> None:
    """Drop queued registration jobs (of the intake runs): the job-start runs need an idle worker."""
    connection.delete(Queue(REGISTRATIONS, connection=connection).key)


def bench_database(label: str, environ: dict[str, str], args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Return this database's rows of the intake table and of the job-start table."""
    connection = redis.Redis.from_url(environ["REDIS_URL"])
    empty_registrations(connection)  # jobs of the previous database's rows
    manage("migrate", "--noinput", "-v", "0", environ=environ)
    port = localredis.free_port()
    base = f"http://127.0.0.1:{port}"
    hammer = Hammer()
    intake, starts = [], []
    with process(WEB, {**environ, "PORT": str(port), "WEB_CONCURRENCY": str(args.web_concurrency)}):
        wait_until(lambda: answers(f"{base}/healthz"), "gunicorn")
        hammer.run(f"{base}/bench/bare/", 50, 4, post=False)  # warm-up: imports, first connections
        hammer.run(f"{base}/api/registrations/", 20, 4, post=True)
        hammer.run(f"{base}/bench/floor/", 20, 4, post=True)
        for worker_class in WORKER_CLASSES:
            empty_registrations(connection)
            with process((*WORKER_COMMAND, "--worker-class", worker_class), environ):
                wait_until(lambda: Worker.all(connection=connection), "the worker")
                measured = start_latencies(base, connection, args.submissions, hammer)
            starts.append(start_rows(label, worker_class, measured))
        for clients in CLIENTS:
            intake.append(intake_rows(label, clients, *alternate(hammer, base, args.requests, clients)))
    return intake, starts


# (row name, path, POST?) in the order each round runs them; the first is the anchor of every ratio.
PATHS = (
    ("GET bare view (anchor)", "/bench/bare/", False),
    ("POST floor: INSERT + enqueue, no checks (yardstick)", "/bench/floor/", True),
    ("POST /api/registrations/", "/api/registrations/", True),
)


def alternate(hammer: Hammer, base: str, requests: int, clients: int) -> tuple[list[Measured], list[list[float]]]:
    """Measure every path of ``PATHS`` in ``ROUNDS`` alternating rounds of ``requests / ROUNDS`` each.

    On a machine whose speed drifts (a shared VM host), one long run of each puts them in different weather;
    rounds seconds apart keep each set in the same. Return each path's totals and its per-round req/s ratios
    to the anchor's.
    """
    per_round = max(clients, requests // ROUNDS)
    totals: list[Measured] = [(0.0, []) for _ in PATHS]
    ratios: list[list[float]] = [[] for _ in PATHS]
    for _ in range(ROUNDS):
        seconds = []
        for i, (_name, path, post) in enumerate(PATHS):
            elapsed, latencies = hammer.run(f"{base}{path}", per_round, clients, post=post)
            totals[i] = (totals[i][0] + elapsed, totals[i][1] + latencies)
            seconds.append(elapsed)
        for i, elapsed in enumerate(seconds):
            ratios[i].append(seconds[0] / elapsed)
    return totals, ratios


def intake_rows(label: str, clients: int, totals: list[Measured], ratios: list[list[float]]) -> str:
    (anchor_s, anchor_lat) = totals[0]
    anchor_rate, anchor_p99 = len(anchor_lat) / anchor_s, percentile(anchor_lat, 0.99)
    rows = []
    for i, ((name, _path, _post), (seconds, latencies)) in enumerate(zip(PATHS, totals, strict=True)):
        rate, p99, round_ratios = len(latencies) / seconds, percentile(latencies, 0.99), ratios[i]
        if i == 0:
            rate_ratio = p99_ratio = "anchor"
            rounds = ""
        else:
            rate_ratio, p99_ratio = f"{rate / anchor_rate:.2f}", f"{p99 / anchor_p99:.2f}"
            spread = f"{min(round_ratios):.2f}–{max(round_ratios):.2f}"
            rounds = f"{statistics.median(round_ratios):.2f} ({spread})"
        rows.append(
            f"| {label} | {clients} | {name} | {rate:.1f} | {statistics.median(latencies) * 1000:.1f} "
            f"| {p99 * 1000:.1f} | {rate_ratio} | {p99_ratio} | {rounds} |"
        )
    return "\n".join(rows)


def start_rows(label: str, worker_class: str, measured: dict[str, list[float]]) -> str:
    names = {"raw": "raw enqueue → start (anchor)", "post": "POST → registration job start"}
    return "\n".join(
        f"| {label} | `{worker_class}` | {names[key]} | {len(values)} | {statistics.median(values) * 1000:.1f} "
        f"| {percentile(values, 0.99) * 1000:.1f} |"
        for key, values in measured.items()
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500, help="requests per intake measurement (all rounds)")
    parser.add_argument("--submissions", type=int, default=200, help="jobs per job-start measurement")
    parser.add_argument("--web-concurrency", type=int, default=int(WEB_CONCURRENCY), help="gunicorn processes")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    intake, starts = [], []
    with tempfile.TemporaryDirectory(prefix="asyncportal-bench-") as tmp:
        server = localredis.start(Path(tmp) / "redis", persistent=False)
        try:
            for label, database_url in databases(tmp):
                if args.database != "both" and not label.lower().startswith(args.database[:6]):
                    continue
                environ = {
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "bench.settings",
                    "REDIS_URL": server.url,
                    "DATABASE_URL": database_url,
                    "PYTHONPATH": str(BASE_DIR),
                    # Volume is the point here: the intake rate limit must not refuse it.
                    "REGISTRATION_RATE_LIMIT": "0",
                    "REGISTRATION_DEMO_DELAY": "0",
                }
                rows = bench_database(label, environ, args)
                intake.extend(rows[0])
                starts.extend(rows[1])
        finally:
            server.stop()
    print(
        f"Intake over HTTP: gunicorn sync, WEB_CONCURRENCY={args.web_concurrency}, {args.requests} requests each, "
        f"in {ROUNDS} alternating rounds\n"
    )
    print("| database | clients | view | req/s | p50 ms | p99 ms | req/s ratio | p99 ratio | rounds: median (range) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(intake))
    print(f"\nSubmit → job start, one idle worker, one job at a time, {args.submissions} each\n")
    print("| database | worker class | path | jobs | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    print("\n".join(starts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
