"""Writes to papers, topics and their paper assignments (STYLE.md: services
write). The admin and commands call these; Paper.save(), Topic.save() and signals
stay free of logic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet

from .ingest import title_normalise
from .models import EditionPaper, Paper, PaperTopic, Topic
from .page_cache import pages_changed
from .pictures import pictures_fetch_later
from .relevance import TopicMatcher, paper_match, papers_score, topics_rescore

# What an editor's "this paper is about this topic" is worth: the top of the
# relevance scale (newsletter/relevance.py scores 0..1), so it always passes
# RELEVANCE_THRESHOLD.
EDITOR_ASSIGNED_SCORE = 1.0

TOPIC_EDITABLE_FIELDS = frozenset({"name", "slug", "description", "keywords", "is_broad", "is_active", "position"})
# A change to one of these changes which papers match, so it re-scores the topic:
# name, description and keywords make its definition, and a broad topic yields to
# the others (newsletter/relevance.py).
TOPIC_SCORING_FIELDS = ("name", "description", "keywords", "is_broad", "is_active")


def paper_save(*, paper: Paper, date_before: dt.date | None = None,
               fields: Iterable[str] | None = None) -> Paper:
    """Save an editor's change to a paper (or a paper they added). Its title key,
    the upsert key of papers without an arXiv id (newsletter/ingest.py), follows
    the title; the pages of its date and of its arXiv id, before and after the edit,
    show the change.
    `fields`: only these are written (what the editor changed; another editor's
    changes to the others stay). A new paper is scored against the topics by
    `papers_score` once its editor rows are saved (the admin's inline). A picture
    the editor set is not known missing: it is fetched in the background, as an
    import's (pictures.pictures_fetch_later)."""
    picture_new = fields is None or "thumbnail_url" in fields
    if picture_new:
        paper.picture_missing_at = None
    paper.title_key = title_normalise(paper.title)
    if paper.pk is not None and (fields is None or "arxiv_id" in fields):
        # Its page at the arXiv id it has now, read before the save: an editor who
        # corrects the id leaves no page of the old one in the cache. (Any other edit
        # keeps the id: the call after the save bumps the same page.)
        pages_changed(papers=[paper.pk])
    if fields is None:
        paper.save()
    else:
        written = (set(fields) | {"updated_at"} | ({"title_key"} if "title" in fields else set())
                   | ({"picture_missing_at"} if picture_new else set()))
        paper.save(update_fields=sorted(written))
    pages_changed(dates={paper.trending_date, date_before} - {None}, papers=[paper.pk])
    if picture_new:
        pictures_fetch_later(paper_ids=[paper.pk])
    return paper


def papers_rescore(*, papers: Iterable[Paper]) -> int:
    """Embed these papers again and score them against every topic (their text may
    have changed: an edit, or an editor asking); editors' own topic rows stay. The
    pages of their dates show the new topics. Returns how many papers."""
    papers = list(papers)
    papers_score(papers=papers)
    pages_changed(dates={p.trending_date for p in papers}, papers=[p.pk for p in papers])
    return len(papers)


def papers_delete(*, papers: QuerySet[Paper]) -> int:
    """Delete these papers, except those an edition went out with (readers' emails,
    web copies and feedback links point to them: hide those instead); the pages of
    their dates and their own pages stop showing them. Returns how many papers were
    deleted."""
    papers = papers.exclude(pk__in=papers_sent())
    rows = list(papers.values_list("pk", "trending_date"))
    with transaction.atomic():
        # Their own pages too: until 5 December a deleted paper's page was served
        # from the page cache for up to an hour. Before the delete: their keys are
        # read now, from their rows.
        pages_changed(dates={date for _, date in rows}, papers=[pk for pk, _ in rows])
        deleted = papers.delete()[1].get(Paper._meta.label, 0)
    return deleted


def papers_sent() -> QuerySet:
    """The ids of papers some edition went out with (frozen at its first send)."""
    return EditionPaper.objects.filter(edition__frozen_at__isnull=False).values("paper_id")


def topic_create(*, topic: Topic) -> Topic:
    """Save a new topic and score every paper against it, and against the other
    topics again (relevance.topics_rescore, which renders every page afresh: its
    name shows on every page, in the topic chips and the subscribe form)."""
    with transaction.atomic():
        topic.save()
        topics_rescore(changed=topic)  # and every page is rendered afresh
    return topic


def topic_update(*, topic: Topic, **fields) -> Topic:
    """Change a topic and, when its definition or active flag changed, re-score every
    paper (against every active topic: relevance.topics_rescore).

    Compared with the stored row, not the instance: the admin hands over an
    instance its form has already changed."""
    unknown = set(fields) - TOPIC_EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"topic_update() got fields it cannot change: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        stored = Topic.objects.select_for_update().values(*TOPIC_SCORING_FIELDS).get(pk=topic.pk)
        for name, value in fields.items():
            setattr(topic, name, value)
        topic.full_clean()
        topic.save()
        if any(stored[name] != getattr(topic, name) for name in TOPIC_SCORING_FIELDS):
            topics_rescore(changed=topic)
        pages_changed(everything=True)  # topic names and order show on every page
    return topic


def topics_delete(*, topics: QuerySet[Topic]) -> int:
    """Delete these topics (their papers' scores go with them); every page shows the
    topics (chips, the subscribe form, the feeds), so every page is rendered afresh.
    Returns how many topics were deleted."""
    with transaction.atomic():
        deleted = topics.delete()[1].get(Topic._meta.label, 0)
        pages_changed(everything=True)
    return deleted


def paper_topic_set(*, paper: Paper, topic: Topic, assigned: bool) -> PaperTopic:
    """An editor says a paper is (or is not) about a topic. The row becomes an
    editor row, which re-scoring never overwrites; "not about it" is kept as
    score 0 so the automatic match does not come back.

    The matched terms are kept when the keywords match at all, so a reader's email
    can still say why ("Continual learning · matched: catastrophic forgetting")."""
    match = paper_match(matcher=TopicMatcher(topic.keyword_list), paper=paper)
    row, _ = PaperTopic.objects.update_or_create(
        paper=paper,
        topic=topic,
        defaults={
            "score": EDITOR_ASSIGNED_SCORE if assigned else 0.0,
            "source": PaperTopic.Source.EDITOR,
            "matched_terms": list(match.terms) if assigned else [],
        },
    )
    pages_changed(dates=[paper.trending_date], papers=[paper.pk])
    return row


def paper_topic_reset(*, paper: Paper, topic: Topic) -> None:
    """Undo an editor's decision: the keywords decide this paper's topic again."""
    with transaction.atomic():
        PaperTopic.objects.filter(
            paper=paper, topic=topic, source=PaperTopic.Source.EDITOR
        ).delete()
        papers_score(papers=[paper])
        pages_changed(dates=[paper.trending_date], papers=[paper.pk])


def topic_exemplars_set(*, topic: Topic, papers: Iterable[Paper], example: bool = True) -> int:
    """An editor marks papers as examples of what a topic is about (or unmarks
    them). The topic's vectors are recomputed and every paper re-scored: papers
    close to the examples now count as relevant, and say so ("close to the topic's
    examples"). An example of a topic is about it: it carries the topic as an
    editor's choice (paper_topic_set), also when an editor had taken the topic off
    it; until 5 December an example could be left without its own topic. Unmarking
    leaves the paper's topics as they are. Returns how many papers changed."""
    papers = list(papers)
    with transaction.atomic():
        Topic.objects.select_for_update().filter(pk=topic.pk).first()
        current = set(topic.exemplars.values_list("id", flat=True))
        if example:
            changed = [p for p in papers if p.id not in current]
            topic.exemplars.add(*changed)
            for paper in papers:
                paper_topic_set(paper=paper, topic=topic, assigned=True)
        else:
            changed = [p for p in papers if p.id in current]
            topic.exemplars.remove(*changed)
        if changed:
            topics_rescore(changed=topic)
    return len(changed)
