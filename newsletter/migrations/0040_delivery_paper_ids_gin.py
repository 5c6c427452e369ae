"""The ledger's rows by a paper they carried (Delivery.paper_ids), for "Who got it",
the link an editor gets after hiding a paper that went out: a GIN index of the JSON
arrays (jsonb_path_ops, which answers `paper_ids @> '[id]'`). Without it the list of a
paper of seven weeks before read 2.3 to 2.7 s at 8.4 million rows: PostgreSQL read
every row of the ledger for those that carry it (docs/benchmarks.md, "Who got a paper
of weeks ago"). 94 MB there, built in 15 s.

PostgreSQL only, and not in Delivery.Meta.indexes (migration_operations.PostgreSQLIndex
says why). Built CONCURRENTLY (sends and the ESP's webhook write meanwhile), so the
migration is not atomic: if it stops half way, PostgreSQL keeps an INVALID index of
that name, which the next `migrate` drops and builds again."""

from django.db import migrations

from newsletter.migration_operations import PostgreSQLIndex


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY runs outside a transaction
    dependencies = [("newsletter", "0039_intervals_in_words")]
    operations = [PostgreSQLIndex("delivery_paper_ids_gin", '"newsletter_delivery" USING gin ("paper_ids" jsonb_path_ops)')]
