import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


# Settings a developer's shell may hold that would change what these tests see.
_UNSET = {"SECRET_KEY", "SUPPRESSION_HASH_KEY", "DEBUG", "SECURE_SSL_REDIRECT",
          "DJANGO_ALLOW_ASYNC_UNSAFE", "SITE_URL", "TRUSTED_PROXY_COUNT", "BEHIND_TLS_PROXY",
          "EMAIL_BACKEND", "ANYMAIL", "WEBHOOK_SECRET", "WEBHOOK_ESP"}
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 20 + "ZQ9x!v#2mL@8pR$4tW^6yB&0nC*3jD(5",
              "SUPPRESSION_HASH_KEY": "s" * 20 + "Hq7!pW2#vB9",
              "ALLOWED_HOSTS": "digest.example.com", "SITE_URL": "https://digest.example.com"}


def _clean_env(**env_overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(env_overrides)
    return env


def _django_check(**env_overrides: str) -> subprocess.CompletedProcess:
    env = _clean_env(**env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_production_without_secret_key_stops_with_a_clear_error():
    result = _django_check(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_without_a_suppression_hash_key_stops_and_says_how_to_upgrade():
    result = _django_check(**{k: v for k, v in PRODUCTION.items() if k != "SUPPRESSION_HASH_KEY"})
    assert result.returncode != 0
    assert "SUPPRESSION_HASH_KEY is not set" in result.stderr
    assert "the SECRET_KEY the list was built with" in result.stderr


def test_production_settings_pass_check_deploy():
    result = _django_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_an_http_site_url_in_production():
    """Every email link would be http: Gmail's one-click POST meets the SSL redirect."""
    result = _django_check(**{**PRODUCTION, "SITE_URL": "http://digest.example.com"})
    assert result.returncode != 0
    assert "digest.E001" in result.stderr and "must start with https://" in result.stderr


def test_check_deploy_refuses_a_site_url_not_on_https_and_a_proxy_count_below_zero(settings):
    """A SITE_URL typed without its scheme makes every email link relative to
    nothing; a negative proxy count is a typo the site would read as no proxy, so
    behind one every visitor would have the proxy's address, and share its limits
    (subscribers/throttling.py, client_ip)."""
    from config.checks import proxy_settings_agree, site_url_is_https

    settings.DEBUG = False
    for url in ("digest.example.com", "//digest.example.com", "ftp://digest.example.com"):
        settings.SITE_URL = url
        assert [error.id for error in site_url_is_https(None)] == ["digest.E001"], url
    settings.SITE_URL = "https://digest.example.com"
    assert site_url_is_https(None) == []
    settings.TRUSTED_PROXY_COUNT, settings.BEHIND_TLS_PROXY = -1, False
    assert [error.id for error in proxy_settings_agree(None)] == ["digest.E002"]


def test_check_deploy_refuses_proxy_settings_that_contradict():
    # X-Forwarded-Proto trusted while no proxy is said to be in front.
    result = _django_check(**PRODUCTION, BEHIND_TLS_PROXY="true")
    assert result.returncode != 0 and "digest.E003" in result.stderr
    # A proxy in front that is not trusted for the scheme: an endless https redirect.
    result = _django_check(**PRODUCTION, TRUSTED_PROXY_COUNT="1", BEHIND_TLS_PROXY="false")
    assert result.returncode != 0 and "digest.E004" in result.stderr
    # The shipped compose configuration: one proxy, which terminates TLS.
    result = _django_check(**PRODUCTION, TRUSTED_PROXY_COUNT="1")
    assert result.returncode == 0, result.stdout + result.stderr


def _proxy_settings(**env_overrides: str) -> list[str]:
    code = ("import django; django.setup(); from django.conf import settings as s;"
            "print(s.TRUSTED_PROXY_COUNT, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=120,
        check=False,
        env={**_clean_env(**env_overrides), "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(maxsplit=1)


def test_production_trusts_no_proxy_header_unless_a_proxy_is_configured():
    assert _proxy_settings(**PRODUCTION) == ["0", "None"]
    assert _proxy_settings(**PRODUCTION, TRUSTED_PROXY_COUNT="1") == [
        "1", "('HTTP_X_FORWARDED_PROTO', 'https')"]


def test_debug_alone_runs_without_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR, env={**{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
                           "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_refuses_a_tracking_webhook_that_cannot_take_events():
    postmark = {**PRODUCTION, "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
                "ANYMAIL": '{"POSTMARK_SERVER_TOKEN": "x"}'}
    result = _django_check(**postmark)  # every event would get 401
    assert result.returncode != 0 and "digest.E006" in result.stderr
    assert _django_check(**postmark, WEBHOOK_SECRET="hook:secret").returncode == 0
    result = _django_check(**postmark, WEBHOOK_SECRET="hook:secret", WEBHOOK_ESP="postmarc")
    assert result.returncode != 0 and "digest.E005" in result.stderr
    # Mailgun's webhook needs its signing key as well.
    result = _django_check(**postmark, WEBHOOK_SECRET="hook:secret", WEBHOOK_ESP="mailgun")
    assert result.returncode != 0 and "digest.E007" in result.stderr


def test_check_deploy_refuses_mailgun_without_its_webhook_signing_key():
    """With MAILGUN_API_KEY and no MAILGUN_WEBHOOK_SIGNING_KEY, anymail checks the
    webhook's signatures with the API key, which Mailgun signs no event with: an
    operator's deploy passed check --deploy, and every event Mailgun posted, signed with
    the account's webhook signing key, got 401 (bounces suppressed no one)."""
    mailgun = {**PRODUCTION, "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend", "WEBHOOK_SECRET": "hook:secret"}
    result = _django_check(**mailgun, ANYMAIL='{"MAILGUN_API_KEY": "key", "MAILGUN_SENDER_DOMAIN": "mg.example.com"}')
    assert result.returncode != 0 and "digest.E007" in result.stderr and "MAILGUN_WEBHOOK_SIGNING_KEY" in result.stderr
    result = _django_check(**mailgun, ANYMAIL='{"MAILGUN_API_KEY": "key", "MAILGUN_WEBHOOK_SIGNING_KEY": "signing"}')
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_an_esp_that_cannot_send():
    """The operator switching ESP (docs/esp-switch.md): EMAIL_BACKEND set to the new
    ESP, its API key forgotten or left under the old ESP's name in ANYMAIL. Each
    passed check --deploy and failed at the first send."""
    for backend, anymail in (("brevo", '{"POSTMARK_SERVER_TOKEN": "x"}'), ("mailgun", "{}"),
                             ("postmark", '{"BREVO_API_KEY": "x"}')):
        result = _django_check(**PRODUCTION, EMAIL_BACKEND=f"anymail.backends.{backend}.EmailBackend",
                               ANYMAIL=anymail, WEBHOOK_SECRET="hook:secret")
        assert result.returncode != 0 and "digest.E010" in result.stderr, (backend, result.stderr)
    mailgun = {**PRODUCTION, "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
               "ANYMAIL": '{"MAILGUN_API_KEY": "key", "MAILGUN_WEBHOOK_SIGNING_KEY": "signing"}',
               "WEBHOOK_SECRET": "hook:secret"}
    assert _django_check(**mailgun).returncode == 0
    ses = {**PRODUCTION, "EMAIL_BACKEND": "anymail.backends.amazon_ses.EmailBackend",
           "WEBHOOK_SECRET": "hook:secret", "AWS_DEFAULT_REGION": "us-east-1"}
    assert _django_check(**ses).returncode == 0  # boto3 is in the image; keys from AWS's own variables


def test_check_deploy_names_an_esp_misspelt_in_email_backend_instead_of_a_traceback():
    """anymail has no "postmarc" backend: the import fails, and check --deploy says
    which setting cannot send (digest.E010) rather than crashing on the import."""
    result = _django_check(**PRODUCTION, EMAIL_BACKEND="anymail.backends.postmarc.EmailBackend",
                           ANYMAIL='{"POSTMARK_SERVER_TOKEN": "x"}', WEBHOOK_SECRET="hook:secret",
                           WEBHOOK_ESP="postmark")
    assert result.returncode != 0
    assert "digest.E010" in result.stderr and "anymail.backends.postmarc" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_esp_as_env_example_documents_it_passes_check_deploy():
    """The operator switching ESP copies .env.example's EMAIL_BACKEND and ANYMAIL
    for it: each ESP README offers is there, and passes check --deploy (SendGrid
    with anymail's own warning that it no longer supports it, anymail.W003). The
    SendGrid line was missing."""
    text = (BASE_DIR / ".env.example").read_text()
    documented = dict(re.findall(r"\b(Mailgun|Brevo|SendGrid): (\{[^}]*\})", text))
    assert set(documented) == {"Mailgun", "Brevo", "SendGrid"}
    for name, anymail in documented.items():
        backend = f"anymail.backends.{name.lower()}.EmailBackend"
        assert backend in text, name
        result = _django_check(**PRODUCTION, EMAIL_BACKEND=backend, ANYMAIL=anymail, WEBHOOK_SECRET="hook:secret")
        issues = re.findall(r"\((\w+\.[EW]\d+)\)", result.stdout + result.stderr)
        assert issues == (["anymail.W003"] if name == "SendGrid" else []), (name, result.stdout + result.stderr)


def test_sendgrids_signature_key_needs_what_the_image_lacks_and_check_deploy_says_so():
    """README's SendGrid row advised SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY; anymail
    checks the signature with the cryptography package, which is not installed: the
    deploy fails E007 (README now says to leave it unset, as for SES's signatures)."""
    anymail = '{"SENDGRID_API_KEY": "x", "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY": "key"}'
    result = _django_check(**PRODUCTION, EMAIL_BACKEND="anymail.backends.sendgrid.EmailBackend",
                           ANYMAIL=anymail, WEBHOOK_SECRET="hook:secret")
    assert result.returncode != 0 and "digest.E007" in result.stderr and "cryptography" in result.stderr


def test_check_deploy_refuses_a_tracking_webhook_of_another_esp_than_the_one_that_sends():
    """An .env made from the .env.example of 3 December holds WEBHOOK_ESP=postmark; since
    compose passes the whole .env to the containers (c8694dd) it applies, and a deploy
    sending through Brevo had its webhook (/anymail/brevo/tracking/) turned into a
    404: no bounce or complaint suppressed anyone, and check --deploy said nothing."""
    brevo = {**PRODUCTION, "EMAIL_BACKEND": "anymail.backends.brevo.EmailBackend",
             "ANYMAIL": '{"BREVO_API_KEY": "x"}', "WEBHOOK_SECRET": "hook:secret"}
    assert _django_check(**brevo).returncode == 0
    result = _django_check(**brevo, WEBHOOK_ESP="postmark")
    assert result.returncode != 0 and "digest.E008" in result.stderr
    assert "/anymail/brevo/tracking/" in result.stderr
    assert _django_check(**brevo, WEBHOOK_ESP="brevo").returncode == 0
    # Sending without anymail (SMTP, e.g. the ESP's SMTP relay): any ESP's webhook may be the one.
    smtp = {**PRODUCTION, "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "WEBHOOK_SECRET": "hook:secret", "WEBHOOK_ESP": "postmark"}
    assert _django_check(**smtp).returncode == 0


def _settings_value(tmp_path, expression: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "DEBUG", "PORT", "SITE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         f"from django.conf import settings; print({expression})"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_production_cookies_are_host_only_and_development_keeps_djangos_names(tmp_path):
    """Over https the session and CSRF cookies are __Host- cookies (Secure, Path=/,
    no Domain: a sibling subdomain cannot plant one); a local http:// server keeps
    Django's names, which a browser accepts without https."""
    names = "settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, settings.SESSION_COOKIE_DOMAIN, settings.CSRF_COOKIE_DOMAIN, settings.SESSION_COOKIE_PATH, settings.CSRF_COOKIE_PATH"
    production = _settings_value(tmp_path, names, **PRODUCTION, ENV_FILE="")
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip().splitlines()[-1] == "__Host-sessionid __Host-csrftoken None None / /"
    development = _settings_value(tmp_path, names, DEBUG="true", ENV_FILE="")
    assert development.stdout.strip().splitlines()[-1] == "sessionid csrftoken None None / /"


def test_manage_py_reads_the_development_env_file_and_site_url_follows_port(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# written by make run\nDEBUG=true\nPORT=8101\n")

    result = _settings_value(tmp_path, "settings.DEBUG, settings.SITE_URL", ENV_FILE=str(env_file))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True http://localhost:8101"


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nPORT=8101\nSITE_URL=http://localhost:8101\n")

    result = _settings_value(tmp_path, "settings.SITE_URL", ENV_FILE=str(env_file),
                             SITE_URL="https://digest.example.com")

    assert result.stdout.strip().splitlines()[-1] == "https://digest.example.com"


def test_the_development_secret_key_is_random_kept_under_var_and_private(tmp_path):
    first = _settings_value(tmp_path, "settings.SECRET_KEY", DEBUG="true", ENV_FILE="")
    again = _settings_value(tmp_path, "settings.SECRET_KEY", DEBUG="true", ENV_FILE="")
    other = _settings_value(tmp_path / "elsewhere", "settings.SECRET_KEY", DEBUG="true", ENV_FILE="")

    key = first.stdout.strip().splitlines()[-1]
    assert len(key) >= 50 and "insecure" not in key
    assert again.stdout.strip().splitlines()[-1] == key
    assert other.stdout.strip().splitlines()[-1] != key
    assert (tmp_path / "secret-key").read_text().strip() == key
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0


@pytest.mark.postgresql
def test_postgresql_ends_a_session_left_idle_inside_a_transaction():
    """A frozen worker inside a transaction keeps its row locks; PostgreSQL ends the
    session after DB_IDLE_IN_TRANSACTION_SECONDS, so the rows come back to the sweep."""
    script = (
        "import time\n"
        "from django.db import connection, transaction\n"
        "with transaction.atomic():\n"
        "    connection.cursor().execute('SELECT 1')\n"
        "    time.sleep(2.5)\n"
        "    try:\n"
        "        connection.cursor().execute('SELECT 1')\n"
        "        print('still open')\n"
        "    except Exception as exc:\n"
        "        print('ended:', exc)\n"
        "        raise SystemExit(0)\n"
    )
    env = _clean_env(DEBUG="true", DB_IDLE_IN_TRANSACTION_SECONDS="1")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert "ended:" in result.stdout, result.stdout + result.stderr
    assert "idle-in-transaction" in result.stdout


@pytest.mark.postgresql
@pytest.mark.django_db
def test_postgresql_compiles_no_query_just_in_time():
    """A query PostgreSQL estimates above jit_above_cost is compiled first, which the
    ledger's reads at scale are, and cost more to compile than they run (the
    dispatcher's catch-up 229-321 ms with it, 71-80 ms without, at 8.4 million
    deliveries: docs/benchmarks.md, "JIT off"). The service's connections turn it off."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT sum(g) FROM generate_series(1, 30000000) g")  # cost 375,000
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "JIT:" not in plan, plan


def test_the_embedded_sqlite_database_takes_concurrent_writers_without_database_is_locked(tmp_path):
    """`make run`'s default database is a SQLite file that the web server, the
    worker's four threads and beat write at once. With SQLite's default deferred
    transactions, two that read and then write deadlock, and one fails at once with
    "database is locked" (seen as a 500 on the subscribe form of a fresh `make
    run`); taking the write lock at the start of each transaction makes them wait
    their turn instead."""
    script = (
        "import threading, time\n"
        "from django.db import OperationalError, connection, connections, transaction\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('CREATE TABLE probe (n integer)')\n"
        "errors = []\n"
        "def work(i):\n"
        "    try:\n"
        "        for _ in range(15):\n"
        "            with transaction.atomic(), connection.cursor() as cursor:\n"
        "                cursor.execute('SELECT count(*) FROM probe')\n"
        "                time.sleep(0.005)\n"
        "                cursor.execute('INSERT INTO probe VALUES (%s)', [i])\n"
        "    except OperationalError as exc:\n"
        "        errors.append(str(exc))\n"
        "    finally:\n"
        "        connections.close_all()\n"
        "threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SELECT count(*) FROM probe')\n"
        "    print('rows', cursor.fetchone()[0], 'errors', len(errors), errors[:1])\n"
    )
    env = _clean_env(DEBUG="true", VAR_DIR=str(tmp_path), ENV_FILE="",
                     DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert "rows 60 errors 0 []" in result.stdout, result.stdout + result.stderr


def test_env_example_with_its_two_secrets_filled_in_passes_check_deploy():
    """README: copy .env.example, set the secrets and the host. It set an ESP with a
    placeholder token and a webhook with no secret (check --deploy: digest.E006), and
    trusted X-Forwarded-Proto with no proxy configured."""
    example = (BASE_DIR / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in example if line and not line.startswith("#"))
    values.update(SECRET_KEY=PRODUCTION["SECRET_KEY"], SUPPRESSION_HASH_KEY=PRODUCTION["SUPPRESSION_HASH_KEY"],
                  ENV_FILE="")
    result = _django_check(**values)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_proxy_forwarding_plain_http_is_refused_only_when_the_site_redirects_to_https(settings):
    """E004 is the endless redirect: a proxy in front that does not terminate TLS, and
    the site sending every http request to https. With no redirect (TLS ended further
    out, SECURE_SSL_REDIRECT off) nothing loops, and check --deploy must not stop the
    deploy."""
    from config.checks import proxy_settings_agree

    settings.TRUSTED_PROXY_COUNT, settings.BEHIND_TLS_PROXY, settings.SECURE_SSL_REDIRECT = 1, False, False
    assert proxy_settings_agree(None) == []
    settings.SECURE_SSL_REDIRECT = True
    assert [error.id for error in proxy_settings_agree(None)] == ["digest.E004"]


def test_every_variable_the_settings_read_is_in_env_example():
    """.env.example is where an operator learns what they may set (STYLE 9, README:
    "Every other setting is in .env.example"). VAR_DIR, CACHE_KEY_PREFIX, EMAIL_HOST
    and EMAIL_PORT were read by the settings and named nowhere in it (docker-compose.yml
    sets the last two for Mailpit)."""
    read = set()
    for source in ("config/settings.py", "newsletter/management/commands/bootstrap.py"):
        text = (BASE_DIR / source).read_text()
        read |= set(re.findall(r"\benv(?:_int|_bool|_list)?\(\s*\"([A-Z0-9_]+)\"", text))
        read |= set(re.findall(r"os\.environ\.get\(\s*\"([A-Z0-9_]+)\"", text))
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", (BASE_DIR / ".env.example").read_text(), re.MULTILINE))
    assert {"DEBUG", "SECRET_KEY", "VAR_DIR", "ADMIN_PASSWORD"} <= read
    assert sorted(read - listed) == []
