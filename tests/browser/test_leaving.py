"""The pages a subscriber meets at the edges, in Chromium: deleting their data from
the preference centre (the question, then the answer), and the page the subscribe
form gives when it is asked too often. Screenshots under var/screenshots/leaving-*."""

import re
import uuid

import pytest
from django.core import mail
from playwright.sync_api import expect

from subscribers.models import Subscriber, Suppression
from subscribers.tokens import subscriber_manage_url
from tests.factories import SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reader_deletes_their_data_after_being_told_what_stays(live_server, page, screenshot, settings):
    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="ada@example.com")
    reader.topics.add(TopicFactory(name="Agents"))

    page.goto(subscriber_manage_url(subscriber=reader))
    page.get_by_role("link", name="Delete my data…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete your data for good?")
    expect(page.get_by_text("one-way, keyed fingerprint")).to_be_visible()
    screenshot(page, "leaving-delete-ask")
    assert Subscriber.objects.filter(pk=reader.pk).exists()  # opening the page changes nothing

    page.get_by_role("button", name="Delete everything").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your data is deleted")
    screenshot(page, "leaving-deleted")
    assert not Subscriber.objects.filter(email="ada@example.com").exists()
    assert Suppression.objects.count() == 1
    assert page.js_errors == [] and page.console_errors == []


def test_a_reader_asks_for_their_data_and_it_goes_to_their_inbox(live_server, page, screenshot, settings):
    """Not a download: whoever holds the page's link (a forwarded digest) must not get
    the reader's records. The page says where it went."""
    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="ada@example.com")
    mail.outbox.clear()

    page.goto(subscriber_manage_url(subscriber=reader))
    expect(page.get_by_text("so it reaches only you")).to_be_visible()
    page.get_by_role("button", name="Email me my data").click()
    said = page.get_by_role("status").filter(has_text="On its way to a…@example.com")
    expect(said).to_be_in_viewport()
    screenshot(page, "leaving-data-sent")
    (email,) = mail.outbox
    assert email.to == ["ada@example.com"] and email.attachments[0][0] == "daily-papers-digest-my-data.zip"
    assert page.js_errors == [] and page.console_errors == []


def test_the_subscribe_form_asked_too_often_says_to_wait_and_keeps_nothing(live_server, page, screenshot, settings):
    settings.SUBSCRIBE_RATE_LIMIT_PER_ADDRESS = 1
    TopicFactory(name="Agents")
    email = f"flood-{uuid.uuid4().hex[:8]}@example.com"  # the limit's counter is per address

    for _ in range(2):
        page.goto(live_server.url + "/subscribe/")
        page.get_by_label("Email address").fill(email)
        page.get_by_text("Agents", exact=True).click()
        page.get_by_label(re.compile("email me the Daily Papers Digest")).check()
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state("load")
    expect(page.get_by_role("heading", level=1)).to_have_text("That was a lot of tries")
    screenshot(page, "leaving-rate-limited")
    # The first is pending with its confirmation sent; the second sent nothing more.
    assert Subscriber.objects.get(email=email).status == Subscriber.Status.PENDING
    assert [m.to for m in mail.outbox] == [[email]]
    assert page.js_errors == []


def test_a_change_not_saved_is_not_lost_to_another_button_without_asking(live_server, page, settings):
    """The preference centre's other buttons (pause, unsubscribe, email me my data,
    forget what the digest learned) are forms of their own: typed keywords and a new
    delivery time, not saved, were silently lost when "Pause 1 week" reloaded the
    page (a phone walkthrough). Now the reader is asked; saying no keeps what they
    typed and pauses nothing, saying yes goes on."""
    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="ada@example.com", keywords="medical")
    reader.topics.add(TopicFactory(name="Agents"))
    asked, accept = [], [True]

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if accept[0] else dialog.dismiss()

    page.on("dialog", answer)

    page.goto(subscriber_manage_url(subscriber=reader))
    # Nothing changed: the buttons act at once, no question.
    page.get_by_role("button", name="Email me my data").click()
    expect(page.get_by_role("status").filter(has_text="On its way")).to_be_visible()
    assert asked == []

    page.get_by_label("Extra keywords").fill("medical, robotics")
    accept[0] = False
    page.get_by_role("button", name="Pause 1 week").click()
    assert asked and "not saved yet" in asked[-1]
    expect(page.get_by_label("Extra keywords")).to_have_value("medical, robotics")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and reader.paused_until is None

    # Saved first, then paused: no question, and both stick.
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    count = len(asked)
    page.get_by_role("button", name="Pause 1 week").click()
    expect(page.get_by_role("status").filter(has_text="your digests are on hold")).to_be_visible()
    assert len(asked) == count
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PAUSED and "robotics" in reader.keywords

    # Told "yes, continue": the button acts and the unsaved change goes, as asked.
    page.get_by_label("Extra keywords").fill("medical, robotics, audio")
    accept[0] = True
    page.get_by_role("button", name="Resume now").click()
    expect(page.get_by_role("status").filter(has_text="Welcome back")).to_be_visible()
    assert len(asked) == count + 1
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and "audio" not in reader.keywords
    assert page.js_errors == [] and page.console_errors == []


