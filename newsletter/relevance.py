"""Scoring papers against topics: deterministic, and explainable to a reader.

A topic is a list of keywords (Topic.keyword_list), one term or phrase per line.
A paper matches a keyword when the keyword's tokens appear in a row in its title,
abstract or Hugging Face's AI keywords, where:

- text is split into word tokens, so "RL" never matches inside "URL" or "CURL";
- a token written in capitals in the keyword ("RL", "RAG", "GNN", "GPT") is an
  acronym and matches only those capitals (plural "LLMs" counts as "LLM"); every
  other token matches case-insensitively after Snowball (Porter2) stemming, so
  "agents" matches "agent", "diffusion models" matches "diffusion model" and
  "quantization" matches "quantized";
- a hyphenated keyword ("fine-tuning") also matches the closed compound ("finetuning");
- a line starting with "title:" only matches titles (help text of Topic.keywords);
- a longer keyword claims its words first, so "diffusion model" is not counted a
  second time by "diffusion".

Evidence per keyword: TITLE_WEIGHT if it is in the title, plus ABSTRACT_WEIGHT for
its first mention in the abstract (AI keywords count as abstract mentions), each
further mention worth REPEAT_DECAY times the one before (diminishing returns).
The score is 1 - exp(-total evidence): 0 means no match, it approaches 1 as
evidence piles up, and it never depends on the order of papers or topics.

A score below RELEVANCE_THRESHOLD is not relevant: no PaperTopic row is kept for it
and ranking (newsletter/ranking.py) does not choose a paper on it."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from django.db import transaction
from django.utils import timezone

from .models import Paper, PaperTopic, Topic
from .page_cache import pages_changed

# One passing mention in an abstract (0.26) is not enough; a keyword in the title
# (0.63), a keyword mentioned twice (0.36) or two different keywords (0.45) are.
RELEVANCE_THRESHOLD = 0.3
TITLE_WEIGHT = 1.0
ABSTRACT_WEIGHT = 0.3
# Each repeat of a keyword in the abstract adds this share of the previous one, so
# ten mentions of "model" weigh less than two different keywords.
REPEAT_DECAY = 0.5
# Scores are stored rounded so re-scoring unchanged text writes nothing.
SCORE_DECIMALS = 3
# A topic re-score walks the papers in chunks of this many, to bound memory.
RESCORE_CHUNK_SIZE = 500

TITLE_PREFIX = "title:"
# Word tokens: letters and digits (any script), no underscore; punctuation splits.
_TOKEN_RE = re.compile(r"[^\W_]+")
_stemmer = snowballstemmer.stemmer("english")


@dataclass(frozen=True)
class Match:
    """How well a text matches a topic: a 0..1 score and the keywords that matched,
    strongest evidence first (as the editor wrote them)."""

    score: float
    terms: tuple[str, ...] = ()

    @property
    def is_relevant(self) -> bool:
        return self.score >= RELEVANCE_THRESHOLD


@lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    """Porter2 stem of a lower-cased word: "models" -> "model", "tuning" -> "tune"."""
    return _stemmer.stemWord(word.lower())


def _is_acronym(token: str) -> bool:
    return len(token) >= 2 and token.isupper()


def _acronym_form(token: str) -> str:
    """"LLMs" -> "LLM": the plural of an acronym is written with a lower-case s."""
    if len(token) >= 3 and token.endswith("s") and token[:-1].isupper():
        return token[:-1]
    return token


@dataclass(frozen=True)
class _Text:
    """A tokenised text, indexed by stem and by acronym form for phrase look-ups."""

    length: int
    stems: tuple[str, ...]
    acronyms: tuple[str, ...]
    by_stem: dict[str, list[int]]
    by_acronym: dict[str, list[int]]


# Ranking matches every reader's own keywords against the same few hundred titles
# and abstracts of a day (newsletter/ranking.py, digest_select): index each text
# once per process, not once per reader (issue #6 profile). _Text is never mutated.
@lru_cache(maxsize=2048)
def _text_index(text: str) -> _Text:
    tokens = _TOKEN_RE.findall(text or "")
    stems = tuple(stem(t) for t in tokens)
    acronyms = tuple(_acronym_form(t) for t in tokens)
    by_stem: dict[str, list[int]] = defaultdict(list)
    by_acronym: dict[str, list[int]] = defaultdict(list)
    for i, (s, a) in enumerate(zip(stems, acronyms)):
        by_stem[s].append(i)
        by_acronym[a].append(i)
    return _Text(len(tokens), stems, acronyms, dict(by_stem), dict(by_acronym))


# A keyword token: (True, "RL") matches the acronym exactly, (False, "agent") a stem.
_Token = tuple[bool, str]


@dataclass(frozen=True)
class _Keyword:
    label: str  # as the editor wrote it, shown to readers in matched_terms
    variants: tuple[tuple[_Token, ...], ...]  # alternative token sequences
    title_only: bool
    order: int  # position in the editor's list, the final tie-break

    @property
    def length(self) -> int:
        return max(len(v) for v in self.variants)


def _keyword_tokens(phrase: str) -> tuple[_Token, ...]:
    return tuple(
        (True, t) if _is_acronym(t) else (False, stem(t)) for t in _TOKEN_RE.findall(phrase)
    )


def _keyword_compile(line: str, order: int) -> _Keyword | None:
    label = line.strip()
    title_only = label.lower().startswith(TITLE_PREFIX)
    if title_only:
        label = label[len(TITLE_PREFIX):].strip()
    variants = [_keyword_tokens(label)]
    if "-" in label:
        # "fine-tuning" is also written "finetuning", "pre-training" "pretraining".
        variants.append(_keyword_tokens(re.sub(r"(?<=\w)-(?=\w)", "", label)))
    variants = [v for i, v in enumerate(variants) if v and v not in variants[:i]]
    if not variants:
        return None
    return _Keyword(label=label, variants=tuple(variants), title_only=title_only, order=order)


class TopicMatcher:
    """A topic's keywords compiled once, then matched against many papers."""

    def __init__(self, keywords: Sequence[str]):
        compiled = [_keyword_compile(k, i) for i, k in enumerate(keywords) if k.strip()]
        # Longest first, so a phrase claims its words before its parts do.
        self.keywords = sorted(
            (k for k in compiled if k is not None), key=lambda k: (-k.length, k.order)
        )

    def match(self, *, title: str, abstract: str, ai_keywords: Sequence[str] = ()) -> Match:
        if not self.keywords:
            return Match(0.0)
        title_text = _text_index(title)
        abstract_texts = [_text_index(abstract), *(_text_index(k) for k in ai_keywords or ())]
        title_claimed: set[int] = set()
        abstract_claimed: list[set[int]] = [set() for _ in abstract_texts]

        evidence: dict[_Keyword, float] = {}
        for keyword in self.keywords:
            in_title = _occurrences(keyword, title_text, title_claimed)
            weight = TITLE_WEIGHT if in_title else 0.0
            if not keyword.title_only:
                mentions = sum(
                    _occurrences(keyword, text, claimed)
                    for text, claimed in zip(abstract_texts, abstract_claimed)
                )
                # 1 + d + d^2 + ... for `mentions` terms: diminishing returns.
                weight += ABSTRACT_WEIGHT * (1 - REPEAT_DECAY**mentions) / (1 - REPEAT_DECAY)
            if weight:
                evidence[keyword] = weight

        if not evidence:
            return Match(0.0)
        score = round(1 - math.exp(-sum(evidence.values())), SCORE_DECIMALS)
        ranked = sorted(evidence.items(), key=lambda item: (-item[1], item[0].order))
        terms: list[str] = []
        for keyword, _ in ranked:
            if keyword.label not in terms:
                terms.append(keyword.label)
        return Match(score, tuple(terms))


