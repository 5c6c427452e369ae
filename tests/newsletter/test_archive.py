"""The web archive and the personal "view in browser" page (newsletter/archive.py,
newsletter/archive_views.py)."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from newsletter.archive import delivery_view_url
from newsletter.models import Delivery, Edition, EditionNote, EditionPaper, Topic
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory
from tests.tamper import signature_changed

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 11, 24)


def titles_in_order(html: str) -> list[str]:
    return re.findall(r'class="paper-card__title"[^>]*>\s*(?:<a [^>]*>)?([^<]+)', html)


def edition_of(date, papers, *, note="", sent=True) -> Edition:
    edition = Edition.objects.create(date=date, note=note, frozen_at=timezone.now() if sent else None)
    for position, paper in enumerate(papers):
        EditionPaper.objects.create(edition=edition, paper=paper, position=position)
    return edition


def test_an_edition_page_shows_its_papers_in_edition_order(client):
    low = PaperFactory(title="Few upvotes, placed first by the editors", upvotes=1)
    high = PaperFactory(title="Many upvotes", upvotes=300)
    edition_of(DAY, [low, high])

    response = client.get("/editions/2025-11-24/")

    assert response.status_code == 200
    html = response.content.decode()
    assert titles_in_order(html) == ["Few upvotes, placed first by the editors", "Many upvotes"]
    assert "Monday 24 November 2025" in html
    assert 'type="application/atom+xml"' in html


def test_the_editors_note_is_rendered_from_markdown_and_sanitised(client):
    edition_of(DAY, [PaperFactory()], note=(
        "A **big** day for [agents](https://example.org/agents).\n\n"
        "<script>alert('x')</script><img src=x onerror=alert(1)> [bad](javascript:alert(1))"
    ))

    html = client.get("/editions/2025-11-24/").content.decode()

    assert "<strong>big</strong>" in html
    assert 'href="https://example.org/agents"' in html
    assert "<script>alert" not in html and "onerror" not in html and "javascript:" not in html


def test_an_edition_page_shows_each_abstract_whole(client):
    """The day's list shows a line of each abstract; the edition is where the whole
    of it is (what the email had)."""
    abstract = "We study agents that plan. " * 20
    edition_of(DAY, [PaperFactory(abstract=abstract)])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert abstract.strip() in html and "abstract--short" not in html


def test_paper_titles_are_escaped(client):
    edition_of(DAY, [PaperFactory(title="<b>Bold</b> claims & results")])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert "&lt;b&gt;Bold&lt;/b&gt; claims &amp; results" in html


def test_an_edition_not_sent_yet_is_not_public_but_staff_can_preview_it(client, admin_client):
    edition_of(DAY, [PaperFactory(title="Still being edited")], sent=False)

    assert client.get("/editions/2025-11-24/").status_code == 404
    preview = admin_client.get("/editions/2025-11-24/")
    assert preview.status_code == 200
    assert "Preview: this edition has not been sent yet" in preview.content.decode()


def test_unknown_or_impossible_dates_are_404(client):
    assert client.get("/editions/2025-11-23/").status_code == 404
    assert client.get("/editions/2025-02-30/").status_code == 404


@pytest.mark.parametrize("path", ["/editions/0001-01-01/", "/editions/0001-01-04/", "/editions/9999-12-31/",
                                  "/papers/0001-01-01/", "/papers/9999-12-31/"])
def test_a_date_at_the_ends_of_the_calendar_is_404_not_500(client, path):
    """An edition's page is cached under the tags of the lists before its date
    (archive_views.edition_detail): for 0001-01-01 there are none, and the day before
    it was an OverflowError, a 500, to anyone typing a year 1 date (a hostile review).
    A Daily Papers date is far from either end of the calendar."""
    PaperFactory(trending_date=DAY)

    assert client.get(path).status_code == 404


def test_a_date_without_an_edition_is_404_even_after_an_earlier_one(client):
    edition_of(dt.date(2025, 11, 20), [PaperFactory(title="Thursday's paper")])

    assert client.get("/editions/2025-11-23/").status_code == 404


def test_hidden_papers_are_left_out_of_the_archive(client):
    edition_of(DAY, [PaperFactory(title="Kept"), PaperFactory(title="Taken down", hidden=True)])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert titles_in_order(html) == ["Kept"]


def test_the_list_of_past_editions_links_each_sent_edition_newest_first(client, django_assert_max_num_queries):
    for day in (20, 21, 24):
        edition_of(dt.date(2025, 11, day), [PaperFactory(title=f"Lead paper of the {day}th"), PaperFactory()])
    edition_of(dt.date(2025, 11, 25), [PaperFactory()], sent=False)

    with django_assert_max_num_queries(5):  # session/auth + editions + their first titles + topics
        html = client.get("/editions/").content.decode()

    links = re.findall(r'href="/editions/(\d{4}-\d{2}-\d{2})/"', html)
    assert links == ["2025-11-24", "2025-11-21", "2025-11-20"]
    assert "Lead paper of the 24th" in html and "2 papers" in html
    # Each reader's digest is their own choice and order: the page does not say
    # readers got the edition's order (it did until 5 December).
    assert "each reader&#x27;s digest was their own choice from them" in html.replace("'", "&#x27;")
    assert "in the order readers got them" not in html


def test_the_list_of_past_editions_has_one_address_per_page(client, monkeypatch):
    """?page=<anything> rendered page 1 and was stored as a page of its own for an
    hour: anonymous requests filled the cache (a hostile tester's pass). Other
    spellings of a page now lead to its one address, which is the only one stored."""
    monkeypatch.setattr("newsletter.archive_views.EDITIONS_PER_PAGE", 2)
    for day in (20, 21, 24):
        edition_of(dt.date(2025, 11, day), [PaperFactory()])
    for asked, lands in (("abc", "/editions/"), ("1", "/editions/"), ("0", "/editions/?page=2"),
                         ("99999", "/editions/?page=2"), ("02", "/editions/?page=2")):
        response = client.get("/editions/", {"page": asked})
        assert (response.status_code, response["Location"]) == (302, lands), asked
    # The parameter given twice: Django reads the last, and the whole query keyed the
    # cache, so '?page=<anything>&page=2' was page 2 stored again under each spelling.
    for query, lands in (("page=x&page=2", "/editions/?page=2"), ("page=2&page=2", "/editions/?page=2"),
                         ("page=2&page=1", "/editions/")):
        response = client.get(f"/editions/?{query}")
        assert (response.status_code, response.get("Location")) == (302, lands), query
    second = client.get("/editions/", {"page": "2"})
    assert second.status_code == 200 and 'href="/editions/" rel="prev"' in second.content.decode()
    assert client.get("/editions/").status_code == 200


def archive_of(editions: int, papers: int) -> None:
    """`editions` sent editions up to DAY, of `papers` papers each with two topics, the
    last also holding a late paper of the list before it."""
    topics = [TopicFactory(name="Agents", slug="agents"), TopicFactory(name="Vision", slug="vision")]
    for n in range(editions):
        date = DAY - dt.timedelta(days=editions - 1 - n)
        day_papers = PaperFactory.create_batch(papers, trending_date=date)
        for paper in day_papers:
            for topic in topics:
                PaperTopicFactory(paper=paper, topic=topic, score=0.9)
        if n == editions - 1 and n:
            day_papers.append(PaperFactory(trending_date=date - dt.timedelta(days=1)))
        edition_of(date, day_papers)


@pytest.mark.parametrize("path, queries", [
    ("/editions/", 4),  # the editions' count, the page of them, their first titles, the topics
    (f"/editions/{DAY}/", 5),  # the edition, the one before and after, its papers, their topics
])
@pytest.mark.parametrize("editions, papers", [(1, 1), (12, 12)])
def test_an_archive_page_reads_as_many_queries_for_a_long_archive_as_for_a_short_one(
    client, django_assert_num_queries, path, queries, editions, papers
):
    archive_of(editions, papers)

    with django_assert_num_queries(queries):
        assert client.get(path).status_code == 200


def test_edition_pages_link_to_the_neighbouring_editions(client):
    edition_of(dt.date(2025, 11, 20), [PaperFactory()])
    edition_of(DAY, [PaperFactory()])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert 'href="/editions/2025-11-20/" rel="prev"' in html


def test_the_list_of_past_editions_counts_and_previews_only_the_papers_its_page_shows(client):
    """An edition's line on the list: its first titles in its order, and its count, as its
    page has them; a paper taken down since is in neither."""
    edition_of(DAY, [PaperFactory(title="First of the day"), PaperFactory(title="Taken down", hidden=True),
                     PaperFactory(title="Second of the day"), PaperFactory(title="Third of the day"),
                     PaperFactory(title="Fourth of the day")])

    html = client.get("/editions/").content.decode()

    assert re.findall(r'<li dir="auto">([^<]+)</li>', html) == [
        "First of the day", "Second of the day", "Third of the day"]
    assert '"arch-list__count">4 papers<' in html
    assert "Taken down" not in html


def test_the_list_of_past_editions_does_not_count_a_withdrawn_paper_its_page_leaves_out(client):
    """A paper withdrawn from arXiv and left unhidden (the admin sets either) was left out
    of the edition's page and of the list's titles but counted on the list: "2 papers"
    over a page of one."""
    edition_of(DAY, [PaperFactory(title="Still up"),
                     PaperFactory(title="Withdrawn", withdrawn_at=timezone.now(), hidden=False)])

    listed = client.get("/editions/").content.decode()
    page = client.get("/editions/2025-11-24/").content.decode()

    assert titles_in_order(page) == ["Still up"]
    assert '"arch-list__count">1 paper<' in listed and "Withdrawn" not in listed


def test_edition_pages_link_to_the_nearest_editions_sent(client):
    """The neighbours are the nearest sent editions either side: not one further off,
    nor one not sent yet (its page is a 404 to a reader)."""
    for day in (20, 21, 26, 27):
        edition_of(dt.date(2025, 11, day), [PaperFactory()])
    for day in (22, 25):
        edition_of(dt.date(2025, 11, day), [PaperFactory()], sent=False)
    edition_of(DAY, [PaperFactory()])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert re.findall(r'href="/editions/([\d-]+)/" rel="(prev|next)"', html) == [
        ("2025-11-21", "prev"), ("2025-11-26", "next")]


# --- "View in browser" ------------------------------------------------------------


def sent_delivery(subscriber, papers) -> Delivery:
    edition = Edition.objects.filter(date=DAY).first() or edition_of(DAY, papers)
    return Delivery.objects.create(
        subscriber=subscriber, edition=edition, status=Delivery.Status.SENT,
        sent_at=timezone.now(), paper_ids=[p.pk for p in papers],
    )


def test_the_view_in_browser_link_shows_the_readers_own_papers_in_their_order(client):
    first, second, other = PaperFactory(title="Theirs first"), PaperFactory(title="Theirs second"), PaperFactory(title="Not theirs")
    edition_of(DAY, [other, first, second])
    delivery = sent_delivery(SubscriberFactory(), [second, first])
    Delivery.objects.filter(pk=delivery.pk).update(picked=2)

    url = delivery_view_url(delivery=delivery)
    assert url.startswith("http://testserver/digest/")
    response = client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    assert titles_in_order(html) == ["Theirs second", "Theirs first"]
    assert "Less like this" in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_the_view_in_browser_page_shows_the_note_the_readers_email_had(client):
    """The walkthrough of 5 December: a note written after a reader's digest went out
    showed on their "as the email had it" page. Each change of the note is kept; the
    page shows the one of the moment the email went out, none if there was none."""
    from newsletter.curation import edition_note_set

    paper = PaperFactory(title="The paper")
    edition = edition_of(DAY, [paper])
    early = sent_delivery(SubscriberFactory(), [paper])  # before any note
    edition_note_set(edition=edition, note="**First** note")
    Delivery.objects.filter(pk=early.pk).update(sent_at=timezone.now() - dt.timedelta(minutes=5))
    later = sent_delivery(SubscriberFactory(), [paper])
    Delivery.objects.filter(pk=later.pk).update(sent_at=timezone.now() + dt.timedelta(minutes=1))
    edition_note_set(edition=edition, note="A note written afterwards")  # after `later` went out:
    EditionNote.objects.filter(note__endswith="afterwards").update(set_at=timezone.now() + dt.timedelta(minutes=2))

    def shown(delivery):
        delivery.refresh_from_db()
        return client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert "First" not in shown(early) and "afterwards" not in shown(early)
    assert "<strong>First</strong> note" in shown(later) and "afterwards" not in shown(later)
    # The public edition page shows the note as it is now.
    assert "A note written afterwards" in client.get("/editions/2025-11-24/").content.decode()


@pytest.mark.parametrize("tamper", [
    lambda url: url.replace("/digest/", "/digest/x"),
    lambda url: signature_changed(url, tail="/"),
])
def test_a_tampered_view_in_browser_link_gets_a_clear_404_page(client, tamper):
    delivery = sent_delivery(SubscriberFactory(), [PaperFactory()])

    response = client.get(tamper(delivery_view_url(delivery=delivery)))

    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_re_issuing_the_readers_token_revokes_the_view_in_browser_link(client):
    reader = SubscriberFactory()
    url = delivery_view_url(delivery=sent_delivery(reader, [PaperFactory()]))
    reader.token = "a-new-secret"
    reader.save()

    assert client.get(url).status_code == 410


@pytest.mark.parametrize(("zone", "sent"), [
    ("America/New_York", "sent 24 Nov, 10:44 EST (your time zone, America/New_York)"),
    ("Asia/Tokyo", "sent 25 Nov, 00:44 JST (your time zone, Asia/Tokyo)"),
])
def test_the_readers_own_copy_says_when_it_was_sent_in_their_time_zone(client, zone, sent):
    reader = SubscriberFactory(time_zone=zone)
    delivery = sent_delivery(reader, [PaperFactory()])
    Delivery.objects.filter(pk=delivery.pk).update(
        sent_at=dt.datetime(2025, 11, 24, 15, 44, tzinfo=dt.UTC))

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert sent in html
    # What the reader reads, not the links' signed tokens (one held "UTC" by chance).
    text = re.sub(r"<[^>]*>", " ", html)
    assert "15:44" not in text and "UTC" not in text


def test_admin_lists_label_their_times_with_the_zone(admin_client):
    reader = SubscriberFactory()
    delivery = sent_delivery(reader, [PaperFactory()])
    Delivery.objects.filter(pk=delivery.pk).update(
        sent_at=dt.datetime(2025, 11, 24, 15, 44, tzinfo=dt.UTC))

    html = admin_client.get("/admin/newsletter/delivery/").content.decode()

    assert "24 Nov, 15:44 UTC" in html  # the deliveries' short "Sent" column, zone and all


def test_the_archive_links_each_active_topics_feed_and_the_feed_holds_its_papers(client):
    """The topic feeds were linked from nowhere: a reader had to guess their URL."""
    Topic.objects.update(is_active=False)  # the default topics of the migrations
    agents = TopicFactory(name="Tool-using agents", slug="tool-agents", position=1)
    TopicFactory(name="Graphs", slug="graphs", position=2)
    TopicFactory(name="Retired topic", slug="retired", is_active=False)
    paper = PaperFactory(title="A Paper About Agents")
    PaperTopicFactory(paper=paper, topic=agents, score=0.9)
    PaperFactory(title="A Paper About Nothing Followed")

    html = client.get("/editions/").content.decode()

    # A person is led to the feeds page (a phone opened the raw XML as a wall of
    # markup); a feed reader finds the feeds themselves in the page's head.
    assert re.findall(r'<a href="(/feeds/#[^"]+)">', html) == ["/feeds/#feed-topic-tool-agents", "/feeds/#feed-topic-graphs"]
    assert 'title="Tool-using agents (Atom)" href="/feeds/topics/tool-agents.atom"' in html
    assert "retired" not in html
    feeds = client.get("/feeds/").content.decode()
    assert re.findall(r'<li class="feed-list__item" id="([^"]+)">', feeds) == [
        "feed-all", "feed-topic-tool-agents", "feed-topic-graphs"]
    assert 'value="http://testserver/feeds/topics/tool-agents.atom"' in feeds and "retired" not in feeds
    feed = client.get("/feeds/topics/tool-agents.atom").content.decode()
    assert "A Paper About Agents" in feed and "A Paper About Nothing Followed" not in feed


def _section(html: str, heading: str) -> list[str]:
    """The paper titles under one heading of the reader's copy, in order."""
    after = html.split(f'<h2 class="arch-section">{heading}</h2>', 1)
    if len(after) == 1:
        return []
    return titles_in_order(after[1].split('<h2 class="arch-section">', 1)[0])


def _sent_by_the_batch(edition, reader) -> Delivery:
    from django.core import mail

    from newsletter.delivery import deliveries_create, digest_send_batch
    from tests.newsletter.test_digest_render import NOW

    ids = deliveries_create(edition=edition, subscriber_ids=[reader.id], now=NOW)
    digest_send_batch(delivery_ids=ids, now=NOW)
    assert len(mail.outbox) == 1
    return Delivery.objects.get(pk=ids[0])


def test_the_readers_copy_sets_their_picks_apart_from_the_also_trending_papers(client, settings):
    """The email's picks and its "also trending" block: the web copy listed all of them
    under "The papers picked for you"."""
    from html import unescape

    from tests.newsletter.test_digest_render import _readers, day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day = day_create()
    reader = _readers(day)[0]  # agents: picks, and the also-trending block
    delivery = _sent_by_the_batch(day["edition"], reader)

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert 0 < delivery.picked < len(delivery.paper_ids)
    by_id = {p.pk: p.title for p in day["papers"]}
    picks, others = _section(html, "Picked for you"), _section(html, "Also trending that day")
    assert [unescape(t).strip() for t in picks] == [by_id[i] for i in delivery.paper_ids[: delivery.picked]]
    assert [unescape(t).strip() for t in others] == [by_id[i] for i in delivery.paper_ids[delivery.picked:]]
    assert "Nothing matched" not in html
    # Each pick says why, as the email said it; the also-trending papers, as there, do not.
    from django.core import mail

    email_html = next(body for body, mime in mail.outbox[0].alternatives if mime == "text/html")
    said = [unescape(w).strip() for w in re.findall(r'<p class="why"[^>]*>([^<]+)', email_html)]
    shown = [unescape(w).strip() for w in re.findall(r'<p class="arch-why">([^<]+)</p>', html)]
    assert len(said) == delivery.picked and any("matched:" in w for w in said)
    assert shown == said == delivery.reasons
    assert html.index("arch-why") < html.index(picks[0]) and html.count("arch-why") == delivery.picked


def _chips_by_title(html: str, card: str, title: str, chip: str) -> dict[str, list[str]]:
    """{title: the chips beside it} for each card of `html` (`card`: one card's pattern,
    `title`: its title's, `chip`: one chip's)."""
    from html import unescape

    return {unescape(re.search(title, found).group(1)).strip(): [unescape(c).strip() for c in re.findall(chip, found)]
            for found in re.findall(card, html, re.DOTALL)}


def test_the_readers_copy_shows_the_topics_their_email_showed(client, settings):
    """The web copy put the site's topics on each card (a paper in Agents and Vision
    showed both, for a reader of Agents and Robotics), while the email showed the
    reader's own beside the "why" line, less the one it names: a reader opening the
    copy saw chips their email never had. Both now come from Delivery.chips."""
    from django.core import mail

    from newsletter.editions import edition_assemble

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    agents, robotics, vision = (TopicFactory(name=name) for name in ("Agents", "Robotics", "Vision"))
    both = PaperFactory(trending_date=DAY, upvotes=50, title="Agents that see")
    PaperTopicFactory(paper=both, topic=agents, score=0.9, matched_terms=["agent"])
    PaperTopicFactory(paper=both, topic=vision, score=0.9, matched_terms=["vision"])
    theirs = PaperFactory(trending_date=DAY, upvotes=40, title="Agents that walk")
    PaperTopicFactory(paper=theirs, topic=agents, score=0.9, matched_terms=["agent"])
    PaperTopicFactory(paper=theirs, topic=robotics, score=0.89, matched_terms=["robot"])
    reader = SubscriberFactory()
    reader.topics.set([agents, robotics])
    delivery = _sent_by_the_batch(edition_assemble(date=DAY), reader)

    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()

    email_html = next(body for body, mime in mail.outbox[0].alternatives if mime == "text/html")
    emailed = _chips_by_title(email_html, r'<p class="why".*?</h3>', r'<h3 class="title"[^>]*><a [^>]*>([^<]+)',
                              r'<span class="chip"[^>]*>([^<]+)</span>')
    shown = _chips_by_title(copy, r'<article class="paper-card.*?</article>', r'class="paper-card__title"[^>]*><a [^>]*>([^<]+)',
                            r'<li class="chip">([^<]+)</li>')
    assert emailed == {"Agents that see": [], "Agents that walk": ["Robotics"]}
    assert shown == emailed


def test_the_shareable_pages_carry_no_link_that_acts_as_the_reader(client, settings):
    """The "view in browser" copy, the link readers forward, and the vote pages it
    links to carried the reader's preference-centre link, which exports, deletes and
    unsubscribes as them and never expires (a hostile tester's pass)."""
    from newsletter.feedback import feedback_url
    from tests.newsletter.test_digest_render import _readers, day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day = day_create()
    reader = _readers(day)[0]
    delivery = _sent_by_the_batch(day["edition"], reader)
    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()
    vote = client.get(feedback_url(subscriber=reader, paper=day["papers"][0], vote=1)).content.decode()
    noted = client.get(client.post(feedback_url(subscriber=reader, paper=day["papers"][0], vote=1))["Location"])
    for html in (copy, vote, noted.content.decode()):
        assert "/manage/" not in html and "/unsubscribe/" not in html
    assert "the link at the foot of your email" in copy
    # Without the email at hand, the way to the link goes through the reader's inbox
    # (a phone walkthrough found these pages sent the reader back to the email only).
    assert 'href="/subscription/">get it by email</a>' in copy
    assert 'href="/subscription/">Get the link by email</a>' in noted.content.decode()


def test_a_weekly_readers_copy_reads_as_their_week(client, settings):
    """A weekly digest's "view in browser" page read as one day's: "Daily Papers Digest
    — Monday, December 1", "Also trending that day" over papers of the week, and "The
    whole edition" led to a day holding none of the picks. The row keeps that it went
    out as a weekly, so the page says so even after the reader turns daily."""
    from tests.newsletter.test_digest_render import _readers, day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day = day_create()
    reader = _readers(day)[1]  # weekly
    assert reader.frequency == "weekly"
    delivery = _sent_by_the_batch(day["edition"], reader)
    assert delivery.weekly is True
    reader.frequency = "daily"
    reader.save()

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert "Your weekly digest" in html
    week = delivery.edition.date - dt.timedelta(days=6)
    assert f"</span> week of {week.day}" in html and f"{delivery.edition.date.day} {delivery.edition.date:%B %Y}</h1>" in html
    assert "Also trending that day" not in html and "The whole edition" not in html
    assert "The week's editions</a>" in html


def test_the_readers_copy_of_an_empty_day_says_nothing_matched(client, settings):
    from tests.newsletter.test_digest_render import empty_day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    edition, reader = empty_day_create()
    Edition.objects.filter(pk=edition.pk).update(frozen_at=timezone.now())
    delivery = _sent_by_the_batch(edition, reader)

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert delivery.picked == 0
    assert _section(html, "Picked for you") == []
    assert len(_section(html, "Nothing matched your topics that day; the closest to them")) == 3


@pytest.mark.parametrize("offered", ["closest", "trending"])
def test_the_readers_copy_of_an_empty_day_words_it_as_their_email_did(client, settings, offered):
    """On a day nothing matched, the email said "Nothing matched your topics today;
    the closest to them" (or "; trending instead", for a reader of keywords only), and
    its web copy "Nothing matched your topics that day; offered instead": one
    situation in two wordings. Now the copy has the email's heading (read on a later
    day: "that day"), and beside each closest paper what the email said of it."""
    from html import unescape

    from django.core import mail

    from tests.newsletter.test_digest_render import empty_day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    edition, reader = empty_day_create()
    if offered == "trending":
        reader = SubscriberFactory(papers_per_digest=5, keywords="quantum chromodynamics")
    Edition.objects.filter(pk=edition.pk).update(frozen_at=timezone.now())
    delivery = _sent_by_the_batch(edition, reader)

    html = unescape(client.get(delivery_view_url(delivery=delivery)).content.decode())

    text = mail.outbox[0].body
    heading = {"closest": "; THE CLOSEST TO THEM", "trending": "; TRENDING INSTEAD"}[offered]
    assert delivery.picked == 0 and f"NOTHING MATCHED YOUR TOPICS TODAY{heading}" in text
    said = f"Nothing matched your topics that day{heading.lower()}"
    assert len(_section(html, said)) == len(delivery.paper_ids) > 0
    assert html.count(said) == 2  # the heading, and its list's name
    shown = re.findall(r'<p class="arch-why">([^<]+)</p>', html)
    if offered == "closest":
        assert shown == ["closest to Speech & audio"] * 3
        assert text.count(" · closest to Speech & audio") == 3
    else:
        assert shown == []


def test_an_edition_page_names_late_papers_by_the_list_they_were_added_to(client):
    """Late papers of two lists in one edition (a refresh that landed after the next
    edition went out, newsletter/editions.py): one line per list, each linking it."""
    from newsletter.editions import edition_assemble, edition_freeze

    thursday, friday = DAY - dt.timedelta(days=4), DAY - dt.timedelta(days=3)
    for date in (thursday, friday):
        PaperFactory(trending_date=date, title=f"On time {date}")
        edition_freeze(edition=edition_assemble(date=date))
    PaperFactory(trending_date=thursday, title="Late on Thursday", upvotes=5)
    PaperFactory(trending_date=friday, title="Late on Friday", upvotes=7)
    PaperFactory(trending_date=DAY, title="Monday paper", upvotes=1)
    edition_freeze(edition=edition_assemble(date=DAY))

    html = client.get(f"/editions/{DAY}/").content.decode()

    lines = [re.sub(r"<[^>]+>", "", line) for line in re.findall(r'<p class="arch-late">.*?</p>', html)]
    assert lines == [
        "1 paper of this edition was added to Thursday’s list after its edition went out: it is marked below.",
        "1 paper of this edition was added to Friday’s list after its edition went out: it is marked below.",
    ]
    assert f'href="/editions/{thursday}/"' in html and f'href="/editions/{friday}/"' in html
    # Each late card is marked with its own list; the edition's own paper is not.
    marked = re.findall(r'<p class="arch-late-mark">([^<]+)</p>.*?class="paper-card__title"[^>]*>\s*<a [^>]*>([^<]+)',
                        html, re.DOTALL)
    assert sorted(marked) == [("Added to Friday’s list after its edition went out", "Late on Friday"),
                              ("Added to Thursday’s list after its edition went out", "Late on Thursday")]
    assert titles_in_order(html) == ["Late on Friday", "Late on Thursday", "Monday paper"]


def test_a_neighbouring_edition_of_another_year_says_its_year(client):
    """The edition of 24 November 2025 linked to the next one, a year later, as
    "Sun 29 Nov →" (screenshots, 6 December 2026): read as five days later. A
    neighbour of the same year stays "Mon 24 Nov"."""
    edition_of(dt.date(2025, 11, 20), [PaperFactory()])
    edition_of(DAY, [PaperFactory()])
    edition_of(dt.date(2026, 11, 29), [PaperFactory()])

    html = client.get("/editions/2025-11-24/").content.decode()

    assert 'rel="prev">← Thu 20 Nov</a>' in html
    assert 'rel="next">29 Nov 2026 →</a>' in html


def test_the_view_in_browser_page_gives_a_send_of_another_year_its_year(client):
    """A reader's copy of the edition of 24 November 2025 said "sent 6 Dec, 04:22 UTC"
    when it went out a year later (the sample day bootstrap sends): read as 2025."""
    paper = PaperFactory()
    delivery = sent_delivery(SubscriberFactory(time_zone="UTC"), [paper])
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=dt.datetime(2026, 12, 6, 4, 22, tzinfo=dt.UTC))

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert "sent 6 Dec 2026, 04:22 UTC (your time zone" in html


