"""Editors move the morning fetch with a time of day (newsletter/admin_beat.py finds
or makes the daily schedule behind it), not by adding a crontab in django-celery-
beat's raw page: their group no longer adds crontabs, and the fetch's description,
where it is still the one written by 0024's release, says how it is moved now."""

from django.db import migrations

FETCH = "Fetch today's trending papers (every morning)"
BEFORE = ("Fetches the day's trending papers from Hugging Face and makes the day's edition; "
          "it also fetches the weekday before again, for the papers listed late and the final "
          "upvotes. Readers whose hour comes before it get the day before's edition. Move it "
          "by choosing another schedule (one hour and one minute); switched off, no new "
          "papers come in and readers get no new edition.")
AFTER = ("Fetches the day's trending papers from Hugging Face and makes the day's edition; "
         "it also fetches the weekday before again, for the papers listed late and the final "
         "upvotes. Readers whose hour comes before it get the day before's edition. Move it "
         "with \u201cEvery day at\u201d; switched off, no new papers come in and readers get "
         "no new edition.")


def _change(apps, *, editors_add_crontabs: bool, description: str, was: str) -> None:
    Permission = apps.get_model("auth", "Permission")
    crontab_add = Permission.objects.filter(content_type__app_label="django_celery_beat",
                                            codename="add_crontabschedule")
    group = apps.get_model("auth", "Group").objects.filter(name="Editor").first()
    if group is not None:
        (group.permissions.add if editors_add_crontabs else group.permissions.remove)(*crontab_add)
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=FETCH, description=was).update(description=description)


def forward(apps, schema_editor):
    _change(apps, editors_add_crontabs=False, description=AFTER, was=BEFORE)


def backward(apps, schema_editor):
    _change(apps, editors_add_crontabs=True, description=BEFORE, was=AFTER)


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0026_outbox_attachments"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(forward, backward)]
