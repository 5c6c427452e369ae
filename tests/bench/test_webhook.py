"""`python -m bench.webhook` at a tiny size on the test database: SendGrid's post goes
through the real webhook, every event of it is stored, far fewer queries than events
are made, and nothing it records is kept. No timing is asserted: the figures are for
docs/benchmarks.md, not for tests."""

import json

import pytest

from bench import webhook
from newsletter.models import Delivery, DeliveryEvent
from subscribers.models import Subscriber, Suppression
from tests import webhooks

pytestmark = [
    pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret"),
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]


def test_the_webhook_benchmark_posts_a_sendgrid_batch_and_keeps_nothing(settings):
    webhooks.esp_route(settings, "sendgrid")
    lines: list[str] = []

    row = webhook.run(readers=300, secret=webhooks.SECRET, repeat=1, write=lines.append)

    # The readers' mix: each delivered and opened, some clicked, deferred or bounced.
    assert row["stored"] == row["events"] > 2 * 300 - 10
    # The events only stored go in together (eight queries an event until 8 December).
    assert row["queries"] < row["events"] / 3, row
    assert not DeliveryEvent.objects.exists() and not Delivery.objects.exists()
    assert not Subscriber.objects.exists() and not Suppression.objects.exists()
    assert lines[0].startswith("SendGrid's post of ") and lines[0].endswith(" events, median of 1")
    assert lines[1].startswith("  answered in ")


def test_the_post_is_cut_after_the_event_that_reaches_sendgrids_batch_size():
    readers = [(n, f"r{n}@example.org") for n in range(5_000)]

    events = webhook.morning_post(readers)
    size = len(json.dumps(events))

    assert webhook.SENDGRID_BATCH_BYTES <= size < webhook.SENDGRID_BATCH_BYTES + 1_000
    assert {e["event"] for e in events} == {"delivered", "open", "click", "deferred", "bounce"}