def test_a_paper_taken_down_after_the_digest_went_out_leaves_the_readers_copy(client):
    kept, taken_down = PaperFactory(title="Still up"), PaperFactory(title="Taken down since")
    delivery = sent_delivery(SubscriberFactory(), [taken_down, kept])
    Delivery.objects.filter(pk=delivery.pk).update(chips=[["Agents"], []])  # as the batch keeps them
    taken_down.hidden = True
    taken_down.save()

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert titles_in_order(html) == ["Still up"]
    assert "Taken down since" not in html


def test_the_readers_copy_shows_the_note_as_it_stood_when_the_email_went_out_not_when_it_was_queued(client):
    """A digest waits in the queue between its row and its sending; the email renders
    the note as it is when it goes out, so a note changed meanwhile is the one it had."""
    from newsletter.curation import edition_note_set

    paper = PaperFactory()
    delivery = sent_delivery(SubscriberFactory(), [paper])  # queued (its row made) before the change
    edition_note_set(edition=delivery.edition, note="Changed while the digest waited")
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now() + dt.timedelta(minutes=1))

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert "Changed while the digest waited" in html


def test_the_readers_copy_never_shows_the_note_of_another_edition(client):
    from newsletter.curation import edition_note_set

    yesterday = edition_of(DAY - dt.timedelta(days=1), [PaperFactory()])
    edition_note_set(edition=yesterday, note="Yesterday's note")
    delivery = sent_delivery(SubscriberFactory(), [PaperFactory()])  # today's edition: no note
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=timezone.now() + dt.timedelta(minutes=1))

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert "Yesterday" not in html


