"""The subscriber journey in Chromium against the live server: subscribe, confirm
from the email, change preferences, pause, unsubscribe, resubscribe. Each page is
saved at 1280 and 390 px under var/screenshots/journey-*."""

import re

import pytest
from django.core import mail

from subscribers import tokens
from subscribers.models import Subscriber, Suppression
from subscribers.suppression import address_suppress
from tests.browser.conftest import DESKTOP, axe_blocking_at_widths, missing_glyphs, page_overflow
from tests.factories import PaperFactory, SubscriberFactory, TopicFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_subscriber_journey(browser, live_server, screenshot, settings):
    settings.SITE_URL = live_server.url
    TopicFactory(name="Language models", slug="journey-llm",
                 description="Large language models: training, alignment, reasoning.")
    TopicFactory(name="Computer vision", slug="journey-vision",
                 description="Images and video: detection, segmentation, generation.")
    TopicFactory(name="Robotics", slug="journey-robotics",
                 description="Embodied agents, manipulation and navigation.")
    context = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Berlin")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    PaperFactory(title="A paper on the home page")

    # Subscribe from the home page, served from the public cache (no cookie, no CSRF
    # token): its email field opens the full form, which brings the token.
    page.goto(f"{live_server.url}/")
    page.reload()  # the second visit is the stored copy
    assert context.cookies() == []
    start = page.locator("form.sf-start")
    start.get_by_label("Email address").fill("ada@example.com")
    screenshot(page, "journey-00-home")
    start.get_by_role("button", name="Continue").click()
    # Posted, not in the address: it stays out of the history and any access log.
    page.wait_for_url("**/subscribe/")
    assert "ada" not in page.url
    # The time zone is preset from the browser.
    assert page.locator("select[name=time_zone]").input_value() == "Europe/Berlin"
    assert page.get_by_label("Email address").input_value() == "ada@example.com"
    assert sorted(c["name"] for c in context.cookies()) == ["csrftoken", "start"]
    screenshot(page, "journey-01-subscribe")
    # The weekly digest's day is asked on the form itself, once Weekly is chosen.
    assert not page.get_by_label("Day of the weekly digest").is_visible()
    page.get_by_role("radio", name="Weekly").check()
    assert page.get_by_label("Day of the weekly digest").is_visible()
    page.get_by_role("radio", name="Every weekday").check()
    page.get_by_text("Language models", exact=True).click()
    page.get_by_label("Delivery time").select_option("8")
    page.get_by_label(re.compile("email me the Daily Papers Digest")).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/subscribe/check-your-inbox/")
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    # It names the address typed, so a typo shows before anyone waits for an email.
    assert page.locator(".sf-asked strong").inner_text() == "ada@example.com"
    assert missing_glyphs(page.locator(".sf-icon")) == []
    screenshot(page, "journey-02-check-inbox")
    # "Not your address? Type it again" brings the form back with the choices made,
    # the address empty (it was a blank form: a newcomer's walkthrough).
    page.get_by_role("link", name="Type it again").click()
    page.wait_for_url("**/subscribe/check-your-inbox/again/")
    assert page.get_by_label("Email address").input_value() == ""
    checked = page.locator("label.sf-topic:has(input[name=topics]:checked) strong")
    assert checked.all_inner_texts() == ["Language models"]
    assert page.get_by_role("radio", name="Every weekday").is_checked()
    assert page.get_by_label("Delivery time").input_value() == "8"
    assert page.locator("select[name=time_zone]").input_value() == "Europe/Berlin"
    screenshot(page, "journey-02b-type-it-again")

    # The confirmation email holds the link; GET shows a button, POST confirms.
    assert len(mail.outbox) == 1
    confirm_link = re.search(r"(http://\S+/confirm/\S+/)", mail.outbox[0].body).group(1)
    page.goto(confirm_link)
    screenshot(page, "journey-03-confirm")
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_role("heading", name="You're subscribed").wait_for()
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.ACTIVE
    assert (subscriber.time_zone, subscriber.delivery_hour) == ("Europe/Berlin", 8)
    # It says when the first digest comes, in the reader's zone.
    assert re.search(r"Your first digest arrives (within 15 minutes|(today|tomorrow|on \w+ \d+ \w+) around"
                     r" 08:00 CES?T \(Europe/Berlin\))\.", page.locator("main").inner_text())
    # Its icon is drawn by the fonts every machine has (no colour-emoji font needed).
    assert missing_glyphs(page.locator(".sf-icon")) == []
    screenshot(page, "journey-04-confirmed")

    # Preference centre.
    page.get_by_role("link", name="Fine-tune your digest").click()
    page.get_by_role("heading", name="Your digest", exact=True).wait_for()
    screenshot(page, "journey-05-manage")
    # A subscriber's own page offers no "Subscribe"; on a phone its header keeps
    # "Papers" (a reader's walkthrough found only "Subscribe" there, at 375 px).
    header = page.locator("header.site-header")
    page.set_viewport_size({"width": 375, "height": 812})
    assert header.get_by_role("link", name="Subscribe").count() == 0
    assert header.get_by_role("link", name="Papers", exact=True).is_visible()
    page.set_viewport_size(DESKTOP)
    page.get_by_text("Computer vision", exact=True).click()
    page.get_by_role("radio", name="Weekly").check()
    page.get_by_label("Day of the weekly digest").select_option(label="Friday")
    page.get_by_label("Papers per digest").select_option("10")
    page.get_by_label("Only papers with code").check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Saved.").wait_for()
    # A weekly reader's next digest is on their day (Friday), whatever today is.
    assert re.search(r"Your next digest, (within 15 minutes|today|tomorrow|on Friday \d+ \w+), uses these settings",
                     page.locator(".sf-flash").inner_text())
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.weekday, subscriber.papers_per_digest) == ("weekly", 4, 10)
    assert subscriber.only_with_code
    assert set(subscriber.topics.values_list("slug", flat=True)) == {"journey-llm", "journey-vision"}
    screenshot(page, "journey-06-saved")

    # Pause.
    page.get_by_role("button", name="Pause 2 weeks").click()
    page.get_by_text("Done: your digests are on hold. Enjoy the quiet.").wait_for()
    # Said once: the flash above the status it changed read "Paused. Enjoy the quiet."
    # over "Paused. Digests start again by themselves…" (a newcomer's walkthrough).
    assert page.locator("main").inner_text().count("Paused.") == 1
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PAUSED
    screenshot(page, "journey-07-paused")

    # Unsubscribe from the visible link in an email.
    page.goto(tokens.subscriber_unsubscribe_url(subscriber=subscriber))
    screenshot(page, "journey-08-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You're unsubscribed").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    screenshot(page, "journey-09-unsubscribed")
    assert "unsubscribed" in mail.outbox[-1].subject  # the goodbye email
    # The page answers whoever pressed (a forwarded digest's link too): the way back
    # is the goodbye email's, as every link of the emails before now only unsubscribes.
    assert page.get_by_role("button", name="Resubscribe").count() == 0
    assert page.get_by_text("The email saying you're unsubscribed has a button to resubscribe").is_visible()

    # Resubscribe, from the goodbye email.
    (resubscribe,) = re.findall(r"https?://\S+/resubscribe/", mail.outbox[-1].body)
    page.goto(resubscribe)
    page.get_by_role("button", name="Resubscribe").click()
    page.get_by_text("You're subscribed again").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
    screenshot(page, "journey-10-resubscribed")

    # The confirmation link again (a forwarded email, a shared browser's history):
    # a neutral page, without the manage link.
    page.goto(confirm_link)
    page.get_by_role("heading", name="This link was already used").wait_for()
    assert page.locator("a[href*='/manage/']").count() == 0
    screenshot(page, "journey-11-confirm-link-used")

    assert errors == []
    context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_suppressed_readers_confirm_link_says_no_digest_will_come_and_leads_to_the_form(
    page, live_server, screenshot, settings,
):
    """Their confirmation bounced: the link said "already used… needs nothing more".
    It says why no digest will come, reads well at both widths, and its button leads
    to the subscribe form for another address."""
    settings.SITE_URL = live_server.url
    TopicFactory(name="Language models")
    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.PENDING, confirmed_at=None)
    address_suppress(email=reader.email, reason=Suppression.Reason.HARD_BOUNCE)

    page.goto(tokens.confirm_url(subscriber=reader))
    page.get_by_role("heading", name="We can't send to this address").wait_for()
    assert "no digest will come" in page.inner_text("main")
    assert axe_blocking_at_widths(page) == {k: [] for k in ("desktop light", "desktop dark", "phone light", "phone dark")}
    assert page_overflow(page) <= 0
    screenshot(page, "journey-confirm-suppressed")
    page.get_by_role("link", name="Subscribe with another address").click()
    page.get_by_label("Email address").wait_for()
    assert page.url == f"{live_server.url}/subscribe/"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_back_from_check_your_inbox_shows_the_form_begun_on_the_home_page(page, live_server, settings):
    """Address typed in the home page's field, Continue, topics, Subscribe, then
    Back: Chromium showed "Confirm Form Resubmission" (ERR_CACHE_MISS), the form and
    what was picked gone, as the form was the answer to Continue's POST, kept from
    every store. The form is now a page of its own, with the address filled in."""
    settings.SITE_URL = live_server.url
    TopicFactory(name="Language models", slug="back-llm", description="Large language models.")
    PaperFactory(title="A paper on the home page")
    page.goto(f"{live_server.url}/")
    page.locator("form.sf-start").get_by_label("Email address").fill("back@example.com")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r"/subscribe/(start/)?$"))
    assert "back@example.com" not in page.url
    page.get_by_text("Language models", exact=True).click()
    page.get_by_label(re.compile("email me the Daily Papers Digest")).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/subscribe/check-your-inbox/")

    page.go_back()  # Chromium's error page, ERR_CACHE_MISS, before

    page.wait_for_url("**/subscribe/")
    assert page.get_by_label("Email address").input_value() == "back@example.com"
    assert page.get_by_role("button", name="Subscribe").is_visible()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_without_scripts_the_form_says_the_hour_is_utcs_unless_a_zone_is_chosen(browser, live_server):
    """The time zone is preset by a script; with scripts off it stayed on UTC
    without a word, so a reader in Tokyo choosing 8:00 got their digest at 17:00.
    It now says so under the select; with scripts on, the zone is set and nothing
    is said."""
    TopicFactory(name="Agents")
    for scripts in (False, True):
        context = browser.new_context(java_script_enabled=scripts, timezone_id="Asia/Tokyo")
        page = context.new_page()
        page.goto(f"{live_server.url}/subscribe/")
        hint = page.get_by_text("We could not read your time zone from your browser")
        zone = page.get_by_label("Time zone")
        if scripts:
            assert not hint.is_visible() and zone.input_value() == "Asia/Tokyo"
        else:
            assert hint.is_visible() and zone.input_value() == "UTC"
            assert zone.get_attribute("aria-describedby") == "tz-unread"
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_reader_in_kyiv_or_kolkata_gets_their_city_by_its_current_name(browser, live_server, settings):
    """Chromium reports the zone by ICU's old id: a reader in Kyiv found the form
    preset to "Europe/Kiev" (the Russian spelling Ukraine asked the world to drop),
    one in Kolkata to "Asia/Calcutta", one in Ho Chi Minh City to "Asia/Saigon",
    and their confirmation page, preference centre and every digest said it; the
    list offered both spellings of each city. Each city is listed once, by the name
    the time-zone database uses now, and a browser's old name finds it."""
    from subscribers.forms import PreferencesForm
    from tests.factories import SubscriberFactory

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    TopicFactory(name="Agents")
    for zone, shown in (("Europe/Kyiv", "Europe/Kyiv"), ("Asia/Kolkata", "Asia/Kolkata"),
                        ("Asia/Ho_Chi_Minh", "Asia/Ho Chi Minh")):
        context = browser.new_context(timezone_id=zone)
        page = context.new_page()
        page.goto(f"{live_server.url}/subscribe/")
        select = page.get_by_label("Time zone")
        assert select.input_value() == zone
        assert select.locator("option:checked").inner_text() == shown
        context.close()
    names = page_options(live_server)
    assert "Europe/Kyiv" in names and "Asia/Kolkata" in names
    assert not {"Europe/Kiev", "Asia/Calcutta", "Asia/Saigon", "Asia/Katmandu"} & set(names)

    # A reader stored with an old name (before this, or posted without scripts) is
    # shown, and keeps, the current one: not UTC, the list's first.
    reader = SubscriberFactory(time_zone="Asia/Calcutta")
    form = PreferencesForm.for_subscriber(reader)
    assert form["time_zone"].value() == "Asia/Kolkata"
    posted = PreferencesForm(data={**form.initial, "topics": [], "time_zone": "Europe/Kiev"})
    posted.fields["topics"].required = False
    assert posted.is_valid(), posted.errors
    assert posted.cleaned_data["time_zone"] == "Europe/Kyiv"


