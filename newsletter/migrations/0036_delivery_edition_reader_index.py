"""The ledger's rows by edition, then reader: "no row of this edition yet" reads them
once instead of probing the unique constraint's (subscriber, edition) once per reader
(docs/benchmarks.md, "The admin at scale, fourth pass"). Built CONCURRENTLY on
PostgreSQL (10 s at 8.4 million rows; sends and the ESP's webhook write meanwhile),
so the migration is not atomic: if it stops half way, PostgreSQL keeps an INVALID
index of that name; `DROP INDEX CONCURRENTLY delivery_edition_reader_idx` and
migrate again."""

from django.db import migrations, models

from newsletter.migration_operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [("newsletter", "0035_retention")]
    operations = [AddIndexWithoutLocking(model_name="delivery", index=models.Index(fields=["edition", "subscriber"], name="delivery_edition_reader_idx"))]
