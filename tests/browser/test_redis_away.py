"""The subscribe form in Chromium while Redis (the task queue) is away: the person
is told in words, at the top of the form, and everything they chose is still
there; sending it again once Redis is back subscribes them. Saved as
var/screenshots/subscribe-queue-away-*."""

import re

import pytest
from django.core import mail

from subscribers.views import QUEUE_AWAY_MESSAGE
from tests.factories import TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_form_survives_redis_being_away_and_the_second_try_subscribes(
    page, live_server, screenshot, settings, broker_away
):
    settings.SITE_URL = live_server.url
    TopicFactory(name="Laundry robots", slug="away-laundry", description="Folding, sorting, ironing.")
    TopicFactory(name="Tide prediction", slug="away-tides", description="Oceans and their models.")
    page.goto(f"{live_server.url}/subscribe/")
    page.get_by_label("Email address").fill("grace@example.com")
    page.get_by_text("Tide prediction", exact=True).click()
    page.get_by_label("Extra keywords").fill("tool use")
    page.get_by_label(re.compile("email me the Daily Papers Digest")).check()
    page.get_by_role("button", name="Subscribe").click()

    summary = page.locator(".sf-error-summary, [role=alert]").first
    summary.wait_for()
    assert QUEUE_AWAY_MESSAGE in summary.inner_text()
    assert page.get_by_label("Email address").input_value() == "grace@example.com"
    assert page.get_by_role("checkbox", name=re.compile("Tide prediction")).is_checked()
    assert page.get_by_label("Extra keywords").input_value() == "tool use"
    assert page.js_errors == []
    screenshot(page, "subscribe-queue-away")

    broker_away()  # Redis is back
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url("**/subscribe/check-your-inbox/")
    (email,) = mail.outbox
    assert email.to == ["grace@example.com"]
