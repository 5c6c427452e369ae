"""A keyword line may start with "not:": another field's term of art that contains
one of the topic's words, whose words then count for nothing
(newsletter/relevance.py). The default topics get the ones every reader of the
field knows, chosen from the terms themselves, not from any labelled paper:

- "Post-training recipes" matches "post-training", which in model compression
  names something else: post-training quantization, pruning, sparsity (GPTQ,
  SmoothQuant and their kin are efficiency papers, not fine-tuning recipes);
- "Alignment & safety" matches "alignment", which in multimodal and transfer
  learning names matching representations (image-text, cross-modal, modality,
  feature, domain alignment) and in biology sequence alignment;
- "Continual learning" matches "replay"; experience replay is reinforcement
  learning's (DQN's) buffer;
- "Visual recognition" matches "backbone"; a language model backbone is not a
  vision one;
- "Graph learning" matches "graph"; a computation graph is autodiff's.

A topic an editor has re-slugged is not found and stays as it is; a line already
there is not added twice. The papers whose topic tags rested on one of those
words (PaperTopic.matched_terms) are re-scored as after migrations 0013 and 0014:
their vectors are cleared, so bootstrap scores those of the newest days again
before the site serves and the beat task "Score papers left without a vector"
the rest (`manage.py rescore_topics` does all at once)."""

from django.db import migrations, models

NOT_PHRASES = {
    "post-training": [
        "post-training quantization", "post-training pruning", "post-training sparsity",
        "post-training sparsification", "post-training compression",
    ],
    "alignment": [
        "image-text alignment", "text-image alignment", "cross-modal alignment", "modality alignment",
        "vision-language alignment", "feature alignment", "domain alignment", "sequence alignment",
    ],
    "continual-learning": ["experience replay"],
    "visual-recognition": ["LLM backbone", "language model backbone"],
    "graph-learning": ["computation graph", "computational graph"],
}
# The keywords each topic's phrases contain: a tag that matched one may change.
CONTAINED = {
    "post-training": {"post-training"}, "alignment": {"alignment"}, "continual-learning": {"replay"},
    "visual-recognition": {"backbone"}, "graph-learning": {"graph", "graphs"},
}


def phrases_add(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    PaperTopic = apps.get_model("newsletter", "PaperTopic")
    Paper = apps.get_model("newsletter", "Paper")
    for topic in Topic.objects.filter(slug__in=NOT_PHRASES):
        lines = [line.strip() for line in topic.keywords.splitlines() if line.strip()]
        new = [f"not:{phrase}" for phrase in NOT_PHRASES[topic.slug] if f"not:{phrase}" not in lines]
        if not new:
            continue
        topic.keywords = "\n".join([*lines, *new])
        topic.save(update_fields=["keywords"])
        stale = [paper_id for paper_id, terms in
                 PaperTopic.objects.filter(topic=topic).values_list("paper_id", "matched_terms")
                 if isinstance(terms, list) and CONTAINED[topic.slug] & set(terms)]
        for start in range(0, len(stale), 1000):
            Paper.objects.filter(pk__in=stale[start:start + 1000]).update(embedding=None)


def phrases_remove(apps, schema_editor):
    Topic = apps.get_model("newsletter", "Topic")
    for topic in Topic.objects.filter(slug__in=NOT_PHRASES):
        added = {f"not:{phrase}" for phrase in NOT_PHRASES[topic.slug]}
        topic.keywords = "\n".join(line for line in topic.keywords.splitlines() if line.strip() not in added)
        topic.save(update_fields=["keywords"])


class Migration(migrations.Migration):

    dependencies = [
        ("newsletter", "0015_page_tag_debt"),
    ]

    operations = [
        migrations.AlterField(
            model_name="topic",
            name="keywords",
            field=models.TextField(
                blank=True,
                help_text="One term or phrase per line. Prefix a line with 'title:' to match only titles, "
                          "or with 'not:' for another field's term that contains one of these words and must "
                          "not count for this topic (e.g. 'not:post-training quantization').",
            ),
        ),
        migrations.RunPython(phrases_add, phrases_remove),
    ]
