import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsletter import ranking
from newsletter.editions import edition_assemble
from newsletter.embeddings import DIMENSIONS, vector_pack
from newsletter.models import Delivery, Feedback, Paper, PaperTopic, Topic
from newsletter.ranking import digest_select, ranking_data_load
from subscribers.models import Subscriber
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


def test_the_days_top_paper_in_a_readers_topic_past_their_count_is_also_trending_and_no_paper_without_votes(db):
    """A reader of two papers a day: their topic's most upvoted paper ranks third by
    relevance, so it is not a pick; it leads "also trending" (the walkthrough of
    5 December found the day's top paper in no block and three ▲0 papers called
    trending). A paper nobody voted for is never "trending". A reader of three papers
    of the same topic, who shares the ranking, still gets it as a pick with its
    topic's reason, not "Trending"."""
    topic = TopicFactory(name="Preference tuning")
    for title, score, upvotes in [("Strong match", 0.9, 2), ("Good match", 0.8, 3), ("Top of the day", 0.45, 90)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=upvotes),
                          topic=topic, score=score, matched_terms=["preference tuning"])
    for title in ("Unvoted one", "Unvoted two"):
        PaperFactory(trending_date=DAY, title=title, upvotes=0)
    PaperFactory(trending_date=DAY, title="Outside, voted", upvotes=7)
    edition_assemble(date=DAY)
    two, three = _reader(topic, papers_per_digest=2), _reader(topic, papers_per_digest=3)
    data = ranking_data_load(date=DAY, subscriber_ids=[two.id, three.id])

    picked_two = digest_select(subscriber=two, date=DAY, data=data)
    assert _titles(picked_two.papers) == ["Strong match", "Good match"]
    assert _titles(picked_two.also_trending) == ["Top of the day", "Outside, voted"]
    assert picked_two.also_trending[0].reason == "Trending, ▲ 90"
    assert picked_two.also_trending[0].topics == ["Preference tuning"]

    picked_three = digest_select(subscriber=three, date=DAY, data=data)
    assert _titles(picked_three.papers) == ["Strong match", "Good match", "Top of the day"]
    assert picked_three.papers[2].reason.startswith("Preference tuning · matched: preference tuning")
    assert _titles(picked_three.also_trending) == ["Outside, voted"]


def test_own_keywords_count_and_say_so(day):
    reader = _reader(keywords="viral")
    selection = _select(reader)
    assert _titles(selection.papers) == ["Paper viral"]
    assert selection.papers[0].reason == "Your keywords · matched: viral"


def test_each_of_a_readers_own_keywords_brings_papers_that_say_it_only_in_their_abstract(db):
    """Not only the first keyword, and not only in titles: a paper whose abstract
    alone says the reader's second keyword (twice: one passing mention is not enough,
    relevance.RELEVANCE_THRESHOLD) is theirs, and the why line names the terms in
    the order the reader wrote them."""
    PaperFactory(trending_date=DAY, title="A faster sampler", upvotes=50,
                 abstract="We apply speculative decoding to large models: speculative decoding halves latency.")
    PaperFactory(trending_date=DAY, title="Two tricks", upvotes=10,
                 abstract="Diffusion models meet speculative decoding.")
    PaperFactory(trending_date=DAY, title="Unrelated", upvotes=90, abstract="A study of graph kernels.")
    edition_assemble(date=DAY)
    picks = _select(_reader(keywords="diffusion, speculative decoding")).papers
    assert [(r.paper.title, r.reason) for r in picks] == [
        ("Two tricks", "Your keywords · matched: diffusion, speculative decoding"),
        ("A faster sampler", "Your keywords · matched: speculative decoding"),
    ]


def test_a_readers_own_keyword_is_said_as_theirs_beside_a_topic(db):
    """A paper of the reader's topic (by closeness alone) that also has their own
    keyword: the line read "Language models & pre-training · matched: speech
    recognition", as if the topic had matched the reader's term (a reader's
    walkthrough of several days)."""
    topic = TopicFactory(name="Sequence models")
    paper = PaperFactory(trending_date=DAY, title="Robust Speech Recognition via Large-Scale Weak Supervision")
    PaperTopicFactory(paper=paper, topic=topic, score=0.4, matched_terms=[])
    edition_assemble(date=DAY)
    [pick] = _select(_reader(topic, keywords="speech recognition")).papers
    assert pick.reason == ("Sequence models · close to the topic's description · "
                           "your keywords: speech recognition")


def test_a_pick_carried_by_the_topics_examples_says_so(db):
    """The checkable reason of a pick without a keyword: the topic's example papers
    when they carried it, which an editor's admin lists, not its description."""
    topic = TopicFactory(name="Sequence models")
    paper = PaperFactory(trending_date=DAY, title="Mamba: Linear-Time Sequence Modeling")
    PaperTopicFactory(paper=paper, topic=topic, score=0.4, matched_terms=[], near_examples=True)
    edition_assemble(date=DAY)
    [pick] = _select(_reader(topic)).papers
    assert pick.reason == "Sequence models · close to the topic's examples"


def test_exclude_keywords_and_only_with_code(day):
    assert "Paper cl-big" not in _titles(_select(_reader(day["cl"], exclude_keywords="cl-big")).papers)
    assert _titles(_select(_reader(day["cl"], only_with_code=True)).papers) == ["Paper cl-mid"]


def test_an_excluded_term_is_matched_as_keywords_are_spelling_and_inflection_alike(db):
    """A reader leaves out "quantisation" and "agent": papers on quantization (another
    spelling), quantized weights (another form) and agents (a plural) go; a paper
    that only says "reagent" or "management" stays (whole words, not substrings)."""
    topic = TopicFactory(name="Efficiency")
    texts = {
        "American spelling": "We study post-training quantization of large models.",
        "Other form": "Weights are quantized to four bits with no loss.",
        "Plural": "Web agents browse and book flights.",
        "Substring only": "A reagent library for management of lab stock, made faster.",
    }
    for title, abstract in texts.items():
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, abstract=abstract),
                          topic=topic, score=0.9, matched_terms=["efficiency"])
    edition_assemble(date=DAY)

    picks = _titles(_select(_reader(topic, exclude_keywords="quantisation, agent")).papers)
    assert picks == ["Substring only"]


