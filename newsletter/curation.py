"""What editors do in the admin, as services (STYLE.md: admin actions and views only
parse input and call one of these).

Everything that sends goes through the ledger of newsletter/delivery.py: "send now"
and "retry failed" write or reset `Delivery` rows and queue them with the
dispatcher's one queueing function, so claiming (pending -> sending) still decides
who sends, and nothing goes out twice. Previews and test sends make the digest
with the function the batch send uses (newsletter/digest.py, digest_make), so an
editor sees what a reader gets."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from anymail.exceptions import AnymailError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.template.defaultfilters import floatformat
from django.utils import formats, timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

from mail.building import message_send
from subscribers.addresses import error_describe_masked
from subscribers.models import ConsentRecord, Subscriber
from subscribers.suppression import KEPT_FROM_EDITORS, suppressions_of

from . import digest
from .delivery import deliveries_queue, edition_send
from .due import subscribers_due
from .editions import LATE_WITHIN_DAYS, edition_assemble, note_links_misleading
from .ingest import ImportResult
from .models import (
    NOTE_MAX_CHARS,
    Delivery,
    DeliveryEvent,
    Edition,
    EditionNote,
    EditionPaper,
    EditionTally,
    Feedback,
    Paper,
    PaperTopic,
    Topic,
    keyword_lines,
)
from .page_cache import pages_changed
from .ranking import ranking_data_load
from .selectors import PAPER_VISIBLE, edition_dates_recent, paper_date_newest
from .tallies import edition_tallies_stale

# How far back the topic preview looks: "which papers of the last seven days would match".
TOPIC_PREVIEW_DAYS = 7
# "Unsubscribed after it" counts unsubscribes this long after the edition was sent:
# long enough to catch the reader who opens it the next evening, short enough that
# the next editions do not get blamed on this one.
UNSUBSCRIBE_WINDOW = dt.timedelta(days=2)
# An ESP's clock may run behind ours: an edition's events are looked for from this
# long before it went out (edition_figures).
EVENT_CLOCK_MARGIN = dt.timedelta(hours=1)
TEST_SUBJECT_PREFIX = "[Test] "


class CurationError(Exception):
    """An editor asked for something the edition's state does not allow."""


# --- Papers ---------------------------------------------------------------------------


def _editions_refresh(*, dates: Iterable[dt.date]) -> None:
    """Re-assemble the editions that may hold papers of these dates (frozen ones stay
    as sent), so a pin or hide shows in the edition at once, not at the next
    dispatcher tick: the date's own, and the next ones within LATE_WITHIN_DAYS,
    which take a sent edition's late papers (editions._late_papers_q)."""
    near = Q()
    for date in set(dates):
        near |= Q(date__range=(date, date + dt.timedelta(days=LATE_WITHIN_DAYS)))
    existing = set(Edition.objects.filter(near).values_list("date", flat=True)) if near else set()
    for date in sorted(existing):
        edition_assemble(date=date)


def papers_flag_set(*, papers: Iterable[Paper], pinned: bool | None = None,
                    hidden: bool | None = None) -> int:
    """Pin/unpin or hide/show papers; return how many changed (a paper hidden
    already is not counted again: "Hid 40 papers" said so of 40 hidden before)."""
    ids = [p.pk for p in papers]
    changes = {k: v for k, v in {"pinned": pinned, "hidden": hidden}.items() if v is not None}
    if not ids or not changes:
        return 0
    differs = Q()
    for name, value in changes.items():
        differs |= Q(**{name: not value})
    with transaction.atomic():
        count = Paper.objects.filter(differs, pk__in=ids).update(**changes, updated_at=timezone.now())
        dates = set(Paper.objects.filter(pk__in=ids).values_list("trending_date", flat=True))
        _editions_refresh(dates=dates)
        pages_changed(dates=dates, papers=ids)
    return count


def papers_topic_set(*, papers: Iterable[Paper], topic: Topic, assigned: bool) -> int:
    """Give papers a topic (or take it away) as an editor's decision, which
    re-scoring never overwrites (newsletter/services.py, paper_topic_set)."""
    from .services import paper_topic_set

    count = 0
    for paper in papers:
        paper_topic_set(paper=paper, topic=topic, assigned=assigned)
        count += 1
    return count


