"""Personalisation: which of an edition's papers each reader gets, in what order,
and why.

A batch of readers is ranked from data loaded once (`ranking_data_load`: the
candidate papers, their topic scores, the batch's feedback and the papers each
reader already got); `digest_select` then works in memory, so ranking 500 readers
costs the same queries as ranking one (tests/newsletter/test_delivery.py pins it).

How a paper scores for a reader:
  relevance = max over the reader's topics of the topic score (relevance.py: the
              hybrid of keywords and embeddings)
              + the match of the reader's own keywords (relevance.topic_match)
              + what their votes taught (preferences.py), bounded both ways
  final     = relevance + TREND_WEIGHT x trend
where trend is log-scaled upvotes and comments, relative to the day's top paper.
An editors' pick (a pinned paper) comes first among the picks whatever its score,
and leads "also trending" for readers whose picks it is not among. A reader of
several topics gets them in turns (`_chosen_ordered`), so one topic's big day does
not fill the digest alone.
A paper is chosen only when its relevance passes RELEVANCE_THRESHOLD: readers asked
for a threshold, not a fixed count, so a thin day gives a shorter digest. When no
paper passes but some are close to the reader's topics, the digest offers the
closest ones, said as such (DigestSelection.closest), unless the reader chose to
skip such days.

Feedback learns locally, over the papers' stored embeddings
(newsletter/preferences.py): papers close to a liked paper come forward, papers
close to a disliked one come later, and nothing else moves."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from itertools import islice, zip_longest

import numpy as np
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Case, F, OuterRef, Q, Subquery, When, Window
from django.db.models.functions import RowNumber

from subscribers.models import Subscriber

from .embeddings import DIMENSIONS, vector_unpack
from .models import Delivery, Edition, EditionPaper, Feedback, Paper, PaperTopic, Topic
from .preferences import FEEDBACK_VOTES_USED, preferences_learn, signal_weight
from .reader_keywords import keyword_present, keywords_match, reader_terms
from .relevance import (
    RELEVANCE_THRESHOLD,
    TOPIC_TERMS_SAID,
    Match,
    topic_match_reason,
    topics_about,
)
from .selectors import paper_visible_q

# Weekly readers get the best of this many days of editions, ending on the edition's date.
WEEKLY_WINDOW_DAYS = 7
# "Never repeat a paper" looks this far back in the reader's sent digests. A paper
# trends on one date, so a month covers any re-listing while bounding the query.
ALREADY_SENT_LOOKBACK_DAYS = 30
# "Also trending today": the most upvoted papers the reader does not get as picks.
ALSO_TRENDING_COUNT = 3
# How much trend adds to relevance (relevance is ~0..1 per topic).
TREND_WEIGHT = 0.05
# Empty days: how many "closest to your topics today" papers a digest offers.
CLOSEST_COUNT = 3


@dataclass(frozen=True)
class TopicHit:
    topic_id: int
    name: str
    score: float
    terms: tuple[str, ...]
    near_examples: bool = False
    by_editor: bool = False
    about: bool = True  # one of the topics the paper is about (relevance.topics_about): a chip


@dataclass
class RankingData:
    """Everything ranking a batch needs, loaded in a fixed number of queries."""

    # Candidate papers per edition date, in edition order (pins first, then trend).
    papers_by_date: dict[dt.date, list[Paper]]
    topic_hits: dict[int, list[TopicHit]]  # paper id -> its topic scores
    # subscriber id -> [(paper id, preferences.signal_weight)], newest first: the
    # newest FEEDBACK_VOTES_USED (what preferences_learn reads), then the older "less"
    # votes only (their papers stay out of the digest; ranking_data_load).
    feedback: dict[int, list[tuple[int, float]]]
    sent_paper_ids: dict[int, set[int]]  # subscriber id -> papers already mailed
    # subscriber id -> (date, weekly) of the newest edition they have a delivery of,
    # before the one ranked (digest_weekly).
    last_delivery: dict[int, tuple[dt.date, bool]] = field(default_factory=dict)
    trend_max: float = 1.0
    # The titles and stored vectors of the papers of each reader's newest
    # FEEDBACK_VOTES_USED votes (the candidates' come with the papers).
    voted_papers: dict[int, tuple[str, bytes | None]] = field(default_factory=dict)
    # Active topics' names and definition vectors, for "closest to your topics".
    topics: dict[int, tuple[str, bytes | None]] = field(default_factory=dict)
    # subscriber id -> the ids of their topics, for every reader loaded (digest_select
    # reads a reader not loaded, e.g. a preview's, through `subscriber.topics`).
    reader_topics: dict[int, frozenset[int]] = field(default_factory=dict)
    # Per paper, the same for every reader of the batch: computed once on first use
    # (profiled: recomputing them per reader and paper dominated ranking).
    _trend_share: dict[int, float] = field(default_factory=dict, repr=False)
    _version: str | None = field(default=None, repr=False)
    _by_upvotes: dict[tuple, list[Paper]] = field(default_factory=dict, repr=False)
    _by_upvotes_vectors: dict[tuple, np.ndarray] = field(default_factory=dict, repr=False)
    _with_topic: dict[int, set[int]] | None = field(default=None, repr=False)
    _vectors: dict[int, np.ndarray | None] = field(default_factory=dict, repr=False)
    _mentioning: dict[str, frozenset[int]] = field(default_factory=dict, repr=False)

    _centre: np.ndarray | None = field(default=None, repr=False)

    @property
    def centre(self) -> np.ndarray:
        """The mean of the active topics' definition vectors: what any AI paper
        shares with every topic ("model", "training", "data"), taken out before
        feedback compares two papers. Fixed by the topics, not by the day, so a thin
        day measures closeness the same way as a full one."""
        if self._centre is None:
            vectors = [vector_unpack(v) for _, v in self.topics.values()]
            vectors = [v for v in vectors if v is not None]
            self._centre = np.mean(vectors, axis=0) if vectors else np.zeros(1, dtype=np.float32)
        return self._centre

    def vector(self, paper_id: int, data: bytes | None = None) -> np.ndarray | None:
        """A paper's stored embedding less `centre`, as a unit vector, once per batch:
        feedback's notion of "close" leaves out what all AI papers share (to the raw
        embedding, any two training papers look alike)."""
        if paper_id not in self._vectors:
            if data is None and paper_id in self.voted_papers:
                data = self.voted_papers[paper_id][1]
            vector = vector_unpack(data)
            if vector is not None:
                vector = vector - self.centre
                norm = float(np.linalg.norm(vector))
                vector = vector / norm if norm else None
            self._vectors[paper_id] = vector
        return self._vectors[paper_id]

    @property
    def version(self) -> str:
        """A digest of everything about the candidates that ranking reads or a digest
        shows (every loaded field of every paper, their topic scores): rankings
        cached under it are never stale, even when an editor changes a paper
        between two batches."""
        if self._version is None:
            digest = hashlib.sha256()
            for date, papers in sorted(self.papers_by_date.items()):
                digest.update(repr(date).encode())
                for paper in papers:
                    # Field names and values in the order the instance holds them
                    # (equal loads, equal order); a vector's bytes go in as they
                    # are: their repr and sorting the fields cost three times the
                    # rest (4.5 ms a batch against 1.5; docs/benchmarks.md).
                    fields = [(k, v) for k, v in paper.__dict__.items() if k != "_state"]
                    digest.update(repr([(k, v) for k, v in fields if type(v) is not bytes]).encode())
                    for _, value in fields:
                        if type(value) is bytes:
                            digest.update(value)
            digest.update(repr((sorted(self.topic_hits.items()), self.trend_max)).encode())
            self._version = digest.hexdigest()
        return self._version

    def candidates_by_upvotes(self, date: dt.date, weekly: bool) -> list[Paper]:
        """The candidates in also-trending order: most upvoted, then commented, first."""
        key = (date, weekly)
        if key not in self._by_upvotes:
            self._by_upvotes[key] = sorted(
                digest_candidates(date=date, weekly=weekly, data=self),
                key=_upvote_order,
            )
        return self._by_upvotes[key]

    def candidate_vectors(self, date: dt.date, weekly: bool) -> np.ndarray:
        """The `vector` of each of `candidates_by_upvotes`, one row per paper in that
        order (a zero row for a paper not embedded yet), stacked once per batch: a
        reader's feedback is applied to all of them in one matrix product."""
        key = (date, weekly)
        if key not in self._by_upvotes_vectors:
            rows = [self.vector(p.id, p.embedding) for p in self.candidates_by_upvotes(date, weekly)]
            zero = np.zeros(DIMENSIONS, dtype=np.float32)
            self._by_upvotes_vectors[key] = np.stack(
                [zero if row is None else row for row in rows]
            ) if rows else np.zeros((0, DIMENSIONS), dtype=np.float32)
        return self._by_upvotes_vectors[key]

    def topic_names(self, paper: Paper) -> list[str]:
        """The names of the two strongest topics a paper is about: shown beside a
        paper outside the reader's topics (also trending)."""
        return [h.name for h in self.topic_hits.get(paper.id, []) if h.about][:2]

    def papers_mentioning(self, keywords: tuple[str, ...]) -> set[int]:
        """The candidates that mention one of `keywords` (claims between keywords
        only ever remove occurrences, so the others cannot match the set), from one
        pass over the batch's papers per keyword."""
        found: set[int] = set()
        for keyword in keywords:
            ids = self._mentioning.get(keyword)
            if ids is None:
                ids = self._mentioning[keyword] = frozenset(
                    p.id for papers in self.papers_by_date.values() for p in papers
                    if keyword_present(keyword, p.title, p.abstract)
                )
            found |= ids
        return found

    def papers_with_topic(self, topic_id: int) -> set[int]:
        if self._with_topic is None:
            self._with_topic = defaultdict(set)
            for paper_id, hits in self.topic_hits.items():
                for hit in hits:
                    self._with_topic[hit.topic_id].add(paper_id)
        return self._with_topic.get(topic_id, set())

    def trend_share(self, paper: Paper) -> float:
        share = self._trend_share.get(paper.id)
        if share is None:
            share = self._trend_share[paper.id] = trend(paper) / self.trend_max
        return share