def test_an_acronyms_plural_as_a_readers_term_matches_the_acronym_both_ways(db):
    """A reader who types "LLMs" means papers on an LLM as much as on LLMs (the
    matcher already took "LLM" to match "LLMs"; "LLMs" matched only "LLMs"): as a
    keyword it brings them, left out it leaves them out."""
    topic = TopicFactory(name="Efficiency")
    for title, upvotes in [("Compressing an LLM to four bits", 30), ("Compressing LLMs to four bits", 20),
                           ("Compressing a convolutional network to four bits", 10)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=upvotes),
                          topic=topic, score=0.9, matched_terms=["efficiency"])
    edition_assemble(date=DAY)

    for term in ("LLMs", "LLM"):
        assert _titles(_select(_reader(topic, exclude_keywords=term)).papers) == [
            "Compressing a convolutional network to four bits"]
        assert _titles(_select(_reader(keywords=term)).papers) == [
            "Compressing an LLM to four bits", "Compressing LLMs to four bits"]


def test_a_term_of_stop_words_saved_before_the_form_refused_it_leaves_out_nothing(db):
    """A reader who saved "of" as a term to leave out, before the preference form
    refused such terms, got an empty digest every day: nearly every paper says "of".
    Ranking reads their terms without it; their other terms still count."""
    topic = TopicFactory(name="Efficiency")
    for title, upvotes in [("Scaling of sparse attention", 30), ("Pruning of an LLM", 20)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=upvotes),
                          topic=topic, score=0.9, matched_terms=["efficiency"])
    edition_assemble(date=DAY)

    assert _titles(_select(_reader(topic, exclude_keywords="of, The")).papers) == [
        "Scaling of sparse attention", "Pruning of an LLM"]
    assert _titles(_select(_reader(topic, exclude_keywords="of, LLM")).papers) == ["Scaling of sparse attention"]


@pytest.mark.parametrize("days_before", [1, 20])
def test_papers_already_sent_are_never_repeated(day, days_before):
    """Not the day after, nor three weeks after: a paper listed again is not given again."""
    reader = _reader(day["cl"])
    earlier = edition_assemble(date=DAY - dt.timedelta(days=days_before))
    Delivery.objects.create(subscriber=reader, edition=earlier, status="sent", paper_ids=[day["cl-big"].id])
    assert "Paper cl-big" not in _titles(_select(reader).papers)


def test_skip_empty_readers_get_nothing_on_a_day_without_matches(day):
    empty_topic = TopicFactory(name="Robotics")
    assert _select(_reader(empty_topic, skip_empty=True)).skip is True
    fallback = _select(_reader(empty_topic))
    assert fallback.papers == [] and _titles(fallback.also_trending)[0] == "Paper viral"


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
    readers.append(_reader())  # no topic at all: the day as it trends
    # The week's papers, the readers' feedback, their earlier digests (papers not to
    # repeat), the active topics' vectors, the papers' topic scores, the readers' topics.
    with django_assert_num_queries(6):
        ranking_data_load(date=DAY, subscriber_ids=[readers[0].id])
    with django_assert_num_queries(6):
        data = ranking_data_load(date=DAY, subscriber_ids=[r.id for r in readers])
    # Ranking the loaded readers reads nothing more, their topics included (the
    # batch loads readers without them), and ranks each by their own topics.
    fresh = list(Subscriber.objects.filter(id__in=[r.id for r in readers]).order_by("id"))
    with django_assert_num_queries(0):
        selections = [digest_select(subscriber=s, date=DAY, data=data) for s in fresh]
    assert [s.papers for s in selections[:-1]] == [s.papers for s in selections[:1]] * 50
    assert _titles(selections[0].papers) == _titles(_select(readers[0]).papers)
    assert _titles(selections[-1].papers) == _titles(_select(readers[-1]).papers)
    assert selections[-1].papers != selections[0].papers


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



def test_batches_of_one_version_of_the_day_share_its_papers_so_cached_rankings_pin_no_batch(day):
    """Rankings outlive their batch (cached per profile): if each batch's ranking kept
    that batch's own copy of the day, a worker's memory grew with the audience
    (ranking._content_share). Batches of the same content share one copy; an edit
    makes a new one, and only a few versions are kept."""
    first = ranking_data_load(date=DAY, subscriber_ids=[])
    later = ranking_data_load(date=DAY, subscriber_ids=[])
    assert later.papers_by_date[DAY] is first.papers_by_date[DAY]
    assert later.topic_hits is first.topic_hits
    # A profile first met in a later batch is ranked over the shared papers.
    selected = digest_select(subscriber=_reader(day["agents"]), date=DAY, data=later)
    assert all(any(r.paper is p for p in first.papers_by_date[DAY]) for r in selected.papers)

    for upvotes in range(ranking.CONTENTS_KEPT + 1):
        day["other"].upvotes = 1000 + upvotes
        day["other"].save()
        edited = ranking_data_load(date=DAY, subscriber_ids=[])
        assert edited.papers_by_date[DAY] is not first.papers_by_date[DAY]
    assert len(ranking._contents) == ranking.CONTENTS_KEPT
    assert first.version not in ranking._contents