@dataclass(frozen=True)
class PastedPapers:
    """What pasting the API's JSON did: the papers it touched, the importer's counts,
    and the papers whose day is not the date given (a paper's day is the first day it
    trended: `moved` went earlier to it, from the day in the pair; `kept` stayed on an
    earlier one)."""
    papers: list[Paper]
    result: ImportResult
    moved: list[tuple[Paper, dt.date]]
    kept: list[Paper]


def paper_import_entry(*, entry: dict | list, trending_date: dt.date) -> PastedPapers:
    """Add (or update) papers from entries pasted from the Daily Papers API, through
    the same importer as the daily fetch; an entry without an abstract is refused."""
    from .ingest import arxiv_id_bare, papers_import, title_normalise

    items = entry if isinstance(entry, list) else [entry]
    # The importer's own keys: the arXiv id, else the normalised title.
    ids, keys = [], []
    for item in items:
        paper = item.get("paper") if isinstance(item, dict) else None
        if isinstance(paper, dict) and isinstance(paper.get("id"), str) and paper["id"].strip():
            ids.append(arxiv_id_bare(paper["id"].strip()))
        elif isinstance(paper, dict) and isinstance(paper.get("title"), str):
            keys.append(title_normalise(paper["title"]))
    touched = Paper.objects.filter(Q(arxiv_id__in=ids) | Q(title_key__in=keys))
    days_before = dict(touched.values_list("pk", "trending_date"))
    result = papers_import(items=items, trending_date=trending_date, source="pasted in the admin",
                           require_abstract=True)
    papers = list(touched.order_by("title"))
    moved = [(p, days_before[p.pk]) for p in papers
             if p.pk in days_before and p.trending_date != days_before[p.pk]]
    kept = [p for p in papers if p.trending_date < trending_date and days_before.get(p.pk) == p.trending_date]
    return PastedPapers(papers=papers, result=result, moved=moved, kept=kept)


# --- Topics ---------------------------------------------------------------------------


# How far back the topic page's "Chip on" figure looks.
TOPIC_OVERLAP_DAYS = 30


@dataclass(frozen=True)
class TopicOverlap:
    """Of the papers of the last TOPIC_OVERLAP_DAYS days that pass for a topic, how
    many carry it as a chip (relevance.topics_about), and what the others are
    mainly about: a topic that passes for many papers without being their chip
    overlaps those topics, which its definition may want to say."""
    passing: int
    chips: int
    mainly: list[tuple[str, int]]  # (topic name, papers), most first


def topic_passing(*, topic: Topic, today: dt.date | None = None) -> QuerySet[PaperTopic]:
    """The rows of the papers of the last TOPIC_OVERLAP_DAYS days that pass for `topic`."""
    today = today or timezone.localdate()
    since = today - dt.timedelta(days=TOPIC_OVERLAP_DAYS - 1)
    return PaperTopic.objects.filter(topic=topic, score__gt=0, paper__trending_date__range=(since, today))


@dataclass(frozen=True)
class TopicChange:
    """What re-scoring a topic did to the papers of the last TOPIC_OVERLAP_DAYS days
    that pass for it: said after an editor saves its definition (they were told only
    "changed successfully", with the preview before the save as the only figure)."""
    before: int
    after: int
    came: list[str]  # titles, most upvoted first
    went: list[str]


def topic_change_measure(*, topic: Topic, before: set[int], today: dt.date | None = None) -> TopicChange:
    """`before`: the ids topic_passing held before the change."""
    after = set(topic_passing(topic=topic, today=today).values_list("paper_id", flat=True))

    def titles(ids: set[int]) -> list[str]:
        return list(Paper.objects.filter(pk__in=ids).order_by("-upvotes", "title").values_list("title", flat=True))

    return TopicChange(before=len(before), after=len(after), came=titles(after - before), went=titles(before - after))