@dataclass
class RankedPaper:
    paper: Paper
    score: float
    relevance: float
    reason: str
    topics: list[str] = field(default_factory=list)


@dataclass
class DigestSelection:
    papers: list[RankedPaper]
    also_trending: list[RankedPaper]
    # True when the reader chose to skip days with nothing matching and this is one.
    skip: bool = False
    # On a day when nothing passed for this reader: the papers closest to their
    # topics, offered as such ("closest to your topics today"), never as matches.
    closest: list[RankedPaper] = field(default_factory=list)
    weekly: bool = False  # chosen from the week's papers (digest_weekly)

    @property
    def paper_ids(self) -> list[int]:
        return [r.paper.id for r in [*self.papers, *self.closest, *self.also_trending]]


_NO_MATCH = Match(0.0)


def trend(paper: Paper) -> float:
    """Log-scaled, so the 300-upvote paper does not drown everything else."""
    return math.log1p(paper.upvotes) + 0.5 * math.log1p(paper.num_comments)


@lru_cache(maxsize=4096)
def _candidate_dates(date: dt.date, *, weekly: bool) -> list[dt.date]:
    days = WEEKLY_WINDOW_DAYS if weekly else 1
    return [date - dt.timedelta(days=n) for n in range(days)]


def week_first_day(date: dt.date) -> dt.date:
    """The first day whose papers a weekly digest of `date` takes."""
    return _candidate_dates(date, weekly=True)[-1]


