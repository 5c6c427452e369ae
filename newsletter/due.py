"""Who is due for a digest: readers receiving at all, and those whose local hour and
weekday have come for an edition they have no delivery of yet. Read by the
dispatcher (newsletter/delivery.py) and checked again at send time."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Exists, OuterRef, Q

from subscribers.models import Subscriber

from .models import Delivery, Edition

logger = logging.getLogger(__name__)


def _local_slots(*, now: dt.datetime, time_zones: Iterable[str]) -> dict[tuple[int, int], list[str]]:
    """Group time zones by their (local hour, local weekday) at `now`: done in Python
    over the distinct zones, so the due query is a plain IN per group."""
    slots: dict[tuple[int, int], list[str]] = {}
    for name in time_zones:
        try:
            local = now.astimezone(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown time zone %r: its readers are treated as UTC", name)
            local = now.astimezone(dt.UTC)
        slots.setdefault((local.hour, local.weekday()), []).append(name)
    return slots


def _schedule_q(*, hour: int, weekday: int, time_zones: list[str]) -> Q:
    """Readers of these zones whose digest is due at this local hour and weekday:
    daily readers on weekdays (Daily Papers has no weekend lists), weekly readers
    on their chosen weekday."""
    due_day = Q(frequency=Subscriber.Frequency.WEEKLY, weekday=weekday)
    if weekday < 5:
        due_day |= Q(frequency=Subscriber.Frequency.DAILY)
    return Q(time_zone__in=time_zones, delivery_hour=hour) & due_day


def subscribers_receiving(*, now: dt.datetime):
    """Readers who get digests at all: active, or paused until a date that has come
    (a pause ends by itself: subscribers/services.py sends again "from paused_until
    on"). Suppressed and unsubscribed readers have their own statuses; suppressed
    addresses are checked again at send time."""
    today = now.astimezone(dt.UTC).date()
    return Subscriber.objects.filter(
        Q(status=Subscriber.Status.ACTIVE, paused_until__isnull=True)
        | Q(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED], paused_until__lte=today)
    )


def subscriber_still_receiving(*, subscriber: Subscriber, now: dt.datetime) -> bool:
    """subscribers_receiving() for one loaded reader, without a query."""
    today = now.astimezone(dt.UTC).date()
    if subscriber.paused_until is not None and subscriber.paused_until <= today:
        return subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
    return subscriber.status == Subscriber.Status.ACTIVE and subscriber.paused_until is None


def subscribers_due(*, now: dt.datetime, edition: Edition, any_hour: bool = False,
                    email: str | None = None):
    """Readers due for `edition` at `now` with no delivery of it yet: ONE query.
    Served by subscriber_due_idx (delivery_hour, time_zone WHERE status in ...).
    `any_hour`: whatever their hour. `email`: only that reader, whatever their hour."""
    receiving = subscribers_receiving(now=now)
    not_yet = ~Exists(Delivery.objects.filter(subscriber=OuterRef("pk"), edition=edition))
    if email:
        return receiving.filter(not_yet, email__iexact=email.strip())
    if any_hour:
        return receiving.filter(not_yet)
    time_zones = receiving.values_list("time_zone", flat=True).distinct().order_by()
    slots = _local_slots(now=now, time_zones=list(time_zones))
    schedule = Q(pk__in=[])
    for (hour, weekday), zones in slots.items():
        schedule |= _schedule_q(hour=hour, weekday=weekday, time_zones=zones)
    return receiving.filter(schedule).filter(not_yet)
