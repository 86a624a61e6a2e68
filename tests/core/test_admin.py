import pytest
from django.contrib import admin
from django.urls import reverse

from checkpoints.models import Checkpoint
from checkpoints.services import reference_checkpoints_load
from core.models import AuditEvent
from tests.fees.factories import fees_in_force_today

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(
        "operator@example.kz", "a-long-passphrase", full_name="Operator"
    )


@pytest.fixture
def operator_client(client, operator, sign_in_browser):
    return sign_in_browser(client, operator)


def test_admin_every_registered_page_renders(operator_client):
    reference_checkpoints_load()
    fees_in_force_today()
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = operator_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, info
        if model_admin.has_add_permission(changelist.wsgi_request):
            assert operator_client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200
        first = model.objects.first()
        if first is not None:
            change = reverse("admin:{}_{}_change".format(*info), args=[first.pk])
            assert operator_client.get(change).status_code == 200, info


def test_r1_a6_operator_edits_a_checkpoint_and_the_change_is_audited(operator_client, operator):
    reference_checkpoints_load()
    checkpoint = Checkpoint.objects.get(code="KALZHAT")
    url = reverse("admin:checkpoints_checkpoint_change", args=[checkpoint.pk])
    page = operator_client.get(url)
    form = page.context["adminform"].form
    data = {
        name: ("" if value is None else value)
        for name, value in form.initial.items()
        if name in form.fields
    }
    for inline in page.context["inline_admin_formsets"]:  # e.g. staff assignments (A5)
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
    data.update(daily_capacity=350, country="CN", is_active="on", serves_trucks="on")
    data = {key: value for key, value in data.items() if value is not False}
    response = operator_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    checkpoint.refresh_from_db()
    assert checkpoint.daily_capacity == 350
    event = AuditEvent.objects.get(action="admin.changed", object_id=str(checkpoint.pk))
    assert event.actor == operator
    assert event.before["daily_capacity"] == 300
    assert event.after["daily_capacity"] == 350


def test_a6_audit_log_is_read_only_in_the_admin(operator_client):
    reference_checkpoints_load()
    event = AuditEvent.objects.filter(action="reference.created").first()
    assert operator_client.get(reverse("admin:core_auditevent_add")).status_code == 403
    response = operator_client.post(
        reverse("admin:core_auditevent_change", args=[event.pk]), {"action": "forged"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "reference.created"
