"""How well the digest picks papers for a reader, measured on labelled days
(`manage.py eval_relevance`, `make eval`; figures in docs/relevance.md).

A labelled day is a JSON file (tests/data/relevance/): {"date", "split": "tune" or
"test", "papers": [{"title", "abstract", "upvotes", "relevant": [topic slugs],
"acceptable": [topic slugs]}]}, where a paper may also carry the API's
"ai_summary" and "ai_keywords"; or each paper is an item of the Daily Papers API
as it came ({"paper": {...}, ...}, AI fields and all) with "relevant" and
"acceptable" beside "paper"; the sample day's labels point into the sample
fixture by position instead ({"fixture": path, "papers": [{"i": n, ...}]}).

Everything runs through the product's own path, inside one transaction that is
rolled back: the papers are imported (ingest.papers_import, which embeds and
scores them), the editions assembled, and for each active topic a reader with
that one topic and 10 papers a digest gets digest_select's choice. Per topic:
- precision@5, strict: of the first k picks, how many are labelled relevant or
  acceptable, over k = min(5, papers labelled relevant or acceptable that day); an
  empty slot is a miss;
- recall@10: relevant papers among the first 10 picks, over the relevant papers;
- an empty digest counts when the topic has 2 or more relevant papers that day.
Per day, the topic tags (every PaperTopic row of the day's papers: the topics a
paper passes for, whose pages and digests it can be in) and the share the labels
call relevant or acceptable; and the chips its card shows (the topics it is about,
Paper.topic_chips): the share labelled relevant or acceptable, and the share of the
day's relevant labels that have a chip.
Per day too, readers of two topics (every pair of the active topics, 10 papers): a
topic their digest leaves out although its own reader gets a relevant paper, each
topic's recall@10 alone and in the pair, and the pair's precision@5 by either topic's
labels (`PairResult`).
Then the feedback simulation: one "less" on each reader's top pick (recall@10 of
the other relevant papers before and after), and three "more" on one sub-area
(the top pick and its two nearest picks) measured on the next day: where the next
day's relevant papers closest to the liked ones land in the digest, before and
after (only for topics with more relevant papers next day than are followed, so
that some are not already first).

The database it runs in may hold papers and editions already (a site in use, or
`make run`'s sample day): each labelled day is then measured on a date before the
earliest the database holds (`_dates_set_apart`), so that no paper, edition or
editor's order of that date enters the measurement, and a labelled paper the
database holds from another day is moved onto its labelled day (an import keeps a
paper's earliest date), all inside the rolled-back transaction.

A measurement may first change the topics (`eval_relevance --topics FILE`,
`topic_changes_load`): {"add": [{"name", "description", "keywords": [lines]}],
"switch_off": [slugs or names]}, applied through the admin's own services in the
same rolled-back transaction. An added topic has no labels: its readers' picks are
listed and not scored; a switched-off topic's labels are set aside.

Where a second person labelled a day blind (tests/data/relevance/second_labeller/:
{"day", "labels": [{"title", "relevant", "acceptable"}]}, every paper of the day),
`labellers_compare` says how much the figures owe to who labelled: the product's
picks scored by the second labels, and the second labeller's own judgement used as
a digest (what they call relevant first, then acceptable, each in random order;
the expected figures) scored by the first labels: how far a person reaches."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import mean, stdev

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Min

from subscribers.models import Subscriber

from .editions import edition_assemble
from .feedback import feedback_record
from .ingest import papers_import, text_collapse
from .models import Edition, Feedback, Paper, PaperTopic, Topic
from .ranking import digest_select, ranking_data_load
from .selectors import paper_list_trending

DAYS_DIR = Path(settings.BASE_DIR) / "tests" / "data" / "relevance"
SECOND_LABELS_DIR = DAYS_DIR / "second_labeller"
# The reader of the evaluation asks for this many papers (recall is "@10").
PAPERS_PER_DIGEST = 10
PRECISION_AT = 5
RECALL_AT = 10
# A topic with this many relevant papers that day and no pick is an "empty digest".
EMPTY_MIN_RELEVANT = 2
# The "more" simulation: this many votes, and this many next-day papers followed.
MORE_VOTES = 3
FOLLOWED = 2
# Ranked list length when measuring positions (a paper not listed is at its end).
RANKED_DEPTH = 20


@dataclass
class LabelledDay:
    name: str
    date: dt.date
    split: str
    items: list[dict]  # in the Daily Papers API's shape, for papers_import
    relevant: dict[str, set[str]]  # title -> topic slugs
    acceptable: dict[str, set[str]]
    path: Path | None = None  # the file it was read from


@dataclass
class TopicResult:
    precision: float | None  # None when nothing is labelled relevant or acceptable
    recall: float | None  # None when nothing is labelled relevant
    picks: list[str]
    relevant: int

    @property
    def empty(self) -> bool:
        return not self.picks and self.relevant >= EMPTY_MIN_RELEVANT


@dataclass
class PairResult:
    """A day's readers of two topics (every pair of the active topics), against the
    same topics' one-topic readers: whether a reader's second topic is left out."""
    cases: int = 0  # (pair, topic) where the topic's own reader gets a relevant paper
    left_out: int = 0  # ... and the pair's reader gets none of that topic's relevant papers
    recall_alone: list[float] = field(default_factory=list)  # per case, the topic's reader
    recall_pair: list[float] = field(default_factory=list)  # per case, the pair's reader
    precision: list[float] = field(default_factory=list)  # per pair, P@5 by either topic's labels


@dataclass
class DayResult:
    day: LabelledDay
    topics: dict[str, TopicResult]
    # The day's topic tags (PaperTopic rows: the chips on cards, the topic pages),
    # and how many of them the labels call relevant or acceptable.
    tags: int = 0
    tags_labelled: int = 0
    pairs: PairResult = field(default_factory=PairResult)
    # The chips the day's cards show (Paper.topic_chips), how many the labels call
    # relevant or acceptable, and of the (paper, topic) labels "relevant", how many
    # have their chip.
    chips: int = 0
    chips_labelled: int = 0
    relevant_labels: int = 0
    relevant_chipped: int = 0

    @property
    def tag_precision(self) -> float:
        return self.tags_labelled / self.tags if self.tags else 0.0

    @property
    def chip_precision(self) -> float:
        return self.chips_labelled / self.chips if self.chips else 0.0

    @property
    def chip_coverage(self) -> float:
        return self.relevant_chipped / self.relevant_labels if self.relevant_labels else 0.0

    def mean(self, attribute: str) -> float:
        values = [getattr(r, attribute) for r in self.topics.values() if getattr(r, attribute) is not None]
        return mean(values) if values else 0.0

    @property
    def empty(self) -> int:
        return sum(r.empty for r in self.topics.values())


@dataclass
class FeedbackResult:
    # One "less" on the top pick: (recall@10 of the other relevant papers before, after).
    less: list[tuple[float, float]] = field(default_factory=list)
    # Three "more": mean position of the next day's followed papers (before, after).
    more: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class Evaluation:
    days: list[DayResult]
    feedback: FeedbackResult
    added: tuple[str, ...] = ()  # slugs of the topics the measurement added (`--topics`)


class DayFileError(ValueError):
    """A labelled day file that cannot be measured, with the file and the paper named."""


SPLITS = ("tune", "test")
LABEL_KINDS = ("relevant", "acceptable")
# The API's fields a paper of the simple form may carry (ingest reads them as from the API).
AI_FIELDS = ("ai_summary", "ai_keywords")


def _json_file_read(path: Path) -> tuple[object, Callable[[str], DayFileError]]:
    """A file of labels or changes: its JSON, and the maker of errors that name the
    file. DayFileError for JSON that does not parse, with where."""
    def fail(message: str) -> DayFileError:
        return DayFileError(f"{path.name}: {message}")

    try:
        return json.loads(path.read_text(encoding="utf-8")), fail
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def day_load(path: Path) -> LabelledDay:
    """One labelled day. DayFileError naming the file (and the paper, by position and
    title) for anything that would otherwise be measured wrongly or fail far from
    its cause: broken JSON, no date, a paper without a title or an abstract, a
    label that is not a list of names, two papers with one title (their labels
    would merge)."""
    path = Path(path)
    data, fail = _json_file_read(path)
    if not isinstance(data, dict) or not isinstance(data.get("papers"), list) or not data["papers"]:
        raise fail('expected an object with "date" and a non-empty list "papers" (see tests/data/relevance/day_f.json)')
    try:
        date = dt.date.fromisoformat(str(data["date"]))
    except KeyError:
        raise fail('no "date" (YYYY-MM-DD)') from None
    except ValueError:
        raise fail(f'"date" is not a date (YYYY-MM-DD): {data["date"]!r}') from None
    split = data.get("split", "test")
    if split not in SPLITS:
        raise fail(f'"split" must be one of {", ".join(SPLITS)}, not {split!r}')
    fixture = None
    if data.get("fixture"):
        fixture = json.loads((Path(settings.BASE_DIR) / data["fixture"]).read_text(encoding="utf-8"))
    items, relevant, acceptable = [], {}, {}
    for n, paper in enumerate(data["papers"], start=1):
        if not isinstance(paper, dict):
            raise fail(f"paper {n} is not an object")
        if fixture is not None:
            item = fixture[paper["i"]]
        elif isinstance(paper.get("paper"), dict):
            # An API item as it came; papers_import validates it like a fetched one.
            item = {key: value for key, value in paper.items() if key not in LABEL_KINDS}
            missing = [key for key in ("title", "summary") if not str(item["paper"].get(key) or "").strip()]
            if missing:
                raise fail(f"paper {n} has no {' and no '.join(f'paper.{key}' for key in missing)}")
        else:
            missing = [key for key in ("title", "abstract") if not str(paper.get(key) or "").strip()]
            if missing:
                named = f" ({paper['title']!r})" if "title" not in missing else ""
                raise fail(f"paper {n}{named} has no {' and no '.join(missing)}")
            item = {"paper": {"title": paper["title"], "summary": paper["abstract"],
                              "upvotes": paper.get("upvotes", 0)}}
            item["paper"].update({key: paper[key] for key in AI_FIELDS if key in paper})
        # As the paper's title will be stored: an API title comes hard-wrapped.
        title = text_collapse(str(item["paper"]["title"]))
        if title in relevant:
            raise fail(f"papers {list(relevant).index(title) + 1} and {n} have the same title {title!r}")
        labels = _labels_read(paper, where=f"paper {n} ({title!r})", fail=fail)
        items.append(item)
        relevant[title], acceptable[title] = labels["relevant"], labels["acceptable"]
    return LabelledDay(
        name=path.stem, date=date, split=split, items=items, relevant=relevant, acceptable=acceptable, path=path,
    )


def _labels_read(entry: dict, *, where: str, fail: Callable[[str], DayFileError]) -> dict[str, set[str]]:
    """An entry's "relevant" and "acceptable", each a list of topic names (absent: none);
    `fail` makes the error, naming the file, of a message that starts with `where`."""
    labels = {}
    for kind in LABEL_KINDS:
        value = entry.get(kind, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(f'{where}: "{kind}" must be a list of topic names, not {value!r}')
        labels[kind] = set(value)
    return labels


def days_load(paths: list[Path] | None = None) -> list[LabelledDay]:
    paths = paths or sorted(DAYS_DIR.glob("*.json"))
    days = [day_load(p) for p in paths]
    by_date: dict[dt.date, str] = {}
    for day in days:
        if day.date in by_date:  # their papers would be one day's candidates
            raise DayFileError(f"{by_date[day.date]} and {day.name} have the same date {day.date}")
        by_date[day.date] = day.name
    return days


def labels_resolve(days: list[LabelledDay], *, set_aside: frozenset[str] = frozenset()) -> list[LabelledDay]:
    """The days with every label as an active topic's slug: a label may be the slug
    or the topic's name as the preference centre shows it ("Visual recognition"; in
    any case and spacing, "and" for "&").
    ValueError naming every other label, with its day: a day labelled with other
    names (one's own interests, a renamed topic) would otherwise count those papers
    as relevant to nothing, and read as a low recall. Labels in `set_aside` (the slugs
    and _name_key names of topics a measurement switched off) are dropped."""
    topics = list(Topic.objects.filter(is_active=True).values_list("slug", "name"))
    by_label = {slug: slug for slug, _ in topics} | {_name_key(name): slug for slug, name in topics}
    unknown: dict[str, str] = {}

    def resolved(labels: dict[str, set[str]], day: LabelledDay) -> dict[str, set[str]]:
        out = {}
        for title, slugs in labels.items():
            out[title] = set()
            for label in slugs:
                if label in set_aside or _name_key(label) in set_aside:
                    continue
                slug = by_label.get(label) or by_label.get(_name_key(label))
                if slug is None:
                    unknown.setdefault(label, day.name)
                else:
                    out[title].add(slug)
        return out

    days = [replace(day, relevant=resolved(day.relevant, day), acceptable=resolved(day.acceptable, day))
            for day in days]
    if unknown:
        named = ", ".join(f"{label!r} ({day})" for label, day in sorted(unknown.items()))
        raise ValueError(f"labels that are not active topics: {named}; the active topics are "
                         f"{', '.join(f'{slug} ({name})' for slug, name in sorted(topics))}")
    return days


def _name_key(name: str) -> str:
    """A topic's name as people type it: "Efficient training and compression" for
    "Efficient training & compression", in any case and spacing."""
    return " ".join(name.casefold().replace("&", " and ").split())


@dataclass(frozen=True)
class TopicChanges:
    """Topics changed for one measurement (module docstring): what an editor might do."""
    add: tuple[dict, ...]  # {"name", "description", "keywords": [lines]}
    switch_off: tuple[str, ...]  # slugs or names of active topics


def topic_changes_load(path: Path) -> TopicChanges:
    """A topic-changes file, or DayFileError naming the file and what is wrong."""
    data, fail = _json_file_read(Path(path))
    if not isinstance(data, dict) or not set(data) <= {"add", "switch_off"} or not data:
        raise fail('expected an object with "add" (a list of topics) and/or "switch_off" (a list of '
                   'topic slugs or names)')
    add = data.get("add", [])
    switch_off = data.get("switch_off", [])
    if not isinstance(switch_off, list) or not all(isinstance(x, str) and x.strip() for x in switch_off):
        raise fail(f'"switch_off" must be a list of topic slugs or names, not {switch_off!r}')
    if not isinstance(add, list):
        raise fail(f'"add" must be a list of topics, not {add!r}')
    for n, topic in enumerate(add, start=1):
        if not isinstance(topic, dict) or not str(topic.get("name") or "").strip():
            raise fail(f'added topic {n} needs a "name"')
        keywords = topic.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise fail(f'added topic {n} ({topic["name"]!r}): "keywords" must be a list of lines')
        if not (str(topic.get("description") or "").strip() or keywords):
            raise fail(f'added topic {n} ({topic["name"]!r}) has neither a description nor keywords')
    return TopicChanges(add=tuple(add), switch_off=tuple(switch_off))


def _topic_changes_apply(changes: TopicChanges) -> tuple[frozenset[str], tuple[str, ...]]:
    """Make the changes as the admin would (services.topic_create / topic_update, which
    re-score every paper); return the switched-off topics' labels (slugs and names,
    as _name_key reads them) and the added topics' slugs. ValueError for a topic that is not there
    to switch off."""
    from django.utils.text import slugify

    from . import services

    active = {key: topic for topic in Topic.objects.filter(is_active=True) for key in (topic.slug, _name_key(topic.name))}
    off = []
    for label in changes.switch_off:
        topic = active.get(label) or active.get(_name_key(label))
        if topic is None:
            raise ValueError(f"cannot switch off {label!r}: no active topic of that slug or name")
        off.append(topic)
    for topic in off:
        services.topic_update(topic=topic, is_active=False)
    added = [  # each after the others (Topic.position's default)
        services.topic_create(topic=Topic(
            name=topic["name"], slug=slugify(topic["name"])[:50] or f"added-{n}",
            description=topic.get("description", ""), keywords="\n".join(topic.get("keywords", [])),
            is_active=True,
        )).slug
        for n, topic in enumerate(changes.add, start=1)
    ]
    set_aside = frozenset(key for topic in off for key in (topic.slug, _name_key(topic.name)))
    return set_aside, tuple(added)


def relevance_evaluate(
    *, days: list[LabelledDay], topic_changes: TopicChanges | None = None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Measure the digest on these days, after `topic_changes` if any; nothing it
    writes is kept. `progress(message)` hears of each step (each day imported, the
    digests ranked, the feedback simulated): the whole takes about a minute."""
    with transaction.atomic():
        try:
            set_aside, added = _topic_changes_apply(topic_changes) if topic_changes else (frozenset(), ())
            resolved = _dates_set_apart(labels_resolve(days, set_aside=set_aside))
            evaluation = _evaluate(resolved, progress=progress or (lambda _: None))
            return replace(evaluation, added=added)
        finally:
            transaction.set_rollback(True)


