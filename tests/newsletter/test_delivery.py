import datetime as dt
import logging
import time
import types
import typing

import pytest
import redis
import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused, AnymailRequestsAPIError
from celery.exceptions import Retry
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mail import esp
from mail.errors import error_is_transient
from newsletter import curation, delivery, digest, leases, sending
from newsletter.delivery import (
    deliveries_resolve_stale,
    digest_send_batch,
    digests_dispatch,
)
from newsletter.due import (
    DISPATCH_EVERY,
    next_digest,
    next_digest_at,
    run_at_or_after,
    subscribers_due,
    waits_for_fetch,
)
from newsletter.editions import edition_assemble
from newsletter.journal import SENT_PREFIX, journal_key, journal_record
from newsletter.models import Delivery, Edition
from newsletter.tasks import deliveries_settle as deliveries_settle_task
from newsletter.tasks import digest_send_batch as digest_send_batch_task
from subscribers.models import Subscriber, Suppression
from subscribers.services import subscriber_unsubscribe
from subscribers.suppression import address_suppress, email_hash
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory
from tests.locks import rows_locked_elsewhere
from tests.newsletter.test_batch_queries import rows_marked_sent, sent_writes

DAY = dt.date(2025, 11, 24)  # a Monday
# 07:05 UTC on that Monday: readers at 07:00 UTC, 08:00 Paris and 02:00 New York are due.
NOW = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL)


def esp_http_error(status: int) -> AnymailRequestsAPIError:
    """What anymail raises when the ESP answers with an HTTP error."""
    response = requests.Response()
    response.status_code, response.reason, response._content = status, "Error", b"{}"
    return AnymailRequestsAPIError("ESP API response", response=response)


class ScriptedBackend(AnymailTestBackend):
    """The ESP, scripted per recipient: each send pops the next error (or None for
    success) from `script[email]`; unscripted sends succeed. Counts connections."""

    script: typing.ClassVar[dict[str, list]] = {}
    opened = 0

    def __init__(self, *args, **kwargs):
        ScriptedBackend.opened += 1
        super().__init__(*args, **kwargs)

    def post_to_esp(self, payload, message):
        plan = self.script.get(payload.recipient_emails[0])
        if plan:
            error = plan.pop(0)
            if error is not None:
                raise error
        return super().post_to_esp(payload, message)


@pytest.fixture
def scripted(settings):
    settings.EMAIL_BACKEND = "tests.newsletter.test_delivery.ScriptedBackend"
    ScriptedBackend.script = {}
    ScriptedBackend.opened = 0
    return ScriptedBackend


@pytest.fixture
def edition(db):
    topic = TopicFactory(name="Continual learning")
    for n in range(8):
        paper = PaperFactory(trending_date=DAY, upvotes=100 - n, title=f"Paper number {n}")
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["catastrophic forgetting"])
    return edition_assemble(date=DAY)


def _reader(**kwargs) -> Subscriber:
    topic = TopicFactory(name="Continual learning")
    reader = SubscriberFactory(**kwargs)
    reader.topics.add(topic)
    return reader


def run_with_retries(ids: list[int]) -> int:
    """Run the task as a worker would: each Retry re-runs the task with the retry's
    arguments (eager mode raises Retry instead of scheduling it). Returns retries."""
    retries = 0
    kwargs = {"delivery_ids": ids}
    while True:
        try:
            digest_send_batch_task.apply(kwargs=kwargs, retries=retries, throw=True)
            return retries
        except Retry as retry:
            assert retry.when >= 60  # a countdown, not a hot loop
            kwargs = retry.sig.kwargs
            retries += 1


def _pending(edition: Edition, readers) -> list[int]:
    return delivery.deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=NOW)


def _runs(capture, start: dt.datetime, end: dt.datetime) -> None:
    """The beat's dispatcher at every run from `start` until `end`, each run's rows
    stamped with its time, as the clock stamps them in production (auto_now_add).
    `capture`: pytest-django's django_capture_on_commit_callbacks."""
    at = start
    while at < end:
        newest = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
        with capture(execute=True):
            digests_dispatch(now=at)
        Delivery.objects.filter(id__gt=newest).update(created_at=at)
        at += DISPATCH_EVERY


def _runs_taking(reader) -> list[dt.datetime]:
    """The runs that queued this reader's digests (_runs' stamps), oldest first."""
    return sorted(Delivery.objects.filter(subscriber=reader).values_list("created_at", flat=True))


def _due(*, now: dt.datetime, edition: Edition):
    """subscribers_due at a run of an ordinary day: the dispatcher made the run before
    it (Edition.dispatched_at), so no run is owed a catch-up."""
    edition.dispatched_at = now - DISPATCH_EVERY
    return subscribers_due(now=now, edition=edition)


def _dispatch_alone(capture, at: dt.datetime) -> int:
    """The dispatcher at `at` in a story told by a few runs: the runs between them
    took nobody (recorded as made, Edition.dispatched_at), so none is caught up."""
    from newsletter.editions import edition_current

    edition_current(now=at)  # the row of the day's edition, as the run would make it
    before = at - DISPATCH_EVERY
    Edition.objects.filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=before)).update(dispatched_at=before)
    with capture(execute=True):
        return digests_dispatch(now=at)


def _listed(topic, day: dt.date) -> None:
    """The day's list came (the morning fetch): a paper of `topic` trending on `day`."""
    PaperTopicFactory(paper=PaperFactory(trending_date=day), topic=topic, score=1.0, matched_terms=["forgetting"])


# --- Who is due -------------------------------------------------------------------


def test_due_readers_are_those_at_their_local_hour_on_their_day(edition):
    utc7 = _reader(delivery_hour=7, time_zone="UTC")
    paris8 = _reader(delivery_hour=8, time_zone="Europe/Paris")
    ny2 = _reader(delivery_hour=2, time_zone="America/New_York")
    _reader(delivery_hour=8, time_zone="UTC")  # not their hour
    weekly_monday = _reader(delivery_hour=7, frequency="weekly", weekday=0)
    _reader(delivery_hour=7, frequency="weekly", weekday=3)  # Thursday readers
    _reader(delivery_hour=7, status=Subscriber.Status.UNSUBSCRIBED)
    _reader(delivery_hour=7, status=Subscriber.Status.SUPPRESSED)
    _reader(delivery_hour=7, status=Subscriber.Status.PENDING)
    _reader(delivery_hour=7, status=Subscriber.Status.PAUSED, paused_until=DAY + dt.timedelta(days=3))
    pause_over = _reader(delivery_hour=7, status=Subscriber.Status.PAUSED, paused_until=DAY)

    due = set(subscribers_due(now=NOW, edition=edition))

    assert due == {utc7, paris8, ny2, weekly_monday, pause_over}


def test_readers_of_a_zone_the_server_does_not_know_are_due_at_their_hour_in_utc(edition):
    """A zone from an old import, or a name that is no zone at all: their digest
    comes at their hour in UTC, as their pages say (Subscriber.zone), and the run
    goes on for everyone else."""
    mars = _reader(delivery_hour=7, time_zone="Mars/Olympus")
    path = _reader(delivery_hour=7, time_zone="../Europe/Paris")
    _reader(delivery_hour=8, time_zone="Mars/Olympus")  # not their hour in UTC
    paris8 = _reader(delivery_hour=8, time_zone="Europe/Paris")
    assert set(_due(now=NOW, edition=edition)) == {mars, path, paris8}


def test_daily_readers_get_nothing_at_weekends(edition):
    _reader(delivery_hour=7)
    saturday = dt.datetime(2025, 11, 29, 7, 5, tzinfo=dt.UTC)
    assert not _due(now=saturday, edition=edition).exists()


def test_the_due_query_is_one_query_after_listing_time_zones(edition, django_assert_num_queries):
    for n in range(5):
        _reader(delivery_hour=7, time_zone=["UTC", "Europe/Paris", "Asia/Kolkata"][n % 3])
    with django_assert_num_queries(3):  # the distinct time zones, the fetch's schedule, then the readers
        list(_due(now=NOW, edition=edition))
    edition.dispatched_at = NOW - dt.timedelta(hours=1)  # runs did not come: a catch-up
    with django_assert_num_queries(4):  # and the readers who joined meanwhile, before the due query
        list(subscribers_due(now=NOW, edition=edition))


@pytest.mark.postgresql
def test_no_row_of_the_edition_yet_is_read_from_the_editions_rows(edition):
    """"No row of this edition yet" reads the edition's rows by
    delivery_edition_reader_idx, for the edition page's "Send now" audience (any
    hour) and for the dispatcher's run: through the unique constraint's (subscriber,
    edition) it was one probe per reader all over the ledger's largest index (150
    to 250 ms at 8.4 million rows, docs/benchmarks.md, "The admin at scale, fourth
    pass")."""
    from tests.plans import query_plan

    readers = [_reader(delivery_hour=7) for _ in range(3)]
    _pending(edition, readers[:1])
    for any_hour in (True, False):
        with CaptureQueriesContext(connection) as queries:
            due = set(_due(now=NOW, edition=edition) if not any_hour
                      else subscribers_due(now=NOW, edition=edition, any_hour=True))
        assert due == set(readers[1:])
        plan = query_plan(queries[-1]["sql"])
        # The edition's rows by the edition, not probed by (reader, edition). (The
        # catch-up's "given a digest since" may read a reader's rows by the unique
        # constraint's first column, since the ledger's reader has no index of its own.)
        assert "delivery_edition_reader_idx" in plan and "Index Cond: (edition_id = " in plan, plan
        assert "AND (edition_id = " not in plan, plan


