"""Topic.is_broad: a topic may be an umbrella over others, and then yields to them
(newsletter/relevance.py, _broad_yield).

The default "Language models & pre-training" is one because of what it is: the
field the reasoning, agents, post-training, alignment, code, retrieval and
efficiency topics are parts of, so every LLM paper is close to it. A topic an
editor has re-slugged is not found and stays as it is. Papers are re-scored by
`manage.py rescore_topics`, as after migrations 0008 and 0011."""

from django.db import migrations, models

BROAD_DEFAULT_TOPICS = ["llm-pretraining"]


def broad_apply(apps, schema_editor):
    apps.get_model("newsletter", "Topic").objects.filter(slug__in=BROAD_DEFAULT_TOPICS).update(is_broad=True)


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0011_topic_builtin_examples")]

    operations = [
        migrations.AddField(
            model_name="topic",
            name="is_broad",
            field=models.BooleanField(
                default=False, verbose_name="broad topic",
                help_text="A broad field that contains other topics (as language models contain reasoning, "
                          "agents, alignment ...): a paper another topic explains better comes after the "
                          "papers about this field itself.",
            ),
        ),
        migrations.RunPython(broad_apply, migrations.RunPython.noop),
    ]
