"""A trigram index of the readers' addresses (PostgreSQL's pg_trgm), for the searches
by part of an address of those who see addresses: the readers' list and the
deliveries' (newsletter/admin.py, DeliveryAdmin.get_search_results). Django's
`icontains` runs as UPPER(email) LIKE UPPER('%…%'), which no b-tree serves: each
search read every reader (40 ms at 100,000, four times a page) and the deliveries'
joined them to the whole ledger (2 to 6 s at 2 million rows, docs/benchmarks.md,
"The admin at scale, second pass").

PostgreSQL only, and not in the models' state (migration_operations.PostgreSQLIndex
says why). pg_trgm is a trusted extension (PostgreSQL 13+):
a database owner may create it without being a superuser."""

from django.db import migrations

from newsletter.migration_operations import PostgreSQLIndex


class Migration(migrations.Migration):

    dependencies = [
        ("subscribers", "0013_subscriber_email_upper_index"),
    ]

    operations = [
        PostgreSQLIndex("subscriber_email_trgm_idx", '"subscribers_subscriber" USING gin ((UPPER("email"::text)) gin_trgm_ops)',
                        before=("CREATE EXTENSION IF NOT EXISTS pg_trgm",)),
    ]