def topic_overlap(*, topic: Topic, today: dt.date | None = None) -> TopicOverlap:
    from .relevance import topics_about

    passing = topic_passing(topic=topic, today=today)
    rows: dict[int, list[PaperTopic]] = {}
    for row in (PaperTopic.objects.filter(paper__in=passing.values("paper_id"), score__gt=0, topic__is_active=True)
                .select_related("topic").only("paper_id", "score", "source", "topic__name")
                .order_by("-score")):
        rows.setdefault(row.paper_id, []).append(row)
    chips, mainly = 0, Counter()
    for paper_rows in rows.values():
        about = topics_about(paper_rows, score=lambda r: r.score,
                             by_editor=lambda r: r.source == PaperTopic.Source.EDITOR)
        if any(r.topic_id == topic.pk for r in about):
            chips += 1
        elif about:
            mainly[about[0].topic.name] += 1
    return TopicOverlap(passing=len(rows), chips=chips, mainly=mainly.most_common())


@dataclass(frozen=True)
class TopicPreviewRow:
    paper: Paper
    old_score: float
    new_score: float
    terms: tuple[str, ...]
    editor_decided: bool
    near_examples: bool = False

    @property
    def reason(self) -> str:
        """Why it would match, in the digest's words: the keywords, or the closeness."""
        from .relevance import closeness_reason

        return ", ".join(self.terms) if self.terms else closeness_reason(near_examples=self.near_examples)

    @property
    def change(self) -> str:
        from .relevance import RELEVANCE_THRESHOLD

        was, now = self.old_score >= RELEVANCE_THRESHOLD, self.new_score >= RELEVANCE_THRESHOLD
        if self.editor_decided:
            return "kept (editor's choice)" if now else "kept out (editor's choice)"
        if was and not now:
            return "drops out"
        if now and not was:
            return "new match"
        # Said of the scores as the preview shows them (to the hundredth): 0.588 → 0.593
        # read "0.59, 0.59, higher".
        if self.new_shown == self.old_shown:
            return "unchanged"
        return "higher" if self.new_score > self.old_score else "lower"

    @property
    def old_shown(self) -> str:
        return floatformat(self.old_score, 2)

    @property
    def new_shown(self) -> str:
        return floatformat(self.new_score, 2)


def topic_preview(
    *, topic: Topic | None, keywords: str, name: str | None = None, description: str | None = None,
    is_broad: bool | None = None, today: dt.date | None = None,
) -> list[TopicPreviewRow]:
    """Which papers of the newest TOPIC_PREVIEW_DAYS days with papers would be in `topic` defined
    as typed (its keywords; its name, description and broad flag, None: as stored),
    and how their scores change (the hybrid score of relevance.py, as saving would
    compute it). Touches no topic or score: the editor has not saved. A definition
    with nothing in it (a new topic before anything is typed) matches nothing."""
    from .relevance import RELEVANCE_THRESHOLD, topic_preview_scores

    today = today or timezone.localdate()
    # The newest TOPIC_PREVIEW_DAYS days that have papers, not calendar days: on a
    # site whose newest papers are older (a holiday, the sample day of `make run`),
    # the preview said "no paper matches" whatever was typed.
    dates = edition_dates_recent(limit=TOPIC_PREVIEW_DAYS, until=today)
    since = dates[-1] if dates else today
    keyword_list = keyword_lines(keywords)
    draft = Topic(
        pk=topic.pk if topic else None,
        name=name if name is not None else (topic.name if topic else ""),
        description=description if description is not None else (topic.description if topic else ""),
        keywords="\n".join(keyword_list),
        is_broad=is_broad if is_broad is not None else (topic.is_broad if topic else False),
        exemplar_embedding=topic.exemplar_embedding if topic else None,
    )
    if not keyword_list and not (draft.name.strip() or draft.description.strip()):
        return []
    papers = list(
        Paper.objects.filter(PAPER_VISIBLE, trending_date__gte=since, trending_date__lte=today)
        .only("id", "title", "abstract", "ai_summary", "ai_keywords", "embedding", "trending_date",
              "upvotes", "arxiv_id")
        .order_by("-trending_date", "-upvotes")
    )
    current: dict[int, PaperTopic] = {}
    if topic is not None and topic.pk:
        current = {pt.paper_id: pt for pt in PaperTopic.objects.filter(topic=topic, paper__in=papers)}
    scores = topic_preview_scores(draft=draft, papers=papers)
    rows = []
    for paper in papers:
        match = scores[paper.id]
        row = current.get(paper.id)
        old = row.score if row else 0.0
        if match.score < RELEVANCE_THRESHOLD and old < RELEVANCE_THRESHOLD:
            continue
        editor_decided = bool(row and row.source == PaperTopic.Source.EDITOR)
        rows.append(TopicPreviewRow(
            # An editor's row outlives the save (re-scoring never overwrites it): a
            # paper they took the topic off stays off, one they gave it keeps it. The
            # preview showed the definition's score for both, so a paper taken off read
            # "Now 0.00, After 0.61" and counted as in the topic.
            paper=paper, old_score=old, new_score=old if editor_decided else round(match.score, 3),
            terms=match.terms, editor_decided=editor_decided, near_examples=match.near_examples,
        ))
    rows.sort(key=lambda r: (-r.new_score, -r.old_score))
    return rows


