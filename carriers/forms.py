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
