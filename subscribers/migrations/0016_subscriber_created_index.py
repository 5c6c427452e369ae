"""The readers by the time they joined, for the admin's list in its order and its
date hierarchy's first and last day (docs/benchmarks.md, "The admin at scale, fourth
pass"). Built CONCURRENTLY on PostgreSQL (sign-ups and status changes write
meanwhile), so the migration is not atomic: if it stops half way, PostgreSQL keeps
an INVALID index of that name; `DROP INDEX CONCURRENTLY subscriber_created_idx` and
migrate again."""

from django.db import migrations, models

from newsletter.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [("subscribers", "0015_left_readers_erased")]
    operations = [AddIndexWithoutLocking(model_name="subscriber", index=models.Index(fields=["created_at", "id"], name="subscriber_created_idx"))]
