"""The Atom feeds (newsletter/feeds.py) at their edges, found by mutation testing."""

import xml.etree.ElementTree as ET

import pytest

from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory
from tests.newsletter.test_feeds import ATOM, entries

pytestmark = pytest.mark.django_db


def test_an_entry_of_a_paper_with_a_picture_leads_to_its_page_here_and_names_no_cdn(client):
    """A feed app opens an entry's link and may fetch every address in the feed: the
    link is the paper's page on this site, picture or not, and Hugging Face's CDN is
    named nowhere (its host would see who reads the feed, as it saw who opened a
    digest before pictures were served from here)."""
    paper = PaperFactory(arxiv_id="2511.90004",
                         thumbnail_url="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.90004.png")
    response = client.get("/feeds/papers.atom")
    _, (entry,) = entries(response)
    assert [link.get("href") for link in entry.findall(f"{ATOM}link")] == [
        f"http://testserver{paper.get_absolute_url()}"]
    assert b"cdn-thumbnails" not in response.content


@pytest.mark.parametrize("path", ["/feeds/papers.atom", "/feeds/topics/agents.atom"])
def test_a_paper_with_control_characters_in_its_text_leaves_the_feed_valid_xml(client, path):
    """Text from the Daily Papers data (a form feed or a vertical tab pasted from a
    PDF into an abstract, an escape in a title) is no character XML 1.0 allows: the
    syndication framework refused it, a 500 on every feed the paper was in for every
    feed reader until it left the feed (a hostile review). Each is left out of the
    feed; the text around it stays."""
    paper = PaperFactory(arxiv_id="2511.90005", title="Agents\x1b[1m that \x0bplan",
                         abstract="Page one.\x0cPage two\ufffe.", ai_summary="",
                         authors=["Ada\x01 Lovelace"])
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Agents\x07", slug="agents"), score=0.9)
    PaperFactory(arxiv_id="2511.90006", title="A plain paper")

    response = client.get(path)

    assert response.status_code == 200
    feed = ET.fromstring(response.content)  # valid XML 1.0, or ParseError
    titles = [e.findtext(f"{ATOM}title") for e in feed.findall(f"{ATOM}entry")]
    assert "Agents[1m that plan" in titles
    assert "Page one.Page two." in response.content.decode()
    assert "Ada Lovelace" in response.content.decode()