# --- Editions -------------------------------------------------------------------------


def edition_date_for_today(*, now: dt.datetime | None = None) -> dt.date | None:
    """The date of the edition an editor opens in the morning: today's (UTC, like
    the dispatcher) or, before today's papers are fetched, the newest date that has
    papers (the sample day in development). None when there are no papers at all."""
    now = now or timezone.now()
    return paper_date_newest(until=now.astimezone(dt.UTC).date()) or paper_date_newest()


def edition_for_today(*, now: dt.datetime | None = None) -> Edition | None:
    """The edition of edition_date_for_today, assembled; None when there are no
    papers at all: an empty edition is never made."""
    newest = edition_date_for_today(now=now)
    return edition_assemble(date=newest) if newest else None


def edition_reorder(*, edition: Edition, paper_ids: Sequence[int]) -> None:
    """Put the edition's papers in this order (ids not listed keep their relative
    order after the listed ones). A frozen edition is what readers got: refused."""
    with transaction.atomic():
        edition = Edition.objects.select_for_update().get(pk=edition.pk)
        if edition.frozen_at is not None:
            raise CurationError("This edition has gone out; its order is what readers got.")
        entries = list(edition.entries.order_by("position"))
        rank = {pid: i for i, pid in enumerate(paper_ids)}
        entries.sort(key=lambda e: (rank.get(e.paper_id, len(rank)), e.position))
        # Two steps so the (edition, position) unique constraint never sees a clash.
        offset = len(entries) + 1000
        for entry in entries:
            entry.position += offset
        EditionPaper.objects.bulk_update(entries, ["position"])
        for position, entry in enumerate(entries, start=1):
            entry.position = position
        EditionPaper.objects.bulk_update(entries, ["position"])
        if not edition.order_set_by_editor:
            edition.order_set_by_editor = True
            edition.save(update_fields=["order_set_by_editor", "updated_at"])


def edition_move(*, edition: Edition, paper_id: int, step: int) -> None:
    """Move one paper up (step -1) or down (step 1) in the edition."""
    order = list(edition.entries.order_by("position").values_list("paper_id", flat=True))
    if paper_id not in order:
        return
    i = order.index(paper_id)
    j = max(0, min(len(order) - 1, i + step))
    order[i], order[j] = order[j], order[i]
    edition_reorder(edition=edition, paper_ids=order)