def test_when_an_editor_moves_the_morning_fetch_readers_wait_for_it_at_its_new_time(edition):
    """The fetch's schedule is editable in the admin (django-celery-beat). Moved to
    07:30 in Paris (06:30 UTC in winter), a Paris reader at 07:00 waits for it, as
    the 05:30 UTC default never made them; one at 06:00 no longer does."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, morning_fetch, schedules_ensure

    schedules_ensure()
    assert morning_fetch(on=DAY) == dt.time(5, 30)
    task = PeriodicTask.objects.get(task=MORNING_FETCH_TASK)
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="7", timezone="Europe/Paris")
    task.save()
    assert morning_fetch(on=DAY) == dt.time(6, 30)
    assert morning_fetch(on=dt.date(2025, 7, 7)) == dt.time(5, 30)  # summer time

    seven = _reader(delivery_hour=7, time_zone="Europe/Paris")
    six = _reader(delivery_hour=6, time_zone="Europe/Berlin")
    at_seven = dt.datetime(2025, 11, 25, 6, 0, tzinfo=dt.UTC)  # Tuesday 07:00 in Paris; the edition is Monday's
    assert seven not in _due(now=at_seven, edition=edition)
    assert seven in _due(now=at_seven + dt.timedelta(minutes=45), edition=edition)  # the run after it
    assert six in _due(now=at_seven - dt.timedelta(hours=1), edition=edition)
    assert next_digest_at(subscriber=seven, now=at_seven - dt.timedelta(minutes=1)) == (
        at_seven + dt.timedelta(minutes=45))
    # Switched off, or run every hour: the default time is what the rule assumes.
    task.crontab = CrontabSchedule.objects.create(minute="0", hour="*", timezone="UTC")
    task.save()
    assert morning_fetch(on=DAY) == dt.time(5, 30)
    # Every 15 minutes of one hour (a superuser's raw crontab): no one time of day either.
    task.crontab = CrontabSchedule.objects.create(minute="*/15", hour="7", timezone="Europe/Paris")
    task.save()
    assert morning_fetch(on=DAY) == dt.time(5, 30)
    # Back at 07:30 in Paris, then switched off: the moved time no longer holds readers.
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="7", timezone="Europe/Paris")
    task.save()
    assert morning_fetch(on=DAY) == dt.time(6, 30)
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
    assert morning_fetch(on=DAY) == dt.time(5, 30)


def test_a_weeks_pause_ends_on_the_readers_own_date_east_and_west_of_utc(edition):
    """A reader in Tokyo pauses for a week at 10:00 on Friday 21 November there (01:00
    UTC, Friday too). Their digests come back on Friday 28 November at 07:00 Tokyo
    time, which is 22:00 UTC on Thursday: the pause ends on its date where the reader
    is, as the page promised, not a weekend and a Monday later. In Los Angeles the
    same date ends the pause at 07:00 there on the Friday, not on the Thursday."""
    from subscribers.services import subscriber_pause

    tokyo = _reader(delivery_hour=7, time_zone="Asia/Tokyo")
    subscriber_pause(subscriber=tokyo, weeks=1, ip=None, user_agent="",
                     now=dt.datetime(2025, 11, 21, 1, 0, tzinfo=dt.UTC))
    tokyo.refresh_from_db()
    assert tokyo.paused_until == dt.date(2025, 11, 28)
    los_angeles = _reader(delivery_hour=7, time_zone="America/Los_Angeles",
                          status=Subscriber.Status.PAUSED, paused_until=dt.date(2025, 11, 28))

    tokyo_friday = dt.datetime(2025, 11, 27, 22, 0, tzinfo=dt.UTC)  # 07:00 Friday in Tokyo
    assert tokyo in subscribers_due(now=tokyo_friday, edition=edition)
    assert tokyo not in subscribers_due(now=tokyo_friday - dt.timedelta(days=1), edition=edition)
    assert sending.subscriber_still_receiving(subscriber=tokyo, now=tokyo_friday)
    assert next_digest_at(subscriber=tokyo, now=dt.datetime(2025, 11, 21, 1, 0, tzinfo=dt.UTC)) == tokyo_friday
    assert next_digest(subscriber=tokyo, now=dt.datetime(2025, 11, 21, 1, 0, tzinfo=dt.UTC)).day == (
        "on Friday 28 November")

    la_thursday = dt.datetime(2025, 11, 27, 15, 0, tzinfo=dt.UTC)  # 07:00 Thursday in Los Angeles
    assert los_angeles not in subscribers_due(now=la_thursday, edition=edition)
    assert los_angeles in subscribers_due(now=la_thursday + dt.timedelta(days=1), edition=edition)
    assert not sending.subscriber_still_receiving(subscriber=los_angeles, now=la_thursday)


def test_the_next_digest_a_page_promises_is_the_first_dispatch_that_takes_the_reader(edition):
    """What the confirmation page and the preference centre say ("your first digest
    arrives on Monday 7 December around 07:00 CET") is the first run of the
    dispatcher's own query that picks the reader: every quarter hour of the next
    twelve days is asked in the database, zones of whole, half and three-quarter
    hours, weekly readers, weekends and pauses."""
    now = dt.datetime(2025, 11, 28, 13, 7, tzinfo=dt.UTC)  # a Friday afternoon
    PaperFactory(trending_date=now.date())  # Friday's list, fetched at 05:30: the dispatcher has an edition
    readers = [
        _reader(delivery_hour=7, time_zone="Europe/Paris"),  # Monday: the weekend comes first
        _reader(delivery_hour=15, time_zone="Europe/Paris"),  # today, within the hour
        _reader(delivery_hour=14, time_zone="Europe/Paris"),  # 14:07 there: the 14:15 run
        _reader(delivery_hour=6, time_zone="Asia/Kolkata"),  # +05:30
        _reader(delivery_hour=0, time_zone="Asia/Kathmandu"),  # +05:45
        _reader(delivery_hour=23, time_zone="America/Los_Angeles"),  # today there, Saturday in UTC
        _reader(delivery_hour=7, time_zone="Pacific/Auckland"),  # already Saturday there
        _reader(delivery_hour=9, frequency="weekly", weekday=6, time_zone="America/New_York"),
        _reader(delivery_hour=9, frequency="weekly", weekday=4),  # Friday 09:00 has passed
        _reader(delivery_hour=7, status=Subscriber.Status.PAUSED, paused_until=dt.date(2025, 12, 3)),
        _reader(delivery_hour=7, status=Subscriber.Status.PAUSED, paused_until=dt.date(2025, 12, 6)),
        _reader(delivery_hour=7, time_zone="Not/AZone"),  # read as UTC, like the dispatcher
        _reader(delivery_hour=6, time_zone="Europe/Berlin"),  # 05:00 UTC: waits for the 05:30 fetch
        # Pauses ending on their date where the reader is, east and west of UTC.
        _reader(delivery_hour=7, time_zone="Asia/Tokyo", status=Subscriber.Status.PAUSED,
                paused_until=dt.date(2025, 12, 5)),
        _reader(delivery_hour=23, time_zone="America/Los_Angeles", status=Subscriber.Status.PAUSED,
                paused_until=dt.date(2025, 12, 2)),
    ]
    _reader(status=Subscriber.Status.PENDING)  # gets none
    first = {}
    at = now
    while at < now + dt.timedelta(days=12):
        at = dt.datetime.fromtimestamp((at.timestamp() // 900 + 1) * 900, tz=dt.UTC)
        for reader in _due(now=at, edition=edition):
            first.setdefault(reader.pk, at)
    promised = {r.pk: next_digest_at(subscriber=r, now=now) for r in readers}
    assert promised == {r.pk: first[r.pk] for r in readers}
    assert len(first) == len(readers) and DISPATCH_EVERY == dt.timedelta(minutes=15)
    paris7, paris15, paris14 = readers[:3]
    assert promised[paris7.pk] == dt.datetime(2025, 12, 1, 6, 0, tzinfo=dt.UTC)
    assert promised[paris14.pk] == dt.datetime(2025, 11, 28, 13, 15, tzinfo=dt.UTC)
    assert next_digest(subscriber=paris7, now=now).when == "on Monday 1 December around 07:00 CET (Europe/Paris)"
    assert next_digest(subscriber=paris15, now=now).when == "today around 15:00 CET (Europe/Paris)"
    assert next_digest(subscriber=paris14, now=now).when == "within 15 minutes"
    assert next_digest(subscriber=paris7, now=now).day == "on Monday 1 December"
    los_angeles = readers[5]
    assert next_digest(subscriber=los_angeles, now=now).when == "today around 23:00 PST (America/Los_Angeles)"
    assert next_digest(subscriber=readers[10], now=now).when.startswith("on Monday 8 December")
    assert next_digest(subscriber=SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED), now=now).when == ""
    # A reader who already had today's edition (within their hour, from the 14:00
    # run) gets the next day's: Monday's, not another one "within 15 minutes".
    fridays = Edition.objects.create(date=now.date(), frozen_at=now)
    Delivery.objects.create(edition=fridays, subscriber=paris14, status=Delivery.Status.SENT)
    assert next_digest(subscriber=paris14, now=now).when == "on Monday 1 December around 14:00 CET (Europe/Paris)"
    assert paris14 not in subscribers_due(now=dt.datetime(2025, 11, 28, 13, 15, tzinfo=dt.UTC), edition=fridays)


def test_with_no_edition_to_send_the_page_promises_the_first_run_after_the_next_morning_fetch(
    db, django_capture_on_commit_callbacks
):
    """A fresh site holds the sample list of Monday 24 November 2025 only, too old to
    send (EDITION_MAX_AGE_DAYS). A reader who joins on Wednesday 3 December at 09:40
    UTC, after the morning fetch, with their hour at 09:00 UTC, was promised their
    digest "within 15 minutes", and the 09:45 run sent nothing: there was no edition.
    The page now promises the run the dispatcher really takes them at, after the next
    fetch brings a list: Thursday 09:00. The same when the API lists nothing on
    Friday: the reader, who had Thursday's, is promised Monday's, not one "within 15
    minutes". A reader who joins once the day's list is here is still promised it
    within 15 minutes, and one before the fetch today at their hour."""
    capture = django_capture_on_commit_callbacks
    topic = TopicFactory(name="Continual learning")
    _listed(topic, DAY)
    wednesday = dt.datetime(2025, 12, 3, 9, 40, tzinfo=dt.UTC)
    thursday = dt.date(2025, 12, 4)
    thursday_fetch = dt.datetime(2025, 12, 4, 5, 30, tzinfo=dt.UTC)
    reader = _reader(delivery_hour=9, time_zone="UTC", confirmed_at=wednesday)
    promised = next_digest_at(subscriber=reader, now=wednesday)
    said = next_digest(subscriber=reader, now=wednesday).when
    before_fetch = next_digest(subscriber=reader, now=thursday_fetch - dt.timedelta(minutes=30)).when
    _runs(capture, run_at_or_after(wednesday), thursday_fetch)
    _listed(topic, thursday)  # Thursday's morning fetch
    _runs(capture, thursday_fetch, dt.datetime(2025, 12, 4, 9, 45, tzinfo=dt.UTC))
    assert _runs_taking(reader) == [promised] == [dt.datetime(2025, 12, 4, 9, 0, tzinfo=dt.UTC)]
    assert said == "tomorrow around 09:00 UTC"
    assert before_fetch == "today around 09:00 UTC"  # today's fetch is still to come

    joined = _reader(delivery_hour=9, time_zone="UTC", confirmed_at=dt.datetime(2025, 12, 4, 9, 40, tzinfo=dt.UTC))
    assert next_digest(subscriber=joined, now=joined.confirmed_at).when == "within 15 minutes"

    # Friday: the API lists nothing. Thursday's edition is still the one the
    # dispatcher has, and the reader had it.
    friday = dt.datetime(2025, 12, 5, 9, 40, tzinfo=dt.UTC)
    promised = next_digest_at(subscriber=reader, now=friday, had=thursday)
    said = next_digest(subscriber=reader, now=friday).when
    monday_fetch = dt.datetime(2025, 12, 8, 5, 30, tzinfo=dt.UTC)
    _runs(capture, dt.datetime(2025, 12, 4, 9, 45, tzinfo=dt.UTC), monday_fetch)
    _listed(topic, monday_fetch.date())
    _runs(capture, monday_fetch, dt.datetime(2025, 12, 8, 9, 15, tzinfo=dt.UTC))
    assert _runs_taking(reader)[1:] == [promised] == [dt.datetime(2025, 12, 8, 9, 0, tzinfo=dt.UTC)]
    assert said == "on Monday 8 December around 09:00 UTC"
    assert _runs_taking(joined) == [dt.datetime(2025, 12, 4, 9, 45, tzinfo=dt.UTC), promised]
    assert list(Delivery.objects.filter(subscriber=reader).values_list("edition__date", flat=True)
                .order_by("edition__date")) == [thursday, monday_fetch.date()]


def test_readers_east_of_utc_get_fridays_papers_on_monday_and_each_edition_once(
    db, django_capture_on_commit_callbacks
):
    """Tokyo's 07:00 is 22:00 UTC the day before, India's 01:30 UTC: before the
    morning fetch (05:30 UTC), so they get the day before's edition. Across a weekend
    without lists, their Monday digest is Friday's edition (as their pages promise),
    and Paris, which had Friday's on Friday, gets Monday's; nobody gets one twice."""
    topic = TopicFactory(name="Continual learning")
    thursday, friday, monday = dt.date(2025, 11, 27), dt.date(2025, 11, 28), dt.date(2025, 12, 1)
    tokyo = _reader(delivery_hour=7, time_zone="Asia/Tokyo")
    india = _reader(delivery_hour=7, time_zone="Asia/Kolkata")
    paris = _reader(delivery_hour=7, time_zone="Europe/Paris")

    def fetched(day):
        for n in range(3):
            paper = PaperFactory(trending_date=day, upvotes=50 - n)
            PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])

    def dispatch(at):
        _dispatch_alone(django_capture_on_commit_callbacks, at)

    def editions_of(reader):
        return sorted(Delivery.objects.filter(subscriber=reader, status="sent")
                      .values_list("edition__date", flat=True))

    fetched(thursday)
    dispatch(dt.datetime(2025, 11, 27, 22, 0, tzinfo=dt.UTC))  # Friday 07:00 in Tokyo
    dispatch(dt.datetime(2025, 11, 28, 1, 30, tzinfo=dt.UTC))  # Friday 07:00 in India
    fetched(friday)  # Friday 05:30 UTC
    dispatch(dt.datetime(2025, 11, 28, 6, 0, tzinfo=dt.UTC))  # Friday 07:00 in Paris
    assert editions_of(tokyo) == editions_of(india) == [thursday] and editions_of(paris) == [friday]
    assert next_digest(subscriber=tokyo, now=dt.datetime(2025, 11, 28, 12, 0, tzinfo=dt.UTC)).day == (
        "on Monday 1 December")

    dispatch(dt.datetime(2025, 11, 30, 22, 0, tzinfo=dt.UTC))  # Monday 07:00 in Tokyo
    dispatch(dt.datetime(2025, 12, 1, 1, 30, tzinfo=dt.UTC))  # Monday 07:00 in India
    fetched(monday)
    dispatch(dt.datetime(2025, 12, 1, 6, 0, tzinfo=dt.UTC))  # Monday 07:00 in Paris
    assert editions_of(tokyo) == editions_of(india) == [thursday, friday]
    assert editions_of(paris) == [friday, monday]
    assert Delivery.objects.count() == len(mail.outbox) == 6


def test_a_reader_whose_hour_spans_the_morning_fetch_waits_for_it_and_gets_one_digest(
    db, django_capture_on_commit_callbacks
):
    """07:00 in Berlin in summer is 05:00 UTC, and the day's list is fetched at 05:30.
    A reader who has not had yesterday's edition (new, or back from a pause) is not
    sent it by the 05:00 run and today's by the 05:30 run: the runs before the fetch
    pass them by, the first run that has today's list sends it, once."""
    topic = TopicFactory(name="Continual learning")
    berlin = _reader(delivery_hour=7, time_zone="Europe/Berlin")
    monday, tuesday = dt.date(2025, 7, 7), dt.date(2025, 7, 8)

    def fetched(day):
        paper = PaperFactory(trending_date=day)
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])

    def dispatch(at):
        return _dispatch_alone(django_capture_on_commit_callbacks, at)

    fetched(monday)
    seven = dt.datetime(2025, 7, 8, 5, 0, tzinfo=dt.UTC)  # 07:00 in Berlin
    assert next_digest(subscriber=berlin, now=seven).when == "today around 07:00 CEST (Europe/Berlin)"
    assert dispatch(seven) == 0 and dispatch(seven + dt.timedelta(minutes=15)) == 0
    fetched(tuesday)  # 05:30 UTC
    assert dispatch(seven + dt.timedelta(minutes=30)) == 1
    assert dispatch(seven + dt.timedelta(minutes=45)) == 0
    assert list(Delivery.objects.values_list("edition__date", flat=True)) == [tuesday]
    assert len(mail.outbox) == 1
    # A reader whose hour is clear of the fetch is not held back (08:00 in Berlin),
    # nor one whose hour holds it once the day's list is here.
    assert not waits_for_fetch(local=dt.datetime(2025, 7, 8, 8, 0, tzinfo=berlin.zone),
                               at=dt.datetime(2025, 7, 8, 6, 0, tzinfo=dt.UTC))
    assert waits_for_fetch(local=seven.astimezone(berlin.zone), at=seven, newest=monday)
    assert not waits_for_fetch(local=seven.astimezone(berlin.zone), at=seven, newest=tuesday)


