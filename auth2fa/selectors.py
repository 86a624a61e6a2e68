import base64
import dataclasses

import segno
from django.db.models import QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.models import ApiToken, BackupCode, SmsDevice, TelegramDevice, UserSession


def sessions_of(user) -> QuerySet[UserSession]:
    """The person's browser sessions that have not been ended, newest first."""
    return UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_seen_at")


def tokens_of(user) -> QuerySet[ApiToken]:
    """The person's long-lived API tokens that still work."""
    return ApiToken.objects.filter(
        user=user, kind=ApiToken.Kind.PERSONAL, revoked_at__isnull=True
    ).order_by("-created_at")


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
