"""Reader feedback: "more like this" / "less like this" beside each paper of the
digest, and what the ranking learned from it.

A feedback link carries, signed with its own salt (django.core.signing, HMAC keyed
with SECRET_KEY): the subscriber id, a fingerprint of their secret
`Subscriber.token`, the paper id and the vote. So a link works only for the reader
it was made for, cannot be edited into another paper, vote or reader, and dies
when the reader's token is re-issued (which revokes all their links). The
fingerprint, not the token, goes in the link: signed values are readable, and the
token itself opens the preference centre.

Votes are Feedback rows, one per (reader, paper): voting again replaces the vote.
Where the ESP reports clicks, opening a paper from the digest records a milder
"more like this" (`feedback_click_record`, called by newsletter/webhooks.py), which
a vote on the same paper replaces.
newsletter/ranking.py reads them on every ranking (papers close to a liked paper
come forward, papers close to a disliked one are held back), so deleting them
(`feedback_reset`) resets what was learned."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from subscribers.models import Subscriber
from subscribers.tokens import signer, token_url

from .models import Feedback, Paper
from .preferences import FEEDBACK_VOTES_USED, subscriber_learned_preferences
from .selectors import PAPER_VISIBLE

_FEEDBACK_SALT = "newsletter.feedback"
_FINGERPRINT_SALT = "newsletter.subscriber-fingerprint"


def subscriber_fingerprint(*, subscriber: Subscriber) -> str:
    """A short keyed digest of the reader's secret token: proves a link was made for
    them without putting the token in it. Shared with the "view in browser" link."""
    return salted_hmac(_FINGERPRINT_SALT, subscriber.token).hexdigest()[:16]


def feedback_token(*, subscriber: Subscriber, paper: Paper, vote: int, fingerprint: str | None = None) -> str:
    """"<reader id>.<fingerprint>.<paper id>.<vote>:<signature>". `fingerprint`:
    subscriber_fingerprint(subscriber), when the caller has it (a digest makes ~16
    links for one reader). A plain signed string, not signing.dumps' JSON + base64 +
    timestamp: a third of the cost per link (profiled: docs/benchmarks.md), and no
    expiry was wanted."""
    if vote not in (Feedback.Vote.MORE, Feedback.Vote.LESS):
        raise ValueError(f"vote must be 1 or -1, got {vote!r}")
    fingerprint = fingerprint or subscriber_fingerprint(subscriber=subscriber)
    return signer(_FEEDBACK_SALT).sign(f"{subscriber.pk}.{fingerprint}.{paper.pk}.{int(vote)}")


def _feedback_token_read(token: str) -> tuple[int, str, int, int] | None:
    """(reader id, fingerprint, paper id, vote) of a valid link, else None. Links
    mailed before the compact format (signing.dumps of the same four values) still
    work."""
    try:
        value = signer(_FEEDBACK_SALT).unsign(token)
        subscriber_id, fingerprint, paper_id, vote = value.split(".")
        return int(subscriber_id), fingerprint, int(paper_id), int(vote)
    except signing.BadSignature:
        return None
    except ValueError:
        pass  # a validly signed value of the older format
    try:
        subscriber_id, fingerprint, paper_id, vote = signer(_FEEDBACK_SALT, timestamped=True).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return subscriber_id, fingerprint, paper_id, vote


def feedback_url(*, subscriber: Subscriber, paper: Paper, vote: int, fingerprint: str | None = None) -> str:
    token = feedback_token(subscriber=subscriber, paper=paper, vote=vote, fingerprint=fingerprint)
    return token_url("newsletter_public:feedback", token)


@dataclass(frozen=True)
class FeedbackRequest:
    subscriber: Subscriber
    paper: Paper
    vote: int

    @property
    def is_less(self) -> bool:
        return self.vote == Feedback.Vote.LESS


def feedback_token_signed(token: str) -> bool:
    """Whether a feedback token is one we signed, unchanged, whether or not its
    reader and paper are still there (subscribers.links.link_invalid's `gone`)."""
    return _feedback_token_read(token) is not None


def feedback_request_from_token(*, token: str) -> FeedbackRequest | None:
    """What a feedback link asks for; None when it is tampered with, made for
    another purpose, revoked, or names a reader that no longer exists or a paper
    readers may no longer see (deleted, or taken down: PAPER_VISIBLE). A paper an
    editor hid or its authors withdrew is gone for this link as it is for the
    reader's web copy of the digest (archive.delivery_papers): the link's page
    showed its title and authors, and a vote on it would name it again in the
    preference centre and in the next digests' why lines."""
    read = _feedback_token_read(token)
    if read is None:
        return None
    subscriber_id, fingerprint, paper_id, vote = read
    if vote not in (Feedback.Vote.MORE, Feedback.Vote.LESS):
        return None
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or not constant_time_compare(
        fingerprint, subscriber_fingerprint(subscriber=subscriber)
    ):
        return None
    paper = Paper.objects.filter(PAPER_VISIBLE, pk=paper_id).first()
    if paper is None:
        return None
    return FeedbackRequest(subscriber=subscriber, paper=paper, vote=vote)


def feedback_record(*, subscriber: Subscriber, paper: Paper, vote: int) -> Feedback:
    """Record a vote; a second vote on the same paper replaces the first (the
    reader changed their mind), never adds to it, and replaces a click. A vote that
    changes something counts from now (`created_at`: the newest FEEDBACK_VOTES_USED
    are the ones that move the ranking, and the panel lists them newest first); the
    same vote again changes nothing. The row is had first, then replaced: replaced
    first, a vote that found no row yet, while a click or the other vote on the
    paper was being recorded, took that row as it was and was lost."""
    feedback, created = Feedback.objects.get_or_create(
        subscriber=subscriber, paper=paper, defaults={"vote": vote, "source": Feedback.Source.VOTE}
    )
    if not created and (feedback.vote, feedback.source) != (vote, Feedback.Source.VOTE):
        now = timezone.now()
        Feedback.objects.filter(pk=feedback.pk).exclude(vote=vote, source=Feedback.Source.VOTE).update(
            vote=vote, source=Feedback.Source.VOTE, created_at=now)
        feedback.vote, feedback.source, feedback.created_at = vote, Feedback.Source.VOTE, now
    return feedback


def feedback_click_record(*, subscriber: Subscriber, paper: Paper) -> Feedback:
    """The reader opened `paper` from their digest (the ESP reported the click): a
    milder "more like this" (preferences.CLICK_WEIGHT). A vote on the paper, "more"
    or "less", says more and is kept as it is; clicking again changes nothing."""
    feedback, _ = Feedback.objects.get_or_create(
        subscriber=subscriber, paper=paper,
        defaults={"vote": Feedback.Vote.MORE, "source": Feedback.Source.CLICK},
    )
    return feedback


def feedback_clicks_forget(*, subscriber: Subscriber, paper_ids: list[int], since: dt.datetime) -> int:
    """Take back the clicks recorded for `subscriber` on these papers since `since`
    (clicks a mail scanner made, found out once its burst is seen:
    newsletter/webhooks.py, _click_by_a_person); votes stay. How many."""
    deleted, _ = Feedback.objects.filter(
        subscriber=subscriber, paper_id__in=paper_ids, source=Feedback.Source.CLICK, created_at__gte=since,
    ).delete()
    return deleted


def feedback_vote_current(*, subscriber: Subscriber, paper: Paper) -> int | None:
    """The reader's vote on a paper, if any. Opening the paper from the digest (a
    click, feedback_click_record) is no vote: the "More like this" link of a paper
    opened first said "Thanks, noted" and offered no button, and the vote was never
    cast (the panel kept it under "you opened them", at half a vote's weight)."""
    return (
        Feedback.objects.filter(subscriber=subscriber, paper=paper, source=Feedback.Source.VOTE)
        .values_list("vote", flat=True)
        .first()
    )


def feedback_reset(*, subscriber: Subscriber) -> int:
    """Forget everything the reader taught the ranking; return how many votes went."""
    deleted, _ = Feedback.objects.filter(subscriber=subscriber).delete()
    return deleted


def feedback_summary(*, subscriber: Subscriber) -> dict:
    """What the preference centre shows (templates/newsletter/_learned_preferences.html):
    which papers' neighbours come forward or are held back (`groups`: each voted or
    opened paper once, under what it does, newest first), and how many votes count."""
    learned = subscriber_learned_preferences(subscriber=subscriber)
    used = min(learned["votes"] + learned["clicks"], FEEDBACK_VOTES_USED)
    # Each paper once, under what it does to the ranking, newest first.
    # Each group says what it does, in words: the panel had one paragraph for all,
    # naming opened papers to readers who had opened none.
    groups = [(label, kind, learned[key], effect) for label, kind, key, effect in (
        ("More like", "more", "more_like", "Papers close to these come first in your digests."),
        ("A little more like (you opened them)", "more", "opened",
         "Papers close to these come a little earlier."),
        ("Less like", "less", "less_like",
         "These never come back, and papers close to them come later (they are not left out)."),
    ) if learned[key]]
    return {**learned, "groups": groups, "used": used,
            "beyond": learned["votes"] + learned["clicks"] - used}