def edition_note_set(*, edition: Edition, note: str) -> Edition:
    """The editor's note (Markdown) shown at the top of the edition's digests and
    on its page. Each change is kept (EditionNote): a reader's web copy shows the
    note their email had. Refused (CurationError) when a link's words name another
    site than its address (editions.note_links_misleading), or longer than
    NOTE_MAX_CHARS (the admin's form says so first: the field's max_length)."""
    if len(note) > NOTE_MAX_CHARS:
        raise CurationError(f"A note has at most {NOTE_MAX_CHARS:,} characters; this one has {len(note):,}.")
    if misleading := note_links_misleading(note):
        raise CurationError(" ".join(misleading))
    with transaction.atomic():
        if note != edition.note:
            if edition.note and not EditionNote.objects.filter(edition=edition).exists():
                # A note no change kept (set in a shell or by SQL) counts from the
                # edition's making, as newsletter 0022 counted those before versions
                # were kept: the digests sent with it kept showing it, not nothing.
                EditionNote.objects.create(edition=edition, note=edition.note, set_at=edition.created_at)
            EditionNote.objects.create(edition=edition, note=note, set_at=timezone.now())
        edition.note = note
        edition.save(update_fields=["note", "updated_at"])
    pages_changed(editions=[edition.date])
    return edition


def editions_delete(*, editions: QuerySet[Edition]) -> int:
    """Delete these editions (the admin: those no delivery points to any more, the
    ledger's rows protect the others); their pages, the list of editions and their
    neighbours' links stop showing them. Returns how many editions were deleted."""
    with transaction.atomic():
        dates = list(editions.values_list("date", flat=True))
        pages_changed(editions=dates, published=editions.filter(frozen_at__isnull=False).exists())
        deleted = editions.delete()[1].get(Edition._meta.label, 0)
    return deleted


def edition_hold(*, edition: Edition) -> bool:
    """Hold: nothing of this edition is sent until it is released. The dispatcher
    queues none of it, and a batch already queued or waiting to retry takes none of
    its rows (leases.deliveries_claim). Only the digests a worker has already taken
    in hand (a batch of at most delivery.BATCH_SIZE, being made and sent) go out."""
    return bool(Edition.objects.filter(pk=edition.pk, on_hold=False).update(
        on_hold=True, updated_at=timezone.now()))


def edition_release(*, edition: Edition, now: dt.datetime | None = None) -> bool:
    """Release: the next dispatcher tick sends to every reader due, once each, and to
    the readers whose hour passed during the hold (newsletter/due.py, catch_up_since)."""
    now = now or timezone.now()
    return bool(Edition.objects.filter(pk=edition.pk, on_hold=True).update(
        on_hold=False, updated_at=now))


@contextmanager
def _queued_or_explained() -> Iterator[None]:
    """Ledger rows written and committed as pending, then queued after commit: when
    the task queue (Redis) cannot take them, the rows stay pending, which is safe
    (beat's sweep queues pending rows no message holds, newsletter/delivery.py rule
    3), and the editor is told that in words instead of a 500."""
    try:
        yield
    except KombuOperationalError as exc:
        raise CurationError(
            "Nothing has gone out yet: the task queue (Redis) cannot be reached. The deliveries are "
            "written as pending and go out by themselves once Redis is back (beat's sweep queues "
            "them within about two minutes; /health/ says when it last ran). Each reader still "
            "gets the edition at most once."
        ) from exc


def edition_send_now_refusal(*, edition: Edition, newer_date: dt.date | None) -> str | None:
    """Why "Send now" cannot send this edition, or None. Only the newest edition (the
    one an editor opens in the morning) may go: an older one went out to 6,000 new
    readers as their first digest, a year-old day's papers as if new (an editor's
    walkthrough). `newer_date`: edition_newer_date's answer, asked once by the caller
    (the edition's page shows it in its figures too, edition_figures)."""
    if edition.on_hold:
        return "The edition is on hold: release it first."
    if newer := newer_date:
        return (f"A newer edition exists ({formats.date_format(newer)}): only the newest can "
                "be sent now. This one would reach readers who never had it with old papers as if new.")
    return None


def edition_newer_date(*, edition: Edition, now: dt.datetime) -> dt.date | None:
    """The date of the edition that followed `edition` (edition_date_for_today), or
    None while `edition` is the newest: the one still going out to the readers who
    have not had it (at their hour, or by "Send now")."""
    newest = edition_date_for_today(now=now)
    return newest if newest and newest > edition.date else None


