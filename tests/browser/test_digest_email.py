"""The digest as a mail client shows it: rendered in Chromium at the widths that
matter (600 px desktop clients, 375 px phones), in light and dark mode."""

import itertools
from pathlib import Path

import pytest
from django.conf import settings

from newsletter.digest import digest_make
from newsletter.ranking import ranking_data_load
from tests.browser.conftest import axe_blocking, page_overflow, picture_width, png
from tests.newsletter.test_digest_render import DAY, NOW, empty_day_create
from tests.newsletter.test_digest_rendering import digest_message

# The digest's pictures are this site's copies (newsletter/pictures.py, at SITE_URL,
# http://testserver in tests): answered here with a picture of the API's shape.
SITE_PICTURES = "http://testserver/pictures/**"
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


def _background_behind(page, selector: str) -> str:
    """The colour painted behind an element: its own, else the nearest ancestor's."""
    return page.eval_on_selector(selector, """el => {
        for (; el; el = el.parentElement) {
            const bg = getComputedStyle(el).backgroundColor;
            if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') return bg;
        }
        return '';
    }""")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_digest_renders_at_600_and_375_px_in_light_and_dark(page, live_server):
    # The third pick was added to Friday's list after Friday's digest (editions.py).
    _, html = digest_message(papers=10, note=NOTE, late=(2,))

    for scheme in ("light", "dark"):
        for width in (600, 375):
            suffix = "" if scheme == "light" else "-dark"
            path = _shoot(page, html, f"digest-{width}{suffix}", width, scheme=scheme)
            assert path.stat().st_size > 10_000
            # Nothing wider than the screen: no sideways scrolling on a phone.
            overflow = page_overflow(page)
            assert overflow <= 0, f"{overflow}px wider than {width}px ({scheme})"
            # Every line of a paper sits on its card's colour: no darker band behind text.
            card = _background_behind(page, ".card:not(.note)")
            for line in (".card .why", ".card .title", ".card .abstract", ".card .links"):
                assert _background_behind(page, line) == card, (line, scheme)
            # Every link under a paper and in the footer is a target of 24 px or more
            # (WCAG 2.5.8): "More like this" and "Less like this" were 15 px tall, a few
            # pixels apart, on a phone.
            for link in page.locator(".card .links a, .footer-links a").all():
                box = link.bounding_box()
                assert box["height"] >= 24, (link.inner_text(), box, width, scheme)
            # The two votes stay together: "Less like this" wrapped alone under a
            # dangling "·" on a phone.
            for votes in page.locator(".card .links .votes").all():
                more, less = (votes.get_by_text(t).bounding_box() for t in ("More like this", "Less like this"))
                assert more["y"] == less["y"], (width, scheme)
            meta = page.locator(".card .muted").all_inner_texts()
            late = [m for m in meta if "added to Friday’s list after its edition went out" in m]
            assert len(late) == 1 and "▲\xa0180\xa0upvotes ·" in late[0]  # the third paper's card only
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"
    assert page.js_errors == []


# The left and right edges of the first occurrence of `text` inside the element.
_TEXT_EDGES = """([selector, text]) => {
    const root = document.querySelector(selector);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
        const at = node.data.indexOf(text);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + text.length);
        const box = range.getBoundingClientRect(), outer = root.getBoundingClientRect();
        return {left: box.left - outer.left, right: outer.right - box.right};
    }
    return null;
}"""


