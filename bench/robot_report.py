"""Print the robot benchmark's results: one Markdown table per figure, each with its goal."""

from __future__ import annotations

import argparse
import os
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.robot_throughput import Results, Sizes

RATE_GOALS = {(1, False): 0.8, (1, True): 0.6, (50, False): 10, (200, False): 10, (50, True): 3, (200, True): 3}


def print_all(results: Results, sizes: Sizes, args: argparse.Namespace) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n### {results.database}: record pool `{results.worker_class}`, anchor pool `rq.worker.SimpleWorker`")
    print(f"\nnproc {os.cpu_count()}, load average at the end {load}{', --quick' if args.quick else ''}\n")
    if results.anchors:  # else --only fanout
        for target in (False, True):
            _chunk1(results, sizes, target)
        _chunked(results, sizes)
    _fan_out(results, sizes)
    if results.anchors:
        _gaps(results)
        _rss(results)
    if results.counts:
        _counts(results)
    if results.profile:
        print(f"\nProfiles:\n\n```\n{results.profile}```\n")


def _mark(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _chunk1(results: Results, sizes: Sizes, target: bool) -> None:
    goal = RATE_GOALS[(1, target)]
    what = "with a local keep-alive target" if target else "no target"
    print(f"\nrecords/s, chunk_size 1, {what} ({sizes.chunk1_records}-record cycle)\n")
    print("| processes | raw RQ jobs/s (anchor: mean of before / after) | robot records/s | ratio | goal | met |")
    print("|---|---|---|---|---|---|")
    for workers in (1, 2):
        anchor, rate = results.anchors[workers], results.rates[(workers, 1, target)]
        before, after = results.anchor_pairs[workers]
        ratio = rate / anchor
        cells = f"| {workers} | {anchor:.0f} ({before:.0f} / {after:.0f}) | {rate:.0f} | {ratio:.2f}× | ≥ {goal}× |"
        print(f"{cells} {_mark(ratio >= goal)} |")


def _chunked(results: Results, sizes: Sizes) -> None:
    from django.conf import settings

    concurrency = settings.ROBOT_DELIVERY_CONCURRENCY
    print(
        f"\nrecords/s, 2 processes, chunked ({sizes.chunked_records}-record cycle, "
        f"ROBOT_DELIVERY_CONCURRENCY {concurrency}) vs raw RQ jobs/s\n"
    )
    print("| chunk_size | target | raw RQ jobs/s (anchor) | robot records/s | ratio | goal | met |")
    print("|---|---|---|---|---|---|---|")
    anchor = results.anchors[2]
    for chunk in (50, 200):
        for target in (False, True):
            rate = results.rates[(2, chunk, target)]
            goal, ratio = RATE_GOALS[(chunk, target)], rate / anchor
            row = f"| {chunk} | {'yes' if target else 'no'} | {anchor:.0f} | {rate:.0f} | {ratio:.1f}× | ≥ {goal}× |"
            print(f"{row} {_mark(ratio >= goal)} |")


def _fan_out(results: Results, sizes: Sizes) -> None:
    anchor = results.fan_out["anchor"][0]
    print(f"\nfan-out of one {sizes.fan_out_records}-record cycle (fetch → rows → enqueued), no pool running\n")
    print("| what | seconds | fetch (start → `fanned_out_at`) | ratio to anchor | goal | met |")
    print("|---|---|---|---|---|---|")
    print(f"| raw `enqueue_many` of {sizes.fan_out_records} trivial jobs (anchor) | {anchor:.2f} | - | 1.00× | | |")
    for label in ("chunk_size 1", "chunk_size 50"):
        seconds, stored = results.fan_out[label]
        ratio = seconds / anchor
        goal = "≤ 1.5×" if label == "chunk_size 1" else "(reported)"
        met = _mark(ratio <= 1.5) if label == "chunk_size 1" else ""
        print(f"| cycle_run, {label} | {seconds:.2f} | {stored:.2f} | {ratio:.2f}× | {goal} | {met} |")


def _gaps(results: Results) -> None:
    print("\ncycle gap − interval (interval 1 s, 3 records per cycle from the demo feed, one robot worker)\n")
    print("| robots | gaps | median s | max s | min s | goal | met |")
    print("|---|---|---|---|---|---|---|")
    for label, found in results.gaps.items():
        if not found:
            print(f"| {label} | 0 | - | - | - | | **no** |")
            continue
        limit = 0.1 if label == "1 robot" else 1.1
        ok = max(found) <= limit and min(found) >= 0
        median, high, low = statistics.median(found), max(found), min(found)
        row = f"| {label} | {len(found)} | {median:.3f} | {high:.3f} | {low:.3f} | max ≤ {limit}, never < 0 |"
        print(f"{row} {_mark(ok)} |")


def _rss(results: Results) -> None:
    print("\npeak RSS (VmHWM) after the runs above\n")
    print("| process | peak RSS MB | goal | met |")
    print("|---|---|---|---|")
    for label, limit in (("web worker", 150), ("record worker", 100)):
        value = results.rss.get(label, 0.0)
        print(f"| {label} | {value:.0f} | ≤ {limit} | {_mark(value <= limit)} |")


def _counts(results: Results) -> None:
    print("\nSQL statements and Redis commands per record (counted in process; jobs drained by the records class)\n")
    print("| chunk_size | target | SQL fan-out | SQL jobs | DB connects per job | Redis fan-out | Redis jobs |")
    print("|---|---|---|---|---|---|---|")
    for c in results.counts:
        jobs = -(-c.records // c.chunk)
        print(
            f"| {c.chunk} | {'yes' if c.target else 'no'} | {c.per_record(c.sql_fan_out):.3f} | "
            f"{c.per_record(c.sql_jobs):.3f} | {c.connects / jobs:.2f} | {c.per_record(c.redis_fan_out):.3f} | "
            f"{c.per_record(c.redis_jobs):.3f} |"
        )
