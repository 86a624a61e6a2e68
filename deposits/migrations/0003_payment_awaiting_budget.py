import django.db.models.deletion
from django.db import migrations, models
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat


def payments_awaiting_budget_listed(apps, schema_editor):
    """The payments made before the list existed that are still in no batch and not refunded."""
    Transfer = apps.get_model("deposits", "Transfer")
    PaymentAwaitingBudget = apps.get_model("deposits", "PaymentAwaitingBudget")
    refunded = Transfer.objects.filter(
        kind="fee_refund",
        idempotency_key=Concat(Value("fee_refund:"), Cast(OuterRef("pk"), CharField())),
    )
    waiting = (
        Transfer.objects.filter(
            kind__in=["fee", "rebooking_fee", "deposit_forfeit"], budget_line__isnull=True
        )
        .annotate(refunded=Exists(refunded))
        .filter(refunded=False)
        .values_list("pk", flat=True)
    )
    chunk = []
    for pk in waiting.iterator(chunk_size=5000):
        chunk.append(PaymentAwaitingBudget(transfer_id=pk))
        if len(chunk) == 5000:
            PaymentAwaitingBudget.objects.bulk_create(chunk)
            chunk = []
    PaymentAwaitingBudget.objects.bulk_create(chunk)


class Migration(migrations.Migration):
    dependencies = [
        ("deposits", "0002_statement_import"),
        # The batches' lines say which payments were transferred already.
        ("fees", "0003_mrp_refusals"),
    ]

    operations = [
        migrations.CreateModel(
            name="PaymentAwaitingBudget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "transfer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="awaiting_budget",
                        to="deposits.transfer",
                    ),
                ),
            ],
            options={
                "verbose_name": "payment awaiting transfer to the budget",
                "verbose_name_plural": "payments awaiting transfer to the budget",
            },
        ),
        migrations.RunPython(payments_awaiting_budget_listed, migrations.RunPython.noop),
    ]
