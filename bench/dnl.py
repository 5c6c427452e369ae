"""django-newsletter sending one newsletter to N subscribers: the comparison of
the digest benchmark (bench/digests.py starts this file as a script, never imports
it).

Why a script of its own and not a settings module: django-newsletter's package is
also called `newsletter`, like this project's app, so the two cannot live in one
process or one virtualenv. `make bench` installs it with `pip install --target
var/bench/django-newsletter`; bench/digests.py runs this file with that folder
first on PYTHONPATH, and the settings are configured below (a module of this
project could not be imported here: `newsletter` is django-newsletter).

Usage: dnl.py --subscribers N --database URL --articles K --sample FILE
Prints one JSON line: {"sent", "seconds", "ms_per_email", "peak_rss_mb", "queries"}."""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

# This folder is sys.path[0]; nothing in it may be imported as a module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
# Nor may this project's editable install (pip install -e) answer for `newsletter.*`.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]

import dj_database_url
import django
from django.conf import settings
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class ForgetfulLocmemBackend(LocmemBackend):
    """Django's in-memory backend (each message serialised as locmem does), keeping
    only a count: 100,000 kept messages would measure memory, not sending."""

    sent = 0

    def send_messages(self, messages):
        count = super().send_messages(messages)
        ForgetfulLocmemBackend.sent += count
        from django.core import mail

        mail.outbox.clear()
        return count


def configure(database_url: str) -> None:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-django-newsletter-" + "x" * 40,
        USE_TZ=True,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sites",
            "newsletter",  # django-newsletter, from the --target install
        ],
        DATABASES={"default": dj_database_url.parse(database_url)},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        SITE_ID=1,
        ROOT_URLCONF="newsletter.urls",
        TEMPLATES=[{
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
        }],
        EMAIL_BACKEND="__main__.ForgetfulLocmemBackend",
        NEWSLETTER_THUMBNAIL="sorl-thumbnail",  # only read: the articles have no images
        NEWSLETTER_USE_HTTPS=True,
        NEWSLETTER_CONFIRM_EMAIL=False,
        # No pauses between emails or batches: we measure the work, not its throttle.
        NEWSLETTER_EMAIL_DELAY=0,
        NEWSLETTER_BATCH_SIZE=0,
        NEWSLETTER_BATCH_DELAY=0,
        STATIC_URL="/static/",
        MEDIA_URL="/media/",
    )
    django.setup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--articles", type=int, default=8)
    parser.add_argument("--sample", required=True)
    args = parser.parse_args()
    configure(args.database)

    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from newsletter.models import Article, Message, Newsletter, Submission, Subscription

    call_command("migrate", interactive=False, verbosity=0)
    papers = json.loads(Path(args.sample).read_text())[: args.articles]
    newsletter = Newsletter.objects.create(
        title="Daily Papers Digest", slug="daily", email="digest@example.com", sender="Digest"
    )
    message = Message.objects.create(title="Trending papers", slug="today", newsletter=newsletter)
    Article.objects.bulk_create(
        Article(post=message, sortorder=i, title=item["paper"]["title"][:200],
                text=item["paper"]["summary"][:400], url=f"https://huggingface.co/papers/{i}")
        for i, item in enumerate(papers)
    )
    Subscription.objects.bulk_create(
        (Subscription(newsletter=newsletter, email_field=f"reader{n}@bench.example",
                      name_field=f"Reader {n}", subscribed=True)
         for n in range(args.subscribers)),
        batch_size=5000,
    )
    submission = Submission.from_message(message)
    submission.publish_date = timezone.now() - timezone.timedelta(minutes=1)
    submission.save()

    # Statements counted by an execute wrapper, as for the digest path: the debug
    # cursor of CaptureQueriesContext would format every query's SQL, a cost that is
    # the measurement's, not django-newsletter's.
    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    started = time.perf_counter()
    with connection.execute_wrapper(count):
        submission.submit()
    seconds = time.perf_counter() - started
    sent = ForgetfulLocmemBackend.sent
    print(json.dumps({
        "sent": sent,
        "seconds": seconds,
        "ms_per_email": 1000 * seconds / max(sent, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "queries": queries[0],
    }))


if __name__ == "__main__":
    main()
