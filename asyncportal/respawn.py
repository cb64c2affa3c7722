"""``make run``'s restart policy: run one Procfile role, and start it again whenever it exits.

Usage: ``python -m asyncportal.respawn PROCFILE ROLE``. The launcher has honcho run one of these per role, so
honcho still prefixes every line with the role's name and stops everything on Ctrl-C, while a role that dies
(killed, or an RQ worker quitting on a Redis timeout) comes back on its own, as a pod would in Kubernetes:
after 1 s, then 2, 4 … at most 30 s while it keeps dying, and after 1 s again once it has run for 30 s.

Only a stop signal ends the loop. honcho sends it to the whole process group, so the role gets it too and
shuts down warm; this process waits for the role, then exits with its code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import psutil
from honcho.environ import parse_procfile

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 30.0


def role_command(procfile: Path, role: str) -> str:
    """Return the command of ``role``, read from the Procfile at each start: it is the one definition."""
    processes: dict[str, str] = parse_procfile(procfile.read_text()).processes
    if role not in processes:
        raise SystemExit(f"{procfile} has no role {role!r}")
    return processes[role]


def next_delay(previous: float, ran_for: float) -> float:
    """Return how long to wait before the next start: doubling while the role keeps dying, reset once stable."""
    if ran_for >= STABLE_AFTER or previous <= 0:
        return FIRST_DELAY
    return min(previous * 2, MAX_DELAY)


def kill_leftovers() -> None:
    """Kill what a dead role left in our process group, as Kubernetes does when a container's main process ends.

    A worker killed -9 leaves its RQ scheduler child running, orphaned; a new one must not run beside it.
    """
    me = psutil.Process()
    spared = {me.pid, *(parent.pid for parent in me.parents())}
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if process.pid not in spared and os.getpgid(process.pid) == os.getpgrp():
                process.kill()


class Respawner:
    def __init__(self, procfile: Path, role: str) -> None:
        self.procfile = procfile
        self.role = role
        self.stopping = False

    def stop(self, signum: int, frame: FrameType | None) -> None:
        # The role got the same signal from the process group: only stop restarting it.
        self.stopping = True

    def run(self) -> int:
        delay = 0.0
        while True:
            started = time.monotonic()
            # shell=True as honcho does, so $PORT and $WORKERS in the Procfile expand the same way.
            code = subprocess.Popen(role_command(self.procfile, self.role), shell=True).wait()
            if self.stopping:
                return code
            kill_leftovers()
            delay = next_delay(delay, time.monotonic() - started)
            print(f"{self.role} exited (rc={code}); restarting in {delay:.0f}s", flush=True)
            if not self._sleep(delay):
                return code

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless told to stop; return whether to go on."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.stopping


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    respawner = Respawner(Path(argv[0]), argv[1])
    signal.signal(signal.SIGTERM, respawner.stop)
    signal.signal(signal.SIGINT, respawner.stop)
    return respawner.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
