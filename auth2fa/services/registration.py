"""Registration (A1): the carrier and its owner, or a person invited to act for one; the phone
confirmed by an SMS code.

The answers tell nobody who is registered (A8): a registration with the phone, e-mail or IIN of a
confirmed person is accepted like any other and makes an unconfirmed person (e-mail, phone and
IIN are unique among confirmed people only, auth2fa.models.User). When the phone is a confirmed
person's, its holder gets a notice instead of the code (they can simply sign in), so nobody gets
further. Only the code check tells, and only the phone's holder: a second account for a confirmed
phone is refused, as is an e-mail or IIN confirmed by another person meanwhile. Unconfirmed
people lapse after 24 hours."""

import dataclasses
import datetime as dt

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _

from auth2fa import locks
from auth2fa.eds import verify_eds_signature
from auth2fa.models import (
    CodeCheck,
    SmsDevice,
    User,
)
from auth2fa.phones import normalize_phone
from auth2fa.services._common import (
    RESEND_AFTER,
)
from auth2fa.services.codes import (
    IssuedCode,
    _code_refusal,
    _deliver_code,
    _delivery_failed,
    _issue_sms_code,
    _refuse_early_resend,
    _sms_allowance,
)
from auth2fa.services.sign_in import eds_nonce_consume
from carriers import locks as carrier_locks
from carriers.models import Carrier, CarrierDocument, Member
from carriers.selectors import foreign_carrier_country_codes
from carriers.sms_countries import is_served_phone, served_calling_codes
from carriers.tax_numbers import normalize_tax_number
from carriers.validators import is_valid_iin_bin
from core import audit, clock
from core.errors import ApplicationError
from deposits.services import personal_account_open
from notify.sms import SmsAllowance, SmsDeliveryError, send_sms

# --- Registration (A1) --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Registration:
    user: User
    carrier: Carrier


def _person_errors(
    *, full_name: str, iin: str, phone: str, email: str, password: str, iin_required: bool = True
) -> tuple[dict[str, list[str]], str, str]:
    """What is wrong with a new person's data (A1), and the phone and e-mail normalised. The
    person of a carrier from abroad may have no IIN (`iin_required` False, `iin` empty)."""
    errors: dict[str, list[str]] = {}
    if (iin or iin_required) and not is_valid_iin_bin(iin):
        errors["person.iin"] = [_("An IIN is 12 digits with a valid check digit.")]
    if not full_name.strip():
        errors["person.full_name"] = [_("Write your full name.")]
    try:
        phone = normalize_phone(phone)
    except ApplicationError as exc:
        errors["person.phone"] = exc.fields["phone"]
    else:
        if not is_served_phone(phone):  # A8: the code could not be sent there
            errors["person.phone"] = [
                _(
                    "Kezek sends SMS codes only to phone numbers with these country codes: "
                    "%(codes)s."
                )
                % {"codes": ", ".join(served_calling_codes())}
            ]
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        errors["person.email"] = [_("Write a valid e-mail address.")]
    try:
        password_validation.validate_password(
            password, User(email=email, full_name=full_name, phone=phone)
        )
    except ValidationError as exc:
        errors["person.password"] = list(exc.messages)
    # No word on whether the e-mail, phone or IIN is taken (A8): the code check tells the phone's
    # holder alone (registration_verify).
    return errors, phone, email


def _person_create(
    *, full_name: str, iin: str, phone: str, email: str, password: str, language: str
) -> tuple[User, SmsDevice]:
    """The person and their unconfirmed phone, inside the caller's transaction; confirmed people
    may hold the same e-mail, phone or IIN (A8)."""
    user = User.objects.create(
        email=email,
        phone=phone,
        full_name=full_name.strip(),
        iin=iin or None,
        language=language if language in ("kk", "ru", "en") else "ru",
        password=make_password(password),
    )
    device = SmsDevice.objects.create(user=user, name=_("Phone"), phone=phone, confirmed=False)
    return user, device


