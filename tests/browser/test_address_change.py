"""A reader moves their digest to a new address, in Chromium: the preference
centre's "Change my address", then the link mailed to the new address.
Screenshots under var/screenshots/address-*."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from subscribers.models import Subscriber
from subscribers.tokens import subscriber_manage_url
from tests.browser.conftest import axe_blocking
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
    page.get_by_role("button", name="Move my digest here").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your address is changed")
    screenshot(page, "address-moved")
    assert axe_blocking(page) == []
    moved = Subscriber.objects.get(pk=reader.pk)
    assert moved.email == "ada@newjob.example" and [t.name for t in moved.topics.all()] == ["Agents"]
    assert mail.outbox[-1].to == ["ada@oldjob.example"]  # the notice at the old address
    assert page.js_errors == [] and page.console_errors == []
