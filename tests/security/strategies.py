"""Hypothesis strategies for hostile and honest requests to the registration form, its API and the robot API.

Each registration case carries what it is meant to be: ``valid`` (built from good parts, with a login and email
no earlier case used), ``invalid`` (a valid one with exactly one thing broken) or ``wild`` (anything at all;
only the invariants are checked).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

FIELDS = ("first_name", "last_name", "login", "email", "phone")
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
UNIQUE = itertools.count(1)


@dataclass(frozen=True)
class Case:
    kind: str  # "valid", "invalid" or "wild"
    body: bytes
    content_type: str


names = st.text(st.characters(categories=["L"]), min_size=1, max_size=35)
phones = st.from_regex(r"\A\+?[0-9]{4,15}\Z").map(str.strip)
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Inputs that must never be stored: each replaces one field of a valid registration.
BROKEN: dict[str, list[Any]] = {
    "first_name": ["", "   ", "x" * 36, "a\x00b", "\ud800", "bad\udfffname", None, 1, ["Ada"], {"a": 1}],
    "last_name": ["", "\ud83d", float("nan"), float("inf"), 10**40, True],
    "login": ["", "has space", "sl/ash", "ünï", "x" * 36, "a\x00", "\udc80"],
    "email": ["", "no-at-sign", "a@", "@b.example", "a@b@c.example", "x" * 250 + "@e.example", "\ud800@e.example"],
    "phone": ["", "123", "١٢٣٤٥٦٧", "+٤٥٦٧٨٩", "１２３４５６", "1" * 16, "++1234", "12a45", "\ud800123456"],
}


@st.composite
def valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    n = next(UNIQUE)
    login = draw(st.from_regex(r"\A[A-Za-z0-9._-]{0,20}\Z")) + f"u{n}"
    return {
        "first_name": draw(names),
        "last_name": draw(names),
        "login": login,
        "email": f"fuzz{n}@example.com",
        "phone": draw(phones),
    }


@st.composite
def invalid_payloads(draw: st.DrawFn, for_form: bool = False) -> dict[str, Any]:
    """A valid payload with one field missing, broken or (JSON only: a form ignores extra keys) one key unknown."""
    payload = draw(valid_payloads())
    how = draw(st.sampled_from(["missing", "broken"] if for_form else ["missing", "broken", "unknown"]))
    field = draw(st.sampled_from(FIELDS))
    if how == "missing":
        del payload[field]
    elif how == "broken":
        # A form body carries only text, and its decoder replaces what is not UTF-8: no surrogates there.
        values = BROKEN[field]
        if for_form:
            values = [v for v in values if isinstance(v, str) and not _has_surrogate(v)]
        payload[field] = draw(st.sampled_from(values))
    else:
        payload[draw(st.text(min_size=1, max_size=10).filter(lambda key: key not in FIELDS))] = "x"
    return payload


def _has_surrogate(value: Any) -> bool:
    return isinstance(value, str) and any("\ud800" <= char <= "\udfff" for char in value)


def as_json(payload: Any) -> bytes:
    # ensure_ascii: a lone surrogate travels as a \\ud800 escape, as a hostile client would send it.
    return json.dumps(payload, allow_nan=True).encode()


@st.composite
def malformed_bodies(draw: st.DrawFn) -> bytes:
    """Bodies no parser should turn into a stored row."""
    good = as_json(draw(valid_payloads()))
    return draw(
        st.sampled_from(
            [
                good[:-1],  # Truncated.
                good.replace(b'"login"', b'"login": "x", "login"', 1),  # Duplicate key; still one login.
                good.replace(b"}", b', "nan": NaN, "inf": Infinity}'),  # Unknown keys with non-JSON numbers.
                b"\xff\xfe" + good,  # Invalid UTF-8.
                good.replace(b'"', b'"\xc3\x28', 1),  # An invalid two-byte sequence inside a key.
                b"[" * 50_000 + b"]" * 50_000,  # Deep nesting.
                b'{"phone": ' + b"9" * 5000 + b"}",  # A number past Python's int digit limit.
                b"[1, 2, 3]",
                b'"just a string"',
                b"null",
                b"",
                b"{" + b" " * draw(st.sampled_from([17_000, 70_000, 3_000_000])) + b"}",  # Oversized.
            ]
        )
    )


def registration_api_cases() -> st.SearchStrategy[Case]:
    return st.one_of(
        valid_payloads().map(lambda p: Case("valid", as_json(p), JSON_TYPE)),
        invalid_payloads().map(lambda p: Case("invalid", as_json(p), JSON_TYPE)),
        malformed_bodies().map(lambda b: Case("invalid", b, JSON_TYPE)),
        st.tuples(valid_payloads(), st.sampled_from(["text/plain", FORM_TYPE, "application/xml", ""])).map(
            lambda pair: Case("invalid", as_json(pair[0]), pair[1])
        ),
        anything.map(lambda value: Case("wild", as_json(value), JSON_TYPE)),
        st.binary(max_size=300).map(lambda raw: Case("wild", raw, JSON_TYPE)),
    )


def form_cases() -> st.SearchStrategy[Case]:
    def encode(payload: dict[str, Any]) -> bytes:
        return urlencode(payload).encode("utf-8", "surrogatepass")

    return st.one_of(
        valid_payloads().map(lambda p: Case("valid", encode(p), FORM_TYPE)),
        invalid_payloads(for_form=True).map(lambda p: Case("invalid", encode(p), FORM_TYPE)),
        st.binary(max_size=300).map(lambda raw: Case("wild", raw, FORM_TYPE)),
        st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=40), max_size=5).map(
            lambda d: Case("wild", encode(d), FORM_TYPE)
        ),
    )


ROBOT_KEYS = ("timedelta", "records", "chunk_size", "msg", "rplstatus", "source_url", "target_url", "now")
HOSTILE_VALUES = [float("nan"), float("inf"), 10**40, -1, 0, "١٢", "\ud800", "x" * 600, True, None, [], {"a": []}]
ROBOT_ENDPOINTS = [
    ("GET", "/api/robots/{name}/"),
    ("PUT", "/api/robots/{name}/"),
    ("GET", "/api/robots/{name}/cycles/"),
    ("POST", "/api/robots/{name}/start/"),
    ("POST", "/api/robots/{name}/stop/"),
    ("POST", "/api/robots/{name}/run/"),
    ("GET", "/api/wstart"),
    ("POST", "/api/wstart"),
    ("DELETE", "/api/wstop"),
]
no_surrogates = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@dataclass(frozen=True)
class RobotCase:
    method: str
    path: str
    body: bytes
    content_type: str
    authorization: str


@st.composite
def robot_cases(draw: st.DrawFn, token: str) -> RobotCase:
    method, template = draw(st.sampled_from(ROBOT_ENDPOINTS))
    name = draw(st.sampled_from(["demo", "ghost"]) | st.from_regex(r"\A[a-z0-9-]{1,20}\Z"))
    path = template.format(name=name)
    if path.endswith("/cycles/"):
        path += "?" + urlencode({"limit": draw(st.sampled_from(["5", "١٢", "1e3", "-1", "9" * 40]) | no_surrogates)})
    values = st.sampled_from(HOSTILE_VALUES) | anything | st.integers(1, 50)
    fields = st.dictionaries(st.sampled_from(ROBOT_KEYS) | st.text(max_size=8), values, max_size=4)
    body = draw(fields.map(as_json) | malformed_bodies() | st.just(b""))
    content_type = draw(st.sampled_from([JSON_TYPE] * 6 + ["text/plain", FORM_TYPE]))
    authorization = draw(st.sampled_from([f"Bearer {token}"] * 8 + ["", "Bearer wrong", "Bearer é", "Basic eDp5"]))
    return RobotCase(method, path, body, content_type, authorization)
