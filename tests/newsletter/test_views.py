"""The public papers pages: templates/newsletter/home.html via newsletter/views.py."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from newsletter.models import PaperTopic
from newsletter.templatetags.newsletter_site import excerpt
from newsletter.views import ABSTRACT_SHORT_CHARS
from tests.factories import PaperFactory, PaperTopicFactory, TopicFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2025, 11, 24)
YESTERDAY = dt.date(2025, 11, 21)


def titles_in_order(html: str) -> list[str]:
    return re.findall(r'class="paper-card__title"[^>]*>\s*(?:<a [^>]*>)?([^<]+)', html)


def test_home_shows_the_newest_date_with_papers_pinned_first_then_by_upvotes(client):
    PaperFactory(title="Old news", trending_date=YESTERDAY, upvotes=999)
    PaperFactory(title="Popular", trending_date=TODAY, upvotes=80)
    PaperFactory(title="Less popular", trending_date=TODAY, upvotes=12)
    PaperFactory(title="Editors pick", trending_date=TODAY, upvotes=3, pinned=True)

    html = client.get("/").content.decode()

    assert "Daily Papers — " in html and "Monday 24 November 2025" in html
    assert titles_in_order(html) == ["Editors pick", "Popular", "Less popular"]
    assert "Old news" not in html
    assert "Editors&#x27; pick" in html or "Editors' pick" in html


def test_hidden_and_withdrawn_papers_are_not_shown(client):
    PaperFactory(title="Visible paper", trending_date=TODAY)
    PaperFactory(title="Hidden paper", trending_date=TODAY, hidden=True)
    PaperFactory(title="Withdrawn paper", trending_date=TODAY, withdrawn_at=timezone.now())

    html = client.get("/").content.decode()

    assert "Visible paper" in html
    assert "Hidden paper" not in html
    assert "Withdrawn paper" not in html


def test_a_date_whose_papers_are_all_hidden_is_not_the_newest(client):
    PaperFactory(title="Yesterday's", trending_date=YESTERDAY)
    PaperFactory(title="Today's but hidden", trending_date=TODAY, hidden=True)

    html = client.get("/").content.decode()

    assert "Yesterday&#x27;s" in html
    assert "Friday 21 November 2025" in html


def test_card_shows_upvotes_byline_dates_links_and_topic_chips(client):
    paper = PaperFactory(
        title="Scaling Laws",
        arxiv_id="2511.12345",
        upvotes=42,
        authors=["Ada Lovelace", "Alan Turing", "Grace Hopper", "Emmy Noether"],
        author_count=4,
        github_repo="https://github.com/example/scaling",
        thumbnail_url="https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2511.00002.png",
    )
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Language Models"), score=0.9)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Robotics"), score=0)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Retired", is_active=False), score=0.8)
    # An editor's "not about this topic" (kept as 0), and an editor's topic retired since.
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Taken off"), score=0, source=PaperTopic.Source.EDITOR)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Put away", is_active=False), score=1.0,
                      source=PaperTopic.Source.EDITOR)

    html = client.get("/").content.decode()

    assert 'href="https://huggingface.co/papers/2511.12345"' in html
    assert "▲" in html and ">42<" in html
    assert "Ada Lovelace, Alan Turing, Grace Hopper and 1 more" in html
    assert "20 Nov 2025" in html
    assert 'href="https://arxiv.org/abs/2511.12345"' in html
    assert 'href="https://arxiv.org/pdf/2511.12345"' in html
    assert 'href="https://github.com/example/scaling"' in html
    assert f'src="{paper.picture_url}"' in html and "cdn-thumbnails" not in html
    assert '<li class="chip">Language Models</li>' in html
    assert '<li class="chip">Robotics</li>' not in html  # a score of 0 is no match
    assert "Retired" not in html  # inactive topics are not shown
    assert re.findall(r'<li class="chip">([^<]+)</li>', html) == ["Language Models"]


def test_a_cards_chips_name_the_topics_the_paper_is_about_not_each_it_barely_passes_for(client):
    """Chips say what a paper is about (relevance.topics_about): its strongest topic
    and those close to it, and any an editor chose; a topic it only just passes for,
    far below its strongest, gets no chip (it still reaches that topic's readers)."""
    paper = PaperFactory(title="Pruning large models in one shot")
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Model compression"), score=0.62)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Sparsity"), score=0.58)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Chat tuning"), score=0.31)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Tool use"), score=0.35, source=PaperTopic.Source.EDITOR)

    html = client.get("/").content.decode()

    chips = re.findall(r'<li class="chip">([^<]+)</li>', html)
    assert chips == ["Model compression", "Sparsity", "Tool use"]