def test_a_reader_whose_hour_starts_at_the_minute_of_a_moved_morning_fetch_waits_for_it(
    db, django_capture_on_commit_callbacks
):
    """An editor moves the fetch to 06:00 UTC, on the hour. The dispatcher's 06:00 run
    starts with it and still has the day before's list: a new reader at 06:00 in
    London (winter) is not sent that one at 06:00, then nothing for the day's (one
    digest an hour); they get the day's list at 06:15."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    from newsletter.schedules import MORNING_FETCH_TASK, morning_fetch, schedules_ensure

    schedules_ensure()
    PeriodicTask.objects.filter(task=MORNING_FETCH_TASK).update(
        crontab=CrontabSchedule.objects.create(minute="0", hour="6", timezone="UTC"))
    monday, tuesday = dt.date(2025, 11, 24), dt.date(2025, 11, 25)
    assert morning_fetch(on=tuesday) == dt.time(6, 0)
    topic = TopicFactory(name="Continual learning")
    _reader(delivery_hour=6, time_zone="Europe/London")
    _listed(topic, monday)
    six = dt.datetime(2025, 11, 25, 6, 0, tzinfo=dt.UTC)

    assert _dispatch_alone(django_capture_on_commit_callbacks, six) == 0
    _listed(topic, tuesday)
    assert _dispatch_alone(django_capture_on_commit_callbacks, six + dt.timedelta(minutes=15)) == 1
    assert list(Delivery.objects.values_list("edition__date", flat=True)) == [tuesday]


def test_a_reader_whose_one_run_with_the_days_list_did_not_come_gets_it_when_the_dispatcher_is_back(
    db, django_capture_on_commit_callbacks
):
    """07:00 in Berlin in summer is 05:00 UTC; the list is fetched at 05:30, and that
    run waits for it: the 05:45 run is the only one of the reader's hour with the
    day's list. Beat is down from 05:40 to 06:10: the run at 06:10 catches them up
    with it, once (counted from the 06:00 run instead, it passed them by for the day)."""
    topic = TopicFactory(name="Continual learning")
    _reader(delivery_hour=7, time_zone="Europe/Berlin")
    monday, tuesday = dt.date(2025, 7, 7), dt.date(2025, 7, 8)
    _listed(topic, monday)
    five = dt.datetime(2025, 7, 8, 5, 0, tzinfo=dt.UTC)  # 07:00 in Berlin
    for minutes in (0, 15, 30):
        assert _dispatch_alone(django_capture_on_commit_callbacks, five + dt.timedelta(minutes=minutes)) == 0
    _listed(topic, tuesday)  # at 05:40; the runs of 05:45 and 06:00 do not come

    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=dt.datetime(2025, 7, 8, 6, 10, tzinfo=dt.UTC)) == 1
    assert list(Delivery.objects.values_list("edition__date", flat=True)) == [tuesday]
    assert len(mail.outbox) == 1


def test_a_reader_whose_hour_the_clocks_skip_gets_that_days_digest_in_the_hour_after(
    db, django_capture_on_commit_callbacks
):
    """When summer time starts, an hour is skipped: 02:00 on Friday 27 March 2026 in
    Israel, 02:00 on Sunday 29 March in Paris, 00:00 on Sunday 8 March in Havana. A
    reader of that hour gets that day's digest in the hour the clocks jump to (as
    cron runs a job of a skipped hour), once, and their page says when by their
    clock; before, the day passed with no digest."""
    topic = TopicFactory(name="Continual learning")
    thursday, friday = dt.date(2026, 3, 26), dt.date(2026, 3, 27)
    jerusalem = _reader(delivery_hour=2, time_zone="Asia/Jerusalem")
    paris = _reader(delivery_hour=2, time_zone="Europe/Paris", frequency="weekly", weekday=6)

    def fetched(day):
        paper = PaperFactory(trending_date=day)
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])

    fetched(thursday)
    thursday_evening = dt.datetime(2026, 3, 26, 18, 0, tzinfo=dt.UTC)
    assert next_digest(subscriber=jerusalem, now=thursday_evening).when == (
        "tomorrow around 03:00 IDT (Asia/Jerusalem)")
    _runs(django_capture_on_commit_callbacks, thursday_evening, dt.datetime(2026, 3, 27, 5, 30, tzinfo=dt.UTC))
    assert _runs_taking(jerusalem) == [dt.datetime(2026, 3, 27, 0, 0, tzinfo=dt.UTC)]  # 03:00 IDT
    assert _runs_taking(paris) == []

    fetched(friday)
    saturday = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC)
    promised = next_digest_at(subscriber=paris, now=saturday, fetch_at=dt.time(5, 30))
    assert next_digest(subscriber=paris, now=saturday).when == (
        "tomorrow around 03:00 CEST (Europe/Paris)")
    _runs(django_capture_on_commit_callbacks, saturday, dt.datetime(2026, 3, 29, 12, 0, tzinfo=dt.UTC))
    assert _runs_taking(paris) == [promised] == [dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC)]
    assert list(Delivery.objects.filter(subscriber=paris).values_list("edition__date", flat=True)) == [friday]

    # Havana jumps from 00:00 to 01:00 CDT (05:00 UTC), an hour that holds the morning
    # fetch: its reader waits for the run after it (waits_for_fetch), still that Sunday.
    havana = _reader(delivery_hour=0, time_zone="America/Havana", frequency="weekly", weekday=6)
    assert next_digest_at(subscriber=havana, now=dt.datetime(2026, 3, 7, 12, 0, tzinfo=dt.UTC),
                          fetch_at=dt.time(5, 30)) == dt.datetime(2026, 3, 8, 5, 45, tzinfo=dt.UTC)
    assert Delivery.objects.count() == len(mail.outbox) == 2


def test_readers_whose_hour_passed_while_the_days_list_was_missing_get_it_when_it_comes(
    db, django_capture_on_commit_callbacks
):
    """The API is down on Friday morning; the fetch rides it out and the list comes
    at 09:07 UTC. Readers whose hour passed meanwhile (Paris at 07:00, London at
    08:00) had nothing new and get Friday's papers at the next run, once; those
    whose hour is to come get them at their hour. Not a reader who had a digest
    that day already (Tokyo had Thursday's on its Friday morning; a Paris reader
    new on Thursday evening had Thursday's at 07:00), nor one who joined after
    their hour (their page promised Monday). Before, none of them got Friday's."""
    from newsletter.editions import edition_assemble

    topic = TopicFactory(name="Continual learning")
    thursday, friday = dt.date(2025, 11, 27), dt.date(2025, 11, 28)
    paris = _reader(delivery_hour=7, time_zone="Europe/Paris")
    london = _reader(delivery_hour=8, time_zone="Europe/London")
    los_angeles = _reader(delivery_hour=7, time_zone="America/Los_Angeles")
    tokyo = _reader(delivery_hour=7, time_zone="Asia/Tokyo")

    def fetched(day, at):
        paper = PaperFactory(trending_date=day)
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])
        # The first run after the list came assembles the edition (edition_current).
        Edition.objects.filter(pk=edition_assemble(date=day).pk).update(created_at=at)

    def run(start, end):
        _runs(django_capture_on_commit_callbacks, start, end)

    fetched(thursday, dt.datetime(2025, 11, 27, 5, 31, tzinfo=dt.UTC))
    run(dt.datetime(2025, 11, 27, 5, 45, tzinfo=dt.UTC), dt.datetime(2025, 11, 28, 0, 0, tzinfo=dt.UTC))
    newcomer = _reader(delivery_hour=7, time_zone="Europe/Paris")  # confirmed Thursday evening
    run(dt.datetime(2025, 11, 28, 0, 0, tzinfo=dt.UTC), dt.datetime(2025, 11, 28, 9, 0, tzinfo=dt.UTC))
    late_joiner = _reader(delivery_hour=7, time_zone="Europe/Paris",
                          confirmed_at=dt.datetime(2025, 11, 28, 8, 30, tzinfo=dt.UTC))
    fetched(friday, dt.datetime(2025, 11, 28, 9, 7, tzinfo=dt.UTC))
    run(dt.datetime(2025, 11, 28, 9, 15, tzinfo=dt.UTC), dt.datetime(2025, 11, 28, 23, 45, tzinfo=dt.UTC))

    def got(reader):
        return sorted((d.edition.date, d.created_at) for d in Delivery.objects.filter(subscriber=reader))

    nine_fifteen = dt.datetime(2025, 11, 28, 9, 15, tzinfo=dt.UTC)
    assert [day for day, _ in got(paris)] == [thursday, friday] and got(paris)[1][1] == nine_fifteen
    assert [day for day, _ in got(london)] == [thursday, friday] and got(london)[1][1] == nine_fifteen
    assert got(los_angeles)[1] == (friday, dt.datetime(2025, 11, 28, 15, 0, tzinfo=dt.UTC))  # their hour
    assert [day for day, _ in got(tokyo)] == [thursday]  # on Friday 07:00 in Tokyo; Friday's on Monday
    assert [day for day, _ in got(newcomer)] == [thursday]  # at 07:00 on Friday
    assert got(late_joiner) == []
    assert Delivery.objects.count() == len(mail.outbox) == 8


