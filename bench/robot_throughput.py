"""Robot benchmark: the record pipeline's figures, each next to its anchor measured in the same run.

Usage: .venv/bin/python -m bench.robot_throughput [--database all|sqlite|postgres] [--quick]
       [--worker-class rq.worker.SimpleWorker] [--counts] [--profile] [--only fanout] [--profile-fan-out]

A private redis-server, and a throwaway SQLite file or a bench-own PostgreSQL database (``bench_robot`` on
127.0.0.1:5432, or ``$ROBOT_BENCH_PG_DATABASE``, created and dropped here). Real processes as deploy/entrypoint.sh
runs them: gunicorn (serving the demo feed the robots read), ``rqworker robot``, ``rqworker-pool records`` and, for
the gap figures, ``sweep``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import robot_procs as procs
from bench import robot_report as report

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
# Override with ROBOT_BENCH_PG_DATABASE when several people bench on one server: it is dropped at the end.
PG_DATABASE = os.environ.get("ROBOT_BENCH_PG_DATABASE", "bench_robot")


@dataclass
class Sizes:
    chunk1_records: int
    chunked_records: int
    fan_out_records: int
    gap_cycles: int
    crowd_seconds: float
    crowd_robots: int = 50

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if quick:
            return cls(
                chunk1_records=1000, chunked_records=4000, fan_out_records=10_000, gap_cycles=10, crowd_seconds=20
            )
        return cls(chunk1_records=2000, chunked_records=10_000, fan_out_records=10_000, gap_cycles=20, crowd_seconds=60)


@dataclass
class Results:
    database: str
    worker_class: str
    anchors: dict[int, float] = field(default_factory=dict)  # processes -> raw RQ jobs/s (mean of the pair)
    anchor_pairs: dict[int, tuple[float, float]] = field(default_factory=dict)  # before and after the chunk-1 runs
    rates: dict[tuple[int, int, bool], float] = field(default_factory=dict)  # (processes, chunk, target) -> rec/s
    fan_out: dict[str, tuple[float, float]] = field(default_factory=dict)  # label -> (seconds, stored seconds)
    gaps: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    counts: list[Any] = field(default_factory=list)
    profile: str = ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("all", "sqlite", "postgres"), default="all")
    parser.add_argument("--quick", action="store_true", help="fewer records and a 20 s crowd (about half the time)")
    parser.add_argument("--worker-class", default=procs.role_worker_class(), help="the record pool's class")
    parser.add_argument("--counts", action="store_true", help="also count SQL/Redis per record (docs/scaling.md)")
    parser.add_argument("--profile", action="store_true", help="also cProfile draining chunk-1 jobs in process")
    parser.add_argument("--only", choices=("all", "fanout"), default="all", help="fanout: only the fan-out figure")
    parser.add_argument(
        "--profile-fan-out", action="store_true", help="also pyinstrument one 10,000-record chunk-1 fan-out"
    )
    args = parser.parse_args()
    if args.database != "all":
        return run(args)
    rc = 0
    for database in ("sqlite", "postgres"):
        argv = [a for a in sys.argv[1:] if not a.startswith("--database")]
        rc |= subprocess.run([sys.executable, "-m", "bench.robot_throughput", "--database", database, *argv]).returncode
    return rc


def run(args: argparse.Namespace) -> int:
    sizes = Sizes.pick(args.quick)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="robot-bench-")))
        _environment(stack, tmp, args.database)
        results = Results(database=args.database, worker_class=args.worker_class)
        _measure(stack, tmp, args, sizes, results)
    report.print_all(results, sizes, args)
    return 0


def _environment(stack: ExitStack, tmp: Path, database: str) -> None:
    from asyncportal import localredis

    os.environ["DJANGO_SETTINGS_MODULE"] = "asyncportal.settings.local"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # One cycle here fetches up to 10,000 records from the demo feed in one call, past its everyday cap.
    os.environ["ROBOT_DEMO_FEED_MAX_ITEMS"] = "10000"
    server = localredis.start(tmp / "redis", persistent=False)
    stack.callback(server.stop)
    os.environ["REDIS_URL"] = server.url
    if database == "postgres":
        _pg_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}")
        stack.callback(_pg_admin, f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DATABASE}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    stack.callback(_close_db)


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for statement in statements:
            admin.execute(statement)


def _close_db() -> None:
    from django.db import connections

    connections.close_all()


def _measure(stack: ExitStack, tmp: Path, args: argparse.Namespace, sizes: Sizes, results: Results) -> None:
    from asyncportal import localredis
    from bench import robot_figures as figures

    port = localredis.free_port()
    web = stack.enter_context(procs.gunicorn(tmp, port))
    source = f"http://127.0.0.1:{port}/api/demo/todos/"
    procs.wait(lambda: figures.reachable(source), 60, "gunicorn")
    target = stack.enter_context(procs.sink(tmp))
    figures.warm_web(f"http://127.0.0.1:{port}")
    if args.counts or args.profile:
        figures.counts(results, source, target, profile=args.profile)
    figures.fan_out(results, source, sizes.fan_out_records)
    if args.profile_fan_out:
        results.profile += figures.profile_fan_out(source, sizes.fan_out_records)
    if args.only == "fanout":
        return
    stack.enter_context(procs.robot_worker(tmp))
    for workers in (1, 2):
        # The anchor brackets the chunk-1 runs (before and after, their mean is the anchor): on a host whose
        # speed drifts, one anchor measured first can sit in other weather than the runs it is compared with.
        before = _anchor(tmp, workers, sizes)
        with procs.record_pool(tmp, workers, args.worker_class) as pool:
            figures.wait_workers(workers)
            for target_url in ("", target):
                figures.cycle_rate(results, source, target_url, workers, 1, sizes.chunk1_records)
            _peak_rss(results, pool)
        results.anchor_pairs[workers] = (before, _anchor(tmp, workers, sizes))
        results.anchors[workers] = sum(results.anchor_pairs[workers]) / 2
        if workers == 2:
            with procs.record_pool(tmp, workers, args.worker_class) as pool:
                figures.wait_workers(workers)
                for chunk in (50, 200):
                    for target_url in ("", target):
                        figures.cycle_rate(results, source, target_url, workers, chunk, sizes.chunked_records)
                with procs.sweeper(tmp):
                    figures.gaps(results, source, sizes)
                _peak_rss(results, pool)
    results.rss["web worker"] = procs.peak_rss_mb(web, children_only=True)


def _anchor(tmp: Path, workers: int, sizes: Sizes) -> float:
    from bench import robot_figures as figures

    with procs.record_pool(tmp, workers, procs.SIMPLE):
        figures.wait_workers(workers)
        return figures.anchor_rate(sizes.chunk1_records)


def _peak_rss(results: Results, pool: Any) -> None:
    peak = procs.peak_rss_mb(pool, children_only=True)
    results.rss["record worker"] = max(results.rss.get("record worker", 0.0), peak)


if __name__ == "__main__":
    sys.exit(main())
