"""The browser's request form (F2): the acceptable hours in order of preference, or a range."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import ApplicationError
from release.services import hours_of_range

PREFERENCE_LABELS = (
    gettext_lazy("First choice"),
    gettext_lazy("Second choice"),
    gettext_lazy("Third choice"),
    gettext_lazy("Fourth choice"),
)


def hour_label(hour: int) -> str:
    return f"{hour:02d}:00–{(hour + 1) % 24:02d}:00"


class HoursForm(forms.Form):
    """Up to four hours, most wanted first, or "any hour from … to …" (F2); `hours` once valid."""

    def __init__(self, *args, hours: Sequence[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        options = [("", "—")] + [(str(hour), hour_label(hour)) for hour in hours]
        for number, label in enumerate(PREFERENCE_LABELS, start=1):
            self.fields[f"hour_{number}"] = forms.TypedChoiceField(
                label=label, choices=options, coerce=int, empty_value=None, required=False
            )
        self.fields["range_from"] = forms.TypedChoiceField(
            label=gettext_lazy("Or any hour from"),
            choices=options,
            coerce=int,
            empty_value=None,
            required=False,
        )
        self.fields["range_to"] = forms.TypedChoiceField(
            label=gettext_lazy("to (the hour that starts last)"),
            choices=options,
            coerce=int,
            empty_value=None,
            required=False,
        )

    def clean(self) -> dict:
        cleaned = super().clean()
        ordered = [
            cleaned[name]
            for name in (f"hour_{n}" for n in range(1, len(PREFERENCE_LABELS) + 1))
            if cleaned.get(name) is not None
        ]
        first, last = cleaned.get("range_from"), cleaned.get("range_to")
        if len(set(ordered)) != len(ordered):
            raise forms.ValidationError(_("Each hour once, please: choose different hours."))
        if ordered and (first is not None or last is not None):
            raise forms.ValidationError(_("Choose hours one by one or a range, not both."))
        if first is not None or last is not None:
            if first is None or last is None:
                raise forms.ValidationError(_("A range needs its first and its last hour."))
            try:
                ordered = hours_of_range(first, last)
            except ApplicationError as refusal:
                raise forms.ValidationError(refusal.message) from refusal
        if not ordered:
            raise forms.ValidationError(_("Choose at least one hour you would accept."))
        cleaned["hours"] = ordered
        return cleaned
