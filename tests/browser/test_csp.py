"""The Content-Security-Policy (config/middleware.py) in Chromium: the public pages
load without a console error or a CSP violation, and an inline script is blocked."""

import pytest

from subscribers.tokens import subscriber_manage_url
from tests.factories import PaperFactory, SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def test_public_pages_pass_the_policy_without_console_errors(live_server, page, settings):
    settings.SITE_URL = live_server.url
    TopicFactory(name="Agents")
    PaperFactory(title="<script>alert(1)</script> Agents that plan")
    reader = SubscriberFactory()
    problems = _watch(page)
    for path in ("/", "/subscribe/", subscriber_manage_url(subscriber=reader).removeprefix(live_server.url)):
        response = page.goto(live_server.url + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
    # subscribe.js (a static file) ran: it fills in the visitor's time zone.
    page.goto(live_server.url + "/subscribe/")
    assert page.evaluate("document.querySelectorAll('script[src]').length") >= 1
    assert problems == []


def test_an_injected_inline_script_is_blocked(live_server, page):
    problems = _watch(page)
    page.goto(live_server.url + "/subscribe/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.pwned = 1';"
        " document.body.appendChild(s); }"
    )
    assert page.evaluate("window.pwned") is None
    assert any("Content Security Policy" in p for p in problems)
