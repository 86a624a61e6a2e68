"""P1 upload limit: a bank statement over STATEMENT_MAX_BYTES is refused by its size, with a
clear message in the operator's language, before it is read: nothing is parsed or imported."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from auth2fa.roles import OPERATORS
from deposits import forms as deposit_forms
from deposits.models import StatementImport
from deposits.statements import MAX_STATEMENT_BYTES

pytestmark = pytest.mark.django_db

SAMPLE = (Path(__file__).parent / "samples" / "camt053-v02-day.xml").read_bytes()


@pytest.fixture
def operator_client(client, django_user_model, sign_in_browser):
    user = django_user_model.objects.create_user(
        "op@registrar.kz", "x", full_name="Operator", is_staff=True
    )
    user.groups.add(Group.objects.get(name=OPERATORS))
    return sign_in_browser(client, user)


def upload(client, data: bytes, language: str = "en"):
    return client.post(
        reverse("admin:deposits_statementimport_upload"),
        {"file": SimpleUploadedFile("statement.xml", data)},
        HTTP_ACCEPT_LANGUAGE=language,
    )


def test_p1_a_statement_over_the_limit_is_refused_unread(operator_client, settings, monkeypatch):
    settings.STATEMENT_MAX_BYTES = len(SAMPLE) - 1

    def must_not_parse(*args, **kwargs):
        raise AssertionError("an oversized statement was parsed")

    monkeypatch.setattr("deposits.services.parse_statement", must_not_parse)
    response = upload(operator_client, SAMPLE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The file is too large; statements of at most" in page
    assert not StatementImport.objects.exists()


def test_p1_a_statement_at_the_limit_is_imported(operator_client, settings):
    settings.STATEMENT_MAX_BYTES = len(SAMPLE)
    response = upload(operator_client, SAMPLE)
    assert response.status_code == 302
    assert StatementImport.objects.count() == 1


def test_p1_the_limit_is_shown_and_told_in_mebibytes(operator_client, settings):
    settings.STATEMENT_MAX_BYTES = 3 * 1024 * 1024 // 2
    form = operator_client.get(
        reverse("admin:deposits_statementimport_upload"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "at most 1.5 MiB" in form.content.decode()
    refused = upload(operator_client, b"x" * (settings.STATEMENT_MAX_BYTES + 1))
    assert "statements of at most 1.5 MiB are accepted" in refused.content.decode()
    settings.STATEMENT_MAX_BYTES = 5 * 1024 * 1024
    form = operator_client.get(
        reverse("admin:deposits_statementimport_upload"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "at most 5 MiB" in form.content.decode()


def test_p1_the_setting_never_lifts_the_readers_own_ceiling(settings):
    settings.STATEMENT_MAX_BYTES = MAX_STATEMENT_BYTES * 4
    assert deposit_forms.statement_max_bytes() == MAX_STATEMENT_BYTES
    settings.STATEMENT_MAX_BYTES = 1024
    assert deposit_forms.statement_max_bytes() == 1024


def test_request_bodies_and_in_memory_uploads_have_sane_limits(settings):
    from django.conf import settings as live

    assert 0 < live.DATA_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert 0 < live.FILE_UPLOAD_MAX_MEMORY_SIZE <= 10 * 1024 * 1024
    assert live.STATEMENT_MAX_BYTES <= MAX_STATEMENT_BYTES
