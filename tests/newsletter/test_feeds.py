"""Atom feeds of papers, all and per topic (newsletter/feeds.py)."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

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

    root, items = entries(client.get("/feeds/topics/agents.atom"))

    assert root.find(f"{ATOM}title").text == "Daily Papers Digest: Agents"
    assert [e.find(f"{ATOM}title").text for e in items] == ["Agent paper"]
    assert [c.get("term") for c in items[0].findall(f"{ATOM}category")] == ["Agents"]


def test_an_unknown_or_inactive_topic_feed_is_404(client):
    TopicFactory(name="Retired", slug="retired", is_active=False)

    assert client.get("/feeds/topics/nope.atom").status_code == 404
    assert client.get("/feeds/topics/retired.atom").status_code == 404