def test_readers_whose_hour_passed_while_an_editor_held_the_edition_get_it_on_release(
    db, django_capture_on_commit_callbacks
):
    """An editor holds Monday's edition at 05:35 and releases it at 10:20: the Paris
    reader (07:00) gets it at the next run, once; a London reader at noon at noon.
    Before, "release" sent only to readers whose hour was still to come."""
    from newsletter import curation
    from newsletter.editions import edition_assemble

    topic = TopicFactory(name="Continual learning")
    monday = dt.date(2025, 12, 1)
    paris = _reader(delivery_hour=7, time_zone="Europe/Paris")
    london = _reader(delivery_hour=12, time_zone="Europe/London")
    PaperTopicFactory(paper=PaperFactory(trending_date=monday), topic=topic, score=1.0, matched_terms=["forgetting"])
    edition = edition_assemble(date=monday)
    Edition.objects.filter(pk=edition.pk).update(created_at=dt.datetime(2025, 12, 1, 5, 31, tzinfo=dt.UTC))
    assert curation.edition_hold(edition=edition)

    def run(start, end):
        _runs(django_capture_on_commit_callbacks, start, end)

    run(dt.datetime(2025, 12, 1, 5, 45, tzinfo=dt.UTC), dt.datetime(2025, 12, 1, 10, 30, tzinfo=dt.UTC))
    assert not Delivery.objects.exists()
    assert curation.edition_release(edition=edition, now=dt.datetime(2025, 12, 1, 10, 20, tzinfo=dt.UTC))
    run(dt.datetime(2025, 12, 1, 10, 30, tzinfo=dt.UTC), dt.datetime(2025, 12, 1, 11, 0, tzinfo=dt.UTC))
    assert list(Delivery.objects.values_list("subscriber", flat=True)) == [paris.pk]
    run(dt.datetime(2025, 12, 1, 11, 0, tzinfo=dt.UTC), dt.datetime(2025, 12, 1, 13, 0, tzinfo=dt.UTC))
    assert sorted(Delivery.objects.values_list("subscriber", flat=True)) == sorted([paris.pk, london.pk])
    assert len(mail.outbox) == 2


def test_readers_whose_hour_passed_while_the_dispatcher_was_down_get_the_edition_when_it_is_back(
    db, django_capture_on_commit_callbacks
):
    """Monday's edition is on time (05:31) and the dispatcher runs until 06:45; then
    beat is down (a deploy, a crash) or no worker takes its tasks, until 08:10, when
    the five runs queued meanwhile are all taken at once. The Paris reader (07:00,
    06:00 UTC) had it at their hour; the London reader (07:00) and the UTC reader
    (07:00) had no run in their hour: they get it at 08:10, once, not the next day
    (before: never, as the edition was not late, only the dispatcher). So does a
    reader who joined at 07:40 (their page promised the 07:45 run), not one who
    joined at 07:50 (promised the next day); noon readers get it at noon, as ever."""
    topic = TopicFactory(name="Continual learning")
    monday = dt.date(2025, 12, 1)
    paris = _reader(delivery_hour=7, time_zone="Europe/Paris")
    london = _reader(delivery_hour=7, time_zone="Europe/London")
    utc = _reader(delivery_hour=7, time_zone="UTC")
    noon = _reader(delivery_hour=12, time_zone="UTC")
    PaperTopicFactory(paper=PaperFactory(trending_date=monday), topic=topic, score=1.0, matched_terms=["forgetting"])
    edition = edition_assemble(date=monday)
    Edition.objects.filter(pk=edition.pk).update(created_at=dt.datetime(2025, 12, 1, 5, 31, tzinfo=dt.UTC))

    _runs(django_capture_on_commit_callbacks, dt.datetime(2025, 12, 1, 5, 45, tzinfo=dt.UTC),
          dt.datetime(2025, 12, 1, 7, 0, tzinfo=dt.UTC))
    joined = _reader(delivery_hour=7, time_zone="UTC", confirmed_at=dt.datetime(2025, 12, 1, 7, 40, tzinfo=dt.UTC))
    joined_later = _reader(delivery_hour=7, time_zone="UTC",
                           confirmed_at=dt.datetime(2025, 12, 1, 7, 50, tzinfo=dt.UTC))
    assert next_digest_at(subscriber=joined, now=joined.confirmed_at) == dt.datetime(2025, 12, 1, 7, 45, tzinfo=dt.UTC)
    assert next_digest_at(subscriber=joined_later, now=joined_later.confirmed_at).date() == dt.date(2025, 12, 2)
    back = dt.datetime(2025, 12, 1, 8, 10, tzinfo=dt.UTC)
    for _ in range(5):  # the runs of 07:00 ... 08:00, queued while no worker took them
        newest = Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
        with django_capture_on_commit_callbacks(execute=True):
            digests_dispatch(now=back)
        Delivery.objects.filter(id__gt=newest).update(created_at=back)
    _runs(django_capture_on_commit_callbacks, dt.datetime(2025, 12, 1, 8, 15, tzinfo=dt.UTC),
          dt.datetime(2025, 12, 1, 13, 0, tzinfo=dt.UTC))

    assert _runs_taking(paris) == [dt.datetime(2025, 12, 1, 6, 0, tzinfo=dt.UTC)]
    assert _runs_taking(london) == _runs_taking(utc) == _runs_taking(joined) == [back]
    assert _runs_taking(joined_later) == []
    assert _runs_taking(noon) == [dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.UTC)]
    assert len(mail.outbox) == 5


def test_one_readers_digest_sent_by_hand_while_the_dispatcher_is_down_leaves_the_others_runs_to_catch_up(
    db, django_capture_on_commit_callbacks
):
    """The dispatcher runs until 06:45, then is down until 08:10. At 08:05 an operator
    sends one reader's digest by hand (send_digests --email, at that reader's 08:00
    hour). That was no run of the dispatcher's: the 07:00 reader, whose hour passed
    meanwhile, still gets the edition when the dispatcher is back."""
    _listed(TopicFactory(name="Continual learning"), dt.date(2025, 12, 1))
    edition = edition_assemble(date=dt.date(2025, 12, 1))
    Edition.objects.filter(pk=edition.pk).update(created_at=dt.datetime(2025, 12, 1, 5, 31, tzinfo=dt.UTC))
    seven, eight = _reader(delivery_hour=7, time_zone="UTC"), _reader(delivery_hour=8, time_zone="UTC")
    _runs(django_capture_on_commit_callbacks, dt.datetime(2025, 12, 1, 5, 45, tzinfo=dt.UTC),
          dt.datetime(2025, 12, 1, 7, 0, tzinfo=dt.UTC))

    with django_capture_on_commit_callbacks(execute=True):
        delivery.edition_dispatch(edition=edition, now=dt.datetime(2025, 12, 1, 8, 5, tzinfo=dt.UTC),
                                  email=eight.email)
    assert [m.to[0] for m in mail.outbox] == [eight.email]
    _runs(django_capture_on_commit_callbacks, dt.datetime(2025, 12, 1, 8, 10, tzinfo=dt.UTC),
          dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC))

    assert sorted(m.to[0] for m in mail.outbox) == sorted([eight.email, seven.email])


@pytest.mark.parametrize("fetched_first", [False, True], ids=["mondays-list", "wednesdays-list-fetched-first"])
def test_a_weekly_reader_whose_day_passed_while_beat_was_down_for_two_days_gets_that_weeks_digest(
    db, django_capture_on_commit_callbacks, fetched_first
):
    """Beat is down from Monday 06:45 to Wednesday 10:10 (no fetch, no dispatch).
    When it is back, the newest list is Monday's, or Wednesday's if the fetch it
    missed ran first. A daily reader at 08:00 gets it (their Wednesday hour passed
    within the day), and so do the weekly readers of Mondays and Tuesdays at 08:00:
    looking a day back only, they got nothing until next week's digest, and the
    week's papers never. Once each."""
    topic = TopicFactory(name="Continual learning")
    weekly = _reader(delivery_hour=8, time_zone="UTC", frequency=Subscriber.Frequency.WEEKLY, weekday=0)
    daily = _reader(delivery_hour=8, time_zone="UTC")
    tuesdays = _reader(delivery_hour=8, time_zone="UTC", frequency=Subscriber.Frequency.WEEKLY, weekday=1)
    fridays = _reader(delivery_hour=8, time_zone="UTC", frequency=Subscriber.Frequency.WEEKLY, weekday=4)
    monday = dt.date(2025, 12, 1)
    _listed(topic, monday)
    for minutes in (0, 15, 30, 45):
        _dispatch_alone(django_capture_on_commit_callbacks, dt.datetime(2025, 12, 1, 6, minutes, tzinfo=dt.UTC))
    assert not Delivery.objects.exists()
    newest = dt.date(2025, 12, 3) if fetched_first else monday
    if fetched_first:
        _listed(topic, newest)

    back = dt.datetime(2025, 12, 3, 10, 10, tzinfo=dt.UTC)  # Wednesday
    for _ in range(2):  # and the run after it
        with django_capture_on_commit_callbacks(execute=True):
            digests_dispatch(now=back)
        back += DISPATCH_EVERY

    got = dict(Delivery.objects.values_list("subscriber", "weekly"))
    assert got == {weekly.pk: True, daily.pk: False, tuesdays.pk: True}
    assert sorted(m.to[0] for m in mail.outbox) == sorted([weekly.email, daily.email, tuesdays.email])
    assert fridays.pk not in got  # their day has not come
    assert set(Delivery.objects.values_list("edition__date", flat=True)) == {newest}


def test_dispatch_twice_creates_one_delivery_and_one_email_per_reader(
    edition, django_capture_on_commit_callbacks
):
    readers = [_reader(delivery_hour=7) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW + dt.timedelta(minutes=15)) == 0

    assert Delivery.objects.filter(status="sent").count() == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
    edition.refresh_from_db()
    assert edition.frozen_at is not None


def test_an_edition_on_hold_sends_nothing(edition, django_capture_on_commit_callbacks):
    _reader(delivery_hour=7)
    Edition.objects.filter(pk=edition.pk).update(on_hold=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW) == 0
    assert not Delivery.objects.exists()
    assert mail.outbox == []


def test_a_hold_stops_the_batches_already_queued_and_release_sends_them_once(
    edition, django_capture_on_commit_callbacks
):
    """Hold was the runbook's brake (an ESP outage, a bounce storm, a wrong paper),
    and batches queued before it, or waiting out a retry, went on sending: an
    operator saw 239 digests go out after pressing it. Released, each reader gets it
    once, from the sweep."""
    from newsletter import curation
    from newsletter.delivery import deliveries_resolve_stale

    readers = [_reader(delivery_hour=7) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=False):
        digests_dispatch(now=NOW)  # rows made and a batch queued, not run yet
    ids = list(Delivery.objects.values_list("id", flat=True))
    assert len(ids) == 3
    assert curation.edition_hold(edition=edition)

    outcome = digest_send_batch(delivery_ids=ids, now=NOW + dt.timedelta(minutes=1))
    assert outcome.sent == [] and mail.outbox == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resolve_stale(now=NOW + dt.timedelta(minutes=5))  # held: left alone
    assert mail.outbox == []

    assert curation.edition_release(edition=edition)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resolve_stale(now=NOW + dt.timedelta(minutes=10))
    assert Delivery.objects.filter(status="sent").count() == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)


