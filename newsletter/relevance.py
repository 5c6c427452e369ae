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
- a line starting with "not:" is another field's term of art that contains one of
  the topic's words ("not:post-training quantization" for a "post-training"
  keyword): being longer, it claims its words first, and they count for nothing;
- a longer keyword claims its words first, so "diffusion model" is not counted a
  second time by "diffusion".

Evidence per keyword: TITLE_WEIGHT if it is in the title, plus ABSTRACT_WEIGHT for
its first mention in the abstract (AI keywords count as abstract mentions), each
further mention worth REPEAT_DECAY times the one before (diminishing returns).
The score is 1 - exp(-total evidence): 0 means no match, it approaches 1 as
evidence piles up, and it never depends on the order of papers or topics.

Spelling is normalised before stemming, on both sides: British -ise/-isation/-yse
and -our are read as -ize/-ization/-yze and -or ("quantisation" is "quantization",
"behaviour" is "behavior"), and a one-word keyword with a common prefix also matches
it hyphenated ("pretraining" matches "pre-training", and the reverse already held).

A paper's score for a topic (papers_score) is a hybrid of two kinds of evidence:
- lexical: the keyword match above, which also names the "matched: ..." terms of
  the digest's "why" line;
- semantic: how much closer the paper's text embedding (newsletter/embeddings.py)
  is to the topic's definition than to the other active topics' on average; for a
  topic with example papers (editors' and the built-in canonical ones), the mean of
  that and the same measure to the centroid of its examples. Centring on the other
  topics removes what every AI paper shares ("model", "training", "data"), so a
  topic wins the papers that are about *it*.
evidence = SEMANTIC_WEIGHT x semantic + log(1 + LEXICAL_GAIN x lexical score), and
the stored score maps HYBRID_PASS evidence to RELEVANCE_THRESHOLD. A broad topic
(Topic.is_broad, an umbrella such as "language models") yields to the narrower
ones: a paper with more evidence for another topic is not relevant to it
(_broad_yield). The weights and the pass mark were set on the three tuning days
only (docs/relevance.md, `manage.py eval_relevance`).

A score below RELEVANCE_THRESHOLD is not relevant: no PaperTopic row is kept for it
and ranking (newsletter/ranking.py) does not choose a paper on it."""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
import snowballstemmer
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from . import embeddings
from .models import Paper, PaperTopic, Topic, keyword_line_read
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
RESCORE_CHUNK_SIZE = 100  # ~10 s of embedding when a chunk's vectors are missing
# The hybrid (see the module docstring). Semantic closeness is a difference of
# cosines (~ -0.2..0.4, the weighted mean of the two models' in embeddings.py); a
# lexical score of 0.63 (one title mention) adds ~1.4. The weight, the pass mark
# and MiniLM's share were chosen together on the tuning days, leaving one day out
# in turn (docs/relevance.md): with both models' closeness weighing 10, a paper the
# embeddings place squarely in a topic passes on them alone, and a stray keyword in
# a paper they place elsewhere is outweighed; the pass mark of 2 keeps digests as
# long as before (about 6 of 10 slots on a labelled day), where 1 filled them with
# weaker papers. (WordLlama alone: weight 3, pass mark 1.)
SEMANTIC_WEIGHT = 10.0
LEXICAL_GAIN = 5.0
# Evidence at which a paper becomes relevant.
HYBRID_PASS = 2.0
# ... and where keywords alone decide (a single active topic): a keyword in the
# title, one mentioned twice or two different ones; one passing mention is not.
LEXICAL_PASS = 1.0

# A paper's chips (its card, its page, the digest) name the topics it is *about*:
# its strongest topic and those within ABOUT_MARGIN evidence of it, not every topic
# it passes for (a pruning paper that says "fine-tuning" passes for post-training
# and is about efficiency). Which readers get the paper does not change: it is in
# every topic it passes for. Chosen on the tuning days by the balance of chips
# labelled right and relevant topics given one (docs/relevance.md, "Chips").
ABOUT_MARGIN = 0.75

# Word tokens: letters and digits (any script), no underscore; punctuation splits.
_TOKEN_RE = re.compile(r"[^\W_]+")
# A snowball stemmer keeps the word being stemmed in the instance: one per thread
# (the send workers run batches in threads; a shared one garbled words and raised).
_stemmers = threading.local()


@dataclass(frozen=True)
class Match:
    """How well a text matches a topic: a 0..1 score and the keywords that matched,
    strongest evidence first, each quoted as the text writes it where it first
    matched ("pre-training" for the keyword "pretraining", "tokens" for "token")."""

    score: float
    terms: tuple[str, ...] = ()


# British spellings read as American ones before stemming (see the module docstring).
# Applied to texts and keywords alike, so a rule that also rewrites a word with no
# American form ("supervised" -> "supervized") changes nothing that is compared.
_SPELLING_RULES = (
    (re.compile(r"^(\w{2,})is(e|es|ed|ing|er|ers|ation|ations|ational)$"), r"\1iz\2"),
    (re.compile(r"^(\w{2,})ys(e|es|ed|ing|er|ers)$"), r"\1yz\2"),
    (re.compile(r"^(\w{3,})our(s|ed|ing|able|ite|ites)?$"), r"\1or\2"),
    (re.compile(r"^(\w{3,})tre(s)?$"), r"\1ter\2"),
)
_SPELLING_WORDS = {"programme": "program", "programmes": "programs", "grey": "gray",
                   "catalogue": "catalog", "analogue": "analog", "dialogue": "dialog"}
# One-word keywords starting with these are also matched split ("pretraining" ->
# "pre training", which is how "pre-training" is tokenised).
_SPLIT_PREFIXES = ("pre", "post", "multi", "self", "non", "semi", "sub", "mid", "fine",
                   "zero", "few", "cross", "over", "under", "meta", "hyper", "co", "re")
_SPLIT_MIN_REST = 4


def spelling_normalise(word: str) -> str:
    """"quantisation" -> "quantization", "behaviour" -> "behavior" (lower case)."""
    word = word.lower()
    if word in _SPELLING_WORDS:
        return _SPELLING_WORDS[word]
    for pattern, replacement in _SPELLING_RULES:
        if pattern.match(word):
            return pattern.sub(replacement, word)
    return word


@lru_cache(maxsize=20_000)
def stem(word: str) -> str:
    """Porter2 stem of a lower-cased, spelling-normalised word: "models" -> "model",
    "tuning" -> "tune", "quantised" -> "quantiz"."""
    stemmer = getattr(_stemmers, "english", None)
    if stemmer is None:
        stemmer = _stemmers.english = snowballstemmer.stemmer("english")
    return stemmer.stemWord(spelling_normalise(word))


def _is_acronym(token: str) -> bool:
    return len(token) >= 2 and token.isupper()


def _acronym_form(token: str) -> str:
    """"LLMs" -> "LLM": the plural of an acronym is written with a lower-case s."""
    if len(token) >= 3 and token.endswith("s") and token[:-1].isupper():
        return token[:-1]
    return token


@dataclass(frozen=True)
class _Text:
    """A tokenised text, indexed by stem and by acronym form for phrase look-ups,
    with each token's place in the text (to quote what matched as it is written)."""

    source: str
    spans: tuple[tuple[int, int], ...]
    length: int
    stems: tuple[str, ...]
    acronyms: tuple[str, ...]
    by_stem: dict[str, list[int]]
    by_acronym: dict[str, list[int]]


# Ranking matches every reader's own keywords against the same few hundred titles
# and abstracts of a day (newsletter/ranking.py, digest_select): index each text
# once per process, not once per reader (the benchmark's profile showed it). _Text
# is never mutated.
@lru_cache(maxsize=2048)
def _text_index(text: str) -> _Text:
    found = list(_TOKEN_RE.finditer(text or ""))
    tokens = [m.group() for m in found]
    stems = tuple(stem(t) for t in tokens)
    acronyms = tuple(_acronym_form(t) for t in tokens)
    by_stem: dict[str, list[int]] = defaultdict(list)
    by_acronym: dict[str, list[int]] = defaultdict(list)
    for i, (s, a) in enumerate(zip(stems, acronyms)):
        by_stem[s].append(i)
        by_acronym[a].append(i)
    return _Text(text or "", tuple(m.span() for m in found), len(tokens), stems, acronyms, dict(by_stem),
                 dict(by_acronym))


def _quoted(text: _Text, start: int, stop: int) -> str:
    """Tokens start..stop-1 as the text writes them ("pre-training", "LLMs"), in lower
    case unless an acronym is among them: what a "why" line says matched, which the
    reader finds in the paper (the keyword as the editor wrote it was not always
    there: "tokenisation" for "tokens", "agentic" for "agent")."""
    quoted = text.source[text.spans[start][0]:text.spans[stop - 1][1]]
    return quoted if any(_is_acronym(a) for a in text.acronyms[start:stop]) else quoted.lower()


# A keyword token: (True, "RL") matches the acronym exactly, (False, "agent") a stem.
_Token = tuple[bool, str]


@dataclass(frozen=True)
class _Keyword:
    label: str  # as the editor wrote it, shown to readers in matched_terms
    variants: tuple[tuple[_Token, ...], ...]  # alternative token sequences
    title_only: bool
    order: int  # position in the editor's list, the final tie-break
    excluded: bool = False  # a "not:" phrase: claims its words, counts nothing

    @property
    def length(self) -> int:
        return max(len(v) for v in self.variants)


def _keyword_tokens(phrase: str) -> tuple[_Token, ...]:
    """An acronym's plural in a keyword ("LLMs") is the acronym, as in a text: "LLMs"
    matches "LLM" as "LLM" matches "LLMs" (it was stemmed as the word "llms" and
    matched neither)."""
    forms = [(t, _acronym_form(t)) for t in _TOKEN_RE.findall(phrase)]
    return tuple((True, a) if _is_acronym(a) else (False, stem(t)) for t, a in forms)


def _prefix_split(label: str) -> str | None:
    """"pretraining" -> "pre training": the first word that starts with a common
    prefix, split after it (None when no word does)."""
    words = label.split()
    for i, word in enumerate(words):
        lower = word.lower()
        for prefix in _SPLIT_PREFIXES:
            if lower.startswith(prefix) and len(lower) - len(prefix) >= _SPLIT_MIN_REST and "-" not in lower:
                return " ".join([*words[:i], word[:len(prefix)], word[len(prefix):], *words[i + 1:]])
    return None


def _keyword_compile(line: str, order: int) -> _Keyword | None:
    label, kind = keyword_line_read(line)
    variants = [_keyword_tokens(label)]
    if "-" in label:
        # "fine-tuning" is also written "finetuning", "pre-training" "pretraining".
        variants.append(_keyword_tokens(re.sub(r"(?<=\w)-(?=\w)", "", label)))
    split = _prefix_split(label)
    if split:
        variants.append(_keyword_tokens(split))
    variants = [v for i, v in enumerate(variants) if v and v not in variants[:i]]
    if not variants:
        return None
    return _Keyword(label=label, variants=tuple(variants), title_only=kind == "title", order=order,
                    excluded=kind == "not")


def keyword_lines_problems(lines: Sequence[str]) -> list[str]:
    """What is wrong with a topic's keyword lines, in an editor's words (the topic
    form shows them and saves nothing): a "title:" or "not:" with no phrase, a line
    with no word, and a "not:" phrase that contains none of the topic's keywords (it
    would change nothing) or is one of them (it would cancel it)."""
    problems = []
    compiled = [(line, _keyword_compile(line, i)) for i, line in enumerate(lines) if line.strip()]
    keywords = [k for _, k in compiled if k is not None and not k.excluded]
    matcher = TopicMatcher([k.label for k in keywords])
    for line, keyword in compiled:
        if keyword is None:
            problems.append(f"“{line}” has no word to match.")
        elif keyword.excluded:
            same = [k.label for k in keywords if set(k.variants) & set(keyword.variants)]
            inside = matcher.match(title=keyword.label, abstract="").terms
            if same:
                problems.append(f"“{line}” is the keyword “{same[0]}” itself: it would cancel it. "
                                f"Delete the keyword instead.")
            elif not inside:
                problems.append(f"“{line}” contains none of this topic's keywords, so it would change "
                                f"nothing. A “not:” line names a longer term that contains one of them.")
    return problems


class TopicMatcher:
    """A topic's keywords compiled once, then matched against many papers."""

    def __init__(self, keywords: Sequence[str]):
        compiled = [_keyword_compile(k, i) for i, k in enumerate(keywords) if k.strip()]
        # Longest first, so a phrase claims its words before its parts do (a "not:"
        # phrase too: before the shorter keyword it contains).
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
        quoted: dict[_Keyword, str] = {}  # the first place it matched, as written there
        for keyword in self.keywords:
            in_title = _occurrences(keyword, title_text, title_claimed, quoted)
            if keyword.excluded:
                for text, claimed in zip(abstract_texts, abstract_claimed):
                    _occurrences(keyword, text, claimed, {})
                continue
            weight = TITLE_WEIGHT if in_title else 0.0
            if not keyword.title_only:
                mentions = sum(
                    _occurrences(keyword, text, claimed, quoted)
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
            term = quoted.get(keyword, keyword.label)
            if term.lower() not in {t.lower() for t in terms}:
                terms.append(term)
        return Match(score, tuple(terms))


def _occurrences(keyword: _Keyword, text: _Text, claimed: set[int], quoted: dict[_Keyword, str]) -> int:
    """Count the keyword's non-overlapping occurrences in `text` that no longer
    keyword has claimed, and claim their tokens; the first one found, as the text
    writes it, goes in `quoted` unless the keyword has a place there already."""
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
                if keyword not in quoted:
                    quoted[keyword] = _quoted(text, span.start, span.stop)
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


# The fields of a paper its scores read: its vector's text (embeddings.paper_text)
# and its keyword evidence (paper_match). An edit of one of them re-scores it.
PAPER_SCORING_FIELDS = ("title", "abstract", "ai_summary", "ai_keywords")


def papers_score(*, papers: Iterable[Paper], only_missing: bool = False) -> None:
    """Compute PaperTopic rows for these papers against every active topic: upsert
    the automatic rows that pass RELEVANCE_THRESHOLD, delete those that no longer
    do, and leave editor rows alone. Called after every import and paper edit, so it
    also (re)computes the papers' embeddings: their text may have changed. With
    `only_missing`, only the vectors the caller left empty (an import clears those
    of papers whose text changed; a re-fetch that only moves upvotes embeds none)."""
    papers = list(papers)
    topics = list(Topic.objects.filter(is_active=True))
    vectors = embeddings.papers_embed(papers=papers, only_missing=only_missing)
    _papers_score_against(papers=papers, topics=topics, context=topics, vectors=vectors)


def topics_rescore(
    *, changed: Topic | None = None, progress: Callable[[int, int], None] | None = None,
) -> None:
    """Re-score every paper against every active topic. `changed`: the one topic
    whose definition, examples or active flag just changed (the admin's services):
    only its vectors are recomputed, the others' are current. Without it, every
    active topic's vectors are (`manage.py rescore_topics`, after an upgrade that
    changed the default topics or the relevance model). Papers whose vector is
    missing or of an earlier model are embedded on the way. `progress(done, total)`
    after each chunk of papers.

    Every topic, not only the changed one: a paper's closeness to a topic is
    measured against the mean over all active topics (hybrid_scores' centre), and a
    broad topic yields to every narrower one, so one topic's change moves the
    others' evidence. Until 7 December only it and the broad topics were re-scored,
    and the others' stored scores stayed measured against the topics as they were:
    after a topic was switched off, the preview of an untouched one read every paper
    "higher" and one a new match, which digests did not get (an editor's
    walkthrough). It costs about what one topic did: the papers' reading and
    writing, not the matching, is the time (548 papers: 0.56 to 1.0 s for fifteen
    topics, 0.7 to 0.8 s for one and the broad one).

    All papers, not only recent ones: topic pages, the archive and the admin's
    counts read PaperTopic for any date, and a definition edit should mean the
    same thing everywhere. The papers are read in chunks to bound memory. An
    inactive topic loses its automatic rows (re-activating it re-scores); editor
    rows stay. Topic chips show on every public page, so every page is rendered
    afresh after the commit (until 7 December `rescore_topics` left them as they
    were)."""
    pages_changed(everything=True)
    topics = list(Topic.objects.filter(is_active=True))
    for topic in topics if changed is None else [t for t in topics if t.pk == changed.pk]:
        embeddings.topic_embed(topic=topic)
    PaperTopic.objects.filter(topic__is_active=False, source=PaperTopic.Source.AUTO).delete()
    if topics:
        _papers_rescore(papers=Paper.objects.all(), topics=topics, progress=progress)


# The papers bootstrap re-scores before the site serves when an upgrade cleared the
# vectors: those of the newest edition's week and the day before it, i.e. every
# paper a daily or weekly digest can still pick. The rest is the background's
# (papers_missing_rescore, a beat task): a year of papers is ~30 minutes of embedding.
RESCORE_NOW_DAYS = 8
# What the beat task scores per run (every 5 minutes, newsletter/schedules.py):
# ~30 s of a worker at ~0.1 s a paper.
RESCORE_BACKGROUND_LIMIT = 300


def topics_missing_embed() -> int:
    """Compute the vectors of the active topics that have none of the current model
    (a new install, an upgrade of the model): bootstrap does it before the site
    serves, so an editor's first topic preview does not wait for all of them
    (about 0.4 s a topic on one core). Returns how many were made."""
    missing = [t for t in Topic.objects.filter(is_active=True) if embeddings.topic_vectors_missing(t)]
    for topic in missing:
        embeddings.topic_embed(topic=topic)
    return len(missing)


def papers_missing_rescore(
    *, recent_only: bool = False, limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed and score against the active topics the papers that have no vector of
    the current relevance model (an upgrade cleared them): with `recent_only`, only
    those of the last RESCORE_NOW_DAYS trending dates; at most `limit`, the newest
    first. Returns how many were scored."""
    missing = Paper.objects.filter(embedding=None)
    if recent_only:
        newest = Paper.objects.aggregate(newest=Max("trending_date"))["newest"]
        if newest is None:
            return 0
        missing = missing.filter(trending_date__gt=newest - dt.timedelta(days=RESCORE_NOW_DAYS))
    ids = list(
        missing.order_by(F("trending_date").desc(nulls_last=True), "-id").values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    topics = list(Topic.objects.filter(is_active=True))
    _papers_rescore(papers=Paper.objects.filter(id__in=ids), topics=topics, progress=progress)
    return len(ids)


def _papers_rescore(
    *, papers, topics: list[Topic], progress: Callable[[int, int], None] | None = None,
) -> None:
    """Score `papers` (a queryset, read in chunks) against `topics` (every active
    topic), embedding those without a vector first."""
    total = papers.count() if progress is not None else 0
    done = 0
    for chunk in _paper_chunks(papers):
        vectors = embeddings.papers_embed(papers=chunk, only_missing=True)
        _papers_score_against(papers=chunk, topics=topics, context=topics, vectors=vectors)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


def _paper_chunks(papers) -> Iterable[list[Paper]]:
    papers = papers.only(
        "id", "title", "abstract", "ai_summary", "ai_keywords", "embedding"
    ).order_by("id")
    chunk: list[Paper] = []
    for paper in papers.iterator(chunk_size=RESCORE_CHUNK_SIZE):
        chunk.append(paper)
        if len(chunk) == RESCORE_CHUNK_SIZE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass(frozen=True)
class HybridScore:
    """A paper's relevance to a topic and what it rests on."""

    score: float
    terms: tuple[str, ...]  # keywords that matched, strongest first
    near_examples: bool  # closer to the topic's example papers than to its definition

    @property
    def is_relevant(self) -> bool:
        return self.score >= RELEVANCE_THRESHOLD


_Row = TypeVar("_Row")


def evidence_of(score: float) -> float:
    """The evidence a stored score stands for (hybrid_scores' map, inverted, at the
    hybrid's pass mark)."""
    return HYBRID_PASS * math.log1p(-min(score, 0.999)) / math.log1p(-RELEVANCE_THRESHOLD)


def topics_about(rows: Sequence[_Row], *, score: Callable[[_Row], float], by_editor: Callable[[_Row], bool]) -> list[_Row]:
    """Of a paper's topics (PaperTopic rows, or ranking's TopicHit), in their order,
    the ones it is about (ABOUT_MARGIN): each an editor chose, and of the computed
    ones the strongest and those within ABOUT_MARGIN evidence of it."""
    floor = max((evidence_of(score(r)) for r in rows if not by_editor(r)), default=0.0) - ABOUT_MARGIN
    return [r for r in rows if by_editor(r) or evidence_of(score(r)) >= floor]


def closeness_reason(*, near_examples: bool) -> str:
    """The checkable reason of a match the embedding carried without a keyword:
    the digest's "why" line (ranking._reason) and the topic preview say it alike."""
    return "close to the topic's examples" if near_examples else "close to the topic's description"


# The matched terms a "why" names for one topic: with the reader's own keywords
# after them, the line stays one line on a phone.
TOPIC_TERMS_SAID = 2


def topic_match_reason(*, terms: Sequence[str], near_examples: bool, by_editor: bool) -> str:
    """Why a paper is under a topic, in the words a reader reads wherever it is said:
    the terms that matched (an editor's row keeps them: services.paper_topic_set), or,
    with none, that the editors chose it, or its closeness to the topic's examples or
    description. The one wording of it: the digest's "why" line (ranking._reason) and the
    paper's page (selectors.paper_topic_reasons). Until 7 December each had its own:
    an editor's topic read "close to the topic's description" in the email and
    "chosen by the editors" on the page, a closeness nothing on the page, and three
    terms on the page where the email named two."""
    if terms:
        return "matched: " + ", ".join(terms[:TOPIC_TERMS_SAID])
    if by_editor:
        return "chosen by the editors"
    return closeness_reason(near_examples=near_examples)


def hybrid_scores(
    *, papers: Sequence[Paper], topics: Sequence[Topic], context: Sequence[Topic],
    vectors: dict[int, np.ndarray],
) -> dict[tuple[int, int], HybridScore]:
    """{(paper id, topic id): HybridScore} for every pair, from stored vectors and the
    keyword match. `context`: every active topic, whose mean closeness is what a
    topic's closeness is measured against (`topics` is a subset of it), and which a
    broad topic yields to (`_broad_yield`)."""
    if not papers or not topics:
        return {}
    paper_matrix = np.stack([vectors[p.id] for p in papers])
    context_definitions, _ = embeddings.topic_vectors(topics=context)
    centre = (paper_matrix @ context_definitions.T).mean(axis=1, keepdims=True)
    broad = [j for j, topic in enumerate(topics) if topic.is_broad]
    narrower = [t for t in context if not t.is_broad] if broad else []
    # One evidence matrix for `topics` and the narrower topics a broad one yields to
    # that are not among them: each pair is matched once.
    asked = {t.pk for t in topics}
    columns = [*topics, *(t for t in narrower if t.pk not in asked)]
    evidence, near_examples, terms = _evidence(papers=papers, topics=columns, paper_matrix=paper_matrix, centre=centre)
    column = {t.pk: k for k, t in enumerate(columns)}
    for j in broad:  # narrower columns are never broad ones: reading them is unaffected
        others = [column[t.pk] for t in narrower if t.pk != topics[j].pk]
        if others:
            evidence[:, j] = _broad_yield(evidence[:, j], evidence[:, others].max(axis=1))
    # With one active topic there is no other to be closer to than: the semantic
    # term is 0 for every paper, and the keywords alone decide, at their own pass
    # mark (the hybrid's would take more than any keyword match can give).
    pass_mark = HYBRID_PASS if len(context) > 1 else LEXICAL_PASS
    scores: dict[tuple[int, int], HybridScore] = {}
    for i, paper in enumerate(papers):
        for j, topic in enumerate(topics):
            score = 1 - (1 - RELEVANCE_THRESHOLD) ** (max(0.0, float(evidence[i, j])) / pass_mark)
            scores[(paper.id, topic.id)] = HybridScore(
                score=round(score, SCORE_DECIMALS), terms=terms[i][j], near_examples=bool(near_examples[i, j]),
            )
    return scores


def _evidence(
    *, papers: Sequence[Paper], topics: Sequence[Topic], paper_matrix: np.ndarray, centre: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, list[list[tuple[str, ...]]]]:
    """Each paper's evidence for each topic (the module docstring's formula), whether
    its examples carried it more than its definition, and the matched terms."""
    definitions, examples = embeddings.topic_vectors(topics=topics)
    to_definition = paper_matrix @ definitions.T - centre
    has_examples = np.linalg.norm(examples, axis=1) > 0
    to_examples = np.where(has_examples, paper_matrix @ examples.T - centre, -np.inf)
    # A topic with examples: its definition and its examples, averaged (chosen over
    # the closer of the two on the tuning days, docs/relevance.md: the closer of two
    # reads more papers as the topic's, the average asks both to agree).
    semantic = np.where(has_examples, (to_definition + to_examples) / 2, to_definition)
    matchers = [TopicMatcher(topic.keyword_list) for topic in topics]
    matches = [[paper_match(matcher=m, paper=paper) for m in matchers] for paper in papers]
    lexical = np.array([[m.score for m in row] for row in matches]).reshape(semantic.shape)
    evidence = SEMANTIC_WEIGHT * semantic + np.log1p(LEXICAL_GAIN * lexical)
    return evidence, to_examples > to_definition, [[m.terms for m in row] for row in matches]


def _broad_yield(evidence: np.ndarray, narrower: np.ndarray) -> np.ndarray:
    """A broad topic's evidence (Topic.is_broad: "language models" contains
    reasoning, agents, alignment ...) for papers that another, narrower topic
    explains better (`narrower`: each paper's best evidence for one): none. A
    reader of "language models" wants architecture, scaling and pre-training data,
    not an RL method that uses an LLM; that paper is the narrower topic's.
    Dropped, not held at the pass mark: both gave the same figures on the tuning
    days, and with both models' vectors holding kept 45 of the sample day's 73
    papers in the broad topic (its page, every card's chips), docs/relevance.md."""
    return np.where(narrower > evidence, 0.0, evidence)


def topic_preview_scores(*, draft: Topic, papers: Sequence[Paper]) -> dict[int, HybridScore]:
    """What `papers` would score for `draft`, a topic as an editor typed it (unsaved;
    its pk that of the topic edited, None for a new one; its examples as stored),
    writing nothing: the admin's preview of an edit (curation.topic_preview). The
    typed definition is embedded here, as saving would; the other active topics are
    read as stored."""
    draft.embedding = embeddings.vector_pack(embeddings.texts_embed([embeddings.topic_text(draft)])[0])
    others = [t for t in Topic.objects.filter(is_active=True) if draft.pk is None or t.pk != draft.pk]
    vectors = embeddings.papers_embed(papers=papers, only_missing=True)
    if draft.pk is None:
        draft.id = 0  # a key for hybrid_scores' result; never saved
    scores = hybrid_scores(papers=papers, topics=[draft], context=[*others, draft], vectors=vectors)
    return {paper_id: score for (paper_id, _), score in scores.items()}


def _papers_score_against(
    *, papers: list[Paper], topics: list[Topic], context: list[Topic],
    vectors: dict[int, np.ndarray],
) -> None:
    if not papers or not topics:
        return
    scores = hybrid_scores(papers=papers, topics=topics, context=context, vectors=vectors)
    now = timezone.now()
    with transaction.atomic():
        # Locked so an editor's paper_topic_set cannot slip between our read and
        # write; an editor row created meanwhile wins the insert (ignore_conflicts).
        existing = {
            (row.paper_id, row.topic_id): row
            for row in PaperTopic.objects.select_for_update().filter(
                paper__in=[p.id for p in papers], topic__in=[t.id for t in topics]
            )
        }
        to_create: list[PaperTopic] = []
        to_update: list[PaperTopic] = []
        to_delete: list[int] = []
        for (paper_id, topic_id), match in scores.items():
            row = existing.get((paper_id, topic_id))
            if row is not None and row.source == PaperTopic.Source.EDITOR:
                continue
            terms = list(match.terms)
            if not match.is_relevant:
                if row is not None:
                    to_delete.append(row.id)
            elif row is None:
                to_create.append(PaperTopic(
                    paper_id=paper_id, topic_id=topic_id, score=match.score,
                    source=PaperTopic.Source.AUTO, matched_terms=terms,
                    near_examples=match.near_examples, updated_at=now,
                ))
            elif (row.score, row.matched_terms, row.near_examples) != (match.score, terms, match.near_examples):
                row.score, row.matched_terms, row.near_examples = match.score, terms, match.near_examples
                row.updated_at = now
                to_update.append(row)
        if to_delete:
            PaperTopic.objects.filter(id__in=to_delete, source=PaperTopic.Source.AUTO).delete()
        if to_update:
            PaperTopic.objects.bulk_update(to_update, ["score", "matched_terms", "near_examples", "updated_at"])
        if to_create:
            PaperTopic.objects.bulk_create(to_create, ignore_conflicts=True)