def test_readers_votes_on_older_papers_leave_the_days_version_and_its_shared_rankings_alone(day):
    """A vote is on a paper of an earlier digest, often outside the week's window: the
    batch reads it through its vector, and the day's content, the key of the rankings
    shared by every batch of the process, stays the same with or without voters."""
    old = PaperFactory(trending_date=DAY - dt.timedelta(days=30), title="Paper of last month")
    PaperTopicFactory(paper=old, topic=day["cl"], score=0.9)
    voter = _reader(day["cl"])
    Feedback.objects.create(subscriber=voter, paper=old, vote=1)
    without = ranking_data_load(date=DAY, subscriber_ids=[_reader(day["cl"]).id])
    with_voter = ranking_data_load(date=DAY, subscriber_ids=[voter.id])
    assert with_voter.version == without.version
    assert with_voter.topic_hits is without.topic_hits
    assert old.id in with_voter.voted_papers  # what feedback reads of the voted paper
    assert "Paper of last month" not in _titles(digest_select(subscriber=voter, date=DAY, data=with_voter).papers)


def test_a_long_vote_history_is_read_only_as_far_as_it_counts_and_picks_as_its_newest_votes(day):
    """Only a reader's newest FEEDBACK_VOTES_USED votes teach the ranking, and an older
    "less" still keeps its paper out: a batch reads the vectors of those newest votes
    and the ids of those older "less" ones, not years of history (3,000 votes made a
    batch of one reader several times slower), and the picks are those of a reader
    with only those votes."""
    from newsletter.preferences import FEEDBACK_VOTES_USED

    def vector(n):
        return _unit(*(1.0 if i == n else 0.0 for i in range(n + 1)))

    # The newest liked paper is "viral"'s text; an older liked one is "other"'s.
    day["viral"].embedding, day["other"].embedding = vector(0), vector(1)
    Paper.objects.bulk_update([day["viral"], day["other"]], ["embedding"])
    newest = [PaperFactory(trending_date=DAY - dt.timedelta(days=40), title=f"Newer vote {n}",
                           embedding=vector(300 + n if n else 0)) for n in range(FEEDBACK_VOTES_USED)]
    older = [PaperFactory(trending_date=DAY - dt.timedelta(days=400), title=f"Older vote {n}",
                          embedding=vector(100 + n if n else 1)) for n in range(200)]
    older_less = [day["cl-mid"], older[-1]]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

    def votes(reader, papers, minutes):
        for n, paper in enumerate(papers):
            vote = -1 if paper in older_less else 1
            row = Feedback.objects.create(subscriber=reader, paper=paper, vote=vote)
            Feedback.objects.filter(pk=row.pk).update(created_at=start + dt.timedelta(minutes=minutes + n))

    long_history, short_history = _reader(day["cl"]), _reader(day["cl"])
    for reader, old in ((long_history, [day["cl-mid"], *older]), (short_history, [day["cl-mid"], older[-1]])):
        votes(reader, old, 0)
        votes(reader, list(reversed(newest)), 1000)  # newest[0] is the newest vote

    data = ranking_data_load(date=DAY, subscriber_ids=[long_history.id])
    # What the batch holds of the long history: the newest votes with their vectors,
    # and of the 200 older ones, only the 2 "less".
    assert set(data.voted_papers) == {p.id for p in newest}
    assert [paper_id for paper_id, _ in data.feedback[long_history.id]] == (
        [p.id for p in newest] + [older[-1].id, day["cl-mid"].id])

    long_picks = digest_select(subscriber=long_history, date=DAY, data=data)
    short_picks = _select(short_history)
    assert [(r.paper.title, r.reason) for r in long_picks.papers] == [
        (r.paper.title, r.reason) for r in short_picks.papers]
    assert _titles(long_picks.papers) == ["Paper cl-big", "Paper viral", "Paper cl-small"]
    assert long_picks.papers[1].reason == "close to “Newer vote 0”, which you liked"