def test_batches_are_queued_only_after_commit(edition, django_capture_on_commit_callbacks):
    for _ in range(3):
        _reader(delivery_hour=7)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        digests_dispatch(now=NOW)
    # 3 readers: one batch (the other callback refreshes the public pages of the
    # edition it published, newsletter/page_cache.py).
    queued = [c for c in callbacks if "digest_send_batch" in repr(c)]
    assert len(queued) == 1
    assert mail.outbox == []  # nothing sent before commit


# --- The batch --------------------------------------------------------------------


@pytest.fixture
def one_sending_thread(monkeypatch):
    """The process's sending pool with one thread: calls in the batch's order."""
    pool = esp.SendingPool(1)
    monkeypatch.setattr(esp, "_pool", pool)
    yield pool
    pool.shutdown()


def test_a_batch_sends_over_kept_connections_with_tags_metadata_and_list_headers(
    edition, scripted, settings
):
    readers = [_reader() for _ in range(3)]
    ids = _pending(edition, readers)

    outcome = digest_send_batch(delivery_ids=ids)

    assert len(outcome.sent) == 3
    # One connection per sending thread at most, kept for the next batch.
    assert scripted.opened <= min(3, settings.ESP_SEND_THREADS)
    opened = scripted.opened
    assert len(digest_send_batch(delivery_ids=_pending(edition, [_reader(), _reader()])).sent) == 2
    assert scripted.opened == opened or scripted.opened <= min(5, settings.ESP_SEND_THREADS)
    message = mail.outbox[0]
    row = Delivery.objects.get(subscriber__email=message.to[0])
    assert message.anymail_test_params["tags"] == ["digest"]
    assert message.anymail_test_params["metadata"] == {"delivery_id": str(row.id), "edition": "2025-11-24"}
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["List-Unsubscribe"].startswith("<http://testserver/")
    assert row.status == "sent" and row.sent_at and row.provider_message_id != ""
    # Five picks, and the topic's other three (past the reader's five, all voted for)
    # as also trending; row.picked says where the picks end.
    assert (len(row.paper_ids), row.picked) == (5 + 3, 5)


def test_a_batch_run_twice_sends_nothing_twice(edition, scripted):
    ids = _pending(edition, [_reader(), _reader()])
    digest_send_batch(delivery_ids=ids)
    again = digest_send_batch(delivery_ids=ids)
    assert again.sent == [] and len(mail.outbox) == 2


def test_a_batch_leaves_no_journal_entry_of_the_rows_it_settled(edition, scripted):
    """Each send is journalled in Redis while its row is in hand; once the batch has
    marked the rows, their entries go (they would otherwise sit in Redis for three
    days: 100,000 readers a day kept some 300,000 keys)."""
    ids = _pending(edition, [_reader(), _reader()])
    assert len(digest_send_batch(delivery_ids=ids).sent) == 2
    rows = list(Delivery.objects.filter(id__in=ids))
    assert {r.status for r in rows} == {"sent"}
    assert _redis().exists(*[journal_key(r) for r in rows]) == 0


def test_a_retried_task_sends_nothing_twice(edition, scripted):
    ids = _pending(edition, [_reader(), _reader()])
    digest_send_batch_task.delay(ids)
    digest_send_batch_task.delay(ids)  # redelivered message
    assert len(mail.outbox) == 2


def test_a_transient_error_is_retried_and_then_sent_once(edition, scripted):
    reader = _reader()
    scripted.script[reader.email] = [
        esp_http_error(502),
        esp_http_error(503),
        None,
    ]
    ids = _pending(edition, [reader])

    assert run_with_retries(ids) == 2

    row = Delivery.objects.get()
    assert row.status == "sent" and row.attempts == 3
    assert [m.to[0] for m in mail.outbox] == [reader.email]


def test_a_429_slows_every_worker_down_and_the_batch_still_sends(edition, scripted, settings):
    """A rate limit is not an outage: the shared rate halves and the refused message
    is sent again in the same batch, not after a retry countdown."""

    settings.ESP_MAX_PER_SECOND = 200
    esp.esp_throttle_reset()
    limited, other = _reader(), _reader()
    scripted.script[limited.email] = [esp_http_error(429), esp_http_error(429), None]
    ids = _pending(edition, [limited, other])

    assert run_with_retries(ids) == 0

    assert sorted(m.to[0] for m in mail.outbox) == sorted([limited.email, other.email])
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert float(_redis().hget("digest:esp:rate", "rate")) < 200


def test_a_transient_error_stops_the_batch_and_leaves_the_rest_pending(
    edition, scripted, one_sending_thread
):
    first, second = _reader(), _reader()
    scripted.script[first.email] = [TimeoutError("ESP timed out")]
    ids = _pending(edition, [first, second])

    outcome = digest_send_batch(delivery_ids=ids)

    assert sorted(outcome.retry) == sorted(ids)
    rows = Delivery.objects.order_by("id")
    assert [r.status for r in rows] == ["pending", "pending"]
    assert [r.attempts for r in rows] == [1, 0]
    assert "timed out" in rows[0].error
    # The ledger says why the second was not tried.
    assert rows[1].error == "not attempted: TimeoutError: ESP timed out"
    assert mail.outbox == []


def test_a_permanent_error_fails_that_reader_only_and_is_not_retried(edition, scripted):
    bad, good = _reader(), _reader()
    scripted.script[bad.email] = [AnymailRecipientsRefused("address rejected")]
    ids = _pending(edition, [bad, good])

    digest_send_batch_task.delay(ids)

    assert Delivery.objects.get(subscriber=bad).status == "failed"
    assert "rejected" in Delivery.objects.get(subscriber=bad).error
    assert Delivery.objects.get(subscriber=good).status == "sent"
    assert [m.to[0] for m in mail.outbox] == [good.email]


def test_the_esps_refusal_keeps_no_readers_whole_address_on_the_ledger_or_in_the_logs(edition, scripted, caplog):
    """ESPs name the recipient in their refusals (Postmark's 406: "Found inactive
    addresses: jane.doe@example.com"): the ledger row's reason, which an editor who
    sees addresses masked reads in the ledger, and the log line carried it whole.
    Both now say "j…@example.com"."""
    reader = _reader(email="jane.doe@example.com")
    response = requests.Response()
    response.status_code, response.reason = 406, "Not Acceptable"
    response._content = (b'{"ErrorCode": 406, "Message": "You tried to send to recipient(s) that have been marked '
                         b'as inactive. Found inactive addresses: jane.doe@example.com."}')
    scripted.script[reader.email] = [AnymailRequestsAPIError("ESP API response", response=response)]
    caplog.set_level("INFO")

    digest_send_batch_task.delay(_pending(edition, [reader]))

    row = Delivery.objects.get(subscriber=reader)
    assert row.status == "failed" and "Found inactive addresses: j…@example.com" in row.error
    assert "jane.doe" not in row.error and "jane.doe" not in caplog.text


def test_a_4xx_from_the_esp_is_permanent():
    assert not error_is_transient(AnymailAPIError("invalid", status_code=422))
    assert error_is_transient(AnymailAPIError("down", status_code=503))
    assert error_is_transient(ConnectionError("reset"))


def test_transient_errors_give_up_after_max_attempts(edition, scripted):
    reader = _reader()
    scripted.script[reader.email] = [TimeoutError("down")] * sending.MAX_ATTEMPTS
    ids = _pending(edition, [reader])

    assert run_with_retries(ids) == sending.MAX_ATTEMPTS - 1

    row = Delivery.objects.get()
    assert row.status == "failed" and row.attempts == sending.MAX_ATTEMPTS
    assert row.error.startswith(f"gave up after {sending.MAX_ATTEMPTS} attempts")
    assert mail.outbox == []


def test_a_batchs_retry_carries_only_the_rows_that_failed_and_waits_longer_each_time(
    edition, scripted, one_sending_thread
):
    """The ESP times out on one reader four times: each retry's message names only
    that reader's row (the sent one is not claimed again), and the waits grow with
    the tries (1, 2, 4, 8 minutes, jittered), not the first try's minute each time."""
    # The fine one first, and one sending thread: its call is made before the batch
    # stops (with the pool's threads the stuck call could stop the batch first).
    fine, stuck = _reader(), _reader()
    scripted.script[stuck.email] = [TimeoutError("down")] * 4
    ids = _pending(edition, [fine, stuck])
    stuck_row = Delivery.objects.get(subscriber=stuck).pk
    kwargs, waits = {"delivery_ids": ids}, []
    for retries in range(4):
        with pytest.raises(Retry) as retry:
            digest_send_batch_task.apply(kwargs=kwargs, retries=retries, throw=True)
        kwargs = retry.value.sig.kwargs
        assert kwargs["delivery_ids"] == [stuck_row]
        waits.append(retry.value.when)
    assert waits[0] <= 90 and waits[3] >= 480
    digest_send_batch_task.apply(kwargs=kwargs, retries=4, throw=True)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([stuck.email, fine.email])


def test_retry_backoff_grows_and_is_jittered():
    first, later = delivery.retry_countdown(0), delivery.retry_countdown(3)
    assert 60 <= first <= 90 and 480 <= later <= 720
    assert delivery.retry_countdown(20) <= delivery.RETRY_MAX_SECONDS * 1.5


def test_a_suppressed_address_is_skipped_not_mailed(edition):
    reader = _reader()
    Suppression.objects.create(email_hash=email_hash(reader.email), reason="bounced")
    digest_send_batch(delivery_ids=_pending(edition, [reader]))
    assert Delivery.objects.get().status == "skipped"
    assert mail.outbox == []


def test_a_reader_at_another_spelling_of_a_mailbox_that_complained_is_skipped(edition):
    """The reader of a.da+papers@gmail.com, still active (they joined before the
    complaint, or before the list kept mailboxes: migration 0020), gets no digest
    once ada@gmail.com reported one as spam: Gmail delivers both to one inbox."""
    reader, other = _reader(), _reader(email="a.da+papers@gmail.com")
    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.COMPLAINT)
    Subscriber.objects.filter(pk=other.pk).update(status=Subscriber.Status.ACTIVE)
    outcome = digest_send_batch(delivery_ids=_pending(edition, [reader, other]))
    assert [m.to[0] for m in mail.outbox] == [reader.email]
    assert Delivery.objects.get(subscriber=other).status == "skipped"
    assert len(outcome.skipped) == 1


def test_the_batchs_log_line_counts_a_skipped_reader_as_skipped_not_sent(edition, caplog):
    """The runbook reads each batch's line: a reader whose address is suppressed is
    one skipped, not one more sent."""
    reader, suppressed = _reader(), _reader()
    Suppression.objects.create(email_hash=email_hash(suppressed.email), reason="bounced")
    with caplog.at_level(logging.INFO, logger="newsletter.delivery"):
        digest_send_batch(delivery_ids=_pending(edition, [reader, suppressed]))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("digest batch"))
    assert " batch_size=2 sent=1 failed=0 skipped=1 retry=0 " in line


