"""An editor's morning in Chromium: log in, open today's edition, pin a paper, write
a note, preview it as a subscriber, send a test to themselves, release it. Then a
screenshot of every admin page an editor uses (var/screenshots/admin-*.png)."""

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from newsletter.editions import edition_assemble, edition_freeze, edition_send_time
from newsletter.models import Delivery, DeliveryEvent, Edition, Topic
from newsletter.relevance import topics_missing_embed
from tests.browser.conftest import PHONE, admin_sign_in, page_overflow, page_width
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory
from tests.newsletter.test_admin import editor_group
from tests.newsletter.test_ingest import hf_api  # noqa: F401 (a fixture: the recorded-response HTTP server)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def _previews_loaded(page, text: str = "Daily Papers Digest") -> None:
    """Wait for both email frames to render before a screenshot, and scroll them into
    view: Chromium does not paint a sandboxed frame below the fold, and a full-page
    screenshot showed the previews blank."""
    for frame in ("iframe.email.desktop", "iframe.email.phone"):
        expect(page.frame_locator(frame).get_by_text(text).first).to_be_visible()
    page.locator("iframe.email.desktop").scroll_into_view_if_needed()
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


@pytest.fixture
def morning(db):
    today = dt.datetime.now(dt.UTC).date()
    topic = TopicFactory(name="Agents and tools", slug="agents-tools", keywords="agents\ntool use")
    titles = [
        "Self-Critique Makes Language Agents Better at Tool Use",
        "Scaling Laws for Mixture-of-Experts Vision Transformers",
        "A Benchmark for Long-Horizon Web Agents",
        "Diffusion Policies for Dexterous Robot Manipulation",
    ]
    papers = []
    for n, title in enumerate(titles):
        paper = PaperFactory(
            trending_date=today, title=title, upvotes=80 - 15 * n, num_comments=n,
            github_repo="https://github.com/example/code" if n % 2 == 0 else "",
            abstract="We study agents that call tools and find they improve with self-critique.",
        )
        if "Agents" in title:
            PaperTopicFactory(paper=paper, topic=topic, score=0.8, matched_terms=["agents"])
        papers.append(paper)
    # A paper about one topic that only just passes for another: a chip and a pass.
    PaperTopicFactory(paper=papers[1], topic=TopicFactory(name="Vision models", slug="vision-models"), score=0.62)
    PaperTopicFactory(paper=papers[1], topic=TopicFactory(name="Efficient models", slug="efficient-models"),
                      score=0.31)
    # Yesterday's edition went out; a paper listed after it joins today's (editions.py).
    before = today - dt.timedelta(days=1)
    PaperFactory(trending_date=before, title="Listed yesterday before its edition went out", upvotes=90)
    edition_freeze(edition=edition_assemble(date=before))
    late = PaperFactory(trending_date=before, title="Web Agents That Ask Before They Click", upvotes=50,
                        abstract="Agents that use tools ask a person before any action they cannot undo.")
    PaperTopicFactory(paper=late, topic=topic, score=0.7, matched_terms=["agents"])
    edition = edition_assemble(date=today)
    # Held overnight, as the editor left it: nothing goes out before their check.
    Edition.objects.filter(pk=edition.pk).update(on_hold=True)
    reader = SubscriberFactory(email="ada@example.com", time_zone="Europe/Paris")
    reader.topics.add(topic)
    SubscriberFactory(email="grace@example.com", status="pending")
    # Yesterday's send, so the figures, ledger and dashboard have something to show.
    yesterday = edition_assemble(date=today - dt.timedelta(days=1))
    sent = Delivery.objects.create(subscriber=reader, edition=yesterday, status="sent",
                                   sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))
    DeliveryEvent.objects.create(delivery=sent, event_id="evt-1", event_type="delivered",
                                 occurred_at=sent.sent_at)
    # A confirmation to an address mistyped on the form bounced: not a digest's.
    DeliveryEvent.objects.create(event_id="evt-2", event_type="bounced", email="confirm",
                                 occurred_at=sent.sent_at)
    user = User.objects.create_user("editor", "editor@example.org", PASSWORD, is_staff=True,
                                    first_name="Edith")
    user.groups.add(editor_group())
    return {"edition": edition, "papers": papers, "reader": reader, "topic": topic, "late": late}


