"""Atom feeds of papers, all and per topic (newsletter/feeds.py)."""

import datetime as dt
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import factory
import pytest

from newsletter.models import Paper, PaperTopic
from newsletter.page_cache import tags_bump
from newsletter.services import EDITOR_ASSIGNED_SCORE
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def entries(response):
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root, root.findall(f"{ATOM}entry")


def test_the_papers_feed_lists_visible_papers_newest_first(client):
    PaperFactory(title="Yesterday's", trending_date=dt.date(2025, 11, 23), arxiv_id="2511.90001")
    PaperFactory(title="Today's <new> & shiny", trending_date=dt.date(2025, 11, 24), arxiv_id="2511.90002")
    PaperFactory(title="Hidden one", hidden=True)

    _, items = entries(client.get("/feeds/papers.atom"))

    assert [e.find(f"{ATOM}title").text for e in items] == ["Today's <new> & shiny", "Yesterday's"]
    first = items[0]
    # The paper's page on the site, which links to everything the data has.
    assert first.find(f"{ATOM}link").get("href") == "http://testserver/papers/2511.90002/"
    assert first.find(f"{ATOM}published").text.startswith("2025-11-24")
    assert first.find(f"{ATOM}summary").text == "We study things and find that they work."
    assert first.find(f"{ATOM}author/{ATOM}name").text == "Ada Lovelace, Alan Turing"


def test_a_topic_feed_holds_only_papers_relevant_to_that_topic(client):
    agents = TopicFactory(name="Agents", slug="agents")
    vision = TopicFactory(name="Vision", slug="vision")
    PaperTopicFactory(paper=PaperFactory(title="Agent paper"), topic=agents, score=0.9)
    PaperTopicFactory(paper=PaperFactory(title="Vision paper"), topic=vision, score=0.9)
    PaperTopicFactory(paper=PaperFactory(title="Barely about agents"), topic=agents, score=0.05)
    # Relevant to another topic is not relevant to this one (one row must hold both).
    elsewhere = PaperFactory(title="Vision, barely agents")
    PaperTopicFactory(paper=elsewhere, topic=agents, score=0.05)
    PaperTopicFactory(paper=elsewhere, topic=vision, score=0.9)

    root, items = entries(client.get("/feeds/topics/agents.atom"))

    assert root.find(f"{ATOM}title").text == "Daily Papers Digest: Agents"
    assert [e.find(f"{ATOM}title").text for e in items] == ["Agent paper"]
    assert [c.get("term") for c in items[0].findall(f"{ATOM}category")] == ["Agents"]


def test_an_unknown_or_inactive_topic_feed_is_404(client):
    TopicFactory(name="Retired", slug="retired", is_active=False)

    assert client.get("/feeds/topics/nope.atom").status_code == 404
    assert client.get("/feeds/topics/retired.atom").status_code == 404


def test_a_papers_categories_in_the_feed_are_the_active_topics_it_is_about_closest_first(client):
    paper = PaperFactory(title="Robots with agents")
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Robots", slug="robots"), score=0.89)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Agents", slug="agents"), score=0.9)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Vision", slug="vision"), score=0.05)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Retired", slug="retired", is_active=False), score=0.95)

    _, (item,) = entries(client.get("/feeds/papers.atom"))

    assert [c.get("term") for c in item.findall(f"{ATOM}category")] == ["Agents", "Robots"]


def test_a_papers_categories_in_the_feed_are_its_chips_not_every_topic_it_passes_for(client):
    """A paper's chips name the topics it is about (relevance.topics_about: its
    strongest, those near it, and editors'), not every topic it passes for: a pruning
    paper that says "fine-tuning" passes for post-training and is about efficiency.
    The cards, its page and the digest said so; its feed entry listed every topic it
    passes for as its categories. It is still in the feed of each (which readers get
    a paper does not change)."""
    paper = PaperFactory(title="Pruning, then fine-tuning")
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Pruning", slug="pruning"), score=0.9)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Fine-tuning", slug="fine-tuning"), score=0.4)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Robots", slug="robots"),
                      score=EDITOR_ASSIGNED_SCORE, source=PaperTopic.Source.EDITOR)

    for path in ("/feeds/papers.atom", "/feeds/topics/fine-tuning.atom"):
        _, (item,) = entries(client.get(path))
        assert [c.get("term") for c in item.findall(f"{ATOM}category")] == ["Robots", "Pruning"], path


