"""Parse numbers that arrive as text (query strings, headers) without trusting ``str.isdigit``.

``"²".isdigit()`` and ``"٣".isdigit()`` are true, yet ``int("²")`` raises; ``int`` also refuses strings
longer than 4300 digits. Only ASCII digits, and at most as many as the upper bound has, get to ``int``.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")


def bounded_int(raw: str, *, low: int, high: int) -> int | None:
    """Return ``raw`` as an int in ``[low, high]``, or ``None`` for anything else (no sign, no spaces)."""
    if _ASCII_DIGITS.fullmatch(raw) is None:
        return None
    significant = raw.lstrip("0") or "0"
    if len(significant) > len(str(high)):
        return None
    value = int(significant)
    return value if low <= value <= high else None


def exceeds(raw: str, limit: int) -> bool:
    """Return whether ``raw`` is an ASCII number above ``limit`` (a declared length; garbage is not)."""
    return _ASCII_DIGITS.fullmatch(raw) is not None and bounded_int(raw, low=0, high=limit) is None
