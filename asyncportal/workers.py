"""The RQ worker class of every worker role (``RQ["WORKER_CLASS"]`` in the settings)."""

from __future__ import annotations

from rq import Worker as RQWorker


class Worker(RQWorker):
    # RQ doubles its wait between attempts to reach a Redis that has gone, up to 60 s: after a 30 s outage the
    # robot chain resumed 30 s after Redis did. A few seconds between attempts costs a PING each, no more.
    max_connection_wait_time = 5.0
