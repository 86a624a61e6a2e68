from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from deposits.models import Transfer


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
