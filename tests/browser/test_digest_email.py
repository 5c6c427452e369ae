"""The digest as a mail client shows it: rendered in Chromium at the widths that
matter (600 px desktop clients, 375 px phones), in light and dark mode."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.newsletter.test_digest_rendering import digest_message

NOTE = "**Editor's note:** a big day for *agents*. Read [the thread](https://example.com)."


def _shoot(page, html: str, name: str, width: int, scheme: str = "light") -> Path:
    out = Path(settings.SCREENSHOT_DIR)
    out.mkdir(parents=True, exist_ok=True)
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": 900})
    page.set_content(html)
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_digest_renders_at_600_and_375_px_in_light_and_dark(page, live_server):
    _, html = digest_message(papers=10, note=NOTE)
    assert len(html.encode()) < 100 * 1024

    for width in (600, 375):
        path = _shoot(page, html, f"digest-{width}", width)
        assert path.stat().st_size > 10_000
        # Nothing wider than the screen: no sideways scrolling on a phone.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{overflow}px wider than {width}px"
    _shoot(page, html, "digest-375-dark", 375, scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    assert page.js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_digest_sent_by_the_batch_reads_well_on_a_phone(page, live_server, settings):
    """What the batch hands the ESP (assembled from the edition's proof,
    newsletter/digest_render.py), shown as a phone shows it."""
    from django.core import mail

    from newsletter.delivery import deliveries_create, digest_send_batch
    from tests.newsletter.test_digest_render import NOW, _readers, day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day = day_create()
    reader = _readers(day)[1]  # weekly, two topics: picks and also-trending
    ids = deliveries_create(edition=day["edition"], subscriber_ids=[reader.id], now=NOW)
    digest_send_batch(delivery_ids=ids, now=NOW)
    [message] = mail.outbox
    html = message.alternatives[0][0]

    path = _shoot(page, html, "digest-sent-375", 375)
    assert path.stat().st_size > 10_000
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert page.get_by_text("More like this").first.is_visible()
    assert page.get_by_text("Unsubscribe").is_visible()
    assert page.js_errors == []
