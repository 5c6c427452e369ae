"""An owed email's reader loses the foreign key's own index: owed_email_unique
starts with the reader (tests/architecture/test_indexes.py). Dropped CONCURRENTLY
on PostgreSQL, so the migration is not atomic; if it stops half way, migrate again
(the drop says IF EXISTS)."""

import django.db.models.deletion
from django.db import migrations, models

from newsletter.migration_operations import ForeignKeyIndexDropWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [
        ('subscribers', '0016_subscriber_created_index'),
    ]

    operations = [
        ForeignKeyIndexDropWithoutLocking(
            model_name='owedemail',
            name='subscriber',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='subscribers.subscriber'),
        ),
    ]