def test_a_copy_of_a_digest_sent_before_its_picks_were_kept_lists_its_papers_as_picked_in_the_readers_week(client):
    """Rows sent before Delivery.picked and Delivery.weekly were kept (None): the copy
    lists every paper as picked, in the reader's order, and a weekly reader's reads as
    their week."""
    first, second = PaperFactory(title="Sent first"), PaperFactory(title="Sent second")
    delivery = sent_delivery(SubscriberFactory(frequency="weekly"), [first, second])
    assert (delivery.picked, delivery.weekly) == (None, None)

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert _section(html, "Picked for you") == ["Sent first", "Sent second"]
    assert "Also trending" not in html and "Nothing matched" not in html
    assert "Your weekly digest" in html


def test_a_copy_of_a_digest_sent_before_its_picks_were_kept_has_no_vote_links(client):
    """Rows sent before Delivery.picked was kept do not say which papers were the
    picks, the only ones whose email had "More / Less like this" under them: the copy
    put vote links under every paper, the also-trending ones too, and this is the link
    readers share. Now it has none (every paper is still listed)."""
    papers = [PaperFactory(title="Sent first"), PaperFactory(title="Sent second")]
    delivery = sent_delivery(SubscriberFactory(), papers)
    assert delivery.picked is None

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert titles_in_order(html) == ["Sent first", "Sent second"]
    assert _votes(html) == 0


