"""manage.py eval_relevance [DAY.json ...]: precision and recall of the digest on
labelled days (newsletter/evaluation.py). Writes nothing: it runs in a transaction
that is rolled back."""

from pathlib import Path

from django.core.management import BaseCommand, CommandError

from newsletter.evaluation import (
    comparison_report,
    days_load,
    evaluation_report,
    labellers_compare,
    labels_resolve,
    relevance_evaluate,
    second_labels_load,
    second_labels_path,
)
from newsletter.ingest import IngestError


class Command(BaseCommand):
    help = "Measure relevance (P@5, R@10, empty digests, feedback) on labelled days."

    def add_arguments(self, parser):
        parser.add_argument("days", nargs="*", help="Labelled day files (default: tests/data/relevance/*.json).")
        parser.add_argument(
            "--second-labels", metavar="DIR", type=Path,
            help="A second person's labels of some of the days, one DAY.json each: the figures by their "
                 "labels, and how far they reach (default: tests/data/relevance/second_labeller, for the "
                 "project's own days only).",
        )

    def handle(self, *args, days: list[str], second_labels: Path | None, **options):
        try:
            loaded = labels_resolve(days_load([Path(d) for d in days] or None))
            seconds = labels_resolve([
                second_labels_load(day=day, path=path) for day in loaded
                if (path := second_labels_path(day=day, folder=second_labels)) is not None and path.exists()
            ])
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read the labelled days: {exc}") from exc
        if not loaded:
            raise CommandError("no labelled days found")
        try:
            evaluation = relevance_evaluate(days=loaded)
        except IngestError as exc:  # an API item of a day that the importer refuses
            raise CommandError(str(exc)) from exc
        comparisons = labellers_compare(evaluation=evaluation, second={d.name: d for d in seconds})
        self.stdout.write(evaluation_report(evaluation) + comparison_report(comparisons))

