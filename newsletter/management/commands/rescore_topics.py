"""manage.py rescore_topics: recompute the topics' vectors and every paper's topic
scores (after an upgrade that changed the default topics or the relevance model)."""

from django.core.management import BaseCommand

from newsletter.relevance import topics_rescore


class Command(BaseCommand):
    help = "Re-score every paper against every active topic."

    def handle(self, *args, **options):
        topics_rescore()
        self.stdout.write("Topics re-scored.")
