"""How long what is kept (docs/data-retention.md; newsletter/retention.py): readers
who left are erased after UNSUBSCRIBED_KEPT_DAYS through the one erasure path, the
ledger and the ESP's events are deleted after LEDGER_KEPT_DAYS, and every figure
the admin shows stays what it was."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from newsletter import curation, tallies
from newsletter.editions import EDITION_MAX_AGE_DAYS, edition_assemble
from newsletter.models import Delivery, DeliveryEvent, Edition, EditionTally, SentDay
from newsletter.ranking import ALREADY_SENT_LOOKBACK_DAYS, ranking_data_load
from newsletter.retention import ledger_kept_min_days, retention_apply
from newsletter.tasks import personal_data_forget
from subscribers.models import ConsentRecord, Subscriber, Suppression
from subscribers.services import subscriber_resubscribe, subscriber_unsubscribe
from subscribers.suppression import LIFTED_BY_OWN_CONFIRMATION, email_hash, email_is_suppressed
from tests.factories import (
    FeedbackFactory,
    PaperFactory,
    PaperTopicFactory,
    SubscriberFactory,
    TopicFactory,
)
from tests.newsletter.test_tallies import _figures as _listed
from tests.plans import query_plan

pytestmark = pytest.mark.django_db


def _left(email: str, *, days_ago: int, **fields) -> Subscriber:
    """A reader who unsubscribed (through the service) `days_ago` days ago."""
    reader = SubscriberFactory(email=email, **fields)
    subscriber_unsubscribe(subscriber=reader, ip=None, user_agent="test")
    when = timezone.now() - dt.timedelta(days=days_ago)
    Subscriber.objects.filter(pk=reader.pk).update(unsubscribed_at=when, status_changed_at=when)
    return reader


def test_readers_who_left_over_the_window_ago_are_erased_as_if_they_had_asked(settings):
    settings.UNSUBSCRIBED_KEPT_DAYS = 30
    gone = _left("gone@example.com", days_ago=31)
    FeedbackFactory(subscriber=gone)
    LogEntry.objects.create(user=User.objects.create_user("edith"), action_flag=ADDITION,
                            content_type=ContentType.objects.get_for_model(Subscriber),
                            object_id=str(gone.pk), object_repr=str(gone))
    _left("recent@example.com", days_ago=29)
    back = _left("back@example.com", days_ago=90)
    subscriber_resubscribe(subscriber=back, ip=None, user_agent="test")
    # Left long ago, then asked again on the form: their confirmation link is live.
    asking = _left("asking@example.com", days_ago=90)
    Subscriber.objects.filter(pk=asking.pk).update(confirmation_sent_at=timezone.now() - dt.timedelta(days=2))
    complained = SubscriberFactory(email="complained@example.com")
    Suppression.objects.create(email_hash=email_hash(complained.email), reason=Suppression.Reason.COMPLAINT)
    Subscriber.objects.filter(pk=complained.pk).update(
        status=Subscriber.Status.SUPPRESSED, status_changed_at=timezone.now() - dt.timedelta(days=40))
    active = SubscriberFactory(email="active@example.com", created_at=timezone.now() - dt.timedelta(days=400))

    personal_data_forget.delay().get(timeout=10)  # the daily beat task

    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "recent@example.com", "back@example.com", "asking@example.com", "active@example.com"}
    assert active.pk and not ConsentRecord.objects.filter(subscriber_id=gone.pk).exists()
    assert LogEntry.objects.get().object_repr == f"Reader {gone.pk} (erased)"
    # Never mailed again by accident (an editor's import), but free to come back
    # through the form and confirm, as a reader who asked for their erasure is.
    assert email_is_suppressed("gone@example.com")
    assert not email_is_suppressed("gone@example.com", unless_reasons=LIFTED_BY_OWN_CONFIRMATION)
    assert "data retention" in Suppression.objects.get(email_hash=email_hash("gone@example.com")).note
    # A complaint stays a complaint: never lifted by a new subscription.
    assert Suppression.objects.get(email_hash=email_hash("complained@example.com")).reason == "complained"


def test_the_dashboards_readers_by_status_are_the_same_after_the_erasure(admin_client, settings):
    """Readers who left are erased, and the dashboard goes on counting them as they
    were counted: unsubscribed or suppressed from the day they left."""
    settings.UNSUBSCRIBED_KEPT_DAYS = 30
    long_ago = timezone.now() - dt.timedelta(days=200)
    for n, days_ago in enumerate((90, 40, 31, 12)):
        _left(f"left{n}@example.com", days_ago=days_ago)
    bounced = SubscriberFactory(email="bounced@example.com")
    Subscriber.objects.filter(pk=bounced.pk).update(
        status=Subscriber.Status.SUPPRESSED, status_changed_at=timezone.now() - dt.timedelta(days=45))
    SubscriberFactory(email="active@example.com")
    Subscriber.objects.update(created_at=long_ago, confirmed_at=long_ago)
    before = _dashboard(admin_client)
    assert retention_apply().readers_left == 4
    assert _dashboard(admin_client) == before
    assert Subscriber.objects.count() == 2


def test_zero_keeps_readers_who_left_for_ever(settings):
    settings.UNSUBSCRIBED_KEPT_DAYS = 0
    _left("kept@example.com", days_ago=3000)
    retention_apply()
    assert Subscriber.objects.filter(email="kept@example.com").exists()


def _edition(*, days_ago: int, statuses: list[str], topic=None) -> Edition:
    """An edition dated `days_ago` days ago, gone out: a row of each status for a new
    reader, each sent on its date; a paper in it."""
    date = timezone.localdate() - dt.timedelta(days=days_ago)
    topic = topic or TopicFactory()
    PaperTopicFactory(paper=PaperFactory(trending_date=date), topic=topic, score=1.0)
    edition = edition_assemble(date=date)
    sent_at = timezone.make_aware(dt.datetime.combine(date, dt.time(9)))
    Edition.objects.filter(pk=edition.pk).update(frozen_at=sent_at - dt.timedelta(hours=1))
    edition.refresh_from_db()
    paper_ids = list(edition.papers.values_list("pk", flat=True))
    for status in statuses:
        reader = SubscriberFactory()
        reader.topics.add(topic)
        Delivery.objects.create(subscriber=reader, edition=edition, status=status, paper_ids=paper_ids,
                                sent_at=sent_at if status == "sent" else None)
    return edition


def _event(delivery: Delivery, kind: str, *, n: int) -> None:
    DeliveryEvent.objects.create(
        delivery=delivery, event_id=f"{kind}-{delivery.pk}-{n}", event_type=kind,
        recipient_hash=email_hash(delivery.subscriber.email),
        occurred_at=delivery.sent_at + dt.timedelta(hours=1))


def _page_figures(client, edition: Edition) -> dict[str, str]:
    """The figures on the edition's page, as a person reads them."""
    html = client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    figures = html.split('<dl class="figures"', 1)[1].split("</dl>", 1)[0]
    return {dt_: re.sub(r"<[^>]+>|look at them|suppressed", "", dd).strip()
            for dt_, dd in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", figures)}


def _dashboard(client) -> str:
    """The dashboard's figures, every chart's table as the page shows it."""
    html = client.get(reverse("admin:newsletter_dashboard")).content.decode()
    return "".join(re.findall(r'<details class="chart-figures">.*?</details>', html, re.DOTALL))


def test_old_deliveries_and_events_go_and_every_figure_stays(admin_client, settings):
    settings.LEDGER_KEPT_DAYS = 60
    old = _edition(days_ago=63, statuses=["sent"] * 4 + ["failed", "skipped"])
    recent = _edition(days_ago=5, statuses=["sent"] * 3 + ["failed"])
    sent = list(old.deliveries.filter(status="sent").order_by("pk"))
    _event(sent[0], "bounced", n=1)
    _event(sent[1], "complained", n=1)
    FeedbackFactory(subscriber=sent[2].subscriber, paper=old.papers.get(), vote=-1)
    ConsentRecord.objects.create(subscriber=sent[3].subscriber, action="unsubscribe", source="form")
    ConsentRecord.objects.filter(subscriber=sent[3].subscriber).update(created_at=sent[3].sent_at)
    _event(recent.deliveries.filter(status="sent").first(), "bounced", n=2)
    before = {e.pk: (_page_figures(admin_client, e), curation.edition_figures(edition=e)) for e in (old, recent)}
    listed, dashboard = _listed(admin_client), _dashboard(admin_client)
    assert before[old.pk][0] == {"Due": "6", "Sent": "4", "Waiting": "0", "Failed": "1", "Skipped": "1",
                                 "Bounced": "1", "Complaints": "1", "Unsubscribed after": "1",
                                 "Reader votes": "1"}

    out = StringIO()
    call_command("retention_apply", stdout=out)

    assert not Delivery.objects.filter(edition=old).exists()
    assert Delivery.objects.filter(edition=recent).count() == 4
    assert list(DeliveryEvent.objects.values_list("event_id", flat=True)) == [
        f"bounced-{recent.deliveries.get(status='sent', events__isnull=False).pk}-2"]
    assert _listed(admin_client) == listed
    assert _dashboard(admin_client) == dashboard
    for edition in (old, recent):
        page, figures = before[edition.pk]
        assert _page_figures(admin_client, edition) == page
        assert curation.edition_figures(edition=edition).sent == figures.sent
    html = admin_client.get(reverse("admin:newsletter_edition_change", args=[old.pk])).content.decode()
    assert 'id="figures-pruned"' in html
    # Kept as the release of the retention (ba6cc63) reads them back, should it be rolled back to.
    assert set(EditionTally.objects.get(edition=old).figures) == {
        "due", "sent", "pending", "failed", "skipped", "bounced", "complained", "unsubscribed_after",
        "feedback_clicks", "pruned"}
    # In an editor's words: when, why, and where its rows are not.
    note = re.sub(r"<[^>]+>", "", html.split('id="figures-pruned">', 1)[1].split("</p>", 1)[0])
    assert note == (f"The record of who got this edition’s digest was deleted on "
                    f"{date_format(timezone.localdate(), 'SHORT_DATE_FORMAT')}: the service keeps it 60 days after an "
                    "edition’s date. These figures are as they stood then; its digests are no longer in the "
                    "Deliveries list.")
    # The ledger's page lists the rows kept, and still opens.
    assert admin_client.get(reverse("admin:newsletter_delivery_changelist")).status_code == 200
    # Nor does bootstrap's forgetting of the kept figures (after a rollback): a
    # pruned edition's are not in its rows any more.
    tallies.edition_tallies_forget()
    assert _listed(admin_client) == listed
    # An erasure after the prune changes none of the pruned edition's figures.
    from subscribers.services import subscriber_delete

    subscriber_delete(subscriber=sent[0].subscriber)
    assert _page_figures(admin_client, old) == before[old.pk][0]
    assert "delivery rows: 6" in out.getvalue()


def test_an_erased_readers_digests_stay_counted_as_the_dashboard_counts_them(admin_client):
    """One rule for both kept counts: a digest sent to a reader erased since was sent
    all the same. The dashboard's day (SentDay) always counted it; the edition's
    figures dropped it, so the two disagreed after an erasure."""
    from newsletter.dashboard import sends_counted
    from subscribers.services import subscriber_delete

    edition = _edition(days_ago=3, statuses=["sent"] * 3 + ["failed"])
    day = edition.date
    assert sends_counted(days=[day]) == {day: 3}
    assert SentDay.objects.get(day=day).sent == 3
    assert _listed(admin_client)[date_format(day, "SHORT_DATE_FORMAT")] == ("3", "1")
    page = _page_figures(admin_client, edition)
    for delivery in edition.deliveries.filter(status__in=["sent", "failed"])[:2]:
        subscriber_delete(subscriber=delivery.subscriber)
    assert sends_counted(days=[day]) == {day: 3}
    assert curation.edition_figures(edition=edition).sent == 3
    assert _page_figures(admin_client, edition) == page
    assert _listed(admin_client)[date_format(day, "SHORT_DATE_FORMAT")] == ("3", "1")
    assert EditionTally.objects.get(edition=edition).sent == 3


def test_an_erased_readers_skipped_digest_bounce_and_complaint_stay_on_the_editions_page(admin_client):
    """Every figure of the page counts the erased readers' digests as it did: their
    skipped digest, their bounce (told twice by the ESP: one digest bounced) and
    their complaint, one erasure after another, none counted twice, and another
    reader's bounce counted once."""
    from subscribers.services import subscriber_delete

    edition = _edition(days_ago=3, statuses=["sent"] * 4 + ["skipped"])
    sent = list(edition.deliveries.filter(status="sent").order_by("pk"))
    _event(sent[0], "bounced", n=1)
    _event(sent[0], "bounced", n=2)
    _event(sent[1], "complained", n=1)
    _event(sent[2], "bounced", n=1)  # a reader who stays
    page = _page_figures(admin_client, edition)
    assert {k: page[k] for k in ("Due", "Sent", "Skipped", "Bounced", "Complaints")} == {
        "Due": "5", "Sent": "4", "Skipped": "1", "Bounced": "2", "Complaints": "1"}
    listed = _listed(admin_client)
    for delivery in (sent[0], sent[1], edition.deliveries.get(status="skipped")):
        subscriber_delete(subscriber=delivery.subscriber)
        assert _page_figures(admin_client, edition) == page
    assert edition.deliveries.count() == 2
    assert _listed(admin_client) == listed


def test_an_erasure_while_an_editions_pruning_is_half_done_leaves_the_figures_it_kept(admin_client, settings):
    """A run that kept an edition's figures and stopped before deleting all of its
    rows; a reader whose row is still there is erased: the editions' list and the
    edition's page show the figures kept, not the rows left."""
    from newsletter.retention import edition_prune_begin
    from subscribers.services import subscriber_delete

    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", "sent", "sent", "failed"])
    listed = _listed(admin_client)
    assert listed[date_format(edition.date, "SHORT_DATE_FORMAT")] == ("3", "1")
    page = _page_figures(admin_client, edition)
    assert edition_prune_begin(edition=edition, now=timezone.now())
    Delivery.objects.filter(pk=edition.deliveries.order_by("pk").first().pk).delete()  # its first batch
    subscriber_delete(subscriber=edition.deliveries.filter(status="sent").first().subscriber)
    assert _listed(admin_client) == listed
    assert _page_figures(admin_client, edition) == page


def test_the_ranking_still_finds_what_a_reader_had_within_its_look_back(settings):
    """At the fewest days the ledger may keep, the oldest edition the "already sent"
    look-back reads (that of an edition sent as late as it may be) is still there:
    its paper is not sent to the reader again."""
    settings.LEDGER_KEPT_DAYS = ledger_kept_min_days()
    late = EDITION_MAX_AGE_DAYS
    edge = _edition(days_ago=late + ALREADY_SENT_LOOKBACK_DAYS, statuses=["sent"])
    gone = _edition(days_ago=settings.LEDGER_KEPT_DAYS + 1, statuses=["sent"])
    reader = edge.deliveries.get().subscriber
    retention_apply()
    assert not gone.deliveries.exists()
    data = ranking_data_load(date=timezone.localdate() - dt.timedelta(days=late), subscriber_ids=[reader.pk])
    assert data.sent_paper_ids[reader.pk] == {edge.papers.get().pk}


def test_a_run_stopped_by_the_time_limit_goes_on_by_itself_until_all_is_done(settings, monkeypatch, caplog):
    """The first run on a deploy that kept a long ledger outlasts the task's soft
    time limit. It stopped there and left the rest, the ESP's events with it, to the
    next day's run; now what it did is kept and the rest is queued again."""
    from celery.exceptions import SoftTimeLimitExceeded

    from newsletter import retention

    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", "sent"])
    for delivery in edition.deliveries.all():
        _event(delivery, "delivered", n=1)
    prune = retention.delivery_events_prune
    stops = []

    def time_runs_out_once(**kwargs):
        if not stops:
            stops.append(Delivery.objects.count())  # the ledger's step was done before
            raise SoftTimeLimitExceeded()
        return prune(**kwargs)

    monkeypatch.setattr(retention, "delivery_events_prune", time_runs_out_once)
    personal_data_forget.delay().get(timeout=10)  # eager: the queued rest runs at once

    assert stops == [0]
    assert not Delivery.objects.exists() and not DeliveryEvent.objects.exists()
    assert "more to forget: what it did is kept, the rest goes on in 60 s" in caplog.text


def test_each_delete_takes_at_most_a_batch_and_the_command_says_how_far_it_is(settings):
    settings.LEDGER_KEPT_DAYS = 60
    old = _edition(days_ago=70, statuses=["sent"] * 5)
    out = StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("retention_apply", "--batch-size", "2", stdout=out)
    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('DELETE FROM "newsletter_delivery"')]
    assert [sql.count("%s") or sql.count(",") + 1 for sql in deletes] == [2, 2, 1]
    assert not old.deliveries.exists()
    lines = out.getvalue().splitlines()
    assert lines[0] == "Keeping readers who left 30 days, ledger 60 days."
    assert [line for line in lines if line.startswith("  delivery rows")] == [
        "  delivery rows: 2", "  delivery rows: 4", "  delivery rows: 5"]
    assert lines[-1].startswith("Done: 0 unconfirmed and 0 departed readers erased, 5 delivery rows")