def digest_weekly(*, subscriber, date: dt.date, data: RankingData) -> bool:
    """Whether the digest of `date` is made as a weekly one for this reader: a weekly
    reader's, and a daily reader's first after a weekly digest with an edition of
    the week between the two (they switched to daily after it: the days since it
    would have been their next weekly's, and a daily digest of one date left them out
    for good). `data.papers_by_date` holds the week's editions (ranking_data_load)."""
    if subscriber.frequency == Subscriber.Frequency.WEEKLY:
        return True
    last = data.last_delivery.get(subscriber.id)
    return last is not None and last[1] and any(last[0] < day < date for day in data.papers_by_date)


def ranking_data_load(*, date: dt.date, subscriber_ids: Sequence[int]) -> RankingData:
    """Load once what ranking these readers for the edition of `date` needs: 6 queries
    whatever the number of readers (the weekly window is always loaded, so daily and
    weekly readers share one query plan); on PostgreSQL outside a transaction, one
    more to fingerprint the candidates, and 2 fewer when this process already holds
    them as they are."""
    dates = _candidate_dates(date, weekly=True)
    # The candidates as this process last loaded them, if their rows have not changed
    # since (_candidates_fingerprint): a week of papers with their vectors and topic
    # scores was most of a batch's load (37 ms a batch of 100 at 350 candidates).
    fingerprint = _candidates_fingerprint(dates)
    content = _content_by_fingerprint(fingerprint)
    if content is None:
        papers_by_date = _candidates_load(dates)
        topic_hits = _topic_hits_load({p.id for papers in papers_by_date.values() for p in papers})

    feedback: dict[int, list[tuple[int, float]]] = defaultdict(list)
    voted_papers: dict[int, tuple[str, bytes | None]] = {}
    # Votes on papers taken down since (hidden, withdrawn) teach nothing: a why line
    # named them ("close to “…”, which you liked") though no page shows them.
    # Of a reader's votes, ranking reads the newest FEEDBACK_VOTES_USED with their
    # papers' vectors (preferences_learn) and, of the older ones, only the "less"
    # votes (their papers never come back), without vectors: what a batch reads is
    # bounded per reader, whatever their history (read whole, 3,000 votes made a
    # batch of one reader cost 31 ms against 6 with 50 votes; 10 now).
    newest = Window(RowNumber(), partition_by=F("subscriber_id"), order_by=[F("created_at").desc(), F("id").desc()])
    used = Q(nth__lte=FEEDBACK_VOTES_USED)
    for subscriber_id, paper_id, vote, source, title, vector in Feedback.objects.filter(
        paper_visible_q("paper__"), subscriber_id__in=subscriber_ids
    ).annotate(nth=newest).filter(used | Q(vote=Feedback.Vote.LESS)).annotate(
        # A subquery, not the join's column: the numbering sorts the readers' rows,
        # and would sort every vector (1.3 kB) with them.
        used_vector=Case(When(used, then=Subquery(
            Paper.objects.filter(pk=OuterRef("paper_id")).order_by().values("embedding")))),
    ).order_by("-created_at", "-id").values_list(
        "subscriber_id", "paper_id", "vote", "source", "paper__title", "used_vector"
    ):
        votes = feedback[subscriber_id]
        # In the reader's order, so their first FEEDBACK_VOTES_USED rows are the newest.
        if len(votes) < FEEDBACK_VOTES_USED:
            voted_papers[paper_id] = (title, vector)
        votes.append((paper_id, signal_weight(vote=vote, source=source)))

    sent: dict[int, set[int]] = defaultdict(set)
    last: dict[int, tuple[dt.date, bool]] = {}
    # Served by the (subscriber, edition) unique index: at most a month of rows per
    # reader. The status is checked here, not in SQL: with `status = 'sent'` in the
    # WHERE, PostgreSQL picked the status index and walked every sent row of the
    # table once the morning's dispatch had made its statistics stale (the cost
    # per batch then grew with the audience).
    for subscriber_id, ids, status, edition_date, weekly in Delivery.objects.filter(
        subscriber_id__in=subscriber_ids,
        edition__date__gte=date - dt.timedelta(days=ALREADY_SENT_LOOKBACK_DAYS),
    ).exclude(edition__date=date).values_list("subscriber_id", "paper_ids", "status", "edition__date", "weekly"):
        if status == Delivery.Status.SENT:
            sent[subscriber_id].update(ids or [])
        if subscriber_id not in last or last[subscriber_id][0] < edition_date:
            last[subscriber_id] = (edition_date, bool(weekly))

    topics = {
        topic_id: (name, vector)
        for topic_id, name, vector in Topic.objects.filter(is_active=True).values_list("id", "name", "embedding")
    }
    # The readers' topics as ids, one query on the join table: prefetching
    # `subscriber.topics` made a manager and a queryset per reader (12 ms a batch of
    # 100 against 2 ms; docs/benchmarks.md).
    picked: dict[int, set[int]] = {subscriber_id: set() for subscriber_id in subscriber_ids}
    for subscriber_id, topic_id in Subscriber.topics.through.objects.filter(
        subscriber_id__in=subscriber_ids
    ).values_list("subscriber_id", "topic_id"):
        picked[subscriber_id].add(topic_id)
    readers = {
        "feedback": dict(feedback), "sent_paper_ids": dict(sent), "last_delivery": last,
        "voted_papers": voted_papers,
        "topics": topics, "reader_topics": {k: frozenset(v) for k, v in picked.items()},
    }
    if content is not None:
        return _content_give(RankingData(papers_by_date={}, topic_hits={}, **readers), content)
    all_papers = [p for papers in papers_by_date.values() for p in papers]
    trend_max = max((trend(p) for p in all_papers), default=1.0) or 1.0
    data = RankingData(papers_by_date=papers_by_date, topic_hits=topic_hits, trend_max=trend_max, **readers)
    return _content_share(data, fingerprint=fingerprint)


