from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from carriers.models import Carrier, Member
from core import audit

DEMO_OPERATOR = {"email": "operator@kezek.local", "password": "kezek-operator-demo"}
DEMO_OWNER = {"email": "owner@demo-carrier.kz", "password": "kezek-demo"}
DEMO_CARRIER = {
    "kind": Carrier.Kind.COMPANY,
    "iin_bin": "230140012340",
    "name": "Demo Logistics LLP",
}


def demo_data_load() -> dict[str, Any]:
    """A registrar operator and a demo carrier with its owner, for trying the portal out.

    Idempotent: people and the carrier are created once and found again by e-mail and BIN.
    """
    user_model = get_user_model()
    with transaction.atomic():
        operator = user_model.objects.filter(email=DEMO_OPERATOR["email"]).first()
        if operator is None:
            operator = user_model.objects.create_superuser(
                DEMO_OPERATOR["email"],
                DEMO_OPERATOR["password"],
                full_name="Demo Operator",
                language="ru",
            )
            audit.record("demo.operator_created", target=operator)
        owner = user_model.objects.filter(email=DEMO_OWNER["email"]).first()
        if owner is None:
            owner = user_model.objects.create_user(
                DEMO_OWNER["email"],
                DEMO_OWNER["password"],
                full_name="Aigerim Demo",
                iin="850512300119",
                phone="+77010000001",
                language="ru",
            )
            audit.record("demo.owner_created", target=owner)
        carrier, created = Carrier.objects.get_or_create(
            iin_bin=DEMO_CARRIER["iin_bin"], defaults=DEMO_CARRIER
        )
        if created:
            audit.record("demo.carrier_created", target=carrier, after=DEMO_CARRIER)
        Member.objects.get_or_create(
            carrier=carrier, user=owner, defaults={"role": Member.Role.OWNER}
        )
    return {"operator": operator, "owner": owner, "carrier": carrier}