def _dates_set_apart(days: list[LabelledDay]) -> list[LabelledDay]:
    """The days, each moved to a date before anything the database holds (papers or
    editions), in their order, when it holds anything: see the module docstring."""
    held = [d for d in (Paper.objects.aggregate(m=Min("trending_date"))["m"],
                        Edition.objects.aggregate(m=Min("date"))["m"]) if d is not None]
    if not held:
        return days
    first = min(held) - dt.timedelta(days=len(days))
    order = sorted(range(len(days)), key=lambda i: (days[i].date, i))
    moved = {i: first + dt.timedelta(days=rank) for rank, i in enumerate(order)}
    return [replace(day, date=moved[i]) for i, day in enumerate(days)]


def _evaluate(days: list[LabelledDay], *, progress: Callable[[str], None]) -> Evaluation:
    for n, day in enumerate(days, 1):
        papers_import(items=day.items, trending_date=day.date, source=f"evaluation {day.name}")
        edition_assemble(date=day.date)
        progress(f"{day.name}: {len(day.items)} papers imported and scored ({n} of {len(days)} days)")
    topics = list(Topic.objects.filter(is_active=True))
    readers = {
        topic.slug: _reader(topics=[topic], n=n) for n, topic in enumerate(topics)
    }
    pair_readers = {
        (a.slug, b.slug): _reader(topics=[a, b], n=len(topics) + n)
        for n, (a, b) in enumerate(itertools.combinations(topics, 2))
    }
    results = []
    for day in days:
        ranked = _ranked(readers=readers, date=day.date)
        tags = list(PaperTopic.objects.filter(paper__trending_date=day.date, topic__is_active=True)
                    .values_list("topic__slug", "paper__title"))
        chips = {(chip.topic.slug, paper.title)
                 for paper in paper_list_trending(date=day.date) for chip in paper.topic_chips}
        relevant = [(slug, title) for title, slugs in day.relevant.items() for slug in slugs]
        results.append(DayResult(
            day=day,
            topics={slug: topic_result(day=day, slug=slug, titles=[p.title for p in papers])
                    for slug, papers in ranked.items()},
            tags=len(tags), tags_labelled=sum(_labelled(day, slug, title) for slug, title in tags),
            chips=len(chips), chips_labelled=sum(_labelled(day, slug, title) for slug, title in chips),
            relevant_labels=len(relevant), relevant_chipped=sum(pair in chips for pair in relevant),
            pairs=_pairs_result(day=day, alone=ranked, paired=_ranked(readers=pair_readers, date=day.date)),
        ))
    progress(f"{len(readers)} one-topic and {len(pair_readers)} two-topic readers' digests ranked on each day")
    feedback = _feedback_simulate(days=days, readers=readers)
    progress('feedback simulated: one "less" on each top pick, three "more" on one sub-area')
    return Evaluation(days=results, feedback=feedback)


