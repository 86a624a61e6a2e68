import dataclasses
import datetime as dt
import hashlib
import logging
import math
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from auth2fa.phones import normalize_phone
from auth2fa.roles import OPERATORS, has_role
from auth2fa.services.registration import other_registrations_lapse
from carriers import documents, locks
from carriers.models import Carrier, CarrierDocument, Invitation, Member
from carriers.sms_countries import is_served_phone, served_calling_codes
from core import audit, clock
from core.errors import ApplicationError
from notify.models import Message
from notify.services import carrier_owners_notify
from notify.sms import SmsAllowance, SmsDeliveryError, SmsRefused, send_sms, sms_allowance_take

logger = logging.getLogger(__name__)

# --- Members and invitations ------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_owner(member: Member) -> None:
    if member.role != Member.Role.OWNER:
        raise ApplicationError(
            "forbidden", _("Only the carrier's owner can manage its people."), status=403
        )


def _refuse_unserved_country(phone: str) -> None:
    """A8: invitation SMS go only to the calling codes of SMS_ALLOWED_COUNTRY_CODES."""
    if not is_served_phone(phone):
        raise ApplicationError(
            "validation_error",
            _("Invitations can be sent only to phone numbers with these country codes: %(codes)s.")
            % {"codes": ", ".join(served_calling_codes())},
            fields={"phone": [_("Kezek does not send invitations to this country.")]},
        )


def _refuse_too_many_invitations(*, carrier_id: int, phone: str, now: dt.datetime) -> None:
    """A8: every invitation sends one SMS, so the invitations made in the last 24 hours count
    them: to one phone (whoever invites) and from one carrier. The caller holds the carrier's
    lock, so one carrier's parallel invitations are counted one by one."""
    since = now - dt.timedelta(days=1)
    recent = Invitation.objects.filter(created_at__gt=since)
    for made, limit, message in (
        (
            recent.filter(phone=phone),
            settings.INVITATION_SMS_PER_PHONE_PER_DAY,
            _(
                "This phone number got too many invitations in the last 24 hours. "
                "Try again in %(hours)s h."
            ),
        ),
        (
            recent.filter(carrier_id=carrier_id),
            settings.INVITATION_SMS_PER_CARRIER_PER_DAY,
            _(
                "Your carrier sent too many invitations in the last 24 hours. "
                "Try again in %(hours)s h."
            ),
        ),
    ):
        times = sorted(made.values_list("created_at", flat=True))
        if len(times) >= limit:
            free_at = times[len(times) - limit] + dt.timedelta(days=1) if limit > 0 else None
            wait = max(1, math.ceil((free_at - now).total_seconds())) if free_at else 86400
            raise ApplicationError(
                "too_many_invitations",
                message % {"hours": math.ceil(wait / 3600)},
                status=429,
                retry_after=wait,
            )


def _invitation_sms_allowance(phone: str, *, now: dt.datetime) -> SmsAllowance:
    """A8: the invitation's SMS counts against the phone's limits like every SMS (A3)."""
    try:
        return sms_allowance_take(phone, purpose="invitation", now=now)
    except SmsRefused as refused:
        wait = refused.wait_seconds or 3600
        raise ApplicationError(
            "too_many_invitations",
            _("This phone number got too many SMS just now. Try again in %(minutes)s min.")
            % {"minutes": math.ceil(wait / 60)},
            status=429,
            retry_after=wait,
        ) from refused


@dataclasses.dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    link: str
    sms_sent: bool