def _votes(html: str) -> int:
    """The "more/less like this" links in a piece of a page or an email."""
    return len(re.findall(r'href="[^"]*/feedback/[^"]+"', html))


@pytest.mark.parametrize("empty", [False, True], ids=["picks-and-also", "nothing-matched"])
def test_the_readers_copy_has_vote_links_where_their_email_had_them_only(client, settings, empty):
    """The "view in browser" copy said it was "as the email had it" but put "More like
    this / Less like this" under the also-trending (or offered-instead) papers too,
    where the email has none: the copy is the link readers share, so each extra link
    was one more way for whoever got it to vote as the reader."""
    from django.core import mail

    from tests.newsletter.test_digest_render import _readers, day_create, empty_day_create

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    if empty:
        edition, reader = empty_day_create()
        Edition.objects.filter(pk=edition.pk).update(frozen_at=timezone.now())
    else:
        day = day_create()
        edition, reader = day["edition"], _readers(day)[0]
    delivery = _sent_by_the_batch(edition, reader)

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    email_html = next(body for body, mime in mail.outbox[0].alternatives if mime == "text/html")
    def sections(page: str, heading: str) -> tuple[str, str]:
        """(the picks' section, the others'): the parts after each heading."""
        parts = re.split(heading, page)[1:]
        return ("".join(p for p in parts if p.startswith("Picked for you")),
                "".join(p for p in parts if not p.startswith("Picked for you")))

    email_picks, email_also = sections(email_html, r'<h2 class="muted also-heading"[^>]*>')
    copy_picks, copy_others = sections(html, r'<h2 class="arch-section">')
    assert _votes(email_also) == 0
    assert _votes(email_picks) == 2 * delivery.picked
    assert _votes(copy_picks) == _votes(email_picks)
    assert _votes(copy_others) == _votes(email_also) == 0
    assert _votes(html) == _votes(email_html)
    # The papers are all still there, as in the email.
    assert len(titles_in_order(copy_others)) == len(delivery.paper_ids) - delivery.picked > 0


