import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, TimestampMixin


class UserManager(BaseUserManager):
    use_in_migrations = True

    def confirmed(self) -> models.QuerySet["User"]:
        """The people who own their e-mail, phone and IIN (A1, A8): see User.CONFIRMED."""
        return self.filter(PERSON_CONFIRMED)

    def get_by_natural_key(self, username: str | None) -> "User":
        # Django's own sign-in (the admin's login form) finds only the confirmed person with the
        # address: unconfirmed registrations may repeat it (A8).
        return self.confirmed().get(**{self.model.USERNAME_FIELD: username})

    def _create_user(self, email: str, password: str | None, **fields) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create_user(email, password, **fields)


# Who owns what they typed: a person whose phone is confirmed by SMS, or one made without a phone
# (staff, operators: made by an operator or a command, never by a registration).
PERSON_CONFIRMED = Q(phone__isnull=True) | Q(phone_verified_at__isnull=False)
PERSON_UNCONFIRMED = Q(phone__isnull=False, phone_verified_at__isnull=True)


class User(AbstractBaseUser, PermissionsMixin):
    """A person: a carrier's member, checkpoint staff, a registrar operator or an auditor.

    People sign in with their e-mail or phone (A2); the phone is E.164 and confirmed by SMS (A1).

    E-mail, phone and IIN are unique among confirmed people only (CONFIRMED): a registration with
    a taken one is accepted like any other and stays unconfirmed, so the answer tells nobody who
    is registered (A8); only the phone's holder learns it, at the code check
    (auth2fa.services.registration). An unconfirmed person lapses after 24 hours.
    """

    CONFIRMED = PERSON_CONFIRMED
    UNCONFIRMED = PERSON_UNCONFIRMED
    CONFIRM_WITHIN = dt.timedelta(hours=24)

    email = models.EmailField(_("e-mail"))
    # NULL, not "": many people have none, and the unique indexes must not count them.
    phone = models.CharField(_("phone"), max_length=16, null=True, blank=True)  # noqa: DJ001
    phone_verified_at = models.DateTimeField(_("phone verified at"), null=True, blank=True)
    full_name = models.CharField(_("full name"), max_length=200)
    iin = models.CharField(_("IIN"), max_length=12, null=True, blank=True)  # noqa: DJ001
    language = models.CharField(
        _("language"),
        max_length=2,
        choices=[("kk", _("Kazakh")), ("ru", _("Russian")), ("en", _("English"))],
        default="ru",
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    sign_in_locked_until = models.DateTimeField(_("sign-in locked until"), null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=PERSON_CONFIRMED, name="user_email_ci_confirmed_once"
            ),
            models.UniqueConstraint(
                fields=["phone"], condition=PERSON_CONFIRMED, name="user_phone_confirmed_once"
            ),
            models.UniqueConstraint(
                fields=["iin"], condition=PERSON_CONFIRMED, name="user_iin_confirmed_once"
            ),
        ]
        indexes = [
            # The lapse job's scan for registrations never confirmed (A7, A8).
            models.Index(
                fields=["date_joined"], condition=PERSON_UNCONFIRMED, name="user_unconfirmed"
            )
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class CodeDevice(TimestampMixin, Device):
    """A second factor that delivers a one-time code (A3): 6 digits, valid 5 minutes, single use,
    stored as an HMAC (never in clear), at most 5 wrong tries per code.

    Callers hold the row lock (select_for_update) while issuing or checking a code, so parallel
    guesses are counted one by one.
    """

    CODE_TTL = dt.timedelta(minutes=5)
    MAX_TRIES_PER_CODE = 5

    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_failures = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def _code_hmac(self, code: str) -> str:
        key = f"{settings.SECRET_KEY}:otp:{self.persistent_id}".encode()
        return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()

    def issue_code(self, *, now: dt.datetime) -> str:
        """A fresh code replaces any earlier one; the caller saves the device and sends the code."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        self.code_hash = self._code_hmac(code)
        self.code_expires_at = now + self.CODE_TTL
        self.code_failures = 0
        self.last_sent_at = now
        return code

    def check_code(self, code: str, *, now: dt.datetime) -> "CodeCheck":
        """Compare `code` with the current one and update the counters; the caller saves."""
        if not self.code_hash:
            return CodeCheck.NO_CODE
        if self.code_failures >= self.MAX_TRIES_PER_CODE:
            return CodeCheck.TOO_MANY_TRIES
        if self.code_expires_at is None or now >= self.code_expires_at:
            return CodeCheck.EXPIRED
        if not hmac.compare_digest(self._code_hmac(code.strip()), self.code_hash):
            self.code_failures += 1
            return CodeCheck.WRONG
        # Single use: the code is gone once it has worked.
        self.code_hash = ""
        self.code_expires_at = None
        self.code_failures = 0
        self.last_used_at = now
        return CodeCheck.OK

    def verify_token(self, token) -> bool:
        """django-otp's entry point; sign-in goes through auth2fa.services, which locks the row."""
        return False


class CodeCheck(models.TextChoices):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    NO_CODE = "no_code"
    TOO_MANY_TRIES = "too_many_tries"


class SmsDevice(CodeDevice):
    """Codes by SMS to the person's confirmed phone. Before it is confirmed it is a registration's
    phone, which other registrations may repeat (A8): a phone is one confirmed device's."""

    phone = models.CharField(_("phone"), max_length=16)

    class Meta:
        verbose_name = _("SMS device")
        verbose_name_plural = _("SMS devices")
        constraints = [
            models.UniqueConstraint(
                fields=["phone"], condition=Q(confirmed=True), name="smsdevice_phone_confirmed_once"
            )
        ]
        indexes = [models.Index(fields=["phone"], name="smsdevice_phone")]


class SmsSent(models.Model):
    """Every SMS the portal sends (codes, invitations, notices), counted for the per-phone limits
    (A3, A8: 5 an hour, 20 a day); written only by notify.sms.sms_allowance_take."""

    PURPOSE_MAX = 40

    phone = models.CharField(max_length=16)
    sent_at = models.DateTimeField()
    purpose = models.CharField(max_length=PURPOSE_MAX)

    class Meta:
        indexes = [models.Index(fields=["phone", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.phone} {self.sent_at:%Y-%m-%d %H:%M} {self.purpose}"


class SignIn(models.Model):
    """A sign-in between its two factors (A2): the first factor passed, the second not yet.

    The client holds `challenge` (shown once; only its SHA-256 is stored) for 10 minutes.
    """

    TTL = dt.timedelta(minutes=10)

    class FirstFactor(models.TextChoices):
        PASSWORD = "password", _("Password")
        EDS = "eds", _("Electronic digital signature")

    token_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_ins")
    first_factor = models.CharField(max_length=10, choices=FirstFactor.choices)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_code_sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in")
        verbose_name_plural = _("sign-ins")

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class SignInFailure(models.Model):
    """A wrong password or code, counted for the account lock (A3: 10 in an hour → 15 minutes)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_failures")
    at = models.DateTimeField()
    reason = models.CharField(max_length=30)

    class Meta:
        indexes = [models.Index(fields=["user", "at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.at:%Y-%m-%d %H:%M} {self.reason}"


class ApiToken(models.Model):
    """A bearer token for the API (A4). Only its SHA-256 is stored; the token is shown once."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", _("Sign-in (12 hours)")
        PERSONAL = "personal", _("Personal, up to a year")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("starts with"), max_length=12)
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.get_kind_display()})"


