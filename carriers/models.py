import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Carrier(models.Model):
    """A company (BIN) or an individual entrepreneur (IIN) that owns trucks."""

    class Kind(models.TextChoices):
        COMPANY = "company", _("Company (BIN)")
        INDIVIDUAL = "individual", _("Individual entrepreneur (IIN)")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # Owned only once confirmed (A7): until then another registration may name the same number.
    iin_bin = models.CharField(_("IIN/BIN"), max_length=12, db_index=True)
    name = models.CharField(_("name"), max_length=300)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When an EDS carrying the BIN (IIN) confirmed who the carrier is, or when it was
    # registered where no EDS is configured (A7); None: unconfirmed, cannot book.
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # An unconfirmed registration lapses after 24 hours, or when another confirms the number.
    lapsed_at = models.DateTimeField(_("lapsed at"), null=True, blank=True)

    # How long a registration may stay unconfirmed (A7).
    CONFIRM_WITHIN = dt.timedelta(hours=24)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        constraints = [
            models.UniqueConstraint(
                fields=["iin_bin"],
                condition=models.Q(confirmed_at__isnull=False),
                name="carrier_number_confirmed_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.iin_bin})"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class Member(models.Model):
    """A person acting for a carrier with one role."""

    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        DISPATCHER = "dispatcher", _("Dispatcher")
        ACCOUNTANT = "accountant", _("Accountant")

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="members")
    # A person acts for one carrier (the API's /me names one carrier and role).
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="membership"
    )
    role = models.CharField(_("role"), max_length=12, choices=Role.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    # Who books and keeps the fleet (vehicles, drivers) for the carrier (SPEC "People").
    DISPATCH_ROLES = frozenset({Role.OWNER, Role.DISPATCHER})

    class Meta:
        verbose_name = _("carrier member")
        verbose_name_plural = _("carrier members")

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} @ {self.carrier}"

    @property
    def can_dispatch(self) -> bool:
        """Books passages and manages vehicles and drivers: the owner and dispatchers."""
        return self.role in self.DISPATCH_ROLES


class Invitation(models.Model):
    """An owner's invitation to a person, by phone, to act for the carrier with a role.

    The link in the SMS carries a token of which only the SHA-256 is stored; it works once and
    for 7 days, and only for the person who confirmed that phone number.
    """

    TTL_DAYS = 7

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="invitations")
    phone = models.CharField(_("phone"), max_length=16)
    role = models.CharField(_("role"), max_length=12, choices=Member.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"))
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.phone} → {self.carrier} ({self.get_role_display()})"
