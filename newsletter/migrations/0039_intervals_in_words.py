"""Beat's intervals kept in seconds ("every 86400 seconds" in the admin's list of
schedules) are kept in the longest of its periods they are a whole number of
("every day", "every 5 minutes"), as schedules_ensure makes them now
(schedules.interval_in_periods, copied here as it was: a migration does not change
with the code that came after it). The same interval, said otherwise: a task keeps its last run, and
beat reloads its schedules (PeriodicTasks' last update). Backward: nothing to undo,
the release before reads any period."""

from django.db import migrations
from django.utils import timezone

# Beat's periods longer than a second, longest first, with their length in seconds.
PERIODS = (("days", 86400), ("hours", 3600), ("minutes", 60))


def interval_in_periods(seconds: int) -> tuple[int, str]:
    for period, length in PERIODS:
        if seconds >= length and seconds % length == 0:
            return seconds // length, period
    return seconds, "seconds"


def forward(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    moved = False
    for old in IntervalSchedule.objects.filter(period="seconds"):
        every, period = interval_in_periods(old.every)
        if period == "seconds":
            continue
        new = (IntervalSchedule.objects.filter(every=every, period=period).first()
               or IntervalSchedule.objects.create(every=every, period=period))
        PeriodicTask.objects.filter(interval=old).update(interval=new)
        old.delete()
        moved = True
    if moved:
        apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
            ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0038_delivery_chips"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