def _candidates_load(dates: Sequence[dt.date]) -> dict[dt.date, list[Paper]]:
    """The papers of the editions of `dates` a digest may pick, in edition order."""
    entries = (
        EditionPaper.objects.filter(paper_visible_q("paper__"), edition__date__in=dates)
        .select_related("paper", "edition")
        # Timestamps no digest shows: parsing them was a fifth of the load.
        .defer("paper__created_at", "paper__updated_at", "edition__created_at", "edition__updated_at",
               "edition__frozen_at")
        .order_by("-edition__date", "position")
    )
    papers_by_date: dict[dt.date, list[Paper]] = defaultdict(list)
    for entry in entries:
        papers_by_date[entry.edition.date].append(entry.paper)
    return dict(papers_by_date)


def _candidates_fingerprint(dates: Sequence[dt.date]) -> str | None:
    """What the candidates' rows are now, in one small query: the id and row version
    of every edition entry of `dates`, its paper and its edition, of those papers'
    topic scores and of every topic. PostgreSQL gives each version of a row a new
    `xmin` (the transaction that wrote it), whatever wrote it — a save, a queryset
    update(), the admin, raw SQL — so equal fingerprints mean the rows
    `_candidates_load` and `_topic_hits_load` read are the same rows, unchanged.
    None (load as always) on other databases, and inside a transaction, whose own
    writes keep its xmin."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or db.in_atomic_block:
        return None
    with db.cursor() as cursor:
        cursor.execute(_fingerprint_sql(), [list(dates), list(dates)])
        return cursor.fetchone()[0]


@lru_cache(maxsize=1)
def _fingerprint_sql() -> str:
    q = connections[DEFAULT_DB_ALIAS].ops.quote_name
    entry, edition, paper = (q(m._meta.db_table) for m in (EditionPaper, Edition, Paper))
    paper_topic, topic = q(PaperTopic._meta.db_table), q(Topic._meta.db_table)
    entries = f"FROM {entry} ep JOIN {edition} e ON e.id = ep.edition_id"
    return (
        "SELECT md5(concat_ws('|', "
        f"(SELECT string_agg(concat_ws(':', ep.id, ep.xmin, p.id, p.xmin, e.id, e.xmin), ',' ORDER BY ep.id) "
        f"{entries} JOIN {paper} p ON p.id = ep.paper_id WHERE e.date = ANY(%s)), "
        f"(SELECT string_agg(concat_ws(':', pt.id, pt.xmin), ',' ORDER BY pt.id) FROM {paper_topic} pt "
        f"WHERE pt.paper_id IN (SELECT ep.paper_id {entries} WHERE e.date = ANY(%s))), "
        f"(SELECT string_agg(concat_ws(':', t.id, t.xmin), ',' ORDER BY t.id) FROM {topic} t)))"
    )


# Versions of the day's content whose objects are kept per process (_content_share):
# one day's, plus a few for the moment an editor changes a paper mid-send.
CONTENTS_KEPT = 4


@dataclass(frozen=True)
class _Content:
    """The objects of one version of the candidates, shared by every batch that
    loads that version."""

    version: str
    papers_by_date: dict[dt.date, list[Paper]]
    topic_hits: dict[int, list[TopicHit]]
    trend_max: float


_contents: OrderedDict[str, _Content] = OrderedDict()
# The fingerprint of the rows each kept version was loaded from (_candidates_fingerprint).
_fingerprints: OrderedDict[str, str] = OrderedDict()
_contents_lock = threading.Lock()


def _content_by_fingerprint(fingerprint: str | None) -> _Content | None:
    if fingerprint is None:
        return None
    with _contents_lock:
        version = _fingerprints.get(fingerprint)
        content = _contents.get(version) if version is not None else None
        if content is not None:
            _contents.move_to_end(version)
        return content


def _content_share(data: RankingData, *, fingerprint: str | None = None) -> RankingData:
    """Give `data` the candidates' objects (papers, topic hits) of
    the first batch of this process that loaded the same version of them, and let
    its own copies go with the batch.

    Every batch loads the same day, but as objects of its own; and what outlives a
    batch — the rankings cached per profile (_shared_ranking) and the keyword caches
    keyed by a paper's title, abstract or text (reader_keywords.py) — kept references
    to the objects of the batch that filled them. Each batch that met a new profile
    or keyword then pinned its whole copy of the day, so a worker's memory grew with
    the audience (docs/benchmarks.md: 171 MB at 5,000 readers, 243 MB at 100,000).
    Equal versions mean equal content (RankingData.version digests every loaded
    field), so the swap changes no ranking."""
    version = data.version
    with _contents_lock:
        content = _contents.get(version)
        if content is None:
            content = _contents[version] = _Content(
                version=version, papers_by_date=data.papers_by_date, topic_hits=data.topic_hits,
                trend_max=data.trend_max,
            )
            while len(_contents) > CONTENTS_KEPT:
                _contents.popitem(last=False)
        else:
            _contents.move_to_end(version)
        if fingerprint is not None:
            _fingerprints[fingerprint] = version
            while len(_fingerprints) > CONTENTS_KEPT:
                _fingerprints.popitem(last=False)
    return _content_give(data, content)


def _content_give(data: RankingData, content: _Content) -> RankingData:
    """`data` with the shared objects of `content` instead of its own."""
    data.papers_by_date, data.topic_hits, data.trend_max = content.papers_by_date, content.topic_hits, content.trend_max
    data._version = content.version
    return data


def _topic_hits_load(paper_ids: Iterable[int]) -> dict[int, list[TopicHit]]:
    hits: dict[int, list[TopicHit]] = defaultdict(list)
    rows = PaperTopic.objects.filter(
        paper_id__in=list(paper_ids), score__gt=0, topic__is_active=True
    ).values_list("paper_id", "topic_id", "topic__name", "score", "matched_terms", "near_examples", "source")
    for paper_id, topic_id, name, score, terms, near_examples, source in rows:
        hits[paper_id].append(TopicHit(topic_id, name, score, tuple(terms or ()), near_examples,
                                       by_editor=source == PaperTopic.Source.EDITOR))
    for paper_id, paper_hits in hits.items():
        paper_hits.sort(key=lambda h: -h.score)
        about = {h.topic_id for h in topics_about(paper_hits, score=lambda h: h.score, by_editor=lambda h: h.by_editor)}
        hits[paper_id] = [h if h.topic_id in about else replace(h, about=False) for h in paper_hits]
    return dict(hits)


# A pinned paper's "why" line starts with this (_reason; the digest's cards and the
# edition's pages say it of a pinned paper too, templates/emails/digest.*).
EDITORS_PICK_SAID = "Editors' pick"
REASON_PARTS_JOINED = " · "


def _reason(
    *, paper: Paper, topic: TopicHit | None, keyword_terms: Sequence[str], liked: str | None = None
) -> str:
    """The "why" line: always a reason the reader can check — the terms that
    matched, the paper they liked or opened that this one is close to (`liked`:
    that reason in words, from preferences.py), or that it is close to the
    topic's examples or its description (the preference centre shows both)."""
    parts = []
    if paper.pinned:
        parts.append(EDITORS_PICK_SAID)
    topic_terms = list(topic.terms[:TOPIC_TERMS_SAID]) if topic is not None else []
    if topic is not None:
        parts.append(topic.name)
        # A paper close to one they liked says that (`liked`) instead of a closeness.
        if topic_terms or topic.by_editor or not liked:
            parts.append(topic_match_reason(terms=topic.terms, near_examples=topic.near_examples,
                                            by_editor=topic.by_editor))
    # The reader's own keywords, said as theirs: under a topic's name they read as
    # the topic's terms ("Language models · matched: speech recognition").
    own = [t for t in keyword_terms if t.lower() not in {x.lower() for x in topic_terms}][:3]
    if own:
        parts.append(("your keywords: " if topic is not None else "Your keywords · matched: ") + ", ".join(own))
    if liked:
        parts.append(liked)
    if not parts or parts == [EDITORS_PICK_SAID]:
        # No "today": the line is kept (Delivery.reasons) and read later, and a
        # reader's edition is not always of their today (digest.edition_period). No
        # count either: the card's next line gives the votes.
        parts.append("Trending")
    return REASON_PARTS_JOINED.join(parts)


