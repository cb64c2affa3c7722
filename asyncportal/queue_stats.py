"""Queue lengths and worker counts for the operator's pages, read in one round trip under a short deadline."""

from __future__ import annotations

from dataclasses import dataclass

from redis import RedisError
from rq.registry import FailedJobRegistry, StartedJobRegistry
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from asyncportal.queues import ALL, get_connection

# Pages poll these figures; a hung Redis must cost a web worker at most this, then "unknown".
DEADLINE = 0.3


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    started: int
    failed: int
    workers: int


def queue_stats(names: tuple[str, ...] = ALL) -> list[QueueStats] | None:
    """Return each queue's waiting, started and failed job counts and its registered workers; None without Redis."""
    try:
        with get_connection(deadline=DEADLINE).pipeline(transaction=False) as pipe:
            for name in names:
                pipe.llen(f"rq:queue:{name}")
                pipe.zcard(StartedJobRegistry.key_template.format(name))
                pipe.zcard(FailedJobRegistry.key_template.format(name))
                pipe.scard(WORKERS_BY_QUEUE_KEY % name)
            raw = pipe.execute()
    except RedisError:
        return None
    return [QueueStats(name, *(int(value) for value in raw[4 * i : 4 * i + 4])) for i, name in enumerate(names)]
