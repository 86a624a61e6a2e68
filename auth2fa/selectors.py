import base64
import dataclasses
import datetime as dt
import functools

import segno
from django.db import connection
from django.db.models import F, QuerySet
from django.utils.translation import gettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.models import ApiToken, BackupCode, SmsDevice, TelegramDevice, User, UserSession
from carriers.models import Carrier, Invitation, Member
from core import clock, rows
from core.money import format_tenge
from deposits.models import RefundRequest


def sessions_of(user) -> QuerySet[UserSession]:
    """The person's browser sessions that have not been ended, newest first."""
    return UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_seen_at")


def tokens_of(user) -> QuerySet[ApiToken]:
    """The person's personal API tokens that still work (not revoked, not expired)."""
    return ApiToken.objects.filter(
        user=user,
        kind=ApiToken.Kind.PERSONAL,
        revoked_at__isnull=True,
        expires_at__gt=clock.now(),
    ).order_by("-created_at")


# --- Recent changes to an owner's carrier (A8) ---------------------------------------------------

RECENT_CHANGES = 10


@dataclasses.dataclass(frozen=True)
class CarrierChange:
    at: dt.datetime
    kind: str  # "refund_requested", "api_token_created", "member_joined"
    text: str


def carrier_changes_of(user) -> list[CarrierChange] | None:
    """For an owner: the last changes to their carrier every owner is also told of by SMS or
    Telegram (notify.services.carrier_owners_notify) — refund requests, personal API tokens made
    by its members while members, members who joined by invitation — newest first, in the
    active language. None for anyone else (the security page shows no such list)."""
    member = Member.objects.filter(user_id=user.pk).values("carrier_id", "role").first()
    if member is None or member["role"] != Member.Role.OWNER:
        return None
    carrier_id = member["carrier_id"]
    roles = dict(Member.Role.choices)

    def role_of(person_carrier_id, role) -> str:
        if person_carrier_id != carrier_id or role not in roles:
            return gettext("not a member now")
        return str(roles[role]).lower()

    changes = [
        CarrierChange(
            at=row["requested_at"],
            kind="refund_requested",
            text=gettext(
                "Refund of %(amount)s to the account ending %(iban_tail)s asked for by "
                "%(person)s (%(role)s)."
            )
            % {
                "amount": format_tenge(row["amount"]),
                "iban_tail": row["iban"][-4:],
                "person": row["requested_by__full_name"],
                "role": role_of(
                    row["requested_by__membership__carrier_id"],
                    row["requested_by__membership__role"],
                ),
            },
        )
        for row in RefundRequest.objects.filter(carrier_id=carrier_id)
        .order_by("-requested_at", "-pk")
        .values(
            "requested_at",
            "amount",
            "iban",
            "requested_by__full_name",
            "requested_by__membership__carrier_id",
            "requested_by__membership__role",
        )[:RECENT_CHANGES]
    ]
    changes += [
        CarrierChange(
            at=row["created_at"],
            kind="api_token_created",
            text=gettext("API token made by %(person)s (%(role)s).")
            % {
                "person": row["user__full_name"],
                "role": role_of(carrier_id, row["user__membership__role"]),
            },
        )
        for row in ApiToken.objects.filter(
            kind=ApiToken.Kind.PERSONAL,
            user__membership__carrier_id=carrier_id,
            created_at__gte=F("user__membership__created_at"),
        )
        .order_by("-created_at", "-pk")
        .values("created_at", "user__full_name", "user__membership__role")[:RECENT_CHANGES]
    ]
    changes += [
        CarrierChange(
            at=row["accepted_at"],
            kind="member_joined",
            text=gettext("%(person)s joined as %(role)s.")
            % {"person": row["accepted_by__full_name"], "role": str(roles[row["role"]]).lower()},
        )
        for row in Invitation.objects.filter(carrier_id=carrier_id, accepted_at__isnull=False)
        .order_by("-accepted_at", "-pk")
        .values("accepted_at", "role", "accepted_by__full_name")[:RECENT_CHANGES]
    ]
    changes.sort(key=lambda change: change.at, reverse=True)
    return changes[:RECENT_CHANGES]


# The read of `select_related("user__membership__carrier").filter(token_hash=…,
# revoked_at__isnull=True).first()`, in SQL: it runs on every API request, and the ORM spent
# about 2 ms of CPU building it (tests/auth2fa checks it against that query). The columns are
# every field of each model (core.rows).
_BEARER_WITH_PERSON_SQL = (
    "SELECT {token}, {user}, {member}, {carrier} "
    'FROM "auth2fa_apitoken" t INNER JOIN "auth2fa_user" u ON u."id" = t."user_id" '
    'LEFT OUTER JOIN "carriers_member" m ON m."user_id" = u."id" '
    'LEFT OUTER JOIN "carriers_carrier" c ON c."id" = m."carrier_id" '
    'WHERE t."token_hash" = %s AND t."revoked_at" IS NULL ORDER BY t."id" LIMIT 1'
)


@functools.cache
def _token_sql() -> str:
    return _BEARER_WITH_PERSON_SQL.format(
        token=rows.columns(ApiToken, "t"),
        user=rows.columns(User, "u"),
        member=rows.columns(Member, "m"),
        carrier=rows.columns(Carrier, "c"),
    )


def api_token_with_person(token_hash: str) -> ApiToken | None:
    """The unrevoked token with this hash, its person, their membership and its carrier, each
    cached on the other as `select_related` leaves them (no membership: `user.membership`
    raises, as after the ORM's read)."""
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user, member, carrier = rows.instances(row, (ApiToken, User, Member, Carrier))
    ApiToken.user.field.set_cached_value(token, user)
    User.membership.related.set_cached_value(user, member)
    if member is not None:
        Member.user.field.set_cached_value(member, user)
        Member.carrier.field.set_cached_value(member, carrier)
    return token


@dataclasses.dataclass(frozen=True)
class TotpEnrollment:
    device: TOTPDevice
    otpauth_url: str
    secret: str  # base32, for typing into the app by hand
    qr_svg: str  # an inline <svg> of the otpauth URL, made here: no outside service sees the key


def totp_enrollment(device: TOTPDevice) -> TotpEnrollment:
    """What the person needs to add an authenticator app: the QR code and the key."""
    url = device.config_url
    return TotpEnrollment(
        device=device,
        otpauth_url=url,
        secret=base64.b32encode(device.bin_key).decode().rstrip("="),
        qr_svg=segno.make(url, error="m").svg_inline(scale=4),
    )


def pending_totp_enrollment(user, device_id: int | None) -> TotpEnrollment | None:
    device = TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False).first()
    return totp_enrollment(device) if device else None


def factor_overview(user) -> dict:
    """The person's second factors as the security page shows them."""
    return {
        "sms": SmsDevice.objects.filter(user=user, confirmed=True).first(),
        "telegram": TelegramDevice.objects.filter(
            user=user, confirmed=True, chat_id__isnull=False
        ).first(),
        "totp": TOTPDevice.objects.filter(user=user, confirmed=True).first(),
        "backup_left": BackupCode.objects.filter(
            device__user=user, device__confirmed=True, used_at__isnull=True
        ).count(),
    }