def test_an_editors_tag_takes_no_chip_away_from_the_topic_the_paper_is_about(client):
    """An editor's tag is stored at full score: measured beside the computed ones, it
    would hide the paper's own strongest topic from its card."""
    paper = PaperFactory(title="Pruning large models in one shot")
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Model compression"), score=0.62)
    PaperTopicFactory(paper=paper, topic=TopicFactory(name="Tool use"), score=1.0, source=PaperTopic.Source.EDITOR)

    html = client.get("/").content.decode()

    assert sorted(re.findall(r'<li class="chip">([^<]+)</li>', html)) == ["Model compression", "Tool use"]


def test_a_days_list_shows_a_line_of_each_abstract_not_the_whole(client):
    # Seventy abstracts in full would make the page four times heavier; the whole
    # abstract is on the paper's own page and in the edition.
    long = "We study things. " * 40
    PaperFactory(title="Long one", abstract=long)
    PaperFactory(title="Short one", abstract="Short and sweet.")

    html = client.get("/").content.decode()

    assert long.strip() not in html
    excerpt = re.search(r'<p class="abstract abstract--short" dir="auto">(We study[^<]*)</p>', html).group(1)
    assert excerpt.endswith("…") and len(excerpt) <= ABSTRACT_SHORT_CHARS
    assert '<p class="abstract abstract--short" dir="auto">Short and sweet.</p>' in html


def test_a_line_of_an_abstract_ends_on_a_whole_word_within_its_length_and_one_that_fits_is_whole():
    # arXiv hard-wraps its abstracts: a line break there is a space, not length.
    assert excerpt("We study agents.\n  They plan.", 28) == "We study agents. They plan."
    assert excerpt("We study agents.", 16) == "We study agents."
    # Cut at the last whole word, its full stop or comma dropped before the "…".
    assert excerpt("We study things. We study more things.", 30) == "We study things. We study…"
    assert excerpt("We study things, and more.", 20) == "We study things…"
    # A text without spaces (Chinese, say) is cut within the length too, "…" included.
    chinese = "我们研究智能体如何规划" * 3
    assert excerpt(chinese, 10) == chinese[:9] + "…"


