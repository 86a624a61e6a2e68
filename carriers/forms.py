from django import forms
from django.utils.translation import gettext_lazy as _

from carriers.models import Member


class InviteForm(forms.Form):
    phone = forms.CharField(
        label=_("Phone of the person"),
        max_length=32,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Member.Role.choices)


class DocumentForm(forms.Form):
    """One document of a carrier from abroad (A7); the service checks what it is."""

    file = forms.FileField(
        label=_("Document"),
        help_text=_(
            "The registration certificate or an extract from the trade register showing the "
            "carrier's name and tax number: PDF, JPEG or PNG, up to 5 MB, one file at a time, "
            "5 files at most."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"}
        ),
    )