def reason_says_editors_pick(reason: str) -> bool:
    """Whether a "why" line (_reason) says its paper was an editors' pick: what a
    reader's web copy shows of a pick whose line was kept (Delivery.reasons)."""
    return reason.split(REASON_PARTS_JOINED, 1)[0] == EDITORS_PICK_SAID


def digest_candidates(*, date: dt.date, weekly: bool, data: RankingData) -> list[Paper]:
    """The papers a daily (that day's edition) or weekly reader (the last 7 days')
    can get, newest edition first, each once."""
    seen: set[int] = set()
    candidates: list[Paper] = []
    for day in _candidate_dates(date, weekly=weekly):
        for paper in data.papers_by_date.get(day, []):
            if paper.id not in seen:
                seen.add(paper.id)
                candidates.append(paper)
    return candidates


# Rankings kept per process (digest_select): a profile's is ~10 KB, so about 10 MB.
RANKINGS_KEPT = 1024


@dataclass
class _Ranking:
    """How one preference profile ranks the candidates, before what is the reader's
    alone (papers already mailed to them, how many they want)."""

    chosen: list[RankedPaper]  # best first
    weak: list[RankedPaper]  # some relevance, under the threshold; most upvoted first
    outside: list[Paper]  # no relevance at all; most upvoted first
    everything: bool
    # Why each chosen paper matched (topic, keyword terms, liked paper it is close
    # to); its reason is written when a reader gets it.
    why: dict[int, tuple[TopicHit | None, list[str], str | None]]
    topic_ids: frozenset[int] = frozenset()
    disliked: frozenset[int] = frozenset()
    _nearest: list[RankedPaper] | None = None

    def nearest(self, data: RankingData) -> list[RankedPaper]:
        """Not chosen, closest to the reader's topics first: the empty day's offer.
        Worked out only for a reader who needs it, once per ranking."""
        if self._nearest is None:
            self._nearest = [] if self.everything else _nearest(
                topic_ids=self.topic_ids, papers=[r.paper for r in self.weak] + self.outside,
                data=data, disliked=set(self.disliked),
            )
        return self._nearest