def member_invite(*, by: Member, phone: str, role: str) -> IssuedInvitation:
    """The owner invites a person by phone to act for the carrier with `role`; an SMS carries
    the link. Any earlier open invitation of that phone to this carrier is replaced."""
    _require_owner(by)
    if role not in Member.Role.values:
        raise ApplicationError(
            "validation_error", _("Choose a role."), fields={"role": [_("Choose a role.")]}
        )
    phone = normalize_phone(phone)
    _refuse_unserved_country(phone)
    user_model = get_user_model()
    # Only the carrier's own members are refused here: the owner sees them anyway. A person who
    # acts for another carrier is invited like anyone (and told on accepting that they cannot
    # act for two), so the answer never tells an owner who is registered elsewhere (A8).
    if Member.objects.filter(carrier_id=by.carrier_id, user__phone=phone).exists():
        raise ApplicationError(
            "validation_error",
            _("This person already acts for your carrier."),
            fields={"phone": [_("Already a member of your carrier.")]},
        )
    now = clock.now()
    token = secrets.token_urlsafe(24)
    with transaction.atomic():
        locks.carrier(by.carrier_id)
        _refuse_too_many_invitations(carrier_id=by.carrier_id, phone=phone, now=now)
        Invitation.objects.filter(
            carrier=by.carrier, phone=phone, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.create(
            carrier=by.carrier,
            phone=phone,
            role=role,
            token_hash=_hash(token),
            invited_by=by.user,
            created_at=now,
            expires_at=now + dt.timedelta(days=Invitation.TTL_DAYS),
        )
        audit.record(
            "carrier.member_invited",
            actor=by.user,
            target=invitation,
            after={"phone": phone, "role": role},
        )
        allowance = _invitation_sms_allowance(phone, now=now)
    link = settings.SITE_URL + reverse("invitation", args=[token])
    # The phone's confirmed person, if any: an unconfirmed registration of it chooses nothing.
    invitee = user_model.objects.confirmed().filter(phone=phone).first()
    language = invitee.language if invitee else translation.get_language()
    with translation.override(language):
        # A8: no text chosen by the inviter (the carrier's name is); the page behind the link
        # shows who invites.
        body = _("You are invited to act for a carrier in Kezek as %(role)s: %(link)s") % {
            "role": Member.Role(role).label,
            "link": link,
        }
    # Straight to the provider, not through the outbox: the link is a secret that must not rest
    # in a table (only its hash is kept).
    try:
        send_sms(allowance, body)
        sms_sent = True
    except SmsDeliveryError:
        logger.warning("invitation SMS to %s failed", phone, exc_info=True)
        sms_sent = False
    return IssuedInvitation(invitation=invitation, link=link, sms_sent=sms_sent)


def invitation_for_token(token: str, *, lock: bool = False) -> Invitation:
    """The open invitation with this token, or a clear refusal."""
    invitations = Invitation.objects.select_related("carrier")
    if lock:
        invitations = locks.invitations(invitations)
    invitation = invitations.filter(token_hash=_hash(token)).first()
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= clock.now()
    ):
        raise ApplicationError(
            "not_found",
            _("This invitation has expired or was already used. Ask the owner for a new one."),
            status=404,
        )
    return invitation


def invitation_accept(*, token: str, user: Any) -> Member:
    """The invited person, signed in with the invited phone confirmed, joins the carrier. Every
    owner of the carrier is told (A8), by the role the newcomer has (nothing they typed)."""
    with transaction.atomic():
        invitation = invitation_for_token(token, lock=True)
        user = get_user_model().objects.get(pk=user.pk)
        if user.phone != invitation.phone or user.phone_verified_at is None:
            raise ApplicationError(
                "forbidden",
                _("This invitation was sent to another phone number."),
                status=403,
            )
        if Member.objects.filter(user=user).exists():
            raise ApplicationError("forbidden", _("You already act for a carrier."), status=403)
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    carrier=invitation.carrier, user=user, role=invitation.role
                )
        except IntegrityError as exc:
            raise ApplicationError(
                "forbidden", _("You already act for a carrier."), status=403
            ) from exc
        Invitation.objects.filter(pk=invitation.pk).update(
            accepted_at=clock.now(), accepted_by=user
        )
        audit.record(
            "carrier.member_joined",
            actor=user,
            target=member,
            after={"carrier": invitation.carrier_id, "role": invitation.role},
        )
        carrier_owners_notify(
            carrier_id=invitation.carrier_id, event=Message.Kind.MEMBER_JOINED, role=member.role
        )
    return member


def _owners_left(carrier: Carrier, *, without: Member) -> int:
    return (
        Member.objects.filter(carrier=carrier, role=Member.Role.OWNER)
        .exclude(pk=without.pk)
        .count()
    )