def test_in_a_batch_each_reader_is_read_their_own_newest_votes_on_papers_they_may_see(day):
    """A batch reads many readers at once: each reader's newest FEEDBACK_VOTES_USED
    votes are counted among their own (numbered across the batch, the votes of one
    reader who voted later took the other's places, whose preferences then learnt
    from nothing), votes cast at the same moment (an import) in the order of their
    rows, and a vote on a paper taken down since takes no place of a vote that
    counts. Each reader is read as a batch of them alone would read them."""
    from newsletter.preferences import FEEDBACK_VOTES_USED

    papers = [PaperFactory(trending_date=DAY - dt.timedelta(days=40), title=f"Voted {n}", embedding=_unit(1, n + 1))
              for n in range(FEEDBACK_VOTES_USED + 5)]
    taken_down = PaperFactory(trending_date=DAY - dt.timedelta(days=40), title="Taken down", hidden=True)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    imported, voter = SubscriberFactory(), SubscriberFactory()
    for n, paper in enumerate(papers):  # the last paper's vote is the newest of each
        Feedback.objects.create(subscriber=imported, paper=paper, vote=1)
        row = Feedback.objects.create(subscriber=voter, paper=paper, vote=1)
        Feedback.objects.filter(pk=row.pk).update(created_at=start + dt.timedelta(days=1, minutes=n))
    Feedback.objects.filter(subscriber=imported).update(created_at=start)
    Feedback.objects.create(subscriber=imported, paper=taken_down, vote=1)  # the newest of all

    data = ranking_data_load(date=DAY, subscriber_ids=[imported.id, voter.id])

    newest = [paper.id for paper in reversed(papers)][:FEEDBACK_VOTES_USED]
    for reader in (imported, voter):
        assert [paper_id for paper_id, _ in data.feedback[reader.id]] == newest
        assert data.feedback[reader.id] == ranking_data_load(date=DAY, subscriber_ids=[reader.id]).feedback[reader.id]
    assert set(data.voted_papers) == set(newest)
    assert all(vector is not None for _, vector in data.voted_papers.values())


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_process_loads_the_candidates_again_only_once_their_rows_changed_however_changed():
    """The candidates (a week of papers with vectors and topic scores) are loaded once
    per process and version of their rows: a batch that finds them unchanged reads
    none of them. Every kind of change is seen by the next batch, also the ones that
    neither save() a model nor touch a timestamp (queryset update(), raw SQL)."""
    topic = TopicFactory(name="Continual learning")
    kept, other = (PaperFactory(trending_date=DAY, upvotes=n, title=f"Paper {n}") for n in (50, 10))
    for paper in (kept, other):
        PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=["replay"])
    edition_assemble(date=DAY)
    reader = _reader(topic)
    ranking._contents.clear()
    ranking._fingerprints.clear()

    def load():
        with CaptureQueriesContext(connection) as queries:
            data = ranking_data_load(date=DAY, subscriber_ids=[reader.id])
        read_papers = any('FROM "newsletter_editionpaper" INNER JOIN' in q["sql"] for q in queries)
        return data, read_papers

    def picks():
        data, _ = load()
        return _titles(digest_select(subscriber=reader, date=DAY, data=data).papers)

    first, read_first = load()
    again, read_again = load()
    assert read_first and not read_again
    assert again.papers_by_date is first.papers_by_date and again.version == first.version
    assert picks() == ["Paper 50", "Paper 10"]

    Paper.objects.filter(pk=kept.pk).update(title="Paper 50, corrected")  # no save(), no timestamp
    assert picks() == ["Paper 50, corrected", "Paper 10"]
    with connection.cursor() as cursor:  # outside the ORM altogether
        cursor.execute("UPDATE newsletter_paper SET upvotes = 900 WHERE id = %s", [other.pk])
    assert picks() == ["Paper 10", "Paper 50, corrected"]
    PaperTopic.objects.filter(paper=other).update(score=0)
    assert picks() == ["Paper 50, corrected"]
    PaperTopic.objects.filter(paper=other).update(score=0.9)
    Paper.objects.filter(pk=kept.pk).update(hidden=True)
    assert picks() == ["Paper 10"]
    Topic.objects.filter(pk=topic.pk).update(is_active=False)
    assert picks() == []
    Topic.objects.filter(pk=topic.pk).update(is_active=True)
    Paper.objects.filter(pk=kept.pk).update(hidden=False)
    newcomer = PaperFactory(trending_date=DAY, upvotes=5, title="Paper 5")
    PaperTopicFactory(paper=newcomer, topic=topic, score=0.9, matched_terms=["replay"])
    edition_assemble(date=DAY)
    assert picks() == ["Paper 10", "Paper 50, corrected", "Paper 5"]
    # And once loaded, that version is read from memory again.
    assert not load()[1]


# --- Feedback that learns locally, over real embeddings ---------------------------
# Papers are scored as an import scores them (relevance.papers_score: embeddings and
# the hybrid score), against the default topics.

QUANTISATION = [
    ("Four-bit weight quantization keeps outlier channels in higher precision",
     ("We quantize the weights of large language models to four bits and keep the few outlier "
     "channels in sixteen-bit precision, with almost no loss of perplexity.")),
    ("Three-bit post-training quantization with second-order error correction",
     ("A one-shot post-training quantization method uses approximate second-order information "
     "to round weights to three bits, compressing a large language model to run on one GPU.")),
    ("Integer-only inference with quantized weights and activations",
     ("Weights and activations of transformer language models are quantized to 8-bit integers, "
     "with a smoothing step that moves activation outliers into the weights.")),
]
TODAY_EFFICIENT = {
    "q-two-bit": ("Two-bit quantization of language model weights with learned rounding",
                  ("We quantize large language model weights to two bits, learning how to round each "
                  "weight so that the quantization error of every layer stays small.")),
    "q-three-bit": ("Three-bit quantization of language model weights by learned rounding",
                    ("Weights of large language models are quantized to three bits; each weight learns "
                    "whether to round up or down so that every layer's quantization error stays small.")),
    "q-kv": ("A quantized key-value cache for long-context inference",
             ("Keys and values of the attention cache are quantized to four bits per number, cutting "
             "the memory of long-context inference of language models by three quarters.")),
    "prune": ("Structured pruning removes half of the attention heads",
              ("We prune attention heads and feed-forward channels of a transformer, removing half of "
              "the parameters with a small loss in accuracy and a twofold speedup.")),
    "distil": ("Distilling a large model into a small student for phones",
               ("Knowledge distillation trains a small student network from a large teacher, reaching "
               "most of its accuracy with a tenth of the parameters and fast on-device inference.")),
    "kernel": ("IO-aware attention kernels make training faster",
               ("Tiling attention so that it reads and writes less GPU memory makes exact attention "
               "several times faster and memory-efficient for long sequences.")),
}


@pytest.fixture
def defaults(default_topics):
    return default_topics


def _papers(day, texts, upvotes=10):
    from newsletter.relevance import papers_score

    papers = {key: PaperFactory(title=title, abstract=abstract, trending_date=day, upvotes=upvotes)
              for key, (title, abstract) in texts.items()}
    papers_score(papers=list(papers.values()))
    edition_assemble(date=day)
    return papers


def _scores(reader):
    return {r.paper.title: r.score for r in _select(reader).papers}


def test_less_like_this_lowers_the_paper_and_its_close_neighbours_never_the_topic(defaults):
    today = _papers(DAY, TODAY_EFFICIENT)
    reader = _reader(defaults["efficient-training"], papers_per_digest=10)
    before = _scores(reader)
    assert set(before) == {title for title, _ in TODAY_EFFICIENT.values()}

    Feedback.objects.create(subscriber=reader, paper=today["q-two-bit"], vote=-1)
    after = _scores(reader)

    voted, near = TODAY_EFFICIENT["q-two-bit"][0], TODAY_EFFICIENT["q-three-bit"][0]
    assert voted not in after  # the paper itself never comes back
    assert after[near] < before[near]  # its close neighbour comes later
    # Every other paper of the topic is still in the digest: one vote says "not
    # this paper", not "less of my field".
    assert set(after) == set(before) - {voted}
    far = TODAY_EFFICIENT["distil"][0]
    assert before[far] - after[far] < before[near] - after[near]


