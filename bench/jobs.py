from __future__ import annotations


def noop(value: str) -> str:
    """The anchor job: raw RQ with the JSON serializer and nothing to do."""
    return value