# What "Send now" says when it would reach nobody (edition_send_now_audience is 0): it
# asked to send "to the 0 readers who have not had it" and answered "Sending now to 0
# readers".
SEND_NOW_NOBODY_LEFT = "Every reader who gets digests has had it (sent or skipped: Deliveries says why)."


def edition_send_now_audience(*, edition: Edition, now: dt.datetime | None = None) -> int:
    """How many readers "Send now" would reach: the receiving readers who have not
    had the edition, whatever their hour (what edition_send_now queues)."""
    return subscribers_due(now=now or timezone.now(), edition=edition, any_hour=True).count()


def edition_send_now(*, edition: Edition, now: dt.datetime | None = None) -> int:
    """Send the edition now to every receiving reader who has not had it, whatever
    their hour: queued to a task (tasks.edition_send_now) that sends it as beat's
    run does (delivery.edition_send: its pictures first, which take a while, so not
    in the editor's request). Returns how many readers it reaches. Goes through the
    ledger, so readers who already got it (or are in flight) get nothing more."""
    from .tasks import edition_send_now as edition_send_now_task

    now = now or timezone.now()
    refusal = edition_send_now_refusal(edition=edition, newer_date=edition_newer_date(edition=edition, now=now))
    if refusal:
        raise CurationError(refusal)
    if not edition.entries.exists():
        raise CurationError("The edition has no papers.")
    audience = edition_send_now_audience(edition=edition, now=now)
    if not audience:
        return 0
    try:
        edition_send_now_task.delay_on_commit(edition.pk, now.isoformat())
    except KombuOperationalError:
        # The queue (Redis) is away: the send starts here instead, as the task would,
        # so its rows are written pending and beat's sweep sends them once it is back
        # (_queued_or_explained says so to the editor).
        with _queued_or_explained():
            edition_send_now_run(edition_id=edition.pk, now=now)
    return audience


def edition_send_now_run(*, edition_id: int, now: dt.datetime) -> int:
    """What "Send now" queued (tasks.edition_send_now): the edition to every reader
    who has not had it, whatever their hour, unless it may no longer go (held, or a
    newer edition came, since the click). Returns the number of deliveries queued."""
    edition = Edition.objects.filter(pk=edition_id).first()
    if edition is None or edition_send_now_refusal(
            edition=edition, newer_date=edition_newer_date(edition=edition, now=now)):
        return 0
    return len(edition_send(edition=edition, now=now, any_hour=True))


def deliveries_retry_failed(*, deliveries: Iterable[Delivery]) -> list[int]:
    """Give failed rows another go through the exactly-once path: back to pending,
    with a fresh count of attempts, queued to the batch task, which claims them.
    Rows of an edition on hold stay failed (the hold means "send nothing"). Returns
    the ids of the rows sent again."""
    ids = [d.pk for d in deliveries]
    with _queued_or_explained(), transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update()
            .filter(pk__in=ids, status=Delivery.Status.FAILED, edition__on_hold=False)
            .values_list("id", "edition_id")
        )
        retry = [pk for pk, _ in rows]
        Delivery.objects.filter(pk__in=retry, status=Delivery.Status.FAILED).update(
            status=Delivery.Status.PENDING, attempts=0, claimed_at=None,
            error="retried by an editor", updated_at=timezone.now(),
        )
        # Their editions' figures change again (newsletter/tallies.py).
        edition_tallies_stale(edition_ids=[edition_id for _, edition_id in rows])
        deliveries_queue(delivery_ids=retry)
    return retry


# --- Preview and test send --------------------------------------------------------------


@dataclass(frozen=True)
class EmailPreview:
    subject: str
    text: str
    html: str
    paper_count: int  # every paper the email shows
    # Of them, as the email counts them: picked for the reader, the closest to
    # their topics on a day nothing matched, and the "also trending" block.
    picked: int = 0
    closest: int = 0
    also_trending: int = 0


