"""Send the digest on demand: the same ledger and batch sending as the beat task
(newsletter/delivery.py), run in this process with progress. Rerunning it sends
nothing twice: readers with a delivery of the edition are not due any more.

    manage.py send_digests                     today's edition, readers whose hour it is
    manage.py send_digests --latest --now      the newest day with papers, everyone
    manage.py send_digests --date 2025-11-24 --to reader@localhost"""

import datetime as dt

from django.core.management import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from newsletter import delivery
from newsletter.editions import edition_assemble, edition_current
from newsletter.models import Edition
from newsletter.selectors import paper_date_newest
from newsletter.ranking import digest_select, ranking_data_load


class Command(BaseCommand):
    help = "Send the digest to the readers due now (or --now: everyone active)."

    def add_arguments(self, parser):
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--date", type=dt.date.fromisoformat, help="Edition date (default: today's).")
        when.add_argument(
            "--latest", action="store_true",
            help="The edition of the newest day with papers (e.g. the sample day in development).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print who would get which papers.")
        parser.add_argument("--to", metavar="EMAIL", help="Only this subscriber, whatever their hour.")
        parser.add_argument("--now", action="store_true", help="Everyone active, whatever their hour.")

    def handle(self, *args, date=None, latest=False, dry_run=False, to=None, now=False, **options):
        moment = timezone.now()
        if latest:
            date = paper_date_newest()
            if date is None:
                raise CommandError("No papers at all yet: run fetch_papers first.")
        edition = edition_assemble(date=date) if date else edition_current(now=moment)
        if edition is None or not edition.entries.exists():
            newest = paper_date_newest()
            hint = (
                f" The newest day with papers is {newest}: send it with --latest (or --date {newest})"
                ", adding --now for every reader whatever their hour."
                if newest else " Fetch some first: manage.py fetch_papers."
            )
            raise CommandError(
                f"No edition to send: no papers for {date or 'today'}." + hint
            )
        if edition.on_hold:
            raise CommandError(f"{edition} is on hold: nothing goes out until it is released.")
        due = delivery.subscribers_due(now=moment, edition=edition, any_hour=bool(now or to))
        if to:
            due = due.filter(email__iexact=to.strip())
        subscribers = list(due.prefetch_related("topics").order_by("id"))
        if not subscribers:
            self.stdout.write(f"Nobody is due for {edition} (already sent, or not their hour).")
            return
        if dry_run:
            self._table(edition, subscribers)
            return
        self._send(edition, [s.id for s in subscribers], moment)

    def _table(self, edition: Edition, subscribers) -> None:
        data = ranking_data_load(date=edition.date, subscriber_ids=[s.id for s in subscribers])
        self.stdout.write(f"{edition}: {len(subscribers)} reader(s) would get (dry run, nothing sent)")
        width = max(len(s.email) for s in subscribers)
        self.stdout.write(f"{'EMAIL'.ljust(width)}  #  PAPERS (reason) + also trending")
        for subscriber in subscribers:
            selection = digest_select(subscriber=subscriber, date=edition.date, data=data)
            if selection.skip:
                self.stdout.write(f"{subscriber.email.ljust(width)}  -  skipped: nothing matched")
                continue
            lines = [f"{r.paper.title[:60]} ({r.reason})" for r in selection.papers]
            lines += [f"+ {r.paper.title[:60]}" for r in selection.also_trending]
            first, *rest = lines or ["(nothing)"]
            self.stdout.write(f"{subscriber.email.ljust(width)} {len(selection.papers):>2}  {first}")
            for line in rest:
                self.stdout.write(f"{''.ljust(width)}     {line}")

    def _send(self, edition: Edition, subscriber_ids: list[int], moment) -> None:
        with transaction.atomic():
            delivery_ids = delivery.deliveries_create(
                edition=edition, subscriber_ids=subscriber_ids, now=moment
            )
        total, done = len(delivery_ids), 0
        totals = {"sent": 0, "failed": 0, "skipped": 0, "retry": 0}
        for batch in delivery.chunked(delivery_ids):
            outcome = delivery.digest_send_batch(delivery_ids=batch)
            for key in totals:
                totals[key] += len(getattr(outcome, key))
            done += len(batch)
            if total > delivery.BATCH_SIZE:
                self.stdout.write(f"  {done}/{total} processed, {totals['sent']} sent")
        self.stdout.write(
            f"{edition}: {totals['sent']} sent, {totals['failed']} failed, "
            f"{totals['skipped']} skipped"
            + (f", {totals['retry']} left pending for the dispatcher to retry" if totals["retry"] else "")
        )