def test_three_more_like_this_bring_that_sub_area_forward_the_next_day(defaults):
    yesterday = _papers(DAY - dt.timedelta(days=1), dict(enumerate(QUANTISATION)))
    _papers(DAY, TODAY_EFFICIENT, upvotes=10)
    reader = _reader(defaults["efficient-training"], papers_per_digest=10)
    before = _scores(reader)

    for paper in yesterday.values():
        Feedback.objects.create(subscriber=reader, paper=paper, vote=1)
    selection = _select(reader)
    after = {r.paper.title: r.score for r in selection.papers}
    order = [r.paper.title for r in selection.papers]

    sub_area = [TODAY_EFFICIENT[k][0] for k in ("q-two-bit", "q-three-bit", "q-kv")]
    others = [TODAY_EFFICIENT[k][0] for k in ("prune", "distil", "kernel")]
    raised = {t: after[t] - before[t] for t in before}
    assert min(raised[t] for t in sub_area) > max(raised[t] for t in others)
    assert max(order.index(t) for t in sub_area) < min(order.index(t) for t in others)


# What a reader of "Language models & pre-training" wants (how language models are
# built), and two papers that use a language model for another topic's ends.
ABOUT_LANGUAGE_MODELS = {
    "about": ("Which Web Documents Are Worth Training On?",
              ("We study how the documents kept in a web corpus change what a language model learns in "
               "pre-training. Filtering by a quality classifier and removing near-duplicates gives lower loss "
               "at the same compute and better downstream accuracy, and the gains hold across model sizes "
               "from 150M to 7B parameters.")),
    "rl": ("Reinforcement Learning with Verifiable Rewards Makes Large Language Models Better at Math",
           ("We train a large language model with reinforcement learning on math word problems, rewarding "
            "only correct final answers. The model learns longer chains of thought, checks its own steps and "
            "improves accuracy on GSM8K and competition mathematics benchmarks.")),
    "agent": ("Large Language Models as Tool-Using Agents for Web Tasks",
              ("We let a large language model call APIs and browse websites to complete multi-step tasks, "
               "planning actions and keeping a memory of what it did; the agent solves more web tasks than "
               "prompting alone.")),
}


def test_a_broad_topic_gives_its_reader_the_field_and_leaves_what_a_narrower_topic_explains(defaults):
    from newsletter.services import topic_update

    _papers(DAY, ABOUT_LANGUAGE_MODELS)
    broad = defaults["llm-pretraining"]
    assert broad.is_broad  # the default umbrella topic (migration 0012)
    reader = _reader(broad, papers_per_digest=10)
    about, rl, agent = (ABOUT_LANGUAGE_MODELS[k][0] for k in ("about", "rl", "agent"))

    # The pre-training paper; the RL and agent papers, which reinforcement learning
    # and agents explain better, are those topics' (dropped, not held: docs/relevance.md).
    assert _titles(_select(reader).papers) == [about]

    # The same topic, not broad: the papers that use a language model are its too.
    topic_update(topic=broad, is_broad=False)
    assert {rl, agent} <= set(_titles(_select(reader).papers))


def test_a_paper_close_to_one_the_reader_liked_says_so(defaults):
    liked = _papers(DAY - dt.timedelta(days=1), {"q": QUANTISATION[0]})["q"]
    twin_title = "Four-bit weight quantization that keeps outlier channels in high precision"
    _papers(DAY, {"twin": (twin_title, QUANTISATION[0][1].replace("almost no", "hardly any"))})
    reader = _reader(defaults["agents"])  # the twin is not about agents
    assert twin_title not in _titles(_select(reader).papers)

    Feedback.objects.create(subscriber=reader, paper=liked, vote=1)
    picked = {r.paper.title: r for r in _select(reader).papers}

    assert twin_title in picked
    assert "which you liked" in picked[twin_title].reason
    assert "Four-bit weight quantization keeps outlier" in picked[twin_title].reason


def test_an_empty_day_says_so_and_offers_the_closest_papers(defaults):
    _papers(DAY, {
        "speech": ("Speech recognition for languages with little data",
                   ("A speech recognizer trained on a hundred hours of audio transcribes languages "
                   "with few speakers, sharing sounds across related languages.")),
        "diff": dict(TODAY_EFFICIENT)["kernel"],
    })
    reader = _reader(defaults["graph-learning"])
    selection = _select(reader)

    assert selection.papers == [] and not selection.skip
    assert selection.closest, "a day with papers is never silent"
    assert all(r.reason == "Closest to Graph learning (not a match)" for r in selection.closest)
    assert selection.also_trending == []  # the closest papers take the also-trending block
    # A reader who chose to skip such days gets nothing at all.
    assert _select(_reader(defaults["graph-learning"], skip_empty=True)).skip is True


def test_every_pick_names_a_reason_the_reader_can_check(defaults):
    _papers(DAY, TODAY_EFFICIENT)
    for r in _select(_reader(defaults["efficient-training"], papers_per_digest=10)).papers:
        assert r.reason.startswith("Efficient training & compression · ")
        assert ("matched: " in r.reason or "close to the topic's description" in r.reason
                or "close to the topic's examples" in r.reason), r.reason


