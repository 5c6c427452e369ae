"""Send the digest on demand: the dispatcher's own functions (newsletter/delivery.py),
with the batches sent in this process and progress shown. Rerunning it sends
nothing twice: readers with a delivery of the edition are not due any more.

    manage.py send_digests                     today's edition, readers whose hour it is
    manage.py send_digests --latest --now      the newest day with papers, everyone
    manage.py send_digests --date 2025-11-24 --to reader@localhost"""

import datetime as dt

import redis
from django.conf import settings
from django.core.management import BaseCommand, CommandError
from django.utils import timezone
from kombu.utils.url import maybe_sanitize_url

from newsletter import delivery, digest
from newsletter.due import subscribers_due
from newsletter.editions import edition_assemble, edition_current
from newsletter.health import redis_check
from newsletter.models import Delivery
from newsletter.ranking import ranking_data_load
from newsletter.selectors import paper_date_newest
from newsletter.sending import BatchOutcome

# Readers named per reason after a run; the rest are counted.
REASON_EMAILS_SHOWN = 5
NOBODY_DUE = "every reader had it already (sent or skipped: Admin → Deliveries says why)"
# Said only when the hour counted: after --now (`make digest`) or --to it cannot be why.
NOT_THEIR_HOUR = ", or it is not their hour (--now sends whatever the hour)"


def _by_reason(rows) -> dict[str, list[str]]:
    """{reason: the readers' addresses} of these deliveries, most readers first."""
    out: dict[str, list[str]] = {}
    for reason, email in rows.order_by("subscriber__email").values_list("error", "subscriber__email"):
        out.setdefault(reason or "no reason recorded", []).append(email)
    return dict(sorted(out.items(), key=lambda item: -len(item[1])))


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
        parser.add_argument("--now", action="store_true", help="Everyone active, whatever their hour (weekly readers whatever their weekday).")

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
            raise CommandError(f"No edition to send: no papers for {date or 'today'}." + hint)
        if edition.on_hold:
            raise CommandError(f"{edition} is on hold: nothing goes out until it is released.")
        nobody_due = f"Nobody is due for {edition}: {NOBODY_DUE}{'' if now or to else NOT_THEIR_HOUR}."
        if dry_run:
            self._dry_run(edition, list(
                # Their topics come with the ranking data (ranking_data_load).
                subscribers_due(now=moment, edition=edition, any_hour=now, email=to).order_by("id")
            ), nobody_due=nobody_due)
            return
        try:
            redis_check()
        except redis.RedisError as exc:
            # Sending writes each message's journal and takes the provider's rate there
            # (mail/esp.py): without it every digest would wait for the dispatcher.
            raise CommandError(
                f"Redis at {maybe_sanitize_url(settings.REDIS_URL)} does not answer ({exc}). Sending needs it: "
                f"start `make run` (it starts its embedded Redis), or set REDIS_URL. Nothing was sent."
            ) from None
        ids = delivery.edition_send(edition=edition, now=moment, any_hour=now, email=to, queue=False)
        if not ids:
            self.stdout.write(nobody_due)
            return
        totals = delivery.deliveries_send_inline(delivery_ids=ids, progress=self._progress)
        self.stdout.write(
            f"{edition}: {len(totals.sent)} sent, {len(totals.failed)} failed, "
            f"{len(totals.skipped)} skipped"
            + (f", {len(totals.retry)} not sent yet (the email provider was busy or away): the workers "
               "try again within about 2 minutes, if beat and a worker run" if totals.retry else "")
        )
        # Why, as the ledger (Admin → Deliveries) has it: a reader who gets nothing
        # should not have to look there to learn it was their own settings.
        for status in (Delivery.Status.SKIPPED, Delivery.Status.FAILED):
            rows = Delivery.objects.filter(pk__in=[*totals.skipped, *totals.failed], status=status)
            for reason, emails in _by_reason(rows).items():
                shown = ", ".join(emails[:REASON_EMAILS_SHOWN]) + (
                    f" and {len(emails) - REASON_EMAILS_SHOWN} more" if len(emails) > REASON_EMAILS_SHOWN else "")
                self.stdout.write(f"  {status.label.lower()} ({reason}): {shown}")

    def _progress(self, done: int, total: int, outcome: BatchOutcome) -> None:
        if total > delivery.BATCH_SIZE:
            self.stdout.write(f"  {done}/{total} processed, {len(outcome.sent)} sent")

    def _dry_run(self, edition, subscribers, *, nobody_due: str) -> None:
        """Each reader's digest made as it would be sent (digest.digest_make), not sent."""
        if not subscribers:
            self.stdout.write(nobody_due)
            return
        data = ranking_data_load(date=edition.date, subscriber_ids=[s.id for s in subscribers])
        self.stdout.write(f"{edition}: {len(subscribers)} reader(s) would get (dry run, nothing sent)")
        width = max(len(s.email) for s in subscribers)
        self.stdout.write(f"{'EMAIL'.ljust(width)}  #  PAPERS (reason); ~ closest, when nothing matched; + also trending")
        for subscriber in subscribers:
            made = digest.digest_make(edition=edition, subscriber=subscriber, data=data)
            if made.message is None:
                self.stdout.write(f"{subscriber.email.ljust(width)}  -  skipped: nothing matched")
                continue
            selection = made.selection
            lines = [f"{r.paper.title[:60]} ({r.reason})" for r in selection.papers]
            # A day when nothing matched them: the closest papers, offered as such
            # (the preview stopped here with a ValueError, as these were not listed).
            lines += [f"~ {r.paper.title[:60]} ({r.reason})" for r in selection.closest]
            lines += [f"+ {r.paper.title[:60]}" for r in selection.also_trending]
            first, *rest = lines or ["(an email with no paper)"]
            self.stdout.write(f"{subscriber.email.ljust(width)} {len(selection.papers):>2}  {first}")
            for line in rest:
                self.stdout.write(f"{''.ljust(width)}     {line}")
