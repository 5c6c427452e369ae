"""The edition archive page and the feedback page in Chromium, at desktop and
phone widths (screenshots in var/screenshots/)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from newsletter.feedback import feedback_url
from newsletter.models import Edition, EditionPaper, Feedback
from tests.browser.conftest import page_overflow, page_width
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = dt.date(2025, 11, 24)


@pytest.fixture
def edition():
    agents, vision = TopicFactory(name="Agents"), TopicFactory(name="Computer Vision")
    papers = [
        PaperFactory(
            title="Self-Critique Makes Research Agents Better at Long-Horizon Tasks",
            abstract="Large language models are increasingly used as agents that plan, call "
            "tools and revise their own work. We introduce a benchmark of long-horizon "
            "research tasks and show that a simple self-critique loop helps a lot.",
            upvotes=128, pinned=True, github_repo="https://github.com/example/critique",
        ),
        # Added to Friday's list after Friday's edition went out (newsletter/editions.py).
        PaperFactory(title="Seeing Depth from a Single Photo, Again", upvotes=64,
                     trending_date=DAY - dt.timedelta(days=3)),
        PaperFactory(title="A Benchmark of Benchmarks", upvotes=12, organization="Example Lab",
                     authors=[], author_count=0),
    ]
    PaperTopicFactory(paper=papers[0], topic=agents, score=0.9)
    PaperTopicFactory(paper=papers[1], topic=vision, score=0.8)
    older = Edition.objects.create(date=DAY - dt.timedelta(days=3), frozen_at=timezone.now())
    EditionPaper.objects.create(edition=older, paper=PaperFactory(title="Older news"), position=0)
    edition = Edition.objects.create(
        date=DAY, frozen_at=timezone.now(),
        note="A **big** day for agents. Read the [pinned paper](https://example.org/) first.",
    )
    for position, paper in enumerate(papers):
        EditionPaper.objects.create(edition=edition, paper=paper, position=position)
    return edition


def test_the_edition_archive_page(live_server, page, screenshot, edition):
    page.goto(f"{live_server.url}/editions/")
    expect(page.get_by_role("link", name="Monday 24 November 2025")).to_be_visible()
    screenshot(page, "archive-edition-list")

    page.get_by_role("link", name="Monday 24 November 2025").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Monday 24 November 2025")
    expect(page.get_by_text("From the editors")).to_be_visible()
    expect(page.locator(".arch-note strong")).to_have_text("big")
    titles = page.locator(".paper-card__title").all_inner_texts()
    assert titles[0].startswith("Self-Critique")
    late = page.locator(".arch-late")
    expect(late).to_have_text("1 paper of this edition was added to Friday’s list after its edition went out: "
                              "it is marked below.")
    mark = page.locator(".arch-late-mark")
    expect(mark).to_have_count(1)
    expect(page.locator("li", has=mark).locator(".paper-card__title")).to_have_text(
        "Seeing Depth from a Single Photo, Again")
    screenshot(page, "archive-edition")
    late.get_by_role("link", name="Friday’s list").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Friday 21 November 2025")
    assert page.locator(".paper-card__title").all_inner_texts() == ["Older news"]
    assert page.js_errors == []


def test_the_feedback_page(live_server, page, screenshot):
    reader = SubscriberFactory()
    paper = PaperFactory(title="Yet Another Leaderboard for Chatbots, with a Rather Long Title")
    url = feedback_url(subscriber=reader, paper=paper, vote=-1).replace("http://testserver", live_server.url)

    page.goto(url)
    button = page.get_by_role("button", name="Show me less like this")
    expect(button).to_be_visible()
    screenshot(page, "feedback-ask")

    button.click()
    expect(page.get_by_role("heading", name="Thanks, noted")).to_be_visible()
    assert Feedback.objects.get().vote == -1
    screenshot(page, "feedback-done")
    assert page.js_errors == []


def test_what_your_digest_has_learned_in_the_preference_centre(live_server, page, screenshot):
    from subscribers.tokens import subscriber_manage_url

    reader = SubscriberFactory(status="active")
    liked = PaperFactory(title="Four-bit quantization of language model weights")
    disliked = PaperFactory(title="A survey of web agents")
    Feedback.objects.create(subscriber=reader, paper=liked, vote=1)
    Feedback.objects.create(subscriber=reader, paper=disliked, vote=-1)
    url = subscriber_manage_url(subscriber=reader).replace("http://testserver", live_server.url)

    page.goto(url + "#learned")
    panel = page.locator("#learned")
    expect(panel).to_contain_text("More like")
    expect(panel).to_contain_text("Four-bit quantization of language model weights")
    expect(panel).to_contain_text("Less like")
    expect(panel).to_contain_text("your topics themselves stay as you chose them")
    screenshot(page, "preferences-learned")

    panel.get_by_role("button", name="Forget all of this").click()
    expect(page.locator("#learned")).to_contain_text("has forgotten your votes")
    # The tab says what happened, as after every other button of the page (it said
    # only "Your digest": a newcomer's walkthrough, 6 December 2026).
    expect(page).to_have_title("Votes forgotten · Your digest · Daily Papers Digest")
    assert not Feedback.objects.filter(subscriber=reader).exists()
    assert not page.js_errors and not page.console_errors


def test_the_archive_and_the_feeds_are_reached_from_the_home_page(live_server, browser, edition, screenshot):
    """Nothing else links to them: a reader who never opened a digest in the browser
    finds past editions and the feeds in every page's footer. The footer's "Atom
    feed" opened the raw XML, a wall of markup on a phone (a phone walkthrough): it
    leads to a page with each feed's address to copy into a reader."""
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    footer = page.locator("footer")
    footer.get_by_role("link", name="Past editions").click()
    expect(page.get_by_role("link", name="Monday 24 November 2025")).to_be_visible()
    # ... and each topic's own feed, from the archive page, on the feeds page.
    page.get_by_role("navigation", name="Feeds by topic").get_by_role("link", name="Agents").click()
    page.wait_for_url("**/feeds/#feed-topic-agents")
    address = page.get_by_role("textbox", name="Agents")
    assert address.input_value() == f"{live_server.url}/feeds/topics/agents.atom"
    assert page_width(page) <= 375
    card = page.locator("#feed-topic-agents")
    card.get_by_role("button", name="Copy").tap()
    expect(card.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == address.input_value()
    screenshot(page, "feeds")
    response = page.request.get(address.input_value())
    assert response.status == 200 and "Self-Critique Makes Research Agents" in response.text()
    footer.get_by_role("link", name="Feeds").click()
    expect(page.get_by_role("heading", name="All papers")).to_be_visible()
    context.close()


def test_the_readers_own_copy_sets_their_picks_apart(live_server, page, screenshot, settings):
    """"View in browser": the picks under their heading, the also-trending papers
    under theirs, as the email had them."""
    from django.core import mail

    from newsletter.archive import delivery_view_url
    from newsletter.delivery import deliveries_create, digest_send_batch
    from newsletter.models import Delivery
    from tests.browser.conftest import png
    from tests.newsletter.test_digest_render import NOW, _readers, day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day = day_create()
    ids = deliveries_create(edition=day["edition"], subscriber_ids=[_readers(day)[0].id], now=NOW)
    digest_send_batch(delivery_ids=ids, now=NOW)
    assert len(mail.outbox) == 1
    delivery = Delivery.objects.get(pk=ids[0])

    # The day's papers have pictures (tests/newsletter/test_digest_render.py): this
    # site's copies (newsletter/pictures.py), answered here (tests/browser/test_pictures.py
    # has the real ones).
    image = png(640, 360)
    page.route("**/pictures/**",
               lambda route: route.fulfill(status=200, content_type="image/png", body=image))
    page.goto(delivery_view_url(delivery=delivery).replace("http://testserver", live_server.url))

    picks = page.get_by_role("list", name="Picked for you").locator(".paper-card")
    also = page.get_by_role("list", name="Also trending").locator(".paper-card")
    expect(page.get_by_role("heading", name="Picked for you")).to_be_visible()
    expect(page.get_by_role("heading", name="Also trending that day")).to_be_visible()
    expect(picks).to_have_count(delivery.picked)
    expect(also).to_have_count(len(delivery.paper_ids) - delivery.picked)
    # Each pick with its "why" line above it, as the email had it.
    expect(page.get_by_role("list", name="Picked for you").locator(".arch-why")).to_have_text(delivery.reasons)
    expect(page.get_by_role("list", name="Also trending").locator(".arch-why")).to_have_count(0)
    # Each paper's title a level under its section's heading; each vote link names its paper.
    expect(picks.first.get_by_role("heading", level=3)).to_be_visible()
    first = picks.first.locator("h3").inner_text()
    expect(page.get_by_role("link", name=f"More like {first}", exact=True)).to_have_count(1)
    screenshot(page, "reader-copy")
    assert page.js_errors == []


def test_a_right_to_left_paper_reads_in_its_own_direction_on_the_site(live_server, page, screenshot):
    """The digest's right-to-left fault on the site too (tests/browser/
    test_digest_email.py): an Arabic title and abstract were laid out left to right
    on a phone, and two Arabic authors read second name first."""
    from tests.browser.test_digest_email import text_edges

    paper = PaperFactory(title="هل تفكر النماذج اللغوية الكبيرة؟ (GPT-4)",
                         abstract="نبين أن النماذج اللغوية الكبيرة تستدل بشكل متسق.",
                         authors=["محمد علي", "فاطمة حسن"], author_count=2)
    edition = Edition.objects.create(date=DAY, frozen_at=timezone.now())
    EditionPaper.objects.create(edition=edition, paper=paper, position=0)
    page.set_viewport_size({"width": 320, "height": 800})
    for url, title, abstract in ((paper.get_absolute_url(), "#paper-title", ".paper-page__abstract"),
                                 ("/editions/2025-11-24/", ".paper-card__title", ".paper-card .abstract")):
        page.goto(live_server.url + url)
        # The first word starts at the right edge; "(GPT-4)" ends the title on the left.
        first_word, model = text_edges(page, title, "هل"), text_edges(page, title, "GPT-4")
        assert first_word["right"] < 2 and model["left"] < first_word["left"], (url, first_word, model)
        assert text_edges(page, abstract, "نبين")["right"] < 2, url
        first, second = (text_edges(page, ".paper-card__byline, .paper-page__authors", name) for name in ("محمد علي", "فاطمة حسن"))
        assert first["left"] < second["left"], (url, first, second)
        assert page_overflow(page) <= 0
    screenshot(page, "archive-right-to-left")


LONG_WORD = "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz" * 2
LONG_URL = "https://github.com/example/" + "averyveryverylongrepositoryname" * 4


def test_a_long_word_or_address_never_makes_a_page_wider_than_a_phone(live_server, page, screenshot):
    """German compounds, URLs and LaTeX come unbroken in titles, abstracts and
    organisations: a paper's abstract with one ran 1,351 px past a 320 px phone, the
    whole page scrolling sideways (an international reader's walkthrough); a long
    address did the same on the reader's pages."""
    from subscribers.tokens import confirm_url, subscriber_links

    paper = PaperFactory(
        title=f"{LONG_WORD}: $\\mathcal{{O}}(n^{{2}})$ {LONG_URL}",
        abstract=f"Ein sehr langes Wort: {LONG_WORD}. Code: {LONG_URL}", ai_summary=f"{LONG_WORD} {LONG_URL}",
        authors=[LONG_WORD, "Zoë Ångström"], author_count=2, organization=LONG_WORD,
    )
    edition = Edition.objects.create(date=DAY, frozen_at=timezone.now())
    EditionPaper.objects.create(edition=edition, paper=paper, position=0)
    reader = SubscriberFactory(email=f"{'a' * 64}@{'sub' * 20}.{'long' * 15}.example")
    waiting = SubscriberFactory(email=f"{'b' * 64}@{'sub' * 20}.example", status="pending")
    manage, unsubscribe = (url.replace("http://testserver", live_server.url)
                           for url in subscriber_links(subscriber=reader))
    page.set_viewport_size({"width": 320, "height": 800})
    for url in (live_server.url + paper.get_absolute_url(), f"{live_server.url}/papers/2025-11-24/",
                f"{live_server.url}/editions/2025-11-24/", manage, unsubscribe,
                confirm_url(subscriber=waiting).replace("http://testserver", live_server.url)):
        page.goto(url)
        wider = page_overflow(page)
        assert wider <= 0, f"{url}: {wider} px wider than the phone"
    page.goto(live_server.url + paper.get_absolute_url())
    screenshot(page, "paper-long-words")


def test_a_readers_copy_of_a_digest_past_the_ledgers_days_says_so(live_server, page, screenshot, settings,
                                                                  monkeypatch):
    """A reader still subscribed opens the "view in browser" link of a digest the
    retention deleted (docs/data-retention.md): a 410 page that says the copy was
    kept LEDGER_KEPT_DAYS days and is gone, nothing else changed, with the archive
    and their preferences a click away; axe finds nothing at desktop or phone width, light or dark."""
    from newsletter.retention import retention_apply
    from tests.browser.conftest import axe_blocking_at_widths
    from tests.newsletter.test_retention import _edition, _view_url_as_mailed

    settings.SITE_URL = live_server.url
    settings.LEDGER_KEPT_DAYS = 60
    delivery = _edition(days_ago=70, statuses=["sent"]).deliveries.get()
    url = _view_url_as_mailed(delivery, monkeypatch)
    retention_apply()

    response = page.goto(live_server.url + url)
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This digest is no longer online")
    expect(page.get_by_text("for 60 days after it is sent")).to_be_visible()
    assert page.title() == "Digest no longer online · Daily Papers Digest"
    assert {where: found for where, found in axe_blocking_at_widths(page).items() if found} == {}
    screenshot(page, "archive-digest-copy-deleted")
    page.get_by_role("link", name="Browse past editions").click()
    expect(page).to_have_url(live_server.url + "/editions/")
    page.go_back()
    page.get_by_role("link", name="Email me a link to my preferences").click()
    expect(page).to_have_url(live_server.url + "/subscription/")
    # The page's own 410 is the one console line Chromium writes.
    assert [e for e in page.console_errors if "status of 410" not in e] == [] and page.js_errors == []


def test_a_paper_whose_picture_cannot_be_had_shows_no_empty_frame(live_server, page, screenshot, monkeypatch):
    """A paper whose picture Hugging Face's CDN would not give (here a 404) showed an
    empty bordered frame where the picture should be, on its page and on its card in
    the day's list (an editor's walkthrough, 7 December): this site answers 404 for
    it (newsletter/pictures.py). The frame goes with the picture, and the card is
    laid out as one without a picture; a paper whose picture comes keeps it."""
    import base64

    from newsletter import pictures
    from tests.browser.conftest import picture_width, png

    read = pictures._source_read

    def cdn_404(source):
        if source.startswith("data:"):
            return read(source)
        raise pictures.PictureUnavailable(f"{source}: HTTP 404")

    monkeypatch.setattr(pictures, "_source_read", cdn_404)  # the server's fetch: no network in tests
    shown = PaperFactory(title="A paper with its picture", trending_date=DAY, upvotes=20, arxiv_id="2511.00101",
                         thumbnail_url="data:image/png;base64," + base64.b64encode(png(32, 18)).decode())
    gone = PaperFactory(title="A paper whose picture is gone", trending_date=DAY, upvotes=10, arxiv_id="2511.00102",
                        thumbnail_url="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.00102.png")

    page.goto(live_server.url + gone.get_absolute_url())
    expect(page.locator("#paper-title")).to_be_visible()
    expect(page.locator(".paper-page__thumb")).to_have_count(0)
    screenshot(page, "paper-picture-gone")
    page.goto(live_server.url + shown.get_absolute_url())
    assert picture_width(page.locator(".paper-page__thumb")) == 32

    page.goto(f"{live_server.url}/papers/{DAY.isoformat()}/")
    cards = {title: page.locator(".paper-card").filter(has_text=title) for title in (shown.title, gone.title)}
    assert picture_width(cards[shown.title].locator(".paper-card__thumb img")) == 32
    expect(cards[gone.title].locator(".paper-card__thumb")).to_have_count(0)
    expect(cards[gone.title]).not_to_have_class("paper-card paper-card--thumb")
    body = cards[gone.title].locator(".paper-card__body").bounding_box()
    assert body["width"] > cards[shown.title].locator(".paper-card__body").bounding_box()["width"]
    screenshot(page, "day-picture-gone")

    # The editors' list and the paper's page in the admin the same.
    from django.contrib.auth.models import User
    from django.urls import reverse

    from tests.browser.conftest import admin_sign_in
    from tests.newsletter.test_admin import editor_group

    User.objects.create_user("editor", "editor@example.org", "correct horse battery staple",
                             is_staff=True).groups.add(editor_group())
    admin_sign_in(page, live_server, "editor", "correct horse battery staple")
    page.goto(live_server.url + reverse("admin:newsletter_paper_changelist"))
    rows = {title: page.locator("#result_list tr").filter(has_text=title) for title in (shown.title, gone.title)}
    assert picture_width(rows[shown.title].locator("img.paper-thumb")) == 32
    expect(rows[gone.title].locator("img.paper-thumb")).to_have_count(0)
    page.goto(live_server.url + reverse("admin:newsletter_paper_change", args=[gone.pk]))
    expect(page.locator("h1")).to_be_visible()
    expect(page.locator("img.paper-picture")).to_have_count(0)
    # The server learnt it when the page's picture was asked for: the editor reads why
    # (the field went blank when the script took the picture away).
    expect(page.locator(".field-picture .readonly")).to_contain_text("Hugging Face's CDN would not give it (tried ")
    assert page.js_errors == []
