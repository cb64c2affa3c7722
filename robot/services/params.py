"""The robot settings the API takes, declared once: the types refuse, the schema documents, the model validates.

JSON names are the public ones; ``MODEL_FIELD`` maps the few that differ ("timedelta" and "rplstatus" are the
original prototype's names, kept as the API's). Strict types: ``"20"``, ``1.5`` and ``true`` are not integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from django.core.exceptions import ValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from robot import errors
from robot.errors import RobotError
from robot.models import Robot

# JSON name -> model field, where they differ ("" = accepted, not stored). The seed's names ("records",
# "timedelta") stay the API's, with the model's own names ("batch_size", "interval") accepted as aliases.
MODEL_FIELD = {"timedelta": "interval", "records": "batch_size", "rplstatus": ""}
JSON_NAME = {model: json for json, model in MODEL_FIELD.items() if model}
ALIASES = {"batch_size": "records", "interval": "timedelta"}


class _Body(BaseModel):
    # Absent fields stay unset (``exclude_unset``); a null for a field that is not nullable is refused.
    model_config = ConfigDict(extra="forbid")


class _Aliased(_Body):
    batch_size: StrictInt = Field(default=None, description="Alias of records.")  # type: ignore[assignment]
    interval: StrictInt = Field(default=None, description="Alias of timedelta.")  # type: ignore[assignment]


class StartIn(_Aliased):
    """Settings a start may change (the prototype's body)."""

    timedelta: StrictInt = Field(default=None, description="Seconds between cycles.")  # type: ignore[assignment]
    records: StrictInt = Field(default=None, description="Records per cycle.")  # type: ignore[assignment]
    chunk_size: StrictInt = Field(default=None, description="Records per job.")  # type: ignore[assignment]
    msg: StrictStr | None = Field(default=None, description="Message sent with each record.")
    max_failed_cycles: StrictInt = Field(default=None)  # type: ignore[assignment]
    rplstatus: Literal["START"] = Field(default=None, description="The prototype's marker.")  # type: ignore[arg-type]


class RobotIn(_Aliased):
    """Settings ``PUT`` creates a robot with or changes; secrets are named, never given."""

    source_url: StrictStr = Field(default=None)  # type: ignore[assignment]
    source_secret: StrictStr | None = Field(default=None, description="Name of a ROBOT_SECRET_* variable.")
    records: StrictInt = Field(default=None)  # type: ignore[assignment]
    chunk_size: StrictInt = Field(default=None)  # type: ignore[assignment]
    timedelta: StrictInt = Field(default=None)  # type: ignore[assignment]
    msg: StrictStr | None = None
    max_failed_cycles: StrictInt = Field(default=None)  # type: ignore[assignment]
    target_url: StrictStr | None = None
    target_secret: StrictStr | None = Field(default=None, description="Name of a ROBOT_SECRET_* variable.")


class StopIn(_Body):
    now: StrictBool = Field(default=False, description="Also cancel the current cycle's queued records.")


def model_values(payload: BaseModel | None) -> dict[str, Any]:
    """Return ``{model_field: value}`` of the fields given; null clears a nullable text, text is stripped."""
    values: dict[str, Any] = {}
    given = payload.model_dump(exclude_unset=True) if payload else {}
    twice = {
        alias: ["Give either this or " + name + ", not both."]
        for alias, name in ALIASES.items()
        if {alias, name} <= set(given)
    }
    if twice:
        raise RobotError(errors.INVALID, fields=twice)
    for name, value in given.items():
        field = MODEL_FIELD.get(ALIASES.get(name, name), name)
        if field:
            values[field] = "" if value is None else value.strip() if isinstance(value, str) else value
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
