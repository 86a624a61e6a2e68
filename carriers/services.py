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
from carriers import locks
from carriers.models import Carrier, Invitation, Member
from core import audit, clock
from core.errors import ApplicationError
from notify.models import Message
from notify.services import carrier_owners_notify
from notify.sms import SmsDeliveryError, send_sms

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
    """A8: invitation SMS go only to the calling codes of SMS_ALLOWED_COUNTRY_CODES (E.164
    country codes are prefix-free, so a number has at most one of them)."""
    codes = [code.strip().lstrip("+") for code in settings.SMS_ALLOWED_COUNTRY_CODES]
    if not any(code and phone.startswith("+" + code) for code in codes):
        raise ApplicationError(
            "validation_error",
            _("Invitations can be sent only to phone numbers with these country codes: %(codes)s.")
            % {"codes": ", ".join("+" + code for code in codes if code)},
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
    link = settings.SITE_URL + reverse("invitation", args=[token])
    invitee = user_model.objects.filter(phone=phone).first()
    language = invitee.language if invitee else translation.get_language()
    with translation.override(language):
        # A8: no text chosen by the inviter (the carrier's name is); the page behind the link
        # shows who invites.
        body = _("You are invited to act for a carrier in Kezek as %(role)s: %(link)s") % {
            "role": Member.Role(role).label,
            "link": link,
        }
    try:
        send_sms(to=phone, body=body)
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