def test_the_morning_routine(live_server, page, screenshot, morning):
    admin = live_server.url + "/admin/"
    admin_sign_in(page, live_server, "editor", PASSWORD)
    expect(page.get_by_role("link", name="Open today's edition")).to_be_visible()
    screenshot(page, "admin-index")

    page.get_by_role("link", name="Open today's edition").click()
    expect(page.get_by_text("On hold", exact=True)).to_be_visible()
    late = morning["late"]
    expect(page.locator(f"tr[data-paper='{late.pk}'] .badge.late")).to_have_text(
        f"Late from {late.trending_date:%A}")
    expect(page.locator(".badge.late")).to_have_count(1)
    _previews_loaded(page)
    screenshot(page, "admin-edition-held")
    # On a phone the page keeps to its width (531 px at 375 before 5 December): the
    # papers' table scrolls within it, the preview's controls wrap.
    size = page.viewport_size
    page.set_viewport_size({"width": 375, "height": 800})
    overflow = page_overflow(page)
    assert overflow <= 0, page.evaluate(  # what sticks out, for the failure's message
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth"
        " && !e.closest('.table-scroll, .preview-frames')).map(e => e.tagName + '.' + e.className).slice(0, 8)")
    page.set_viewport_size(size)

    # Pin the fourth paper: it moves to the top.
    last = morning["papers"][3]
    page.locator(f"tr[data-paper='{last.pk}']").get_by_role("button", name="Pin").click()
    expect(page.locator("table.edition-papers tbody tr").first).to_contain_text(last.title)
    expect(page.locator("table.edition-papers tbody tr").first).to_contain_text("Pinned")

    page.get_by_label("Note").fill("Good morning! **Agents** had a big day.")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("ul.messagelist")).to_contain_text("changed successfully")

    # Masked: an editor without "Can view subscriber addresses" (subscribers/addresses.py).
    page.get_by_label("As", exact=True).select_option(label=f"a…@example.com (reader {morning['reader'].pk})")
    page.get_by_role("button", name="Show preview").click()
    desktop = page.frame_locator("iframe.email.desktop")
    expect(desktop.get_by_text("had a big day")).to_be_visible()
    expect(desktop.get_by_text(morning["papers"][0].title).first).to_be_visible()
    expect(page.frame_locator("iframe.email.phone").get_by_text("had a big day")).to_be_visible()
    expect(page.locator(".preview-subject")).to_contain_text("for a…@example.com")
    assert page.locator("iframe.email.phone").bounding_box()["width"] <= 380
    screenshot(page, "admin-edition-preview")

    page.get_by_role("button", name="Send a test to me").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Test sent to editor@example.org")
    assert [m.to for m in mail.outbox] == [["editor@example.org"]]
    assert mail.outbox[0].subject.startswith("[Test]")

    page.get_by_role("button", name="Release").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Released: readers whose hour passed during the hold get it at the next run")
    expect(page.get_by_text("Not sent yet", exact=True)).to_be_visible()
    expect(page.locator(".preview-subject")).to_contain_text("for a…@example.com")
    _previews_loaded(page, "had a big day")
    screenshot(page, "admin-edition-released")
    edition = Edition.objects.get(pk=morning["edition"].pk)
    assert not edition.on_hold and "big day" in edition.note
    assert edition.entries.get(position=1).paper_id == last.pk
    assert page.js_errors == []

    # Every page an editor uses renders, for the screenshots.
    pages = {
        "admin-papers": "newsletter/paper/",
        "admin-paper-add-json": "newsletter/paper/add-json/",
        "admin-paper": f"newsletter/paper/{morning['late'].pk}/change/",
        "admin-topics": "newsletter/topic/",
        "admin-topic": f"newsletter/topic/{morning['topic'].pk}/change/",
        "admin-editions": "newsletter/edition/",
        "admin-deliveries": "newsletter/delivery/",
        "admin-subscribers": "subscribers/subscriber/",
        "admin-subscriber": f"subscribers/subscriber/{morning['reader'].pk}/change/",
        "admin-subscribers-import": "subscribers/subscriber/import/",
        "admin-suppressions": "subscribers/suppression/",
        "admin-dashboard": "newsletter/edition/dashboard/",
    }
    for name, path in pages.items():
        response = page.goto(admin + path)
        assert response.status == 200, path
        expect(page.locator("#content")).to_be_visible()
        if name == "admin-papers":
            # Every topic a paper passes for; the one that is no chip of it set apart, saying why.
            expect(page.locator("span.chip:not(.chip--pass)", has_text="Vision models")).to_be_visible()
            passing = page.locator("span.chip.chip--pass", has_text="Efficient models")
            expect(passing).to_be_visible()
            expect(passing).to_have_attribute("title", re.compile(r"score 0\.31: passes for this topic.*no chip"))
            expect(page.locator("td.field-state .badge.pin", has_text="Pinned")).to_have_count(1)
            expect(page.locator("td.field-state a.badge.code").first).to_be_visible()
        if name == "admin-dashboard":
            expect(page.get_by_text("Bounce rate0 %")).to_be_visible()
            others = page.locator("section.other-emails")
            expect(others.get_by_role("rowheader", name="Confirmation")).to_be_visible()
            expect(others.locator("tbody td")).to_have_text(["1", "0"])
        if page.locator("#changelist .results").count():
            # The whole list fits at 1280 px beside both sidebars: no column (whether a
            # paper is pinned, when a digest was sent) cut off at the right.
            results = "document.querySelector('#changelist .results')"
            assert page.evaluate(f"{results}.scrollWidth <= {results}.clientWidth"), (name, page.evaluate(
                f"[{results}.scrollWidth, {results}.clientWidth]"))
        screenshot(page, name)
    assert page.locator("svg.chart").count() >= 4

    # The readers' addresses masked for an editor, and a reader of a support email
    # found by their whole address; the ledger filtered by the provider's event and
    # searched the same way (a data-protection reviewer's walkthrough).
    page.goto(admin + "subscribers/subscriber/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    # A masked address is one line ("g…" over "@example.com" read as two words).
    for cell in page.locator("#result_list .field-address").all():
        assert page.evaluate("c => c.getClientRects().length === 1 && c.getBoundingClientRect().height < 30",
                             cell.locator("a").element_handle()), cell.inner_text()
    assert "ada@example.com" not in page.content() and "grace@example.com" not in page.content()
    page.locator("#searchbar").fill("Ada@Example.com")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list tbody tr")).to_contain_text("a…@example.com")
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator(".breadcrumbs")).to_contain_text("a…@example.com")
    screenshot(page, "admin-subscriber-masked")
    page.goto(admin + "newsletter/delivery/")
    page.get_by_role("link", name="Delivered", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#searchbar").fill("ada@example.com")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list tbody tr")).to_contain_text("a…@example.com")
    assert "ada@example.com" not in page.locator("#result_list").inner_html()
    screenshot(page, "admin-deliveries-masked")
    assert page.js_errors == []


def _signs_in(page, live_server, name: str = "editor") -> None:
    admin_sign_in(page, live_server, name, PASSWORD)


def _editor_logs_in(page, live_server) -> None:
    """A member of the Editor group (not a superuser) signs in."""
    user = User.objects.create_user("editor", "editor@example.org", PASSWORD, is_staff=True)
    user.groups.add(editor_group())
    _signs_in(page, live_server)


def test_an_editor_writes_a_new_topic_previews_it_and_saves_it(live_server, page, screenshot, default_topics):
    """A topic written as a definition, with no keyword: the preview, before saving,
    lists the papers close to the typed description and says so; saving tags them."""
    today = dt.datetime.now(dt.UTC).date()
    speech = PaperFactory(
        trending_date=today, title="Robust Speech Recognition via Large-Scale Weak Supervision",
        abstract="We train a speech recognition model on 680,000 hours of multilingual audio transcripts "
                 "from the internet. It transcribes and translates spoken language in many languages.")
    PaperFactory(trending_date=today, title="Web agents that book flights",
                 abstract="A language-model agent browses websites, fills in forms and calls tools.")
    # The topics' vectors, as bootstrap leaves a site: without them the first preview
    # made all fifteen (6 s on one core) and, run alone, this test timed out.
    topics_missing_embed()
    _editor_logs_in(page, live_server)

    page.goto(live_server.url + "/admin/newsletter/topic/add/")
    page.get_by_label("Name").fill("Speech & audio")
    page.get_by_label("Description").fill(
        "Models that hear and speak: speech recognition, text-to-speech, audio generation and codecs, "
        "music, spoken dialogue.")
    page.get_by_role("button", name="Preview matches").click()
    frame = page.frame_locator("iframe[name='topic-preview']")
    expect(frame.get_by_text(speech.title)).to_be_visible()
    expect(frame.get_by_text("close to the topic's description")).to_be_visible()
    expect(frame.get_by_text("Web agents that book flights")).to_have_count(0)
    # The frame is a page of its own to a screen reader: a heading, a main, its count read out.
    expect(frame.get_by_role("heading", level=1, name="Papers this topic would match")).to_have_count(1)
    expect(frame.get_by_role("main").get_by_role("status")).to_contain_text("would be in this topic")
    assert not Topic.objects.filter(name="Speech & audio").exists()  # a preview saves nothing
    screenshot(page, "admin-topic-add-preview")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("was added successfully")
    topic = Topic.objects.get(name="Speech & audio")
    assert topic.slug == "speech-audio"  # made from the name as it was typed
    assert list(topic.papers.values_list("title", flat=True)) == [speech.title]

    # Switching it off once a reader follows it asks first, naming them (it saved
    # with no question: an editor's walkthrough); "Cancel" changes nothing.
    SubscriberFactory(email="listener@example.com").topics.add(topic)
    page.goto(live_server.url + f"/admin/newsletter/topic/{topic.pk}/change/")
    asked, accept = [], [False]
    page.on("dialog", lambda d: (asked.append(d.message), d.accept() if accept[0] else d.dismiss()))
    page.locator("#id_is_active").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    assert asked == [("1 reader follows “Speech & audio”: switching it off takes it out of their digests and "
                      "the subscribe form. Switch it off?")]
    topic.refresh_from_db()
    assert topic.is_active
    accept[0] = True
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("1 reader followed “Speech & audio”, now switched off")
    topic.refresh_from_db()
    assert not topic.is_active
    assert page.js_errors == []


def test_an_editor_moves_the_morning_fetch_to_another_time(live_server, page, screenshot, db):
    """The morning fetch's page as an editor has it: what it does, when it runs, and
    a time of day to move it to; the readers' hours follow it. Moving it was a "+"
    that opened django-celery-beat's raw crontab page (cron fields) in a popup."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, morning_fetch, schedules_ensure

    schedules_ensure()
    _editor_logs_in(page, live_server)

    page.goto(live_server.url + "/admin/django_celery_beat/periodictask/")
    expect(page.get_by_text("Sends each reader the edition at their own local hour.")).to_be_visible()
    screenshot(page, "admin-schedules")
    page.get_by_role("link", name="Fetch today's trending papers (every morning)").click()
    expect(page.locator(".field-next_run")).to_contain_text("05:30 UTC")
    # Headed by its name, not by PeriodicTask's str() with the raw crontab.
    expect(page.locator("#content h2").first).to_have_text("Fetch today's trending papers (every morning)")
    expect(page.locator(".breadcrumbs")).to_contain_text("› Fetch today's trending papers (every morning)")
    assert "m/h/dM/MY/d" not in page.locator("#content").inner_text() + page.locator(".breadcrumbs").inner_text()
    # Its rows in words: not the model's help ("Short Description For This Task").
    expect(page.locator(".field-what_it_does")).to_contain_text("Fetches the day's trending papers")
    expect(page.locator(".field-last_run")).to_contain_text("Not yet")
    for raw in ("Short Description For This Task", "Reset to None", "Detailed description"):
        expect(page.locator("#content")).not_to_contain_text(raw)
    at = page.get_by_label("Every day at")
    assert at.input_value() == "05:30"
    assert page.locator("#add_id_crontab").count() == 0
    at.fill("07:15")
    screenshot(page, "admin-schedule-fetch")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("The morning fetch runs every day at 07:15 UTC, next on ")
    assert PeriodicTask.objects.get(task=MORNING_FETCH_TASK).crontab.hour == "7"
    assert morning_fetch() == dt.time(7, 15)
    assert page.js_errors == [] and page.console_errors == []


def _colours(page, png_path, box) -> int:
    """How many colours a box of a screenshot has, counted by the browser on a blank
    page of its own (a blank frame has one or two)."""
    import base64

    data = "data:image/png;base64," + base64.b64encode(png_path.read_bytes()).decode()
    blank = page.context.new_page()
    try:
        return blank.evaluate("""async ([data, [x, y, w, h]]) => {
          const img = new Image();
          img.src = data;
          await img.decode();
          const canvas = document.createElement('canvas');
          canvas.width = w; canvas.height = h;
          const ctx = canvas.getContext('2d');
          ctx.drawImage(img, -x, -y);
          const px = ctx.getImageData(0, 0, w, h).data, seen = new Set();
          for (let i = 0; i < px.length; i += 4) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
          return seen.size;
        }""", [data, [round(v) for v in box]])
    finally:
        blank.close()


def test_a_paper_hidden_after_its_edition_went_out_stays_in_its_list_with_show_again(
    live_server, page, screenshot, morning
):
    """The edition's list is what readers got: a paper hidden after the send stays in
    it, greyed and struck through, with "Show again". Its row vanished (class
    "hidden", which Django's admin CSS sets to display: none), and "Show again" with
    it (an editor's walkthrough)."""
    edition_freeze(edition=morning["edition"])
    Edition.objects.filter(pk=morning["edition"].pk).update(on_hold=False)
    paper = morning["papers"][0]
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/edition/{morning['edition'].pk}/change/")

    row = page.locator(f"tr[data-paper='{paper.pk}']")
    row.get_by_role("button", name=f"Hide “{paper.title}”").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"Hidden: {paper.title}")
    expect(row).to_be_visible()
    expect(row.locator(".badge.off")).to_have_text("Hidden")
    assert row.locator("a").first.evaluate("a => getComputedStyle(a).textDecorationLine") == "line-through"
    desktop_png = screenshot(page, "admin-edition-hidden-after-send")[0]
    # The screenshot shows the email's preview below the window, as the browser does:
    # a full-page capture painted such a frame blank (microsoft/playwright#40583).
    frame = page.locator("iframe.email.desktop").bounding_box()
    top = frame["y"] + page.evaluate("scrollY")
    assert _colours(page, desktop_png, (frame["x"], top, frame["width"], frame["height"])) > 100
    row.get_by_role("button", name=f"Show again: “{paper.title}”").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"Shown again: {paper.title}")
    expect(row.get_by_role("button", name=f"Hide “{paper.title}”")).to_be_visible()
    assert page.js_errors == []


def test_two_editors_on_one_paper_keep_each_others_changes_and_a_clash_is_said(
    live_server, browser, morning
):
    """Sam and Lee open the same paper. Sam changes the title and pins it; Lee, on the
    page opened before, changes the abstract and the upvotes: both changes stay (the
    second save undid the first, in silence: an editor's walkthrough). When both
    change the title, the second is told who changed it and what it reads now, keeps
    their own text in the form, and saving again keeps theirs."""
    paper = morning["papers"][1]
    paper.abstract = "First line of the abstract.\nSecond line, as the API sends it."
    paper.save()
    pages, contexts = {}, []
    for name in ("sam", "lee"):
        User.objects.create_user(name, f"{name}@example.org", PASSWORD, is_staff=True).groups.add(editor_group())
        contexts.append(browser.new_context(viewport={"width": 1280, "height": 900}))
        page = contexts[-1].new_page()
        _signs_in(page, live_server, name)
        page.goto(live_server.url + f"/admin/newsletter/paper/{paper.pk}/change/")
        pages[name] = page
    sam, lee = pages["sam"], pages["lee"]

    sam.get_by_label("Title").fill("Scaling Laws for MoE Vision Transformers")
    sam.get_by_label("Pinned").check()
    sam.get_by_role("button", name="Save", exact=True).click()
    expect(sam.locator("ul.messagelist")).to_contain_text("was changed successfully")

    lee.get_by_label("Abstract").fill("A shorter abstract, written by Lee.")
    lee.get_by_label("Upvotes").fill("99")
    lee.get_by_role("button", name="Save", exact=True).click()
    expect(lee.locator("ul.messagelist")).to_contain_text("was changed successfully")
    paper.refresh_from_db()
    assert (paper.title, paper.pinned) == ("Scaling Laws for MoE Vision Transformers", True)
    assert (paper.abstract, paper.upvotes) == ("A shorter abstract, written by Lee.", 99)

    # Both change the title, from pages opened after those saves.
    for page in (sam, lee):
        page.goto(live_server.url + f"/admin/newsletter/paper/{paper.pk}/change/")
    sam.get_by_label("Title").fill("Sam's title")
    sam.get_by_role("button", name="Save", exact=True).click()
    expect(sam.locator("ul.messagelist")).to_contain_text("was changed successfully")
    lee.get_by_label("Title").fill("Lee's title")
    lee.get_by_role("button", name="Save", exact=True).click()
    expect(lee.locator(".errorlist")).to_contain_text("Changed by sam at")
    expect(lee.locator(".errorlist")).to_contain_text("it now reads: “Sam's title”")
    expect(lee.get_by_label("Title")).to_have_value("Lee's title")
    paper.refresh_from_db()
    assert paper.title == "Sam's title"
    lee.get_by_role("button", name="Save", exact=True).click()
    expect(lee.locator("ul.messagelist")).to_contain_text("was changed successfully")
    paper.refresh_from_db()
    assert (paper.title, paper.pinned, paper.upvotes) == ("Lee's title", True, 99)
    for context in contexts:
        context.close()


def test_re_tagging_a_paper_on_its_page_sticks_through_re_scoring(live_server, page, morning):
    """On a paper's page, deleting its automatic "Efficient models" row and adding an
    "Agents and tools" row said "changed successfully", but the new row was
    Automatic with score 0 (in no list) and the deleted one came back at the next
    re-score (an editor's walkthrough). Both are now an editor's decisions."""
    from newsletter import services
    from newsletter.models import PaperTopic

    paper = morning["papers"][1]
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/paper/{paper.pk}/change/")
    page.get_by_label("Delete: Efficient models").check()
    page.get_by_label("Topic: new row").first.select_option(label="Agents and tools")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text("was changed successfully")

    def rows():
        return {r.topic.name: (r.source, r.score) for r in PaperTopic.objects.filter(paper=paper).select_related("topic")}

    decided = rows()
    assert decided["Efficient models"] == ("editor", 0.0)  # taken off
    assert decided["Agents and tools"] == ("editor", 1.0)  # put under it
    services.papers_rescore(papers=[paper])
    after = rows()
    assert (after["Efficient models"], after["Agents and tools"]) == (("editor", 0.0), ("editor", 1.0))
    page.goto(live_server.url + "/admin/newsletter/paper/")
    chips = page.locator("tr", has_text=paper.title).locator("td.field-topic_chips")
    expect(chips).to_contain_text("Agents and tools")
    expect(chips).not_to_contain_text("Efficient models")
    assert page.js_errors == []


def test_the_papers_list_keeps_to_a_phones_width(live_server, page, morning):
    """On a 390-px phone the papers' list was laid out 589 px wide, a blank strip
    beside the header (a newcomer's walkthrough, 6 December 2026): the table scrolls
    inside its box, but the words a screen reader hears for a topic that passes
    without a chip (": passes, no chip", visually hidden, position: absolute) were
    placed against the page, not the box, and widened it."""
    _signs_in(page, live_server)
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/admin/newsletter/paper/")
    expect(page.locator("span.chip.chip--pass", has_text="Efficient models")).to_have_count(1)
    assert page_width(page) <= PHONE["width"]


def test_an_editions_send_time_reads_as_the_deliveries_list_writes_times(live_server, page, morning):
    """The edition's page said "First digests went out 06 Dec 00:54 UTC" and the
    deliveries' list "Dec 6, 00:54 UTC" for the same send (a newcomer's walkthrough,
    6 December 2026): one format, the list's."""
    sent = Edition.objects.exclude(frozen_at=None).get()
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/edition/{sent.pk}/change/")
    when = edition_send_time(sent.frozen_at, edition_date=sent.date)  # the year only when not the edition's
    expect(page.locator(".edition-state")).to_contain_text(f"First digests went out {when};")


def test_an_editions_page_names_it_one_way(live_server, page, morning):
    """The edition's page was headed "Edition of Monday 24 November 2025" under a
    breadcrumb "Edition of 2025-11-24", and saving its note said "The edition
    “Edition of 2025-11-24” was changed successfully" (a newcomer's walkthrough,
    6 December 2026): the date in two formats on one screen. One name, the emails'."""
    from django.utils import formats

    edition = morning["edition"]
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/edition/{edition.pk}/change/")
    name = f"Edition of {formats.date_format(edition.date)}"
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator(".breadcrumbs")).to_contain_text(name)
    page.get_by_label("Note").fill("A quiet day.")
    page.get_by_role("button", name="Save note").click()
    expect(page.locator("ul.messagelist")).to_contain_text(f"“{name}” was changed successfully")


