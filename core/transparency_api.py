"""The audit chain's published daily heads in the API (W6, A6), and the proof document's schema.

Public reads like the slots and the board (core.http_cache): no sign-in, the public read limit,
`Cache-Control: public` with an ETag from the publications' version stamp.
"""

import datetime as dt

from django.http import Http404
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from core import clock, proofs
from core.clock import ALMATY
from core.http_cache import PublicReadApi

# A page of heads is this many days, ending on `until`.
HEADS_PAGE_DAYS = 31


class HeadOutput(serializers.Serializer):
    day = serializers.DateField()
    batch_number = serializers.IntegerField()
    batch_hash = serializers.CharField(help_text="SHA-256, 64 hex digits")
    published_at = serializers.DateTimeField(default_timezone=ALMATY)
    sealed_at = serializers.DateTimeField(
        default_timezone=ALMATY, help_text="when the head's batch was sealed"
    )


class HeadsPageOutput(serializers.Serializer):
    first_day = serializers.DateField()
    until = serializers.DateField()
    heads = HeadOutput(many=True, help_text="newest first; a day with no head is absent")
    older = serializers.CharField(allow_null=True, help_text="the page before, if any head is")
    newer = serializers.CharField(allow_null=True, help_text="the page after, up to today")


class HeadsPage:
    """`HEADS_PAGE_DAYS` days of published heads ending on `until` (today's by default)."""

    def __init__(self, until: dt.date | None):
        self.today = clock.local_today()
        self.until = until or self.today
        try:
            self.first_day = self.until - dt.timedelta(days=HEADS_PAGE_DAYS - 1)
        except OverflowError:  # the first days of year 1 have no 31 days before them
            self.first_day = dt.date.min

    @property
    def stamp(self) -> str:
        return f"{proofs.heads_stamp()}-{self.until.isoformat()}-{self.today.isoformat()}"

    def heads(self) -> list[proofs.PublishedHead]:
        return proofs.published_heads(first_day=self.first_day, last_day=self.until)

    @property
    def older_until(self) -> dt.date | None:
        return (
            self.first_day - dt.timedelta(days=1)
            if proofs.any_head_before(self.first_day)
            else None
        )

    @property
    def newer_until(self) -> dt.date | None:
        if self.until >= self.today:
            return None
        return min(self.until + dt.timedelta(days=HEADS_PAGE_DAYS), self.today)


class UntilFilter(serializers.Serializer):
    until = serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Write the date as YYYY-MM-DD.")},
    )


class AuditHeadsApi(PublicReadApi):
    """The daily heads of the audit chain (A6, W6): one a day, the hash of the newest sealed
    batch when it was published. A proof (docs/proofs.md) ends on one of them."""

    @extend_schema(
        operation_id="audit_heads_list",
        parameters=[
            OpenApiParameter(
                "until",
                str,
                description=f"YYYY-MM-DD, the last day of the page ({HEADS_PAGE_DAYS} days); "
                "default today",
            )
        ],
        responses=HeadsPageOutput,
    )
    def get(self, request):
        query = UntilFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = HeadsPage(query.validated_data.get("until"))

        def body() -> dict:
            url = request.build_absolute_uri(reverse("api-audit-heads"))
            older, newer = page.older_until, page.newer_until
            return HeadsPageOutput(
                {
                    "first_day": page.first_day,
                    "until": page.until,
                    "heads": page.heads(),
                    "older": f"{url}?{urlencode({'until': older})}" if older else None,
                    "newer": f"{url}?{urlencode({'until': newer})}" if newer else None,
                }
            ).data

        return self.stamped(request, page.stamp, body)


class AuditHeadApi(PublicReadApi):
    """The head published for one day (A6, W6); 404 when none was."""

    @extend_schema(
        operation_id="audit_head_retrieve",
        parameters=[OpenApiParameter("day", str, OpenApiParameter.PATH, description="YYYY-MM-DD")],
        responses=HeadOutput,
    )
    def get(self, request, day: str):
        try:
            date = dt.date.fromisoformat(day)
        except ValueError as exc:
            raise Http404 from exc
        head = proofs.published_head(date)
        if head is None:
            raise Http404
        return self.stamped(
            request, f"{proofs.heads_stamp()}-{date.isoformat()}", lambda: HeadOutput(head).data
        )


# --- The proof document (docs/proofs.md), for the schema of the endpoints that serve it -------


class ProofSubjectOutput(serializers.Serializer):
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    label = serializers.CharField(allow_blank=True)


class ProofEventFields(serializers.Serializer):
    id = serializers.IntegerField()
    canonical = serializers.CharField(help_text="the event's canonical JSON, exactly as hashed")
    event_hash = serializers.CharField()
    leaf_hash = serializers.CharField()
    path = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        help_text='[["L" or "R", sibling hash], …] from the leaf up to the batch root',
    )


class ProofEventOutput(ProofEventFields):
    batch_number = serializers.IntegerField()


class ProofChainOutput(serializers.Serializer):
    first_batch = serializers.IntegerField()
    previous_hash = serializers.CharField()
    merkle_roots = serializers.ListField(child=serializers.CharField())


class ProofHeadOutput(serializers.Serializer):
    day = serializers.DateField()
    batch_number = serializers.IntegerField()
    batch_hash = serializers.CharField()
    published_at = serializers.CharField()
    chain = ProofChainOutput()
    events = ProofEventOutput(many=True)


class ProofBatchOutput(serializers.Serializer):
    number = serializers.IntegerField()
    previous_hash = serializers.CharField()
    merkle_root = serializers.CharField()
    batch_hash = serializers.CharField()


class ProofPendingOutput(ProofEventFields):
    state = serializers.ChoiceField(choices=[proofs.PENDING_UNSEALED, proofs.PENDING_SEALED])
    batch = ProofBatchOutput(allow_null=True)


class ProofOutput(serializers.Serializer):
    format = serializers.CharField()
    version = serializers.IntegerField()
    generated_at = serializers.CharField()
    subject = ProofSubjectOutput()
    heads = ProofHeadOutput(many=True)
    pending = ProofPendingOutput(many=True)
