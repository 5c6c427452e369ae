"""Setting up an authenticator app is open only for a while after an account is made
or its app deleted (config/two_factor.py, SETUP_WINDOW): the accounts that exist
before that rule and have no app set up get that while from this upgrade, as a new
account would, instead of being shut out of the admin until a superuser resets them
(the first superuser has no one to do it)."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def setup_open(apps, schema_editor):
    from django_otp.plugins.otp_totp.models import default_key

    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    device_model = apps.get_model("otp_totp", "TOTPDevice")
    with_app = device_model.objects.filter(confirmed=True).values("user_id")
    for user in user_model.objects.filter(is_active=True, is_staff=True).exclude(pk__in=with_app):
        if not device_model.objects.filter(user=user, confirmed=False).update(created_at=timezone.now(),
                                                                              key=default_key()):
            device_model.objects.create(user=user, name="Authenticator app", confirmed=False)


class Migration(migrations.Migration):

    dependencies = [
        ("newsletter", "0028_old_release_writes"),
        ("otp_totp", "0003_add_timestamps"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(setup_open, migrations.RunPython.noop)]
