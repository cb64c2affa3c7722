"""Strict JSON for request bodies: RFC 8259 text only, so every parser on the way reads the same object.

``json.loads`` alone accepts ``NaN``/``Infinity``, keeps the last of duplicate keys (a proxy or log reader may
keep the first) and decodes ``\\ud800`` escapes to lone surrogates, which no database driver can encode (a 500
at save time). Each raises ``ValueError`` here, as malformed JSON does.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn


def loads(body: bytes | str) -> Any:
    """Parse ``body``; raise ``ValueError`` (or ``RecursionError`` for absurd nesting) unless it is strict JSON."""
    value = json.loads(body, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate") from None
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")