_rankings: OrderedDict[tuple, _Ranking] = OrderedDict()


def _shared_ranking(*, profile: tuple, data: RankingData) -> _Ranking:
    """The ranking of a profile without feedback, made once per process and content
    of the day (`RankingData.version`) and shared by every reader with it."""
    key = (data.version, profile)
    ranking = _rankings.get(key)
    if ranking is None:
        ranking = _rankings[key] = _rank(profile=profile, votes=[], data=data)
        while len(_rankings) > RANKINGS_KEPT:
            _rankings.popitem(last=False)
    else:
        _rankings.move_to_end(key)
    return ranking


def digest_select(*, subscriber, date: dt.date, data: RankingData) -> DigestSelection:
    """Choose one reader's papers for the edition of `date`, from `data` only (no
    query for a reader `data` was loaded for; another reader's `subscriber.topics`
    is read, so prefetch it).

    Readers with no feedback and the same topics (daily or weekly) share one
    ranking: it is made once per process and content of the day
    (`RankingData.version`); a reader's own keywords, exclusions and code-only choice
    adjust it (_derive), and their history and count are applied after. A paper's
    score depends on that paper and the profile only, so this is exact."""
    weekly = digest_weekly(subscriber=subscriber, date=date, data=data)
    votes = data.feedback.get(subscriber.id, [])
    topic_ids = data.reader_topics.get(subscriber.id)
    if topic_ids is None:
        topic_ids = frozenset(t.id for t in subscriber.topics.all())
    profile = (
        date, weekly, topic_ids,
        reader_terms(subscriber.keywords), reader_terms(subscriber.exclude_keywords),
        bool(subscriber.only_with_code),
    )
    if votes:
        ranking = _rank(profile=profile, votes=votes, data=data)
    elif profile[2] and (profile[3] or profile[4] or profile[5]):
        # Topics plus keywords or filters: the topic set's shared ranking, adjusted.
        ranking = _derive(_shared_ranking(profile=(*profile[:3], (), (), False), data=data),
                          profile=profile, data=data)
    else:
        ranking = _shared_ranking(profile=profile, data=data)
    chosen, weak, outside = ranking.chosen, ranking.weak, ranking.outside
    already = data.sent_paper_ids.get(subscriber.id) or set()
    if already:
        chosen = [r for r in chosen if r.paper.id not in already]
        weak = [r for r in weak if r.paper.id not in already]
        outside = [p for p in outside if p.id not in already]
    chosen, past_count = chosen[: subscriber.papers_per_digest], chosen[subscriber.papers_per_digest:]
    if not chosen and subscriber.skip_empty:
        return DigestSelection(papers=[], also_trending=[], skip=True, weekly=weekly)
    for r in chosen:
        if not r.reason:
            topic, keyword_terms, liked = ranking.why[r.paper.id]
            r.reason = _reason(paper=r.paper, topic=topic, keyword_terms=keyword_terms, liked=liked)
    # Nothing passed for this reader although the day has papers: say so and offer
    # the closest ones (the digest shows them under "closest to your topics today").
    closest = [] if chosen else [
        r for r in ranking.nearest(data) if r.paper.id not in already
    ][:CLOSEST_COUNT]
    # "Also trending": the day's most upvoted papers the reader does not get among
    # their picks: outside their topics, under the threshold, or in their topics but
    # past their count (the day's top paper in a reader's topic, sixth for a reader of
    # five, is still news to them). A paper nobody voted for is not trending: it is
    # never one of them. An editors' pick that is not among the reader's picks leads
    # it, whatever its votes, and does not take the place of one of the
    # ALSO_TRENDING_COUNT others.
    also: list[RankedPaper] = []
    if not ranking.everything and not closest:  # the closest papers take their place
        def trending(papers: Iterable[Paper]) -> list[RankedPaper]:
            return [RankedPaper(paper=p, score=0.0, relevance=0.0, reason=f"Trending, ▲ {p.upvotes}",
                                topics=data.topic_names(p)) for p in papers]

        # `outside` is in upvote order (candidates_by_upvotes): its first few are enough.
        outside_top = [p for p in outside if p.pinned] + list(islice(
            (p for p in outside if not p.pinned and p.upvotes > 0), ALSO_TRENDING_COUNT))
        left = sorted([*past_count, *weak, *trending(outside_top)], key=lambda r: _upvote_order(r.paper))
        also = ([r for r in left if r.paper.pinned]
                + [r for r in left if not r.paper.pinned and r.paper.upvotes > 0][:ALSO_TRENDING_COUNT])
    # Copies: a ranking is shared by readers of the same topics (_shared_ranking), and
    # a paper past one reader's count is another's pick, with its own "why".
    also = [replace(r, reason=f"Trending, ▲ {r.paper.upvotes}") for r in also]
    return DigestSelection(papers=chosen, also_trending=also, closest=closest, weekly=weekly)


