"""manage.py retention_apply [--batch-size N]: apply docs/data-retention.md now, as
the daily beat task does (newsletter/retention.py), printing each step's progress."""

from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from newsletter.retention import PRUNE_BATCH_SIZE, retention_apply


class Command(BaseCommand):
    help = "Erase and delete what is past its time (docs/data-retention.md), in batches, with progress."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=PRUNE_BATCH_SIZE,
                            help=f"Rows deleted a statement (default {PRUNE_BATCH_SIZE}).")

    def handle(self, *args, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        kept = {"readers who left": settings.UNSUBSCRIBED_KEPT_DAYS, "ledger": settings.LEDGER_KEPT_DAYS}
        self.stdout.write("Keeping " + ", ".join(
            f"{what} {days} days" if days else f"{what} for ever" for what, days in kept.items()) + ".")

        def progress(step: str, done: int) -> None:
            self.stdout.write(f"  {step}: {done:,}")

        done = retention_apply(batch_size=batch_size, progress=progress)
        self.stdout.write(
            f"Done: {done.unconfirmed_readers:,} unconfirmed and {done.readers_left:,} departed "
            f"reader{pluralize(done.unconfirmed_readers + done.readers_left)} erased, "
            f"{done.deliveries:,} delivery row{pluralize(done.deliveries)} and {done.events:,} "
            f"event{pluralize(done.events)} deleted, {done.event_payloads:,} event "
            f"payload{pluralize(done.event_payloads)} emptied.")
