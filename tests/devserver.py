"""`make run` started from a test as a newcomer starts it: a fresh var/ folder and
.env, no variable exported but the ports, stopped with Ctrl-C (tests/config/
test_make_run.py, tests/browser/test_first_digest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
# What a developer's shell or the test run may have set and a fresh clone has not.
UNSET = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY",
         "SECURE_SSL_REDIRECT", "SITE_URL", "PORT", "ENV_FILE", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningSite:
    proc: subprocess.Popen
    var_dir: Path
    env_file: Path
    web_port: int
    redis_port: int
    log_path: Path
    left_over: list[str] | None = None  # after the stop: processes of its group still running

    @property
    def url(self) -> str:
        return f"http://localhost:{self.web_port}"

    def log(self) -> str:
        return self.log_path.read_text()

    def get(self, path: str, timeout: float = 120) -> str:
        """The page's text once the site answers (it is starting)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "make run stopped early:\n" + self.log()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}{path}", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"{path} did not answer within {timeout} s")

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """python manage.py ... from another shell: only what the newcomer's shell has."""
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=_clean_env(self.var_dir, self.env_file),
            check=False,
            capture_output=True, text=True, timeout=300,
        )


def _clean_env(var_dir: Path, env_file: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    # The test's own var/ and .env stand for the clone's (never the developer's).
    env.update(VAR_DIR=str(var_dir), ENV_FILE=str(env_file), PYTHONUNBUFFERED="1")
    return env


@contextlib.contextmanager
def make_run(tmp_path: Path, stop: str = "ctrl-c", **extra_env: str) -> Iterator[RunningSite]:
    """`stop`: "ctrl-c", SIGINT to the whole process group as a terminal sends it; or
    "sigterm", to `make run`'s own process alone, as a supervisor or `kill` sends it;
    or "sighup", to it alone, as a closed terminal sends it.
    Whatever is left of the group afterwards is killed, so a test that finds a
    process left over fails without leaving it running."""
    web_port, redis_port = free_port(), free_port()
    env = _clean_env(tmp_path, tmp_path / ".env")
    env.update(PORT=str(web_port), EMBEDDED_REDIS_PORT=str(redis_port), **extra_env)
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "config.devrun", "run"], cwd=BASE_DIR, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    site = RunningSite(proc, tmp_path, tmp_path / ".env", web_port, redis_port, log_path)
    try:
        yield site
    finally:
        if stop in ("sigterm", "sighup"):
            proc.send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGHUP)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        site.left_over = _group_left(proc.pid)
        if site.left_over:
            os.killpg(proc.pid, signal.SIGKILL)


def _group_left(group: int, wait: float = 20) -> list[str]:
    """The command lines of the processes still in `group` after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == group:  # pgrp, after state and ppid
                    left.append((status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip())
            except (OSError, IndexError, ValueError):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)
