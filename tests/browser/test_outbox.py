"""The local outbox in Chromium: an email sent through the outbox backend is
listed and its HTML part renders in the sandboxed frame."""

import pytest
from django.core.mail import EmailMultiAlternatives
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HTML = """<!doctype html><html><body style="font-family:sans-serif">
<h1 style="color:#b45309">Your papers for Monday</h1>
<p>1. <a href="https://huggingface.co/papers/2511.00001">Self-Critique Makes Agents Better</a></p>
<script>parent.document.title = "pwned"</script>
</body></html>"""


@pytest.fixture
def sent_email(settings):
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    # The live server runs in this process: DEBUG opens the outbox as in local development.
    settings.DEBUG = True
    message = EmailMultiAlternatives(
        subject="Your papers for Monday",
        body="Your papers for Monday\n\n1. Self-Critique Makes Agents Better",
        to=["ada@example.com"],
        headers={"List-Unsubscribe": "<https://example.com/u/abc>"},
    )
    message.attach_alternative(HTML, "text/html")
    message.send()


def test_an_email_opens_from_the_outbox_with_its_html_rendered(
    live_server, page, screenshot, sent_email
):
    page.goto(live_server.url + "/outbox/")
    expect(page.get_by_role("cell", name="ada@example.com")).to_be_visible()
    screenshot(page, "outbox-list")

    page.get_by_role("link", name="Your papers for Monday").click()

    expect(page.get_by_text("<https://example.com/u/abc>")).to_be_visible()
    frame = page.frame_locator("iframe.preview__frame")
    expect(frame.get_by_role("heading", name="Your papers for Monday")).to_be_visible()
    expect(frame.get_by_role("link", name="Self-Critique Makes Agents Better")).to_be_visible()
    expect(page.locator("pre.text-part")).to_contain_text("1. Self-Critique Makes Agents Better")
    # The sandbox kept the email's script from running.
    assert page.title() != "pwned"

    page.get_by_text("Phone", exact=True).click()
    assert page.locator("iframe.preview__frame").bounding_box()["width"] <= 390
    screenshot(page, "outbox-detail")

    # Played back as the provider would report it: the address is suppressed.
    page.get_by_role("button", name="Record a hard bounce").click()
    expect(page.get_by_role("status")).to_contain_text("Recorded as a hard bounce")
    from subscribers.suppression import email_is_suppressed
    assert email_is_suppressed("ada@example.com")
    screenshot(page, "outbox-bounced")
    assert page.js_errors == []


def test_an_address_in_the_outbox_list_reads_whole_on_a_laptop(live_server, page, settings):
    """At 1280 px the list wrote "r11@example.co" over "m" (screenshots, 6 December
    2026): the page lets long words break anywhere (site.css, body), so the table gave
    the To column the least it could beside a digest's long subject."""
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    settings.DEBUG = True
    for to in ("r11@example.com", "ada.lovelace@example.com"):
        EmailMultiAlternatives(subject="Daily Papers Digest, Sun 29 Nov: A Study of Things, Part 26 +2 more",
                               body="Papers", to=[to]).send()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url + "/outbox/")
    lines = page.evaluate("""() => [...document.querySelectorAll('td.outbox-table__to')].map(cell => {
        const range = document.createRange(); range.selectNodeContents(cell);
        return [cell.innerText, new Set([...range.getClientRects()].map(r => Math.round(r.top))).size];
    })""")
    assert sorted(lines) == [["ada.lovelace@example.com", 1], ["r11@example.com", 1]]


def test_a_link_clicked_in_the_emails_frame_opens_its_page_in_a_new_tab(live_server, page, settings):
    """Clicking "Read" (or any link but a button) in a digest shown in the outbox opened
    the link inside the frame, and the site's pages refuse frames (X-Frame-Options:
    DENY): the frame turned into a broken-page icon (a newcomer's walkthrough, 7
    December 2026). Links in the preview open in a new tab, as a mail app opens them
    in the browser."""
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    settings.DEBUG = True
    message = EmailMultiAlternatives(subject="Your papers for Monday", body="Feeds", to=["ada@example.com"])
    message.attach_alternative(
        f'<!doctype html><html><head><title>x</title></head><body><p><a href="{live_server.url}/feeds/">'
        "Read the feeds</a></p></body></html>", "text/html")
    message.send()
    page.goto(live_server.url + "/outbox/")
    page.get_by_role("link", name="Your papers for Monday").click()
    with page.context.expect_page(timeout=10_000) as opened:
        page.frame_locator("iframe.preview__frame").get_by_role("link", name="Read the feeds").click()
    tab = opened.value
    expect(tab.get_by_role("heading", name="Feeds", exact=True)).to_be_visible()
    # The outbox's frame still shows the email.
    expect(page.frame_locator("iframe.preview__frame").get_by_role("link", name="Read the feeds")).to_be_visible()


def test_on_a_phone_the_outbox_offers_no_width_switch_that_changes_nothing(live_server, page, sent_email):
    """On a 390-px phone the HTML part's frame is narrower than the "Phone" width
    already, so "Desktop" and "Phone" showed the same 332-px frame: a switch that did
    nothing (a newcomer's walkthrough, 7 December 2026). Where the frame cannot be
    wider than a phone, the switch is not offered; on a laptop it is, and works."""
    from tests.browser.conftest import DESKTOP, PHONE, frames_drawn

    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/outbox/")
    page.get_by_role("link", name="Your papers for Monday").click()
    frame = page.locator("iframe.preview__frame")
    expect(frame).to_be_visible()
    expect(page.get_by_text("Phone", exact=True)).to_be_hidden()
    expect(page.get_by_text("Desktop", exact=True)).to_be_hidden()

    page.set_viewport_size(DESKTOP)
    frames_drawn(page)
    wide = frame.bounding_box()["width"]
    page.get_by_text("Phone", exact=True).click()
    frames_drawn(page)
    assert frame.bounding_box()["width"] <= 390 < wide
