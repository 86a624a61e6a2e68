import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Carrier(models.Model):
    """A company (BIN) or an individual entrepreneur (IIN) that owns trucks, or a carrier from
    abroad known by its country and national tax number (A7)."""

    class Kind(models.TextChoices):
        COMPANY = "company", _("Company (BIN)")
        INDIVIDUAL = "individual", _("Individual entrepreneur (IIN)")
        FOREIGN = "foreign", _("Carrier from abroad")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # Owned only once confirmed (A7): until then another registration may name the same number.
    # Empty for a carrier from abroad.
    iin_bin = models.CharField(_("IIN/BIN"), max_length=12, db_index=True, blank=True)
    # A carrier from abroad: its country (ISO 3166-1 alpha-2, from the countries reference) and
    # its national tax number as carriers.tax_numbers normalises it; empty for Kazakh carriers.
    country = models.CharField(_("country"), max_length=2, blank=True, default="")
    tax_number = models.CharField(_("tax number"), max_length=20, blank=True, default="")
    name = models.CharField(_("name"), max_length=300)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # When an EDS carrying the BIN (IIN) confirmed who the carrier is, when an operator confirmed
    # a carrier from abroad from its documents, or when it was registered where no EDS is
    # configured (A7); None: unconfirmed, cannot book.
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    # An unconfirmed registration lapses (see CONFIRM_WITHIN), or when another confirms the number.
    lapsed_at = models.DateTimeField(_("lapsed at"), null=True, blank=True)
    # An operator found the documents of a carrier from abroad wanting, and said why; new
    # documents put it back in the operator's queue.
    refused_at = models.DateTimeField(_("refused at"), null=True, blank=True)
    refusal_reason = models.CharField(
        _("reason for refusal"), max_length=500, blank=True, default=""
    )

    # How long a registration may stay unconfirmed (A7): a day, or 30 days for a carrier from
    # abroad whose documents wait for the operator (unconfirmed_registrations_lapse).
    CONFIRM_WITHIN = dt.timedelta(hours=24)
    DOCUMENTS_CHECKED_WITHIN = dt.timedelta(days=30)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        constraints = [
            # Built without blocking writes (migrations 0005): on PostgreSQL both are partial
            # unique indexes.
            models.UniqueConstraint(
                fields=["iin_bin"],
                condition=models.Q(confirmed_at__isnull=False) & ~models.Q(kind="foreign"),
                name="carrier_kz_number_confirmed_once",
            ),
            models.UniqueConstraint(
                fields=["country", "tax_number"],
                condition=models.Q(confirmed_at__isnull=False, kind="foreign"),
                name="carrier_foreign_number_confirmed_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.number_display})"

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None

    @property
    def is_foreign(self) -> bool:
        return self.kind == self.Kind.FOREIGN

    @property
    def number_display(self) -> str:
        """The number the carrier is known by, wherever it is shown: the IIN/BIN, or the
        country and the tax number of a carrier from abroad ("RU 7707083893")."""
        if self.is_foreign:
            return f"{self.country} {self.tax_number}"
        return self.iin_bin

    @property
    def number_label(self) -> str:
        """What `number_display` is, for a label beside it."""
        return _("Tax number") if self.is_foreign else _("IIN/BIN")


class CarrierDocument(models.Model):
    """A document by which an operator confirms a carrier from abroad (A7): its registration
    certificate or an extract from the trade register, as the owner uploaded it. Kept in the
    row, like receipts' PDFs: the project keeps no files on disk. Only PDF, JPEG and PNG, known
    by their content (carriers.documents)."""

    MAX_BYTES = 5 * 1024 * 1024
    MAX_PER_CARRIER = 5

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="documents")
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size in bytes"))
    # The audit events name the documents by it: which bytes the operator confirmed from.
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content = models.BinaryField(_("content"))
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("carrier's document")
        verbose_name_plural = _("carriers' documents")

    def __str__(self) -> str:
        return self.name


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
