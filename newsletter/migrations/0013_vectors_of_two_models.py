"""Paper and topic vectors are now WordLlama and all-MiniLM-L6-v2 side by side
(newsletter/embeddings.py): the stored WordLlama-only vectors are cleared. A vector
of another size would read as missing anyway (embeddings.vector_unpack); clearing
them makes that explicit. Topics' vectors are made again at their next use, papers'
at their next import; `manage.py rescore_topics` makes all of them and every topic
score (bootstrap runs it when papers lack a vector: about 0.1 s a paper). A broad
topic now leaves a paper another topic explains better to it (help text)."""

from django.db import migrations, models


def vectors_clear(apps, schema_editor):
    apps.get_model("newsletter", "Paper").objects.exclude(embedding=None).update(embedding=None)
    apps.get_model("newsletter", "Topic").objects.update(embedding=None, exemplar_embedding=None)


class Migration(migrations.Migration):

    dependencies = [
        ('newsletter', '0012_topic_is_broad'),
    ]

    operations = [
        migrations.AlterField(
            model_name='topic',
            name='is_broad',
            field=models.BooleanField(default=False, help_text='A broad field that contains other topics (as language models contain reasoning, agents, alignment ...): a paper another topic explains better goes to that topic, not to this one.', verbose_name='broad topic'),
        ),
        migrations.RunPython(vectors_clear, migrations.RunPython.noop),
    ]