@pytest.mark.parametrize(("chips", "said"), [
    ([[], []], "Nothing matched your topics that day; the closest to them"),
    ([["Vision"], []], "Nothing matched your topics that day; trending instead"),
])
def test_the_copy_of_an_empty_day_sent_before_its_offer_was_kept_words_it_by_its_chips(client, chips, said):
    """A row of an empty day sent before Delivery.reasons kept the closest papers'
    words: a closest paper never has a chip (its topic is said in words), a trending
    one shows its topics, so the chips tell which the email offered."""
    papers = [PaperFactory(title="Offered first"), PaperFactory(title="Offered second")]
    delivery = sent_delivery(SubscriberFactory(), papers)
    Delivery.objects.filter(pk=delivery.pk).update(picked=0, reasons=[], chips=chips)

    html = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert _section(html, said) == ["Offered first", "Offered second"]


@pytest.mark.parametrize("weekly", [False, True], ids=["daily", "weekly"])
def test_the_readers_copy_marks_a_late_paper_as_their_email_did(client, weekly):
    """A daily email says of a paper of a list before "added to Friday’s list after its
    edition went out"; its web copy said nothing, and the edition's page said it in
    words of its own. Now all three say digest.late_label's words (a weekly digest,
    whose papers are the week's, says nothing of it)."""
    from newsletter.digest import late_label
    from newsletter.editions import edition_assemble, edition_freeze

    friday = DAY - dt.timedelta(days=3)
    PaperFactory(trending_date=friday, title="On time on Friday")
    edition_freeze(edition=edition_assemble(date=friday))
    late = PaperFactory(trending_date=friday, title="Late on Friday", upvotes=7)
    own = PaperFactory(trending_date=DAY, title="Monday paper", upvotes=1)
    edition = edition_assemble(date=DAY)
    edition_freeze(edition=edition)
    delivery = sent_delivery(SubscriberFactory(), [late, own])
    Delivery.objects.filter(pk=delivery.pk).update(picked=2, weekly=weekly)

    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()
    page = client.get(f"/editions/{DAY}/").content.decode()

    said = late_label(late, daily_date=DAY)
    assert said == "added to Friday’s list after its edition went out"
    marks = re.findall(r'<p class="arch-late-mark">([^<]+)</p>', copy)
    assert marks == ([] if weekly else ["Added to Friday’s list after its edition went out"])
    assert re.findall(r'<p class="arch-late-mark">([^<]+)</p>', page) == [said[0].upper() + said[1:]]