def test_readers_who_leave_or_pause_after_their_digest_was_queued_get_none_and_the_ledger_says_why(
    edition, scripted
):
    """The dispatcher queued them; they left or paused before their batch started.
    The batch reads their status at the claim: no email, and the ledger row says why
    (tests/chaos/test_fault_matrix.py tells the same story with workers, slowly)."""
    leaver, pauser, stayer = _reader(), _reader(), _reader()
    ids = _pending(edition, [leaver, pauser, stayer])
    subscriber_unsubscribe(subscriber=leaver, ip=None, user_agent="test")
    Subscriber.objects.filter(pk=pauser.pk).update(
        status=Subscriber.Status.PAUSED, paused_until=timezone.now().date() + dt.timedelta(days=7))

    outcome = digest_send_batch(delivery_ids=ids)

    assert [m.to[0] for m in mail.outbox] == [stayer.email]
    rows = {r.subscriber_id: r for r in Delivery.objects.all()}
    assert (rows[leaver.pk].status, rows[leaver.pk].error) == ("skipped", "reader unsubscribed")
    assert (rows[pauser.pk].status, rows[pauser.pk].error) == ("skipped", "reader paused")
    assert sorted(outcome.skipped) == sorted([rows[leaver.pk].pk, rows[pauser.pk].pk])


def test_a_digest_that_cannot_be_made_fails_that_reader_only_and_an_editor_can_send_it_again(
    edition, scripted, monkeypatch, django_capture_on_commit_callbacks
):
    """A reader's digest whose making raised is failed with the reason, not skipped:
    the ledger's "send again" (only failed rows) takes it up once the fault is mended."""
    broken, other = _reader(), _reader()
    make = digest.digest_make

    def make_or_fail(**kwargs):
        if kwargs["subscriber"].pk == broken.pk:
            raise ValueError("a template could not be rendered")
        return make(**kwargs)

    monkeypatch.setattr(digest, "digest_make", make_or_fail)
    ids = _pending(edition, [broken, other])

    outcome = digest_send_batch(delivery_ids=ids)

    row = Delivery.objects.get(subscriber=broken)
    assert row.status == "failed" and "a template could not be rendered" in row.error
    assert outcome.failed == [row.pk] and outcome.skipped == []
    assert [m.to[0] for m in mail.outbox] == [other.email]

    monkeypatch.setattr(digest, "digest_make", make)
    with django_capture_on_commit_callbacks(execute=True):
        assert curation.deliveries_retry_failed(deliveries=[row]) == [row.pk]

    assert [m.to[0] for m in mail.outbox] == [other.email, broken.email]
    assert Delivery.objects.get(pk=row.pk).status == "sent"


def test_a_readers_last_try_meeting_an_outage_gives_up_without_holding_back_the_rest_of_the_batch(
    edition, scripted, one_sending_thread
):
    """Rule 4 stops a batch at a transient error so its rows are tried again later;
    a row on its last attempt will not be: it fails (gave up) and the readers after
    it are sent in the same batch, not after a back-off."""
    last, after = _reader(), _reader()
    scripted.script[last.email] = [TimeoutError("ESP timed out")]
    ids = _pending(edition, [last, after])
    Delivery.objects.filter(subscriber=last).update(attempts=sending.MAX_ATTEMPTS - 1)

    assert run_with_retries(ids) == 0

    assert [m.to[0] for m in mail.outbox] == [after.email]
    gave_up, sent = Delivery.objects.get(subscriber=last), Delivery.objects.get(subscriber=after)
    assert gave_up.status == "failed" and gave_up.attempts == sending.MAX_ATTEMPTS
    assert gave_up.error.startswith(f"gave up after {sending.MAX_ATTEMPTS} attempts")
    assert (sent.status, sent.attempts) == ("sent", 1)


# --- Stale rows (a dead worker) -----------------------------------------------------


def _claimed_then_killed(edition, readers, journal: dict):
    """Rows as a worker killed mid-batch leaves them: claimed, some journalled."""
    ids = _pending(edition, readers)
    claimed_at = NOW - delivery.stale_after() - dt.timedelta(minutes=1)
    leases.deliveries_claim(delivery_ids=ids, now=claimed_at)
    rows = {r.subscriber_id: r for r in Delivery.objects.all()}
    for reader, value in journal.items():
        # Written as the sending threads write it: "attempting" with the call's slot,
        # "sent:<id>" as the slot is given back after a call the ESP took.
        value, papers = value if isinstance(value, tuple) else (value, ([], None))
        record = journal_record(journal_key(rows[reader.id]), paper_ids=papers[0], picked=papers[1],
                                **(papers[2] if len(papers) > 2 else {}))
        slot = esp.esp_slot_take(record=record)
        message_id = value.removeprefix(SENT_PREFIX) if value.startswith(SENT_PREFIX) else None
        esp.esp_slot_release(slot, record=record, message_id=message_id)
    return rows


def test_stale_rows_are_settled_from_the_journal(edition, django_capture_on_commit_callbacks):
    was_sent, in_flight, not_reached = _reader(), _reader(), _reader()
    _claimed_then_killed(
        edition, [was_sent, in_flight, not_reached],
        {was_sent: "sent:esp-123", in_flight: "attempting"},
    )

    with django_capture_on_commit_callbacks(execute=True):
        counts = deliveries_resolve_stale(now=NOW)

    assert counts == {"sent": 1, "requeued": 2, "in_flight": 1}
    assert Delivery.objects.get(subscriber=was_sent).provider_message_id == "esp-123"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    # The one already sent is not mailed again; the other two get theirs.
    assert sorted(m.to[0] for m in mail.outbox) == sorted([in_flight.email, not_reached.email])


def test_a_worker_frozen_between_a_429_and_its_retry_makes_no_call_once_the_sweep_requeued_its_row(
        edition, django_capture_on_commit_callbacks):
    """mail/esp.py retries a call the ESP refused with 429 after its next slot, in the
    same claim, writing "attempting" again with that slot. A worker frozen between
    the two (its entry "attempting") while the sweep re-queues its row: the sweep's
    read revokes the entry, so the retry is refused its slot and makes no call, and
    the reader gets the re-queued digest only. Left "attempting", the retry would
    have mailed them a second time."""
    reader = _reader()
    rows = _claimed_then_killed(edition, [reader], {reader: "attempting"})
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=NOW)["requeued"] == 1
    assert [m.to[0] for m in mail.outbox] == [reader.email]

    with pytest.raises(esp.EspRecordRefused):  # the frozen worker wakes and retries its call
        esp.esp_slot_take(record=journal_record(journal_key(rows[reader.id])))


def test_a_sweep_that_dies_before_it_commits_leaves_the_journal_for_the_next_one(
        edition, django_capture_on_commit_callbacks):
    """The sweep revokes the journal entries it reads (in Redis) and settles the rows
    in a database transaction. When that transaction is lost (the sweep's worker
    killed, the database gone mid-commit), the next sweep reads the journal again:
    a digest the ESP took must still read "sent", or its reader is mailed twice."""
    was_sent, in_flight = _reader(), _reader()
    _claimed_then_killed(edition, [was_sent, in_flight], {was_sent: "sent:esp-123", in_flight: "attempting"})

    with transaction.atomic():  # the first sweep: everything it wrote to the database is lost
        deliveries_resolve_stale(now=NOW)
        transaction.set_rollback(True)
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sending"}

    with django_capture_on_commit_callbacks(execute=True):
        counts = deliveries_resolve_stale(now=NOW)
    assert counts["sent"] == 1
    row = Delivery.objects.get(subscriber=was_sent)
    assert (row.status, row.provider_message_id) == ("sent", "esp-123")
    assert [m.to[0] for m in mail.outbox] == [in_flight.email]


def test_the_settle_task_writes_an_info_line_only_when_it_settled_rows(
        edition, caplog, django_capture_on_commit_callbacks):
    """Beat runs the sweep every 20 s: each idle run wrote INFO lines to the worker's
    log ("succeeded in 0.05s: {'sent': 0, 'requeued': 0, 'in_flight': 0}"), which
    buried the batch lines the runbook points to. An idle run writes nothing at INFO;
    a run that settles rows says what it did, and the batch it re-queued its line."""
    caplog.set_level(logging.INFO)
    deliveries_settle_task.apply()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []

    _claimed_then_killed(edition, [_reader(), _reader()], {})
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_settle_task.apply()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "stale deliveries settled: sent=0 requeued=2 in_flight=0" in lines
    assert any(line.startswith("digest batch edition=2025-11-24 batch_size=2 sent=2") for line in lines), lines


def test_a_row_settled_from_the_journal_keeps_what_its_reader_got(edition, django_capture_on_commit_callbacks):
    """The worker died after the ESP took the digest and before the row was marked:
    the sweep marks it sent, and with the papers the reader got, so their web copy is
    not empty and the next digests do not repeat them; with its picks' "why" lines
    and whether it was a weekly, which its web copy shows (they were not journalled:
    the copy had no why line and read as a daily's). An entry of an older worker
    ("sent:<id>" alone) still settles the row, with no papers."""
    reader, older = _reader(), _reader()
    _claimed_then_killed(edition, [reader, older], {
        # A message id with any character.
        reader: ("sent:esp-7;a", ([31, 32, 33], 2, {"reasons": ["Agents · matched: tool use", "Trending"],
                                                     "weekly": True, "chips": [[], ["Robotics"], ["Vision"]]})),
        older: "sent:esp-8",
    })
    key = journal_key(Delivery.objects.get(subscriber=older))
    _redis().set(key, "sent:esp-8")  # as a worker from before wrote it

    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=NOW)["sent"] == 2

    row = Delivery.objects.get(subscriber=reader)
    assert (row.status, row.provider_message_id, row.paper_ids, row.picked) == ("sent", "esp-7;a", [31, 32, 33], 2)
    assert (row.reasons, row.weekly) == (["Agents · matched: tool use", "Trending"], True)
    assert row.chips == [[], ["Robotics"], ["Vision"]]  # the topics beside each, for the web copy too
    row = Delivery.objects.get(subscriber=older)
    assert (row.status, row.provider_message_id, row.paper_ids, row.picked) == ("sent", "esp-8", [], None)
    assert mail.outbox == []


def test_a_claim_is_a_lease_settled_once_it_is_not_renewed(edition, django_capture_on_commit_callbacks):
    """Rows of a live worker (lease renewed) are left alone; a minute without a
    heartbeat and they are settled, long before the task time limit."""
    ids = _pending(edition, [_reader()])
    claimed_at = NOW - dt.timedelta(seconds=30)
    leases.deliveries_claim(delivery_ids=ids, now=claimed_at)
    assert deliveries_resolve_stale(now=NOW)["requeued"] == 0
    assert Delivery.objects.get().status == "sending"

    lapsed = claimed_at + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    assert lapsed - claimed_at < delivery.stale_after()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=lapsed)["requeued"] == 1
    assert Delivery.objects.get().status == "sent"
    assert len(mail.outbox) == 1


def test_a_batch_longer_than_a_heartbeat_renews_its_lease_without_crying_lost(
    edition, scripted, one_sending_thread, monkeypatch, caplog
):
    """A batch slowed by its ESP (a rate, 429s) outlives a heartbeat: the rows it has
    already sent are no longer its lease's, and are not lost. Counted as lost, the
    operator's worker log said "lease lost on 59 of 100 deliveries" on every such
    batch while nothing had gone wrong."""
    first, second = _reader(), _reader()
    ids = _pending(edition, [first, second])
    monkeypatch.setattr(leases, "HEARTBEAT_SECONDS", 0)  # a heartbeat at every look
    post = ScriptedBackend.post_to_esp

    def second_slow(self, payload, message):
        if payload.recipient_emails[0] == second.email:
            time.sleep(0.5)  # the first row is marked sent meanwhile, then the lease renewed
        return post(self, payload, message)

    monkeypatch.setattr(ScriptedBackend, "post_to_esp", second_slow)
    caplog.set_level("INFO")
    outcome = digest_send_batch(delivery_ids=ids)

    assert outcome.sent == ids and len(mail.outbox) == 2
    assert "lease lost" not in caplog.text


