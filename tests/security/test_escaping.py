"""Untrusted text (paper titles, abstracts, authors from the API; an editor's note)
never reaches a page or an email as live markup."""

import datetime as dt

import pytest

from newsletter.curation import edition_preview
from newsletter.editions import edition_assemble, edition_freeze
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)
TITLE = '<script>alert("title")</script>Scaling'
ABSTRACT = '<img src=x onerror=alert("abstract")> We scale.'
AUTHOR = '<svg onload=alert("author")>'
NOTE = 'Hello <script>alert("note")</script> [x](javascript:alert("link"))'
LIVE = ["<script>alert(", "<img src=x onerror", "<svg onload", 'href="javascript:']


def _assert_inert(html: str) -> None:
    for fragment in LIVE:
        assert fragment not in html, fragment


@pytest.fixture
def hostile_edition(db):
    topic = TopicFactory(name="Scaling", keywords="scaling")
    paper = PaperFactory(title=TITLE, abstract=ABSTRACT, authors=[AUTHOR], author_count=1,
                         trending_date=DAY)
    PaperTopicFactory(paper=paper, topic=topic, score=0.9)
    edition = edition_assemble(date=DAY)
    edition.note = NOTE
    edition.save()
    edition_freeze(edition=edition)
    subscriber = SubscriberFactory()
    subscriber.topics.add(topic)
    return edition, subscriber


def test_home_and_archive_pages_escape_paper_fields_and_the_note(client, hostile_edition):
    for url in ["/", f"/editions/{DAY.isoformat()}/", "/feeds/papers.atom"]:
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_inert(response.content.decode())
    assert "&lt;script&gt;" in client.get("/").content.decode()


def test_the_digest_email_escapes_paper_fields_and_sanitises_the_note(hostile_edition):
    edition, subscriber = hostile_edition
    preview = edition_preview(edition=edition, subscriber=subscriber)
    _assert_inert(preview.html)
    assert "Scaling" in preview.html and "Hello" in preview.html
    assert "\r" not in preview.subject and "\n" not in preview.subject