def test_a_run_with_nothing_to_do_says_each_step_found_nothing(settings):
    """The operator's first look: every step is named, with its 0 (a step that ran no
    batch said nothing, so "readers who left", "delivery rows" and "ESP events"
    seemed not to have run)."""
    settings.UNSUBSCRIBED_KEPT_DAYS, settings.LEDGER_KEPT_DAYS = 30, 60
    out = StringIO()
    call_command("retention_apply", stdout=out)
    assert out.getvalue().splitlines()[1:-1] == [
        "  readers who never confirmed: 0", "  readers who left the list: 0",
        "  address changes never confirmed: 0", "  delivery rows: 0",
        "  ESP events: 0", "  ESP event payloads emptied: 0"]


def test_the_commands_summary_counts_one_as_one(settings):
    settings.UNSUBSCRIBED_KEPT_DAYS, settings.LEDGER_KEPT_DAYS = 30, 60
    _left("left@example.com", days_ago=31)
    old = _edition(days_ago=70, statuses=["sent"])
    _event(old.deliveries.get(), "bounced", n=1)
    out = StringIO()
    call_command("retention_apply", stdout=out)
    assert out.getvalue().splitlines()[-1] == (
        "Done: 0 unconfirmed and 1 departed reader erased, 1 delivery row and 1 event deleted, "
        "0 event payloads emptied.")

    # One reader who never confirmed (the "reader" counts both kinds), one payload.
    long_ago = timezone.now() - dt.timedelta(days=31)
    typed = SubscriberFactory(email="typed@example.com", status="pending", confirmed_at=None)
    Subscriber.objects.filter(pk=typed.pk).update(created_at=long_ago, confirmation_sent_at=long_ago)
    event = DeliveryEvent.objects.create(event_id="e1", event_type="opened", payload={"Geo": "UK"},
                                         occurred_at=timezone.now())
    DeliveryEvent.objects.filter(pk=event.pk).update(created_at=long_ago)
    out = StringIO()
    call_command("retention_apply", stdout=out)
    assert out.getvalue().splitlines()[-1] == (
        "Done: 1 unconfirmed and 0 departed reader erased, 0 delivery rows and 0 events deleted, "
        "1 event payload emptied.")


