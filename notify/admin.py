"""The outbox, to read (B12): what was sent to whom, when, and why a message failed.

Nothing here writes a model: "Retry now" calls notify.services.messages_retry. Who may retry is the
`notify.retry_message` permission (auth2fa.roles gives it to registrar operators).
"""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from bookings.models import booking_number, booking_pk_from_number
from core.admin import ReadOnlyAdmin
from notify import services
from notify.models import Message


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "kind",
        "channel",
        "address",
        "recipient",
        "booking_number",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    ]
    list_filter = ["status", "kind", "channel", "language"]
    search_fields = ["address", "recipient__email", "provider_id"]
    search_help_text = _("Phone, Telegram chat, e-mail of the person, or booking number.")
    date_hierarchy = "created_at"
    list_select_related = ["recipient"]
    exclude = ["claim_token"]
    actions = ["retry_now"]

    @admin.display(description=_("booking"), ordering="booking")
    def booking_number(self, obj: Message) -> str:
        return booking_number(obj.booking_id) if obj.booking_id else "—"

    def get_search_results(self, request, queryset, search_term):
        """A booking number (K-0001234-5) finds the booking's messages too."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        booking_pk = booking_pk_from_number(search_term)
        if booking_pk is not None:
            found = found | queryset.filter(booking_id=booking_pk)
        return found, may_have_duplicates

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notify.retry_message")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        count = services.messages_retry(
            message_ids=queryset.values_list("pk", flat=True), actor=request.user
        )
        if count:
            messages.success(
                request,
                ngettext(
                    "%(count)s message queued to be sent again.",
                    "%(count)s messages queued to be sent again.",
                    count,
                )
                % {"count": count},
            )
        left = queryset.count() - count
        if left:
            messages.warning(
                request,
                ngettext(
                    "%(count)s message was being sent or already sent and was left as it was.",
                    "%(count)s messages were being sent or already sent and were left as they "
                    "were.",
                    left,
                )
                % {"count": left},
            )