def test_a_topic_feed_holds_a_paper_just_at_the_relevance_a_digest_takes(client):
    from newsletter.relevance import RELEVANCE_THRESHOLD

    agents = TopicFactory(name="Agents", slug="agents")
    PaperTopicFactory(paper=PaperFactory(title="Just about agents"), topic=agents, score=RELEVANCE_THRESHOLD)

    _, items = entries(client.get("/feeds/topics/agents.atom"))

    assert [e.find(f"{ATOM}title").text for e in items] == ["Just about agents"]


def test_the_feed_holds_the_50_papers_a_day_lists_first_the_editors_pick_then_by_upvotes(client):
    """A day of more papers than the feed holds: it keeps the ones the site lists first."""
    PaperFactory.create_batch(51, upvotes=factory.Iterator(range(1, 52)))
    PaperFactory(title="The editors' pick", upvotes=0, pinned=True)
    PaperFactory(title="The day before's best", upvotes=500, trending_date=dt.date(2025, 11, 23))

    _, items = entries(client.get("/feeds/papers.atom"))

    assert len(items) == 50
    titles = [e.find(f"{ATOM}title").text for e in items]
    assert titles[0] == "The editors' pick"
    by_title = {p.title: p.upvotes for p in Paper.objects.all()}
    assert [by_title[t] for t in titles[1:]] == list(range(51, 2, -1))


def test_an_entry_reads_the_papers_ai_summary_when_it_has_one_under_an_id_that_stays_put(client):
    """Entry ids are what feed readers tell new entries by: a change to them shows every
    paper again as new, so they stay the arXiv id's (the row's for a paper without one)."""
    PaperFactory(title="Summarised", arxiv_id="2511.90003", ai_summary="Agents, briefly.")
    no_arxiv = PaperFactory(title="Not on arXiv", arxiv_id=None, trending_date=dt.date(2025, 11, 23))

    _, (summarised, other) = entries(client.get("/feeds/papers.atom"))

    assert summarised.find(f"{ATOM}summary").text == "Agents, briefly."
    assert summarised.find(f"{ATOM}id").text == "daily-papers-digest:paper:2511.90003"
    assert other.find(f"{ATOM}id").text == f"daily-papers-digest:paper:{no_arxiv.pk}"


def test_a_topic_feed_describes_itself_as_its_topic_does_and_leads_to_the_archive(client):
    TopicFactory(name="Web agents", slug="web-agents", description="Models that browse the web.")

    root, _ = entries(client.get("/feeds/topics/web-agents.atom"))

    assert root.find(f"{ATOM}subtitle").text == "Models that browse the web."
    assert root.find(f"{ATOM}link[@rel='alternate']").get("href") == "http://testserver/editions/"
    # A topic the editors left undescribed still says what its feed holds.
    TopicFactory(name="Vision", slug="vision", description="")
    root, _ = entries(client.get("/feeds/topics/vision.atom"))
    assert root.find(f"{ATOM}subtitle").text == "Trending AI papers about Vision."


def test_the_papers_feed_names_itself_and_dates_a_paper_at_the_start_of_its_day_in_utc(client, settings):
    """A feed app lists the feed by its title, what it holds and who makes it. An
    entry is dated 00:00 UTC on the day it trended, whatever the site's TIME_ZONE: at
    the end of that day, today's papers would be dated in the future; at New York's
    midnight, five hours late."""
    settings.TIME_ZONE = "America/New_York"
    PaperFactory(trending_date=dt.date(2025, 11, 24))

    root, (entry,) = entries(client.get("/feeds/papers.atom"))

    assert root.find(f"{ATOM}title").text == "Daily Papers Digest: trending AI papers"
    assert root.find(f"{ATOM}subtitle").text == "The papers trending on Hugging Face Daily Papers, newest first."
    assert root.find(f"{ATOM}author/{ATOM}name").text == "Daily Papers Digest"
    assert entry.find(f"{ATOM}published").text == "2025-11-24T00:00:00+00:00"


def as_a_feed_reader_shows_it(element) -> str:
    """The text a feed reader shows of an Atom text construct: of type "html", what
    the HTML it holds reads as (RFC 4287, section 3.1.1.2); else the text itself."""
    if element.get("type") != "html":
        return element.text
    shown = []
    parser = HTMLParser()
    parser.handle_data = shown.append
    parser.feed(element.text)
    parser.close()
    return "".join(shown)