def _reader(*, topics: list[Topic], n: int) -> Subscriber:
    reader = Subscriber.objects.create(
        email=f"evaluation-reader-{n}@example.invalid", status=Subscriber.Status.ACTIVE,
        papers_per_digest=PAPERS_PER_DIGEST,
    )
    reader.topics.set(topics)
    return reader


def _pairs_result(*, day: LabelledDay, alone: dict[str, list[Paper]],
                  paired: dict[tuple[str, str], list[Paper]]) -> PairResult:
    result = PairResult()
    labels = {slug: _label_sets(day, slug) for pair in paired for slug in pair}
    for pair, papers in paired.items():
        titles = [p.title for p in papers[:RECALL_AT]]
        good = set().union(*(labels[slug][0] for slug in pair))
        if k := min(PRECISION_AT, len(good)):
            result.precision.append(sum(t in good for t in titles[:k]) / k)
        for slug in pair:
            relevant = labels[slug][1]
            own = [p.title for p in alone[slug][:RECALL_AT] if p.title in relevant]
            if not own:
                continue
            got = [t for t in titles if t in relevant]
            result.cases += 1
            result.left_out += not got
            result.recall_alone.append(len(own) / len(relevant))
            result.recall_pair.append(len(got) / len(relevant))
    return result


def _ranked(*, readers: dict[str, Subscriber], date: dt.date, depth: int = PAPERS_PER_DIGEST) -> dict[str, list[Paper]]:
    """Each reader's digest of `date`: the papers chosen, best first."""
    ids = [r.id for r in readers.values()]
    data = ranking_data_load(date=date, subscriber_ids=ids)
    # Their topics come with `data` (ranking_data_load).
    loaded = {s.id: s for s in Subscriber.objects.filter(id__in=ids)}
    out = {}
    for slug, reader in readers.items():
        subscriber = loaded[reader.id]
        subscriber.papers_per_digest = depth
        out[slug] = [r.paper for r in digest_select(subscriber=subscriber, date=date, data=data).papers]
    return out


