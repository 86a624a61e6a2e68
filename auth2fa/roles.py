"""The people of the registrar's side (SPEC "People", A5) as groups with permissions.

`ROLES` is the one list of what each role may do in the admin; later work adds its models here.
After every `migrate` (post_migrate, connected in auth2fa.apps) `sync_roles` creates the groups
that are missing and gives each exactly the permissions listed here.

Extra permissions are removed as well, not only missing ones added: these three groups are
defined by this code and reviewed with it. Taking a permission out of `ROLES` must revoke it on
the next deployment, and a permission granted to one of them by hand in the admin would be a
privilege nobody reviewed. Whoever needs more makes another group in the admin: only the groups
named here are synced.
"""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS, router, transaction

CHECKPOINT_STAFF = "Checkpoint staff"
OPERATORS = "Registrar operators"
AUDITORS = "Auditors"

# The project's own apps: an auditor reads every model of these ("<app>.*" below).
PROJECT_APPS = (
    "core",
    "auth2fa",
    "carriers",
    "vehicles",
    "checkpoints",
    "bookings",
    "fees",
    "deposits",
    "receipts",
    "notify",
    "release",
    "open_data",
    "checkpoint_queue",
)

# Never granted through "<app>.*": rows that hold a live secret (a session key is the session).
NEVER_BY_WILDCARD = frozenset({"auth2fa.usersession"})

VIEW = ("view",)
EDIT = ("view", "add", "change")
EDIT_AND_DELETE = ("view", "add", "change", "delete")

# role → {"app_label.model" or "app_label.*": actions}; actions are Django's add/change/delete/view.
ROLES: dict[str, dict[str, tuple[str, ...]]] = {
    CHECKPOINT_STAFF: {
        # Their own checkpoints only: the admin scopes rows (core.admin.CheckpointScopedAdmin).
        "checkpoints.checkpoint": VIEW,
        "checkpoints.staffassignment": VIEW,
        "checkpoints.closure": VIEW,  # closures of their own checkpoints (C3)
        # Bookings of their own checkpoints: read; arrivals, calls and crossings go through the
        # admin actions and the staff screen, which call the booking services (Q1–Q3).
        "bookings.booking": VIEW,
        # Working through an outage (O3, O4): the events their devices delivered (the parked
        # ones with both versions) and the devices themselves, read.
        "checkpoint_queue.offlineevent": VIEW,
        "checkpoints.devicereport": VIEW,
    },
    OPERATORS: {
        # Reference data (R1–R4).
        "checkpoints.country": EDIT,
        "checkpoints.checkpoint": EDIT,
        # Capacity (C1–C3): hour and quota overrides, closures; the slot counters are read.
        "checkpoints.houroverride": EDIT_AND_DELETE,
        "checkpoints.quotaoverride": EDIT_AND_DELETE,
        "checkpoints.closure": EDIT_AND_DELETE,
        "checkpoints.slotcounter": VIEW,
        "fees.mrprate": EDIT,
        "fees.feeschedule": EDIT,
        "fees.feeitem": EDIT_AND_DELETE,  # the fees inline of a schedule
        "core.calendarday": EDIT_AND_DELETE,  # a wrongly entered day off must be removable
        # Carriers and their members.
        "carriers.carrier": EDIT,
        "carriers.member": EDIT,
        # People, which roles they have, and where checkpoint staff work (A5).
        "auth2fa.user": EDIT,
        "auth.group": VIEW,
        "checkpoints.staffassignment": EDIT_AND_DELETE,
        # Personal accounts (P1–P3): bank statements are uploaded ("add"), parked payments
        # assigned and refunds resolved ("change", through the services); the ledger is read.
        "deposits.statementimport": ("view", "add"),
        "deposits.statemententry": ("view", "change"),
        "deposits.refundrequest": ("view", "change"),
        "deposits.personalaccount": VIEW,
        "deposits.account": VIEW,
        "deposits.transfer": VIEW,
        "deposits.hold": VIEW,
        "deposits.holdresolution": VIEW,
        # Transfers to the state budget (P4) and receipts (P5): budget accounts are kept, batches,
        # their lines and receipts read; refund claims on the budget settled ("change").
        "fees.budgetaccount": EDIT,
        "fees.budgetbatch": VIEW,
        "fees.budgetbatchline": VIEW,
        "fees.budgetrefundclaim": ("view", "change"),
        "receipts.receipt": VIEW,
        # Carriers' vehicles and drivers: read-only here, they are the carriers' to change.
        "vehicles.vehicle": VIEW,
        "vehicles.driver": VIEW,
        # Bookings (read; the queue actions call the services) and plate camera keys (made and
        # revoked through the services; never deleted, so their marks keep naming them).
        "bookings.booking": VIEW,
        "checkpoints.devicekey": EDIT,
        # Working through an outage (O3, O4): parked events settled ("change", the note of how),
        # devices retired; the bookings the no-show sweep holds back, settled by hand through
        # the admin's operator actions.
        "checkpoint_queue.offlineevent": ("view", "change"),
        "checkpoints.devicereport": ("view", "change"),
        "checkpoint_queue.heldbackbooking": VIEW,
        # The outbox of SMS and Telegram messages (B12): read, and failed ones retried.
        "notify.message": ("view", "retry"),
        # Fair release (F8): each checkpoint's policy, saved through the service (audited); the
        # windows with their demand and requests, read.
        "release.releasepolicy": EDIT,
        "release.releasewindow": VIEW,
        "release.releaserequest": VIEW,
    },
    AUDITORS: {
        **{f"{app}.*": VIEW for app in PROJECT_APPS},
        "auth.group": VIEW,
    },
}


