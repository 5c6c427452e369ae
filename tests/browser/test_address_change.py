"""A reader moves their digest to a new address, in Chromium: the preference
centre's "Change my address", the link mailed to the new address, then the approval
mailed to the current one. Screenshots under var/screenshots/address-*."""

import re

import pytest
from django.conf import settings as django_settings
from django.core import mail
from playwright.sync_api import expect

from subscribers.models import Subscriber
from subscribers.tokens import subscriber_manage_url
from tests.browser.conftest import PHONE, axe_blocking, page_overflow
from tests.factories import SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reader_changes_their_address_from_the_preference_centre(live_server, page, screenshot, settings):
    settings.SITE_URL = live_server.url
    reader = SubscriberFactory(email="ada@oldjob.example")
    reader.topics.add(TopicFactory(name="Agents"))
    mail.outbox.clear()

    page.goto(subscriber_manage_url(subscriber=reader))
    page.get_by_label("New email address").fill("ada@newjob.example")
    page.get_by_role("button", name="Change my address").click()
    said = page.get_by_role("status").filter(has_text="Check the inbox of the new address")
    expect(said).to_be_in_viewport()
    screenshot(page, "address-asked")
    assert axe_blocking(page) == []
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"

    (asked,) = mail.outbox
    assert asked.to == ["ada@newjob.example"]
    link = re.search(r"http://\S+/address/\S+/", asked.body).group(0)
    page.goto(link)
    assert axe_blocking(page) == []
    page.get_by_role("button", name="Confirm this address").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("One more step")
    expect(page.get_by_role("link", name="subscribe this address instead")).to_have_attribute("href", "/subscribe/")
    screenshot(page, "address-one-more-step")
    assert axe_blocking(page) == []
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"  # not before the old inbox says yes

    approval = mail.outbox[-1]
    assert approval.to == ["ada@oldjob.example"] and approval.subject == "Move your Daily Papers Digest to a…@newjob.example?"
    # The approval email as a phone shows it (390 px), its button there.
    page.set_viewport_size(PHONE)
    page.set_content(approval.alternatives[0][0])
    expect(page.get_by_role("link", name="Approve the move")).to_be_visible()
    assert page_overflow(page) <= 0
    page.screenshot(path=f"{django_settings.SCREENSHOT_DIR}/address-approval-email-phone.png", full_page=True)

    approve = re.search(r"http://\S+/address-approval/\S+/", approval.body).group(0)
    page.goto(approve)
    expect(page.get_by_role("heading", level=1)).to_have_text("Move your digest to a…@newjob.example?")
    assert page_overflow(page) <= 0
    screenshot(page, "address-approve")
    assert axe_blocking(page) == []
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"  # opening it moves nothing
    page.get_by_role("button", name="Yes, move my digest").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your address is changed")
    screenshot(page, "address-moved")
    assert axe_blocking(page) == []
    moved = Subscriber.objects.get(pk=reader.pk)
    assert moved.email == "ada@newjob.example" and [t.name for t in moved.topics.all()] == ["Agents"]
    assert mail.outbox[-1].to == ["ada@oldjob.example"]  # the notice at the old address
    assert page.js_errors == [] and page.console_errors == []