def test_the_command_says_a_ledger_kept_for_ever(settings):
    settings.UNSUBSCRIBED_KEPT_DAYS, settings.LEDGER_KEPT_DAYS = 30, 0
    out = StringIO()
    call_command("retention_apply", stdout=out)
    assert out.getvalue().splitlines()[0] == "Keeping readers who left 30 days, ledger for ever."


def test_a_batch_of_no_rows_is_refused_and_nothing_said_done(settings):
    """--batch-size 0 would delete nothing and say "Done" with its zeros."""
    settings.LEDGER_KEPT_DAYS = 60
    old = _edition(days_ago=70, statuses=["sent"])
    out = StringIO()
    with pytest.raises(CommandError, match="--batch-size must be 1 or more"):
        call_command("retention_apply", "--batch-size", "0", stdout=out)
    assert "Done" not in out.getvalue() and old.deliveries.count() == 1


@pytest.mark.parametrize("status", ["pending", "sending"])
def test_an_edition_with_a_digest_still_waiting_or_sending_is_left_for_a_later_run_and_the_next_goes(
        settings, status):
    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", status])
    next_one = _edition(days_ago=65, statuses=["sent"])
    retention_apply()
    assert edition.deliveries.count() == 2
    assert not next_one.deliveries.exists()
    assert not EditionTally.objects.filter(edition=edition, pruned_at__isnull=False).exists()