def _rank(*, profile: tuple, votes: list[tuple[int, float]], data: RankingData) -> _Ranking:
    """Score the candidates for one profile. Only papers in the reader's topics,
    mentioning one of their keywords or close to a paper they liked can have
    relevance; the others (most of a day) are only filtered and kept in upvote order
    for "also trending"."""
    date, weekly, topic_ids, keywords, excludes, only_with_code = profile
    learned = preferences_learn(
        votes=votes, vector_of=data.vector,
        title_of=lambda paper_id: data.voted_papers.get(paper_id, ("", None))[0],
    )
    disliked = {pid for pid, vote in votes if vote < 0}
    # A reader with neither topics nor keywords asked for "everything": trend decides.
    everything = not topic_ids and not keywords
    relevant: set[int] = set()
    for topic_id in topic_ids:
        relevant |= data.papers_with_topic(topic_id)
    mentioning = data.papers_mentioning(keywords) if keywords else set()

    chosen: list[RankedPaper] = []
    weak: list[RankedPaper] = []
    outside: list[Paper] = []
    why: dict[int, tuple[TopicHit | None, list[str], str | None]] = {}
    candidates = data.candidates_by_upvotes(date, weekly)
    # What the votes do to every candidate, in one go (preferences.py).
    adjusted = learned.adjustments(data.candidate_vectors(date, weekly)) if learned else None
    for i, paper in enumerate(candidates):
        if paper.id in disliked or not _kept(paper, excludes, only_with_code, data):
            continue
        # Most of a day is outside a reader's topics and keywords and not raised by
        # their votes: nothing to score (bench/ranking.py: this loop is what a reader
        # with a profile of their own costs).
        if (not everything and paper.id not in relevant and paper.id not in mentioning
                and not (adjusted is not None and adjusted.boost[i])):
            outside.append(paper)
            continue
        _score(paper, topic_ids=topic_ids, keywords=keywords if paper.id in mentioning else (),
               adjustment=(adjusted.boost[i], adjusted.drop[i], adjusted.reason(i)) if adjusted is not None else None,
               everything=everything, data=data, into=(chosen, weak, outside, why))
    chosen = _chosen_ordered(chosen, why)
    return _Ranking(chosen=chosen, weak=weak, outside=outside, everything=everything, why=why,
                    topic_ids=topic_ids, disliked=frozenset(disliked))


def _kept(paper: Paper, excludes: tuple[str, ...], only_with_code: bool, data: RankingData) -> bool:
    """The reader's exclusions and code-only choice: filters, not scores. An excluded
    term is matched as their keywords are (reader_keywords.keyword_present: any case,
    inflection, British or American spelling, hyphenation), so "leave out agents"
    leaves out a paper on "agentic" tool use and "quantisation" one on quantization."""
    if excludes and any(keyword_present(term, paper.title, paper.abstract) for term in excludes):
        return False
    return not (only_with_code and not paper.github_repo)


def _chosen_ordered(chosen: list[RankedPaper], why: dict) -> list[RankedPaper]:
    """The picks in digest order. Editors' picks first; then, for a reader of several
    topics, the topics take turns: each turn takes every topic's best paper not yet
    taken (a paper counts for the reader's topic that carried it, `why`; papers that
    only their keywords or votes carried are one more group), ordered by score within
    the turn. So a topic with many strong papers today (the sample day's continual
    learning) cannot fill the ten alone and leave the reader's other topic out.
    With one topic this is the score order."""
    ordered = sorted(chosen, key=_chosen_order)
    groups: dict[int | None, list[RankedPaper]] = {}
    for r in ordered:
        if not r.paper.pinned:
            hit = why[r.paper.id][0]
            groups.setdefault(hit.topic_id if hit is not None else None, []).append(r)
    if len(groups) < 2:
        return ordered
    turns = (sorted((r for r in turn if r is not None), key=_chosen_order)
             for turn in zip_longest(*groups.values()))
    return [r for r in ordered if r.paper.pinned] + [r for turn in turns for r in turn]