def _picks_said(html: str) -> dict[int, int]:
    """How many times a page says "Editors' pick" of each paper it marks so: on its
    card, or in the "why" line above it (a reader's web copy, as their email)."""
    said = {}
    for paper in html.split("</article>")[:-1]:
        times = paper.count("Editors' pick") + paper.count("Editors&#x27; pick")
        if times:
            said[int(re.findall(r'id="paper-(\d+)-title"', paper)[-1])] = times
    return said


def _picks_shown(html: str) -> set[int]:
    """The ids of the papers a page marks "Editors' pick"."""
    return set(_picks_said(html))


def _sent_with_a_pick(reader_kind: str):
    """A day whose paper 7 is pinned, assembled and sent to one reader: one who gets
    every paper as a pick ("why" lines kept), or one whose keywords match nothing
    (the day's trending papers, with no "why" line)."""
    from tests.newsletter.test_digest_render import day_create

    settings_kwargs = {"everything": {}, "nothing matched": {"keywords": "nothing at all matches this"}}
    day = day_create()
    pinned = next(p for p in day["papers"] if p.pinned)
    delivery = _sent_by_the_batch(day["edition"], SubscriberFactory(**settings_kwargs[reader_kind]))
    assert pinned.pk in delivery.paper_ids
    return day, pinned, delivery