@dataclasses.dataclass(frozen=True)
class _RegistrationSms:
    """What a new registration's phone gets: its code, or the notice to the confirmed person who
    holds the phone (`holder`), sent in their language."""

    device: SmsDevice
    code: IssuedCode | None = None
    holder: User | None = None
    notice: SmsAllowance | None = None


def _registration_sms_issue(device: SmsDevice, *, now: dt.datetime) -> _RegistrationSms:
    """In the registration's transaction: the code for the new phone, or, when the phone is a
    confirmed person's, a notice to them in its place (A8). Either counts as one SMS against
    the phone's limits (A3) and is refused alike, so the answer is the same."""
    holder = User.objects.confirmed().filter(phone=device.phone, is_active=True).first()
    if holder is None:
        return _RegistrationSms(
            device, code=_issue_sms_code(device, purpose="registration", now=now)
        )
    allowance = _sms_allowance(device.phone, purpose="registration_notice", now=now)
    return _RegistrationSms(device, holder=holder, notice=allowance)


def _registration_sms_send(sms: _RegistrationSms) -> None:
    """After commit: the code, or the notice. Nothing in it was typed by the one registering."""
    if sms.code is not None:
        _deliver_code(sms.device, sms.code)
        return
    with translation.override(sms.holder.language):
        body = _(
            "Someone began registering in Kezek with your phone number. You already have an "
            "account: simply sign in. If it was not you, ignore this message: nobody can "
            "register with your number."
        )
    try:
        send_sms(sms.notice, body)
    except SmsDeliveryError as exc:
        raise _delivery_failed() from exc


def _already_registered(exc: IntegrityError, field: str) -> ApplicationError:
    # Two registrations of the same carrier at once: the second one loses here.
    return ApplicationError(
        "validation_error",
        _("This carrier or person has just been registered."),
        fields={field: [_("Already registered.")]},
    )


def _kazakh_carrier_errors(*, kind: str, iin_bin: str, iin: str) -> dict[str, list[str]]:
    if not is_valid_iin_bin(iin_bin):
        return {"carrier.iin_bin": [_("An IIN or BIN is 12 digits with a valid check digit.")]}
    if kind == Carrier.Kind.INDIVIDUAL and iin_bin != iin:
        return {"carrier.iin_bin": [_("An individual entrepreneur registers under their own IIN.")]}
    confirmed = Carrier.objects.filter(confirmed_at__isnull=False).exclude(
        kind=Carrier.Kind.FOREIGN
    )
    if confirmed.filter(iin_bin=iin_bin).exists():
        # Only a confirmed carrier owns its number (A7): an unconfirmed registration of the same
        # number never blocks the one who can sign for it.
        return {"carrier.iin_bin": [_("A carrier with this IIN/BIN is already registered.")]}
    return {}


def _foreign_carrier_errors(
    *, country: str, tax_number: str
) -> tuple[dict[str, list[str]], str, str]:
    """What is wrong with a carrier from abroad's country and tax number (A7), and both
    normalised."""
    country = (country or "").strip().upper()
    if country == "KZ":
        field, problem = (
            "carrier.country",
            _("A Kazakh carrier registers as a company (BIN) or an entrepreneur (IIN)."),
        )
    elif country not in foreign_carrier_country_codes():
        field, problem = "carrier.country", _("Choose the carrier's country.")
    else:
        try:
            tax_number = normalize_tax_number(country, tax_number)
        except ValidationError as exc:
            return {"carrier.tax_number": list(exc.messages)}, country, tax_number
        owned = Carrier.objects.filter(
            kind=Carrier.Kind.FOREIGN,
            country=country,
            tax_number=tax_number,
            confirmed_at__isnull=False,
        )
        if not owned.exists():
            return {}, country, tax_number
        # As for an IIN/BIN: only a confirmed carrier owns its number.
        field, problem = (
            "carrier.tax_number",
            _("A carrier with this tax number is already registered."),
        )
    return {field: [problem]}, country, tax_number


