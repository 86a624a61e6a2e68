"""Forms of the booking pages: the steps of the booking wizard, adding drivers, rescheduling.

The wizard keeps no state on the server: every choice travels in the query string (or in the
hidden fields of the next step's form), so the page works the same with or without JavaScript
and a reload shows the same step. `BookingWizard` reads the choices step by step and stops at
the first one that is missing or wrong: that is the step the person is on.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from bookings.models import BookingService, CargoCategory, SlotHold
from bookings.selectors import hold_of
from bookings.services import MAX_DRIVERS
from checkpoints import capacity
from checkpoints.models import Checkpoint, Country, Direction
from checkpoints.selectors import active_checkpoints
from core import clock
from vehicles.forms import CODE_INPUT
from vehicles.models import Driver, Vehicle
from vehicles.selectors import drivers_of, vehicles_of

#: The steps in their order, with the query parameters each one sets.
STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("country", ("country",)),
    ("checkpoint", ("checkpoint",)),
    ("direction", ("direction",)),
    ("service", ("service", "cargo_category", "document_number")),
    ("date", ("date",)),
    ("hour", ("hour",)),
    ("fleet", ("vehicle", "trailer", "drivers")),
    ("summary", ()),
)
STEP_NAMES = tuple(name for name, _params in STEPS)
FLEET_PARAMS = ("vehicle", "trailer", "drivers")


def booking_window_dates(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The first and last local dates with a bookable hour (C4)."""
    earliest, latest = capacity.booking_window(now)
    return clock.local_date(earliest), clock.local_date(latest)


class CargoForm(forms.Form):
    """What out-of-turn passage needs (B2): the cargo category and the document allowing it."""

    cargo_category = forms.ChoiceField(
        label=_("Cargo category"),
        choices=[("", _("Choose the category")), *CargoCategory.choices],
    )
    document_number = forms.CharField(
        label=_("Document number"),
        max_length=60,
        help_text=_(
            "The goods or transit declaration, veterinary certificate or other document that "
            "allows out-of-turn passage. Staff check it at the checkpoint."
        ),
        widget=forms.TextInput(attrs=CODE_INPUT),
    )

    def clean_document_number(self) -> str:
        return self.cleaned_data["document_number"].strip()


class DateForm(forms.Form):
    """A date within the booking window (C4)."""

    date = forms.DateField(
        label=_("Date"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _("Write the date as YYYY-MM-DD.")},
    )

    def __init__(self, *args, first: dt.date, last: dt.date, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.first, self.last = first, last
        self.fields["date"].widget.attrs.update(min=first.isoformat(), max=last.isoformat())
        self.fields["date"].help_text = _("From %(first)s to %(last)s.") % {
            "first": first.strftime("%d.%m.%Y"),
            "last": last.strftime("%d.%m.%Y"),
        }

    def clean_date(self) -> dt.date:
        day = self.cleaned_data["date"]
        if not self.first <= day <= self.last:
            raise ValidationError(
                _("Slots can be booked from %(first)s to %(last)s. Choose a date between them.")
                % {"first": self.first.strftime("%d.%m.%Y"), "last": self.last.strftime("%d.%m.%Y")}
            )
        return day


class VehicleChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, booked: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.booked = booked or {}

    def label_from_instance(self, vehicle: Vehicle) -> str:
        label = f"{vehicle.plate_display} · {vehicle.get_kind_display()}"
        if vehicle.make_model:
            label += f" · {vehicle.make_model}"
        if vehicle.vin in self.booked:
            label += " — " + str(
                _("has active booking %(number)s in this country")
                % {"number": self.booked[vehicle.vin]}
            )
        return label


class DriverChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, driver: Driver) -> str:
        document = driver.iin or driver.passport_number or ""
        return f"{driver.full_name} · {document}"


