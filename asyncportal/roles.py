"""Read the process roles from ``deploy/entrypoint.sh``, their one definition, for tests and benchmarks.

The Procfile (``make run``) and every manifest run ``entrypoint.sh ROLE``; code that must start a role's
process itself (a test's worker, a benchmark's) asks the entrypoint for the command line instead of keeping a
copy of it.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from asyncportal.env import BASE_DIR

ENTRYPOINT = BASE_DIR / "deploy" / "entrypoint.sh"


def _entrypoint(*args: str, workers: int) -> str:
    result = subprocess.run(
        [str(ENTRYPOINT), *args],
        env={**os.environ, "WORKERS": str(workers)},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout


def names() -> list[str]:
    """Return the long-running process roles (web and the workers), in the entrypoint's order."""
    return _entrypoint("--roles", workers=2).split()


def command(role: str, *, workers: int = 2) -> list[str]:
    """Return the argv ``entrypoint.sh role`` execs, with ``workers`` processes for a pool role."""
    return shlex.split(_entrypoint("--print", role, workers=workers))


def option(argv: list[str], name: str) -> str:
    """Return the value after ``name`` in ``argv`` ("" when the option is absent)."""
    return argv[argv.index(name) + 1] if name in argv else ""