def test_an_editors_pick_comes_first_in_every_digest(day):
    """The admin says pinned papers come first for every reader: first among the
    picks of a reader whose topics it is in, however it scores; first in "also
    trending" for the others, however few votes it has, without taking the place of
    one of the usual three."""
    from newsletter import curation
    from newsletter.digest import digest_make
    from newsletter.models import Edition, PaperTopic

    # Barely in the topic: by score it would come last of the three.
    PaperTopic.objects.filter(paper=day["cl-small"]).update(score=0.35)
    curation.papers_flag_set(papers=[day["cl-small"]], pinned=True)
    cl_reader, agents_reader = _reader(day["cl"]), _reader(day["agents"])

    picks = _select(cl_reader).papers
    assert _titles(picks)[0] == "Paper cl-small"
    assert picks[0].reason.startswith("Editors' pick · Continual learning")

    selection = _select(agents_reader)
    assert "Paper cl-small" not in _titles(selection.papers)
    also = _titles(selection.also_trending)
    assert also[0] == "Paper cl-small"
    assert len(also) == 1 + ranking.ALSO_TRENDING_COUNT

    # And the email says why it is there.
    edition = Edition.objects.get(date=DAY)
    data = ranking_data_load(date=DAY, subscriber_ids=[agents_reader.id])
    message = digest_make(edition=edition, subscriber=agents_reader, data=data).message
    assert "Paper cl-small (Editors' pick, ▲ 5 upvotes)" in message.body
    assert '<b>Editors\' pick</b> · <span aria-hidden="true">▲</span>&nbsp;5&nbsp;upvotes' in message.alternatives[0][0]


def test_a_reader_of_two_topics_gets_both_even_when_one_has_a_big_day(db):
    """The sample day (a real Daily Papers page) has ten strong continual-learning
    papers: a reader of continual learning and agents got ten of those and no agents
    paper at all. The topics now take turns; within a turn the stronger paper first,
    and a one-topic reader's order is the score order as before."""
    cl, agents = TopicFactory(name="Continual learning"), TopicFactory(name="Agents")
    for n in range(12):
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, upvotes=50 + n, title=f"Forgetting {n}"),
                          topic=cl, score=0.9 - n * 0.01, matched_terms=["catastrophic forgetting"])
    for n, score in enumerate((0.45, 0.35)):
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, upvotes=5, title=f"Agents {n}"),
                          topic=agents, score=score, matched_terms=["tool use"])
    edition_assemble(date=DAY)

    picks = _titles(_select(_reader(cl, agents, papers_per_digest=10)).papers)
    assert picks[:4] == ["Forgetting 0", "Agents 0", "Forgetting 1", "Agents 1"]
    assert len(picks) == 10 and picks[4:] == [f"Forgetting {n}" for n in range(2, 8)]

    alone = _titles(_select(_reader(cl, papers_per_digest=10)).papers)
    assert alone == [f"Forgetting {n}" for n in range(10)]


def test_a_daily_readers_digest_after_a_weekly_one_takes_the_week_only_when_an_edition_came_between():
    """ranking.digest_weekly: the first daily digest after a weekly takes the week when
    an edition came between the two (the reader switched from weekly:
    tests/newsletter/test_delivery.py), not across a weekend or a weekday without a
    list (a holiday), and never for a reader whose newest digest was daily."""
    friday, monday, tuesday = dt.date(2026, 11, 6), dt.date(2026, 11, 9), dt.date(2026, 11, 10)
    reader = SubscriberFactory.build(id=1, frequency="daily")

    def weekly(last, date, editions):
        data = ranking.RankingData(papers_by_date={day: [] for day in editions}, topic_hits={}, feedback={},
                                   sent_paper_ids={}, last_delivery={1: last} if last else {})
        return ranking.digest_weekly(subscriber=reader, date=date, data=data)

    assert weekly((friday, True), monday, [friday, monday]) is False  # a weekend between
    assert weekly((friday, True), tuesday, [friday, tuesday]) is False  # Monday had no list
    assert weekly((friday, True), tuesday, [friday, monday, tuesday]) is True
    assert weekly((friday, False), tuesday, [friday, monday, tuesday]) is False
    assert weekly(None, tuesday, [friday, monday, tuesday]) is False


def test_a_paper_withdrawn_after_its_edition_went_out_is_in_no_later_digest_even_shown_again(day):
    """A paper its authors withdrew after its edition went out stays in that edition
    (what its first readers got), hidden by the import. An editor who shows it again
    does not put a withdrawn paper in the digests still to go out of that edition: the
    site leaves it out of every list too (archive._ENTRY_VISIBLE)."""
    from django.utils import timezone

    from newsletter import curation
    from newsletter.editions import edition_freeze
    from newsletter.models import Edition

    edition_freeze(edition=Edition.objects.get(date=DAY))
    Paper.objects.filter(pk=day["cl-big"].pk).update(withdrawn_at=timezone.now(), hidden=True)  # as the import does
    curation.papers_flag_set(papers=[day["cl-big"]], hidden=False)

    for reader in (_reader(day["cl"]), _reader(day["agents"])):
        selection = _select(reader)
        assert "Paper cl-big" not in _titles(selection.papers) + _titles(selection.also_trending)


@pytest.mark.parametrize("status", ["failed", "skipped"])
def test_the_papers_of_a_digest_that_never_reached_the_reader_are_still_theirs_to_get(day, status):
    """Only a digest that went out counts as given: a paper of one that failed or was
    skipped is not held back as if the reader had read it."""
    reader = _reader(day["cl"])
    earlier = edition_assemble(date=DAY - dt.timedelta(days=1))
    Delivery.objects.create(subscriber=reader, edition=earlier, status=status, paper_ids=[day["cl-big"].id])
    assert _titles(_select(reader).papers) == ["Paper cl-big", "Paper cl-mid", "Paper cl-small"]


def _unit(*weights: float) -> bytes:
    """A stored vector along the first axes, of length 1."""
    vector = np.zeros(DIMENSIONS, dtype=np.float32)
    vector[: len(weights)] = weights
    return vector_pack(vector / np.linalg.norm(vector))


@pytest.fixture
def far_day(db):
    """A day with nothing on Graphs: four papers of no topic whose stored vectors lie
    at known distances from it (another topic, Sound, is the only other one), nearest
    first. Returns the Graphs topic."""
    Topic.objects.update(is_active=False)
    graphs = TopicFactory(name="Graphs", embedding=_unit(1, 0))
    TopicFactory(name="Sound", embedding=_unit(0, 1))
    for title, vector in [("Nearest", _unit(1)), ("Near", _unit(1, 0, 1)), ("Far", _unit(0, 0, 1)),
                          ("Farthest", _unit(0, 1))]:
        PaperFactory(trending_date=DAY, upvotes=10, title=title, embedding=vector)
    edition_assemble(date=DAY)
    return graphs


