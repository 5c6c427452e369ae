"""`make run` end to end: from an empty var/ folder to a site serving the sample
papers, with web, worker, beat and an embedded Redis, all stopped by Ctrl-C."""

import http.cookiejar
import re
import socket
import urllib.parse
import urllib.request

import pytest

from tests.devserver import make_run


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
    with make_run(tmp_path, ADMIN_PASSWORD="a-long-test-password") as site:
        html = site.get("/")
        assert "Towards Better Alignment" in html
        # Every sample paper is on the page.
        assert len(re.findall(r'<article class="paper-card', html)) == 73
        printed = site.log()
        assert "Admin login: admin / a-long-test-password (admin@localhost)" in printed
        assert f"http://localhost:{site.web_port}/admin/" in printed
        assert _admin_login_works(site.web_port, "admin", "a-long-test-password")
        # Only this machine can reach it: another loopback address finds nothing.
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.2", site.web_port)) != 0
        # The development .env: DEBUG on, the port SITE_URL follows.
        assert "DEBUG=true" in site.env_file.read_text()
        assert f"PORT={site.web_port}" in site.env_file.read_text()
        assert f"EMBEDDED_REDIS_PORT={site.redis_port}" in site.env_file.read_text()
        # The demo reader's digest of the sample day is in the outbox already.
        assert "Demo reader: reader@localhost" in printed
        assert "Edition of Monday 24 November 2025: 1 sent" in printed
        outbox = site.get("/outbox/")
        assert "reader@localhost" in outbox
        # manage.py from another shell, with no variable: finds the embedded Redis through
        # .env, and sends nothing twice.
        again = site.manage("send_digests", "--latest", "--now")
        assert again.returncode == 0, again.stderr
        assert "Nobody is due" in again.stdout
    # Redis, web, worker and beat all stopped: the ports are free again.
    assert site.left_over == []
    for port in (site.web_port, site.redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


@pytest.mark.parametrize("stop", ["sigterm", "sighup"])
def test_make_run_stopped_by_a_supervisors_sigterm_stops_web_worker_beat_and_redis_too(tmp_path, stop):
    """SIGTERM (a process supervisor, `kill`) or SIGHUP (a closed terminal) reaches
    make run's own process only. Its children used to outlive it, holding the port
    the next `make run` wants. (With the admin moved: the banner names its address.)"""
    with make_run(tmp_path, stop=stop, ADMIN_URL="editors-desk/") as site:
        assert "Towards Better Alignment" in site.get("/")
        assert f"admin   http://localhost:{site.web_port}/editors-desk/" in site.log()
    assert "Stopping" in site.log()
    assert site.left_over == []
    for port in (site.web_port, site.redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
