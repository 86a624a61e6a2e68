from django import forms
from django.utils.translation import gettext_lazy as _

from vehicles.models import Vehicle

# What people type into plate, VIN and document fields is not prose: no autocorrection, capitals.
CODE_INPUT = {"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"}


class VehicleForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Vehicle.Kind.choices)
    plate = forms.CharField(
        label=_("Plate"),
        max_length=32,
        help_text=_(
            "As on the plate, like 123 ABC 02. Cyrillic letters that look like Latin ones are "
            "accepted."
        ),
        widget=forms.TextInput(attrs=CODE_INPUT),
    )
    registration_country = forms.CharField(
        label=_("Country of registration"),
        max_length=32,
        initial="KZ",
        help_text=_("Two-letter code: KZ Kazakhstan, RU Russia, KG Kyrgyzstan, UZ Uzbekistan…"),
        widget=forms.TextInput(attrs={**CODE_INPUT, "size": 4}),
    )
    vin = forms.CharField(
        label=_("VIN"),
        max_length=40,
        help_text=_(
            "17 characters from the registration certificate. The letters I, O and Q never occur."
        ),
        widget=forms.TextInput(attrs=CODE_INPUT),
    )
    make_model = forms.CharField(
        label=_("Make and model (optional)"), max_length=100, required=False
    )


class DriverForm(forms.Form):
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    citizenship = forms.CharField(
        label=_("Citizenship"),
        max_length=32,
        initial="KZ",
        help_text=_("Two-letter code: KZ Kazakhstan, RU Russia, KG Kyrgyzstan, UZ Uzbekistan…"),
        widget=forms.TextInput(attrs={**CODE_INPUT, "size": 4}),
    )
    iin = forms.CharField(
        label=_("IIN"),
        max_length=20,
        required=False,
        help_text=_("12 digits. Citizens and residents of Kazakhstan have one."),
        widget=forms.TextInput(attrs={**CODE_INPUT, "inputmode": "numeric"}),
    )
    passport_number = forms.CharField(
        label=_("Passport number"),
        max_length=32,
        required=False,
        help_text=_("For a driver without an IIN: the number of the passport they travel with."),
        widget=forms.TextInput(attrs=CODE_INPUT),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        help_text=_("In international form, like +7 701 123 45 67."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