def test_an_edition_dated_the_ledgers_days_ago_keeps_its_rows_and_the_day_befores_go(settings):
    """LEDGER_KEPT_DAYS = 60 keeps an edition's record 60 days after its date: the
    edition of 60 days ago is still in the Deliveries list, that of 61 days ago not."""
    settings.LEDGER_KEPT_DAYS = 60
    kept = _edition(days_ago=60, statuses=["sent"])
    gone = _edition(days_ago=61, statuses=["sent"])
    assert retention_apply().deliveries == 1
    assert kept.deliveries.count() == 1
    assert not gone.deliveries.exists()


def test_a_bounce_of_a_kept_edition_sent_the_day_before_its_date_still_counts(admin_client, settings):
    """A reader west of UTC gets an edition on the evening before its date: its
    bounce is a day older than the edition. While the edition's rows are kept, its
    page still counts it (the ESP's events go a day after the ledger's)."""
    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=60, statuses=["sent"])
    row = edition.deliveries.get()
    Delivery.objects.filter(pk=row.pk).update(sent_at=row.sent_at - dt.timedelta(hours=12))
    Edition.objects.filter(pk=edition.pk).update(frozen_at=edition.frozen_at - dt.timedelta(hours=12))
    row.refresh_from_db()
    _event(row, "bounced", n=1)
    assert _page_figures(admin_client, edition)["Bounced"] == "1"
    retention_apply()
    assert _page_figures(admin_client, edition)["Bounced"] == "1"


