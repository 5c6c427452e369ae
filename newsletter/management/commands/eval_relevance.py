"""manage.py eval_relevance [DAY.json ...]: precision and recall of the digest on
labelled days (newsletter/evaluation.py). Writes nothing: it runs in a transaction
that is rolled back."""

import time
from pathlib import Path

from django.core.management import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from newsletter.evaluation import (
    comparison_report,
    days_load,
    evaluation_report,
    labellers_compare,
    labels_resolve,
    relevance_evaluate,
    second_labels_load,
    second_labels_path,
    topic_changes_load,
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
        parser.add_argument(
            "--topics", metavar="FILE", type=Path,
            help='Change the topics first, as an editor would, for this measurement only: '
                 '{"add": [{"name", "description", "keywords": [lines]}], "switch_off": [slugs or names]} '
                 "(e.g. tests/data/relevance/topic_changes/three_fields_added.json). An added topic is "
                 "scored where the days label it by its name, and only listed otherwise; a switched-off "
                 "topic's labels are set aside. The second labeller's comparison is left out.",
        )

    def handle(self, *args, days: list[str], second_labels: Path | None, topics: Path | None, **options):
        self._started, self._quiet = time.monotonic(), options["verbosity"] == 0
        try:
            # The files first: what is wrong with them is said without a database.
            changes = topic_changes_load(topics) if topics else None
            loaded = days_load([Path(d) for d in days] or None)
            _migrated_or_refuse()
            # With the topics changed, labels are read against the changed topics
            # (relevance_evaluate); otherwise here, before anything is imported.
            seconds = []
            if changes is None:
                loaded = labels_resolve(loaded)
                seconds = labels_resolve([
                    second_labels_load(day=day, path=path) for day in loaded
                    if (path := second_labels_path(day=day, folder=second_labels)) is not None and path.exists()
                ])
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(f"cannot read the labelled days: {exc}") from exc
        if not loaded:
            raise CommandError("no labelled days found")
        try:
            evaluation = relevance_evaluate(days=loaded, topic_changes=changes, progress=self._progress)
        except IngestError as exc:  # an API item of a day that the importer refuses
            raise CommandError(str(exc)) from exc
        except ValueError as exc:  # a label or a topic to switch off that is not there
            raise CommandError(f"cannot measure with {topics}: {exc}") from exc
        comparisons = labellers_compare(evaluation=evaluation, second={d.name: d for d in seconds})
        if changes is not None:
            self.stdout.write(
                f"Topics changed for this measurement ({topics}): "
                f"added {', '.join(t['name'] for t in changes.add) or 'none'}; "
                f"switched off {', '.join(changes.switch_off) or 'none'}.\n"
                "Means are over the topics the days label; a topic with no labels shows its picks only.\n\n"
            )
        self.stdout.write(evaluation_report(evaluation) + comparison_report(comparisons))

    def _progress(self, message: str) -> None:
        """Each step on stderr, so that stdout is the report alone (to keep or diff)."""
        if not self._quiet:
            self.stderr.write(f"  [{time.monotonic() - self._started:4.0f} s] {message}")


def _migrated_or_refuse() -> None:
    """CommandError, saying what to run, on a database not migrated to this code: the
    default topics come from the migrations (a fresh clone's SQLite file has no
    tables before `make run` or `manage.py migrate`)."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        name = connection.settings_dict["NAME"]
        raise CommandError(
            f"the database ({name}) is not migrated: {len(pending)} migration(s) to apply. "
            "Run `manage.py migrate` first (`make eval` does)."
        )