def test_the_editions_list_writes_a_day_as_the_other_lists_do(live_server, page, morning):
    """The editions' list said "Nov. 24, 2025" (Django's default) and the deliveries'
    and papers' lists "Nov 24, 2025" for the same day (a newcomer's walkthrough,
    6 December 2026)."""
    from django.utils import formats

    day = morning["edition"].date - dt.timedelta(days=1)
    written = formats.date_format(day, "SHORT_DATE_FORMAT")
    _signs_in(page, live_server)
    page.goto(live_server.url + "/admin/newsletter/delivery/")
    expect(page.locator("#result_list tbody")).to_contain_text(written)
    page.goto(live_server.url + "/admin/newsletter/edition/")
    expect(page.locator("#result_list tbody tr", has_text=written)).to_have_count(1)


def _lines(page, selector: str) -> dict[str, int]:
    """How many lines each cell of `selector` is laid out on, by its text."""
    return page.evaluate("""sel => Object.fromEntries([...document.querySelectorAll(sel)].map(cell => {
        const range = document.createRange(); range.selectNodeContents(cell);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        return [cell.innerText.trim(), tops.size];
    }))""", selector)


def test_a_date_in_a_list_stays_on_one_line_on_a_phone(live_server, page, morning):
    """On a 390-px phone the deliveries' list wrote an edition's day "29 / Nov / 2026",
    a word a line, and the papers' and editions' lists "5 Dec / 2026" (screenshots, 6
    December 2026): the house's short date has spaces. The lists scroll sideways inside
    their box, so a date keeps to one line."""
    _signs_in(page, live_server)
    page.set_viewport_size(PHONE)
    for url, columns in [("/admin/newsletter/delivery/", ("edition_date", "sent")),
                         ("/admin/newsletter/paper/", ("date",)),
                         ("/admin/newsletter/edition/", ("day",)),
                         ("/admin/subscribers/subscriber/", ("joined",))]:
        page.goto(live_server.url + url)
        for column in columns:
            cells = _lines(page, f"#result_list td.field-{column}, #result_list th.field-{column}")
            assert cells, f"{url}: no column {column}"
            assert {text: n for text, n in cells.items() if n > 1} == {}, f"{url} {column}"


