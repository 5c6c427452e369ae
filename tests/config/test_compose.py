"""docker-compose.yml and the settings agree on the proxy: the app trusts one proxy
exactly when one proxy is in front of it and only that proxy is published."""

import re

from tests.compose import COMPOSE


def _service(name: str) -> str:
    """The block of one service: its line and the more indented lines under it."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", COMPOSE, re.MULTILINE)
    assert match, f"no service {name}"
    return match.group(1)


def test_the_app_trusts_one_proxy_and_only_the_proxy_is_published():
    assert re.search(r'^    TRUSTED_PROXY_COUNT: "1"$', COMPOSE, re.MULTILINE)
    assert "SITE_URL: https://" in COMPOSE
    assert "ports:" not in _service("web")
    caddy = _service("caddy")
    assert "reverse-proxy" in caddy and "--to web:8000" in caddy
    assert '"443:443"' in caddy


def test_the_image_collects_static_files_as_production_reads_them(tmp_path):
    """The image ran collectstatic with DEBUG=true, which writes no manifest; the
    containers run with DEBUG=false and the manifest storage, so every page was a 500
    ("Missing staticfiles manifest entry for 'newsletter/site.css'"; a hostile
    tester's pass). The image's own command, then a production lookup of the files."""
    import os
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    from tests.config.test_settings import PRODUCTION, _clean_env

    run = re.search(r"^\s+RUN pip install [^&]+&& (.+collectstatic.*)$", COMPOSE, re.MULTILINE)
    assert run, "the image's RUN line collects static files"
    words = shlex.split(run.group(1))
    assignments = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    command = [w for w in words if "=" not in w or w.startswith("-")]
    assert command[:2] == ["python", "manage.py"] and "collectstatic" in command
    base = Path(__file__).resolve().parents[2]
    env = _clean_env(**assignments, VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    collected = subprocess.run([sys.executable, *command[1:]], cwd=base, env=env, capture_output=True,
                               text=True, timeout=300, check=False)
    assert collected.returncode == 0, collected.stderr

    lookup = ("import django; django.setup(); from django.templatetags.static import static; "
              "print(static('newsletter/site.css'), static('admin/css/base.css'))")
    served = subprocess.run(
        [sys.executable, "-c", lookup], cwd=base, capture_output=True, text=True, timeout=120, check=False,
        env={**_clean_env(**PRODUCTION), "VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings",
             "PATH": os.environ.get("PATH", "")},
    )
    assert served.returncode == 0, served.stderr
    assert re.search(r"newsletter/site\.[0-9a-f]{12}\.css", served.stdout), served.stdout


def test_the_mail_catcher_is_reachable_from_this_machine_only():
    """Mailpit's page shows every email, confirmation and manage links included; it
    was published on every interface."""
    assert re.search(r'^    ports: \["127\.0\.0\.1:8025:8025"\]$', _service("mailpit"), re.MULTILINE)
