import datetime as dt

import pytest

from newsletter import ranking
from newsletter.editions import edition_assemble
from newsletter.models import Delivery, Feedback
from newsletter.ranking import digest_select, ranking_data_load, subscriber_learned_preferences
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)


@pytest.fixture
def day(db):
    """A day of papers: three on continual learning, two on agents, two on nothing."""
    cl = TopicFactory(name="Continual learning")
    agents = TopicFactory(name="Agents")
    papers = {}
    for key, upvotes, topic, terms, repo in [
        ("cl-big", 80, cl, ["catastrophic forgetting"], ""),
        ("cl-mid", 40, cl, ["replay buffer"], "https://github.com/x/cl"),
        ("cl-small", 5, cl, ["catastrophic forgetting"], ""),
        ("agent-a", 60, agents, ["tool use"], ""),
        ("agent-b", 30, agents, ["web agents"], ""),
        ("viral", 300, None, [], ""),
        ("other", 100, None, [], ""),
    ]:
        paper = PaperFactory(trending_date=DAY, upvotes=upvotes, title=f"Paper {key}", github_repo=repo)
        if topic:
            PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=terms)
        papers[key] = paper
    edition_assemble(date=DAY)
    return {"cl": cl, "agents": agents, **papers}


def _select(reader, date=DAY):
    data = ranking_data_load(date=date, subscriber_ids=[reader.id])
    return digest_select(subscriber=reader, date=date, data=data)


def _reader(*topics, **kwargs):
    reader = SubscriberFactory(**kwargs)
    reader.topics.add(*topics)
    return reader


def _titles(ranked):
    return [r.paper.title for r in ranked]


def test_readers_get_their_topics_first_with_a_reason(day):
    selection = _select(_reader(day["cl"]))
    assert _titles(selection.papers) == ["Paper cl-big", "Paper cl-mid", "Paper cl-small"]
    assert selection.papers[0].reason == "Continual learning · matched: catastrophic forgetting"
    assert selection.papers[0].topics == ["Continual learning"]


def test_a_thin_day_gives_fewer_papers_than_asked_not_padding(day):
    selection = _select(_reader(day["agents"], papers_per_digest=10))
    assert _titles(selection.papers) == ["Paper agent-a", "Paper agent-b"]


def test_also_trending_shows_the_most_upvoted_papers_outside_their_topics(day):
    selection = _select(_reader(day["agents"]))
    assert _titles(selection.also_trending)[:2] == ["Paper viral", "Paper other"]
    assert not set(_titles(selection.papers)) & set(_titles(selection.also_trending))


def test_own_keywords_count_and_say_so(day):
    reader = _reader(keywords="viral")
    selection = _select(reader)
    assert _titles(selection.papers) == ["Paper viral"]
    assert "matched: viral" in selection.papers[0].reason


def test_exclude_keywords_and_only_with_code(day):
    assert "Paper cl-big" not in _titles(_select(_reader(day["cl"], exclude_keywords="cl-big")).papers)
    assert _titles(_select(_reader(day["cl"], only_with_code=True)).papers) == ["Paper cl-mid"]


def test_papers_already_sent_are_never_repeated(day):
    reader = _reader(day["cl"])
    earlier = edition_assemble(date=DAY - dt.timedelta(days=1))
    Delivery.objects.create(subscriber=reader, edition=earlier, status="sent", paper_ids=[day["cl-big"].id])
    assert "Paper cl-big" not in _titles(_select(reader).papers)


def test_skip_empty_readers_get_nothing_on_a_day_without_matches(day):
    empty_topic = TopicFactory(name="Robotics")
    assert _select(_reader(empty_topic, skip_empty=True)).skip is True
    fallback = _select(_reader(empty_topic))
    assert fallback.papers == [] and _titles(fallback.also_trending)[0] == "Paper viral"