def test_a_note_typed_and_not_saved_is_not_lost_to_pinning_a_paper(live_server, page, morning):
    """An editor typed a note, then pressed Pin (or Hide, Hold, Show preview, Send a
    test to me) before "Save note": each of those buttons posts its own form and the
    page came back with the note box empty, the typed text gone without a word (a
    newcomer's walkthrough, 7 December 2026). Now the editor is asked, as a reader is
    on the preference centre (tests/browser/test_leaving.py): saying no keeps the
    note and pins nothing; once saved, Pin asks nothing."""
    edition, paper = morning["edition"], morning["papers"][2]
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", answer)
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/edition/{edition.pk}/change/")
    typed = "Good morning! **Agents** had a big day."
    page.get_by_label("Note").fill(typed)
    row = page.locator(f"tr[data-paper='{paper.pk}']")
    row.get_by_role("button", name="Pin").click()
    expect(page.get_by_label("Note")).to_have_value(typed)
    assert asked and "not saved yet" in asked[-1]
    paper.refresh_from_db()
    assert not paper.pinned

    page.get_by_role("button", name="Save note").click()
    expect(page.locator("ul.messagelist")).to_contain_text("changed successfully")
    asked.clear()
    row.get_by_role("button", name="Pin").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Pinned")
    assert asked == []
    expect(page.get_by_label("Note")).to_have_value(typed)
    paper.refresh_from_db()
    assert paper.pinned and Edition.objects.get(pk=edition.pk).note == typed


