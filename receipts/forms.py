import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from fees.models import Service
from receipts.selectors import MAX_ARCHIVE_DAYS

# Periods are read between these days: wide around any real transfer, and clear of the calendar's
# ends, where the start of a day in Almaty time has no UTC moment (0001-01-01) or no next day.
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)


def validate_period_day(day: dt.date) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise forms.ValidationError(
            _("Choose a day between %(earliest)s and %(latest)s."),
            code="out_of_range",
            params={"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
        )


class PeriodMixin:
    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period is before its start."))
        return data


class ReceiptFilterForm(PeriodMixin, forms.Form):
    """Receipts by the day of their transfer to the budget, service and booking."""

    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput({"type": "date"}),
        validators=[validate_period_day],
    )
    until = forms.DateField(
        label=_("To (inclusive)"),
        required=False,
        widget=forms.DateInput({"type": "date"}),
        validators=[validate_period_day],
    )
    service = forms.ChoiceField(
        label=_("Service"), required=False, choices=[("", _("All")), *Service.choices]
    )
    booking = forms.CharField(
        label=_("Booking number"),
        required=False,
        max_length=20,
        widget=forms.TextInput({"placeholder": "K-0001234-5", "size": 12}),
    )

    def clean_booking(self):
        from bookings.models import booking_pk_from_number

        text = self.cleaned_data.get("booking", "").strip()
        if not text:
            return None
        pk = booking_pk_from_number(text)
        if pk is None:
            raise forms.ValidationError(
                _("%(number)s is not a booking number: check it against the booking."),
                params={"number": text},
            )
        return pk


class ArchiveForm(PeriodMixin, forms.Form):
    """The period of a ZIP: both ends required, at most a year."""

    since = forms.DateField(label=_("From"), validators=[validate_period_day])
    until = forms.DateField(label=_("To (inclusive)"), validators=[validate_period_day])

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until - since >= dt.timedelta(days=MAX_ARCHIVE_DAYS):
            self.add_error(
                "until",
                _("A ZIP covers at most %(days)s days: download a longer period in parts.")
                % {"days": MAX_ARCHIVE_DAYS},
            )
        return data


class VerifyForm(forms.Form):
    code = forms.CharField(
        label=_("Verification code"),
        max_length=64,
        help_text=_("20 letters and digits, as printed on the receipt."),
        widget=forms.TextInput(
            {
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "XXXX-XXXX-XXXX-XXXX-XXXX",
            }
        ),
    )
