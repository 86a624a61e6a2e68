"""W1: the messages of Django and its admin that people meet read in Kazakh too, where Django's
own Kazakh catalog leaves them in English (core/upstream_messages.py keeps them in ours)."""

import ast
import gettext as catalogs
import json
import re
from pathlib import Path

import django
import pytest
import rest_framework
from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import translation
from django.utils.translation import gettext, ngettext

import core.upstream_messages

DJANGO = Path(django.__file__).parent
UPSTREAM_CATALOGS = [
    DJANGO / "conf/locale/en/LC_MESSAGES/django.po",
    DJANGO / "contrib/auth/locale/en/LC_MESSAGES/django.po",
    DJANGO / "contrib/admin/locale/en/LC_MESSAGES/django.po",
]


def errors_of(check, value) -> list[str]:
    with pytest.raises(ValidationError) as refusal:
        check(value)
    return refusal.value.messages


def upstream_msgids() -> set[str]:
    """Django's texts (its English catalogs) and Django REST framework's (its English .mo)."""
    drf = Path(rest_framework.__file__).parent / "locale/en/LC_MESSAGES/django.mo"
    with drf.open("rb") as catalog:
        found = {key for key in catalogs.GNUTranslations(catalog)._catalog if isinstance(key, str)}
    for catalog in UPSTREAM_CATALOGS:
        for match in re.finditer(
            r'^msgid ((?:".*"\n)+)', catalog.read_text(encoding="utf-8"), re.M
        ):
            text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', match.group(1)))
            found.add(text.replace('\\"', '"'))
    return found


def listed() -> list[tuple[str, ...]]:
    """The texts of core/upstream_messages.py as `make messages` reads them: one per
    gettext_noop, singular and plural per ngettext_lazy."""
    source = Path(core.upstream_messages.__file__).read_text(encoding="utf-8")
    return [
        tuple(argument.value for argument in node.args)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and node.func.id in ("gettext_noop", "ngettext_lazy")
    ]


def test_w1_each_listed_message_is_still_djangos_own_text():
    """After an upgrade of Django or DRF a changed text would fall back to English: this says
    which."""
    known = upstream_msgids()
    texts = [message[0] for message in listed()]
    assert len(texts) == len(core.upstream_messages.UPSTREAM_MESSAGES) > 100
    assert [text for text in texts if text not in known] == []


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w1_each_listed_message_is_translated(language):
    with translation.override(language):
        for message in listed():
            if len(message) == 1:
                assert gettext(message[0]) != message[0], message
            else:
                singular, plural = message
                assert ngettext(singular, plural, 1) != singular, singular
                assert ngettext(singular, plural, 5) != plural, plural


def test_w1_validation_messages_people_meet_are_kazakh():
    with translation.override("kk"):
        assert errors_of(validate_email, "not-an-address") == [
            "Дұрыс электрондық пошта мекенжайын енгізіңіз."
        ]
        assert errors_of(forms.CharField(max_length=3).clean, "abcdef") == [
            "Мәнде ең көбі 3 таңба болуы керек (қазір 6)."
        ]
        assert errors_of(forms.DecimalField(decimal_places=2).clean, "1.234") == [
            "Үтірден кейін 2 цифрдан артық болмауы керек."
        ]
        assert errors_of(validate_password, "1234") == [
            f"Бұл құпиясөз тым қысқа. Онда кемінде {8} таңба болуы керек.",
            "Бұл құпиясөз тым кең тараған.",
            "Бұл құпиясөз тек цифрлардан тұрады.",
        ]


@pytest.mark.django_db
def test_w1_admin_list_and_delete_pages_in_kazakh(client, sign_in_browser, django_user_model):
    from checkpoints.models import Checkpoint
    from checkpoints.services import reference_checkpoints_load

    reference_checkpoints_load()
    operator = django_user_model.objects.create_superuser(
        "operator@example.kz", "a-long-passphrase", full_name="Operator"
    )
    sign_in_browser(client, operator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "kk"
    listing = client.get("/admin/checkpoints/checkpoint/").content.decode()
    for english in ("Skip to main content", "Select all objects on this page for an action"):
        assert english not in listing
    assert "Негізгі мазмұнға өту" in listing
    assert "Осы беттегі барлық нысандарды әрекет үшін таңдау" in listing
    checkpoint = Checkpoint.objects.get(code="KORDAI")
    change = client.get(f"/admin/checkpoints/checkpoint/{checkpoint.pk}/change/")
    page = change.content.decode()
    assert "Toggle theme" not in page and "Тақырыпты ауыстыру" in page


@pytest.mark.django_db
def test_w1_admin_date_picker_and_selection_scripts_in_kazakh(
    client, sign_in_browser, django_user_model
):
    """The admin's scripts take their texts from its JavaScript catalog (locale/kk/djangojs.po
    fills what Django's Kazakh one leaves in English): months, days, the pickers' titles."""
    operator = django_user_model.objects.create_superuser(
        "operator@example.kz", "a-long-passphrase", full_name="Operator"
    )
    sign_in_browser(client, operator)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "kk"
    script = client.get("/admin/jsi18n/").content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});\n", script, re.S).group(1))
    for english, kazakh in (
        ("January", "Қаңтар"),
        ("December", "Желтоқсан"),
        ("Monday", "Дүйсенбі"),
        ("Choose a Date", "Күнді таңдаңыз"),
        ("Choose a Time", "Уақытты таңдаңыз"),
    ):
        assert catalog[english] == kazakh


@pytest.mark.django_db
def test_w1_the_apis_date_and_null_errors_are_kazakh(client):
    """DRF's own Kazakh leaves "Datetime" in English; a carrier's program reads ours."""
    from rest_framework import serializers

    class Probe(serializers.Serializer):
        day = serializers.DateField()
        moment = serializers.DateTimeField()
        name = serializers.CharField()

    with translation.override("kk"):
        probe = Probe(data={"day": "05.01.2027", "moment": "tomorrow", "name": None})
        assert not probe.is_valid()
        assert probe.errors["day"][0].startswith("Күн пішімі қате.")
        assert probe.errors["moment"][0].startswith("Күн мен уақыт пішімі қате.")
        assert probe.errors["name"] == ["Бұл өріс бос болмауы керек."]
