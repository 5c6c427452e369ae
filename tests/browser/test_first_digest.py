"""The newcomer's path, in Chromium: a fresh clone, `make run`, and the demo reader's
personalised digest of the sample day is in the outbox with no other step. Every
link of it is clicked: a link to the site answers 200, any other is a well-formed
https URL (this machine has no internet to follow it)."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.devserver import make_run

pytestmark = [pytest.mark.browser]


def _well_formed_external(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme == "https" and "." in parts.hostname and not re.search(r"\s", url)
        and parts.hostname not in {"localhost", "127.0.0.1"}
    )


def test_make_run_puts_a_personal_digest_in_the_outbox_whose_every_link_works(tmp_path, page, screenshot):
    with make_run(tmp_path) as site:
        site.get("/")  # started
        page.goto(site.url + "/outbox/")
        # The digest's subject: the brand, the day ("Mon 24 Nov", or "24 Nov 2025" from
        # another year: the sample day's), its first papers' short names.
        digest = page.get_by_role("link", name=re.compile(r"^Daily Papers Digest, (\w{3} \d+ \w{3}|\d+ \w{3} \d{4}): ")).first
        expect(page.get_by_text("reader@localhost").first).to_be_visible()
        digest.click()
        expect(page.get_by_text("reader@localhost").first).to_be_visible()
        # "Open alone" opens a new tab; the same address here.
        page.goto(page.get_by_role("link", name="Open alone").evaluate("a => a.href"))
        html_url = page.url
        assert re.search(r"/outbox/\d+/html/$", html_url)
        screenshot(page, "first-digest")

        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        text = page.locator("body").inner_text()
        # Personal: the demo reader's topics are in it, with the reason of each pick.
        assert "matched:" in text
        # When the next one comes, in the demo reader's zone (America/New_York).
        assert re.search(r"a digest every weekday around \d\d:00 E[SD]T \(America/New_York\)", text), text
        internal = [h for h in hrefs if h.startswith(site.url)]
        external = [h for h in hrefs if not h.startswith(site.url)]
        assert len(internal) >= 10, hrefs  # papers, feedback, browser view, preferences, unsubscribe
        assert any("/papers/" in h for h in internal)
        assert all(_well_formed_external(h) for h in external), external

        for index, href in enumerate(hrefs):
            if not href.startswith(site.url):
                continue
            page.goto(html_url)
            link = page.locator("a[href]").nth(index)
            assert link.evaluate("a => a.href") == href
            with page.expect_navigation() as navigation:
                link.click()
            response = navigation.value
            assert response is not None and response.status == 200, f"{href}: {response and response.status}"
        assert page.js_errors == []