def registration_create(
    *,
    carrier_kind: str,
    carrier_name: str,
    full_name: str,
    phone: str,
    email: str,
    password: str,
    carrier_iin_bin: str = "",
    carrier_country: str = "",
    carrier_tax_number: str = "",
    iin: str = "",
    language: str = "ru",
) -> Registration:
    """A carrier and its owner; the phone gets an SMS code and must be confirmed before the
    person can sign in (A1).

    A Kazakh carrier gives its IIN/BIN, and its person their IIN. A carrier from abroad (kind
    `foreign`) gives its country and national tax number instead (carriers.tax_numbers); its
    person may have no IIN. It is never confirmed at once: an operator confirms it from the
    documents its owner uploads (carriers.services.carrier_confirm_from_documents, A7)."""
    foreign = carrier_kind == Carrier.Kind.FOREIGN
    errors, phone, email = _person_errors(
        full_name=full_name,
        iin=iin,
        phone=phone,
        email=email,
        password=password,
        iin_required=not foreign,
    )
    country = tax_number = ""
    if carrier_kind not in Carrier.Kind.values:
        errors["carrier.kind"] = [
            _("Choose a company, an individual entrepreneur or a carrier from abroad.")
        ]
    elif foreign:
        carrier_errors, country, tax_number = _foreign_carrier_errors(
            country=carrier_country, tax_number=carrier_tax_number
        )
        errors.update(carrier_errors)
        carrier_iin_bin = ""
    else:
        errors.update(_kazakh_carrier_errors(kind=carrier_kind, iin_bin=carrier_iin_bin, iin=iin))
    if not carrier_name.strip():
        errors["carrier.name"] = [_("Write the carrier's name.")]
    if errors:
        raise ApplicationError("validation_error", _("Some fields are not valid."), fields=errors)
    try:
        with transaction.atomic():
            user, device = _person_create(
                full_name=full_name,
                iin=iin,
                phone=phone,
                email=email,
                password=password,
                language=language,
            )
            # Never at once from abroad: nothing but the operator's check says who it is.
            at_once = settings.CARRIERS_CONFIRMED_AT_ONCE and not foreign
            carrier = Carrier.objects.create(
                kind=carrier_kind,
                iin_bin=carrier_iin_bin,
                country=country,
                tax_number=tax_number,
                name=carrier_name.strip(),
                confirmed_at=clock.now() if at_once else None,
            )
            Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
            personal_account_open(carrier=carrier)
            audit.record(
                "auth.registered",
                actor=user,
                target=carrier,
                after={"carrier": carrier.number_display, "person": email, "phone": phone},
            )
            sms = _registration_sms_issue(device, now=clock.now())
    except IntegrityError as exc:
        raise _already_registered(
            exc, "carrier.tax_number" if foreign else "carrier.iin_bin"
        ) from exc
    _registration_sms_send(sms)
    return Registration(user=user, carrier=carrier)


def person_register(
    *,
    full_name: str,
    iin: str,
    phone: str,
    email: str,
    password: str,
    language: str = "ru",
    iin_required: bool = True,
) -> User:
    """A person without a carrier of their own (someone invited to act for one); the phone is
    confirmed by SMS like any registration (A1). Someone invited by a carrier from abroad may
    have no IIN (`iin_required` False)."""
    errors, phone, email = _person_errors(
        full_name=full_name,
        iin=iin,
        phone=phone,
        email=email,
        password=password,
        iin_required=iin_required,
    )
    if errors:
        raise ApplicationError("validation_error", _("Some fields are not valid."), fields=errors)
    with transaction.atomic():
        user, device = _person_create(
            full_name=full_name,
            iin=iin,
            phone=phone,
            email=email,
            password=password,
            language=language,
        )
        audit.record(
            "auth.registered", actor=user, target=user, after={"person": email, "phone": phone}
        )
        sms = _registration_sms_issue(device, now=clock.now())
    _registration_sms_send(sms)
    return user


