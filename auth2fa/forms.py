from django import forms
from django.utils.translation import gettext_lazy as _

from carriers.models import Carrier
from carriers.selectors import foreign_carrier_countries


class PasswordTwiceMixin:
    """The password typed twice must match."""

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class RegistrationForm(PasswordTwiceMixin, forms.Form):
    """A carrier and its owner (A1). The fields of the other kinds of carrier are left blank and
    ignored: the page shows them all without JavaScript (static/js/carrier-kind.js hides the
    ones that do not apply); the service says which are missing for the chosen kind."""

    carrier_kind = forms.ChoiceField(
        label=_("The carrier is"),
        choices=Carrier.Kind.choices,
        widget=forms.Select(attrs={"data-carrier-kind": ""}),
    )
    carrier_iin_bin = forms.CharField(
        label=_("BIN of the company or IIN of the entrepreneur"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    carrier_country = forms.ChoiceField(
        label=_("The carrier's country"), choices=(), required=False
    )
    carrier_tax_number = forms.CharField(
        label=_("Its national tax number"),
        max_length=40,
        required=False,
        help_text=_(
            "Russia: INN; Kyrgyzstan: INN; Uzbekistan: STIR; China: unified social credit code."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    carrier_name = forms.CharField(label=_("Carrier's name"), max_length=300)
    full_name = forms.CharField(
        label=_("Your full name"), max_length=200, widget=forms.TextInput({"autocomplete": "name"})
    )
    iin = forms.CharField(
        label=_("Your IIN"),
        max_length=12,
        required=False,
        help_text=_("Not needed for a carrier from abroad."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=32,
        help_text=_("An SMS code will be sent to it, e.g. +7 701 123 45 67."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput({"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Password again"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    # Which kinds of carrier each group of the page is for (register.html, carrier-kind.js).
    KAZAKH_FIELDS = ("carrier_iin_bin",)
    FOREIGN_FIELDS = ("carrier_country", "carrier_tax_number")

    # Field names of the registration service → fields of this form.
    SERVICE_FIELDS = {
        "carrier.kind": "carrier_kind",
        "carrier.iin_bin": "carrier_iin_bin",
        "carrier.country": "carrier_country",
        "carrier.tax_number": "carrier_tax_number",
        "carrier.name": "carrier_name",
        "person.full_name": "full_name",
        "person.iin": "iin",
        "person.phone": "phone",
        "person.email": "email",
        "person.password": "password",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier_country"].choices = [
            ("", "—"),
            *((country.code, country.name) for country in foreign_carrier_countries()),
        ]

    def fields_of(self, names) -> list:
        return [self[name] for name in names]

    @property
    def kazakh_fields(self) -> list:
        return self.fields_of(self.KAZAKH_FIELDS)

    @property
    def foreign_fields(self) -> list:
        return self.fields_of(self.FOREIGN_FIELDS)

    @property
    def common_carrier_fields(self) -> list:
        return self.fields_of(("carrier_kind", "carrier_name"))

    @property
    def person_fields(self) -> list:
        return self.fields_of(("full_name", "iin", "phone", "email", "password", "password_again"))


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("Code"),
        regex=r"^\s*[0-9A-Za-z-]{6,12}\s*$",
        max_length=20,
        error_messages={"invalid": _("Type the code you received.")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


class SignInForm(forms.Form):
    username = forms.CharField(
        label=_("E-mail or phone"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("What the token is for"),
        max_length=100,
        help_text=_("For example: fleet system, plate camera integration."),
    )
    valid_days = forms.TypedChoiceField(
        label=_("Works for"),
        coerce=int,
        choices=[(30, _("30 days")), (90, _("90 days")), (180, _("180 days")), (365, _("1 year"))],
        initial=365,
        required=False,
        empty_value=365,
        help_text=_("After that the token stops working; make a new one before it does."),
    )


class EdsForm(forms.Form):
    signature_format = forms.ChoiceField(
        label=_("Signature format"),
        choices=[("cms", _("CMS (NCALayer, most programs)")), ("raw", _("Raw RSA or ECDSA"))],
        initial="cms",
    )
    signature = forms.CharField(
        label=_("Signature (base64)"),
        max_length=262144,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )
    certificate = forms.CharField(
        label=_("Certificate (PEM or base64)"),
        help_text=_("Not needed for a CMS signature that carries the certificate."),
        max_length=65536,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
    )


class PersonForm(PasswordTwiceMixin, forms.Form):
    """A person joining a carrier by invitation: their phone is the invited one."""

    full_name = RegistrationForm.base_fields["full_name"]
    # Required, and checked, by the service unless the carrier is from abroad.
    iin = forms.CharField(
        label=_("Your IIN"),
        max_length=12,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    email = RegistrationForm.base_fields["email"]
    password = RegistrationForm.base_fields["password"]
    password_again = RegistrationForm.base_fields["password_again"]

    SERVICE_FIELDS = RegistrationForm.SERVICE_FIELDS
