"""A reader's own keywords and exclusions, matched against papers for ranking
(newsletter/ranking.py). Everything here is cached per process: readers share
keyword sets and exclusion terms, and a day's texts are a few hundred, so a term is
matched against a text once, not once per reader."""

from __future__ import annotations

import re
from functools import lru_cache

from .relevance import _TOKEN_RE, Match, TopicMatcher, _is_acronym
from .selectors import paper_texts_newest

# English stop words: NLTK's list (Snowball's English stop words, with the pieces
# of contractions a word tokeniser leaves: "don't" -> "don", "t"). No installed
# package ships one (neither scikit-learn nor NLTK is a dependency), so it is here.
_STOP_WORDS_TEXT = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what
    which who whom this that these those am is are was were be been being have has had
    having do does did doing a an the and but if or because as until while of at by
    for with about against between into through during before after above below to
    from up down in out on off over under again further then once here there when
    where why how all any both each few more most other some such no nor not only own
    same so than too very s t can will just don should now d ll m o re ve y ain aren
    couldn didn doesn hadn hasn haven isn ma mightn mustn needn shan shouldn wasn weren
    won wouldn
"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def keywords_split(value: str) -> list[str]:
    return [k.strip() for k in re.split(r"[,\n]", value or "") if k.strip()]


def keyword_stop_words_only(term: str) -> bool:
    """Whether a reader's term is stop words alone ("of", "the", "I", "of the"): matched
    as their keywords are (any case), it is in nearly every paper, so as a keyword it
    matches them all and left out it leaves them all out. A word in capitals is an
    acronym, matched in capitals only ("IT", "US"): never one of them."""
    tokens = _TOKEN_RE.findall(term)
    return bool(tokens) and all(not _is_acronym(t) and t.lower() in STOP_WORDS for t in tokens)


# A reader's term said by this share of the newest papers or more is refused as a
# term of stop words is (subscribers.forms): "model" (81 % of the labelled days'
# papers) left out emptied the digest as "of" did, and as a keyword it matched them
# all. "Nearly every", read as three in four: a term of a field, however broad, is
# below it there ("language model" 53 %, "training" 57 %, "reinforcement learning"
# 13 %). Judged on the KEYWORD_COMMON_PAPERS newest papers (about four days'), once
# there are KEYWORD_COMMON_PAPERS_LEAST of them (a new installation's first day says
# little). Reading a paper's words costs about 3 ms the first time a process meets
# it (relevance._text_index, cached): the first form of a day with terms waits 0.6 s
# on each web worker, later ones a few ms.
KEYWORD_COMMON_SHARE = 0.75
KEYWORD_COMMON_PAPERS = 200
KEYWORD_COMMON_PAPERS_LEAST = 50


def keywords_common(terms: list[str]) -> dict[str, tuple[int, int]]:
    """Of these terms, those that KEYWORD_COMMON_SHARE or more of the newest papers
    say (title or abstract, matched as ranking matches them: keyword_said, not its
    cache, which a form's terms would fill with texts ranking never reads again):
    term -> (papers that say it, papers read). None while there are fewer than
    KEYWORD_COMMON_PAPERS_LEAST papers."""
    texts = paper_texts_newest(limit=KEYWORD_COMMON_PAPERS) if terms else []
    if len(texts) < KEYWORD_COMMON_PAPERS_LEAST:
        return {}
    said = {term: sum(keyword_said(term, title, abstract) for title, abstract in texts) for term in terms}
    return {term: (n, len(texts)) for term, n in said.items() if n >= KEYWORD_COMMON_SHARE * len(texts)}


def keyword_wordless(term: str) -> bool:
    """Whether a reader's term holds no word the matcher reads ("∑", "→", "--"): it is
    in no paper, so as a keyword it finds nothing and left out it leaves out nothing."""
    return not _TOKEN_RE.findall(term)


def reader_terms(value: str) -> tuple[str, ...]:
    """A reader's keywords or left-out terms as ranking reads them: keywords_split
    without the terms of stop words alone, which the preference form refuses
    (keyword_stop_words_only) and which a reader may have saved before it did: "of"
    left out would leave out every paper, and the digest would be empty for good."""
    return tuple(term for term in keywords_split(value) if not keyword_stop_words_only(term))


@lru_cache(maxsize=4096)
def _keywords_matcher(keywords: tuple[str, ...]) -> TopicMatcher:
    """A reader's own keywords compiled once per process: many readers share a set,
    and compiling stems every keyword (relevance.topic_match would, per paper)."""
    return TopicMatcher(list(keywords))


def keyword_said(keyword: str, title: str, abstract: str) -> bool:
    """Whether one keyword (or excluded term) occurs in a paper at all, matched as a
    topic's keywords are."""
    return _keywords_matcher((keyword,)).match(title=title, abstract=abstract).score > 0


@lru_cache(maxsize=65_536)
def keyword_present(keyword: str, title: str, abstract: str) -> bool:
    """keyword_said, cached for ranking: readers share terms, a day's texts are a few
    hundred, and most of a reader's keywords are in none of them."""
    return keyword_said(keyword, title, abstract)


@lru_cache(maxsize=16_384)
def keywords_match(keywords: tuple[str, ...], title: str, abstract: str) -> Match:
    """relevance.topic_match of a reader's own keywords on one paper that mentions at
    least one of them (ranking.RankingData.papers_mentioning): the costly part of
    ranking a reader with keywords (bench/ranking.py)."""
    return _keywords_matcher(keywords).match(title=title, abstract=abstract)
