import datetime as dt

import pytest

from newsletter.digest import digest_make
from newsletter.editions import edition_assemble
from newsletter.models import Edition
from newsletter.ranking import ranking_data_load
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)
LONG_ABSTRACT = " ".join(["We propose a method that learns continually without forgetting."] * 12)


def digest_message(*, papers: int = 5, note: str = "", title: str | None = None, **reader):
    """The digest email one reader would get, made by the one digest builder."""
    topic = TopicFactory(name="Continual learning")
    for n in range(papers):
        paper = PaperFactory(
            trending_date=DAY, upvotes=200 - 10 * n, num_comments=3,
            title=title if (title and n == 0) else f"Learning without forgetting, part {n}",
            abstract=LONG_ABSTRACT, github_repo="https://github.com/example/repo" if n % 2 else "",
            authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"], author_count=7,
        )
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["catastrophic forgetting"])
    for n in range(3):
        PaperFactory(trending_date=DAY, upvotes=50 - n, title=f"Something else entirely {n}")
    edition = edition_assemble(date=DAY)
    Edition.objects.filter(pk=edition.pk).update(note=note)
    edition.refresh_from_db()
    subscriber = SubscriberFactory(papers_per_digest=min(papers, 20) or 1, **reader)
    subscriber.topics.add(topic)
    data = ranking_data_load(date=DAY, subscriber_ids=[subscriber.id])
    message = digest_make(edition=edition, subscriber=subscriber, data=data).message
    return message, message.alternatives[0][0]


@pytest.mark.django_db
def test_the_subject_names_the_top_paper_and_counts_the_rest():
    message, _ = digest_message(papers=5)
    assert message.subject == "Learning without forgetting, part 0 and 4 more trending papers"


@pytest.mark.django_db
def test_each_paper_has_its_links_reason_byline_upvotes_and_chips():
    _, html = digest_message(papers=2)
    assert 'href="https://huggingface.co/papers/' in html
    assert 'href="https://arxiv.org/abs/' in html and 'href="https://arxiv.org/pdf/' in html
    assert 'href="https://github.com/example/repo"' in html
    assert "Continual learning · matched: catastrophic forgetting" in html
    assert "Ada Lovelace, Alan Turing, Grace Hopper and 4 more" in html
    assert "▲ 200" in html
    assert 'class="chip"' in html
    assert "Also trending today".upper() in html
    assert "Something else entirely 0" in html


@pytest.mark.django_db
def test_the_abstract_is_cut_to_about_two_lines():
    _, html = digest_message(papers=1)
    assert LONG_ABSTRACT not in html
    assert "We propose a method" in html and "…" in html


@pytest.mark.django_db
def test_the_footer_has_manage_unsubscribe_browser_view_and_postal_address(settings):
    message, html = digest_message()
    assert "http://testserver/editions/2025-11-24/" in html
    assert "Unsubscribe" in html and "Manage your preferences" in html
    assert settings.POSTAL_ADDRESS in html
    for url in ("http://testserver/editions/2025-11-24/", settings.POSTAL_ADDRESS):
        assert url in message.body


@pytest.mark.django_db
def test_there_is_a_preheader_and_a_text_part_that_reads_on_its_own():
    message, html = digest_message(papers=3)
    assert "3 papers picked for you today" in html
    body = message.body
    assert "1. Learning without forgetting, part 0" in body
    assert "Continual learning · matched: catastrophic forgetting" in body
    assert "https://arxiv.org/pdf/" in body
    assert "<" not in body.replace("<http", "")  # no markup in the text part


@pytest.mark.django_db
def test_titles_are_escaped_in_html_and_the_subject_is_one_line():
    message, html = digest_message(papers=2, title='Attention <script>alert("x")</script> & more\nInjected: header')
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "\n" not in message.subject


@pytest.mark.django_db
def test_the_editors_note_is_markdown_made_safe():
    note = "**Big day** for [agents](https://example.com).\n\n<script>alert(1)</script><img src=x onerror=alert(1)>"
    _, html = digest_message(note=note)
    assert "<strong>Big day</strong>" in html
    assert 'href="https://example.com"' in html
    assert "<script>alert(1)" not in html and "onerror" not in html


@pytest.mark.django_db
def test_ten_papers_stay_under_gmails_clipping_size():
    _, html = digest_message(papers=10)
    assert html.count("Learning without forgetting, part") >= 10
    assert len(html.encode()) < 100 * 1024


@pytest.mark.django_db
def test_a_weekly_digest_says_so():
    _, html = digest_message(papers=2, frequency="weekly")
    assert "picked for you this week" in html
