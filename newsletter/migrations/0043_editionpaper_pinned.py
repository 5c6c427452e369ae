"""EditionPaper.pinned: whether a paper was an editors' pick in an edition, fixed once
the edition is frozen, so its archive page and its readers' web copies keep the pick
they were sent with (a pin or unpin after the send read through to them). A column
with a database default (the release before still writes entries), then filled from
the papers' pins as they stand now: for editions frozen before this column, what
they were sent with is not known, and the current pin is the best there is."""

from django.db import migrations, models


def pins_copy(apps, schema_editor):
    EditionPaper = apps.get_model("newsletter", "EditionPaper")
    EditionPaper.objects.filter(paper__pinned=True).update(pinned=True)


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0042_paper_picture_missing_at")]

    operations = [
        migrations.AddField(
            model_name="editionpaper",
            name="pinned",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(pins_copy, migrations.RunPython.noop, elidable=True),
    ]