class UserSession(models.Model):
    """A signed-in browser session, listed on the security page so the person can end it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="web_sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"


class TelegramDevice(CodeDevice):
    """Codes by Telegram to a private chat with the bot (A2), linked through a deep link.

    Linking: a signed-in person asks for a link, `https://t.me/<bot>?start=<token>`; the token is
    shown once (only its SHA-256 is kept) and works for 15 minutes. When the person presses Start,
    Telegram sends `/start <token>` from their chat to our webhook and the chat is linked: the
    device is confirmed from then on. A person has at most one; linking again moves it to the new
    chat. A chat belongs to one account at most, so the row lock on the device also serialises
    everything sent to that chat.
    """

    LINK_TTL = dt.timedelta(minutes=15)

    chat_id = models.BigIntegerField(_("Telegram chat"), null=True, blank=True)
    link_token_hash = models.CharField(max_length=64, blank=True)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    # When the current link token was used: a second press of the same link is told so.
    link_used_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(_("linked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Telegram device")
        verbose_name_plural = _("Telegram devices")
        constraints = [
            models.UniqueConstraint(fields=["user"], name="telegram_device_one_per_user"),
            models.UniqueConstraint(fields=["chat_id"], name="telegram_device_chat_unique"),
            models.UniqueConstraint(
                fields=["link_token_hash"],
                condition=~models.Q(link_token_hash=""),
                name="telegram_device_link_token_unique",
            ),
        ]


class TelegramSent(models.Model):
    """Every code sent by Telegram, counted for the per-chat limits (5 an hour, 20 a day).

    A table of its own rather than SmsSent rows keyed `telegram:<chat id>`: SmsSent.phone holds 16
    characters (a chat id with that prefix does not fit), and the SMS limits of A3 must keep
    counting SMS only.
    """

    chat_id = models.BigIntegerField()
    sent_at = models.DateTimeField()
    purpose = models.CharField(max_length=20)

    class Meta:
        indexes = [models.Index(fields=["chat_id", "sent_at"])]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.sent_at:%Y-%m-%d %H:%M} {self.purpose}"


class BackupCodeDevice(TimestampMixin, Device):
    """Backup codes (A2): ten single-use codes shown once, for when the other factors are out of
    reach. Unlike django-otp's static tokens, codes are stored as an HMAC, never in clear (A3).

    Callers hold the row lock (select_for_update) while checking a code, so one code cannot be
    used twice in parallel.
    """

    COUNT = 10
    # No 0/o, 1/l/i: a code read off paper is typed back without guessing.
    ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
    LENGTH = 10

    class Meta:
        verbose_name = _("backup codes")
        verbose_name_plural = _("backup codes")
        constraints = [
            models.UniqueConstraint(fields=["user"], name="backup_code_device_one_per_user")
        ]

    @classmethod
    def new_code(cls) -> str:
        """A fresh code as people see it: `xxxx-xxxx-xx`."""
        raw = "".join(secrets.choice(cls.ALPHABET) for _ in range(cls.LENGTH))
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"

    @staticmethod
    def normalize(code: str) -> str:
        """What is compared: lower case, without the dashes and spaces people type or copy."""
        return "".join(ch for ch in (code or "").lower() if ch not in "- \t\r\n")

    def code_hmac(self, code: str) -> str:
        key = f"{settings.SECRET_KEY}:backup:{self.persistent_id}".encode()
        return hmac.new(key, self.normalize(code).encode(), hashlib.sha256).hexdigest()

    def verify_token(self, token) -> bool:
        """django-otp's entry point; sign-in goes through auth2fa.services, which locks the row."""
        return False


class BackupCode(models.Model):
    """One backup code: only its HMAC is kept; `used_at` is set when it signs someone in."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("backup code")
        verbose_name_plural = _("backup codes")
        constraints = [
            models.UniqueConstraint(fields=["device", "code_hash"], name="backup_code_unique")
        ]

    def __str__(self) -> str:
        state = f"used {self.used_at:%Y-%m-%d %H:%M}" if self.used_at else "unused"
        return f"{self.device} ({state})"