def test_a_run_stopped_inside_an_edition_is_finished_by_the_next(settings):
    """A run that kept an edition's figures and then stopped (a time limit, a deploy)
    before deleting all of its rows: the next run deletes the rest."""
    from newsletter.retention import edition_prune_begin

    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=["sent", "sent", "failed"])
    assert edition_prune_begin(edition=edition, now=timezone.now())
    Delivery.objects.filter(pk=edition.deliveries.first().pk).delete()  # its first batch
    assert retention_apply().deliveries == 2
    assert not edition.deliveries.exists()


def test_an_edition_never_sent_is_not_said_to_have_had_its_record_deleted(admin_client, settings):
    """An old edition an editor made and nobody got (held, then never released) has
    no rows to delete: its page does not tell the editor its record was deleted."""
    settings.LEDGER_KEPT_DAYS = 60
    edition = _edition(days_ago=70, statuses=[])
    retention_apply()
    html = admin_client.get(reverse("admin:newsletter_edition_change", args=[edition.pk])).content.decode()
    assert 'id="figures-pruned"' not in html
    assert not EditionTally.objects.filter(edition=edition, pruned_at__isnull=False).exists()


def test_a_ledger_kept_for_ever_is_kept_for_ever(settings):
    """LEDGER_KEPT_DAYS = 0 (docs/data-retention.md: for ever): no row nor event goes."""
    settings.LEDGER_KEPT_DAYS = 0
    old = _edition(days_ago=800, statuses=["sent"])
    _event(old.deliveries.get(), "bounced", n=1)
    done = retention_apply()
    assert (done.deliveries, done.events) == (0, 0)
    assert old.deliveries.count() == 1 and DeliveryEvent.objects.count() == 1


