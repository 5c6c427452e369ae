"""A new topic's position defaults to after every other topic (models.topic_position_last),
not 0: a topic an editor added stood first on the subscribe form and the preference
centre, above the curated order. Django keeps a callable default in Python, not in the
table: no SQL, and nothing to undo backward."""

from django.db import migrations, models

import newsletter.models


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0040_delivery_paper_ids_gin")]

    operations = [
        migrations.AlterField(
            model_name="topic",
            name="position",
            field=models.PositiveSmallIntegerField(default=newsletter.models.topic_position_last,
                                                   help_text="Display order, lowest first."),
        ),
    ]
