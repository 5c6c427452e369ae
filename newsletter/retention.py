"""How long the service keeps what (docs/data-retention.md), applied: every day by
beat (tasks.personal_data_forget) and by `manage.py retention_apply`.

`retention_apply` runs each rule in turn: readers who never confirmed, readers who
left the list (both through subscribers.services, the one erasure path), address
changes never confirmed (subscribers.services.email_change_requests_forget), the
delivery ledger and the ESP's events past LEDGER_KEPT_DAYS, and the events'
payloads. Everything is deleted in batches of `batch_size` rows, each batch its
own short transaction, found by an index: a run never holds a lock for long nor
loads more than a batch, and a run cut short (a time limit, a deploy) keeps what
it did; the next goes on from there.

This module writes the ledger beside newsletter/delivery.py: it deletes the rows of
editions long past sending (an edition is only sent for EDITION_MAX_AGE_DAYS, so
no row it deletes can be claimed again), never a row a worker may still change."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from subscribers.services import (
    email_change_requests_forget,
    subscribers_left_erase,
    subscribers_unconfirmed_forget,
)

from .curation import edition_figures
from .dashboard import DASHBOARD_DAYS
from .editions import EDITION_MAX_AGE_DAYS
from .models import Delivery, DeliveryEvent, Edition, EditionTally
from .ranking import ALREADY_SENT_LOOKBACK_DAYS
from .tallies import OPEN_STATUSES
from .webhooks import SOFT_BOUNCE_WINDOW, delivery_event_payloads_forget

logger = logging.getLogger(__name__)

# Rows deleted by one statement, in its own transaction: a DELETE of 1,000 rows by
# their keys holds their locks for tens of milliseconds, and the ids read for it
# are 1,000 integers, whatever the size of the ledger.
PRUNE_BATCH_SIZE = 1000

# `progress(step, done)`: how many of one step's rows are gone so far, after each batch.
Progress = Callable[[str, int], None]

STEP_UNCONFIRMED = "readers who never confirmed"
STEP_LEFT = "readers who left the list"
STEP_ADDRESS_CHANGES = "address changes never confirmed"
STEP_LEDGER = "delivery rows"
STEP_EVENTS = "ESP events"
STEP_PAYLOADS = "ESP event payloads emptied"


def ledger_kept_min_days() -> int:
    """The fewest days LEDGER_KEPT_DAYS may keep an edition's rows after its date.
    The ranking's "already sent" reads the rows of the editions of the month before
    the one being sent (ALREADY_SENT_LOOKBACK_DAYS), which may be EDITION_MAX_AGE_DAYS
    old; the dashboard counts the sends of its DASHBOARD_DAYS days (until they are
    kept as SentDay), sent up to EDITION_MAX_AGE_DAYS after their edition's date and
    from the day before it in a zone west of UTC; soft bounces are counted over
    SOFT_BOUNCE_WINDOW. Tests: tests/newsletter/test_retention.py."""
    return max(ALREADY_SENT_LOOKBACK_DAYS, DASHBOARD_DAYS, SOFT_BOUNCE_WINDOW.days) + EDITION_MAX_AGE_DAYS + 1


@dataclass(frozen=True)
class RetentionDone:
    unconfirmed_readers: int
    readers_left: int
    deliveries: int
    events: int
    event_payloads: int
    address_changes: int


def edition_prune_begin(*, edition: Edition, now: dt.datetime) -> bool:
    """Keep the edition's figures as they stand (EditionTally.figures; its page and
    the editions' list show them from now on, newsletter/tallies.py), before its
    first row is deleted: in one transaction, with its tally locked, so an erasure
    counting its rows as gone waits for it, and finds it pruned. False when a row is
    still pending or sending (a worker may change it): it is left for a later run."""
    with transaction.atomic():
        EditionTally.objects.bulk_create([EditionTally(edition=edition)], ignore_conflicts=True)
        tally = EditionTally.objects.select_for_update().get(edition=edition)
        if tally.pruned_at is not None:
            return True
        if Delivery.objects.filter(edition=edition, status__in=OPEN_STATUSES).exists():
            return False
        figures = edition_figures(edition=edition)
        # Kept without pruned_on (read back from pruned_at) or to_come (the newest
        # edition's, never pruned): the release of ba6cc63, rolled back to, makes
        # EditionFigures of these keys and knows no other.
        kept = {name: value for name, value in asdict(figures).items() if name not in ("pruned_on", "to_come")}
        EditionTally.objects.filter(edition=edition).update(
            figures=kept, pruned_at=now, sent=figures.sent, failed=figures.failed, counted_at=now)
    return True


def deliveries_prune(*, now: dt.datetime, kept_days: int, batch_size: int = PRUNE_BATCH_SIZE,
                     progress: Progress | None = None) -> int:
    """Delete the ledger rows of the editions dated over `kept_days` days before
    `now`, oldest edition first, `batch_size` rows a statement: their ids read by
    an index that starts with the edition (delivery_edition_status_idx or
    delivery_edition_reader_idx),
    deleted by their keys, the events
    that name them unlinked by the events' delivery index. Each edition's figures are
    kept first (edition_prune_begin). How many rows."""
    cutoff = timezone.localdate(now) - dt.timedelta(days=kept_days)
    editions = (Edition.objects.filter(date__lt=cutoff)
                .filter(Exists(Delivery.objects.filter(edition=OuterRef("pk")))).order_by("date"))
    deleted = 0
    for edition in editions:
        if not edition_prune_begin(edition=edition, now=now):
            logger.warning("edition of %s not pruned: a digest of it is still pending or sending", edition.date)
            continue
        # No order: the model's (-created_at) walked delivery_created_idx, the whole ledger.
        deleted = _batches_delete(Delivery.objects.filter(edition=edition).order_by(), batch_size=batch_size,
                                  progress=progress and partial(progress, STEP_LEDGER), done=deleted)
    return deleted


def delivery_events_prune(*, before: dt.datetime, batch_size: int = PRUNE_BATCH_SIZE,
                          progress: Progress | None = None) -> int:
    """Delete the ESP's events that occurred before `before`, oldest first, by
    event_occurred_idx, `batch_size` a statement. How many."""
    return _batches_delete(DeliveryEvent.objects.filter(occurred_at__lt=before).order_by("occurred_at"),
                           batch_size=batch_size, progress=progress and partial(progress, STEP_EVENTS))


def _batches_delete(rows: QuerySet, *, batch_size: int, progress: Callable[[int], None] | None,
                    done: int = 0) -> int:
    """Delete `rows`, `batch_size` a statement, each batch its own transaction: the
    next batch's ids read by the queryset's own order (an index), then deleted by
    their keys, with what they cascade to. `progress(done so far)` after each batch,
    counting the queryset's own rows from `done`. The new total."""
    label = rows.model._meta.label
    while ids := list(rows.values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            done += rows.model._default_manager.filter(pk__in=ids).only("pk").delete()[1].get(label, 0)
        if progress:
            progress(done)
    return done


def retention_apply(*, now: dt.datetime | None = None, batch_size: int = PRUNE_BATCH_SIZE,
                    progress: Progress | None = None) -> RetentionDone:
    """Every rule of docs/data-retention.md, in turn; what each did. The ledger's
    editions go before the events: an edition's kept figures count its bounces and
    complaints, so its events go a day after it (the events' cutoff is the day
    before the ledger's)."""
    now = now or timezone.now()
    said: set[str] = set()

    def told(name: str, done: int) -> None:
        said.add(name)
        progress(name, done)

    def finished(name: str, done: int) -> None:
        # A step that found nothing ran no batch: it says its 0 all the same (a run
        # with nothing to do printed only two of its five steps).
        if progress and name not in said:
            progress(name, done)

    batched = told if progress else None
    unconfirmed = subscribers_unconfirmed_forget(now=now)
    finished(STEP_UNCONFIRMED, unconfirmed)
    left = 0
    # Below 0 (refused by digest.E012, which a worker does not run) erases no one.
    if settings.UNSUBSCRIBED_KEPT_DAYS > 0:
        left = subscribers_left_erase(now=now, kept=dt.timedelta(days=settings.UNSUBSCRIBED_KEPT_DAYS),
                                      batch_size=batch_size,
                                      progress=(lambda done: told(STEP_LEFT, done)) if progress else None)
        finished(STEP_LEFT, left)
    address_changes = email_change_requests_forget(now=now)
    finished(STEP_ADDRESS_CHANGES, address_changes)
    deliveries = events = 0
    if settings.LEDGER_KEPT_DAYS:
        deliveries = deliveries_prune(now=now, kept_days=settings.LEDGER_KEPT_DAYS, batch_size=batch_size,
                                      progress=batched)
        finished(STEP_LEDGER, deliveries)
        before = timezone.localdate(now) - dt.timedelta(days=settings.LEDGER_KEPT_DAYS + 1)
        events = delivery_events_prune(
            before=dt.datetime.combine(before, dt.time.min, tzinfo=timezone.get_current_timezone()),
            batch_size=batch_size, progress=batched)
        finished(STEP_EVENTS, events)
    payloads = delivery_event_payloads_forget(now=now)
    finished(STEP_PAYLOADS, payloads)
    return RetentionDone(unconfirmed_readers=unconfirmed, readers_left=left, deliveries=deliveries,
                         events=events, event_payloads=payloads, address_changes=address_changes)
