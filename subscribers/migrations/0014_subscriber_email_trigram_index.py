"""A trigram index of the readers' addresses (PostgreSQL's pg_trgm), for the searches
by part of an address of those who see addresses: the readers' list and the
deliveries' (newsletter/admin.py, DeliveryAdmin.get_search_results). Django's
`icontains` runs as UPPER(email) LIKE UPPER('%…%'), which no b-tree serves: each
search read every reader (40 ms at 100,000, four times a page) and the deliveries'
joined them to the whole ledger (2 to 6 s at 2 million rows, docs/benchmarks.md,
"The admin at scale, second pass").

PostgreSQL only, and not in the models' state: SQLite (development) has no GIN
index, and Django's SQLite schema editor rebuilds a table with every index of its
state whenever a later migration alters a column, so a GinIndex in Subscriber.Meta
would break such a migration there. pg_trgm is a trusted extension (PostgreSQL 13+):
a database owner may create it without being a superuser."""

from django.db import migrations

INDEX = "subscriber_email_trgm_idx"


def index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS {INDEX} ON "subscribers_subscriber" '
                          'USING gin ((UPPER("email"::text)) gin_trgm_ops)')


def index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0013_subscriber_email_upper_index"),
    ]

    operations = [
        migrations.RunPython(index_create, index_drop, elidable=False),
    ]