def _digest_for(*, edition: Edition, subscriber: Subscriber | None,
                personal_links: bool) -> digest.Digest:
    """The digest `subscriber` gets (a reader with no topics when None), made by the
    batch's own function. Their ledger row of the edition, if any, gives the
    message the same signed "view in browser" link the sent digest carries."""
    data = ranking_data_load(date=edition.date, subscriber_ids=[subscriber.id] if subscriber else [])
    row = None
    if subscriber is not None and personal_links:
        row = Delivery.objects.filter(edition=edition, subscriber=subscriber).first()
    return digest.digest_make(
        edition=edition, subscriber=subscriber, data=data, delivery=row, personal_links=personal_links
    )


def edition_preview(*, edition: Edition, subscriber: Subscriber | None,
                    personal_links: bool = True) -> EmailPreview:
    """What `subscriber` gets (or a reader with no topics when None), as they get it;
    without `personal_links`, their own links (preference centre, votes, unsubscribe,
    their copy in a browser) left out, as in a test send: each acts as the reader."""
    made = _digest_for(edition=edition, subscriber=subscriber, personal_links=personal_links)
    if made.message is None:
        reason = (
            "Nothing matched this reader's topics, and they skip such days: no digest."
            if made.selection.skip else "This edition has no paper for this reader: no digest."
        )
        return EmailPreview(subject="(no digest)", text=reason, html=f"<p>{reason}</p>", paper_count=0)
    return EmailPreview(
        subject=made.message.subject, text=made.message.body, html=made.html,
        paper_count=len(made.paper_ids), picked=made.picked,
        closest=len(made.selection.closest), also_trending=len(made.selection.also_trending),
    )


def edition_test_send(*, edition: Edition, to: str, subscriber: Subscriber | None = None) -> str:
    """Send the edition, as `subscriber` would get it, to an editor, without the
    reader's own links. Marked as a test in the subject and tags, kept out of the
    ledger and the figures. Refused to an address on the suppression list."""
    if not to:
        raise CurationError("Your user account has no email address.")
    # The list every digest is checked against (delivery.py, emails_suppressed):
    # an address that bounced or complained gets no test either.
    suppression = suppressions_of([to]).get(to)
    if suppression is not None:
        since = formats.date_format(timezone.localtime(suppression.created_at), "SHORT_DATE_FORMAT")
        lift = ("A spam complaint is never lifted: put another address on your account."
                if suppression.reason in KEPT_FROM_EDITORS else
                "A superuser lifts it by deleting its row under Suppressions (search for the address); "
                "or put another address on your account.")
        raise CurationError(
            f"The test was not sent: {to} is on the suppression list ({suppression.get_reason_display()}, "
            f"since {since}), and nothing is mailed to it, tests included. {lift}"
        )
    made = _digest_for(edition=edition, subscriber=subscriber, personal_links=False)
    if made.message is None:
        raise CurationError("This reader gets no digest of this edition: nothing to send.")
    message = made.message
    message.to = [to]
    message.subject = TEST_SUBJECT_PREFIX + message.subject
    message.tags = [digest.DIGEST_TEST_TAG]
    message.metadata = {**message.metadata, **digest.DIGEST_TEST_METADATA}
    try:
        return message_send(message)
    except (AnymailError, RedisError) as exc:
        raise CurationError(
            f"The test was not sent: the email provider refused it or could not be reached "
            f"({error_describe_masked(exc)}). Nothing else was affected; try again in a moment."
        ) from exc


# --- Figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EditionFigures:
    due: int  # the readers who had it (its ledger rows) and to_come
    sent: int
    pending: int
    failed: int
    skipped: int
    bounced: int
    complained: int
    unsubscribed_after: int
    feedback_clicks: int
    # Its rows are deleted (retention.deliveries_prune): these are the kept figures,
    # kept on that day (in the server's zone).
    pruned: bool = False
    pruned_on: dt.date | None = None
    # The receiving readers who have not had it yet, while it is the newest edition:
    # those "Send now" reaches (edition_send_now_audience). Its ledger rows alone said
    # "Due 1" while the dialog offered to send it to 3 readers (an editor's walkthrough).
    to_come: int = 0