class FleetForm(forms.Form):
    """The vehicle, the trailer and the drivers of a booking (B1), from the carrier's fleet."""

    vehicle = VehicleChoiceField(
        queryset=Vehicle.objects.none(),
        label=_("Truck or tractor unit"),
        empty_label=_("Choose a vehicle"),
    )
    trailer = VehicleChoiceField(
        queryset=Vehicle.objects.none(),
        label=_("Trailer (optional)"),
        required=False,
        empty_label=_("No trailer"),
    )
    drivers = DriverChoiceField(
        queryset=Driver.objects.none(),
        label=_("Drivers"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("One to three drivers. More can be added to the booking later."),
    )

    def __init__(self, *args, carrier, booked: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["vehicle"].queryset = vehicles_of(
            carrier, kind=[Vehicle.Kind.TRUCK, Vehicle.Kind.TRACTOR]
        )
        self.fields["trailer"].queryset = vehicles_of(carrier, kind=Vehicle.Kind.TRAILER)
        self.fields["drivers"].queryset = drivers_of(carrier)
        for name in ("vehicle", "trailer"):
            self.fields[name].booked = booked or {}

    def clean_drivers(self):
        drivers = self.cleaned_data["drivers"]
        if len(drivers) > MAX_DRIVERS:
            raise ValidationError(
                _("A booking names at most %(max)s drivers.") % {"max": MAX_DRIVERS}
            )
        return drivers


class AddDriversForm(forms.Form):
    """Drivers to add to a booking (B4): the carrier's drivers not on it yet."""

    drivers = DriverChoiceField(
        queryset=Driver.objects.none(),
        label=_("Drivers to add"),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, carrier, booking, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        present = [link.driver_id for link in booking.driver_links.all()]
        self.room = MAX_DRIVERS - len(present)
        self.fields["drivers"].queryset = drivers_of(carrier).exclude(pk__in=present)
        self.fields["drivers"].help_text = _(
            "A booking names at most %(max)s drivers: up to %(room)s more can be added. "
            "Drivers on a booking are never removed."
        ) % {"max": MAX_DRIVERS, "room": self.room}

    def clean_drivers(self):
        drivers = self.cleaned_data["drivers"]
        if len(drivers) > self.room:
            raise ValidationError(
                _("A booking names at most %(max)s drivers: choose up to %(room)s.")
                % {"max": MAX_DRIVERS, "room": self.room}
            )
        return drivers


def parse_hour(value: str | None) -> int | None:
    """An hour 0–23 from a query parameter, or None."""
    if value is None or not value.strip().isdigit():
        return None
    hour = int(value)
    return hour if 0 <= hour <= 23 else None


class BookingWizard:
    """The booking wizard's choices read from a query string or a POST, step by step.

    `step` is the first step not done yet ("summary" when everything is chosen). The choices
    made are in `values` (cleaned) and are carried to the next step's form by `carried()`; the
    vehicle, trailer and drivers are carried through the earlier steps too, so that choosing
    another hour (after a hold lapsed, say) keeps them.
    """

    def __init__(self, data, member, *, now: dt.datetime | None = None, edit: str = "") -> None:
        self.data = data
        self.member = member
        self.now = now or clock.now()
        self.edit = edit or data.get("edit", "")
        self.values: dict[str, list[str]] = {}
        self.country: Country | None = None
        self.checkpoint: Checkpoint | None = None
        self.direction = ""
        self.service = ""
        self.cargo_form: CargoForm | None = None
        self.first_date, self.last_date = booking_window_dates(self.now)
        self.date_form: DateForm | None = None
        self.date: dt.date | None = None
        self.hour: int | None = None
        self.slot_start: dt.datetime | None = None
        self.hold: SlotHold | None = None
        self.hold_lapsed = False
        self.fleet_form: FleetForm | None = None
        self.step = self._read()

    # --- reading ---------------------------------------------------------------------------

    def _keep(self, name: str, *values: str) -> None:
        self.values[name] = [str(value) for value in values if str(value)]

    def _read(self) -> str:
        data = self.data
        code = data.get("country", "").strip().upper()
        if not code or not active_checkpoints(country=code).exists():
            return "country"
        self.country = Country.objects.get(code=code)
        self._keep("country", code)

        self.checkpoint = (
            active_checkpoints(country=code).filter(code=data.get("checkpoint", "")).first()
        )
        if self.checkpoint is None:
            return "checkpoint"
        self._keep("checkpoint", self.checkpoint.code)

        if data.get("direction") not in Direction.values:
            return "direction"
        self.direction = data["direction"]
        self._keep("direction", self.direction)

        if data.get("service") not in BookingService.values:
            return "service"
        self.service = data["service"]
        self._keep("service", self.service)
        if self.service == BookingService.OUT_OF_TURN:
            given = any(data.get(name) is not None for name in CargoForm.base_fields)
            self.cargo_form = CargoForm(data if given else None)
            if not self.cargo_form.is_valid():
                return "service"
            self._keep("cargo_category", self.cargo_form.cleaned_data["cargo_category"])
            self._keep("document_number", self.cargo_form.cleaned_data["document_number"])

        self.date_form = DateForm(
            data if data.get("date") is not None else None,
            first=self.first_date,
            last=self.last_date,
        )
        if not self.date_form.is_valid():
            return "date"
        self.date = self.date_form.cleaned_data["date"]
        self._keep("date", self.date.isoformat())

        self.hour = parse_hour(data.get("hour"))
        if self.hour is None:
            return "hour"
        self.slot_start = capacity.hour_start(self.date, self.hour)
        self.hold = hold_of(
            self.member.user,
            checkpoint=self.checkpoint,
            direction=self.direction,
            service=self.service,
            slot_start=self.slot_start,
        )
        if self.hold is None or self.hold.expires_at <= self.now:
            self.hold_lapsed = True
            return "hour"
        self._keep("hour", self.hour)

        given = any(data.get(name) is not None for name in FLEET_PARAMS)
        self.fleet_form = self.new_fleet_form(data if given else None)
        if self.edit == "fleet" or not self.fleet_form.is_valid():
            return "fleet"
        cleaned = self.fleet_form.cleaned_data
        self._keep("vehicle", cleaned["vehicle"].pk)
        self._keep("trailer", cleaned["trailer"].pk if cleaned["trailer"] else "")
        self._keep("drivers", *(driver.pk for driver in cleaned["drivers"]))
        return "summary"

    def new_fleet_form(self, data=None) -> FleetForm:
        from bookings.selectors import active_bookings_by_vin

        booked = active_bookings_by_vin(self.member.carrier, country=self.country.code)
        return FleetForm(data, carrier=self.member.carrier, booked=booked)

    # --- what the pages need ----------------------------------------------------------------

    def is_past(self, step: str) -> bool:
        return STEP_NAMES.index(step) < STEP_NAMES.index(self.step)

    def fleet_params(self) -> list[tuple[str, str]]:
        """The vehicle, trailer and drivers as given (digits only), carried through the steps."""
        if "vehicle" in self.values:
            return [(name, value) for name in FLEET_PARAMS for value in self.values.get(name, [])]
        return [
            (name, value)
            for name in FLEET_PARAMS
            for value in self.data.getlist(name)
            if value.isdigit()
        ]

    def carried(self, before: str, **replace: str) -> list[tuple[str, str]]:
        """The (name, value) pairs of the steps done before `before`, plus the fleet choices;
        `replace` changes or adds parameters (e.g. another date)."""
        pairs: list[tuple[str, str]] = []
        for step, params in STEPS:
            if step == before or step == "fleet":
                break
            for name in params:
                if name in replace:
                    continue
                pairs.extend((name, value) for value in self.values.get(name, []))
        pairs.extend((name, value) for name, value in replace.items() if value != "")
        if before != "fleet":
            pairs.extend(self.fleet_params())
        return pairs

    def url(self, base: str, before: str, **replace: str) -> str:
        pairs = self.carried(before, **replace)
        return f"{base}?{urlencode(pairs)}" if pairs else base

    def quick_dates(self, count: int = 7) -> list[dt.date]:
        days = []
        day = self.first_date
        while day <= self.last_date and len(days) < count:
            days.append(day)
            day += dt.timedelta(days=1)
        return days