def _labelled(day: LabelledDay, slug: str, title: str) -> bool:
    """Whether the day's labels call `title` relevant or acceptable for `slug`."""
    return slug in day.relevant.get(title, ()) or slug in day.acceptable.get(title, ())


def _label_sets(day: LabelledDay, slug: str) -> tuple[set[str], set[str]]:
    """(relevant or acceptable, relevant): the titles the day's labels give `slug`."""
    good = {t for t in day.relevant if _labelled(day, slug, t)}
    return good, {t for t in day.relevant if slug in day.relevant[t]}


def topic_result(*, day: LabelledDay, slug: str, titles: list[str]) -> TopicResult:
    """A digest's figures for `slug` on `day`, `titles` its picks best first, as issue
    11 defines them: precision@5 is strict, over k = min(5, papers labelled relevant
    or acceptable), so an empty slot is a miss; recall@10 counts the relevant only."""
    good, relevant = _label_sets(day, slug)
    k = min(PRECISION_AT, len(good))
    precision = sum(t in good for t in titles[:k]) / k if k else None
    recall = sum(t in relevant for t in titles[:RECALL_AT]) / len(relevant) if relevant else None
    return TopicResult(precision=precision, recall=recall, picks=titles, relevant=len(relevant))


def _feedback_simulate(*, days: list[LabelledDay], readers: dict[str, Subscriber]) -> FeedbackResult:
    result = FeedbackResult()
    # One "less" on the top pick, on every day, for every topic with 2+ relevant papers.
    for day in days:
        before = _ranked(readers=readers, date=day.date)
        for slug, papers in before.items():
            relevant = _label_sets(day, slug)[1]
            if len(relevant) < EMPTY_MIN_RELEVANT or not papers:
                continue
            top = papers[0]
            rest = relevant - {top.title}
            if not rest:
                continue
            feedback_record(subscriber=readers[slug], paper=top, vote=Feedback.Vote.LESS)
            after = _ranked(readers={slug: readers[slug]}, date=day.date)[slug]
            Feedback.objects.filter(subscriber=readers[slug]).delete()
            result.less.append((
                sum(p.title in rest for p in papers[:RECALL_AT]) / len(rest),
                sum(p.title in rest for p in after[:RECALL_AT]) / len(rest),
            ))
    # Three "more" on one sub-area of day i, followed on day i + 1.
    for day, next_day in itertools.pairwise(days):
        picks = _ranked(readers=readers, date=day.date)
        next_before = _ranked(readers=readers, date=next_day.date, depth=RANKED_DEPTH)
        # Closeness as the ranking's feedback measures it (RankingData.vector: the stored
        # vectors less the mean of the topics' definitions).
        here = ranking_data_load(date=day.date, subscriber_ids=[])
        there = ranking_data_load(date=next_day.date, subscriber_ids=[])
        next_papers = list(Paper.objects.filter(trending_date=next_day.date))
        for slug, papers in picks.items():
            liked = _sub_area(papers, here)
            relevant = [p for p in next_papers if slug in next_day.relevant.get(p.title, ())]
            if len(liked) < MORE_VOTES or len(relevant) <= FOLLOWED:
                continue
            centroid = np.mean([here.vector(p.id, p.embedding) for p in liked], axis=0)
            followed = sorted(relevant, key=lambda p: -float(there.vector(p.id, p.embedding) @ centroid))[:FOLLOWED]
            for paper in liked:
                feedback_record(subscriber=readers[slug], paper=paper, vote=Feedback.Vote.MORE)
            after = _ranked(readers={slug: readers[slug]}, date=next_day.date, depth=RANKED_DEPTH)[slug]
            Feedback.objects.filter(subscriber=readers[slug]).delete()
            result.more.append((_mean_position(next_before[slug], followed),
                                _mean_position(after, followed)))
    return result


