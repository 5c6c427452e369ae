"""Everything `make run` (and a fresh deployment) needs before starting:
migrations, default schedules, an admin login, and optionally the sample papers."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, call_command

from newsletter.schedules import schedules_ensure

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "daily_papers_2025-11-24.json"
SAMPLE_DATE = "2025-11-24"


class Command(BaseCommand):
    help = "Migrate, create the default schedules and an admin login, load the sample papers."

    def add_arguments(self, parser):
        parser.add_argument("--no-sample", action="store_true", help="Do not load the sample papers.")

    def handle(self, *args, no_sample: bool = False, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        for name in schedules_ensure():
            self.stdout.write(f"Schedule created: {name}")
        if not no_sample:
            call_command("fetch_papers", file=str(SAMPLE_FILE), date=SAMPLE_DATE, stdout=self.stdout)
        self._admin_ensure()

    def _admin_ensure(self) -> None:
        """An admin login: from ADMIN_USERNAME/ADMIN_PASSWORD, else generated once
        and kept in var/admin-password so every `make run` prints the same one."""
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD", "")
        password_file = Path(settings.VAR_DIR) / "admin-password"
        if not password:
            if password_file.exists():
                password = password_file.read_text().strip()
            else:
                password = secrets.token_urlsafe(12)
                password_file.parent.mkdir(parents=True, exist_ok=True)
                password_file.write_text(password + "\n")
                password_file.chmod(0o600)
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True, "email": ""}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        self.stdout.write(self.style.SUCCESS(f"Admin login: {username} / {password}"))