def member_role_change(*, by: Member, member: Member, role: str) -> Member:
    """The owner changes a member's role; a carrier always keeps at least one owner."""
    _require_owner(by)
    if member.carrier_id != by.carrier_id:
        raise ApplicationError("not_found", _("Not found."), status=404)
    if role not in Member.Role.values:
        raise ApplicationError(
            "validation_error", _("Choose a role."), fields={"role": [_("Choose a role.")]}
        )
    with transaction.atomic():
        # Lock the carrier's owners so two owners cannot demote each other at the same time.
        locks.owners_of(by.carrier_id)
        member.refresh_from_db()
        if (
            member.role == Member.Role.OWNER
            and role != Member.Role.OWNER
            and not _owners_left(member.carrier, without=member)
        ):
            raise ApplicationError(
                "validation_error",
                _("A carrier needs at least one owner. Make someone else owner first."),
                fields={"role": [_("The last owner must stay owner.")]},
            )
        before = member.role
        Member.objects.filter(pk=member.pk).update(role=role)
        member.role = role
        audit.record(
            "carrier.member_role_changed",
            actor=by.user,
            target=member,
            before={"role": before},
            after={"role": role},
        )
    return member


# --- Carriers from abroad: documents and the operator's check (A7) -----------------------------


def _refuse_document(message: str, *, status: int = 400, code: str = "validation_error"):
    return ApplicationError(code, message, fields={"file": [message]}, status=status)