def edition_figures(*, edition: Edition, now: dt.datetime | None = None,
                    newest: bool | None = None) -> EditionFigures:
    """What happened to an edition's send, and to how many readers it is still due
    (to_come: the newest edition's, counted as "Send now" counts them), in six
    queries and the readers-due query's (newsletter/due.py, subscribers_due). `newest`:
    whether it is the newest edition (edition_newer_date None), when the caller asked
    already (the edition's page, for "Send now"); None: asked here. Served by
    delivery_edition_status_idx (edition, status), the bounces and complaints by
    event_type_idx, the first send by delivery_sent_idx. With the rows an erasure
    deleted counted all the same; a pruned edition's, as they stood when its pruning
    began (newsletter/tallies.py, the rule)."""
    tally = EditionTally.objects.filter(edition=edition).first() or EditionTally(edition=edition)
    if tally.pruned_at is not None:
        return EditionFigures(**{**tally.figures, "pruned": True, "pruned_on": timezone.localdate(tally.pruned_at)})
    # COUNT(*), not of the ids: the index alone answers it (an id is in the row, and
    # reading 84,000 rows for it took 180 to 280 ms at 2 million, docs/benchmarks.md).
    by_status = dict(
        Delivery.objects.filter(edition=edition).values_list("status").annotate(n=Count("*")).order_by()
    )
    events = DeliveryEvent.objects.filter(delivery__edition=edition, event_type__in=["bounced", "complained"])
    if edition.frozen_at:
        # Its digests' events come after it went out: of the ESP's bounces and
        # complaints, those since (event_type_idx), not all there ever were, each
        # looked up in the ledger (110 to 150 ms at 900,000 events).
        events = events.filter(occurred_at__gte=edition.frozen_at - EVENT_CLOCK_MARGIN)
    events = dict(events.values_list("event_type").annotate(n=Count("delivery_id", distinct=True)).order_by())
    sent = Delivery.objects.filter(edition=edition, status=Delivery.Status.SENT)
    if edition.frozen_at:
        # Its rows are made, and it is frozen, before any of them is sent
        # (delivery.deliveries_create): the sends in time order from then on meet its
        # first at once. From the ledger's first send, the planner's walk met the
        # newest edition's after all the others (4 to 6 s at 2 million rows).
        sent = sent.filter(sent_at__gte=edition.frozen_at)
    first_sent = sent.order_by("sent_at").values_list("sent_at", flat=True).first()
    unsubscribed = 0
    if first_sent:
        unsubscribed = (
            ConsentRecord.objects.filter(
                action=ConsentRecord.Action.UNSUBSCRIBE,
                subscriber__deliveries__edition=edition,
                subscriber__deliveries__status=Delivery.Status.SENT,
                created_at__gte=first_sent,
                created_at__lte=first_sent + UNSUBSCRIBE_WINDOW,
            ).values("subscriber_id").distinct().count()
        )
    feedback = Feedback.objects.filter(  # votes only: clicks are counted by the ESP
        source=Feedback.Source.VOTE,
        paper__edition_entries__edition=edition,
        subscriber__deliveries__edition=edition,
        subscriber__deliveries__status=Delivery.Status.SENT,
    ).count()
    total = sum(by_status.values()) + tally.sent_gone + tally.failed_gone + tally.skipped_gone
    now = now or timezone.now()
    if newest is None:
        newest = edition_newer_date(edition=edition, now=now) is None
    to_come = edition_send_now_audience(edition=edition, now=now) if newest else 0
    return EditionFigures(
        due=total + to_come,
        to_come=to_come,
        sent=by_status.get(Delivery.Status.SENT, 0) + tally.sent_gone,
        pending=by_status.get(Delivery.Status.PENDING, 0) + by_status.get(Delivery.Status.SENDING, 0),
        failed=by_status.get(Delivery.Status.FAILED, 0) + tally.failed_gone,
        skipped=by_status.get(Delivery.Status.SKIPPED, 0) + tally.skipped_gone,
        bounced=events.get("bounced", 0) + tally.bounced_gone,
        complained=events.get("complained", 0) + tally.complained_gone,
        unsubscribed_after=unsubscribed,
        feedback_clicks=feedback,
    )