def _waiting_registrations(phone: str) -> QuerySet[SmsDevice]:
    """The unconfirmed registrations of `phone` that have not lapsed, the newest code first."""
    return SmsDevice.objects.filter(
        phone=phone, confirmed=False, user__is_active=True, user__phone_verified_at__isnull=True
    ).order_by("-last_sent_at", "-pk")


def registration_code_resend(*, phone: str) -> int:
    """Send a new code for a registration not confirmed yet; returns seconds until the next one.
    A number with no registration waiting (unknown, or confirmed already: its holder had the
    notice) gets the same answer and no SMS: the answer must not tell who is registered (A8)."""
    phone = normalize_phone(phone)
    now = clock.now()
    with transaction.atomic():
        device = None
        if not User.objects.confirmed().filter(phone=phone).exists():
            device = locks.devices(_waiting_registrations(phone)).first()
        if device is None:
            return int(RESEND_AFTER.total_seconds())
        _refuse_early_resend(device.last_sent_at, now)
        issued = _issue_sms_code(device, purpose="registration", now=now)
    _deliver_code(device, issued)
    return int(RESEND_AFTER.total_seconds())


def registration_verify(*, phone: str, code: str) -> User:
    """Confirm the phone with the SMS code (A1); the person can sign in from then on. A number
    with no registration waiting (unknown, or confirmed already) is refused as a registration
    with no code is, whatever the code: the answer tells nobody who is registered (A8).

    Several registrations may wait on one phone (A8 lets anyone type any number): the code is
    checked against each one's, newest first, and confirms the one it was sent for; a wrong code
    counts as a wrong try of each (A3). Only the phone's holder has a code, so only they learn
    here that the phone, e-mail or IIN is a confirmed person's: that is refused, not a second
    account (_taken_refusal)."""
    phone = normalize_phone(phone)
    now = clock.now()
    refusal: ApplicationError | None = None
    with transaction.atomic():
        # Locked in id order (docs/locking.md), then weighed newest code first.
        waiting = _waiting_registrations(phone).select_related("user").order_by("pk")
        devices = sorted(
            locks.devices(waiting),
            key=lambda device: (device.last_sent_at is not None, device.last_sent_at, device.pk),
            reverse=True,
        )
        if not devices:
            raise _code_refusal(CodeCheck.NO_CODE, None)
        results = []
        for candidate in devices:
            results.append(candidate.check_code(code, now=now))
            candidate.save()
            if results[-1] == CodeCheck.OK:
                break
        result, device = results[-1], devices[len(results) - 1]
        if result != CodeCheck.OK:
            # The answer of the newest code sent (a registration that got the notice has none).
            tried = zip(results, devices, strict=False)
            answered = [pair for pair in tried if pair[0] != CodeCheck.NO_CODE]
            result, device = answered[0] if answered else (results[0], devices[0])
            refusal = _code_refusal(result, device)
        else:
            refusal = _taken_refusal(device.user)
        if refusal is None:
            try:
                with transaction.atomic():
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                    User.objects.filter(pk=device.user_id).update(phone_verified_at=now)
            except IntegrityError:
                # Another registration of the phone, e-mail or IIN was confirmed a moment
                # before (the partial unique indexes): theirs stands.
                refusal = _taken_refusal(device.user) or _phone_taken()
            else:
                audit.record("auth.phone_verified", actor=device.user, target=device.user)
    if refusal is not None:
        raise refusal
    device.user.refresh_from_db()
    return device.user


def _phone_taken() -> ApplicationError:
    return ApplicationError(
        "phone_registered",
        _("This phone number is already registered: sign in with it."),
        status=409,
        fields={"phone": [_("Already registered: sign in.")]},
    )