def _occurrences(keyword: _Keyword, text: _Text, claimed: set[int]) -> int:
    """Count the keyword's non-overlapping occurrences in `text` that no longer
    keyword has claimed, and claim their tokens."""
    count = 0
    for variant in keyword.variants:
        first_is_acronym, first = variant[0]
        starts = (text.by_acronym if first_is_acronym else text.by_stem).get(first, ())
        for start in starts:
            span = range(start, start + len(variant))
            if span.stop > text.length or any(i in claimed for i in span):
                continue
            if all(
                (text.acronyms[i] if is_acronym else text.stems[i]) == value
                for i, (is_acronym, value) in zip(span, variant)
            ):
                claimed.update(span)
                count += 1
    return count


def topic_match(
    *, keywords: list[str], title: str, abstract: str, ai_keywords: Sequence[str] = ()
) -> Match:
    """Score one text against a list of keywords, touching no database: what the
    admin's preview of a keyword edit and a reader's own keywords use."""
    return TopicMatcher(keywords).match(title=title, abstract=abstract, ai_keywords=ai_keywords)


def paper_match(*, matcher: TopicMatcher, paper: Paper) -> Match:
    return matcher.match(
        title=paper.title, abstract=paper.abstract, ai_keywords=_ai_keywords(paper)
    )