def test_the_command_says_each_steps_count_once_under_its_own_name(settings):
    settings.UNSUBSCRIBED_KEPT_DAYS, settings.LEDGER_KEPT_DAYS = 30, 60
    old = _edition(days_ago=70, statuses=["sent", "sent"])
    _event(old.deliveries.first(), "bounced", n=1)
    out = StringIO()
    call_command("retention_apply", stdout=out)
    assert out.getvalue().splitlines()[1:-1] == [
        "  readers who never confirmed: 0", "  readers who left the list: 0",
        "  address changes never confirmed: 0", "  delivery rows: 2",
        "  ESP events: 1", "  ESP event payloads emptied: 0"]


def test_an_edition_pruned_before_anyone_listed_it_keeps_its_failed_digests_in_the_editions_list(
        admin_client, settings):
    settings.LEDGER_KEPT_DAYS = 60
    old = _edition(days_ago=70, statuses=["sent", "sent", "failed"])
    retention_apply()
    assert _listed(admin_client)[date_format(old.date, "SHORT_DATE_FORMAT")] == ("2", "1")


def test_the_command_counts_the_rows_of_every_edition_it_pruned(settings):
    settings.LEDGER_KEPT_DAYS = 60
    _edition(days_ago=71, statuses=["sent"] * 3)
    _edition(days_ago=70, statuses=["sent", "failed"])
    out = StringIO()
    call_command("retention_apply", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("  delivery rows")] == [
        "  delivery rows: 3", "  delivery rows: 5"]
    assert ", 5 delivery rows and 0 events deleted" in lines[-1]