def _sub_area(papers: list[Paper], data) -> list[Paper]:
    """The top pick and the MORE_VOTES - 1 picks closest to it."""
    if len(papers) < MORE_VOTES:
        return []
    top = data.vector(papers[0].id, papers[0].embedding)
    others = sorted(papers[1:], key=lambda p: -float(data.vector(p.id, p.embedding) @ top))
    return [papers[0], *others[: MORE_VOTES - 1]]


def _mean_position(ranked: list[Paper], papers: list[Paper]) -> float:
    """1-based positions in `ranked`; a paper not in it counts as just past its end."""
    place = {p.id: i + 1 for i, p in enumerate(ranked)}
    return mean(place.get(p.id, RANKED_DEPTH + 1) for p in papers)


# Resamples of the bootstrap behind precision_interval (seeded: the report is stable).
BOOTSTRAP_RESAMPLES = 2000


def precision_interval(days: list[DayResult], *, level: float = 0.95) -> tuple[float, float]:
    """Where the mean precision@5 of days like these would fall: a two-level bootstrap
    (days drawn with replacement, then each drawn day's topics), whose percentile
    interval is wide when days differ as much as they do here. It says how far one
    more labelled day could move the mean, e.g. whether 0.89 and 0.90 differ at all."""
    values = [np.array([r.precision for r in d.topics.values() if r.precision is not None]) for d in days]
    values = [v for v in values if len(v)]
    rng = np.random.default_rng(0)
    means = np.empty(BOOTSTRAP_RESAMPLES)
    for n in range(BOOTSTRAP_RESAMPLES):
        drawn = rng.integers(len(values), size=len(values))
        means[n] = np.mean([rng.choice(values[i], size=len(values[i])).mean() for i in drawn])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def second_labels_path(*, day: LabelledDay, folder: Path | None = None) -> Path | None:
    """Where `day`'s second labels would be: in `folder` when one is given; else the
    project's second labeller's (SECOND_LABELS_DIR), for the project's own days only
    (someone's own day_a.json is another day of that name)."""
    if folder is not None:
        return Path(folder) / f"{day.name}.json"
    if day.path is not None and day.path.resolve().parent == DAYS_DIR.resolve():
        return SECOND_LABELS_DIR / f"{day.name}.json"
    return None


