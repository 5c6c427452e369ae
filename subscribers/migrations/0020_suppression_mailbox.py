"""A suppression covers the mailbox (subscribers/suppression.py, mailbox_hash): each
row keeps the keyed hash of the mailbox its address reaches, beside the address's.

The list keeps no address, so a row's mailbox is known only from a subscriber who
still has its address (a bounced or complained reader, kept suppressed): those are
filled here. A row whose address nobody holds any more (an erased reader, an ESP's
report of an address that was never a reader) keeps "" and covers its own spelling
only, as before; address_suppress fills it when that address is suppressed again.
The column has a database default: the release before this one, still running
during an upgrade, inserts rows without it (tests/newsletter/test_migrations.py)."""

from django.db import migrations, models

from subscribers.suppression import email_hash, mailbox_hash

CHUNK = 2000


def mailboxes_fill(apps, schema_editor):
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Suppression = apps.get_model("subscribers", "Suppression")
    unfilled = set(Suppression.objects.filter(mailbox_hash="").values_list("email_hash", flat=True))
    if not unfilled:
        return
    mailboxes = {}
    for email in Subscriber.objects.values_list("email", flat=True).iterator(chunk_size=CHUNK):
        if (hashed := email_hash(email)) in unfilled:
            mailboxes[hashed] = mailbox_hash(email)
    rows = list(Suppression.objects.filter(email_hash__in=list(mailboxes)).only("pk", "email_hash"))
    for row in rows:
        row.mailbox_hash = mailboxes[row.email_hash]
    Suppression.objects.bulk_update(rows, ["mailbox_hash"], batch_size=CHUNK)


class Migration(migrations.Migration):

    dependencies = [
        ('subscribers', '0019_email_change'),
    ]

    operations = [
        migrations.AddField(
            model_name='suppression',
            name='mailbox_hash',
            field=models.CharField(blank=True, db_default='', default='', editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name='suppression',
            index=models.Index(fields=['mailbox_hash'], name='suppression_mailbox_idx'),
        ),
        # Going back drops the column: nothing to undo.
        migrations.RunPython(mailboxes_fill, migrations.RunPython.noop),
    ]
