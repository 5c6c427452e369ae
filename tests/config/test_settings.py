import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


# Settings a developer's shell may hold that would change what these tests see.
_UNSET = {"SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE", "SITE_URL",
          "TRUSTED_PROXY_COUNT", "BEHIND_TLS_PROXY"}
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 20 + "ZQ9x!v#2mL@8pR$4tW^6yB&0nC*3jD(5",
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
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


def test_production_without_secret_key_stops_with_a_clear_error():
    result = _django_check(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_settings_pass_check_deploy():
    result = _django_check(**PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_an_http_site_url_in_production():
    """Every email link would be http: Gmail's one-click POST meets the SSL redirect."""
    result = _django_check(**{**PRODUCTION, "SITE_URL": "http://digest.example.com"})
    assert result.returncode != 0
    assert "digest.E001" in result.stderr and "must start with https://" in result.stderr


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
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
