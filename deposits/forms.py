from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from deposits.models import Transfer
from deposits.statements import MAX_STATEMENT_BYTES, MIB


def statement_max_bytes() -> int:
    """The largest statement file accepted for upload (STATEMENT_MAX_BYTES), never above what the
    statement reader itself accepts."""
    return min(settings.STATEMENT_MAX_BYTES, MAX_STATEMENT_BYTES)


def _mebibytes(size: int) -> str:
    """5 MiB as "5", 1.5 MiB as "1.5" (or "1,5"), in the person's number format."""
    value = (Decimal(size) / MIB).quantize(Decimal("0.1")).normalize()
    return number_format(value, decimal_pos=None if value == value.to_integral() else 1)


class StatementUploadForm(forms.Form):
    """A bank statement for the admin's upload page (P1). A file over the limit is refused by its
    size before a byte of it is read, so nothing is parsed or imported."""

    file = forms.FileField(label=_("Bank statement"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Formatted per request, in the person's language (not once, when the module loads).
        self.fields["file"].help_text = gettext(
            "ISO 20022 camt.053 (XML) or the bank's CSV export, at most %(limit)s MiB."
        ) % {"limit": _mebibytes(statement_max_bytes())}

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > statement_max_bytes():
            raise ValidationError(
                _(
                    "The file is too large; statements of at most %(limit)s MiB are accepted. "
                    "Export a shorter period."
                ),
                params={"limit": _mebibytes(statement_max_bytes())},
                code="too_large",
            )
        return upload


class StatementFilterForm(forms.Form):
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    until = forms.DateField(
        label=_("To (inclusive)"), required=False, widget=forms.DateInput({"type": "date"})
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *Transfer.Kind.choices]
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end of the period is before its start."))
        return data


class RefundForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount, tenge"), max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    iban = forms.CharField(
        label=_("IBAN of the carrier's bank account"),
        max_length=40,
        help_text=_("The account must belong to the carrier. Kazakh IBANs have 20 characters."),
    )