def test_less_like_this_lowers_similar_papers_in_the_next_digest(day):
    reader = _reader(day["cl"], day["agents"], papers_per_digest=5)
    before = _titles(_select(reader).papers)
    assert before.index("Paper cl-mid") < before.index("Paper agent-b")

    Feedback.objects.create(subscriber=reader, paper=day["cl-big"], vote=-1)
    after = _titles(_select(reader).papers)

    assert "Paper cl-big" not in after  # the paper itself is gone
    assert after.index("Paper cl-mid") > after.index("Paper agent-b")  # its topic sank
    learned = subscriber_learned_preferences(subscriber=reader)
    assert learned["topics_down"][0][0] == "Continual learning"
    assert learned["terms_less"] == ["catastrophic forgetting"]


def test_weekly_readers_get_the_best_of_the_past_seven_editions(day):
    old = PaperFactory(trending_date=DAY - dt.timedelta(days=3), upvotes=500, title="Paper from Friday")
    PaperTopicFactory(paper=old, topic=day["cl"], score=0.9)
    too_old = PaperFactory(trending_date=DAY - dt.timedelta(days=8), upvotes=900, title="Too old")
    PaperTopicFactory(paper=too_old, topic=day["cl"], score=0.9)
    for n in (3, 8):
        edition_assemble(date=DAY - dt.timedelta(days=n))

    weekly = _titles(_select(_reader(day["cl"], frequency="weekly")).papers)
    daily = _titles(_select(_reader(day["cl"])).papers)
    assert weekly[0] == "Paper from Friday" and "Too old" not in weekly
    assert "Paper from Friday" not in daily


def test_ranking_data_is_loaded_in_the_same_queries_for_1_or_50_readers(day, django_assert_num_queries):
    readers = [_reader(day["cl"]) for _ in range(50)]
    with django_assert_num_queries(4):
        ranking_data_load(date=DAY, subscriber_ids=[readers[0].id])
    with django_assert_num_queries(4):
        ranking_data_load(date=DAY, subscriber_ids=[r.id for r in readers])


def test_readers_of_one_profile_in_a_batch_still_get_their_own_digest(day):
    """A batch ranks each preference profile once (digest_select); what is a reader's
    alone — papers already sent, their count, their feedback, skip-empty — still
    applies to each."""
    sent_before, fresh, short, voter = (_reader(day["cl"], papers_per_digest=n) for n in (5, 5, 1, 5))
    earlier = edition_assemble(date=DAY - dt.timedelta(days=1))
    Delivery.objects.create(subscriber=sent_before, edition=earlier, status="sent", paper_ids=[day["cl-big"].id])
    Feedback.objects.create(subscriber=voter, paper=day["cl-mid"], vote=-1)
    readers = [sent_before, fresh, short, voter]
    data = ranking_data_load(date=DAY, subscriber_ids=[r.id for r in readers])
    picks = {r.pk: _titles(digest_select(subscriber=r, date=DAY, data=data).papers) for r in readers}

    assert picks[fresh.pk] == ["Paper cl-big", "Paper cl-mid", "Paper cl-small"]
    assert picks[sent_before.pk] == ["Paper cl-mid", "Paper cl-small"]
    assert picks[short.pk] == ["Paper cl-big"]
    assert "Paper cl-mid" not in picks[voter.pk]
    # The three without feedback shared one ranking.
    assert sum(1 for version, _ in ranking._rankings if version == data.version) == 1


def test_a_cached_ranking_is_not_reused_once_an_editor_changes_a_paper(day):
    reader = _reader(day["cl"])
    assert _titles(_select(reader).papers)[0] == "Paper cl-big"
    day["cl-big"].title = "Paper cl-big, corrected"
    day["cl-big"].save()
    assert _titles(_select(reader).papers)[0] == "Paper cl-big, corrected"
    day["cl-small"].upvotes = 500
    day["cl-small"].save()
    assert _titles(_select(reader).papers)[0] == "Paper cl-small"