def test_an_abstract_with_tex_or_markup_reads_in_a_feed_reader_as_it_was_written(client):
    """The Atom summary is of type "html": a feed reader reads it as HTML, so an
    abstract's "$k<n$" opened a tag that swallowed the text after it, and "<b>" or an
    "<a href>" in the data was markup in the reader's window. The summary is the
    abstract's text, whatever characters it holds."""
    abstract = "For $k<n$ and $n>2$, agents <b>plan</b> & act; see <a href=\"https://evil.example\">here</a>."
    PaperFactory(abstract=abstract, ai_summary="")
    PaperFactory(title="Summarised", abstract="", ai_summary="Cost < 1 & gain > 2 <script>x</script>",
                 trending_date=dt.date(2025, 11, 23))

    _, items = entries(client.get("/feeds/papers.atom"))

    assert [as_a_feed_reader_shows_it(e.find(f"{ATOM}summary")) for e in items] == [
        abstract, "Cost < 1 & gain > 2 <script>x</script>"]


@pytest.mark.parametrize("path", ["/feeds/papers.atom", "/feeds/topics/agents.atom"])
def test_each_entry_says_when_it_was_updated_as_atom_requires(client, path):
    """RFC 4287, section 4.1.2: an entry holds exactly one atom:updated. Without it a
    feed validator refuses the feed, and strict readers the entry; the feed's own
    updated is its newest entry's."""
    paper = PaperFactory(trending_date=dt.date(2025, 11, 24))
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Agents", slug="agents"), score=0.9)

    root, (entry,) = entries(client.get(path))

    assert [u.text for u in entry.findall(f"{ATOM}updated")] == ["2025-11-24T00:00:00+00:00"]
    assert root.findtext(f"{ATOM}updated") == "2025-11-24T00:00:00+00:00"


def test_each_feed_has_an_id_of_its_own(client):
    """A feed's atom:id names it among all feeds (RFC 4287, 4.2.6): every topic's feed
    had the papers feed's (the archive's address), so a reader that knows feeds by
    their id took a topic's feed for the feed of all papers, or one topic for another."""
    agents = TopicFactory(name="Agents", slug="agents")
    TopicFactory(name="Vision", slug="vision")
    paths = ["/feeds/papers.atom", "/feeds/topics/agents.atom", "/feeds/topics/vision.atom"]

    ids = [entries(client.get(path))[0].findtext(f"{ATOM}id") for path in paths]

    assert len(set(ids)) == 3, ids
    # The feed of all papers keeps the id its readers have known it by.
    assert ids[0] == "http://testserver/editions/"
    # A topic's feed keeps its id when an editor renames the topic.
    agents.name = "AI agents"
    agents.save()
    tags_bump(tags=["feeds"])  # as the admin's save does (page_cache.pages_changed)
    assert "AI agents" in client.get(paths[1]).content.decode()
    assert entries(client.get(paths[1]))[0].findtext(f"{ATOM}id") == ids[1]


def test_an_entry_of_a_paper_that_names_nobody_has_no_author_of_its_own(client):
    """A paper the data names no author, organisation or count of: its entry had an
    author of no name (<author><name/></author>), which a feed reader shows as a blank
    byline. It has none of its own, and Atom gives it the feed's (RFC 4287, 4.2.1)."""
    PaperFactory(authors=[], author_count=0, organization="")

    _, (entry,) = entries(client.get("/feeds/papers.atom"))

    assert entry.find(f"{ATOM}author") is None


@pytest.mark.parametrize("path, queries", [
    ("/feeds/papers.atom", 2),  # the papers, their topics
    ("/feeds/topics/agents.atom", 3),  # the topic, its papers, their topics
])
@pytest.mark.parametrize("papers", [1, 60])
def test_a_feed_reads_as_many_queries_for_many_papers_as_for_one(client, django_assert_num_queries,
                                                                  path, queries, papers):
    topics = [TopicFactory(name="Agents", slug="agents"), TopicFactory(name="Vision", slug="vision")]
    for n in range(papers):
        paper = PaperFactory(trending_date=dt.date(2025, 11, 24) - dt.timedelta(days=n % 5))
        for topic in topics:
            PaperTopicFactory(paper=paper, topic=topic, score=0.9)

    with django_assert_num_queries(queries):
        assert client.get(path).status_code == 200
