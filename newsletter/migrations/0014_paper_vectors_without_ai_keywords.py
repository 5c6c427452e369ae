"""A paper's vector is now made from its title, abstract and AI summary, without the
API's AI keywords (newsletter/embeddings.py, paper_text; the measurement in
docs/relevance.md). The stored vectors of papers that have AI keywords were made
from the old text: cleared, so they are made again (bootstrap re-scores the newest
days before the site serves, the beat task "Score papers left without a vector" the
rest; `manage.py rescore_topics` all at once). Papers without AI keywords keep
theirs: their text did not change."""

from django.db import migrations


def vectors_clear(apps, schema_editor):
    Paper = apps.get_model("newsletter", "Paper")
    stale = [pk for pk, keywords in Paper.objects.exclude(embedding=None).values_list("pk", "ai_keywords")
             if isinstance(keywords, list) and any(isinstance(k, str) and k.strip() for k in keywords)]
    for start in range(0, len(stale), 1000):
        Paper.objects.filter(pk__in=stale[start:start + 1000]).update(embedding=None)


class Migration(migrations.Migration):

    dependencies = [
        ('newsletter', '0013_vectors_of_two_models'),
    ]

    operations = [
        migrations.RunPython(vectors_clear, migrations.RunPython.noop),
    ]