def test_a_papers_link_in_the_editions_preview_opens_its_page_in_a_new_tab(live_server, page, morning, settings):
    """A paper's title clicked in the edition's preview opened inside the frame, where
    the site's page refused to show (X-Frame-Options: DENY): a broken-page icon in
    place of the email (a newcomer's walkthrough, 7 December 2026). It opens in a new
    tab, as in a mail app."""
    settings.SITE_URL = live_server.url
    paper = morning["papers"][0]
    _signs_in(page, live_server)
    page.goto(live_server.url + f"/admin/newsletter/edition/{morning['edition'].pk}/change/")
    with page.context.expect_page(timeout=10_000) as opened:
        page.frame_locator("iframe.email.desktop").get_by_role("link", name=paper.title).first.click()
    expect(opened.value.get_by_role("heading", name=paper.title)).to_be_visible()
    expect(page.frame_locator("iframe.email.desktop").get_by_text(paper.title).first).to_be_visible()


def test_the_edition_page_says_why_todays_papers_are_not_in(live_server, page, screenshot, hf_api):  # noqa: F811
    """Hugging Face answering 503 to the morning fetch (run as the worker runs it):
    "Today's edition" opens the newest edition with papers, and says at its top that
    today's are not in, why, and when they are tried again, on a desktop and a phone."""
    from celery.exceptions import Retry

    from newsletter.tasks import papers_fetch_today

    today = dt.datetime.now(dt.UTC).date()
    for n in range(2):
        PaperFactory(trending_date=today - dt.timedelta(days=1), title=f"Yesterday's paper {n}")
    edition_assemble(date=today - dt.timedelta(days=1))
    hf_api.respond(today.isoformat(), {"error": "Service Unavailable"}, status=503)
    with pytest.raises(Retry):
        papers_fetch_today.apply(throw=True)
    _editor_logs_in(page, live_server)

    page.goto(live_server.url + "/admin/newsletter/edition/today/")
    banner = page.locator(".today-fetch")
    expect(banner).to_contain_text("Today’s papers are not in")
    expect(banner.get_by_role("alert")).to_contain_text(re.compile(
        r"The morning fetch at \d\d:\d\d UTC could not reach Hugging Face \(HTTP 503\); it is tried again "
        r"at \d\d:\d\d UTC, and until about \d\d:\d\d UTC"))
    screenshot(page, "admin-edition-fetch-failing")
    page.set_viewport_size(PHONE)
    expect(banner).to_be_visible()
    assert page_overflow(page) == 0


