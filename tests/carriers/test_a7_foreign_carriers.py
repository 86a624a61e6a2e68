"""A7, second half: carriers from abroad register with their country and national tax number and
a foreign phone, upload their documents, and an operator confirms them from the documents before
they can book. Never confirmed at once, never by EDS."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from auth2fa import services as auth
from auth2fa.models import ApiToken, User
from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from auth2fa.services.registration import unconfirmed_registrations_lapse
from bookings.models import Booking
from bookings.pdf import confirmation_pdf
from carriers import services
from carriers.models import Carrier, CarrierDocument, Member
from carriers.tax_numbers import normalize_tax_number
from checkpoints.services import reference_checkpoints_load
from core.errors import ApplicationError
from core.models import AuditEvent
from deposits import services as ledger
from notify.models import Message
from tests.auth2fa.factories import PASSWORD, registered_person
from tests.factories import StaffFactory
from tests.fees.factories import fees_in_force_today
from tests.receipts.helpers import pdf_text
from tests.worlds import World, at, book, refused
from vehicles import services as fleet

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
RU_INN = "7707083893"  # an organisation's INN (10 digits)
RU_PHONE = "+79161234567"  # a Russian mobile: +7 like Kazakhstan, 9xx after it
KG_PHONE = "+996555123456"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16


@pytest.fixture(autouse=True)
def countries():
    """The countries of the reference (R1): CN, KG, UZ, RU, TM."""
    reference_checkpoints_load()


def register_foreign(
    fake_twilio,
    *,
    country: str = "RU",
    tax_number: str = RU_INN,
    phone: str = RU_PHONE,
    email: str = "ivan@volga-trans.ru",
    name: str = "Volga Trans LLC",
    **extra,
) -> Member:
    """A carrier from abroad and its owner, phone confirmed, as registration_create leaves it."""
    registration = auth.registration_create(
        carrier_kind="foreign",
        carrier_country=country,
        carrier_tax_number=tax_number,
        carrier_name=name,
        full_name="Ivan Petrov",
        phone=phone,
        email=email,
        password=PASSWORD,
        **extra,
    )
    phone = registration.user.phone
    auth.registration_verify(phone=phone, code=fake_twilio.codes_sent_to(phone)[-1])
    fake_twilio.messages.clear()
    return Member.objects.select_related("carrier", "user").get(user=registration.user)


def upload(member: Member, content: bytes = PDF, name: str = "extract.pdf") -> CarrierDocument:
    return services.carrier_document_upload(member=member, name=name, content=content)


def fresh(member: Member) -> Member:
    return Member.objects.select_related("carrier", "user").get(pk=member.pk)


def refusal_of(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as refusal:
        call()
    return refusal.value


@pytest.fixture
def operator():
    return StaffFactory(email="operator@registrar.kz", roles=[OPERATORS])


@pytest.fixture
def operator_client(operator, sign_in_browser):
    return sign_in_browser(Client(), operator)


@pytest.fixture
def foreign(fake_twilio) -> Member:
    return register_foreign(fake_twilio)


# --- Tax numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [
        # python-stdnum's own examples (stdnum/ru/inn.py, stdnum/cn/uscc.py).
        ("RU", "1234567894", "1234567894"),
        ("RU", "123456789047", "123456789047"),
        ("RU", "77 0708-3893", RU_INN),
        ("CN", "91110000600037341L", "91110000600037341L"),
        ("CN", "9 1 110000 600037341l", "91110000600037341L"),
        ("KG", "0120 5201 0100 05", "01205201010005"),
        ("UZ", "201 234 567", "201234567"),
        ("TM", "ab-12345", "AB12345"),
    ],
)
def test_a7_a_tax_number_is_checked_for_its_country_and_kept_compact(country, typed, stored):
    assert normalize_tax_number(country, typed) == stored


@pytest.mark.parametrize(
    ("country", "typed", "expected"),
    [
        ("RU", "1234567895", "A Russian INN is 10 digits"),  # wrong check digit
        ("RU", "123456789037", "A Russian INN is 10 digits"),
        ("RU", "12345678", "A Russian INN is 10 digits"),
        ("CN", "A1110000600037341L", "A Chinese unified social credit code is 18"),
        ("CN", "12345", "A Chinese unified social credit code is 18"),
        ("KG", "0120520101000", "A Kyrgyz INN is 14 digits."),
        ("KG", "0120520101000X", "A Kyrgyz INN is 14 digits."),
        ("UZ", "2012345678", "An Uzbek STIR (INN) is 9 digits."),
        ("UZ", "٢٠١٢٣٤٥٦٧", "An Uzbek STIR (INN) is 9 digits."),  # not ASCII digits
        ("TM", "AB", "A tax number is 3 to 20 Latin letters and digits."),
        ("TM", "A" * 21, "A tax number is 3 to 20 Latin letters and digits."),
        ("TM", "ИНН123", "A tax number is 3 to 20 Latin letters and digits."),
    ],
)
def test_a7_a_wrong_tax_number_is_refused_naming_the_expected_format(
    english, country, typed, expected
):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refusal:
        normalize_tax_number(country, typed)
    assert refusal.value.messages[0].startswith(expected)


# --- Registration ------------------------------------------------------------------------------


def test_a7_a_foreign_carrier_registers_with_country_tax_number_and_a_foreign_phone(fake_twilio):
    member = register_foreign(fake_twilio, tax_number="77 0708 3893")
    carrier = member.carrier
    assert (carrier.kind, carrier.country, carrier.tax_number, carrier.iin_bin) == (
        "foreign",
        "RU",
        RU_INN,
        "",
    )
    assert carrier.number_display == "RU 7707083893"
    assert str(carrier) == "Volga Trans LLC (RU 7707083893)"
    assert member.role == Member.Role.OWNER
    assert member.user.iin is None and member.user.phone == RU_PHONE
    assert member.user.phone_verified_at is not None
    event = AuditEvent.objects.get(action="auth.registered")
    assert event.after["carrier"] == "RU 7707083893"


def test_a7_a_foreign_carrier_is_never_confirmed_at_once(fake_twilio, settings):
    settings.CARRIERS_CONFIRMED_AT_ONCE = True
    member = register_foreign(fake_twilio)
    assert not member.carrier.is_confirmed
    # A Kazakh carrier still is, where no EDS is configured.
    kazakh = registered_person(fake_twilio)
    assert Member.objects.get(user=kazakh).carrier.is_confirmed


def test_a7_a_kyrgyz_carrier_with_a_kyrgyz_phone_and_its_owners_own_iin(fake_twilio):
    member = register_foreign(
        fake_twilio,
        country="kg",
        tax_number="01205201010005",
        phone="+996 555 123 456",
        iin="850512300119",  # a foreigner living in Kazakhstan may have one: then it is checked
    )
    assert (member.carrier.country, member.user.phone, member.user.iin) == (
        "KG",
        KG_PHONE,
        "850512300119",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"carrier_country": "KZ"}, "carrier.country"),
        ({"carrier_country": "DE"}, "carrier.country"),  # not in the countries reference
        ({"carrier_country": ""}, "carrier.country"),
        ({"carrier_tax_number": "1234567895"}, "carrier.tax_number"),
        ({"carrier_tax_number": ""}, "carrier.tax_number"),
        ({"iin": "850512300110"}, "person.iin"),  # given, but its check digit is wrong
        ({"phone": "+14155550100"}, "person.phone"),
    ],
)
def test_a7_a_foreign_registration_is_refused_field_by_field(fake_twilio, english, change, field):
    data = {
        "carrier_kind": "foreign",
        "carrier_country": "RU",
        "carrier_tax_number": RU_INN,
        "carrier_name": "Volga Trans LLC",
        "full_name": "Ivan Petrov",
        "phone": RU_PHONE,
        "email": "ivan@volga-trans.ru",
        "password": PASSWORD,
        **change,
    }
    refusal = refusal_of(lambda: auth.registration_create(**data))
    assert refusal.code == "validation_error" and field in refusal.fields
    assert not Carrier.objects.exists() and not User.objects.exists()
    assert fake_twilio.messages == []


def test_a7_the_person_of_a_kazakh_carrier_still_needs_an_iin(fake_twilio):
    refusal = refusal_of(
        lambda: auth.registration_create(
            carrier_kind="company",
            carrier_iin_bin="230140012340",
            carrier_name="Steppe Freight LLP",
            full_name="Aigerim Nurlanovna",
            phone="+77011234567",
            email="a@steppe.kz",
            password=PASSWORD,
        )
    )
    assert set(refusal.fields) == {"person.iin"}


def test_a8_the_code_goes_only_to_served_country_codes_for_any_carrier(
    fake_twilio, settings, english
):
    settings.SMS_ALLOWED_COUNTRY_CODES = ["7", "996"]
    refusal = refusal_of(
        lambda: register_foreign(
            fake_twilio, country="UZ", tax_number="201234567", phone="+998901234567"
        )
    )
    assert refusal.fields["person.phone"] == [
        "Kezek sends SMS codes only to phone numbers with these country codes: +7, +996."
    ]
    refusal = refusal_of(
        lambda: registered_person(fake_twilio, phone="+447700900123", email="uk@steppe.kz")
    )
    assert "person.phone" in refusal.fields
    assert fake_twilio.messages == []
    assert register_foreign(fake_twilio, country="KG", tax_number="01205201010005", phone=KG_PHONE)


def test_a7_unconfirmed_registrations_of_one_tax_number_do_not_block_each_other(
    fake_twilio, operator
):
    first = register_foreign(fake_twilio)
    second = register_foreign(fake_twilio, phone="+79161234568", email="other@volga-trans.ru")
    upload(second)
    services.carrier_confirm_from_documents(carrier_id=second.carrier_id, actor=operator)
    # The other registration of the number can never be confirmed now: it lapses at once.
    assert fresh(first).carrier.lapsed_at is not None
    released = User.objects.get(pk=first.user_id)
    assert not released.is_active and released.phone is None
    refusal = refusal_of(
        lambda: register_foreign(fake_twilio, phone="+79161234569", email="third@volga-trans.ru")
    )
    assert "carrier.tax_number" in refusal.fields
    # The same number of another country is another carrier.
    assert register_foreign(
        fake_twilio,
        country="TM",
        tax_number=RU_INN,
        phone="+99361234567",
        email="tm@example.tm",
    )


def test_a7_a_foreign_carrier_is_not_confirmed_with_an_eds(foreign):
    refusal = refusal_of(
        lambda: auth.carrier_confirm_with_eds(
            member=foreign, nonce="n", certificate="", signature="", signature_format="raw"
        )
    )
    assert (refusal.code, refusal.status) == ("confirmed_by_operator", 409)


# --- Registration on the web --------------------------------------------------------------------


WEB_FORM = {
    "carrier_kind": "foreign",
    "carrier_iin_bin": "",
    "carrier_country": "RU",
    "carrier_tax_number": "7707 083 893",
    "carrier_name": "Volga Trans LLC",
    "full_name": "Ivan Petrov",
    "iin": "",
    "phone": "+7 916 123 45 67",
    "email": "ivan@volga-trans.ru",
    "password": PASSWORD,
    "password_again": PASSWORD,
}


def test_a7_the_registration_page_offers_the_countries_and_works_without_javascript(client):
    page = client.get("/register/", **EN).content.decode()
    assert '<option value="RU">Russia</option>' in page
    assert '<option value="KZ"' not in page
    # Both groups are in the page; the script only hides the one of the other kind.
    assert 'data-carrier-kinds="company individual"' in page
    assert 'data-carrier-kinds="foreign"' in page
    assert "js/carrier-kind.js" in page


def test_a7_a_foreign_carrier_registers_on_the_web(client, fake_twilio):
    response = client.post("/register/", WEB_FORM, **EN)
    assert response.status_code == 302 and response.url == reverse("register-verify")
    carrier = Carrier.objects.get()
    assert (carrier.kind, carrier.country, carrier.tax_number) == ("foreign", "RU", RU_INN)
    assert fake_twilio.codes_sent_to(RU_PHONE)


def test_a7_the_web_form_shows_the_foreign_fields_errors(client, fake_twilio):
    response = client.post("/register/", {**WEB_FORM, "carrier_tax_number": "1234567895"}, **EN)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["carrier_tax_number"][0].startswith("A Russian INN is 10 digits")
    assert not Carrier.objects.exists()


# --- Registration through the API ---------------------------------------------------------------


API_BODY = {
    "carrier": {"kind": "foreign", "country": "RU", "tax_number": RU_INN, "name": "Volga Trans"},
    "person": {
        "full_name": "Ivan Petrov",
        "phone": RU_PHONE,
        "email": "ivan@volga-trans.ru",
        "password": PASSWORD,
    },
}


def test_a7_a_foreign_carrier_registers_through_the_api_without_an_iin(client, fake_twilio):
    response = client.post("/api/v1/auth/register", API_BODY, content_type="application/json")
    assert response.status_code == 201, response.json()
    carrier = Carrier.objects.get(pk=response.json()["carrier_id"])
    assert (carrier.kind, carrier.number_display) == ("foreign", "RU 7707083893")
    assert not carrier.is_confirmed


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {**API_BODY, "carrier": {"kind": "foreign", "country": "RU", "name": "Volga"}},
            {"carrier": {"tax_number": ["This field is required."]}},
        ),
        (
            {**API_BODY, "carrier": {"kind": "company", "name": "Steppe"}},
            {"carrier": {"iin_bin": ["This field is required."]}},
        ),
        (
            {
                **API_BODY,
                "carrier": {"kind": "company", "iin_bin": "230140012340", "name": "Steppe"},
            },
            {"person": {"iin": ["This field is required."]}},
        ),
    ],
)
def test_a7_the_api_requires_the_fields_of_the_carriers_kind(client, body, fields):
    response = client.post("/api/v1/auth/register", body, content_type="application/json", **EN)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == fields


def test_a7_me_tells_a_foreign_carrier_its_state_and_a_kazakh_one_the_same_shape(
    fake_twilio, foreign, client, operator
):
    token = auth.api_token_issue(user=foreign.user, kind=ApiToken.Kind.PERSONAL).secret
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()["carrier"]
    assert me == {
        "id": foreign.carrier_id,
        "kind": "foreign",
        "iin_bin": "",
        "name": "Volga Trans LLC",
        "confirmed": False,
        "country": "RU",
        "tax_number": RU_INN,
        "documents": 0,
        "refusal_reason": None,
    }
    upload(foreign)
    services.carrier_refuse(carrier_id=foreign.carrier_id, actor=operator, reason="Unreadable")
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()["carrier"]
    assert (me["documents"], me["refusal_reason"]) == (1, "Unreadable")

    kazakh = registered_person(fake_twilio)
    token = auth.api_token_issue(user=kazakh, kind=ApiToken.Kind.PERSONAL).secret
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {token}").json()["carrier"]
    assert set(me) == {"id", "kind", "iin_bin", "name", "confirmed"}


# --- Documents ---------------------------------------------------------------------------------


def test_a7_the_owner_uploads_documents_known_by_their_content(foreign):
    pdf = upload(foreign, PDF, "Выписка ЕГРЮЛ.PDF")
    png = upload(foreign, PNG, "C:\\scans\\certificate.png")
    jpeg = upload(foreign, JPEG, "certificate.jpeg")
    assert [(d.name, d.content_type) for d in (pdf, png, jpeg)] == [
        ("Выписка ЕГРЮЛ.PDF", "application/pdf"),
        ("certificate.png", "image/png"),
        ("certificate.jpeg", "image/jpeg"),
    ]
    assert bytes(CarrierDocument.objects.get(pk=pdf.pk).content) == PDF
    uploaded = AuditEvent.objects.filter(action="carrier.document_uploaded")
    assert uploaded.count() == 3
    assert uploaded.first().after["sha256"] == pdf.sha256


@pytest.mark.parametrize(
    ("content", "name", "code"),
    [
        (b"<html><script>alert(1)</script></html>", "extract.pdf", "validation_error"),
        (b"MZ\x90\x00", "extract.pdf", "validation_error"),  # a program named as a PDF
        (PDF, "extract.html", "validation_error"),  # a PDF whose name says otherwise
        (PNG, "scan.pdf", "validation_error"),
        (b"", "empty.pdf", "validation_error"),
        (PDF + b"\x00" * (5 * 1024 * 1024), "large.pdf", "document_too_large"),
    ],
)
def test_a7_a_document_is_a_pdf_jpeg_or_png_by_its_content_and_at_most_5_mb(
    foreign, content, name, code
):
    refusal = refusal_of(lambda: upload(foreign, content, name))
    assert refusal.code == code and "file" in refusal.fields
    assert not CarrierDocument.objects.exists()


def test_a7_at_most_5_documents(foreign):
    for number in range(5):
        upload(foreign, name=f"page-{number}.pdf")
    assert refusal_of(lambda: upload(foreign)).code == "too_many_documents"


def test_a7_only_the_owner_of_an_unconfirmed_foreign_carrier_uploads(
    foreign, fake_twilio, operator
):
    dispatcher = Member(carrier=foreign.carrier, user=foreign.user, role=Member.Role.DISPATCHER)
    assert refusal_of(lambda: upload(dispatcher)).status == 403
    kazakh = Member.objects.get(user=registered_person(fake_twilio))
    assert refusal_of(lambda: upload(kazakh)).code == "documents_not_accepted"
    upload(foreign)
    services.carrier_confirm_from_documents(carrier_id=foreign.carrier_id, actor=operator)
    assert refusal_of(lambda: upload(fresh(foreign))).code == "carrier_confirmed"


def test_a7_documents_through_the_api(foreign, fake_twilio, client):
    token = auth.api_token_issue(user=foreign.user, kind=ApiToken.Kind.PERSONAL).secret
    auth_header = {"HTTP_AUTHORIZATION": f"Bearer {token}", **EN}
    response = client.post(
        "/api/v1/carrier/documents",
        {"file": SimpleUploadedFile("extract.pdf", PDF, content_type="text/html")},
        **auth_header,
    )
    assert response.status_code == 201, response.json()
    document = response.json()
    # The type the content says, not the one the client claimed.
    assert (document["name"], document["content_type"], document["size"]) == (
        "extract.pdf",
        "application/pdf",
        len(PDF),
    )
    listed = client.get("/api/v1/carrier/documents", **auth_header).json()
    assert [d["id"] for d in listed] == [document["id"]]

    response = client.post(
        "/api/v1/carrier/documents",
        {"file": SimpleUploadedFile("x.pdf", b"GIF89a....", content_type="application/pdf")},
        **auth_header,
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "file": ["A document is a PDF, JPEG or PNG file."]
    }

    # A Kazakh carrier's owner, and a stranger, cannot.
    kazakh = registered_person(fake_twilio)
    token = auth.api_token_issue(user=kazakh, kind=ApiToken.Kind.PERSONAL).secret
    response = client.post(
        "/api/v1/carrier/documents",
        {"file": SimpleUploadedFile("extract.pdf", PDF)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.json()["error"]["code"] == "documents_not_accepted"
    response = client.post(
        "/api/v1/carrier/documents", {"file": SimpleUploadedFile("extract.pdf", PDF)}
    )
    assert response.status_code in (401, 403)
    assert CarrierDocument.objects.count() == 1


def test_a7_the_cabinet_says_it_waits_for_the_operator_and_takes_documents(
    foreign, sign_in_browser
):
    browser = sign_in_browser(Client(), foreign.user)
    page = browser.get("/cabinet/", **EN).content.decode()
    assert "Your carrier is not confirmed yet: it cannot book." in page
    assert "Upload them within 24 hours of registering" in page
    assert 'enctype="multipart/form-data"' in page
    assert "RU 7707083893" in page
    # The EDS page is for Kazakh carriers: a carrier from abroad is sent to its documents.
    assert browser.get("/cabinet/confirm/").url == reverse("carrier-documents")

    response = browser.post(
        "/cabinet/documents/", {"file": SimpleUploadedFile("extract.pdf", PDF)}, **EN
    )
    assert response.status_code == 302
    page = browser.get("/cabinet/", **EN).content.decode()
    assert "Waiting for the operator to check your documents." in page
    assert "extract.pdf" in page

    response = browser.post(
        "/cabinet/documents/", {"file": SimpleUploadedFile("photo.png", PDF)}, **EN
    )
    assert response.status_code == 200
    assert "The file&#x27;s name does not match what it holds" in response.content.decode()
    assert CarrierDocument.objects.count() == 1


# --- The operator's check ---------------------------------------------------------------------


def test_a7_an_operator_confirms_a_foreign_carrier_in_the_admin(
    foreign, operator_client, eager, commit, english, fake_twilio
):
    document = upload(foreign)
    change = reverse("admin:carriers_carrier_change", args=[foreign.carrier_id])
    check = reverse("admin:carriers_carrier_check", args=[foreign.carrier_id])
    assert check in operator_client.get(change, **EN).content.decode()
    page = operator_client.get(check, **EN).content.decode()
    link = reverse("admin:carriers_carrier_document", args=[foreign.carrier_id, document.pk])
    assert link in page and "Open extract.pdf" in page

    opened = operator_client.get(link)
    assert opened.status_code == 200 and opened.content == PDF
    assert opened["Content-Type"] == "application/pdf"
    assert opened["Content-Disposition"] == 'attachment; filename="extract.pdf"'
    assert opened["X-Content-Type-Options"] == "nosniff"

    with commit():
        response = operator_client.post(check, {"action": "confirm"}, **EN)
    assert response.status_code == 302 and response.url == change
    carrier = Carrier.objects.get(pk=foreign.carrier_id)
    assert carrier.is_confirmed
    event = AuditEvent.objects.get(action="carrier.confirmed")
    assert event.actor.email == "operator@registrar.kz"
    assert event.after["documents"] == [[document.pk, document.sha256]]
    # The owner is told, through the outbox, on their confirmed Russian phone.
    told = Message.objects.get(kind="carrier_confirmed")
    assert (told.recipient_id, told.address, told.status) == (foreign.user_id, RU_PHONE, "sent")
    assert [m["To"] for m in fake_twilio.messages] == [RU_PHONE]
    # Confirmed once: the check is gone from the page.
    assert check not in operator_client.get(change, **EN).content.decode()


def test_a7_an_operator_refuses_with_a_reason_and_new_documents_queue_it_again(
    foreign, operator_client, sign_in_browser, eager, commit, fake_twilio
):
    upload(foreign)
    check = reverse("admin:carriers_carrier_check", args=[foreign.carrier_id])
    response = operator_client.post(check, {"action": "refuse", "reason": ""}, **EN)
    assert response.status_code == 200  # the reason is required
    with commit():
        operator_client.post(
            check, {"action": "refuse", "reason": "The extract is older than 30 days."}, **EN
        )
    carrier = Carrier.objects.get(pk=foreign.carrier_id)
    assert carrier.refused_at is not None and not carrier.is_confirmed
    assert carrier.refusal_reason == "The extract is older than 30 days."
    assert AuditEvent.objects.filter(action="carrier.refused").count() == 1
    told = Message.objects.get(kind="carrier_refused")
    assert told.status == "sent" and "older than 30 days" not in told.body  # A8: no typed text
    page = sign_in_browser(Client(), foreign.user).get("/cabinet/", **EN).content.decode()
    assert "The extract is older than 30 days." in page

    upload(fresh(foreign), name="fresh-extract.pdf")
    carrier.refresh_from_db()
    assert carrier.refused_at is None and carrier.refusal_reason == ""


def test_a7_a_non_operator_cannot_confirm(foreign, sign_in_browser, fake_twilio):
    upload(foreign)
    check = reverse("admin:carriers_carrier_check", args=[foreign.carrier_id])
    change = reverse("admin:carriers_carrier_change", args=[foreign.carrier_id])
    auditor = sign_in_browser(Client(), StaffFactory(roles=[AUDITORS]))
    assert auditor.get(change).status_code == 200  # auditors read the carrier, no check link
    assert check not in auditor.get(change).content.decode()
    for role in (AUDITORS, CHECKPOINT_STAFF):
        person = StaffFactory(roles=[role])
        browser = sign_in_browser(Client(), person)
        assert browser.post(check, {"action": "confirm"}).status_code == 403
        refusal = refusal_of(
            lambda person=person: services.carrier_confirm_from_documents(
                carrier_id=foreign.carrier_id, actor=person
            )
        )
        assert refusal.code == "forbidden"
    # The carrier's own owner is no operator either.
    assert (
        refusal_of(
            lambda: services.carrier_confirm_from_documents(
                carrier_id=foreign.carrier_id, actor=foreign.user
            )
        ).code
        == "forbidden"
    )
    assert not Carrier.objects.get(pk=foreign.carrier_id).is_confirmed


def test_a7_nothing_to_confirm_without_documents_nor_a_kazakh_carrier(
    foreign, operator, fake_twilio
):
    assert (
        refusal_of(
            lambda: services.carrier_confirm_from_documents(
                carrier_id=foreign.carrier_id, actor=operator
            )
        ).code
        == "no_documents"
    )
    kazakh = Member.objects.get(user=registered_person(fake_twilio))
    assert (
        refusal_of(
            lambda: services.carrier_confirm_from_documents(
                carrier_id=kazakh.carrier_id, actor=operator
            )
        ).code
        == "documents_not_accepted"
    )


# --- Booking -------------------------------------------------------------------------------------


def test_a7_a_foreign_carrier_books_only_once_the_operator_confirmed_it(
    fake_twilio, clock, operator
):
    fees_in_force_today()
    member = register_foreign(fake_twilio)
    truck = fleet.vehicle_register(
        member=member,
        plate="А 123 ВС 77",
        vin="XTA21099012345678",
        kind="truck",
        registration_country="RU",
    )
    driver = fleet.driver_register(
        member=member,
        full_name="Sergei Ivanov",
        passport_number="751234567",
        citizenship="RU",
        phone=RU_PHONE,
    )
    ledger.account_top_up(
        carrier=member.carrier, amount=Decimal("200000.00"), bank_reference="RU-1"
    )
    world = World(
        member=member,
        checkpoint=None,
        truck=truck,
        tractor=None,
        trailer=None,
        drivers=[driver],
        fake_twilio=fake_twilio,
    )
    with translation.override("en"):
        refusal = refused(lambda: book(world), "carrier_unconfirmed")
    assert "from its documents" in str(refusal.message) and "EDS" not in str(refusal.message)
    upload(member)
    refused(lambda: book(world), "carrier_unconfirmed")  # documents alone are not enough
    services.carrier_confirm_from_documents(carrier_id=member.carrier_id, actor=operator)
    world.member = fresh(member)
    booking = book(world, start=at(1, 9))
    assert booking.status == Booking.Status.CONFIRMED
    # The booking's confirmation names the carrier by its country and tax number.
    with translation.override("en"):
        assert "Volga Trans LLC, Tax number RU 7707083893" in pdf_text(confirmation_pdf(booking))


# --- Lapsing -------------------------------------------------------------------------------------


def test_a7_a_foreign_registration_without_documents_lapses_after_24_hours(fake_twilio):
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        member = register_foreign(fake_twilio)
        traveller.shift(dt.timedelta(hours=24))
        assert unconfirmed_registrations_lapse() == 1
        assert fresh(member).carrier.lapsed_at is not None
        assert refusal_of(lambda: upload(fresh(member))).code == "registration_lapsed"


def test_a7_with_documents_it_waits_for_the_operator_up_to_30_days(fake_twilio, operator):
    with time_machine.travel("2026-11-25 09:00 +0500", tick=False) as traveller:
        waiting = register_foreign(fake_twilio)
        refused_one = register_foreign(
            fake_twilio,
            country="CN",
            tax_number="91110000600037341L",
            phone="+8613800138000",
            email="li@example.cn",
        )
        traveller.shift(dt.timedelta(hours=23))
        upload(waiting)
        upload(refused_one)
        services.carrier_refuse(carrier_id=refused_one.carrier_id, actor=operator, reason="Blurred")
        traveller.shift(dt.timedelta(days=29))  # 29 days 23 hours after registering
        assert unconfirmed_registrations_lapse() == 0
        traveller.shift(dt.timedelta(hours=1))
        assert unconfirmed_registrations_lapse() == 2
        for member in (waiting, refused_one):
            assert fresh(member).carrier.lapsed_at is not None
        with pytest.raises(ApplicationError) as lapsed:
            services.carrier_confirm_from_documents(carrier_id=waiting.carrier_id, actor=operator)
        assert lapsed.value.code == "registration_lapsed"


def test_a7_a_foreign_carrier_is_shown_by_country_and_tax_number(foreign, operator_client):
    listed = operator_client.get(reverse("admin:carriers_carrier_changelist"), **EN)
    assert "RU 7707083893" in listed.content.decode()
    found = operator_client.get(
        reverse("admin:carriers_carrier_changelist") + "?q=7707083893&check=no_documents", **EN
    )
    assert "Volga Trans LLC" in found.content.decode()


def test_a7_a_person_invited_by_a_foreign_carrier_needs_no_iin(foreign, fake_twilio, client):
    issued = services.member_invite(by=foreign, phone="+79161112233", role="dispatcher")
    path = issued.link.removeprefix(settings.SITE_URL)
    person = {
        "full_name": "Olga Sidorova",
        "iin": "",
        "email": "olga@volga-trans.ru",
        "password": PASSWORD,
        "password_again": PASSWORD,
    }
    response = client.post(path, person, **EN)
    assert response.status_code == 302 and response.url == reverse("register-verify")
    assert User.objects.get(email="olga@volga-trans.ru").iin is None

    # Invited by a Kazakh carrier, the person still gives an IIN.
    kazakh = Member.objects.get(user=registered_person(fake_twilio))
    issued = services.member_invite(by=kazakh, phone="+77017654321", role="dispatcher")
    response = client.post(
        issued.link.removeprefix(settings.SITE_URL),
        {**person, "email": "dana@steppe.kz"},
        **EN,
    )
    assert response.status_code == 200
    assert response.context["form"].errors["iin"] == [
        "An IIN is 12 digits with a valid check digit."
    ]


# --- Operators find a carrier from abroad by its tax number -------------------------------------


def test_a7_operators_find_a_foreign_carriers_account_by_its_tax_number(foreign, operator_client):
    page = operator_client.get(reverse("admin:deposits_personalaccount_changelist"), {"q": RU_INN})
    assert page.status_code == 200
    assert foreign.carrier.personal_account.number in page.content.decode()


def test_a7_a_parked_payment_is_assigned_to_a_foreign_carrier_by_its_tax_number(foreign):
    from deposits.admin import AssignForm

    form = AssignForm({"iin_bin": RU_INN})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["carrier"] == foreign.carrier
    assert form.cleaned_data["number"] == foreign.carrier.personal_account.number


def test_a7_a_tax_number_of_two_countries_asks_for_the_account_number(foreign, english):
    # Another country's carrier whose national number happens to be written the same.
    Carrier.objects.create(
        kind=Carrier.Kind.FOREIGN, country="TM", tax_number=RU_INN, name="Ashgabat Trans"
    )
    from deposits.admin import AssignForm

    form = AssignForm({"iin_bin": RU_INN})
    assert not form.is_valid()
    assert "personal account number" in str(form.errors["iin_bin"])
