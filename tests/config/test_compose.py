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
