"""Who asked for a change and the audit row that records it (shared by the control, chain and heal modules)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from robot.models import Robot, RobotAudit


@dataclass(frozen=True)
class Actor:
    """Who asks for a change, and from where (``RobotAudit.Source``)."""

    source: str
    user: AbstractBaseUser | AnonymousUser | None = None
    label: str = ""
    remote_addr: str | None = None

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return self.user.get_username() if self.user is not None and self.user.is_authenticated else self.source


SYSTEM = Actor(source=RobotAudit.Source.SYSTEM, label="system")


def audit(robot: Robot, action: str, actor: Actor, detail: str = "") -> None:
    user = actor.user if actor.user is not None and actor.user.is_authenticated else None
    RobotAudit.objects.create(
        robot=robot,
        robot_name=robot.name,
        action=action,
        actor_id=user.pk if user is not None else None,
        actor_label=actor.name[:150],
        source=actor.source,
        remote_addr=actor.remote_addr,
        detail=detail[:255],
    )
