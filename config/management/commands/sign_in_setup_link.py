"""`manage.py sign_in_setup_link <username>`: open setting up an authenticator app
to a staff member and print the link that shows its key (config/two_factor.py), for
an account whose mailbox the link cannot reach (no address on it, an ESP not set up
yet): whoever runs it hands the link over. Anyone with this shell can do more."""

from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError
from django.utils.formats import date_format
from django.utils.timezone import localtime

from config.two_factor import (
    SETUP_LINK_HOURS,
    app_device,
    setup_device_open,
    setup_link,
    setup_open_until,
)


class Command(BaseCommand):
    help = "Open setting up sign-in codes to a staff member and print the setup link (works after their password)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not user.is_staff:
            raise CommandError(f"No staff account is named {username!r}.")
        if app_device(user) is not None:
            raise CommandError(f"{username} has an authenticator app set up: to replace it, a superuser runs "
                               "“Reset sign-in codes…” in Users first, or this shell runs `addstatictoken`.")
        device = setup_device_open(user)
        self.stderr.write(f"Setting up is open to {username} until {date_format(localtime(setup_open_until(user)), 'DATETIME_FORMAT')}. "
                          f"After signing in with the password, open (within {SETUP_LINK_HOURS} hours):")
        self.stdout.write(setup_link(device))
