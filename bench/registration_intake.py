"""Benchmark the registration path against anchors measured in the same run.

Run: ``make bench`` (or ``.venv/bin/python -m bench.registration_intake [--requests N] [--jobs N]``).
Private Redis and a throwaway SQLite database unless REDIS_URL / DATABASE_URL are set.

1. Intake over HTTP (gunicorn, 2 processes, 4 client threads): POST /api/registrations/ (validate, store,
   enqueue after commit) vs a bare Django view.
2. Drain: one `rqworker --burst` processing registration jobs (account + welcome mail, console backend off)
   vs the same worker draining no-op jobs (raw RQ, JSON serializer).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from asyncportal import env, localredis

BASE_DIR = env.BASE_DIR
SERIALIZER = "rq.serializers.JSONSerializer"


def manage(*args: str, environ: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], env=environ, check=True)


def hammer(url: str, requests: int, body: object | None) -> tuple[float, list[float]]:
    """Send ``requests`` requests from 4 threads; return (wall seconds, per-request latencies)."""

    local = threading.local()

    def one(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=10)  # keep-alive per thread, like a real client
        start = time.perf_counter()
        if body is None:
            response = local.client.get(url)
        else:
            payload = {**body, "login": f"bench{i}", "email": f"bench{i}@example.com"}  # type: ignore[dict-item]
            response = local.client.post(url, json=payload)
        assert response.status_code in (200, 202), response.text
        return time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        latencies = list(pool.map(one, range(requests)))
    return time.perf_counter() - started, latencies


def drain(queue: str, environ: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(BASE_DIR / "manage.py"),
            "rqworker",
            queue,
            "--burst",
            "--serializer",
            SERIALIZER,
            "-v",
            "0",
        ],
        env=environ,
        check=True,
        stdout=subprocess.DEVNULL,  # the console mail backend prints every welcome mail
    )
    return time.perf_counter() - started


def row(name: str, count: int, seconds: float, anchor_rate: float | None, latencies: list[float] | None = None) -> str:
    rate = count / seconds
    ratio = f"{rate / anchor_rate:6.2f}" if anchor_rate else "anchor"
    p50 = f"{statistics.median(latencies) * 1000:7.1f}" if latencies else "      -"
    return f"| {name:<44} | {count:>6} | {seconds:8.2f} | {rate:9.1f} | {p50} | {ratio:>6} |"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncportal-bench-") as tmp:
        server = None if env.is_set("REDIS_URL") else localredis.start(Path(tmp) / "redis", persistent=False)
        redis_url = env.str_("REDIS_URL") or (server.url if server else "")
        environ = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "REDIS_URL": redis_url,
            "DATABASE_URL": env.str_("DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3",
            "PYTHONPATH": str(BASE_DIR),
        }
        port = localredis.free_port()
        web = None
        try:
            manage("migrate", "--noinput", "-v", "0", environ=environ)
            web = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "bench.wsgi:application",
                    "--config",
                    "asyncportal/gunicorn.conf.py",
                ],
                env={**environ, "PORT": str(port), "WEB_CONCURRENCY": "2"},
                cwd=BASE_DIR,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            hammer(f"{base}/bench/bare/", 50, None)  # warm-up
            bare_s, bare_lat = hammer(f"{base}/bench/bare/", args.requests, None)
            person = {"first_name": "Bench", "last_name": "Mark", "phone": "+380501234567"}
            post_s, post_lat = hammer(f"{base}/api/registrations/", args.requests, person)
            manage("shell", "-v", "0", "-c", enqueue_noops(args.jobs), environ=environ)
            noop_s = drain("bench", environ)
            reg_jobs = args.requests
            reg_s = drain("registrations", environ)
        finally:
            if web:
                web.terminate()
                web.wait(20)
            if server:
                server.stop()
    bare_rate = args.requests / bare_s
    noop_rate = args.jobs / noop_s
    print("| measurement                                  |  count |  seconds |     per s | p50 ms |  ratio |")
    print("|----------------------------------------------|--------|----------|-----------|--------|--------|")
    print(row("GET bare Django view (anchor)", args.requests, bare_s, None, bare_lat))
    print(row("POST /api/registrations/ (store + enqueue)", args.requests, post_s, bare_rate, post_lat))
    print(row("rqworker --burst, no-op jobs (raw RQ anchor)", args.jobs, noop_s, None))
    print(row("rqworker --burst, registration jobs", reg_jobs, reg_s, noop_rate))
    print("Drain times include worker start-up (same for both rows). Ratios are against the anchor above each.")
    return 0


def enqueue_noops(count: int) -> str:
    return (
        "import django_rq\n"
        "from rq import Queue\n"
        "q = django_rq.get_queue('bench')\n"
        f"q.enqueue_many([Queue.prepare_data('bench.jobs.noop', args=[str(i)]) for i in range({count})])\n"
    )


if __name__ == "__main__":
    sys.exit(main())