def _taken_refusal(person: User) -> ApplicationError | None:
    """Why `person` (whose code was right, so the phone's holder) cannot be confirmed: the phone,
    the e-mail or the IIN is a confirmed person's. Told only to whoever has the code (A8): trying
    another's e-mail or IIN takes a phone of one's own per try, within its SMS limits (A3) and
    the registrations per address."""
    confirmed = User.objects.confirmed().exclude(pk=person.pk)
    if confirmed.filter(phone=person.phone).exists():
        return _phone_taken()
    if confirmed.filter(email__iexact=person.email).exists():
        return ApplicationError(
            "email_registered",
            _(
                "This e-mail address belongs to another account. Sign in if it is yours, or "
                "register again with your own address."
            ),
            status=409,
            fields={"email": [_("Already registered.")]},
        )
    if person.iin and confirmed.filter(iin=person.iin).exists():
        return ApplicationError(
            "iin_registered",
            _(
                "This IIN belongs to another account. Sign in if it is yours, or ask the "
                "registrar's operator for help."
            ),
            status=409,
            fields={"iin": [_("Already registered.")]},
        )
    return None


# --- Who a carrier really is (A7) ----------------------------------------------------------------


def _registration_lapsed() -> ApplicationError:
    return ApplicationError(
        "registration_lapsed",
        _("This registration has lapsed: register the carrier again."),
        status=409,
    )


def carrier_confirm_with_eds(
    *, member: Member, nonce: str, certificate: str, signature: str, signature_format: str
) -> Carrier:
    """The owner signs a challenge with an EDS whose certificate carries the carrier's BIN (a
    company: the certificate of a person acting for it) or IIN (an entrepreneur: their own), and
    is the person who signs: the carrier is confirmed and may book (A7). Other unconfirmed
    registrations of the same number lapse."""
    if member.role != Member.Role.OWNER:
        raise ApplicationError(
            "forbidden", _("Only the carrier's owner can confirm it."), status=403
        )
    if member.carrier.is_foreign:
        raise ApplicationError(
            "confirmed_by_operator",
            _(
                "A carrier from abroad is confirmed by an operator from its documents, not with "
                "an EDS: upload them on the cabinet page."
            ),
            status=409,
        )
    eds_nonce_consume(nonce)
    identity = verify_eds_signature(
        nonce=nonce,
        certificate=certificate,
        signature=signature,
        signature_format=signature_format,
    )
    carrier = member.carrier
    if carrier.lapsed_at is not None:  # its person gave back the IIN: say why, not "not yours"
        raise _registration_lapsed()
    number = identity.bin if carrier.kind == Carrier.Kind.COMPANY else identity.iin
    if number != carrier.iin_bin or identity.iin != member.user.iin:
        raise ApplicationError(
            "eds_other_carrier",
            _(
                "This certificate does not carry the IIN/BIN %(number)s of your carrier, or it is "
                "not yours: sign with your own certificate issued for this carrier."
            )
            % {"number": carrier.iin_bin},
            status=403,
        )
    now = clock.now()
    try:
        with transaction.atomic():
            carrier = carrier_locks.carrier(carrier.pk)
            if carrier.is_confirmed:
                return carrier
            if carrier.lapsed_at is not None:
                raise _registration_lapsed()
            carrier.confirmed_at = now
            carrier.save(update_fields=["confirmed_at"])
            lapsed_ids = other_registrations_lapse(carrier=carrier, as_of=now)
            audit.record(
                "carrier.confirmed",
                actor=member.user,
                target=carrier,
                after={"by": "eds", "iin_bin": carrier.iin_bin, "lapsed": lapsed_ids},
            )
    except IntegrityError as exc:
        # Another registration of the number was confirmed a moment before.
        raise ApplicationError(
            "already_registered",
            _("A carrier with this IIN/BIN is already registered."),
            status=409,
        ) from exc
    return carrier