def test_the_goodbye_emails_link_after_the_retention_erased_the_reader(live_server, page, screenshot, settings):
    """Unsubscribed over UNSUBSCRIBED_KEPT_DAYS ago, the reader's details erased: the
    goodbye email's Resubscribe opens a 410 page that says why the link stopped and
    leads to the form (docs/data-retention.md); axe at desktop and phone widths, light and dark."""
    import datetime as dt

    from django.utils import timezone

    from newsletter.retention import retention_apply
    from subscribers.services import subscriber_unsubscribe
    from subscribers.tokens import subscriber_resubscribe_url
    from tests.browser.conftest import axe_blocking_at_widths

    settings.SITE_URL = live_server.url
    settings.UNSUBSCRIBED_KEPT_DAYS = 30
    reader = SubscriberFactory(email="ada@example.com")
    subscriber_unsubscribe(subscriber=reader, ip=None, user_agent="test")
    link = subscriber_resubscribe_url(subscriber=reader)
    when = timezone.now() - dt.timedelta(days=31)
    Subscriber.objects.filter(pk=reader.pk).update(unsubscribed_at=when, status_changed_at=when)
    retention_apply()

    assert page.goto(link).status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This resubscribe link no longer works")
    expect(page.get_by_text("30 days after they unsubscribe")).to_be_visible()
    assert {where: found for where, found in axe_blocking_at_widths(page).items() if found} == {}
    screenshot(page, "leaving-resubscribe-link-erased")
    page.get_by_role("link", name="Subscribe again").click()
    expect(page).to_have_url(live_server.url + "/subscribe/")
    assert [e for e in page.console_errors if "status of 410" not in e] == [] and page.js_errors == []


def test_the_goodbye_emails_link_after_the_reader_deleted_their_data(live_server, page, settings):
    """A reader unsubscribes, then deletes their data from the preference centre the
    same minute; the goodbye email's Resubscribe said "We delete a reader's details
    30 days after they unsubscribe", which is not what happened to them (a
    newcomer's walkthrough, 6 December 2026). The page names both ways, in the same
    words whichever it was (it tells nothing of the address)."""
    from subscribers.services import subscriber_delete, subscriber_unsubscribe
    from subscribers.tokens import subscriber_resubscribe_url

    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="ada@example.com")
    subscriber_unsubscribe(subscriber=reader, ip=None, user_agent="test")
    link = subscriber_resubscribe_url(subscriber=reader)
    subscriber_delete(subscriber=reader)

    assert page.goto(link).status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This resubscribe link no longer works")
    expect(page.locator("main")).to_contain_text("when they ask")
    expect(page.locator("main")).to_contain_text("30 days after they unsubscribe")


def test_a_reader_who_complained_gets_to_their_data_from_their_old_link(live_server, page, screenshot, settings):
    """A spam complaint retired the reader's links (bbaaf48): their old digest's
    preferences link answers 410. That page leads to "email me my link", whose email
    opens their data only (export, delete): nothing to write to a person for. Axe
    on the 410 page and on the data page, at desktop and phone widths, light and dark."""
    from subscribers.suppression import address_suppress
    from tests.browser.conftest import axe_blocking_at_widths

    settings.SITE_URL = live_server.url
    settings.UNSUBSCRIBED_KEPT_DAYS = 30
    reader = SubscriberFactory(email="ada@example.com")
    old_link = subscriber_manage_url(subscriber=reader)
    address_suppress(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)
    mail.outbox.clear()

    assert page.goto(old_link).status == 410
    expect(page.locator("main")).to_contain_text("even if you marked our email as spam")
    assert {where: found for where, found in axe_blocking_at_widths(page).items() if found} == {}
    screenshot(page, "leaving-complained-old-link")
    page.get_by_role("link", name="Email me a fresh link").click()
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_role("button", name="Email me the link").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    (email,) = mail.outbox
    (data_link,) = set(re.findall(r"http://[^\s]+/manage/[^\s]+/", email.body))

    page.goto(data_link)
    expect(page.locator("main")).to_contain_text("What you can still do here")
    assert page.get_by_role("button", name="Save preferences").count() == 0
    assert page.get_by_role("button", name="Resubscribe").count() == 0
    assert {where: found for where, found in axe_blocking_at_widths(page).items() if found} == {}
    screenshot(page, "leaving-complained-data")
    page.get_by_role("button", name="Email me my data").click()
    expect(page.get_by_role("status").filter(has_text="On its way to a…@example.com")).to_be_in_viewport()
    assert mail.outbox[-1].attachments[0][0] == "daily-papers-digest-my-data.zip"
    assert [e for e in page.console_errors if "status of 410" not in e] == [] and page.js_errors == []