def test_an_empty_day_offers_the_papers_closest_to_the_readers_topic_nearest_first(far_day):
    selection = _select(_reader(far_day))
    assert selection.papers == []
    assert _titles(selection.closest) == ["Nearest", "Near", "Far"]


def test_an_empty_day_never_offers_a_paper_the_reader_already_got(far_day):
    """The closest papers are offered as a digest's picks are: a paper an earlier
    digest gave the reader (listed again today) is not offered again."""
    reader = _reader(far_day)
    earlier = edition_assemble(date=DAY - dt.timedelta(days=1))
    Delivery.objects.create(subscriber=reader, edition=earlier, status="sent",
                            paper_ids=[Paper.objects.get(title="Nearest").id])
    assert _titles(_select(reader).closest) == ["Near", "Far", "Farthest"]


def test_a_paper_of_the_readers_topic_nobody_voted_for_is_not_also_trending(db):
    """Under the threshold of the reader's topic and with no upvote, a paper is not
    "trending" any more than one outside their topics."""
    topic = TopicFactory(name="Preference tuning")
    for title, score, upvotes in [("Strong match", 0.9, 2), ("Under the bar, unvoted", 0.1, 0)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=upvotes),
                          topic=topic, score=score, matched_terms=["preference tuning"])
    PaperFactory(trending_date=DAY, title="Outside, voted", upvotes=7)
    edition_assemble(date=DAY)

    selection = _select(_reader(topic))
    assert _titles(selection.papers) == ["Strong match"]
    assert _titles(selection.also_trending) == ["Outside, voted"]


def test_also_trending_is_three_papers_however_many_of_the_readers_topic_fall_short(db):
    """Five papers of the reader's topic under the threshold, all upvoted, and two
    outside it: "also trending" is the three most upvoted, not seven."""
    topic = TopicFactory(name="Preference tuning")
    PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title="Strong match", upvotes=2),
                      topic=topic, score=0.9, matched_terms=["preference tuning"])
    for n in range(5):
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=f"Under the bar {n}", upvotes=50 - n),
                          topic=topic, score=0.1, matched_terms=["preference tuning"])
    for n in range(2):
        PaperFactory(trending_date=DAY, title=f"Outside {n}", upvotes=20 - n)
    edition_assemble(date=DAY)

    selection = _select(_reader(topic))
    assert _titles(selection.also_trending) == ["Under the bar 0", "Under the bar 1", "Under the bar 2"]


def test_a_pick_its_topic_carried_does_not_say_a_liked_paper_brought_it(defaults):
    """"close to …, which you liked" says the reader's vote brought a paper in. A
    paper that passes on its topic alone says the topic's reason, however close it is
    to a paper they liked (its score still rises: the order says so)."""
    liked = _papers(DAY - dt.timedelta(days=1), {"q": QUANTISATION[0]})["q"]
    _papers(DAY, TODAY_EFFICIENT)
    reader = _reader(defaults["efficient-training"], papers_per_digest=10)
    Feedback.objects.create(subscriber=reader, paper=liked, vote=1)

    picks = _select(reader).papers
    assert {r.paper.title for r in picks} == {title for title, _ in TODAY_EFFICIENT.values()}
    for r in picks:
        assert r.reason.startswith("Efficient training & compression · ") and "which you liked" not in r.reason, r.reason


def test_a_paper_scored_at_the_threshold_is_a_pick_as_its_topics_page_lists_it(db):
    """A topic's page lists the papers whose score reaches RELEVANCE_THRESHOLD
    (archive.py), the editors' preview says they pass: the digest picks them too."""
    from newsletter.relevance import RELEVANCE_THRESHOLD

    topic = TopicFactory(name="Preference tuning")
    PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title="Just passes"), topic=topic,
                      score=RELEVANCE_THRESHOLD, matched_terms=["preference tuning"])
    edition_assemble(date=DAY)
    assert _titles(_select(_reader(topic)).papers) == ["Just passes"]


def test_a_far_better_match_leads_a_far_more_upvoted_weaker_one(db):
    """Trend breaks near ties (TREND_WEIGHT): a paper of the reader's topic at 0.9 leads
    one at 0.6 with five hundred times its upvotes."""
    topic = TopicFactory(name="Preference tuning")
    for title, score, upvotes in [("Best match", 0.9, 1), ("Weaker, viral", 0.6, 500)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=upvotes, num_comments=0),
                          topic=topic, score=score, matched_terms=["preference tuning"])
    edition_assemble(date=DAY)
    assert _titles(_select(_reader(topic)).papers) == ["Best match", "Weaker, viral"]


def test_a_weekly_reader_gets_a_paper_held_by_two_of_the_weeks_editions_once(db):
    """A paper listed on Friday after Friday's edition went out joins the next edition
    assembled (editions._late_papers_q); when Monday's never went out, Tuesday's
    holds it too, and the week's digest named it twice."""
    from newsletter.editions import edition_freeze
    from newsletter.models import EditionPaper

    topic = TopicFactory(name="Preference tuning")
    friday, monday, tuesday = DAY - dt.timedelta(days=3), DAY, DAY + dt.timedelta(days=1)
    PaperFactory(trending_date=friday, title="On Friday's list in time", upvotes=3)
    edition_freeze(edition=edition_assemble(date=friday))
    late = PaperFactory(trending_date=friday, title="Listed late on Friday", upvotes=20)
    PaperTopicFactory(paper=late, topic=topic, score=0.9, matched_terms=["preference tuning"])
    for date in (monday, tuesday):
        edition_assemble(date=date)
    assert EditionPaper.objects.filter(paper=late).count() == 2

    weekly = _select(_reader(topic, frequency="weekly"), date=tuesday)
    assert _titles(weekly.papers) == ["Listed late on Friday"]


