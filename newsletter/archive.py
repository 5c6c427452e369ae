"""The web archive: reads for the public edition pages and the
Atom feeds, and the signed "view in browser" link of one reader's digest.

An edition is public once it is frozen, i.e. once its first digest went out
(newsletter/editions.py): from then on its page shows what readers got. Before
that it may still change, or be on hold, so only staff see it (as a preview).
Papers an editor hid since are left out: "hidden" means never shown."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.db.models import Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils.crypto import constant_time_compare

from subscribers.models import Subscriber
from subscribers.tokens import signer, token_url

from .feedback import subscriber_fingerprint
from .models import Delivery, Edition, EditionNote, EditionPaper, Paper, Topic
from .ranking import reason_says_editors_pick, week_first_day
from .relevance import RELEVANCE_THRESHOLD
from .selectors import PAPER_VISIBLE, paper_visible_q, topic_rows_prefetch

# Papers in each Atom feed: a month of a topic, or a few days of everything.
FEED_ITEMS = 50
# Titles shown per edition on the list of past editions.
EDITION_LIST_PREVIEW = 3
_DELIVERY_VIEW_SALT = "newsletter.delivery-view"

EDITION_PUBLISHED = Q(frozen_at__isnull=False)
_ENTRY_VISIBLE = paper_visible_q("paper__")


def edition_list_published() -> QuerySet[Edition]:
    """Past editions, newest first, with their paper count and first titles
    (`preview_entries`): two queries whatever the page size."""
    preview = (
        EditionPaper.objects.filter(_ENTRY_VISIBLE)
        .select_related("paper")
        .only("edition_id", "position", "paper__id", "paper__title")
        .order_by("position")[:EDITION_LIST_PREVIEW]
    )
    return (
        Edition.objects.filter(EDITION_PUBLISHED)
        # Counted as the page shows them (edition_papers: hidden and withdrawn left out).
        .annotate(paper_count=Count("entries", filter=paper_visible_q("entries__paper__")))
        .prefetch_related(Prefetch("entries", queryset=preview, to_attr="preview_entries"))
        .order_by("-date")
    )


def edition_get(*, date: dt.date, include_unpublished: bool = False) -> Edition | None:
    editions = Edition.objects.all() if include_unpublished else Edition.objects.filter(EDITION_PUBLISHED)
    return editions.filter(date=date).first()


def edition_papers(*, edition: Edition) -> list[Paper]:
    """The edition's visible papers in its order, with topic chips: two queries. A
    frozen edition's papers are editors' picks (`pinned`) as it was sent with them
    (EditionPaper.pinned), not as they are now; one not sent yet (a staff preview)
    shows the pins as they stand, which it will be sent with."""
    papers = list(
        Paper.objects.filter(PAPER_VISIBLE, edition_entries__edition=edition)
        .annotate(pinned_in_edition=F("edition_entries__pinned"))
        .order_by("edition_entries__position")
        .prefetch_related(topic_rows_prefetch())
    )
    if edition.frozen_at is not None:
        for paper in papers:
            paper.pinned = paper.pinned_in_edition  # shown, never saved
    return papers


def edition_dates_around(*, edition: Edition) -> tuple[dt.date | None, dt.date | None]:
    published = Edition.objects.filter(EDITION_PUBLISHED)
    before = published.filter(date__lt=edition.date).order_by("-date").values_list("date", flat=True)
    after = published.filter(date__gt=edition.date).order_by("date").values_list("date", flat=True)
    return before.first(), after.first()


def topic_list_with_feeds() -> list[Topic]:
    """The active topics, in the editors' order: each has an Atom feed
    (/feeds/topics/<slug>.atom), linked from the archive page."""
    return list(Topic.objects.filter(is_active=True))


def paper_list_for_feed(*, topic=None) -> QuerySet[Paper]:
    """Newest visible papers for an Atom feed, optionally those relevant to a topic
    (a score past RELEVANCE_THRESHOLD, as in the digest; served by
    papertopic_topic_score_idx), with their topic rows for their chips (the site's
    topic_rows_prefetch: the entry's categories are the card's chips)."""
    papers = Paper.objects.filter(PAPER_VISIBLE)
    if topic is not None:
        papers = papers.filter(
            topic_scores__topic=topic, topic_scores__score__gte=RELEVANCE_THRESHOLD
        )
    return papers.order_by("-trending_date", "-pinned", "-upvotes", "id").prefetch_related(
        topic_rows_prefetch())[:FEED_ITEMS]


# --- "View in browser": one reader's digest -------------------------------------------


def delivery_view_token(*, delivery: Delivery) -> str:
    payload = [delivery.pk, subscriber_fingerprint(subscriber=delivery.subscriber)]
    return signer(_DELIVERY_VIEW_SALT, timestamped=True).sign_object(payload)


def delivery_view_url(*, delivery: Delivery) -> str:
    """The personal "view in browser" link of a digest. Signed with its own salt and
    bound to the reader's token (re-issuing the token revokes it), like the other
    links in their email (newsletter/feedback.py)."""
    return token_url("newsletter_public:delivery_view", delivery_view_token(delivery=delivery))


def _delivery_token_read(token: str) -> tuple[int, str] | None:
    try:
        delivery_id, fingerprint = signer(_DELIVERY_VIEW_SALT, timestamped=True).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return delivery_id, fingerprint


def delivery_token_signed(token: str) -> bool:
    """Whether a view-in-browser token is one we signed, unchanged, whether or not
    its delivery is still there (subscribers.links.link_invalid's `gone`)."""
    return _delivery_token_read(token) is not None


def delivery_token_past_ledger(token: str) -> bool:
    """Whether a view-in-browser token we signed is older than the ledger keeps a
    digest's row (LEDGER_KEPT_DAYS after its edition's date; the token is signed when
    the digest is sent, on or after that date): the retention deleted the row it
    opened (newsletter/retention.py). Read from the token alone, whether or not its
    reader is still on the list."""
    if not settings.LEDGER_KEPT_DAYS:
        return False
    try:
        signer(_DELIVERY_VIEW_SALT, timestamped=True).unsign_object(
            token, max_age=dt.timedelta(days=settings.LEDGER_KEPT_DAYS))
    except signing.SignatureExpired:
        return True
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return False


def delivery_from_token(*, token: str) -> Delivery | None:
    read = _delivery_token_read(token)
    if read is None:
        return None
    delivery_id, fingerprint = read
    delivery = (
        Delivery.objects.select_related("subscriber", "edition").filter(pk=delivery_id).first()
    )
    if delivery is None or not constant_time_compare(
        str(fingerprint), subscriber_fingerprint(subscriber=delivery.subscriber)
    ):
        return None
    return delivery


def delivery_weekly(*, delivery: Delivery) -> bool:
    """Whether a digest went out as the reader's weekly one (Delivery.weekly); a row
    sent before that was kept: whether the reader gets the weekly digest now."""
    if delivery.weekly is not None:
        return delivery.weekly
    return delivery.subscriber.frequency == Subscriber.Frequency.WEEKLY


def delivery_papers(*, delivery: Delivery) -> list[Paper]:
    """The papers the reader got, in the order they got them (Delivery.paper_ids),
    each with the topics their email showed beside it as its chips (`chip_names`,
    from Delivery.chips: the reader's own, not the site's). A row sent before the
    chips were kept shows each paper's topics on the site (one more query).

    Each is an editors' pick (`pinned`) as the email said: a pick's kept "why" line
    says so (Delivery.reasons); a paper with none (also trending, a row sent before
    they were kept) is one if its sent edition had it pinned (EditionPaper.pinned:
    the week's editions, for a weekly digest), or, in no sent edition, if it is now.
    Only those editions: a paper trending two days may be pinned in the other one."""
    ids = [int(i) for i in delivery.paper_ids or []]
    kept = len(delivery.chips or []) == len(ids)
    date = delivery.edition.date
    # The editions its papers came from (ranking.digest_candidates): its own, or the week's.
    sent_in = (Q(edition__date__range=(week_first_day(date), date)) if delivery_weekly(delivery=delivery)
               else Q(edition_id=delivery.edition_id))
    papers = Paper.objects.filter(PAPER_VISIBLE, id__in=ids).annotate(
        pinned_when_sent=Subquery(
            EditionPaper.objects.filter(sent_in, paper_id=OuterRef("pk"), edition__frozen_at__isnull=False)
            .order_by("-pinned").values("pinned")[:1]))
    by_id = (papers if kept else papers.prefetch_related(topic_rows_prefetch())).in_bulk()
    if kept:
        for paper_id, names in zip(ids, delivery.chips, strict=True):
            if paper_id in by_id:
                by_id[paper_id].chip_names = list(names)
    why = dict(zip(ids, delivery.reasons or [], strict=False))
    for paper_id, paper in by_id.items():
        # Shown, never saved.
        if paper_id in why:
            paper.pinned = reason_says_editors_pick(why[paper_id])
        elif paper.pinned_when_sent is not None:
            paper.pinned = paper.pinned_when_sent
    return [by_id[i] for i in ids if i in by_id]


def delivery_offered_closest(*, delivery: Delivery) -> bool:
    """Whether a digest sent on a day nothing matched the reader (Delivery.picked 0)
    offered the papers closest to their topics, not the day's trending ones: its
    row keeps what it said beside each ("closest to Agents", digest.Digest.reasons).
    A row sent before those were kept: closest when no offered paper had a chip (a
    closest paper never has one, Digest.chips; a trending one shows its topics)."""
    if delivery.reasons:
        return True
    return not any(delivery.chips or [])


def delivery_note(*, delivery: Delivery) -> str:
    """The editor's note the reader's email had: the edition's note as it stood when
    the email went out (EditionNote, a row per change made through
    curation.edition_note_set), not as it stands now; none if it was written after.
    An edition with no kept change (its note set some other way) has its note."""
    moment = delivery.sent_at or delivery.claimed_at or delivery.created_at
    versions = list(EditionNote.objects.filter(edition_id=delivery.edition_id)
                    .order_by("-set_at").values_list("set_at", "note"))
    if not versions:
        return delivery.edition.note
    return next((note for set_at, note in versions if set_at <= moment), "")
