"""The readers at other spellings of a mailbox suppressed before 0020 are suppressed
too, their links retired, as a suppression recorded now does (address_suppress).

Until 0020 a suppression covered its own spelling, and address_suppress marked the
reader at that spelling only; 0020 gave the rows of known addresses their mailbox,
so the digest batch and the readers' pages skip the other spellings (every check
reads either hash), but their readers kept status "active": the admin's status
column, the dashboard's counts and their own pages said so, and their manage links
kept opening the preference centre. 0020 also gave a bounce of a "+tag" spelling
at a domain that may refuse tags (addresses.mailbox_reached) its mailbox's hash,
which 4ebda3c's rule keeps at "" (that spelling only): such rows get "" back.

suppression.suppressions_reapply does it with this migration's models, calling
suppression_apply, which address_suppress calls for every row it writes: one rule
for what a row covers (erasures their own spelling, a tagged bounce where tags may
be refused its own spelling, the rest the mailbox), and the same retiring of links.
No ConsentRecord: address_suppress writes none. A row whose address no reader holds
any more cannot be applied (the list keeps hashes only); its checks still cover the
mailbox it has.

Data only: the release before this one runs on the same schema. Going back changes
nothing: which readers were active before is not kept, and putting them back would
mail a mailbox that bounced or complained (the digest skipped them already)."""

from django.db import migrations

from subscribers.suppression import suppressions_reapply


def mailbox_readers_suppress(apps, schema_editor):
    suppressions_reapply(apps=apps)


class Migration(migrations.Migration):
    # A hundred rows a transaction (suppressions_reapply), not the whole list in one:
    # web goes on serving during an upgrade, and a reader's unsubscribe would wait for
    # the whole run (over 2 minutes at 1,000,000 readers, docs/benchmarks.md) on the
    # row locks it held. Stopped half way, migrating again does the rest (a second run
    # changes nothing that is done).
    atomic = False

    dependencies = [
        ('subscribers', '0020_suppression_mailbox'),
    ]

    operations = [
        migrations.RunPython(mailbox_readers_suppress, migrations.RunPython.noop),
    ]