def has_role(user: Any, role: str) -> bool:
    """Whether an active, signed-in person is in the role's group."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.groups.filter(name=role).exists()


def role_permission_keys(
    role: str, *, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS
) -> set[tuple[str, str]]:
    """The (app_label, codename) pairs the role should have, "<app>.*" expanded; a listed
    permission that does not exist (yet) is left out (see `missing_permissions`)."""
    permission_model = apps.get_model("auth", "Permission")
    existing = set(
        permission_model.objects.using(using).values_list("content_type__app_label", "codename")
    )
    wanted: set[tuple[str, str]] = set()
    for target, actions in ROLES[role].items():
        app_label, model = target.split(".")
        for action in actions:
            if model == "*":
                wanted |= {
                    (label, codename)
                    for label, codename in existing
                    if label == app_label
                    and codename.startswith(f"{action}_")
                    and f"{label}.{codename.removeprefix(f'{action}_')}" not in NEVER_BY_WILDCARD
                }
            else:
                wanted.add((app_label, f"{action}_{model}"))
    return wanted & existing


def missing_permissions(*, apps: Any = global_apps, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Permissions named in `ROLES` that do not exist: a typo, or a model not migrated yet."""
    permission_model = apps.get_model("auth", "Permission")
    existing = set(
        permission_model.objects.using(using).values_list("content_type__app_label", "codename")
    )
    missing = []
    for targets in ROLES.values():
        for target, actions in targets.items():
            app_label, model = target.split(".")
            if model == "*":
                continue
            for action in actions:
                if (app_label, f"{action}_{model}") not in existing:
                    missing.append(f"{app_label}.{action}_{model}")
    return sorted(set(missing))


def sync_roles(
    sender: Any = None,
    *,
    apps: Any = global_apps,
    using: str = DEFAULT_DB_ALIAS,
    verbosity: int = 1,
    **kwargs: Any,
) -> None:
    """post_migrate receiver: the role groups exist and have exactly the permissions in ROLES.

    Django creates each app's permissions in that app's own post_migrate, and apps listed after
    auth2fa have not had theirs yet when this runs: create them all first (idempotent).
    """
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:  # auth is not migrated (yet)
        return
    if not router.allow_migrate_model(using, group_model):
        return
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=apps)

    with transaction.atomic(using=using):
        for role in ROLES:
            group, created = group_model.objects.using(using).get_or_create(name=role)
            wanted = role_permission_keys(role, apps=apps, using=using)
            current = {
                (permission.content_type.app_label, permission.codename): permission
                for permission in group.permissions.select_related("content_type")
            }
            to_add = wanted - current.keys()
            to_remove = current.keys() - wanted
            if to_add:
                group.permissions.add(
                    *[
                        permission_model.objects.using(using).get(
                            content_type__app_label=label, codename=codename
                        )
                        for label, codename in sorted(to_add)
                    ]
                )
            if to_remove:
                group.permissions.remove(*[current[key] for key in to_remove])
            if verbosity >= 2 and (created or to_add or to_remove):
                sys.stdout.write(
                    f"Role {role!r}: {'created, ' if created else ''}"
                    f"{len(to_add)} permission(s) added, {len(to_remove)} removed\n"
                )
    missing = missing_permissions(apps=apps, using=using)
    if missing and verbosity >= 1:
        sys.stdout.write(f"Roles: these permissions do not exist (yet): {', '.join(missing)}\n")
