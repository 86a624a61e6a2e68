"""A7: carriers from abroad (country and national tax number) and the documents an operator
confirms them from. New columns with constant defaults and a new table: nothing here rewrites or
indexes the carriers' rows (the uniqueness of the numbers changes in 0005, without blocking)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("carriers", "0003_carrier_confirmation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="carrier",
            name="kind",
            field=models.CharField(
                choices=[
                    ("company", "Company (BIN)"),
                    ("individual", "Individual entrepreneur (IIN)"),
                    ("foreign", "Carrier from abroad"),
                ],
                max_length=10,
                verbose_name="kind",
            ),
        ),
        migrations.AlterField(
            model_name="carrier",
            name="iin_bin",
            field=models.CharField(
                blank=True, db_index=True, max_length=12, verbose_name="IIN/BIN"
            ),
        ),
        migrations.AddField(
            model_name="carrier",
            name="country",
            field=models.CharField(blank=True, default="", max_length=2, verbose_name="country"),
        ),
        migrations.AddField(
            model_name="carrier",
            name="tax_number",
            field=models.CharField(
                blank=True, default="", max_length=20, verbose_name="tax number"
            ),
        ),
        migrations.AddField(
            model_name="carrier",
            name="refused_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="refused at"),
        ),
        migrations.AddField(
            model_name="carrier",
            name="refusal_reason",
            field=models.CharField(
                blank=True, default="", max_length=500, verbose_name="reason for refusal"
            ),
        ),
        migrations.CreateModel(
            name="CarrierDocument",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200, verbose_name="file name")),
                ("content_type", models.CharField(max_length=40, verbose_name="content type")),
                ("size", models.PositiveIntegerField(verbose_name="size in bytes")),
                ("sha256", models.CharField(max_length=64, verbose_name="SHA-256")),
                ("content", models.BinaryField(verbose_name="content")),
                ("uploaded_at", models.DateTimeField(verbose_name="uploaded at")),
                (
                    "carrier",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="documents",
                        to="carriers.carrier",
                    ),
                ),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "carrier's document",
                "verbose_name_plural": "carriers' documents",
            },
        ),
    ]
