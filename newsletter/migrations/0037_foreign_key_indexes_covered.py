"""The foreign keys of the ledger, the editions' notes and papers, feedback and
paper topics lose their own index: another index starts with each key's column
(the ledger's delivery_subscriber_edition_unique, delivery_edition_status_idx and
delivery_edition_reader_idx; edition_note_set_at_idx, edition_paper_unique,
feedback_once_per_paper, paper_topic_unique, papertopic_topic_score_idx), so the
key's own index only cost every write and the disk (tests/architecture/
test_indexes.py). Dropped CONCURRENTLY on PostgreSQL, so the migration is not
atomic; if it stops half way, migrate again (the drops say IF EXISTS)."""

import django.db.models.deletion
from django.db import migrations, models

from newsletter.migration_operations import ForeignKeyIndexDropWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [
        ('newsletter', '0036_delivery_edition_reader_index'),
        ('subscribers', '0016_subscriber_created_index'),
    ]

    operations = [
        ForeignKeyIndexDropWithoutLocking(
            model_name='delivery',
            name='edition',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='newsletter.edition'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='delivery',
            name='subscriber',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='subscribers.subscriber'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='editionnote',
            name='edition',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='note_versions', to='newsletter.edition'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='editionpaper',
            name='edition',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='newsletter.edition'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='feedback',
            name='subscriber',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='feedback', to='subscribers.subscriber'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='papertopic',
            name='paper',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='topic_scores', to='newsletter.paper'),
        ),
        ForeignKeyIndexDropWithoutLocking(
            model_name='papertopic',
            name='topic',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='paper_scores', to='newsletter.topic'),
        ),
    ]
