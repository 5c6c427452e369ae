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


def _settings_value(tmp_path, expression: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "DEBUG", "PORT", "SITE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings", **env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         f"from django.conf import settings; print({expression})"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


def test_manage_py_reads_the_development_env_file_and_site_url_follows_port(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# written by make run\nDEBUG=true\nPORT=8101\n")

    result = _settings_value(tmp_path, "settings.DEBUG, settings.SITE_URL", ENV_FILE=str(env_file))

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True http://localhost:8101"


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nPORT=8101\n")

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