def test_a_live_workers_heartbeat_renews_its_claim_well_within_the_lease(edition):
    """A worker alive in a long batch (an ESP at its rate limit, 429s) keeps its rows:
    20 seconds after its last renewal, a third of the lease, its next heartbeat pushes
    the lease forward, so a slow provider call or a pause between two heartbeats never
    lets the sweep settle rows a live worker is sending. (A heartbeat every 150 s
    passed every other test here: the lease would lapse in every batch over a minute.)"""
    ids = _pending(edition, [_reader()])
    claimed_at = timezone.now()
    assert leases.deliveries_claim(delivery_ids=ids, now=claimed_at) == ids
    claimed_until = Delivery.objects.get().lease_expires_at
    lease = leases.BatchLease(delivery_ids=ids, claimed_at=claimed_at)
    lease.renewed -= 20  # its last renewal was 20 seconds ago

    lease.beat()

    assert Delivery.objects.get().lease_expires_at > claimed_until


def test_a_worker_that_wakes_after_its_rows_went_to_another_keeps_none_of_them_alive(edition, caplog):
    """A frozen worker wakes after the sweep gave its rows to another worker's claim:
    its heartbeat must neither renew that claim's lease (a second dead worker's rows
    would then wait for the first to die too) nor count the rows as still its own
    (it says the lease was lost)."""
    ids = _pending(edition, [_reader()])
    assert leases.deliveries_claim(delivery_ids=ids, now=NOW) == ids
    frozen = leases.BatchLease(delivery_ids=ids, claimed_at=NOW)
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    assert deliveries_resolve_stale(now=later)["requeued"] == 1  # its message is not run here
    assert leases.deliveries_claim(delivery_ids=ids, now=later) == ids  # the other worker
    others_lease = Delivery.objects.get().lease_expires_at

    frozen.renewed -= leases.HEARTBEAT_SECONDS  # it wakes, a heartbeat due
    frozen.beat()

    row = Delivery.objects.get()
    assert row.status == "sending" and row.claimed_at == later
    assert row.lease_expires_at == others_lease
    assert "lease lost on 1 of 1 deliveries" in caplog.text


def test_a_duplicate_of_a_retried_batchs_message_does_not_cut_its_back_off_short(
    edition, scripted, one_sending_thread
):
    """Rows a transient ESP error sent back to pending hold a lease for the retry's
    countdown. A copy of their first message received meanwhile (a redelivery) leases
    them again: that must never shorten the lease, or the sweep re-queues them a
    minute later and an ESP outage is hit every minute instead of with back-off."""
    reader = _reader()
    scripted.script[reader.email] = [TimeoutError("ESP timed out")]
    ids = _pending(edition, [reader])
    outcome = digest_send_batch(delivery_ids=ids, retry_in=600)
    assert outcome.retry == ids
    retry_lease = Delivery.objects.get().lease_expires_at

    assert leases.deliveries_reserve(delivery_ids=ids) == 0
    assert Delivery.objects.get().lease_expires_at == retry_lease
    a_lease_later = timezone.now() + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    assert deliveries_resolve_stale(now=a_lease_later)["requeued"] == 0


def test_a_worker_that_lost_its_lease_sends_nothing_more(edition, scripted, one_sending_thread, monkeypatch):
    """A frozen worker wakes up after the sweep settled its rows: it must not call
    the provider for them, nor overwrite what the sweep recorded."""
    first, second = _reader(), _reader()
    ids = _pending(edition, [first, second])
    swept = []

    def freeze_after_the_first_message(lease):
        # Called by the batch after each digest is made; after the first message went
        # out, the worker "freezes" past its lease and the sweep runs.
        if swept:
            return
        first_row = Delivery.objects.get(subscriber=first)
        first_row.claimed_at = lease.claimed_at
        key = journal_key(first_row)
        deadline = time.monotonic() + 10
        while not (_redis().get(key) or b"").startswith(b"sent:"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        swept.append(deliveries_resolve_stale(
            now=timezone.now() + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)))

    monkeypatch.setattr(leases.BatchLease, "beat", freeze_after_the_first_message)
    outcome = digest_send_batch(delivery_ids=ids)

    # The first row was settled sent, by the sweep from the journal or by the worker
    # as its call came back (whichever came first); the second was never attempted.
    assert swept[0]["requeued"] == 1 and swept[0]["in_flight"] == 0
    assert outcome.sent == [ids[0]] and outcome.lost == [ids[1]]
    assert [m.to[0] for m in mail.outbox] == [first.email]
    rows = Delivery.objects.order_by("id")
    # What the sweep recorded stands: sent from the journal, and re-queued.
    assert [r.status for r in rows] == ["sent", "pending"]
    assert rows[1].attempts == 0 and rows[1].claimed_at is None


def test_a_restarted_redis_losing_the_journal_sends_nobody_twice(
    edition, scripted, monkeypatch, django_capture_on_commit_callbacks
):
    """Every message of the batch went out; then, before the batch ended, Redis
    restarted without persistence (the journal is gone) and the worker froze past
    its lease, so the sweep settled its rows with no journal to read. What was sent
    is in the database already (ledger rule 2): nobody gets a second digest."""
    readers = [_reader() for _ in range(3)]
    ids = _pending(edition, readers)
    record = delivery.outcomes_record
    swept = []

    def redis_lost_and_worker_frozen_before_the_end(*args, **kwargs):
        if swept:  # the batch the sweep re-queued, if any, ends as usual
            return record(*args, **kwargs)
        journal = _redis()
        keys = list(journal.scan_iter(match="digest:journal:*"))
        assert keys  # the batch had journalled its sends
        journal.delete(*keys)
        with django_capture_on_commit_callbacks(execute=True):  # the re-queued batch runs
            swept.append(deliveries_resolve_stale(
                now=timezone.now() + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)))
        return record(*args, **kwargs)

    monkeypatch.setattr(delivery, "outcomes_record", redis_lost_and_worker_frozen_before_the_end)
    outcome = digest_send_batch(delivery_ids=ids)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
    assert sorted(outcome.sent) == sorted(ids)
    assert swept == [{"sent": 0, "requeued": 0, "in_flight": 0}]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.postgresql
def test_a_large_dispatch_refreshes_the_ledgers_planner_statistics(edition, monkeypatch):
    """The send batches start as soon as the dispatch commits; on PostgreSQL their
    statements must be planned for the table as it now is (docs/benchmarks.md)."""
    monkeypatch.setattr(delivery, "ANALYZE_AFTER_ROWS", 20)
    readers = [SubscriberFactory() for _ in range(25)]
    ids = delivery.deliveries_create(edition=edition, subscriber_ids=[r.id for r in readers], now=NOW)
    assert len(ids) == 25
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Delivery._meta.db_table])
        assert cursor.fetchone()[0] >= 25


def test_rows_of_a_message_a_dead_worker_had_taken_are_requeued_after_its_lease(
    edition, django_capture_on_commit_callbacks
):
    """A worker took the batch's message (Celery's task_received) and died before
    running it: Redis would hide the message for an hour; the lease on its pending
    rows lets the sweep re-queue them a minute later."""
    ids = _pending(edition, [_reader(), _reader()])
    assert leases.deliveries_reserve(delivery_ids=ids, now=NOW) == 2
    assert deliveries_resolve_stale(now=NOW + dt.timedelta(seconds=30))["requeued"] == 0
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=later)["requeued"] == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.outbox) == 2


def test_a_batch_message_a_worker_takes_leases_its_rows_as_the_dispatcher_and_a_retry_queue_it(edition):
    """Celery's task_received, with the message as the dispatcher queues it (the ids
    positional: delay_on_commit(batch)) and as a retry does (by keyword): its pending
    rows hold a lease from then, so the sweep re-queues them a minute after a worker
    that took the message dies, not after Redis's hour."""
    from celery.signals import task_received

    queued, retried = _pending(edition, [_reader()]), _pending(edition, [_reader()])
    assert not Delivery.objects.filter(lease_expires_at__isnull=False).exists()
    for args, kwargs in (([queued], {}), ([], {"delivery_ids": retried})):
        task_received.send(sender=None, request=types.SimpleNamespace(
            name=digest_send_batch_task.name, eta=None, args=args, kwargs=kwargs))
    soon = timezone.now() + dt.timedelta(seconds=leases.LEASE_SECONDS - 5)
    assert Delivery.objects.filter(lease_expires_at__gt=soon).count() == 2


def test_a_digest_settled_from_the_journal_reads_sent_when_it_went_out_not_when_the_sweep_ran(
        edition, django_capture_on_commit_callbacks):
    """The Deliveries list shows when each digest went out, and the dashboard counts
    it on that day: a row the sweep marks sent from the journal went out during its
    claim, minutes (or, across midnight, a day) before the sweep found it."""
    reader = _reader()
    rows = _claimed_then_killed(edition, [reader], {reader: "sent:esp-9"})
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resolve_stale(now=NOW)
    row = Delivery.objects.get(subscriber=reader)
    assert row.status == "sent"
    assert row.sent_at == rows[reader.id].claimed_at < NOW - delivery.stale_after()


def test_a_digest_whose_worker_died_in_the_provider_call_counts_that_call_among_its_attempts(
        edition, django_capture_on_commit_callbacks):
    """The Deliveries list's attempts: the call the dead worker was making is one, the
    call that re-sends it another (a message that kills its worker each time runs out
    of attempts instead of going out again and again)."""
    reader = _reader()
    _claimed_then_killed(edition, [reader], {reader: "attempting"})
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=NOW)["in_flight"] == 1
    row = Delivery.objects.get(subscriber=reader)
    assert (row.status, row.attempts) == ("sent", 2)
    assert [m.to[0] for m in mail.outbox] == [reader.email]


def test_a_digest_claimed_by_a_release_without_leases_is_settled_once_its_claim_is_stale(
        edition, django_capture_on_commit_callbacks):
    """Rows a worker of the release before leases claimed have no lease: when that
    worker died in the deploy, they are settled by their claim's age, not left
    `sending` for ever with their readers never mailed."""
    reader, recent = _reader(), _reader()
    _claimed_then_killed(edition, [reader], {})
    ids = _pending(edition, [recent])
    leases.deliveries_claim(delivery_ids=ids, now=NOW - dt.timedelta(minutes=5))
    Delivery.objects.update(lease_expires_at=None)  # as the release before leases left them
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_resolve_stale(now=NOW)["requeued"] == 1
    assert Delivery.objects.get(subscriber=reader).status == "sent"
    assert Delivery.objects.get(subscriber=recent).status == "sending"
    assert [m.to[0] for m in mail.outbox] == [reader.email]


def test_a_sweep_just_after_a_dispatch_requeues_none_of_its_rows(edition):
    """Rows dispatched seconds ago wait for a worker to take their message: the sweep
    (every 20 s) leaves them to it, and its line in the worker's log says it
    re-queued nothing, rather than sending each batch's message again."""
    _pending(edition, [_reader(), _reader()])
    assert deliveries_resolve_stale(now=timezone.now() + dt.timedelta(seconds=10))["requeued"] == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {"pending"}


def test_rows_a_sweep_requeued_are_not_requeued_again_by_the_next_sweep(edition):
    """A dead worker's reserved rows are re-queued once; the sweep 20 s later finds
    their new message waiting for a worker, and queues them no second time."""
    ids = _pending(edition, [_reader(), _reader()])
    leases.deliveries_reserve(delivery_ids=ids, now=NOW)
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    assert deliveries_resolve_stale(now=later)["requeued"] == 2  # its message waits (not run here)
    next_sweep = later + dt.timedelta(seconds=delivery.SETTLE_EVERY_SECONDS)
    assert deliveries_resolve_stale(now=next_sweep)["requeued"] == 0


