"""Editors may move the morning fetch (or switch it off): change beat's schedules
(newsletter/admin_beat.py lets them change that one only) and add a daily schedule
to move it to."""

from django.db import migrations

PERMISSIONS = (("django_celery_beat", "change_periodictask"), ("django_celery_beat", "add_crontabschedule"))


def editor_schedules_grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Editor").first()
    if group is not None:
        group.permissions.add(*[Permission.objects.get(content_type__app_label=app, codename=codename)
                                for app, codename in PERMISSIONS])


def editor_schedules_revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name="Editor").first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(
            content_type__app_label="django_celery_beat", codename__in=[c for _, c in PERMISSIONS]))


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0023_constraint_messages")]

    operations = [migrations.RunPython(editor_schedules_grant, editor_schedules_revoke)]