def test_paper_titles_and_abstracts_are_escaped(client):
    PaperFactory(title="<script>alert(1)</script>", abstract="<img src=x onerror=alert(2)>")

    html = client.get("/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_home_links_to_subscribe_and_recent_dates(client):
    PaperFactory(trending_date=TODAY)
    PaperFactory(trending_date=YESTERDAY)

    html = client.get("/").content.decode()

    assert "Get trending papers in your email inbox!" in html
    assert 'href="/subscribe/"' in html
    assert 'href="/papers/2025-11-21/"' in html


def test_previous_date_page_shows_that_day_and_links_back(client):
    PaperFactory(title="Today's paper", trending_date=TODAY)
    PaperFactory(title="Friday paper", trending_date=YESTERDAY)

    response = client.get("/papers/2025-11-21/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "Friday 21 November 2025" in html
    assert "Friday paper" in html and "Today&#x27;s paper" not in html
    assert 'rel="next"' in html and 'href="/"' in html


@pytest.mark.parametrize("path", ["/papers/2025-11-22/", "/papers/2025-02-30/", "/papers/today/"])
def test_a_date_without_papers_or_not_a_date_is_404(client, path):
    PaperFactory(trending_date=TODAY)

    assert client.get(path).status_code == 404


def test_empty_state_when_there_are_no_papers(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "No papers yet" in response.content.decode()
    assert "Get trending papers in your email inbox!" in response.content.decode()


@pytest.mark.parametrize("count", [5, 50])
def test_home_costs_the_same_few_queries_for_5_and_50_papers(
    client, django_assert_num_queries, count
):
    topics = TopicFactory.create_batch(3)
    for paper in PaperFactory.create_batch(count, trending_date=TODAY):
        for topic in topics:
            PaperTopicFactory(paper=paper, topic=topic, score=0.5)
    PaperFactory(trending_date=YESTERDAY)

    # Recent dates, the dates either side, the papers, their topic chips, and which
    # dates have papers (the page cache's version of the date navigation, kept for
    # every later page); then none, from the page cache.
    with django_assert_num_queries(5):
        response = client.get("/")
    with django_assert_num_queries(0):
        again = client.get("/")

    assert response.content.decode().count('<article class="paper-card') == count
    assert again.content == response.content


def test_favicon_ico_leads_to_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200 and icon["Content-Type"].startswith("image/svg+xml")


def test_a_day_link_of_another_year_than_the_page_says_its_year(client):
    """From the page of 21 November 2025 the newest days read "Sat 5 Dec" and "Mon 24
    Nov" alike (screenshots, 6 December 2026), as if all of 2025. A day of the page's
    year keeps "Fri 21 Nov"; one of another year is written "5 Dec 2026"."""
    PaperFactory(trending_date=YESTERDAY)
    PaperFactory(trending_date=dt.date(2026, 12, 5))

    html = client.get("/papers/2025-11-21/").content.decode()

    assert 'aria-current="page">Fri 21 Nov</a>' in html
    assert ">5 Dec 2026</a>" in html and ">Sat 5 Dec</a>" not in html


def test_the_date_list_offers_the_newest_week_and_older_days_by_previous(client):
    # A reader sees the seven newest days with papers listed; the eighth, older
    # one is not listed but is one "← Previous" away from the oldest listed day.
    days = [TODAY - dt.timedelta(days=n) for n in range(8)]
    for day in days:
        PaperFactory(trending_date=day)
        PaperFactory(trending_date=day)  # a day of several papers is listed once

    home = client.get("/").content.decode()
    [listed] = re.findall(r'<ul class="date-nav__days">(.*?)</ul>', home, re.DOTALL)
    oldest_shown = client.get(f"/papers/{days[6].isoformat()}/").content.decode()

    assert f'href="/papers/{days[6].isoformat()}/"' in listed
    assert f'/papers/{days[7].isoformat()}/' not in listed
    assert [listed.count(f'/papers/{day.isoformat()}/"') for day in days[1:7]] == [1] * 6
    assert f'href="/papers/{days[7].isoformat()}/" rel="prev"' in oldest_shown


def test_only_the_newest_day_is_called_latest_an_older_one_is_from_the_archive(client):
    # The eyebrow over the day's title tells a reader whether they are looking at
    # today's list or an older one.
    PaperFactory(trending_date=TODAY)
    PaperFactory(trending_date=YESTERDAY)

    assert "Latest trending papers" in client.get("/").content.decode()
    older = client.get("/papers/2025-11-21/").content.decode()
    assert "From the archive" in older and "Latest trending papers" not in older


def test_a_days_previous_and_next_lead_to_the_days_either_side(client):
    # From the middle of three days, "← Previous" goes to the older day and
    # "Next →" to the newer one (the home page, for the newest).
    PaperFactory(trending_date=TODAY)
    PaperFactory(trending_date=YESTERDAY)
    PaperFactory(trending_date=dt.date(2025, 11, 20))

    html = client.get("/papers/2025-11-21/").content.decode()

    assert 'href="/papers/2025-11-20/" rel="prev">← Previous' in html
    assert 'href="/" rel="next">Next →' in html


def test_previous_and_next_skip_a_day_whose_papers_are_all_hidden_and_go_to_the_nearest(client):
    """From the 21st, "← Previous" leads to the nearest older day a reader can see
    (the 19th), not to the 20th, whose only paper an editor hid (a 404), nor to the
    oldest day; "Next →" from the 19th leads back to the 21st."""
    for day in (TODAY, YESTERDAY, dt.date(2025, 11, 19), dt.date(2025, 11, 18)):
        PaperFactory(trending_date=day)
    PaperFactory(trending_date=dt.date(2025, 11, 20), hidden=True)

    html = client.get("/papers/2025-11-21/").content.decode()
    older = client.get("/papers/2025-11-19/").content.decode()

    assert 'href="/papers/2025-11-19/" rel="prev">← Previous' in html
    assert 'href="/papers/2025-11-21/" rel="next">Next →' in older
