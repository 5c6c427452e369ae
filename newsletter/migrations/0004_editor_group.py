"""The "Editor" group: curate papers, topics and editions, see the ledger and the
figures, look after subscribers (suppress, resend confirmation) — but never export
or delete subscriber data (no delete_* on subscriber models, no
export_subscriber_data). Superusers can do everything."""

from django.db import migrations

EDITOR_GROUP = "Editor"
EDITOR_PERMISSIONS = {
    "newsletter": {
        "paper": ("add", "change", "delete", "view"),
        "papertopic": ("add", "change", "delete", "view"),
        "topic": ("add", "change", "view"),
        "edition": ("change", "view"),
        "editionpaper": ("add", "change", "delete", "view"),
        "delivery": ("change", "view"),
        "deliveryevent": ("view",),
        "feedback": ("view",),
        "outboxemail": ("view",),
    },
    "subscribers": {
        "subscriber": ("add", "change", "view"),
        "consentrecord": ("view",),
        "suppression": ("add", "change", "view"),
        "blockeddomain": ("add", "change", "delete", "view"),
    },
    "django_celery_beat": {
        "periodictask": ("view",),
        "crontabschedule": ("view",),
    },
}


def editor_group_create(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create
    # them now so a fresh database gets a complete group.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # Migration state apps have no models module; create_permissions skips those.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=EDITOR_GROUP)
    codenames = [
        (app, f"{action}_{model}")
        for app, models in EDITOR_PERMISSIONS.items()
        for model, actions in models.items()
        for action in actions
    ]
    permissions = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in codenames
    ]
    group.permissions.add(*permissions)


def editor_group_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=EDITOR_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("newsletter", "0003_editions_deliveries"),
        ("subscribers", "0003_export_permission"),
    ]

    operations = [migrations.RunPython(editor_group_create, editor_group_delete)]