def _ai_keywords(paper: Paper) -> list[str]:
    value = paper.ai_keywords or []
    return [k for k in value if isinstance(k, str)] if isinstance(value, list) else []


def papers_score(*, papers: Iterable[Paper]) -> None:
    """Compute PaperTopic rows for these papers against every active topic: upsert
    the automatic rows that pass RELEVANCE_THRESHOLD, delete those that no longer
    do, and leave editor rows alone. Called after every import."""
    topics = list(Topic.objects.filter(is_active=True))
    _papers_score_against(papers=list(papers), topics=topics)


def topic_rescore(*, topic: Topic) -> None:
    """Re-score every paper for one topic, after its keywords or active flag change.

    All papers, not only recent ones: topic pages, the archive and the admin's
    counts read PaperTopic for any date, and a keyword edit should mean the same
    thing everywhere. Matching is in memory and cheap (a few thousand papers a
    year), and the papers are read in chunks to bound memory. An inactive topic
    loses its automatic rows (re-activating it re-scores); editor rows stay."""
    pages_changed(everything=True)  # topic chips show on every public page
    if not topic.is_active:
        PaperTopic.objects.filter(topic=topic, source=PaperTopic.Source.AUTO).delete()
        return
    papers = Paper.objects.only("id", "title", "abstract", "ai_keywords").order_by("id")
    chunk: list[Paper] = []
    for paper in papers.iterator(chunk_size=RESCORE_CHUNK_SIZE):
        chunk.append(paper)
        if len(chunk) == RESCORE_CHUNK_SIZE:
            _papers_score_against(papers=chunk, topics=[topic])
            chunk = []
    if chunk:
        _papers_score_against(papers=chunk, topics=[topic])


def _papers_score_against(*, papers: list[Paper], topics: list[Topic]) -> None:
    if not papers or not topics:
        return
    matchers = {topic.id: TopicMatcher(topic.keyword_list) for topic in topics}
    now = timezone.now()
    with transaction.atomic():
        # Locked so an editor's paper_topic_set cannot slip between our read and
        # write; an editor row created meanwhile wins the insert (ignore_conflicts).
        existing = {
            (row.paper_id, row.topic_id): row
            for row in PaperTopic.objects.select_for_update().filter(
                paper__in=[p.id for p in papers], topic__in=list(matchers)
            )
        }
        to_create: list[PaperTopic] = []
        to_update: list[PaperTopic] = []
        to_delete: list[int] = []
        for paper in papers:
            for topic_id, matcher in matchers.items():
                row = existing.get((paper.id, topic_id))
                if row is not None and row.source == PaperTopic.Source.EDITOR:
                    continue
                match = paper_match(matcher=matcher, paper=paper)
                if not match.is_relevant:
                    if row is not None:
                        to_delete.append(row.id)
                elif row is None:
                    to_create.append(PaperTopic(
                        paper_id=paper.id, topic_id=topic_id, score=match.score,
                        source=PaperTopic.Source.AUTO, matched_terms=list(match.terms),
                        updated_at=now,
                    ))
                elif row.score != match.score or row.matched_terms != list(match.terms):
                    row.score, row.matched_terms, row.updated_at = match.score, list(match.terms), now
                    to_update.append(row)
        if to_delete:
            PaperTopic.objects.filter(id__in=to_delete, source=PaperTopic.Source.AUTO).delete()
        if to_update:
            PaperTopic.objects.bulk_update(to_update, ["score", "matched_terms", "updated_at"])
        if to_create:
            PaperTopic.objects.bulk_create(to_create, ignore_conflicts=True)
