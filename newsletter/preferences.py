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
from .selectors import paper_visible_q

# LearnedPreferences.adjustments: a vote reaches the papers whose cosine to the
# voted paper, once what every AI paper shares is taken out (ranking.RankingData.vector),
# is above MORE_NEAR or LESS_NEAR, with a weight rising
# linearly to 1 for the same text: "more like this" reaches the sub-field, "less
# like this" only the papers very close to the one voted on. A "more" adds up to
# MORE_STEP to relevance, so a close paper can pass the threshold; a "less" takes up
# to LESS_STEP from the ordering score only: close papers come later, none leaves
# the digest for it. Both sums are clamped, so no number of votes buries (or
# floods) a topic.
# On the tuning days' labelled papers (embeddings.py's vectors of both models), two
# papers of one topic are at a median 0.45 and those of different topics at 0.28:
# MORE_NEAR is above seven eighths of same-topic pairs, LESS_NEAR above all but an
# eighth of different-topic pairs (the quantiles 0.15 and 0.3 were of WordLlama's
# vectors alone: medians 0.30 and 0.16; docs/relevance.md).
MORE_NEAR = 0.34
LESS_NEAR = 0.39
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


@dataclass(frozen=True)
class Adjustments:
    """What a reader's votes do to each of a list of papers (one row of the vectors
    LearnedPreferences.adjustments was given per paper): `boost[i]` raises paper i's
    relevance, `drop[i]` lowers its ordering score, and `reason(i)` says in words
    which liked or opened paper raised it most (None when none did)."""

    boost: list[float]
    drop: list[float]
    _raised_by: list[int]  # per paper, the index of that liked paper, or -1
    _reasons: tuple[str, ...]

    def reason(self, i: int) -> str | None:
        liked = self._raised_by[i]
        return self._reasons[liked] if liked >= 0 else None


@dataclass
class LearnedPreferences:
    """A reader's votes as vectors: liked papers (id, title, vector, weight: 1 for a
    vote, CLICK_WEIGHT for a click) and disliked ones (id, title, vector)."""

    liked: list[tuple[int, str, np.ndarray, float]]
    disliked: list[tuple[int, str, np.ndarray]]

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)

    def adjustments(self, vectors: np.ndarray) -> Adjustments:
        """For each row of `vectors` (papers' unit vectors as ranking.RankingData
        gives them; a zero row for a paper without one, which nothing moves): the
        boost of relevance, the drop of the ordering score, and the liked or opened
        paper that raised it most. One matrix product per kind of vote for all the
        papers: per paper and vote in Python, this was most of what a reader with
        feedback cost (bench/ranking.py). The product is small; it is fast only
        with the BLAS library on one thread (config/__init__.py says why)."""
        count = len(vectors)
        boost = raised_by = drop = None
        reasons: tuple[str, ...] = ()
        if self.liked:
            strength = np.array([s for *_, s in self.liked])
            weight = strength * _nearness(vectors @ np.stack([v for _, _, v, _ in self.liked]).T, MORE_NEAR)
            boost = np.minimum(FEEDBACK_MAX_BOOST, MORE_STEP * weight.sum(axis=1))
            # The first liked paper of the strongest weight, and only a weight above 0.
            strongest = weight.argmax(axis=1)
            raised_by = np.where(weight[np.arange(count), strongest] > 0, strongest, -1)
            reasons = tuple(
                f"close to “{_title_short(title)}”, which you {'liked' if s >= 1 else 'opened'}"
                for _, title, _, s in self.liked
            )
        if self.disliked:
            near = _nearness(vectors @ np.stack([v for _, _, v in self.disliked]).T, LESS_NEAR)
            drop = np.minimum(FEEDBACK_MAX_DROP, LESS_STEP * near.sum(axis=1))
        return Adjustments(
            boost=[0.0] * count if boost is None else boost.tolist(),
            drop=[0.0] * count if drop is None else drop.tolist(),
            _raised_by=[-1] * count if raised_by is None else raised_by.tolist(), _reasons=reasons,
        )


# A liked paper's title in a "why" line is cut after this many characters.
REASON_TITLE_CHARS = 60


def _title_short(title: str) -> str:
    return title if len(title) <= REASON_TITLE_CHARS else title[: REASON_TITLE_CHARS - 1].rstrip() + "…"


def _nearness(cosines: np.ndarray, near: float) -> np.ndarray:
    """0 below `near` cosine, rising linearly to 1 for the same text."""
    return np.maximum(0.0, (cosines.astype(np.float64) - near) / (1 - near))


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
        # As the ranking reads them (ranking_data_load): a paper taken down since teaches nothing.
        Feedback.objects.filter(paper_visible_q("paper__"), subscriber=subscriber)
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
