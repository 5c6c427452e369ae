import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def _django_check(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(env_overrides)
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
    result = _django_check(
        DEBUG="false", SECRET_KEY="k" * 20 + "ZQ9x!v#2mL@8pR$4tW^6yB&0nC*3jD(5", ALLOWED_HOSTS="digest.example.com"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_alone_runs_without_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR, env={**{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
                           "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