def test_a_broken_files_error_is_under_the_file_and_names_it(live_server, page, screenshot, tmp_path, db):
    """An editor chooses a saved response that is cut short: the page comes back with
    the file forgotten (browsers do not keep it) and the error. It sat above the
    file's label, right under the paste box's help, and read as the empty paste
    box's; now it is under the file's button and names the file chosen."""
    _editor_logs_in(page, live_server)
    page.goto(live_server.url + reverse("admin:newsletter_paper_add_json"))
    saved = tmp_path / "daily_papers_monday.json"
    saved.write_bytes(b'[{"paper": ')
    page.get_by_label("or a saved file").set_input_files(str(saved))
    page.get_by_role("button", name="Add paper").click()

    error = page.locator(".errorlist").filter(has_text="not valid JSON")
    expect(error).to_have_text("daily_papers_monday.json: not valid JSON: Expecting value at line 1 column 12. "
                               "Choose it again once it is put right.")
    for size in (None, PHONE):
        if size:
            page.set_viewport_size(size)
        file_box = page.get_by_label("or a saved file").bounding_box()
        date_box = page.get_by_label("Trending date").bounding_box()
        error_box = error.bounding_box()
        assert file_box["y"] + file_box["height"] <= error_box["y"] < date_box["y"], (file_box, error_box)
    screenshot(page, "admin-paste-file-broken")
