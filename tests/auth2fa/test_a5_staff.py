"""A5: staff, operators and auditors in the admin, behind a verified second factor; checkpoint
staff see only their checkpoints. A6: assignments and edits of people and roles are audited."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY

from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS, missing_permissions, sync_roles
from checkpoints.models import Checkpoint, StaffAssignment
from checkpoints.selectors import checkpoints_of_staff
from checkpoints.services import reference_checkpoints_load
from core.models import AuditEvent

pytestmark = pytest.mark.django_db


def make_person(django_user_model, email, *roles, is_staff=True, **fields):
    person = django_user_model.objects.create_user(
        email,
        "a-long-passphrase",
        full_name=email.split("@")[0].title(),
        is_staff=is_staff,
        **fields,
    )
    person.groups.add(*Group.objects.filter(name__in=roles))
    return person


def permissions_of(role: str) -> set[str]:
    return {
        f"{app_label}.{codename}"
        for app_label, codename in Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def admin_form_data(page) -> dict:
    """What a browser would post back from an admin change page: the main form and its inlines
    (management forms and existing rows) as they are shown."""
    forms = [page.context["adminform"].form]
    data = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
        forms += inline.formset.initial_forms
    for form in forms:
        for name, field in form.fields.items():
            if field.disabled:
                continue
            value = form[name].value()
            if value is False:
                continue
            if value is None or value is True:
                value = "" if value is None else "on"
            data[form.add_prefix(name)] = value
    return data


@pytest.fixture
def checkpoints():
    reference_checkpoints_load()
    return Checkpoint.objects.get(code="KALZHAT"), Checkpoint.objects.get(code="NUR-ZHOLY")


@pytest.fixture
def operator(django_user_model):
    return make_person(django_user_model, "operator@registrar.kz", OPERATORS)


@pytest.fixture
def auditor(django_user_model):
    return make_person(django_user_model, "auditor@registrar.kz", AUDITORS)


@pytest.fixture
def staff(django_user_model, checkpoints):
    kalzhat, _nur_zholy = checkpoints
    person = make_person(django_user_model, "guard@kalzhat.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=person, checkpoint=kalzhat)
    return person


@pytest.fixture
def signed_in(sign_in_browser):
    """A fresh browser for `person`, signed in with both factors as the sign-in page does."""

    def make(person):
        return sign_in_browser(Client(), person)

    return make


def without_second_factor(browser):
    """The session stays signed in but forgets the device that verified it."""
    session = browser.session
    del session[DEVICE_ID_SESSION_KEY]
    session.save()
    return browser


# --- Roles ------------------------------------------------------------------------------------


def test_a5_roles_exist_with_their_permissions_after_migrate():
    assert missing_permissions() == []
    assert permissions_of(CHECKPOINT_STAFF) == {
        "checkpoints.view_checkpoint",
        "checkpoints.view_closure",
        "checkpoints.view_staffassignment",
        "bookings.view_booking",
        # What their devices delivered offline and the devices themselves (O3, O4).
        "checkpoint_queue.view_offlineevent",
        "checkpoints.view_devicereport",
    }
    operators = permissions_of(OPERATORS)
    for model in ("checkpoints.country", "checkpoints.checkpoint", "fees.mrprate"):
        app_label, name = model.split(".")
        assert {f"{app_label}.{action}_{name}" for action in ("view", "add", "change")} <= operators
    for wanted in (
        "fees.change_feeschedule",
        "core.add_calendarday",
        "carriers.change_carrier",
        "carriers.add_member",
        "auth2fa.change_user",
        "checkpoints.add_staffassignment",
        "checkpoints.delete_staffassignment",
    ):
        assert wanted in operators
    # Operators do not touch history, money or the roles themselves.
    assert not {"core.change_auditevent", "auth.change_group", "auth.add_permission"} & operators
    auditors = permissions_of(AUDITORS)
    assert {"core.view_auditevent", "checkpoints.view_checkpoint", "auth2fa.view_user"} <= auditors
    assert all(codename.split(".")[1].startswith("view_") for codename in auditors)
    # A session key is the session itself: nobody reads it through a role.
    assert "auth2fa.view_usersession" not in auditors


def test_a5_roles_are_resynced_on_every_migrate():
    operators = Group.objects.get(name=OPERATORS)
    expected = permissions_of(OPERATORS)
    operators.permissions.remove(Permission.objects.get(codename="change_checkpoint"))
    operators.permissions.add(Permission.objects.get(codename="delete_auditevent"))
    Group.objects.filter(name=AUDITORS).delete()

    call_command("migrate", verbosity=0)

    assert permissions_of(OPERATORS) == expected
    assert Group.objects.filter(name=AUDITORS).exists()
    before = {role: permissions_of(role) for role in (OPERATORS, AUDITORS, CHECKPOINT_STAFF)}
    sync_roles()
    assert before == {role: permissions_of(role) for role in before}
    assert Group.objects.filter(name__in=before).count() == 3


# --- The admin needs a verified second factor ---------------------------------------------------


def test_a5_admin_requires_a_verified_second_factor(operator, signed_in):
    browser = signed_in(operator)
    assert browser.get("/admin/").status_code == 200

    # The same person, still signed in, but the session has no verified device.
    response = without_second_factor(browser).get("/admin/")
    assert response.wsgi_request.user.is_authenticated
    assert response.status_code == 302
    assert response["Location"] == "/signin/?next=/admin/"
    assert response["Location"].startswith(reverse("signin"))
    # The admin has no login form of its own.
    response = browser.get("/admin/login/?next=/admin/checkpoints/")
    assert response["Location"] == "/signin/?next=/admin/checkpoints/"


def test_a5_even_a_superuser_needs_the_second_factor(django_user_model, signed_in):
    root = django_user_model.objects.create_superuser("root@registrar.kz", "x", full_name="Root")
    browser = without_second_factor(signed_in(root))
    response = browser.get("/admin/checkpoints/checkpoint/")
    assert response.wsgi_request.user.is_authenticated
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/?next=/admin/checkpoints/checkpoint/")


def test_a5_admin_is_for_staff_only_even_when_verified(django_user_model, signed_in):
    carrier_member = make_person(django_user_model, "owner@steppe.kz", is_staff=False)
    response = signed_in(carrier_member).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/signin/")


def test_a5_admin_login_sends_a_verified_person_on_but_never_off_site(operator, signed_in):
    browser = signed_in(operator)
    assert browser.get("/admin/login/?next=/admin/core/")["Location"] == "/admin/core/"
    response = browser.get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/admin/"


def test_a5_admin_logout_is_the_sites_own(operator, signed_in):
    browser = signed_in(operator)
    assert browser.post("/admin/logout/").status_code == 200
    assert browser.get("/admin/")["Location"].startswith("/signin/")


# --- Auditors ---------------------------------------------------------------------------------


def test_a5_auditor_reads_the_audit_log_and_checkpoints_but_changes_nothing(
    auditor, checkpoints, signed_in
):
    kalzhat, _nur_zholy = checkpoints
    browser = signed_in(auditor)
    event = AuditEvent.objects.filter(action="reference.created").first()

    assert browser.get(reverse("admin:core_auditevent_changelist")).status_code == 200
    event_url = reverse("admin:core_auditevent_change", args=[event.pk])
    assert browser.get(event_url).status_code == 200
    assert browser.post(event_url, {"action": "forged"}).status_code == 403

    listing = browser.get(reverse("admin:checkpoints_checkpoint_changelist"))
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == Checkpoint.objects.count()
    checkpoint_url = reverse("admin:checkpoints_checkpoint_change", args=[kalzhat.pk])
    page = browser.get(checkpoint_url)
    assert page.status_code == 200
    assert browser.post(checkpoint_url, {"daily_capacity": 1}).status_code == 403
    assert browser.get(reverse("admin:checkpoints_checkpoint_add")).status_code == 403
    kalzhat.refresh_from_db()
    assert kalzhat.daily_capacity == 300
    event.refresh_from_db()
    assert event.action == "reference.created"


# --- Checkpoint staff see only their checkpoints -----------------------------------------------


def test_a5_checkpoints_of_staff(django_user_model, checkpoints, staff, operator, auditor):
    kalzhat, _nur_zholy = checkpoints
    root = django_user_model.objects.create_superuser("root@registrar.kz", "x", full_name="Root")
    outsider = make_person(django_user_model, "owner@steppe.kz", is_staff=False)
    everything = set(Checkpoint.objects.all())

    assert set(checkpoints_of_staff(root)) == everything
    assert set(checkpoints_of_staff(operator)) == everything
    assert list(checkpoints_of_staff(staff)) == [kalzhat]
    assert list(checkpoints_of_staff(outsider)) == []
    assert list(checkpoints_of_staff(auditor)) == []  # auditors read; they work nowhere

    staff.is_active = False
    staff.save()
    assert list(checkpoints_of_staff(staff)) == []


def test_a5_staff_see_only_their_checkpoints(django_user_model, checkpoints, staff, signed_in):
    kalzhat, nur_zholy = checkpoints
    colleague = make_person(django_user_model, "colleague@kalzhat.kz", CHECKPOINT_STAFF)
    elsewhere = make_person(django_user_model, "guard@nur-zholy.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=colleague, checkpoint=kalzhat)
    theirs = StaffAssignment.objects.create(user=elsewhere, checkpoint=nur_zholy)
    browser = signed_in(staff)

    listing = browser.get(reverse("admin:checkpoints_staffassignment_changelist"))
    assert listing.status_code == 200
    shown = listing.context["cl"].queryset
    assert {assignment.checkpoint for assignment in shown} == {kalzhat}
    assert {assignment.user for assignment in shown} == {staff, colleague}
    other = browser.get(reverse("admin:checkpoints_staffassignment_change", args=[theirs.pk]))
    assert other.status_code == 302  # as if it did not exist
    assert browser.get(reverse("admin:checkpoints_staffassignment_add")).status_code == 403

    checkpoints_page = browser.get(reverse("admin:checkpoints_checkpoint_changelist"))
    assert list(checkpoints_page.context["cl"].queryset) == [kalzhat]
    kalzhat_url = reverse("admin:checkpoints_checkpoint_change", args=[kalzhat.pk])
    assert browser.get(kalzhat_url).status_code == 200
    assert browser.post(kalzhat_url, {"daily_capacity": 1}).status_code == 403


def test_a5_operators_and_auditors_see_every_assignment(
    django_user_model, checkpoints, staff, operator, auditor, signed_in
):
    _kalzhat, nur_zholy = checkpoints
    elsewhere = make_person(django_user_model, "guard@nur-zholy.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=elsewhere, checkpoint=nur_zholy)
    url = reverse("admin:checkpoints_staffassignment_changelist")
    for person in (operator, auditor):
        assert signed_in(person).get(url).context["cl"].result_count == 2, person


# --- Assigning staff and editing people is audited (A6) ----------------------------------------


def test_a5_a6_operator_assigns_and_unassigns_staff_and_both_are_audited(
    django_user_model, checkpoints, operator, signed_in
):
    kalzhat, _nur_zholy = checkpoints
    guard = make_person(django_user_model, "guard@kalzhat.kz", CHECKPOINT_STAFF)
    browser = signed_in(operator)

    response = browser.post(
        reverse("admin:checkpoints_staffassignment_add"),
        {"user": guard.pk, "checkpoint": kalzhat.pk},
    )
    assert response.status_code == 302
    assignment = StaffAssignment.objects.get(user=guard, checkpoint=kalzhat)
    added = AuditEvent.objects.get(action="admin.added", object_type="checkpoints.staffassignment")
    assert added.actor == operator
    assert added.object_id == str(assignment.pk)
    assert added.after == {"id": assignment.pk, "user": guard.pk, "checkpoint": kalzhat.pk}

    # Unassigned from the checkpoint's page (the inline).
    url = reverse("admin:checkpoints_checkpoint_change", args=[kalzhat.pk])
    data = admin_form_data(browser.get(url))
    data["staff_assignments-0-DELETE"] = "on"
    response = browser.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert not StaffAssignment.objects.filter(pk=assignment.pk).exists()
    removed = AuditEvent.objects.get(
        action="admin.deleted", object_type="checkpoints.staffassignment"
    )
    assert removed.actor == operator
    assert removed.object_id == str(assignment.pk)
    assert removed.before["user"] == guard.pk
    assert removed.before["checkpoint"] == kalzhat.pk


def test_a5_a6_operator_assigns_staff_from_the_persons_page(
    django_user_model, checkpoints, operator, signed_in
):
    kalzhat, _nur_zholy = checkpoints
    guard = make_person(django_user_model, "guard@kalzhat.kz")
    browser = signed_in(operator)
    url = reverse("admin:auth2fa_user_change", args=[guard.pk])
    data = admin_form_data(browser.get(url))
    data["groups"] = [Group.objects.get(name=CHECKPOINT_STAFF).pk]
    data.update(
        {
            "checkpoint_assignments-TOTAL_FORMS": "1",
            "checkpoint_assignments-0-checkpoint": kalzhat.pk,
            "checkpoint_assignments-0-user": guard.pk,
        }
    )
    response = browser.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]

    assert list(checkpoints_of_staff(guard)) == [kalzhat]
    assert guard.groups.filter(name=CHECKPOINT_STAFF).exists()
    changed = AuditEvent.objects.get(action="admin.changed", object_type="auth2fa.user")
    assert changed.actor == operator
    assert changed.before["groups"] == []
    assert changed.after["groups"] == [CHECKPOINT_STAFF]
    assert "password" not in changed.before and "password" not in changed.after
    assert AuditEvent.objects.filter(
        action="admin.changed", object_type="checkpoints.staffassignment", actor=operator
    ).exists()


def test_a5_operators_cannot_make_a_superuser_or_take_one_over(
    django_user_model, operator, signed_in
):
    guard = make_person(django_user_model, "guard@kalzhat.kz")
    root = django_user_model.objects.create_superuser("root@registrar.kz", "x", full_name="Root")
    browser = signed_in(operator)

    url = reverse("admin:auth2fa_user_change", args=[guard.pk])
    data = admin_form_data(browser.get(url))
    data["is_superuser"] = "on"
    assert browser.post(url, data).status_code == 302
    guard.refresh_from_db()
    assert not guard.is_superuser

    root_url = reverse("admin:auth2fa_user_change", args=[root.pk])
    assert browser.post(root_url, {"email": "mine@registrar.kz"}).status_code == 403
    password_url = reverse("admin:auth_user_password_change", args=[root.pk])
    assert browser.get(password_url).status_code == 403


def test_a6_password_set_in_the_admin_is_audited_without_the_hash(
    django_user_model, operator, signed_in
):
    guard = make_person(django_user_model, "guard@kalzhat.kz")
    browser = signed_in(operator)
    url = reverse("admin:auth_user_password_change", args=[guard.pk])
    new = "another long passphrase"
    response = browser.post(url, {"password1": new, "password2": new, "usable_password": "true"})
    assert response.status_code == 302
    guard.refresh_from_db()
    assert guard.check_password(new)
    event = AuditEvent.objects.get(action="admin.password_changed")
    assert event.actor == operator
    assert event.object_id == str(guard.pk)
    assert event.after == {"usable_password": True}


def test_a6_editing_a_group_in_the_admin_is_audited(django_user_model, signed_in):
    root = django_user_model.objects.create_superuser("root@registrar.kz", "x", full_name="Root")
    browser = signed_in(root)
    permission = Permission.objects.get(codename="view_checkpoint")
    response = browser.post(
        reverse("admin:auth_group_add"), {"name": "Shift leads", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.added", object_type="auth.group")
    assert event.actor == root
    assert event.after["name"] == "Shift leads"
    assert event.after["permissions"] == [str(permission)]
