"""Robots, their cycles, the records they processed and who started or stopped them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from robot import outbound

BATCH_MIN, BATCH_MAX = 1, 10_000
INTERVAL_MIN, INTERVAL_MAX = 1, 86_400
CHUNK_MIN, CHUNK_MAX = 1, 1000
MAX_FAILED_CYCLES_MAX = 1000


class Robot(models.Model):
    """A periodic fetch-and-fan-out worker; the database row is the source of truth for its state."""

    class State(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused after failures"

    name = models.SlugField(max_length=64, unique=True)
    msg = models.CharField(max_length=500, blank=True)
    source_url = models.URLField(max_length=2000, validators=[outbound.validate_url])
    source_secret = models.CharField(
        max_length=64,
        blank=True,
        validators=[outbound.validate_secret_name],
        help_text="Environment variable (ROBOT_SECRET_…) whose value is sent to the source as a header.",
    )
    batch_size = models.PositiveIntegerField(
        "batch size (records per cycle)",
        default=20,
        validators=[MinValueValidator(BATCH_MIN), MaxValueValidator(BATCH_MAX)],
        help_text='Most records one cycle takes from the source; "records" in the JSON API.',
    )
    interval = models.PositiveIntegerField(
        default=15,
        validators=[MinValueValidator(INTERVAL_MIN), MaxValueValidator(INTERVAL_MAX)],
        help_text="Seconds between the end of one cycle and the start of the next.",
    )
    target_url = models.URLField(max_length=2000, blank=True, validators=[outbound.validate_url])
    target_secret = models.CharField(
        max_length=64,
        blank=True,
        validators=[outbound.validate_secret_name],
        help_text="Environment variable (ROBOT_SECRET_…) whose value is sent to the target as a header.",
    )
    chunk_size = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(CHUNK_MIN), MaxValueValidator(CHUNK_MAX)],
        help_text="Records per RQ job (each record keeps its own claim, outcome and retries).",
    )
    max_failed_cycles = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(MAX_FAILED_CYCLES_MAX)],
        help_text="Consecutive failed cycles (fetch or fan-out failed) after which a running robot pauses; 0: never.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.STOPPED)
    # Maintained when a regular cycle ends (under the robot lock), reset by a cycle that did not fail and by start.
    failed_cycles_in_a_row = models.PositiveIntegerField(default=0)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_reason = models.CharField(max_length=255, blank=True, help_text="Why the robot paused itself.")
    # Only the job whose id equals the token may start the next cycle; arming a new token fences out the old job.
    chain_token = models.CharField(
        "chain token (job_id)",
        max_length=100,
        blank=True,
        help_text='Id of the one RQ job allowed to start the next cycle (empty when none); "job_id" in the JSON API.',
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    cursor = models.CharField(max_length=255, blank=True, help_text="Highest source id seen (sent as after=).")
    cycles_completed = models.PositiveIntegerField(default=0)
    total_fetched = models.PositiveBigIntegerField(default=0)
    total_done = models.PositiveBigIntegerField(default=0)
    total_failed = models.PositiveBigIntegerField(default=0)
    total_duplicates = models.PositiveBigIntegerField(default=0)
    total_cancelled = models.PositiveBigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # Operating the django-rq dashboard (empty, delete, requeue, stop): a requeued record job is a second
        # delivery, so it is granted apart from staff status (asyncportal/dashboard.py).
        permissions = [("manage_queues", "Can operate RQ queues")]
        constraints = [
            models.CheckConstraint(
                condition=Q(batch_size__gte=BATCH_MIN, batch_size__lte=BATCH_MAX), name="robot_batch_size_range"
            ),
            models.CheckConstraint(
                condition=Q(interval__gte=INTERVAL_MIN, interval__lte=INTERVAL_MAX), name="robot_interval_range"
            ),
            models.CheckConstraint(condition=Q(state__in=["stopped", "running", "paused"]), name="robot_state_valid"),
            models.CheckConstraint(
                condition=Q(chunk_size__gte=CHUNK_MIN, chunk_size__lte=CHUNK_MAX), name="robot_chunk_size_range"
            ),
            models.CheckConstraint(
                condition=Q(max_failed_cycles__lte=MAX_FAILED_CYCLES_MAX), name="robot_max_failed_cycles_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_running(self) -> bool:
        return self.state == self.State.RUNNING

    @property
    def is_paused(self) -> bool:
        return self.state == self.State.PAUSED


class RobotCycle(models.Model):
    """One fetch-and-process run; finished only when every record it fetched is final."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # PROTECT: a robot's history outlives nothing but retention (robot_delete refuses a robot that has any).
    robot = models.ForeignKey(Robot, on_delete=models.PROTECT, related_name="cycles")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # The cycle job's own RQ id: the robot's chain token at the time this cycle was claimed.
    job_id = models.CharField(max_length=100, blank=True, help_text="The RQ job that ran this cycle (its chain token).")
    started_at = models.DateTimeField()
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    fetched = models.PositiveIntegerField(default=0)
    dispatched = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=32, blank=True, help_text="Stable reason code of a failed cycle.")
    error = models.TextField(blank=True)
    # A retry cycle fetches nothing: it re-delivers the failed records of cycle ``retry_of`` (moved into it).
    retry_of = models.PositiveIntegerField(null=True, blank=True, help_text="Number of the cycle it retries.")

    class Meta:
        ordering = ["-started_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["robot", "number"], name="robotcycle_unique_number"),
            # The database, not hope, guarantees that cycles of one robot never overlap.
            models.UniqueConstraint(
                fields=["robot"], condition=Q(finished_at__isnull=True), name="robotcycle_one_unfinished"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.robot_id}#{self.number}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class ProcessedRecord(models.Model):
    """A source item, stored once per robot: a record seen again is a duplicate with no second effect."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # The de-duplication state: never deleted with its robot (PROTECT) nor with its cycle (SET_NULL), so a
    # source id seen once is a duplicate for good.
    # No index of their own: (robot, source_id) and (cycle, status) below lead with them and serve every lookup
    # by robot or cycle. A single-column copy cost every record insert and update one more index entry (status
    # and finished_at change, so no update is HOT), and PostgreSQL's planner picked the cycle-only index for
    # "any record of the cycle still pending?", walking every finished record of the cycle on each ask.
    robot = models.ForeignKey(Robot, on_delete=models.PROTECT, related_name="processed_records", db_index=False)
    cycle = models.ForeignKey(
        RobotCycle, null=True, blank=True, on_delete=models.SET_NULL, related_name="records", db_index=False
    )
    source_id = models.CharField(max_length=255)
    payload: models.JSONField[Any] = models.JSONField(
        null=True, help_text="Cleared (NULL) once the record is done or failed and older than retention."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The fence: a job acts on the record only while it carries this dispatch number; every re-dispatch bumps it.
    dispatch = models.PositiveIntegerField(default=1)
    job_id = models.CharField(max_length=100, blank=True, help_text="The RQ job of the current dispatch.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Until when the current job owns the record (a reservation while queued, the delivery deadline while
    # processing); past it the sweeper may re-dispatch.
    lease_until = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["robot", "source_id"], name="processedrecord_unique_source_id"),
        ]
        indexes = [
            models.Index(fields=["cycle", "status"], name="processedrecord_cycle_status"),
            # What payload retention scans: only rows whose payload is still kept.
            models.Index(
                fields=["finished_at"], condition=Q(payload__isnull=False), name="processedrecord_payload_kept"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.robot_id}:{self.source_id}"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


FINAL = (ProcessedRecord.Status.DONE, ProcessedRecord.Status.FAILED, ProcessedRecord.Status.CANCELLED)
PENDING = (ProcessedRecord.Status.QUEUED, ProcessedRecord.Status.PROCESSING)


class RobotAudit(models.Model):
    """Who created, started, stopped, ran, changed or deleted a robot, when and from where; append-only."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        START = "start", "Start"
        STOP = "stop", "Stop"
        STOP_NOW = "stop_now", "Stop now"
        RUN_ONCE = "run_once", "Run once"
        HEAL = "heal", "Heal"
        DELETE = "delete", "Delete"
        PAUSE = "pause", "Pause after failures"
        RETRY = "retry", "Retry failed records"

    class Source(models.TextChoices):
        ADMIN = "admin", "Admin"
        API = "api", "API"
        LEGACY_API = "legacy_api", "Legacy API"
        SYSTEM = "system", "System"

    # SET_NULL with the name kept beside it: the audit outlives a deleted robot, deletion entry included.
    robot = models.ForeignKey(Robot, null=True, blank=True, on_delete=models.SET_NULL, related_name="audits")
    robot_name = models.CharField(max_length=64)
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=150, blank=True, help_text="Username, 'api-token' or 'system'.")
    source = models.CharField(max_length=16, choices=Source.choices)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at"], name="robotaudit_created_at")]

    def __str__(self) -> str:
        return f"{self.action} {self.robot_name} by {self.actor_label}"
