"""The ledger's `reasons` (0018) and the outbox's `attachments` (0026) keep a database
default, an empty list: the release before them inserts rows without these columns,
and with Django's AddField (which drops the default it adds with) every such insert
failed ("null value in column "reasons" … violates not-null constraint"). That
release runs against this schema while an upgrade migrates (a worker or beat not yet
stopped) and after a rollback that keeps the schema (README, "Upgrading"). SET
DEFAULT changes the catalogue only: no table rewrite."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("newsletter", "0027_editor_sets_the_fetch_time"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="reasons",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
        migrations.AlterField(
            model_name="outboxemail",
            name="attachments",
            field=models.JSONField(blank=True, db_default=[], default=list),
        ),
    ]