def other_registrations_lapse(*, carrier: Carrier, as_of: dt.datetime) -> list[int]:
    """`carrier` has just been confirmed, inside the caller's transaction: the other unconfirmed
    registrations of its number (IIN/BIN, or country and tax number from abroad) can never be
    confirmed now, so they lapse and their people give back what they typed (A7). Returns their
    ids; the caller's audit event names them."""
    if carrier.is_foreign:
        same_number = Q(
            kind=Carrier.Kind.FOREIGN, country=carrier.country, tax_number=carrier.tax_number
        )
    else:
        same_number = Q(iin_bin=carrier.iin_bin) & ~Q(kind=Carrier.Kind.FOREIGN)
    lapsed = Carrier.objects.filter(
        same_number, confirmed_at__isnull=True, lapsed_at__isnull=True
    ).exclude(pk=carrier.pk)
    ids = list(lapsed.values_list("pk", flat=True))
    if ids:
        Carrier.objects.filter(pk__in=ids).update(lapsed_at=as_of)
        _people_of_lapsed_release(ids)
    return ids


def unconfirmed_registrations_lapse(*, as_of: dt.datetime | None = None) -> int:
    """Registrations left unconfirmed lapse (A7): they can no longer be confirmed and block
    nothing. Their people who act for no other carrier give back their e-mail, phone and IIN (and
    can no longer sign in): whoever typed someone else's address or IIN into a registration holds
    it a day at most. Returns how many lapsed.

    When: 24 hours after registering (Carrier.CONFIRM_WITHIN), except a carrier from abroad that
    has uploaded a document by then: it waits for the operator's check, refused or not, until 30
    days after registering (Carrier.DOCUMENTS_CHECKED_WITHIN). Only carriers from abroad have
    documents (carriers.services.carrier_document_upload).

    A person whose phone is still unconfirmed 24 hours after registering (User.CONFIRM_WITHIN)
    lapses too, with a carrier of their own or invited to one, so a registration typed with
    another's phone, e-mail or IIN (A8) can never be confirmed later; the count is of carriers."""
    as_of = as_of or clock.now()
    with transaction.atomic():
        unconfirmed = User.objects.filter(
            User.UNCONFIRMED, is_active=True, date_joined__lte=as_of - User.CONFIRM_WITHIN
        )
        _people_release(unconfirmed, reason="unconfirmed")
        stale = (
            Carrier.objects.filter(confirmed_at__isnull=True, lapsed_at__isnull=True)
            .annotate(
                has_documents=Exists(CarrierDocument.objects.filter(carrier_id=OuterRef("pk")))
            )
            .filter(
                Q(created_at__lte=as_of - Carrier.CONFIRM_WITHIN, has_documents=False)
                | Q(created_at__lte=as_of - Carrier.DOCUMENTS_CHECKED_WITHIN)
            )
        )
        ids = list(stale.values_list("pk", flat=True))
        if ids:
            Carrier.objects.filter(pk__in=ids).update(lapsed_at=as_of)
            for pk in ids:
                audit.record(
                    "carrier.registration_lapsed",
                    object_type="carriers.carrier",
                    object_id=pk,
                    after={"lapsed_at": as_of},
                )
            _people_of_lapsed_release(ids)
    return len(ids)


def _people_of_lapsed_release(carrier_ids: list[int]) -> None:
    # A person acts for one carrier: the people of a lapsed registration act for nothing else.
    _people_release(User.objects.filter(membership__carrier_id__in=carrier_ids))


def _people_release(people: QuerySet[User], *, reason: str = "carrier_lapsed") -> None:
    """The people give back their e-mail, phone and IIN and can no longer sign in nor confirm a
    phone (their devices go), inside the caller's transaction."""
    for person in people:
        before = {"email": person.email, "phone": person.phone, "iin": person.iin}
        SmsDevice.objects.filter(user=person).delete()
        person.email = f"lapsed-{person.pk}@lapsed.invalid"
        person.phone = person.iin = person.phone_verified_at = None
        person.is_active = False
        person.set_unusable_password()
        person.save(
            update_fields=["email", "phone", "iin", "phone_verified_at", "is_active", "password"]
        )
        audit.record(
            "auth.registration_released", target=person, before=before, after={"why": reason}
        )