def test_a_reader_who_skips_empty_days_gets_their_picks_on_a_day_with_matches(day):
    selection = _select(_reader(day["cl"], skip_empty=True))
    assert selection.skip is False
    assert _titles(selection.papers) == ["Paper cl-big", "Paper cl-mid", "Paper cl-small"]


def test_an_editors_pick_leads_the_picks_of_a_reader_of_two_topics(day):
    """The topics take turns for a reader of two (_chosen_ordered); the editors' pick
    comes before the turns, not in one of them, and is never left out of them."""
    from newsletter import curation

    curation.papers_flag_set(papers=[day["cl-small"]], pinned=True)
    picks = _select(_reader(day["cl"], day["agents"])).papers
    assert _titles(picks)[0] == "Paper cl-small"
    assert picks[0].reason.startswith("Editors' pick · Continual learning")
    assert sorted(_titles(picks)) == sorted(f"Paper {k}" for k in ("cl-big", "cl-mid", "cl-small", "agent-a", "agent-b"))


def test_an_editors_pick_for_a_reader_of_everything_says_it_is_trending_too(day):
    """A reader with no topics gets the day by votes: an editors' pick there says so,
    and that it is trending ("Editors' pick" alone named no reason of the reader's)."""
    from newsletter import curation

    curation.papers_flag_set(papers=[day["other"]], pinned=True)
    picks = _select(_reader()).papers
    assert (picks[0].paper.title, picks[0].reason) == ("Paper other", "Editors' pick · Trending")
    assert picks[1].reason == "Trending"


def test_a_reader_of_everything_gets_no_also_trending_block(day):
    """Everything is by votes for a reader with no topics: the papers past their count
    are the day's less upvoted ones, not "also trending" news."""
    selection = _select(_reader(papers_per_digest=3))
    assert _titles(selection.papers) == ["Paper viral", "Paper other", "Paper cl-big"]
    assert selection.also_trending == []


def test_the_why_line_names_two_of_the_terms_that_matched_and_not_the_readers_twice(db):
    """"matched:" names the topic's first two terms; a reader's own keyword that is one
    of them is not said again as theirs ("matched: replay buffer · your keywords:
    replay buffer")."""
    topic = TopicFactory(name="Continual learning")
    paper = PaperFactory(trending_date=DAY, title="A replay buffer against catastrophic forgetting")
    PaperTopicFactory(paper=paper, topic=topic, score=0.9,
                      matched_terms=["replay buffer", "catastrophic forgetting", "continual"])
    edition_assemble(date=DAY)
    assert _select(_reader(topic)).papers[0].reason == (
        "Continual learning · matched: replay buffer, catastrophic forgetting")
    assert _select(_reader(topic, keywords="Replay buffer")).papers[0].reason == (
        "Continual learning · matched: replay buffer, catastrophic forgetting")


def test_of_two_papers_with_the_same_votes_the_more_discussed_comes_first(db):
    """Comments count toward how much a paper is trending: among picks of the same
    relevance and votes, and in "also trending", the more discussed paper first."""
    topic = TopicFactory(name="Agents")
    for title, comments in [("Quiet pick", 0), ("Discussed pick", 12)]:
        PaperTopicFactory(paper=PaperFactory(trending_date=DAY, title=title, upvotes=20, num_comments=comments),
                          topic=topic, score=0.8, matched_terms=["agents"])
    for title, comments in [("Quiet outside", 0), ("Discussed outside", 9)]:
        PaperFactory(trending_date=DAY, title=title, upvotes=50, num_comments=comments)
    edition_assemble(date=DAY)
    selection = _select(_reader(topic))
    assert _titles(selection.papers) == ["Discussed pick", "Quiet pick"]
    assert _titles(selection.also_trending) == ["Discussed outside", "Quiet outside"]


@pytest.mark.parametrize("key", ["viral", "cl-big"])
def test_a_paper_already_sent_is_not_offered_again_as_also_trending(day, key):
    """Outside the reader's topics ("viral") or in their topic under the threshold
    (cl-big, made weak here): a paper they already got does not come back in "also
    trending"."""
    PaperTopic.objects.filter(paper=day["cl-big"]).update(score=0.2)
    reader = _reader(day["cl"])
    assert f"Paper {key}" in _titles(_select(reader).also_trending)
    earlier = edition_assemble(date=DAY - dt.timedelta(days=1))
    Delivery.objects.create(subscriber=reader, edition=earlier, status="sent", paper_ids=[day[key].id])
    assert f"Paper {key}" not in _titles(_select(reader).also_trending)


def test_a_picks_chips_name_the_readers_topics_it_is_about_not_every_one_it_passes_for(db):
    """A paper strong in one of the reader's topics and barely passing for their other:
    its chips name the first only (relevance.topics_about), as on its card and page."""
    vision, robots = TopicFactory(name="Vision models"), TopicFactory(name="Robot learning")
    paper = PaperFactory(trending_date=DAY, title="A vision encoder that also grasps")
    PaperTopicFactory(paper=paper, topic=vision, score=0.95, matched_terms=["vision encoder"])
    PaperTopicFactory(paper=paper, topic=robots, score=0.31, matched_terms=["grasping"])
    both = PaperFactory(trending_date=DAY, title="Vision for grasping")
    PaperTopicFactory(paper=both, topic=vision, score=0.8, matched_terms=["vision"])
    PaperTopicFactory(paper=both, topic=robots, score=0.8, matched_terms=["grasping"])
    edition_assemble(date=DAY)
    picks = {r.paper.title: r.topics for r in _select(_reader(vision, robots)).papers}
    assert picks == {"A vision encoder that also grasps": ["Vision models"],
                     "Vision for grasping": ["Vision models", "Robot learning"]}
