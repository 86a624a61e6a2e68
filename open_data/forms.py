"""The filter of the statistics page, the CSV and the JSON (W5): one set of rules for all three."""

import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from checkpoints.models import Direction
from open_data import selectors

# Dates outside these are refused: no figures can be there, and the pages around a date far out
# would fall off the calendar.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2099, 12, 31)


class FiguresFilterForm(forms.Form):
    """`checkpoint` (code), `direction`, `from`, `to` (YYYY-MM-DD). The page needs a checkpoint
    and a direction for its charts (`require_checkpoint`); the data files do not."""

    def __init__(self, data=None, *, require_checkpoint: bool = False):
        if data is not None and data.get("checkpoint"):
            # Codes are case-insensitive in every public URL (checkpoints.public_reads).
            data = data.copy()
            data["checkpoint"] = data["checkpoint"].strip().upper()
        super().__init__(data)
        self.require_checkpoint = require_checkpoint
        self.checkpoints = selectors.public_checkpoints()
        choices = [(checkpoint.code, checkpoint.name) for checkpoint in self.checkpoints]
        self.fields["checkpoint"] = forms.ChoiceField(
            label=_("Checkpoint"),
            required=False,
            choices=choices if require_checkpoint else [("", _("All checkpoints")), *choices],
            error_messages={"invalid_choice": _("No checkpoint takes bookings under this code.")},
        )
        self.fields["direction"] = forms.ChoiceField(
            label=_("Direction"),
            required=False,
            choices=(
                Direction.choices
                if require_checkpoint
                else [("", _("Both directions")), *Direction.choices]
            ),
            error_messages={"invalid_choice": _("The direction is exit or entry.")},
        )
        for name, label in (("from", _("From")), ("to", _("To"))):
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                input_formats=["%Y-%m-%d"],
                error_messages={"invalid": _("Write the date as YYYY-MM-DD.")},
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            )

    def clean(self):
        cleaned = super().clean()
        for name in ("from", "to"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                self.add_error(
                    name,
                    _("Choose a date from %(first)s to %(last)s.")
                    % {"first": EARLIEST.isoformat(), "last": LATEST.isoformat()},
                )
        first, last = cleaned.get("from"), cleaned.get("to")
        if first and last and last < first:
            self.add_error("to", _("The last day comes before the first."))
        too_long = first and last and (last - first).days + 1 > selectors.PAGE_DAYS
        if self.require_checkpoint and too_long and not self.errors:
            self.add_error("to", _("Choose at most %(days)d days.") % {"days": selectors.PAGE_DAYS})
        return cleaned

    def query(self) -> selectors.Query:
        """The query of a valid form; the page's defaults: the first checkpoint, exit."""
        return self._query(self.cleaned_data)

    def default_query(self) -> selectors.Query:
        """What the page shows when nothing (or nothing valid) was asked."""
        return self._query({})

    def _query(self, data: dict) -> selectors.Query:
        code = data.get("checkpoint")
        checkpoint = next((cp for cp in self.checkpoints if cp.code == code), None)
        direction = data.get("direction") or None
        if self.require_checkpoint:
            checkpoint = checkpoint or (self.checkpoints[0] if self.checkpoints else None)
            direction = direction or Direction.EXIT
        return selectors.Query.of(
            checkpoint=checkpoint,
            direction=direction,
            first=data.get("from"),
            last=data.get("to"),
        )