def _chosen_order(r: RankedPaper) -> tuple:
    # An editors' pick comes first among the picks, whatever its score (the admin
    # says so beside the edition's papers).
    return (not r.paper.pinned, -r.score, -r.paper.upvotes, r.paper.id)


def _upvote_order(paper: Paper) -> tuple:
    return (-paper.upvotes, -paper.num_comments, paper.id)


def _score(paper: Paper, *, topic_ids: frozenset[int], keywords: tuple[str, ...],
           adjustment: tuple[float, float, str | None] | None, everything: bool,
           data: RankingData, into: tuple) -> None:
    """Score one paper for a profile and put it in its place: chosen (with why it
    matched), weak (some relevance, under the threshold) or outside. `adjustment` is
    what the reader's votes do to it (boost, drop, reason: preferences.Adjustments)."""
    chosen, weak, outside, why = into
    paper_hits = data.topic_hits.get(paper.id, [])
    keyword_match = keywords_match(keywords, paper.title, paper.abstract) if keywords else _NO_MATCH
    boost, drop, liked = adjustment or (0.0, 0.0, None)
    hits = [h for h in paper_hits if h.topic_id in topic_ids] if topic_ids else []
    best = max(hits, key=lambda h: h.score, default=None)
    topic_relevance = best.score if best else 0.0
    if not everything and not topic_relevance and not keyword_match.score and not boost:
        outside.append(paper)
        return
    # The same as relevance.topic_match(keywords=..., title=..., abstract=...).
    relevance = topic_relevance + keyword_match.score + boost
    score = relevance - drop + TREND_WEIGHT * data.trend_share(paper)
    ranked = RankedPaper(
        paper=paper, score=score, relevance=relevance, reason="",
        # Its chips: the topic that carried it, and the reader's others it is about.
        topics=[h.name for h in hits if h.about or h is best] or [h.name for h in paper_hits if h.about][:2],
    )
    if everything or relevance >= RELEVANCE_THRESHOLD:
        chosen.append(ranked)
        # A liked paper is named only when it, not the topic, carried the paper.
        liked = liked if liked and topic_relevance + keyword_match.score < RELEVANCE_THRESHOLD else None
        why[paper.id] = (best if topic_relevance else None, list(keyword_match.terms), liked)
    elif relevance <= 0:
        outside.append(paper)
    else:
        weak.append(ranked)


def _derive(base: _Ranking, *, profile: tuple, data: RankingData) -> _Ranking:
    """A profile's ranking from the shared ranking of its topic set (no keywords, no
    filters): exclusions and code-only remove papers, and the reader's keywords
    rescore the papers that mention one of them, exactly as _rank would. Most
    profiles are their own (bench/ranking.py: 34,252 among 100,000 readers) while
    topic sets are few (1,864), so the scoring is shared and this is list filtering."""
    date, weekly, topic_ids, keywords, excludes, only_with_code = profile
    mentioning = data.papers_mentioning(keywords) if keywords else set()

    def kept(paper: Paper) -> bool:
        return paper.id not in mentioning and _kept(paper, excludes, only_with_code, data)

    chosen = [r for r in base.chosen if kept(r.paper)]
    weak = [r for r in base.weak if kept(r.paper)]
    outside = [p for p in base.outside if kept(p)]
    why = base.why
    if mentioning:
        why = dict(base.why)
        for paper in data.candidates_by_upvotes(date, weekly):
            if paper.id in mentioning and _kept(paper, excludes, only_with_code, data):
                _score(paper, topic_ids=topic_ids, keywords=keywords, adjustment=None, everything=False,
                       data=data, into=(chosen, weak, outside, why))
        chosen = _chosen_ordered(chosen, why)
        weak.sort(key=lambda r: _upvote_order(r.paper))
        outside.sort(key=_upvote_order)
    return _Ranking(chosen=chosen, weak=weak, outside=outside, everything=False, why=why,
                    topic_ids=topic_ids)


def _nearest(
    *, topic_ids: frozenset[int], papers: list[Paper], data: RankingData, disliked: set[int]
) -> list[RankedPaper]:
    """Papers not chosen, closest first to one of the reader's topics by their stored
    vectors, with that topic named: what an empty day offers instead of silence."""
    topics = [(data.topics[t][0], vector_unpack(data.topics[t][1])) for t in topic_ids if t in data.topics]
    topics = [(name, vector) for name, vector in topics if vector is not None]
    if not topics:
        return []
    names = [name for name, _ in topics]
    matrix = np.stack([vector for _, vector in topics])
    found: list[tuple[float, Paper, str]] = []
    for paper in papers:
        vector = data.vector(paper.id, paper.embedding)
        if vector is None or paper.id in disliked:
            continue
        closeness = matrix @ vector
        best = int(np.argmax(closeness))
        found.append((float(closeness[best]), paper, names[best]))
    found.sort(key=lambda item: (-item[0], -item[1].upvotes, item[1].id))
    return [
        RankedPaper(paper=paper, score=closeness, relevance=0.0,
                    reason=f"Closest to {name} (not a match)", topics=[name])
        for closeness, paper, name in found[:CLOSEST_COUNT * 3]
    ]
