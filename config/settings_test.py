"""Test settings: only what tests need differs from config/settings.py.
The database comes from DATABASE_URL (PostgreSQL on CI) and Redis from REDIS_URL;
both are real servers."""

import os

# No developer's .env (config/dotenv.py) reaches the tests.
os.environ["ENV_FILE"] = ""
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("SUPPRESSION_HASH_KEY", "test-suppression-hash-key-" + "y" * 30)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from .settings import *
from .settings import CACHES, MIDDLEWARE, VAR_DIR

# anymail's test backend records every message with its ESP-side status, tags and
# metadata, so tests read what the ESP would have been sent.
# TEST_EMAIL_BACKEND lets a worker started by a test use a scripted ESP
# (tests/newsletter/test_worker_crash.py); not EMAIL_BACKEND, so a developer's real
# ESP setting in the shell can never leak into a test run.
EMAIL_BACKEND = os.environ.get("TEST_EMAIL_BACKEND", "anymail.backends.test.EmailBackend")
# The webhook tests post Postmark's real payloads.
WEBHOOK_ESP = "postmark"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Unit tests run tasks in-process; tests marked for a real worker start one on Redis.
# CELERY_EAGER=0 turns that off for a real worker process (tests/newsletter/test_worker_crash.py).
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_EAGER", "1") != "0"
CELERY_TASK_EAGER_PROPAGATES = True
# /health/ answers each request afresh: its tests change the state between two
# requests (the answer kept: tests/security/test_protections.py overrides it).
HEALTH_ANSWER_SECONDS = 0
CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"
SITE_URL = "http://testserver"
ALLOWED_HOSTS = ["*"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SESSION_COOKIE_NAME, CSRF_COOKIE_NAME = "sessionid", "csrftoken"  # http:// test servers
SCREENSHOT_DIR = VAR_DIR / "screenshots"
STATIC_ROOT = None  # whitenoise serves from the finders; no collectstatic in tests
WHITENOISE_USE_FINDERS = True
# Every page the suite renders is read for links that go nowhere (tests/hrefs.py).
MIDDLEWARE = ["tests.hrefs.HrefCheckMiddleware", *MIDDLEWARE]