def document_too_large() -> ApplicationError:
    """The refusal of a file over 5 MB; callers holding an upload refuse it before reading it."""
    return _refuse_document(
        _("A document can be at most %(megabytes)s MB.")
        % {"megabytes": CarrierDocument.MAX_BYTES // (1024 * 1024)},
        status=413,
        code="document_too_large",
    )


def _not_from_abroad() -> ApplicationError:
    return ApplicationError(
        "documents_not_accepted",
        _("A Kazakh carrier is confirmed with the EDS that carries its IIN/BIN, not by documents."),
        status=409,
    )


def _require_waiting(carrier: Carrier) -> None:
    """Documents come only from a carrier from abroad that is still waiting for the check."""
    if not carrier.is_foreign:
        raise _not_from_abroad()
    if carrier.is_confirmed:
        raise ApplicationError(
            "carrier_confirmed", _("Your carrier is confirmed already."), status=409
        )
    if carrier.lapsed_at is not None:
        raise _registration_lapsed()


def _registration_lapsed() -> ApplicationError:
    return ApplicationError(
        "registration_lapsed",
        _("This registration has lapsed: register the carrier again."),
        status=409,
    )


def carrier_document_upload(*, member: Member, name: str, content: bytes) -> CarrierDocument:
    """The owner of an unconfirmed carrier from abroad uploads one of the documents the operator
    confirms it from (A7): a PDF, JPEG or PNG (by its content, the name must agree) of at most
    5 MB, at most 5 documents. A refused carrier goes back to the operator's queue with it."""
    if member.role != Member.Role.OWNER:
        raise ApplicationError(
            "forbidden", _("Only the carrier's owner can upload its documents."), status=403
        )
    _require_waiting(member.carrier)
    if not content:
        raise _refuse_document(_("The file is empty."))
    if len(content) > CarrierDocument.MAX_BYTES:
        raise document_too_large()
    content_type = documents.content_type_of(content)
    if content_type is None:
        raise _refuse_document(_("A document is a PDF, JPEG or PNG file."))
    name = documents.clean_name(name)
    if not documents.name_fits(name, content_type):
        raise _refuse_document(
            _(
                "The file's name does not match what it holds: a PDF's name ends in .pdf, an "
                "image's in .jpg, .jpeg or .png."
            )
        )
    with transaction.atomic():
        carrier = locks.carrier(member.carrier_id)  # the count of documents, one upload at a time
        _require_waiting(carrier)
        if carrier.documents.count() >= CarrierDocument.MAX_PER_CARRIER:
            raise _refuse_document(
                _("A carrier can upload at most %(count)s documents.")
                % {"count": CarrierDocument.MAX_PER_CARRIER},
                status=409,
                code="too_many_documents",
            )
        document = CarrierDocument.objects.create(
            carrier=carrier,
            name=name,
            content_type=content_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
            uploaded_at=clock.now(),
            uploaded_by=member.user,
        )
        if carrier.refused_at is not None:
            carrier.refused_at = None
            carrier.refusal_reason = ""
            carrier.save(update_fields=["refused_at", "refusal_reason"])
        audit.record(
            "carrier.document_uploaded",
            actor=member.user,
            target=carrier,
            after={
                "document": document.pk,
                "name": name,
                "content_type": content_type,
                "size": document.size,
                "sha256": document.sha256,
            },
        )
    return document


def can_check_documents(user: Any) -> bool:
    """Who confirms or refuses a carrier from abroad: registrar operators (and superusers)."""
    return bool(getattr(user, "is_superuser", False)) or has_role(user, OPERATORS)


def _require_operator(actor: Any) -> None:
    if not can_check_documents(actor):
        raise ApplicationError(
            "forbidden",
            _("Only a registrar operator can confirm or refuse a carrier from its documents."),
            status=403,
        )


def _checked_carrier(carrier_id: int) -> Carrier:
    """The carrier locked for the operator's decision, still waiting for it."""
    carrier = locks.carrier(carrier_id)
    if not carrier.is_foreign:
        raise _not_from_abroad()
    if carrier.lapsed_at is not None:
        raise _registration_lapsed()
    return carrier


def carrier_confirm_from_documents(*, carrier_id: int, actor: Any) -> Carrier:
    """A registrar operator confirms a carrier from abroad after checking its documents (A7):
    from then on it can book. Its other unconfirmed registrations of the same country and tax
    number lapse; the owners are told (Telegram or SMS, through the outbox). Confirming twice
    changes nothing."""
    _require_operator(actor)
    now = clock.now()
    try:
        with transaction.atomic():
            carrier = _checked_carrier(carrier_id)
            if carrier.is_confirmed:
                return carrier
            checked = list(carrier.documents.order_by("pk").values("pk", "sha256"))
            if not checked:
                raise ApplicationError(
                    "no_documents",
                    _("The carrier has uploaded no documents to confirm it from."),
                    status=409,
                )
            carrier.confirmed_at = now
            carrier.refused_at = None
            carrier.refusal_reason = ""
            carrier.save(update_fields=["confirmed_at", "refused_at", "refusal_reason"])
            lapsed = other_registrations_lapse(carrier=carrier, as_of=now)
            audit.record(
                "carrier.confirmed",
                actor=actor,
                target=carrier,
                after={
                    "by": "documents",
                    "country": carrier.country,
                    "tax_number": carrier.tax_number,
                    "documents": [[doc["pk"], doc["sha256"]] for doc in checked],
                    "lapsed": lapsed,
                },
            )
            carrier_owners_notify(
                carrier_id=carrier.pk, event=Message.Kind.CARRIER_CONFIRMED, role=None
            )
    except IntegrityError as exc:
        # Another registration of the number was confirmed a moment before.
        raise ApplicationError(
            "already_registered",
            _("A carrier with this tax number is already registered."),
            status=409,
        ) from exc
    return carrier


REFUSAL_REASON_MAX_LENGTH = 500  # Carrier.refusal_reason


def carrier_refuse(*, carrier_id: int, actor: Any, reason: str) -> Carrier:
    """A registrar operator finds a carrier from abroad's documents wanting and says why (A7):
    the owner sees the reason in the personal account and may upload other documents, which put
    the carrier back in the queue; it still lapses 30 days after registering. The owners are
    told that there is a reason to read (not the reason itself: A8, no typed text in messages)."""
    _require_operator(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ApplicationError(
            "validation_error",
            _("Say why the documents do not confirm the carrier: the owner reads it."),
            fields={"reason": [_("Write the reason.")]},
        )
    if len(reason) > REFUSAL_REASON_MAX_LENGTH:
        raise ApplicationError(
            "validation_error",
            _("The reason can be at most %(count)s characters.")
            % {"count": REFUSAL_REASON_MAX_LENGTH},
            fields={"reason": [_("Too long.")]},
        )
    with transaction.atomic():
        carrier = _checked_carrier(carrier_id)
        if carrier.is_confirmed:
            raise ApplicationError(
                "carrier_confirmed", _("This carrier is confirmed already."), status=409
            )
        before = {"refused_at": carrier.refused_at, "refusal_reason": carrier.refusal_reason}
        carrier.refused_at = clock.now()
        carrier.refusal_reason = reason
        carrier.save(update_fields=["refused_at", "refusal_reason"])
        audit.record(
            "carrier.refused",
            actor=actor,
            target=carrier,
            before=before,
            after={"refused_at": carrier.refused_at, "refusal_reason": reason},
        )
        carrier_owners_notify(carrier_id=carrier.pk, event=Message.Kind.CARRIER_REFUSED, role=None)
    return carrier
