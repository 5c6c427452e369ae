"""Scoring papers against topics (being written: helper B replaces this file)."""

from collections.abc import Iterable

from .models import Paper


def papers_score(*, papers: Iterable[Paper]) -> None:
    """Compute PaperTopic rows for these papers against every active topic,
    leaving editor rows alone."""
    return None
