"""`make run` end to end: from an empty var/ folder to a site serving the sample
papers, with web, worker, beat and an embedded Redis, all stopped by Ctrl-C."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make run stopped early"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _admin_login_works(port: int, username: str, password: str) -> bool:
    """Log in through the admin's form, as a person would, and land on its index."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"http://127.0.0.1:{port}/admin/login/?next=/admin/"
    form = opener.open(login_url, timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(login_url, data=data, headers={"Referer": login_url})
    page = opener.open(request, timeout=10).read().decode()
    return "Daily Papers Digest — editors" in page and "Log out" in page


def test_make_run_serves_the_sample_and_stops_everything_on_ctrl_c(tmp_path):
    web_port, redis_port = _free_port(), _free_port()
    env = {
        k: v for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY",
                     "SECURE_SSL_REDIRECT"}
    }
    env.update(VAR_DIR=str(tmp_path), PORT=str(web_port), EMBEDDED_REDIS_PORT=str(redis_port),
               ADMIN_PASSWORD="a-long-test-password", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "config.devrun", "run"], cwd=BASE_DIR, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        html = _wait_for(f"http://127.0.0.1:{web_port}/", proc)
        assert "Towards Better Alignment" in html
        # Every sample paper is on the page.
        assert len(re.findall(r'<article class="paper-card', html)) == 73
        log.seek(0)
        printed = log.read()
        assert "Admin login: admin / a-long-test-password" in printed
        assert f"http://localhost:{web_port}/admin/" in printed
        assert _admin_login_works(web_port, "admin", "a-long-test-password")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    # Redis, web, worker and beat all stopped: the ports are free again.
    for port in (web_port, redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
