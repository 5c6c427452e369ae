"""What a reader's feedback teaches their ranking: "more like this" and "less like
this" as vectors over the papers' stored embeddings (newsletter/ranking.py applies
it; newsletter/feedback.py records the votes and shows what was learned). Where
the ESP reports clicks (newsletter/webhooks.py), opening a paper from the digest
counts as a milder "more like this" (CLICK_WEIGHT), bounded and local like a vote.

Learning is local: a "more" vote raises papers whose text is close to the voted
paper, a "less" holds them back (and the voted paper never comes back); a paper far
from every voted one is not moved, so one vote never demotes a whole topic. It is
derived from Feedback rows each time (never stored), so deleting the rows resets it
and nothing can drift out of sync."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .models import Feedback

# LearnedPreferences.adjustment: a vote reaches the papers whose cosine to the
# voted paper, once what every AI paper shares is taken out (ranking.RankingData.vector),
# is above MORE_NEAR or LESS_NEAR (on the tuning days, two papers of one topic are
# at a median 0.1-0.25, of different topics rarely above 0.3), with a weight rising
# linearly to 1 for the same text: "more like this" reaches the sub-field, "less
# like this" only the papers very close to the one voted on. A "more" adds up to
# MORE_STEP to relevance, so a close paper can pass the threshold; a "less" takes up
# to LESS_STEP from the ordering score only: close papers come later, none leaves
# the digest for it. Both sums are clamped, so no number of votes buries (or
# floods) a topic.
MORE_NEAR = 0.15
LESS_NEAR = 0.3
MORE_STEP = 0.5
LESS_STEP = 0.2
FEEDBACK_MAX_BOOST = 0.5
FEEDBACK_MAX_DROP = 0.2
# Only the newest votes count: a reader's taste moves, and it bounds the work.
FEEDBACK_VOTES_USED = 50
# A click on a paper's link in the digest is half a "more like this": opening a
# paper says the reader was curious, not that they want more of it; two clicks on
# close papers weigh what one vote does. The same clamps bound it.
CLICK_WEIGHT = 0.5


def signal_weight(*, vote: int, source: str) -> float:
    """What one Feedback row weighs for ranking: +1 "more", -1 "less", CLICK_WEIGHT
    for a click (always positive: a click is never read as "less")."""
    return CLICK_WEIGHT if source == Feedback.Source.CLICK else float(vote)


@dataclass
class LearnedPreferences:
    """A reader's votes as vectors: liked papers (id, title, vector, weight: 1 for a
    vote, CLICK_WEIGHT for a click) and disliked ones (id, title, vector)."""

    liked: list[tuple[int, str, np.ndarray, float]]
    disliked: list[tuple[int, str, np.ndarray]]

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)

    def adjustment(self, vector: np.ndarray | None) -> tuple[float, float, str | None]:
        """(boost of relevance, drop of the ordering score, and when it was raised, the
        reason in words: close to the liked or opened paper that raised it most)."""
        if vector is None:
            return 0.0, 0.0, None
        boost, best, reason = 0.0, 0.0, None
        for _, title, liked, strength in self.liked:
            weight = strength * _nearness(vector, liked, MORE_NEAR)
            boost += MORE_STEP * weight
            if weight > best:
                best = weight
                reason = f"close to “{_title_short(title)}”, which you {'liked' if strength >= 1 else 'opened'}"
        drop = sum(LESS_STEP * _nearness(vector, disliked, LESS_NEAR) for _, _, disliked in self.disliked)
        return min(FEEDBACK_MAX_BOOST, boost), min(FEEDBACK_MAX_DROP, drop), reason


# A liked paper's title in a "why" line is cut after this many characters.
REASON_TITLE_CHARS = 60


def _title_short(title: str) -> str:
    return title if len(title) <= REASON_TITLE_CHARS else title[: REASON_TITLE_CHARS - 1].rstrip() + "…"


def _nearness(a: np.ndarray, b: np.ndarray, near: float) -> float:
    """0 below `near` cosine, rising linearly to 1 for the same text."""
    return max(0.0, (float(a @ b) - near) / (1 - near))


def preferences_learn(
    *, votes: Iterable[tuple[int, float]], vector_of: Callable[[int], np.ndarray | None],
    title_of: Callable[[int], str],
) -> LearnedPreferences:
    """The reader's newest FEEDBACK_VOTES_USED votes [(paper id, signal_weight)],
    newest first, with the voted papers' vectors (a paper without one, not embedded
    yet, teaches nothing)."""
    liked, disliked = [], []
    for paper_id, weight in list(votes)[:FEEDBACK_VOTES_USED]:
        vector = vector_of(paper_id)
        if vector is None:
            continue
        if weight > 0:
            liked.append((paper_id, title_of(paper_id), vector, weight))
        else:
            disliked.append((paper_id, title_of(paper_id), vector))
    return LearnedPreferences(liked=liked, disliked=disliked)


def subscriber_learned_preferences(*, subscriber) -> dict:
    """What feedback taught the ranking about one reader, in words for the
    preference centre: {"votes": n, "clicks": n, "more_like": [titles],
    "less_like": [titles], "opened": [titles]} (the papers whose neighbours come
    forward, a little for the ones opened, or are held back; newest first).
    Resetting it means deleting their Feedback rows."""
    rows = list(
        Feedback.objects.filter(subscriber=subscriber)
        .order_by("-created_at", "-id")
        .values_list("paper__title", "vote", "source")
    )
    used = rows[:FEEDBACK_VOTES_USED]
    click = Feedback.Source.CLICK
    return {
        "votes": sum(source != click for _, _, source in rows),
        "clicks": sum(source == click for _, _, source in rows),
        "more_like": [title for title, vote, source in used if vote > 0 and source != click],
        "less_like": [title for title, vote, source in used if vote < 0],
        "opened": [title for title, _, source in used if source == click],
    }
