import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# Append-only on PostgreSQL (A6): the database itself refuses to rewrite history.
APPEND_ONLY = pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)


class AuditEvent(models.Model):
    """One state change or sign-in (A6), written in the same transaction as the change.

    `event_hash` is SHA-256 of the event's canonical JSON (core.audit). Inserting an event reads
    nothing else, so writers never wait on each other; the sealer links events into the chain later.
    """

    occurred_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("actor label"), max_length=300, blank=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=300, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    event_hash = models.CharField(_("event hash"), max_length=64)
    # A random secret per event (hex) that hides who acted and from where in the event's hash
    # (core.audit.event_payload): a published proof shows the event without them. Empty for
    # events recorded before it existed, which hash them in the clear.
    person_salt = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["object_type", "object_id"])]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_repr}"


class AuditBatch(models.Model):
    """A sealed batch: batch_hash = SHA-256(previous batch hash ‖ Merkle root of its events).

    `number` is unique and each batch names the hash of number - 1, so two sealers can never fork
    the chain: the second one to insert the same number fails and retries on the new head.
    """

    number = models.PositiveBigIntegerField(_("number"), unique=True)
    previous_hash = models.CharField(_("previous batch hash"), max_length=64)
    merkle_root = models.CharField(_("Merkle root"), max_length=64)
    batch_hash = models.CharField(_("batch hash"), max_length=64, unique=True)
    event_count = models.PositiveIntegerField(_("events"))
    sealed_at = models.DateTimeField(_("sealed at"))

    class Meta:
        verbose_name = _("audit batch")
        verbose_name_plural = _("audit batches")
        ordering = ["number"]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"#{self.number} {self.batch_hash[:16]}…"


class AuditSeal(models.Model):
    """An event's place in a batch (the Merkle leaf at `position`); an event is sealed once."""

    event = models.OneToOneField(
        AuditEvent, on_delete=models.PROTECT, related_name="seal", primary_key=True
    )
    batch = models.ForeignKey(AuditBatch, on_delete=models.PROTECT, related_name="seals")
    position = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="audit_seal_position")
        ]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"event #{self.event_id} in batch #{self.batch_id} at {self.position}"


class AuditHeadPublication(models.Model):
    """The chain head as published for a day (A6): anyone can later check the chain against it."""

    day = models.DateField(_("day"), unique=True)
    batch = models.ForeignKey(AuditBatch, on_delete=models.PROTECT, related_name="+")
    batch_hash = models.CharField(_("batch hash"), max_length=64)
    published_at = models.DateTimeField(_("published at"))

    class Meta:
        verbose_name = _("published audit head")
        verbose_name_plural = _("published audit heads")
        ordering = ["-day"]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"{self.day}: #{self.batch.number} {self.batch_hash[:16]}…"


class CalendarDay(models.Model):
    """An operator's exception to the Kazakh calendar (R4): an extra day off or a working day."""

    class Kind(models.TextChoices):
        DAY_OFF = "day_off", _("Day off")
        WORKING_DAY = "working_day", _("Working day")

    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.date}: {self.get_kind_display()}"


class VisitDay(models.Model):
    """Visits to the public site on one day (W3), flushed from the cache by a periodic task."""

    date = models.DateField(_("date"), unique=True)
    visits = models.PositiveBigIntegerField(_("visits"), default=0)

    class Meta:
        verbose_name = _("visits per day")
        verbose_name_plural = _("visits per day")
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"{self.date}: {self.visits}"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one person (API.md "Conventions", core.idempotency).

    The first request with the key inserts the row as in progress; its answer is stored when it
    ends and replayed to every retry with the same request for 24 h. The unique (user, key) row is
    what makes a concurrent duplicate fail instead of running the view a second time.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    request_fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    # Changes each time a request takes the row (first insert, or over an expired or stale one):
    # only the request holding the current claim may store its answer or release the row.
    claim = models.UUIDField(_("claim"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    response_headers = models.JSONField(_("response headers"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.method} {self.path})"
