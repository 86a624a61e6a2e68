import base64
import dataclasses
import functools

import segno
from django.db import connection
from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.models import ApiToken, BackupCode, SmsDevice, TelegramDevice, User, UserSession
from carriers.models import Carrier, Member
from core import clock, rows


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
