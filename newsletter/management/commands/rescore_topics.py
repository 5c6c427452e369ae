"""manage.py rescore_topics: recompute the topics' vectors and every paper's topic
scores (after an upgrade that changed the default topics or the relevance model),
with the papers' vectors that are missing or of an earlier model."""

from django.core.management import BaseCommand

from newsletter.relevance import topics_rescore


def progress_printer(stdout):
    """`progress(done, total)` for topics_rescore: one line per chunk of papers."""

    def progress(done: int, total: int) -> None:
        stdout.write(f"  {done:,} of {total:,} papers re-scored")

    return progress


class Command(BaseCommand):
    help = "Re-score every paper against every active topic."

    def handle(self, *args, **options):
        topics_rescore(progress=progress_printer(self.stdout))
        self.stdout.write("Topics re-scored.")
