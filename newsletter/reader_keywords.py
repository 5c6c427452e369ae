"""A reader's own keywords and exclusions, matched against papers for ranking
(newsletter/ranking.py). Everything here is cached per process: readers share
keyword sets and exclusion terms, and a day's texts are a few hundred, so a term is
matched against a text once, not once per reader."""

from __future__ import annotations

import re
from functools import lru_cache

from .relevance import Match, TopicMatcher


def keywords_split(value: str) -> list[str]:
    return [k.strip() for k in re.split(r"[,\n]", value or "") if k.strip()]


@lru_cache(maxsize=4096)
def _keywords_matcher(keywords: tuple[str, ...]) -> TopicMatcher:
    """A reader's own keywords compiled once per process: many readers share a set,
    and compiling stems every keyword (relevance.topic_match would, per paper)."""
    return TopicMatcher(list(keywords))


@lru_cache(maxsize=65_536)
def keyword_present(keyword: str, title: str, abstract: str) -> bool:
    """Whether one keyword (or excluded term) occurs in a paper at all, matched as a
    topic's keywords are: most of a reader's keywords are in none of a day's papers."""
    return _keywords_matcher((keyword,)).match(title=title, abstract=abstract).score > 0


@lru_cache(maxsize=16_384)
def keywords_match(keywords: tuple[str, ...], title: str, abstract: str) -> Match:
    """relevance.topic_match of a reader's own keywords on one paper that mentions at
    least one of them (ranking.RankingData.papers_mentioning): the costly part of
    ranking a reader with keywords (bench/ranking.py)."""
    return _keywords_matcher(keywords).match(title=title, abstract=abstract)