@pytest.mark.postgresql
def test_the_rows_to_delete_are_found_by_an_index(settings):
    """The ledger is millions of rows: an edition's by an index that starts with the
    edition (delivery_edition_status_idx or delivery_edition_reader_idx), the events by their time (event_occurred_idx), never a walk of the whole table (the
    model's order, -created_at, made it walk delivery_created_idx)."""
    settings.LEDGER_KEPT_DAYS = 60
    _edition(days_ago=70, statuses=["sent"])
    with CaptureQueriesContext(connection) as queries:
        retention_apply()
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and "LIMIT" in q["sql"]]
    ledger = query_plan(next(sql for sql in reads if sql.startswith('SELECT "newsletter_delivery"."id"')))
    events = query_plan(next(sql for sql in reads if sql.startswith('SELECT "newsletter_deliveryevent"."id"')))
    assert "Index Cond: (edition_id = " in ledger and "Seq Scan" not in ledger and "Filter" not in ledger
    assert "event_occurred_idx" in events and "Seq Scan" not in events


def test_a_ledger_kept_too_briefly_for_what_reads_it_fails_the_checks(settings):
    settings.LEDGER_KEPT_DAYS = ledger_kept_min_days() - 1
    assert "digest.E011" in {e.id for e in run_checks()}
    settings.LEDGER_KEPT_DAYS = ledger_kept_min_days()  # the least docs/data-retention.md allows
    assert "digest.E011" not in {e.id for e in run_checks()}
    settings.LEDGER_KEPT_DAYS = 0
    assert "digest.E011" not in {e.id for e in run_checks()}


def test_a_negative_number_of_days_for_readers_who_left_fails_the_checks_and_erases_no_one(settings):
    """A typo's minus sign erased every reader who had left, one who left a minute ago
    included (the check passed it)."""
    settings.UNSUBSCRIBED_KEPT_DAYS = -30
    assert "digest.E012" in {e.id for e in run_checks()}
    _left("just-left@example.com", days_ago=0)
    assert retention_apply().readers_left == 0
    assert Subscriber.objects.filter(email="just-left@example.com").exists()
    settings.UNSUBSCRIBED_KEPT_DAYS = 0
    assert "digest.E012" not in {e.id for e in run_checks()}



def test_an_existing_deployments_schedule_says_what_the_forgetting_does_now():
    """bootstrap (schedules_ensure, at every upgrade) gives the daily forgetting's
    schedule the description of what it does now, where it still has the one an
    earlier release wrote; an administrator's own text stays."""
    from django_celery_beat.models import PeriodicTask

    from newsletter.schedules import (
        DESCRIPTIONS_BEFORE,
        PERSONAL_DATA_FORGET_SAYS,
        schedules_ensure,
    )

    schedules_ensure()
    task = "newsletter.tasks.personal_data_forget"
    PeriodicTask.objects.filter(task=task).update(description=DESCRIPTIONS_BEFORE[task][0])
    schedules_ensure()
    assert PeriodicTask.objects.get(task=task).description == PERSONAL_DATA_FORGET_SAYS
    assert "LEDGER_KEPT_DAYS" in PERSONAL_DATA_FORGET_SAYS
    PeriodicTask.objects.filter(task=task).update(description="Ours.")
    schedules_ensure()
    assert PeriodicTask.objects.get(task=task).description == "Ours."


def _view_url_as_mailed(delivery: Delivery, monkeypatch) -> str:
    """The digest's "view in browser" link as its email carried it: signed when it was sent."""
    from django.core import signing

    from newsletter.archive import delivery_view_url

    with monkeypatch.context() as then:
        then.setattr(signing.time, "time", lambda: delivery.sent_at.timestamp())
        return delivery_view_url(delivery=delivery).removeprefix(django_settings.SITE_URL)


def test_a_readers_web_copy_of_a_pruned_digest_says_it_is_gone(client, settings, monkeypatch):
    """The "view in browser" link of a digest whose row was deleted answers 410, the
    page for a link that is ours but whose content is no more; the newer one opens."""
    settings.LEDGER_KEPT_DAYS = 60
    old = _edition(days_ago=70, statuses=["sent"])
    reader = old.deliveries.get().subscriber
    recent = _edition(days_ago=2, statuses=[])
    Delivery.objects.create(subscriber=reader, edition=recent, status="sent", sent_at=timezone.now(),
                            paper_ids=list(recent.papers.values_list("pk", flat=True)))
    old_url, recent_url = (_view_url_as_mailed(d, monkeypatch)
                           for d in (old.deliveries.get(), recent.deliveries.get()))
    retention_apply()
    gone = client.get(old_url)
    assert gone.status_code == 410
    assert client.get(recent_url).status_code == 200
    # It says what happened to a reader still subscribed, not that their data was deleted.
    page = gone.content.decode()
    assert "This digest is no longer online" in page and "for 60 days" in page
    assert "data was deleted" not in page
    assert reverse("newsletter_public:edition_list") in page and reverse("subscribers:links_request") in page


