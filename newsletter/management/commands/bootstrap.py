"""Everything `make run` (and a fresh deployment) needs before starting:
migrations, default schedules, an admin login, and optionally the sample papers
with a demo reader whose first digest goes to the outbox."""

import os
import secrets
from email.utils import parseaddr
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, call_command
from django.template.defaultfilters import pluralize

from newsletter.management.commands.rescore_topics import progress_printer
from newsletter.models import Paper
from newsletter.relevance import (
    RESCORE_BACKGROUND_LIMIT,
    RESCORE_NOW_DAYS,
    papers_missing_rescore,
    topics_missing_embed,
)
from newsletter.schedules import schedules_ensure
from newsletter.tallies import edition_tallies_forget

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "daily_papers_2025-11-24.json"
SAMPLE_DATE = "2025-11-24"
# The demo reader follows this many topics: those with the most papers on the newest
# day, so their first digest is a personal one whatever the sample holds.
DEMO_READER_TOPICS = 2


def local_address(name: str) -> str:
    """name@ the domain the site sends from (DEFAULT_FROM_EMAIL): localhost in development."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"{name}@{domain}"


class Command(BaseCommand):
    help = (
        "Migrate, create the default schedules and an admin login; load the sample papers "
        "and send a demo reader their digest of the sample day (to the outbox)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-sample", action="store_true",
            help="Do not load the sample papers nor create the demo reader (production).",
        )

    def handle(self, *args, no_sample: bool = False, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        # The topics' vectors first (a new install has none; an upgrade of the model
        # cleared them): an editor's first topic preview would make them all.
        made = topics_missing_embed()
        if made:
            self.stdout.write(f"Relevance vectors made for {made} topic{pluralize(made)}.")
        # An upgrade that changed the relevance model cleared the stored vectors
        # (migration 0013): the papers digests can pick get today's, and topic
        # scores that match them, before the site serves; the beat task does the rest.
        missing = Paper.objects.filter(embedding=None).count()
        if missing:
            self.stdout.write(
                f"{missing:,} paper{pluralize(missing)} {pluralize(missing, 'has,have')} no vector of the "
                "current relevance model: re-scoring those "
                f"of the newest {RESCORE_NOW_DAYS} days now (about 0.1 s a paper)."
            )
            done = papers_missing_rescore(recent_only=True, progress=progress_printer(self.stdout))
            if missing > done:
                left = missing - done
                self.stdout.write(
                    f"The other {left:,} {pluralize(left, 'is,are')} re-scored in the background, newest first, "
                    f"{RESCORE_BACKGROUND_LIMIT} every 5 minutes (beat: \"Score papers left without a vector\")."
                )
        # After a rollback the previous release changed rows without staling their
        # editions' kept figures: counted again at the editions' list's next look.
        edition_tallies_forget()
        for name in schedules_ensure():
            self.stdout.write(f"Schedule created: {name}")
        if not no_sample:
            call_command("fetch_papers", file=str(SAMPLE_FILE), date=SAMPLE_DATE, stdout=self.stdout)
        self._admin_ensure()
        if not no_sample:
            self._demo_digest()

    def _admin_ensure(self) -> None:
        """An admin login: from ADMIN_USERNAME/ADMIN_PASSWORD, else generated once
        and kept in var/admin-password so every `make run` prints the same one. Its
        email (ADMIN_EMAIL, default admin@ the local domain) is where the admin's
        "Send a test to me" goes.

        In production (DEBUG off: the web container runs bootstrap at every start) an
        existing login is never touched and no password is printed: it reset the
        password an operator chose to a new one, printed it to the container's log,
        and made a demoted "admin" a superuser again. A login is only created there
        from ADMIN_PASSWORD; without it, `manage.py createsuperuser` is named."""
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD", "")
        email = os.environ.get("ADMIN_EMAIL", "")
        if not settings.DEBUG:
            self._admin_ensure_production(User, username=username, password=password, email=email)
            return
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
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        changed = created or not user.check_password(password)
        if changed:
            user.set_password(password)
            user.is_staff = user.is_superuser = True
        # An address given wins; otherwise one is only filled in, never replaced.
        if email or not user.email:
            email = email or local_address(username)
            changed = changed or user.email != email
            user.email = email
        if changed:
            user.save()
        self.stdout.write(self.style.SUCCESS(f"Admin login: {username} / {password} ({user.email})"))

    def _admin_ensure_production(self, User, *, username: str, password: str, email: str) -> None:
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin login {username!r} exists: left as it is.")
            return
        if not password:
            self.stdout.write(self.style.WARNING(
                f"No admin login {username!r}: set ADMIN_PASSWORD for the next start, or run "
                "`python manage.py createsuperuser`."))
            return
        # Django's password validators, as `createsuperuser` applies them ("admin" for
        # the admin was taken as it was).
        candidate = User(username=username, email=email or local_address(username))
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            self.stdout.write(self.style.WARNING(
                f"No admin login {username!r}: ADMIN_PASSWORD is refused ({' '.join(exc.messages)}). "
                "Set a stronger one for the next start, or run `python manage.py createsuperuser`."))
            return
        User.objects.create_superuser(username=username, email=candidate.email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Admin login {username!r} created with ADMIN_PASSWORD."))

    def _demo_digest(self) -> None:
        """A demo reader (the two topics with the most papers on the sample day) and
        their digest of it, sent once: rerunning finds it sent and sends nothing."""
        from newsletter.selectors import topics_most_covered
        from subscribers.services import demo_reader_ensure

        email = os.environ.get("DEMO_READER_EMAIL") or local_address("reader")
        reader = demo_reader_ensure(email=email, topics=topics_most_covered(limit=DEMO_READER_TOPICS))
        topics = ", ".join(t.name for t in reader.topics.all())
        self.stdout.write(f"Demo reader: {reader.email} ({topics}; {reader.time_zone})")
        call_command("send_digests", latest=True, to=reader.email, stdout=self.stdout)