def test_a_row_is_marked_sent_only_while_its_claim_holds_it(edition):
    # deliveries_mark_sent (rule 2): the row gets the provider's id and what the reader
    # got; once the sweep took the row (claimed again at another time), it is left
    # alone, though it is in the same statement as a row its claim still holds.
    first, second = _pending(edition, [_reader(), _reader()])
    claimed = leases.deliveries_claim(delivery_ids=[first, second], now=NOW)
    assert sorted(claimed) == sorted([first, second])
    Delivery.objects.filter(pk=second).update(claimed_at=NOW + dt.timedelta(minutes=5))
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=claimed)}
    for row in rows.values():
        row.claimed_at, row.sent_at, row.attempts = NOW, NOW, 1
        row.provider_message_id, row.paper_ids = f"pm-{row.pk}", [7, 8]
    assert sending.deliveries_mark_sent(deliveries=[rows[first], rows[second]]) == {first}
    marked = Delivery.objects.get(pk=first)
    assert (marked.status, marked.provider_message_id, marked.paper_ids, marked.sent_at, marked.attempts) == (
        Delivery.Status.SENT, f"pm-{first}", [7, 8], NOW, 1)
    assert marked.lease_expires_at is None
    assert Delivery.objects.get(pk=second).status == Delivery.Status.SENDING


def test_a_sent_row_is_in_the_database_once_the_marking_window_passes_while_the_batch_goes_on(
    edition, monkeypatch
):
    """Rule 2: a message that went out is marked sent at most MARK_SENT_WITHIN after
    its call came back, while the batch is still making the next digests, so a
    machine restart that takes the worker and Redis together does not send it twice."""
    readers = [_reader() for _ in range(4)]
    ids = _pending(edition, readers)
    clock = [0.0]
    # sending.py's clock only (the marks' window), not the process's.
    monkeypatch.setattr(sending, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    prepare = sending.digest_prepare
    seen: list[list[str]] = []

    def prepare_after_the_previous_call_returned(*, delivery, **kwargs):
        deadline = time.time() + 10
        while len(mail.outbox) < len(seen) and time.time() < deadline:
            time.sleep(0.001)
        time.sleep(0.02)  # and its thread has noted it (the call's done-callback)
        clock[0] += 2 * sending.MARK_SENT_WITHIN  # each digest takes twice the window
        seen.append(list(Delivery.objects.order_by("id").values_list("status", flat=True)))
        return prepare(delivery=delivery, **kwargs)

    monkeypatch.setattr(delivery, "digest_prepare", prepare_after_the_previous_call_returned)
    outcome = digest_send_batch(delivery_ids=ids)

    assert sorted(outcome.sent) == sorted(ids)
    # The first reader's row is still `sending` while the second digest is made (its
    # call has just come back), and sent before the fourth is: the batch did not
    # wait for its end to write it.
    assert seen[1][0] == "sending"
    assert seen[3][0] == "sent"
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}


def test_rows_of_calls_returned_within_the_window_are_marked_in_one_statement(edition, monkeypatch):
    """The calls that came back while the batch made its digests are marked together
    (one UPDATE per MARK_SENT_WITHIN, not one per digest): with a clock that never
    reaches the window, the whole batch's sent rows are one statement, at its end."""
    readers = [_reader() for _ in range(6)]
    ids = _pending(edition, readers)
    monkeypatch.setattr(sending, "time", types.SimpleNamespace(monotonic=lambda: 1000.0))
    with CaptureQueriesContext(connection) as captured:
        outcome = digest_send_batch(delivery_ids=ids)
    assert sorted(outcome.sent) == sorted(ids)
    marks = sent_writes(captured)
    assert len(marks) == 1 and rows_marked_sent(marks[0]) == len(ids)
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == len(ids)



def _a_worker_frozen_inside_its_claim(ids: list[int]):
    """A second connection holds the row locks of a claim on `ids` (a worker frozen
    inside deliveries_claim's transaction) until the block ends."""
    return rows_locked_elsewhere(lambda: Delivery.objects.filter(id__in=ids))


def _three_reserved_rows() -> tuple[list[Subscriber], list[int]]:
    topic = TopicFactory(name="Continual learning")
    PaperTopicFactory(paper=PaperFactory(trending_date=DAY, upvotes=50), topic=topic)
    edition = edition_assemble(date=DAY)
    readers = [_reader(), _reader(), _reader()]
    ids = _pending(edition, readers)
    assert leases.deliveries_reserve(delivery_ids=ids, now=NOW) == 3
    return readers, ids


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_sweep_passes_over_rows_a_frozen_worker_is_claiming():
    """A worker frozen inside its claim's transaction holds the locks of rows whose
    reservation lapsed: the sweep must not wait for it (it hung the chaos matrix's
    racing sweeps until the worker woke). Those rows are the claiming worker's; the
    sweep re-queues the others."""
    readers, ids = _three_reserved_rows()
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    with _a_worker_frozen_inside_its_claim(ids[:2]):
        counts = deliveries_resolve_stale(now=later)  # re-queued (eager here: sent)
    assert counts["requeued"] == 1
    assert [m.to[0] for m in mail.outbox] == [readers[2].email]
    # The rows under the claim are untouched: still leased to that worker.
    untouched = Delivery.objects.filter(id__in=ids[:2])
    assert all(d.status == "pending" and d.lease_expires_at < later for d in untouched)


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_worker_receiving_a_message_does_not_wait_for_a_frozen_claim_of_its_rows():
    """The same rows queued twice (the sweep re-queued them as their first message
    was being claimed): the worker that receives the second message reserves them in
    its consumer, which must not stall behind a frozen claim; the claim owns them."""
    _, ids = _three_reserved_rows()
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    with _a_worker_frozen_inside_its_claim(ids[:2]):
        assert leases.deliveries_reserve(delivery_ids=ids, now=later) == 1
    leased = dict(Delivery.objects.values_list("id", "lease_expires_at"))
    assert leased[ids[2]] > later > leased[ids[0]]


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_rows_never_both_get_one():
    """The same rows in two messages (the sweep re-queued them as their first batch
    was being claimed), taken by two workers at once: the second claim takes only
    the row the first is not inside, without waiting for it, and the rows under the
    first claim stay that claim's. Without the claim's row locks, both workers
    would own those rows and each would mail them."""
    _, ids = _three_reserved_rows()
    later = NOW + dt.timedelta(seconds=leases.LEASE_SECONDS + 1)
    with _a_worker_frozen_inside_its_claim(ids[:2]):
        assert leases.deliveries_claim(delivery_ids=ids, now=later) == [ids[2]]
    status = dict(Delivery.objects.values_list("id", "status"))
    assert [status[pk] for pk in ids] == ["pending", "pending", "sending"]


def test_a_reader_whose_hour_comes_to_hold_the_fetch_when_the_clocks_go_back_loses_no_days_list(
    db, django_capture_on_commit_callbacks
):
    """Midnight in New York is 04:00 UTC in summer, before the 05:30 fetch: the reader
    gets each list the night after (Friday's on Monday). From Sunday 1 November 2026
    it is 05:00 UTC, an hour that holds the fetch. The reader waited for Monday's
    list and got it, and Friday's papers were never sent to them (a six-week
    walkthrough). A reader who had the list before the run's keeps the rhythm they
    had, one digest a night: Friday's on Monday, Monday's on Tuesday; a new reader
    still waits for the day's list (test_a_reader_whose_hour_spans_the_morning_fetch_...)."""
    topic = TopicFactory(name="Continual learning")
    night = _reader(delivery_hour=0, time_zone="America/New_York")
    new = None
    days = [dt.date(2026, 10, 29), dt.date(2026, 10, 30), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]

    def fetched(day):
        for n in range(2):
            paper = PaperFactory(trending_date=day, upvotes=10 - n)
            PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])

    at = dt.datetime(2026, 10, 29, 12, 0, tzinfo=dt.UTC)
    for day in days:
        fetch = dt.datetime.combine(day, dt.time(5, 30), tzinfo=dt.UTC)
        if day.weekday() == 0:  # subscribed at the weekend
            new = _reader(delivery_hour=0, time_zone="America/New_York", confirmed_at=at)
        _runs(django_capture_on_commit_callbacks, at, fetch)
        fetched(day)
        at = fetch
    _runs(django_capture_on_commit_callbacks, at, dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC))

    def got(reader):
        return [(created.astimezone(reader.zone).date(), date) for created, date in Delivery.objects.filter(
            subscriber=reader).order_by("created_at").values_list("created_at", "edition__date")]

    assert got(night) == [
        (dt.date(2026, 10, 30), dt.date(2026, 10, 29)),  # Friday 00:00 EDT
        (dt.date(2026, 11, 2), dt.date(2026, 10, 30)),  # Monday 00:00 EST: Friday's, not lost
        (dt.date(2026, 11, 3), dt.date(2026, 11, 2)),
    ]
    assert got(new) == [(dt.date(2026, 11, 2), dt.date(2026, 11, 2)), (dt.date(2026, 11, 3), dt.date(2026, 11, 3))]
    assert len(mail.outbox) == 5


def test_a_reader_back_from_weekly_to_daily_gets_the_papers_since_their_last_weekly(
    db, django_capture_on_commit_callbacks
):
    """A weekly reader (Mondays) switches to daily on Friday afternoon. Their next
    weekly would have brought Tuesday's to Friday's papers; their first daily digest,
    Monday's, brought Monday's alone, and those four days reached no digest of theirs
    (a six-week walkthrough). That first digest now takes the days since the weekly,
    as a weekly one, and never a paper the weekly had; the digests after it are daily."""
    from subscribers.services import subscriber_preferences_update

    topic = TopicFactory(name="Continual learning")
    reader = _reader(delivery_hour=7, time_zone="UTC", frequency="weekly", weekday=0)
    monday = dt.date(2026, 11, 2)
    listed = {}

    def fetched(day):
        paper = PaperFactory(trending_date=day, upvotes=10, title=f"The paper of {day:%A %d}")
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["forgetting"])
        listed[day] = paper.pk

    at = dt.datetime(2026, 11, 2, 5, 0, tzinfo=dt.UTC)
    for n in range(9):
        day = monday + dt.timedelta(days=n)
        fetch = dt.datetime.combine(day, dt.time(5, 30), tzinfo=dt.UTC)
        _runs(django_capture_on_commit_callbacks, at, fetch)
        if day.weekday() < 5:
            fetched(day)
        at = fetch
        if day.weekday() == 4:  # Friday afternoon
            _runs(django_capture_on_commit_callbacks, at, at + dt.timedelta(hours=7))
            at += dt.timedelta(hours=7)
            subscriber_preferences_update(
                subscriber=reader, topics=[topic], ip=None, user_agent="", frequency="daily", weekday=0,
                delivery_hour=7, time_zone="UTC", keywords="", exclude_keywords="", skip_empty=False)
    _runs(django_capture_on_commit_callbacks, at, dt.datetime(2026, 11, 10, 8, 0, tzinfo=dt.UTC))

    rows = list(Delivery.objects.filter(subscriber=reader).order_by("edition__date")
                .values_list("edition__date", "weekly", "paper_ids"))
    assert [(date, weekly) for date, weekly, _ in rows] == [
        (monday, True), (dt.date(2026, 11, 9), True), (dt.date(2026, 11, 10), False)]
    sent = [paper for *_, ids in rows for paper in ids]
    assert sorted(sent) == sorted(listed.values())  # every day's paper, once
    assert mail.outbox[1].subject.startswith("Daily Papers Digest, week of 3–9 Nov")


def test_the_next_digests_day_is_named_as_the_site_names_days_whatever_the_process_locale(db, german_time_locale):
    """"on Montag 1 Dezember around 07:00 UTC" on a reader's pages once the process's
    LC_TIME was German (strftime's names): the pages' other dates are Django's."""
    reader = SubscriberFactory(delivery_hour=7)

    said = next_digest(subscriber=reader, now=dt.datetime(2025, 11, 28, 12, tzinfo=dt.UTC))

    assert said.day == "on Monday 1 December"
