"""The environment runs exactly what requirements.txt pins (rq 2.x chosen deliberately, see README)."""

from __future__ import annotations

import re
from importlib.metadata import version

import rq

from tests.conftest import BASE_DIR

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def pinned(path: str) -> dict[str, str]:
    pins = {}
    for line in (BASE_DIR / path).read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1)] = match.group(2)
    return pins


def test_every_runtime_dependency_is_pinned_exactly() -> None:
    lines = [
        line.strip()
        for line in (BASE_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all(PIN.match(line) for line in lines), lines


def test_installed_versions_match_the_pins() -> None:
    pins = {**pinned("requirements.txt"), **pinned("requirements-local.txt"), **pinned("requirements-dev.txt")}
    mismatched = {name: (want, version(name)) for name, want in pins.items() if version(name) != want}
    assert mismatched == {}


def test_rq_is_the_chosen_2x_line() -> None:
    assert rq.__version__ == "2.12.0"
