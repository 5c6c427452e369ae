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


def test_no_default_in_the_compose_file_holds_a_brace():
    """Compose ends ${VAR:-default} at its first "}": with ${ANYMAIL:-{}}, a set ANYMAIL
    got a stray "}" appended, and web, worker and beat all failed at import
    ("ANYMAIL must be a JSON object: Extra data"; an operator's walkthrough)."""
    assert re.findall(r"\$\{\w+:?[-?+][^}]*[{]", COMPOSE) == []


def test_an_empty_anymail_is_no_options(tmp_path):
    """What compose passes now when .env sets no ANYMAIL."""
    from tests.config.test_settings import _settings_value

    result = _settings_value(tmp_path, "settings.ANYMAIL", DEBUG="true", ANYMAIL="", ENV_FILE="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "{}"


def test_services_restart_by_themselves_and_start_after_the_migrations():
    """Beat on an unmigrated database exits ("relation django_celery_beat_crontabschedule
    does not exist"), and nothing restarted it, nor anything else after a crash or a
    reboot. The migrations run once, in a service of their own; the others wait for it."""
    app = COMPOSE.split("\nservices:")[0]
    assert "restart: unless-stopped" in app
    assert "migrate: {condition: service_completed_successfully}" in app
    migrate = _service("migrate")
    assert '"bootstrap"' in migrate and 'restart: "no"' in migrate and "migrate:" not in migrate
    for name in ("db", "redis", "caddy", "mailpit"):
        assert "restart: unless-stopped" in _service(name), name
    assert "bootstrap" not in _service("web")


def test_web_and_the_worker_get_dockers_stop_signal_and_time_to_finish():
    """Under `sh -c`, sh was PID 1 and never passed SIGTERM on: gunicorn was killed
    10 s later with its requests, and a worker with its batch (re-sends)."""
    for name in ("web", "worker", "beat"):
        assert re.search(r'^    command: \["', _service(name), re.MULTILINE), name
    assert "stop_grace_period: 3m" in _service("worker")


def test_the_image_holds_no_secrets_and_the_settings_come_from_env_at_start():
    """With no .dockerignore, `COPY . .` put .env (SECRET_KEY, the ESP token, the admin
    password), var/ (a development database of readers) and .git into the image, and
    the containers read their settings from that stale copy."""
    from pathlib import Path

    ignored = set((Path(__file__).resolve().parents[2] / ".dockerignore").read_text().split())
    assert {".env", ".env.*", "var/", ".git/", ".venv/"} <= ignored
    assert re.search(r"^  env_file:\n    - path: \.env\n      required: false$", COMPOSE, re.MULTILINE)


def test_the_proxy_keeps_no_log_of_readers_links():
    """Every preference-centre, confirmation and unsubscribe URL is a reader's key."""
    assert "--access-log" not in _service("caddy")


def test_the_web_replicas_share_one_picture_cache_that_outlives_a_restart():
    """newsletter/pictures.py keeps each paper's picture in PICTURE_DIR (var/pictures
    in the image): without a volume each web container fetched every picture again
    after each deploy, and each replica once more."""
    from django.conf import settings

    assert "volumes: [picture_cache:/app/var/pictures]" in _service("web")
    assert re.search(r"^volumes:\n(?:  \w+:\n)*  picture_cache:$", COMPOSE, re.MULTILINE)
    assert str(settings.PICTURE_DIR).endswith("var/pictures")


# --- Who the containers run as ------------------------------------------------------

APP_SERVICES = ("migrate", "web", "worker", "beat")


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuations joined."""
    logical, instructions = "", []
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        logical += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            keyword, _, rest = logical.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            logical = ""
    return instructions


def _image_as_built(instructions: list[tuple[str, str]], static_root: str) -> dict:
    """What the final stage of the image leaves: its user, the users it made, and
    for each folder made in it (and what is under it) the owners of its files.
    RUN lines are read command by command (&&): useradd, mkdir, chown and
    collectstatic, which writes STATIC_ROOT as the user of the moment."""
    import posixpath
    import shlex

    user, workdir, users, owners, at_start = "root", "/", set(), {}, []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            user, workdir, users, owners = "root", "/", set(), {}
        elif keyword == "WORKDIR":
            workdir = posixpath.join(workdir, arguments)
        elif keyword == "USER":
            user = arguments.split(":")[0]
        elif keyword in ("CMD", "ENTRYPOINT"):
            at_start.append(user)
        elif keyword == "RUN":
            for command in arguments.split("&&"):
                words = [w for w in shlex.split(command) if "=" not in w or w.startswith("-")]
                paths = [posixpath.join(workdir, w) for w in words[1:] if not w.startswith("-")]
                if words[:1] == ["useradd"]:
                    users.add(words[-1])
                elif words[:1] == ["mkdir"]:
                    for path in paths:
                        owners.setdefault(path, {user})
                elif words[:1] == ["chown"] and "-R" in words:
                    owner_group, *targets = [w for w in words[1:] if not w.startswith("-")]
                    targets = [posixpath.join(workdir, t) for t in targets]
                    for path in list(owners):
                        if any(path == t or path.startswith(t + "/") for t in targets):
                            owners[path] = {owner_group.split(":")[0]}
                elif "collectstatic" in words:
                    target = posixpath.join(workdir, static_root)
                    owners[target] = owners.get(target, set()) | {user}
    return {"user": user, "users": users, "owners": owners, "at_start": at_start, "workdir": workdir}


def test_the_containers_run_as_a_user_of_their_own_who_owns_what_they_write(tmp_path):
    """The image had no USER line: web, the worker, beat and the migrations ran as
    root (the worker's log: "You're running the worker with superuser privileges").
    The final stage switches to a user it creates, after the last step that writes
    as root; no service sets `user:` back; each folder the processes write (the
    static files, PICTURE_DIR and every volume mounted in an app container) is made
    in the image and is that user's alone, so a new volume takes that owner."""
    from pathlib import Path

    import yaml  # PyYAML: in both locks (huggingface-hub's)

    from tests.config.test_settings import PRODUCTION, _settings_value

    compose = yaml.safe_load(COMPOSE)
    # The production settings' folders, under VAR_DIR (var/ of the checkout: the
    # containers are given no VAR_DIR).
    assert not {"VAR_DIR", "STATIC_ROOT", "PICTURE_DIR"} & set(compose["x-app"]["environment"])
    folders = _settings_value(tmp_path, "settings.STATIC_ROOT, settings.PICTURE_DIR", **PRODUCTION, ENV_FILE="")
    assert folders.returncode == 0, folders.stderr
    static_root, picture_dir = ("var/" + Path(f).relative_to(tmp_path).as_posix()
                                for f in folders.stdout.split("\n")[-2].split())
    image = _image_as_built(_dockerfile_instructions(compose["x-app"]["build"]["dockerfile_inline"]), static_root)

    assert image["user"] not in ("root", "0") and image["user"] in image["users"], image["user"]
    assert set(image["at_start"]) <= {image["user"]}
    for name in APP_SERVICES:
        assert "user" not in compose["services"][name], name
    written = {f"{image['workdir']}/{static_root}", f"{image['workdir']}/{picture_dir}"}
    for name in APP_SERVICES:
        for volume in compose["services"][name].get("volumes", []):
            written.add(volume.split(":")[1])
    assert written >= {"/app/var/static", "/app/var/pictures"}
    for path in written:
        assert image["owners"].get(path) == {image["user"]}, (path, image["owners"].get(path))


def test_no_gunicorn_here_opens_the_control_socket_a_second_one_would_share():
    """gunicorn 25.1+ opens a control socket at ~/.gunicorn/gunicorn.ctl, one path for
    every gunicorn of the user. README's upgrade without docker starts the new
    gunicorn beside the old: the new one took the path over and stopping the old one
    deleted it (measured, gunicorn 27.0.1). Nothing here uses it: compose's web and
    `make loadtest` turn it off, as the installed gunicorn reads their command lines
    (a flag it does not know would stop it at start)."""
    import yaml
    from gunicorn.config import Config

    from bench.loadtest import gunicorn_command

    web = yaml.safe_load(COMPOSE)["services"]["web"]["command"]
    loadtest = gunicorn_command(port=8765, workers=2, threads=8)
    assert web[0] == "gunicorn" and loadtest[1:3] == ["-m", "gunicorn"]
    for arguments in (web[1:], loadtest[3:]):
        read = Config().parser().parse_args(arguments)
        assert read.args == ["config.wsgi"] and read.control_socket_disable is True, arguments


def test_every_variable_compose_sets_is_a_setting_listed_in_env_example():
    """Docker is not installed where this is written (`docker compose config` cannot
    run): read instead. EMAIL_HOST and EMAIL_PORT, set here for Mailpit, were read by
    the settings and named nowhere in .env.example."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    app = re.search(r"^  environment: &env\n((?:    .*\n)+)", COMPOSE, re.MULTILINE)
    assert app, "no environment: &env block"
    names = set(re.findall(r"^    ([A-Z][A-Z0-9_]*):", app.group(1), re.MULTILINE))
    assert {"SECRET_KEY", "EMAIL_HOST", "POSTAL_ADDRESS"} <= names
    settings = (root / "config" / "settings.py").read_text()
    example = (root / ".env.example").read_text()
    assert sorted(name for name in names if f'"{name}"' not in settings) == []
    # Every ${NAME} compose reads from .env is listed too (SITE_HOST is compose's own).
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE))
    assert sorted(name for name in names if not re.search(rf"^(?:# )?{name}=", example, re.MULTILINE)) == []