def test_a_view_in_browser_link_gone_within_the_ledgers_days_keeps_the_general_page(client, settings, monkeypatch):
    """A digest whose row went before the ledger's days were up (its reader erased
    their data) is not said to be past them."""
    from subscribers.services import subscriber_delete

    settings.LEDGER_KEPT_DAYS = 60
    delivery = _edition(days_ago=2, statuses=["sent"]).deliveries.get()
    url = _view_url_as_mailed(delivery, monkeypatch)
    subscriber_delete(subscriber=delivery.subscriber)
    page = client.get(url)
    assert page.status_code == 410
    assert "This link no longer leads anywhere" in page.content.decode()


def _goodbye_link(reader: Subscriber, mailoutbox, on_commit) -> str:
    """The reader unsubscribes from the page; the goodbye email's resubscribe link, as
    they would copy it from its text part."""
    mailoutbox.clear()
    with on_commit(execute=True):
        subscriber_unsubscribe(subscriber=reader, ip=None, user_agent="test", notify=True)
    (goodbye,) = mailoutbox
    assert goodbye.to == [reader.email]
    return re.search(r"(http\S+/resubscribe/)", goodbye.body)[1].removeprefix(django_settings.SITE_URL)


def test_the_goodbye_emails_link_works_for_the_days_it_says_then_the_form_does(client, settings, mailoutbox,
                                                                                django_capture_on_commit_callbacks):
    """A reader who left: the goodbye email says how long its link keeps their topics;
    within that it resubscribes them with their topics; once the retention erased
    them its page says so and sends them to the form (not "a deleted address gets
    nothing more"), where a confirmation arrives and confirming lifts the erasure's
    suppression."""
    settings.UNSUBSCRIBED_KEPT_DAYS = 30
    agents = TopicFactory(name="Agents")
    back, later = SubscriberFactory(email="back@example.com"), SubscriberFactory(email="later@example.com")
    for reader in (back, later):
        reader.topics.add(agents)
    soon = _goodbye_link(back, mailoutbox, django_capture_on_commit_callbacks)
    assert "Resubscribe here within 30 days, with your topics" in " ".join(mailoutbox[0].body.split())
    late = _goodbye_link(later, mailoutbox, django_capture_on_commit_callbacks)
    when = timezone.now() - dt.timedelta(days=31)
    Subscriber.objects.filter(pk=later.pk).update(unsubscribed_at=when, status_changed_at=when)
    bounced = SubscriberFactory(email="bounced@example.com")
    Suppression.objects.create(email_hash=email_hash(bounced.email), reason=Suppression.Reason.HARD_BOUNCE)
    Subscriber.objects.filter(pk=bounced.pk).update(status=Subscriber.Status.SUPPRESSED, status_changed_at=when)

    client.post(soon)
    retention_apply()

    back.refresh_from_db()
    assert back.status == "active" and list(back.topics.all()) == [agents]
    assert not Subscriber.objects.filter(email="later@example.com").exists()
    page = client.get(late)
    assert page.status_code == 410
    html = page.content.decode()
    assert "This resubscribe link no longer works" in html and "30 days after they unsubscribe" in html
    assert "gets nothing more" not in html and 'href="/subscribe/"' in html
    assert client.post(late).status_code == 410  # the button's POST does nothing either

    mailoutbox.clear()
    for address in ("bounced@example.com", "later@example.com"):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/subscribe/", {"email": address, "topics": [agents.pk], "frequency": "daily", "weekday": "0",
                                        "delivery_hour": "7", "time_zone": "UTC", "consent": "on"})
    # The bounced address erased with them gets nothing: a bounce is not lifted by the form.
    assert not Subscriber.objects.filter(email="bounced@example.com").exists()
    (confirm,) = mailoutbox
    assert confirm.to == ["later@example.com"]
    assert client.post(re.search(r"(http\S+/confirm/\S+/)", confirm.body)[1].removeprefix(
        django_settings.SITE_URL)).status_code == 200
    assert Subscriber.objects.get(email="later@example.com").status == "active"
    assert not email_is_suppressed("later@example.com")
