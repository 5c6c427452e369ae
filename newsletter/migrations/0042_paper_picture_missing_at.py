"""Paper.picture_missing_at: when this site last failed to fetch a paper's picture
(newsletter/pictures.py), so pages and digests show none instead of a broken box. A
nullable column: no rewrite of the table, every paper starts as not known missing."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0041_new_topic_goes_last")]

    operations = [
        migrations.AddField(
            model_name="paper",
            name="picture_missing_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
