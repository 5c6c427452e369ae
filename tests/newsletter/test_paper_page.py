"""A page for every paper (newsletter/views.py, paper_detail): what the digest, the
home page, the archive and the feeds link to."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import resolve, reverse

from newsletter.models import Paper, PaperTopic
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db


def test_a_paper_with_an_arxiv_id_has_its_page_there_with_every_outward_link(client):
    paper = PaperFactory(
        arxiv_id="2511.12345", title="Scaling Laws for Everything", upvotes=42, num_comments=3,
        authors=["Ada Lovelace", "Alan Turing"], author_count=5, organization="Analytical Engines",
        github_repo="https://github.com/example/scaling", github_stars=1234,
        project_page="https://scaling.example.org/", abstract="We scale everything.",
        ai_summary="Everything scales.", thumbnail_url="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.00001.png",
    )
    topic = TopicFactory(name="Language models")
    PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=["scaling law", "LLM"])

    response = client.get("/papers/2511.12345/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1" in html and "Scaling Laws for Everything" in html
    assert "<bdi>Ada Lovelace</bdi>, <bdi>Alan Turing</bdi> and 3 more" in html
    assert "Analytical Engines" in html
    assert "42 upvotes" in html and "3 comments" in html
    assert "We scale everything." in html and "Everything scales." in html
    assert "Language models" in html and "matched: scaling law, LLM" in html
    for href in (
        "https://huggingface.co/papers/2511.12345", "https://arxiv.org/abs/2511.12345",
        "https://arxiv.org/pdf/2511.12345", "https://github.com/example/scaling",
        "https://scaling.example.org/",
    ):
        assert f'href="{href}"' in html
    assert "★ 1234" in html
    # This site's copy of the picture (newsletter/pictures.py), not Hugging Face's.
    assert f'src="{paper.picture_url}"' in html and "cdn-thumbnails" not in html
    # Links of its own: no search fallback.
    assert "huggingface.co/papers?q=" not in html
    # Opened from one's own digest, the page's one way on was "Subscribe" (a phone
    # walkthrough): a reader is shown the way to their preferences beside it.
    assert 'Subscribed already? Your topics are a link away: <a href="/subscription/">your subscription</a>' in html


def test_a_paper_without_any_link_gets_a_page_by_key_and_a_hugging_face_search(client):
    paper = PaperFactory(arxiv_id=None, title="Towards Better Alignment: RL & Sparse Rewards",
                         authors=[], author_count=9, organization="")
    url = paper.get_absolute_url()
    assert re.fullmatch(rf"/papers/p{paper.pk}-towards-better-alignment-rl-sparse-rewards/", url)

    html = client.get(url).content.decode()

    assert "9 authors" in html
    assert 'href="https://huggingface.co/papers?q=Towards+Better+Alignment%3A+RL+%26+Sparse+Rewards"' in html


def test_old_or_other_addresses_of_a_paper_redirect_to_its_page(client):
    with_id = PaperFactory(arxiv_id="2511.00001", title="Has an id")
    without = PaperFactory(arxiv_id=None, title="Renamed later")

    assert client.get(f"/papers/p{with_id.pk}-has-an-id/").headers["Location"] == "/papers/2511.00001/"
    stale = client.get(f"/papers/p{without.pk}-old-title/")
    assert stale.status_code == 301 and stale.headers["Location"] == without.get_absolute_url()


def test_a_papers_address_that_changes_back_does_not_loop_in_a_browser_that_followed_it(client):
    """A paper without an arXiv id is renamed ("Renamed later" -> "Renamed again"),
    then its title is restored. A browser that followed the first redirect keeps it
    for a day only (Cache-Control: max-age), so the restored address is not sent
    back to the second for good: before, the 301 had no lifetime (browsers keep such
    a one indefinitely), and the two addresses redirected to each other."""
    paper = PaperFactory(arxiv_id=None, title="Renamed later")
    first = paper.get_absolute_url()
    paper.title = "Renamed again"
    paper.save()

    followed = client.get(first)

    assert followed.status_code == 301 and followed.headers["Location"] == paper.get_absolute_url()
    assert "max-age=86400" in followed.headers["Cache-Control"]
    paper.title = "Renamed later"
    paper.save()
    assert client.get(first).status_code == 200


def test_hidden_withdrawn_and_unknown_papers_have_no_page(client):
    hidden = PaperFactory(hidden=True)
    assert client.get(hidden.get_absolute_url()).status_code == 404
    assert client.get("/papers/2511.99999/").status_code == 404
    assert client.get("/papers/p999999-nothing/").status_code == 404


def test_an_editors_topic_says_so(client):
    paper = PaperFactory()
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Robotics"), score=1.0,
                      source=PaperTopic.Source.EDITOR)
    assert "chosen by the editors" in client.get(paper.get_absolute_url()).content.decode()


@pytest.mark.parametrize("arxiv_id", ["2511.12345", "2511.1234v2", None, "hep-th/9901001"])
def test_the_hand_built_url_is_the_one_the_url_patterns_resolve(arxiv_id):
    paper = PaperFactory(arxiv_id=arxiv_id, title="100% Sure: «Unicode» ☃ Titles")
    match = resolve(paper.get_absolute_url())
    assert match.view_name in {"newsletter:paper_detail", "newsletter:paper_detail_by_pk"}
    if paper.arxiv_id == "2511.12345":
        assert paper.get_absolute_url() == reverse("newsletter:paper_detail", args=[arxiv_id])


@pytest.mark.parametrize(("title", "slug"), [
    ("深度学习的新方法", "paper"),  # nothing a slug keeps: its page still opens
    ("?!", "paper"),
    ("a" * 59 + " long title", "a" * 59),  # cut at 60 characters, never ending in "-"
])
def test_a_paper_of_any_title_has_a_page_that_opens(client, title, slug):
    paper = PaperFactory(arxiv_id=None, title=title)
    assert paper.get_absolute_url() == f"/papers/p{paper.pk}-{slug}/"
    assert client.get(paper.get_absolute_url()).status_code == 200


def test_the_byline_names_three_authors_counts_the_rest_and_reads_in_the_pages_direction(client):
    def byline(**fields):
        return PaperFactory.build(**fields).byline

    assert byline(authors=["Ada Lovelace"], author_count=1) == "Ada Lovelace"
    assert byline(authors=["A. One", "B. Two", "C. Three"], author_count=3) == "A. One, B. Two, C. Three"
    assert byline(authors=["A. One", "B. Two", "C. Three", "D. Four"], author_count=6) == (
        "A. One, B. Two, C. Three and 3 more")
    assert byline(authors=[], organization="", author_count=1) == "1 author"
    # An Arabic organisation is isolated, so a number or comma after it stays after it.
    assert byline(authors=[], organization="جامعة القاهرة") == "\u2068جامعة القاهرة\u2069"
    # Named authors the API did not count: no "and -2 more" on the paper's page.
    paper = PaperFactory(authors=["A. One", "B. Two"], author_count=0)
    authors = re.search(r'<p class="paper-page__authors">(.*?)</p>',
                        client.get(paper.get_absolute_url()).content.decode(), re.DOTALL).group(1)
    assert "A. One" in authors and "more" not in authors


def test_a_reader_goes_to_read_a_paper_on_hugging_face_else_its_project_page_else_its_code():
    """The digest's "Read:" link: the paper's own words before its code."""
    both = {"project_page": "https://example.org/project", "github_repo": "https://github.com/o/r"}
    assert PaperFactory.build(arxiv_id="2511.00001", **both).url == "https://huggingface.co/papers/2511.00001"
    assert PaperFactory.build(arxiv_id=None, **both).url == "https://example.org/project"
    assert PaperFactory.build(arxiv_id=None, project_page="", github_repo="https://github.com/o/r").url == (
        "https://github.com/o/r")


def test_home_archive_and_feed_link_every_paper_to_its_page(client, django_user_model):
    papers = [PaperFactory(arxiv_id=None, title=f"No link {n}") for n in range(2)]
    papers.append(PaperFactory(arxiv_id="2511.00077", title="With id"))

    home = client.get("/").content.decode()
    feed = client.get("/feeds/papers.atom").content.decode()

    for paper in papers:
        assert f'href="{paper.get_absolute_url()}"' in home
        assert f'href="http://testserver{paper.get_absolute_url()}"' in feed
    assert Paper.objects.count() == 3


@pytest.mark.parametrize("row, said", [
    # An editor put the paper under the topic; no keyword of it matched. The email
    # said "close to the topic's description" (no closeness was measured), the page
    # "chosen by the editors".
    ({"source": PaperTopic.Source.EDITOR, "matched_terms": []}, "chosen by the editors"),
    # Carried by closeness to the topic's example papers: the page said nothing.
    ({"matched_terms": [], "near_examples": True}, "close to the topic's examples"),
    # Three terms matched: the email named two, the page three.
    ({"matched_terms": ["world model", "planning", "video"]}, "matched: world model, planning"),
    # An editor's row whose keywords match too: the email said the terms, the page
    # "chosen by the editors" (paper_topic_set keeps the terms for the email's sake).
    ({"source": PaperTopic.Source.EDITOR, "matched_terms": ["world model"]}, "matched: world model"),
])
def test_a_papers_page_says_why_it_is_in_a_topic_as_the_readers_digest_does(client, row, said):
    """One "why" per paper and topic (relevance.topic_match_reason): a reader who opens
    a pick of their digest reads on its page the reason the email gave them."""
    topic = TopicFactory(name="World models")
    paper = PaperFactory(trending_date=dt.date(2025, 11, 24), title="Dreaming of worlds", upvotes=50)
    PaperTopicFactory(paper=paper, topic=topic, score=0.9, **row)
    SubscriberFactory(email="reader@example.com").topics.add(topic)

    call_command("send_digests", "--date", "2025-11-24", "--now", stdout=None)
    [message] = mail.outbox
    page = client.get(paper.get_absolute_url()).content.decode()

    assert f"   World models · {said}\n" in message.body
    assert f'<span class="chip">World models</span> <span class="muted">{said}</span>' in page.replace("&#x27;", "'")


@pytest.mark.parametrize("author_count", [0, 4])
def test_a_paper_with_more_names_than_its_count_names_them_alike_in_the_digest_and_on_its_page(client, author_count):
    """A paper an editor typed in (five names, the count left at 0 or not raised):
    the digest's byline (Paper.byline) counted the authors past the three it names
    from author_count alone and said "Ada, Alan, Grace", the last two dropped without
    a word, while the paper's page listed all five. Both now count the names there
    are (Paper.authors_total)."""
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]
    topic = TopicFactory(name="World models")
    paper = PaperFactory(trending_date=dt.date(2025, 11, 24), authors=names, author_count=author_count)
    PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=["world model"])
    SubscriberFactory(email="reader@example.com").topics.add(topic)

    call_command("send_digests", "--date", "2025-11-24", "--now", stdout=None)
    [message] = mail.outbox
    page = client.get(paper.get_absolute_url()).content.decode()

    assert "Ada Lovelace, Alan Turing, Grace Hopper and 2 more · ▲" in message.body
    assert ", ".join(f"<bdi>{name}</bdi>" for name in names) in page and "more" not in page.split("paper-page__authors")[1].split("</p>")[0]