@pytest.mark.parametrize("reader_kind", ["everything", "nothing matched"])
def test_an_editor_pinning_a_paper_after_the_send_changes_neither_the_edition_page_nor_the_readers_copy(
        client, settings, reader_kind, django_capture_on_commit_callbacks):
    """An editor's late pin is meant for the readers not sent to yet (ranking reads the
    paper's pin as it stands); the edition's page and a reader's web copy showed it as
    "Editors' pick" although their email had not."""
    from newsletter.curation import papers_flag_set

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    day, pinned, delivery = _sent_with_a_pick(reader_kind)
    late = next(p for p in day["papers"] if p.pk in delivery.paper_ids and not p.pinned)
    assert _picks_shown(client.get(f"/editions/{DAY}/").content.decode()) == {pinned.pk}

    with django_capture_on_commit_callbacks(execute=True):  # the cached page is renewed
        papers_flag_set(papers=[late], pinned=True)

    assert _picks_shown(client.get(f"/editions/{DAY}/").content.decode()) == {pinned.pk}
    assert _picks_shown(client.get(delivery_view_url(delivery=delivery)).content.decode()) == {pinned.pk}


@pytest.mark.parametrize("reader_kind", ["everything", "nothing matched"])
def test_a_paper_unpinned_after_the_send_is_still_shown_as_the_editors_pick_it_was_sent_as(
        client, settings, reader_kind):
    from newsletter.curation import papers_flag_set

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    _, pinned, delivery = _sent_with_a_pick(reader_kind)

    papers_flag_set(papers=[pinned], pinned=False)

    assert _picks_shown(client.get(f"/editions/{DAY}/").content.decode()) == {pinned.pk}
    assert _picks_shown(client.get(delivery_view_url(delivery=delivery)).content.decode()) == {pinned.pk}


