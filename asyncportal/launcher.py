"""``make run`` and ``make test``: bring a private Redis when ``REDIS_URL`` is unset, then run the portal or the tests.

Usage: ``python -m asyncportal.launcher run`` | ``python -m asyncportal.launcher test [pytest args]``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from honcho.environ import parse_procfile

from asyncportal import env, localredis


def _python_tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _with_redis(persistent: bool, data_dir: Path) -> localredis.LocalRedis | None:
    if env.is_set("REDIS_URL"):
        return None
    server = localredis.start(data_dir, persistent=persistent)
    os.environ["REDIS_URL"] = server.url
    return server


def run() -> int:
    """Migrate, ensure an admin and the demo robot, then run every Procfile role until Ctrl-C."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "asyncportal.settings.local")
    # The Procfile's roles call deploy/entrypoint.sh, which runs `python` and `gunicorn`: make them this venv's.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.str_('PATH')}"
    port = env.int_("PORT", 8000)
    workers = env.int_("WORKERS", 2)
    server = _with_redis(persistent=True, data_dir=env.VAR_DIR / "redis")
    manage = [sys.executable, str(env.BASE_DIR / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], check=True)
        subprocess.run([*manage, "bootstrap", "--base-url", f"http://127.0.0.1:{port}"], check=True)
        print(f"Redis: {os.environ['REDIS_URL']}" + (f" (private, data in {server.data_dir})" if server else ""))
        print(f"Open  http://127.0.0.1:{port}/register/   (registration form)")
        print(f"      http://127.0.0.1:{port}/admin/      (admin: robots, registrations)")
        print(f"      http://127.0.0.1:{port}/django-rq/  (queues dashboard, staff only)")
        print(
            f"Roles from Procfile with WORKERS={workers}; a role that exits is restarted; Ctrl-C stops everything.",
            flush=True,
        )
        return _run_roles(port, workers)
    finally:
        if server:
            server.stop()


def _run_roles(port: int, workers: int) -> int:
    """Run honcho on the restarting Procfile until Ctrl-C (SIGINT) or SIGTERM; return 0 for Ctrl-C."""
    honcho = subprocess.Popen(
        [_python_tool("honcho"), "-f", str(_restarting_procfile()), "-d", str(env.BASE_DIR), "start", "-p", str(port)],
        env={**os.environ, "WORKERS": str(workers)},
        cwd=env.BASE_DIR,
        # Its own session: the terminal's Ctrl-C reaches only us, and honcho gets it exactly once from us
        # (a second SIGINT would not make it stop any faster; it kills stragglers after 5 s anyway).
        start_new_session=True,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: honcho.send_signal(received))
    code = honcho.wait()
    # Ctrl-C is how a developer stops the portal: not a failure.
    return 0 if code in (130, -signal.SIGINT) else code


def _restarting_procfile() -> Path:
    """Write a Procfile with one ``asyncportal.respawn`` per role of the real one, which it reads at run time."""
    procfile = env.BASE_DIR / "Procfile"
    roles = parse_procfile(procfile.read_text()).processes
    respawn = f"{shlex.quote(sys.executable)} -m asyncportal.respawn {shlex.quote(str(procfile))}"
    generated = env.VAR_DIR / "Procfile.restarting"
    generated.parent.mkdir(parents=True, exist_ok=True)
    generated.write_text("".join(f"{role}: {respawn} {role}\n" for role in roles))
    return generated


def test(pytest_args: list[str]) -> int:
    """Run pytest with a throwaway Redis unless ``REDIS_URL`` is set."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "asyncportal.settings.test"
    with tempfile.TemporaryDirectory(prefix="asyncportal-redis-") as tmp:
        server = _with_redis(persistent=False, data_dir=Path(tmp))
        try:
            return subprocess.run([sys.executable, "-m", "pytest", *pytest_args]).returncode
        finally:
            if server:
                server.stop()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__, file=sys.stderr)
        return 2
    return run() if argv[0] == "run" else test(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
