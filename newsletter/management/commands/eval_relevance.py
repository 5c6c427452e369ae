"""manage.py eval_relevance [DAY.json ...]: precision and recall of the digest on
labelled days (newsletter/evaluation.py). Writes nothing: it runs in a transaction
that is rolled back."""

from pathlib import Path

from django.core.management import BaseCommand, CommandError

from newsletter.evaluation import days_load, evaluation_report, labels_resolve, relevance_evaluate
from newsletter.ingest import IngestError


class Command(BaseCommand):
    help = "Measure relevance (P@5, R@10, empty digests, feedback) on labelled days."

    def add_arguments(self, parser):
        parser.add_argument("days", nargs="*", help="Labelled day files (default: tests/data/relevance/*.json).")

    def handle(self, *args, days: list[str], **options):
        try:
            loaded = labels_resolve(days_load([Path(d) for d in days] or None))
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read the labelled days: {exc}") from exc
        if not loaded:
            raise CommandError("no labelled days found")
        try:
            evaluation = relevance_evaluate(days=loaded)
        except IngestError as exc:  # an API item of a day that the importer refuses
            raise CommandError(str(exc)) from exc
        self.stdout.write(evaluation_report(evaluation))