def text_edges(page, selector: str, text: str) -> dict:
    """How far `text` sits from the left and right edges of the element."""
    return page.evaluate(_TEXT_EDGES, [selector, text])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_right_to_left_title_abstract_and_authors_read_in_their_own_direction(page, live_server):
    """A Hebrew or Arabic paper in the English digest was laid out left to right: the
    title began at the left, its "?" stood before its first word (at the right), and
    two Hebrew authors read in the wrong order ("מרים לוי, יוסף כהן"). Each title and
    abstract now takes the direction of its own text, and each name in the byline is
    isolated, so the list reads first author first."""
    title, abstract = "האם מודלים חושבים?", "אנו מראים שמודלי שפה גדולים מסיקים בצורה עקבית."
    _, html = digest_message(papers=2, title=title, lead={
        "abstract": abstract, "authors": ["יוסף כהן", "מרים לוי", "Ada Lovelace"], "author_count": 3,
    })
    for width in (600, 375):
        _shoot(page, html, f"digest-right-to-left-{width}", width)
        card = ".card:not(.note)"
        # The title starts at the card's right edge, and its question mark ends it on the left.
        first_word, mark = text_edges(page, f"{card} .title", "האם"), text_edges(page, f"{card} .title", "?")
        assert first_word["right"] < 2 and mark["left"] < first_word["left"], (first_word, mark, width)
        assert text_edges(page, f"{card} .abstract", "אנו")["right"] < 2, width
        # An English title stays as it was.
        assert page.locator(".card .title").nth(1).evaluate("el => getComputedStyle(el).direction") == "ltr"
        # First author first, in the byline's own (English) order.
        first, second = (text_edges(page, f"{card} .muted", name) for name in ("יוסף כהן", "מרים לוי"))
        assert first["left"] < second["left"], (first, second, width)
    assert page.js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_right_to_left_title_in_the_subject_keeps_the_count_after_it(page, live_server):
    """An inbox shows the subject as one line of text: "… Mon 24 Nov: <Arabic title>…
    +4 more" read "Mon 24 Nov: 4+ …<title> more", the count pulled into the title."""
    message, _ = digest_message(papers=5, title="نماذج اللغة الكبيرة للاستدلال الرياضي والتخطيط طويل المدى")
    page.set_content('<div id="subject" style="font: 16px sans-serif; width: max-content"></div>')
    page.eval_on_selector("#subject", "(el, text) => { el.textContent = text; }", message.subject)
    title, count = text_edges(page, "#subject", "نماذج"), text_edges(page, "#subject", "+4 more")
    assert count["left"] > title["left"], (message.subject, title, count)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_first_picks_picture_fits_its_card_at_600_and_375_px(page, live_server):
    _, html = digest_message(papers=3, pictures=(0,), note=NOTE)
    image = png(1200, 630, (64, 96, 160))  # the shape of Hugging Face's paper thumbnails
    page.route(SITE_PICTURES, lambda route: route.fulfill(status=200, content_type="image/png", body=image))
    for width in (600, 375):
        _shoot(page, html, f"digest-picture-{width}", width)
        shown = page.eval_on_selector("img.picture", """img => {
            const box = img.getBoundingClientRect(), card = img.closest('.card').getBoundingClientRect();
            const title = img.closest('.card').querySelector('.title').getBoundingClientRect();
            return {loaded: img.complete && img.naturalWidth, width: box.width, height: box.height,
                    left: box.left - card.left, right: card.right - box.right, below: title.top - box.bottom};
        }""")
        assert shown["loaded"] == 1200
        # Inside the card's padding on both sides, at the picture's own shape, above the title.
        assert shown["left"] >= 18 and shown["right"] >= 18, shown
        assert abs(shown["height"] / shown["width"] - 630 / 1200) < 0.01, shown
        assert shown["below"] > 0, shown
        assert page_overflow(page) <= 0
    assert page.js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_why_line_keeps_its_colour_in_light_and_dark(page, live_server):
    """The inlined light colour must not win over the dark-mode rule, nor be lost."""
    _, html = digest_message(papers=2)
    colours = {}
    for scheme in ("light", "dark"):
        _shoot(page, html, f"digest-why-{scheme}", 600, scheme=scheme)
        colours[scheme] = {
            part: page.eval_on_selector(f".card {part}", "el => getComputedStyle(el).color")
            for part in (".why", ".muted", ".title a")
        }
    assert colours["light"][".why"] == "rgb(154, 52, 18)"
    assert colours["dark"][".why"] == "rgb(253, 186, 116)"
    assert colours["dark"][".muted"] == "rgb(145, 152, 161)"
    assert colours["dark"][".title a"] == "rgb(240, 246, 252)"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_digest_passes_axe_in_light_and_dark(page, live_server):
    _, html = digest_message(papers=4, note=NOTE, pictures=(0,))  # the lead card's picture too
    image = png(1200, 630)
    page.route(SITE_PICTURES, lambda route: route.fulfill(status=200, content_type="image/png", body=image))
    for scheme in ("light", "dark"):
        _shoot(page, html, f"digest-axe-{scheme}", 600, scheme=scheme)
        assert axe_blocking(page) == [], scheme
        # A heading per paper, so a screen reader can jump from one to the next.
        assert page.locator("h3.title:not(.also)").count() == 4
        # ... under a "Picked for you" heading: the outline never skips a level.
        levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4')].map(h => +h.tagName[1])")
        assert levels[:3] == [1, 2, 3] and all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
        assert page.get_by_role("heading", level=2, name="Picked for you").is_visible()
        assert page.evaluate("document.documentElement.lang") == "en"


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
    # The day's papers have pictures there (the lead card shows one).
    image = png(1200, 630)
    page.route(SITE_PICTURES, lambda route: route.fulfill(status=200, content_type="image/png", body=image))

    path = _shoot(page, html, "digest-sent-375", 375)
    assert path.stat().st_size > 10_000
    assert page_overflow(page) <= 0
    assert picture_width(page.locator("img.picture")) == 1200
    assert page.get_by_text("More like this").first.is_visible()
    assert page.get_by_text("Unsubscribe").is_visible()
    assert page.js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_day_with_nothing_on_the_readers_topic_shows_the_closest_papers_at_600_and_375_px(page, live_server):
    """The empty day's digest as a reader sees it: it says nothing matched, claims no
    match, and each of the closest papers names the topic it is near."""
    edition, reader = empty_day_create()
    message = digest_make(edition=edition, subscriber=reader, now=NOW,
                          data=ranking_data_load(date=DAY, subscriber_ids=[reader.id])).message
    html = message.alternatives[0][0]
    assert "Nothing matched your topics today: the 3 closest papers" in html  # the inbox's preview line

    for width in (600, 375):
        path = _shoot(page, html, f"digest-nothing-matched-{width}", width)
        assert path.stat().st_size > 10_000
        assert page_overflow(page) <= 0
        assert page.get_by_text("NOTHING MATCHED YOUR TOPICS TODAY; THE CLOSEST TO THEM").is_visible()
        # No card claims a match; the three closest papers each name the topic nearest them.
        assert page.locator(".why").count() == 0
        lines = page.locator("p.muted", has_text="▲").all_inner_texts()
        assert len(lines) == 3 and all(line.endswith(" · closest to Speech & audio") for line in lines), lines
    assert page.js_errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "status"), [
    ("confirm", "pending"), ("already_subscribed", "active"), ("goodbye", "unsubscribed"),
    ("export", "active"), ("links", "active"), ("links", "unsubscribed"),
    # A reader who complained, asking for their link: to their data only (links_data).
    ("links", "suppressed"),
    # The address change's four (subscribers/services.py): the link to the new
    # address, the same email when that address has a subscription of its own, the
    # approval asked of the current address once the new one confirmed, and the
    # notice to the old address once it moved.
    ("email_change", "active"), ("email_change_taken", "active"), ("email_change_approval", "active"),
    ("email_changed", "active"),
])
def test_the_journey_emails_pass_axe_in_light_and_dark(page, live_server, settings, kind, status):
    """They share the digest's head (emails/_layout_head.mjml): its dark rules too."""
    from django.core import mail

    from subscribers.services import (
        subscriber_email_change_approve,
        subscriber_email_change_confirm,
        subscriber_email_change_request,
        subscriber_journey_email_send,
    )
    from tests.factories import SubscriberFactory, TopicFactory

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    reader = SubscriberFactory(status=status)
    reader.topics.add(TopicFactory(name="Agents"))
    if status == "suppressed":
        from subscribers.suppression import address_suppress

        address_suppress(email=reader.email, reason="complained")
    if kind.startswith("email_change"):
        new = "ada.lovelace@new-employer.example"
        if kind == "email_change_taken":
            SubscriberFactory(email=new)
        # The request mails its link (the worker runs eagerly in tests).
        subscriber_email_change_request(subscriber=reader, email=new, ip="203.0.113.7")
        assert mail.outbox[-1].to == [new]
        if kind in ("email_change_approval", "email_changed"):
            reader.refresh_from_db()
            subscriber_email_change_confirm(subscriber=reader, change_id=reader.email_change["id"])
            assert mail.outbox[-1].to == [reader.email]  # the approval, to the current address
        if kind == "email_changed":
            subscriber_email_change_approve(subscriber=reader, change_id=reader.email_change["id"],
                                            ip="203.0.113.7", user_agent="Chromium")
            assert mail.outbox[-1].to == [reader.email]  # the old address
    else:
        subscriber_journey_email_send(subscriber_id=reader.id, kind=kind)
    html = mail.outbox[-1].alternatives[0][0]
    for scheme in ("light", "dark"):
        _shoot(page, html, f"email-{kind}-{scheme}", 375, scheme=scheme)
        assert axe_blocking(page) == [], (kind, scheme)
        assert page_overflow(page) <= 0, (kind, scheme)  # no sideways scrolling on a phone
        # Its title is a heading, as a screen reader's "next heading" expects (it was styled text).
        assert page.get_by_role("heading", level=1).count() == 1
        assert page.evaluate("document.documentElement.lang") == "en"
        # The preview text is in the message but never on screen.
        assert not page.locator(".preview").is_visible()