def second_labels_load(*, day: LabelledDay, path: Path) -> LabelledDay:
    """`day` with another person's labels from `path` (slugs or names, resolve them
    with labels_resolve). DayFileError naming the file for a title that is not on
    the day or a paper of the day left out: a skipped paper would read as
    "relevant to nothing" and lower the agreement for no reason."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {text_collapse(str(e["title"])): e for e in data["labels"]}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DayFileError(f'{path.name}: expected {{"labels": [{{"title", "relevant", "acceptable"}}]}} ({exc})') from None

    def named(titles: list[str]) -> str:
        return repr(titles[0]) + (f" and {len(titles) - 1} more" if len(titles) > 1 else "")

    unknown = sorted(set(entries) - set(day.relevant))
    missing = [t for t in day.relevant if t not in entries]
    problems = ([f"not on {day.name}: {named(unknown)}"] if unknown else []) + (
        [f"no labels for {named(missing)}"] if missing else [])
    if problems:
        raise DayFileError(f"{path.name}: {'; '.join(problems)}")
    read = {t: _labels_read(e, where=repr(t), fail=lambda message: DayFileError(f"{path.name}: {message}"))
            for t, e in entries.items()}
    return replace(day, relevant={t: labels["relevant"] for t, labels in read.items()},
                   acceptable={t: labels["acceptable"] for t, labels in read.items()})


@dataclass
class LabellerComparison:
    day: str
    split: str
    product_first: tuple[float, float]  # the product's (P@5, R@10) by the day's own labels
    product_second: tuple[float, float]  # ... by the second labeller's
    person: tuple[float, float]  # the second labeller's judgement as a digest, by the day's labels


def labellers_compare(*, evaluation: Evaluation, second: dict[str, LabelledDay]) -> list[LabellerComparison]:
    """For each evaluated day with second labels (by day name): see the module docstring."""
    out = []
    for result in evaluation.days:
        other = second.get(result.day.name)
        if other is None:
            continue
        again = DayResult(day=other, topics={
            slug: topic_result(day=other, slug=slug, titles=r.picks) for slug, r in result.topics.items()})
        person = DayResult(day=other, topics={
            slug: _person_result(first=result.day, second=other, slug=slug) for slug in result.topics})
        out.append(LabellerComparison(
            day=result.day.name, split=result.day.split, product_first=(result.mean("precision"), result.mean("recall")),
            product_second=(again.mean("precision"), again.mean("recall")),
            person=(person.mean("precision"), person.mean("recall")),
        ))
    return out


def _person_result(*, first: LabelledDay, second: LabelledDay, slug: str) -> TopicResult:
    """The second labeller's picks for `slug` (relevant, then acceptable, each group
    in random order), scored by the first labels as topic_result scores a digest:
    the expected figures over the orders, so no random draw moves them."""
    good, relevant = _label_sets(first, slug)
    their_good, their_relevant = _label_sets(second, slug)
    groups = [their_relevant, their_good - their_relevant]

    def expected_hits(targets: set[str], slots: int) -> float:
        hits = 0.0
        for group in groups:
            taken = min(slots, len(group))
            if taken:
                hits += taken * len(group & targets) / len(group)
            slots -= taken
        return hits

    k = min(PRECISION_AT, len(good))
    return TopicResult(
        precision=expected_hits(good, k) / k if k else None,
        recall=expected_hits(relevant, RECALL_AT) / len(relevant) if relevant else None,
        picks=sorted(their_good), relevant=len(relevant),
    )


def comparison_report(comparisons: list[LabellerComparison]) -> str:
    """The lines `manage.py eval_relevance` adds for the days a second person labelled."""
    if not comparisons:
        return ""
    lines = ["", "", (f"A second labeller, blind to the first ({len(comparisons)} days): the product's P@5 / R@10 "
                      "by the day's labels -> by theirs; their own judgement as a digest, by the day's labels")]
    rows = []
    for split in SPLITS:
        chosen = [(f"{split} day {c.day}", *c.product_first, *c.product_second, *c.person)
                  for c in comparisons if c.split == split]
        rows += chosen
        if len(chosen) > 1:
            rows.append((f"{split} days mean", *(mean(r[i] for r in chosen) for i in range(1, 7))))
    for name, p1, r1, p2, r2, pp, pr in rows:
        lines.append(f"{name:34} product P@5 {p1:.2f} -> {p2:.2f}  R@10 {r1:.2f} -> {r2:.2f}   "
                     f"a person P@5 {pp:.2f}  R@10 {pr:.2f}")
    return "\n".join(lines)


def evaluation_report(evaluation: Evaluation) -> str:
    """The table `manage.py eval_relevance` prints."""
    days = evaluation.days
    slugs = list(days[0].topics) if days else []
    lines = [
        (f"Readers with one default topic each, {PAPERS_PER_DIGEST} papers a digest. "
         f"P@{PRECISION_AT} strict (k = min({PRECISION_AT}, relevant or acceptable); an empty slot "
         f"is a miss), R@{RECALL_AT}, empty = no pick although {EMPTY_MIN_RELEVANT}+ relevant; "
         f"tags = the topics the day's papers pass for, and the share labelled relevant or acceptable; "
         f"chips = the topics their cards show, the share labelled so, and the share of relevant labels with a chip."),
        "",
        f"{'topic':34}" + "".join(f"{d.day.name[:16]:>18}" for d in days),
        f"{'':34}" + "".join(f"{'P@5  R@10 picks':>18}" for _ in days),
    ]
    for slug in slugs:
        row = f"{slug:34}"
        for d in days:
            r = d.topics[slug]
            p = "  - " if r.precision is None else f"{r.precision:4.2f}"
            rc = "  - " if r.recall is None else f"{r.recall:4.2f}"
            row += f"{p:>8} {rc:>4} {len(r.picks):>4}"
        lines.append(row)
    # A topic the measurement added (`--topics`) that no day labels: its picks, to be
    # read by a person.
    unlabelled = [slug for slug in evaluation.added
                  if all(d.topics[slug].precision is None and d.topics[slug].recall is None for d in days)]
    for slug in unlabelled:
        lines += ["", f"{slug}: no labels; its picks, day by day:"]
        lines += [f"  {d.day.name}: " + ("; ".join(d.topics[slug].picks) or "none") for d in days]
    lines.append("")
    for split in SPLITS:
        chosen = [d for d in days if d.day.split == split]
        for d in chosen:
            lines.append(f"{split} day {d.day.name:24} P@5 {d.mean('precision'):.2f}  "
                         f"R@10 {d.mean('recall'):.2f}  empty {d.empty}  "
                         f"tags {d.tags} ({d.tag_precision:.0%} labelled)  "
                         f"chips {d.chips} ({d.chip_precision:.0%} labelled, {d.chip_coverage:.0%} of relevant)")
        if chosen:
            precisions = [d.mean("precision") for d in chosen]
            # How much one day differs from the next: the figure on a new day is as
            # likely to be anywhere in that spread as at the mean.
            spread = ""
            if len(chosen) > 1:
                low, high = precision_interval(chosen)
                spread = (f"  (P@5 across {len(chosen)} days {min(precisions):.2f}–{max(precisions):.2f}, "
                          f"sd {stdev(precisions):.2f}; 95 % interval {low:.2f}–{high:.2f})")
            lines.append(f"{split} days mean{'':20} P@5 {mean(precisions):.2f}  "
                         f"R@10 {mean(d.mean('recall') for d in chosen):.2f}  "
                         f"empty {sum(d.empty for d in chosen)}{spread}")
    for split in SPLITS:
        chosen = [d.pairs for d in days if d.day.split == split]
        cases = sum(p.cases for p in chosen)
        if cases:
            pairs = len(list(itertools.combinations(slugs, 2)))
            lines.append(
                f"{split} days, readers of two topics ({pairs} pairs): a topic left out although its own "
                f"reader gets a relevant paper {sum(p.left_out for p in chosen)} of {cases}; "
                f"recall@10 of each topic alone {mean(x for p in chosen for x in p.recall_alone):.2f}, "
                f"in the pair {mean(x for p in chosen for x in p.recall_pair):.2f}; "
                f"P@5 by either topic's labels {mean(x for p in chosen for x in p.precision):.2f}")
    fb = evaluation.feedback
    if fb.less:
        drops = [b - a for b, a in fb.less]
        lines += ["", (f"One \"less\" on the top pick ({len(fb.less)} readers): recall@10 of the other "
                       f"relevant papers {mean(b for b, _ in fb.less):.2f} -> {mean(a for _, a in fb.less):.2f}"
                       f" (worst drop {max(drops):.2f})")]
    if fb.more:
        lines.append(f"Three \"more\" on one sub-area ({len(fb.more)} readers): the next day's "
                     f"{FOLLOWED} closest papers, mean position {mean(b for b, _ in fb.more):.1f} -> "
                     f"{mean(a for _, a in fb.more):.1f} (lower is earlier; "
                     f"{sum(a < b for b, a in fb.more)} raised, {sum(a > b for b, a in fb.more)} lowered)")
    return "\n".join(lines)
