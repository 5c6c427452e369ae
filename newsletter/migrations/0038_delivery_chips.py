"""Delivery.chips: the topics the email showed beside each paper, for the reader's
web copy. A database default, like `reasons` (0028): the release before it inserts
rows without the column."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("newsletter", "0037_foreign_key_indexes_covered"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="chips",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
    ]
