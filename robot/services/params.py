"""Validate robot settings given by the API (JSON names) before they touch a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from robot import errors
from robot.errors import RobotError
from robot.models import Robot

# JSON name -> model field. "timedelta" and "rplstatus" are the original prototype's names.
SETTINGS = {
    "source_url": "source_url",
    "source_secret": "source_secret",
    "records": "batch_size",
    "chunk_size": "chunk_size",
    "timedelta": "interval",
    "msg": "msg",
    "max_failed_cycles": "max_failed_cycles",
}
TARGET = {"target_url": "target_url", "target_secret": "target_secret"}
EDITABLE = {**SETTINGS, **TARGET}
START = {
    "timedelta": "interval",
    "records": "batch_size",
    "chunk_size": "chunk_size",
    "msg": "msg",
    "max_failed_cycles": "max_failed_cycles",
    "rplstatus": "",
}
INTEGER_FIELDS = {"records", "chunk_size", "timedelta", "max_failed_cycles"}
TEXT_FIELDS = {"source_url", "msg", "target_url", "rplstatus", "source_secret", "target_secret"}
NULLABLE_FIELDS = {"target_url", "msg", "source_secret", "target_secret"}
JSON_NAME = {model: json for json, model in EDITABLE.items()}


def clean_values(data: Mapping[str, Any], allowed: Mapping[str, str]) -> dict[str, Any]:
    """Return ``{model_field: value}`` for the given JSON fields; raise ``invalid`` with per-field errors."""
    problems: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in allowed:
            problems[name] = ["Unknown field."]
        elif name in NULLABLE_FIELDS and value is None:
            values[allowed[name]] = ""
        elif name in INTEGER_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
            problems[name] = ["Must be an integer."]
        elif name in TEXT_FIELDS and not isinstance(value, str):
            problems[name] = ["Must be a string."]
        elif name == "rplstatus" and value != "START":
            problems[name] = ['Must be "START" when given.']
        elif allowed[name]:
            values[allowed[name]] = value.strip() if isinstance(value, str) else value
    if problems:
        raise RobotError(errors.INVALID, fields=problems)
    return values


def apply_values(robot: Robot, values: Mapping[str, Any]) -> list[str]:
    """Set ``values`` on ``robot`` and validate the whole row; return the changed field names."""
    for field, value in values.items():
        setattr(robot, field, value)
    try:
        robot.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        fields = {JSON_NAME.get(name, name): list(messages) for name, messages in exc.message_dict.items()}
        raise RobotError(errors.INVALID, fields=fields) from None
    return list(values)
