import gc
import os
from contextlib import contextmanager

import pytest
from django.conf import settings


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST')}:{db.get('PORT')}"
    return [
        f"database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"redis: {settings.REDIS_URL}",
    ]


def pytest_sessionstart(session):
    """Under CI=true the suite runs on PostgreSQL and real Redis, and stops at once,
    failing, when either is unreachable: nothing is skipped in their absence."""
    if not _on_ci():
        return
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(f"CI=true but DATABASE_URL is not PostgreSQL (engine {engine})")
    import psycopg
    import redis

    db = settings.DATABASES["default"]
    try:
        psycopg.connect(
            host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
            password=db.get("PASSWORD") or None, connect_timeout=5,
        ).close()
    except Exception as exc:
        raise pytest.UsageError(f"CI=true and PostgreSQL is unreachable: {exc}") from exc
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:
        raise pytest.UsageError(f"CI=true and Redis at {settings.REDIS_URL} is unreachable: {exc}") from exc


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgresql`: what only PostgreSQL has (ANALYZE, planner
    statistics). Skipped, and said so, on SQLite; CI=true always runs them (the
    suite refuses to start there without PostgreSQL)."""
    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...; CI runs it)")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the (real, Redis) cache: each test starts clean."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _force_login_includes_the_code(monkeypatch):
    """The test client's force_login skips the sign-in form, and for staff the
    one-time code after it too (config/two_factor.py), as if they had typed one: a
    session verified with a device of theirs. Sign-ins through the pages (Chromium)
    type a code (tests/factories.py, sign_in_code)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY

    from tests.factories import sign_in_device

    force_login = Client.force_login

    def and_the_code(self, user, backend=None):
        force_login(self, user, backend)
        if user.is_staff:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = sign_in_device(user).persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", and_the_code)


@pytest.fixture(autouse=True)
def _hrefs_checked():
    """Fail the test that rendered a link going nowhere (tests/hrefs.py): in a page
    (the check runs in a middleware of the test settings) or in an email it sent."""
    from django.core import mail

    from tests import hrefs

    hrefs.take()
    yield
    for n, message in enumerate(getattr(mail, "outbox", []) or []):
        where = f"email {n + 1} ({message.subject!r})"
        hrefs.record(f"{where} text", hrefs.dead_text_links(message.body))
        for content, kind in getattr(message, "alternatives", []):
            if kind == "text/html":
                hrefs.record(f"{where} HTML", hrefs.dead_links(content))
    dead = hrefs.take()
    if dead:
        pytest.fail("Links that go nowhere (empty or '#' href):\n  " + "\n  ".join(dead[:20]))


@contextmanager
def fake_esp_serving(settings, esp_name: str):
    """EMAIL_BACKEND is anymail's real backend for `esp_name` (postmark, mailgun, brevo,
    sendgrid), talking to a local fake of that ESP's API (tests/chaos/fake_esp.py,
    which can be told to fail and keeps what it took)."""
    from mail import esp
    from tests.chaos.fake_esp import API, FakeEsp

    fake = FakeEsp(api=API[esp_name], keep_sent=True).start()
    settings.EMAIL_BACKEND = f"anymail.backends.{fake.api.backend}.EmailBackend"
    settings.ANYMAIL = {**settings.ANYMAIL, **fake.api.settings(fake.url)}
    settings.ESP_MAX_PER_SECOND = 0
    settings.ESP_MAX_IN_FLIGHT = 0
    esp.esp_throttle_reset()
    # This thread's next call connects to this fake, and so do the sending threads'
    # (new ones: each kept its connection open, to the last test's fake, whose
    # handler threads still answered on it after the fake was stopped).
    esp.esp_connection_close()
    esp.esp_pool_shutdown()
    try:
        yield fake
    finally:
        esp.esp_connection_close()
        esp.esp_pool_shutdown()
        esp.esp_throttle_reset()
        fake.stop()


@pytest.fixture
def postmark(settings):
    """The ESP answering like Postmark (fake_esp_serving)."""
    with fake_esp_serving(settings, "postmark") as fake:
        yield fake


# The data migrations that make and change the default topics, in order: replayed
# by `default_topics` (each is idempotent, as a migration run twice must be).
DEFAULT_TOPIC_MIGRATIONS = (
    ("0008_default_topics_as_definitions", "topics_create"),
    ("0011_topic_builtin_examples", "examples_apply"),
    ("0012_topic_is_broad", "broad_apply"),
    ("0016_topic_keywords_not_phrases", "phrases_add"),
)


@pytest.fixture
def webhook_secret(settings):
    """The ESP's webhook secret configured (tests/webhooks.py sends it)."""
    from tests import webhooks

    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": webhooks.SECRET}
    return webhooks.SECRET


@pytest.fixture
def default_topics(db):
    """{slug: Topic} of the default topics as the migrations leave them (made again
    when a transactional test has flushed the migrated rows)."""
    import importlib

    from django.apps import apps as django_apps

    from newsletter.models import Topic

    for module, function in DEFAULT_TOPIC_MIGRATIONS:
        getattr(importlib.import_module(f"newsletter.migrations.{module}"), function)(django_apps, None)
    return {t.slug: t for t in Topic.objects.all()}


@pytest.fixture
def editor_client(client, db):
    """The test client logged in as a member of the "Editor" group (made again when
    a transactional test has flushed the migrated rows)."""
    from django.contrib.auth.models import User

    from tests.newsletter.test_admin import editor_group

    user = User.objects.create_user("editor", "editor@example.org", "pw", is_staff=True)
    user.groups.add(editor_group())
    client.force_login(user)
    return client


# A Redis URL where nothing listens: Redis "away" for real, no mock.
REDIS_NOWHERE = "redis://127.0.0.1:9/0"


@contextmanager
def _tasks_through_broker(url: str):
    """Tasks go through the real broker connection (not eagerly) to `url`. Yields
    `back()`: tasks run eagerly again on the usual broker, as in every other test,
    which the end of the block also does."""
    from config.celery import app

    eager, usual = app.conf.task_always_eager, app.conf.broker_url

    def connect(now_eager: bool, now_url: str) -> None:
        app.conf.task_always_eager, app.conf.broker_url = now_eager, now_url
        # The connection and producer pools connect to the URL as it is now.
        app._pool = None
        app.amqp._producer_pool = None

    def back() -> None:
        connect(eager, usual)

    connect(False, url)
    try:
        yield back
    finally:
        back()


@pytest.fixture
def broker_away():
    """Tasks go through the real broker connection to a Redis that is not there.
    Yields `back()`: the broker is back."""
    with _tasks_through_broker(REDIS_NOWHERE) as back:
        yield back


@pytest.fixture
def broker_own(tmp_path):
    """Tasks go through the real broker connection to a Redis server of the test's
    own (tests/own_redis.py), which the test may stop: an outage in the middle of
    queueing. Yields (server, back)."""
    from tests.own_redis import OwnRedis

    server = OwnRedis(tmp_path)
    server.start()
    try:
        with _tasks_through_broker(server.url) as back:
            yield server, back
    finally:
        server.stop()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """pytest-django's, and before the test database is dropped, the sending threads
    are stopped: a thread that sent through the outbox backend keeps a connection to
    the test database, which made every run end with "database test_… is being
    accessed by other users" and left the database behind."""
    yield
    from mail.esp import esp_pool_shutdown

    esp_pool_shutdown()
    gc.collect()  # the ended threads' connections are closed when collected


@pytest.fixture
def german_time_locale(tmp_path_factory, monkeypatch):
    """The process's LC_TIME German, as it is once anything in it calls
    locale.setlocale(LC_ALL, "") under LANG=de_DE.UTF-8. The machine need not have
    the locale installed: it is compiled from glibc's sources (localedef) into a
    directory of its own (LOCPATH). Where it cannot be made, the test is skipped on a
    developer's machine and fails under CI=true (CI's machines have glibc's sources)."""
    import locale
    import shutil
    import subprocess

    unavailable = pytest.fail if _on_ci() else pytest.skip
    place = tmp_path_factory.mktemp("locale")
    if not shutil.which("localedef") or subprocess.run(
        ["localedef", "-i", "de_DE", "-f", "UTF-8", str(place / "de_DE.UTF-8")], check=False, capture_output=True,
    ).returncode not in (0, 1):  # 1: compiled, with warnings
        unavailable("no German locale can be made here (localedef and glibc's locale sources)")
    monkeypatch.setenv("LOCPATH", str(place))
    was = locale.setlocale(locale.LC_TIME)
    try:
        locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
    except locale.Error:
        unavailable("no German locale can be made here (localedef and glibc's locale sources)")
    yield
    locale.setlocale(locale.LC_TIME, was)