def page_options(live_server) -> list[str]:
    import urllib.request

    html = urllib.request.urlopen(f"{live_server.url}/subscribe/").read().decode()
    return re.findall(r'<option value="([^"]+/[^"]+)"', html)


# How many lines the masked address `text` takes on the page: its characters' boxes,
# wherever the markup puts them.
ADDRESS_LINES = """text => {
    const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
    const tops = new Set();
    for (let node; (node = walker.nextNode());) {
        const at = node.data.indexOf(text);
        if (at < 0) continue;
        const range = document.createRange(); range.setStart(node, at); range.setEnd(node, at + text.length);
        for (const r of range.getClientRects()) tops.add(Math.round(r.top));
        return tops.size;
    }
    return 0;
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_masked_address_is_never_cut_after_its_first_letter(page, live_server, settings):
    """At 390 px the suppressed reader's page read "We stopped sending email to b…" over
    "@example.com." (screenshots, 6 December 2026): a line may break after an
    ellipsis, and "b…" alone is no address. At every phone width it keeps to one line."""
    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="bounced.reader@example.com", status=Subscriber.Status.PENDING,
                               confirmed_at=None)
    address_suppress(email=reader.email, reason=Suppression.Reason.EDITOR)
    page.goto(tokens.confirm_url(subscriber=reader))
    page.get_by_role("heading", name="We can't send to this address").wait_for()
    cut = {}
    for width in range(320, 441, 4):
        page.set_viewport_size({"width": width, "height": 844})
        lines = page.evaluate(f"() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame("
                              f"() => done(({ADDRESS_LINES})('{reader.email_masked}')))))")
        if lines != 1:
            cut[width] = lines
    assert cut == {}


# The punctuation right after a masked address (":" in "as b…@x.com: a digest …"),
# where it is not on the line the address ends on.
PUNCTUATION_CUT_OFF = """text => {
    const walker = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let node; (node = walker.nextNode());) nodes.push(node);
    const cut = [];
    nodes.forEach((node, i) => {
        for (let at = node.data.indexOf(text); at >= 0; at = node.data.indexOf(text, at + 1)) {
            const last = document.createRange();
            last.setStart(node, at + text.length - 1); last.setEnd(node, at + text.length);
            let after = node, from = at + text.length;
            if (from >= node.data.length && i + 1 < nodes.length) { after = nodes[i + 1]; from = 0; }
            if (!/[.,:;]/.test(after.data.charAt(from))) continue;
            const mark = document.createRange(); mark.setStart(after, from); mark.setEnd(after, from + 1);
            if (Math.abs(mark.getClientRects()[0].top - last.getClientRects()[0].top) > 2) {
                cut.push(after.data.slice(from, from + 14));
            }
        }
    });
    return cut;
}"""


@pytest.mark.browser
def test_the_punctuation_after_a_masked_address_stays_on_its_line(page, live_server, settings):
    """A masked address moves to the next line whole (an inline block, the test
    above); the line could then break between it and the colon after it: the
    preference centre read "You're subscribed as r…@localhost" over ": a digest every
    weekday …" (a newcomer's walkthrough at 390 px, 7 December)."""
    from subscribers.tokens import subscriber_manage_url

    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="reader@localhost", status=Subscriber.Status.ACTIVE)
    page.goto(subscriber_manage_url(subscriber=reader))
    page.get_by_role("heading", name="Your digest", exact=True).wait_for()
    cut = {}
    for width in range(320, 441, 2):
        page.set_viewport_size({"width": width, "height": 844})
        found = page.evaluate(f"() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame("
                              f"() => done(({PUNCTUATION_CUT_OFF})('{reader.email_masked}')))))")
        if found:
            cut[width] = found
    assert cut == {}