@pytest.mark.parametrize("reader_kind", ["everything", "nothing matched"])
def test_a_readers_copy_says_editors_pick_once_as_their_email_did(client, settings, reader_kind):
    """A pick's "why" line starts "Editors' pick", and its card carried the badge as
    well: the reader's web copy said it twice (a reader's walkthrough, 7 December).
    As in the email, the why line says it; a paper without one (also trending, or
    the day's trending papers for a reader nothing matched) has the badge."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    _, pinned, delivery = _sent_with_a_pick(reader_kind)

    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert _picks_said(copy) == {pinned.pk: 1}
    said_in_why = re.search(rf'<p class="arch-why">Editors&#x27; pick[^<]*</p>\s*(<p[^>]*>[^<]*</p>\s*)?'
                            rf'<article[^>]*aria-labelledby="paper-{pinned.pk}-title"', copy)
    assert bool(said_in_why) == (reader_kind == "everything")


def test_an_edition_not_sent_yet_previews_the_pins_as_they_stand(admin_client):
    """Until it is frozen an edition goes out with its papers' pins as they are then:
    its preview shows those, however they were set."""
    from newsletter.curation import papers_flag_set
    from newsletter.editions import edition_assemble
    from newsletter.models import Paper

    first, second = PaperFactory(trending_date=DAY, pinned=True), PaperFactory(trending_date=DAY)
    edition_assemble(date=DAY)

    papers_flag_set(papers=[second], pinned=True)
    Paper.objects.filter(pk=first.pk).update(pinned=False)  # not through curation: no re-assembly

    assert _picks_shown(admin_client.get(f"/editions/{DAY}/").content.decode()) == {second.pk}


@pytest.mark.parametrize(("weekly", "pinned_on", "shown"), [
    (False, DAY - dt.timedelta(days=1), False),  # a daily digest: its own edition's pin
    (True, DAY - dt.timedelta(days=1), True),  # a weekly one: the pins of its week's editions
    (True, DAY - dt.timedelta(days=7), False),  # not those of the week before
], ids=["daily", "weekly, pinned that week", "weekly, pinned the week before"])
def test_a_readers_copy_says_editors_pick_only_of_a_paper_its_own_edition_pinned(
        client, weekly, pinned_on, shown):
    """A paper trending two days, pinned in one edition: a digest of the other, whose
    email did not call it a pick (no "why" line: the day's trending papers for a
    reader nothing matched), had its web copy say "Editors' pick", read from any sent
    edition that held the paper pinned."""
    paper = PaperFactory(title="Trending two days", pinned=False)
    earlier = edition_of(pinned_on, [paper])
    EditionPaper.objects.filter(edition=earlier, paper=paper).update(pinned=True)
    delivery = sent_delivery(SubscriberFactory(), [paper])
    Delivery.objects.filter(pk=delivery.pk).update(picked=0, weekly=weekly)

    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert _picks_shown(copy) == ({paper.pk} if shown else set())
    assert _picks_shown(client.get(f"/editions/{DAY}/").content.decode()) == set()


def test_a_pick_kept_in_the_ledger_in_its_words_stays_a_pick_in_the_readers_copy(client):
    """A pick's kept "why" line (Delivery.reasons) is the one record that its email
    called it an editors' pick (its edition's pin may say otherwise: a pin after the
    freeze reaches the readers not sent to yet); the copy shows the line as it is and
    draws the card as a pick's (`paper-card--pinned`) by reading it
    (ranking.reason_says_editors_pick). The words are written out here, not read from
    ranking.EDITORS_PICK_SAID: rows keep them for LEDGER_KEPT_DAYS, so new words must
    leave these readable."""
    paper = PaperFactory(title="Pinned after the freeze", pinned=False)
    delivery = sent_delivery(SubscriberFactory(), [paper])
    Delivery.objects.filter(pk=delivery.pk).update(
        picked=1, reasons=["Editors' pick · Agents · matched: tool use"])

    copy = client.get(delivery_view_url(delivery=delivery)).content.decode()

    assert _picks_said(copy) == {paper.pk: 1}
    assert re.search(rf'<article class="paper-card paper-card--pinned[^"]*" aria-labelledby="paper-{paper.pk}-title"', copy)
