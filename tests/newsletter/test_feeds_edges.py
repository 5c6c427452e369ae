"""The Atom feeds (newsletter/feeds.py) at their edges, found by mutation testing."""

import pytest

from tests.factories import PaperFactory
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
