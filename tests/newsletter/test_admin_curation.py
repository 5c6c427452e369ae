"""newsletter/curation.py: what editors do, and that sending still goes through the
ledger exactly once."""

import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from newsletter import curation
from newsletter.delivery import digest_send_batch, digests_dispatch
from newsletter.editions import edition_assemble
from newsletter.models import Delivery, DeliveryEvent, Edition, Feedback, PaperTopic
from subscribers.models import ConsentRecord
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)  # a Monday
NOW = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)


@pytest.fixture
def topic(db):
    return TopicFactory(name="Continual learning", keywords="catastrophic forgetting")


@pytest.fixture
def edition(topic):
    for n in range(5):
        paper = PaperFactory(trending_date=DAY, upvotes=100 - n, title=f"Paper number {n}")
        PaperTopicFactory(paper=paper, topic=topic, score=1.0, matched_terms=["catastrophic forgetting"])
    return edition_assemble(date=DAY)


def _reader(topic, **kwargs):
    reader = SubscriberFactory(**{"delivery_hour": 7, **kwargs})
    reader.topics.add(topic)
    return reader


def _refusal(edition, *, now):
    return curation.edition_send_now_refusal(
        edition=edition, newer_date=curation.edition_newer_date(edition=edition, now=now))


def _titles(edition):
    return list(edition.entries.order_by("position").values_list("paper__title", flat=True))


def test_a_held_edition_sends_nothing_and_released_sends_to_everyone_due_once(
    edition, topic, django_capture_on_commit_callbacks
):
    readers = [_reader(topic) for _ in range(3)]
    assert curation.edition_hold(edition=edition)
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW) == 0
    assert mail.outbox == [] and not Delivery.objects.exists()

    assert curation.edition_release(edition=edition)
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW + dt.timedelta(minutes=15)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert digests_dispatch(now=NOW + dt.timedelta(minutes=30)) == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers)
    assert Delivery.objects.filter(status="sent").count() == 3


def test_send_now_reaches_readers_whatever_their_hour_and_never_twice(
    edition, topic, django_capture_on_commit_callbacks
):
    early, late = _reader(topic, delivery_hour=6), _reader(topic, delivery_hour=22)
    with django_capture_on_commit_callbacks(execute=True):
        assert curation.edition_send_now(edition=edition, now=NOW) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert curation.edition_send_now(edition=edition, now=NOW) == 0
        assert digests_dispatch(now=NOW) == 0
    assert sorted(m.to[0] for m in mail.outbox) == sorted([early.email, late.email])


def test_send_now_is_refused_while_on_hold(edition):
    curation.edition_hold(edition=edition)
    edition.refresh_from_db()
    with pytest.raises(curation.CurationError):
        curation.edition_send_now(edition=edition, now=NOW)


def test_send_now_is_refused_for_an_edition_older_than_the_newest(edition, topic, client, admin_user):
    """"Send now to everyone" on a year-old edition gave 6,000 new readers its papers
    as their first digest, after a question that named neither the date nor the
    count (an editor's walkthrough). The newest edition asks with both; an older one
    is refused, on the page and if posted anyway."""
    readers = [_reader(topic) for _ in range(3)]
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])
    client.force_login(admin_user)
    page = client.get(url).content.decode()
    assert 'data-confirm="Send the edition of Monday 24 November 2025 now to the 3 readers who have not had it' in page
    assert _refusal(edition, now=NOW) is None

    later = PaperFactory(trending_date=DAY + dt.timedelta(days=1), title="A newer day")
    PaperTopicFactory(paper=later, topic=topic, score=1.0)
    refusal = _refusal(edition, now=NOW + dt.timedelta(days=1))
    assert refusal.startswith("A newer edition exists (Tuesday 25 November 2025): only the newest can be sent now.")
    page = client.get(url).content.decode()
    assert 'id="send-now" disabled aria-describedby="send-now-why"' in page and "A newer edition exists" in page
    response = client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, "send-now"]), follow=True)
    assert next(str(m) for m in response.context["messages"]).startswith("A newer edition exists")
    assert not Delivery.objects.filter(subscriber__in=readers).exists()


def test_retry_failed_sends_the_failed_rows_once_through_the_ledger(
    edition, topic, django_capture_on_commit_callbacks
):
    failed, sent = _reader(topic), _reader(topic)
    Delivery.objects.create(subscriber=failed, edition=edition, status="failed", attempts=5, error="boom")
    Delivery.objects.create(subscriber=sent, edition=edition, status="sent", sent_at=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        assert len(curation.deliveries_retry_failed(deliveries=Delivery.objects.all())) == 1
    assert [m.to[0] for m in mail.outbox] == [failed.email]
    assert Delivery.objects.get(subscriber=failed).status == "sent"
    # A second retry, or the batch task run again, finds nothing to send.
    with django_capture_on_commit_callbacks(execute=True):
        assert curation.deliveries_retry_failed(deliveries=Delivery.objects.all()) == []
    digest_send_batch(delivery_ids=list(Delivery.objects.values_list("id", flat=True)))
    assert len(mail.outbox) == 1


def test_pinning_a_paper_moves_it_to_the_top_of_the_unsent_edition(edition):
    last = edition.entries.order_by("-position").first().paper
    curation.papers_flag_set(papers=[last], pinned=True)
    assert _titles(edition)[0] == last.title


def test_hiding_a_paper_takes_it_out_of_the_edition(edition):
    first = edition.entries.order_by("position").first().paper
    curation.papers_flag_set(papers=[first], hidden=True)
    assert first.title not in _titles(edition)


def test_reordering_moves_a_paper_and_is_refused_once_sent(edition):
    titles = _titles(edition)
    second = edition.entries.get(position=2).paper
    curation.edition_move(edition=edition, paper_id=second.id, step=-1)
    assert _titles(edition)[:2] == [titles[1], titles[0]]
    Edition.objects.filter(pk=edition.pk).update(frozen_at=NOW)
    edition.refresh_from_db()
    with pytest.raises(curation.CurationError):
        curation.edition_move(edition=edition, paper_id=second.id, step=1)


def test_preview_shows_the_note_and_the_readers_papers(edition, topic):
    edition.note = "Big day for **continual learning**."
    edition.save()
    reader = _reader(topic)
    preview = curation.edition_preview(edition=edition, subscriber=reader)
    assert "<strong>continual learning</strong>" in preview.html
    assert "Paper number 0" in preview.subject
    assert "Big day for" in preview.text
    generic = curation.edition_preview(edition=edition, subscriber=None)
    assert generic.paper_count == 5


def test_a_test_send_goes_to_the_editor_without_the_readers_links(edition, topic):
    reader = _reader(topic)
    curation.edition_test_send(edition=edition, to="editor@example.org", subscriber=reader)
    (message,) = mail.outbox
    assert message.to == ["editor@example.org"]
    assert message.subject.startswith("[Test] ")
    assert "List-Unsubscribe" not in message.extra_headers
    assert reader.token not in message.body
    assert not Delivery.objects.exists()  # kept out of the ledger and the figures


def test_figures_count_what_happened_to_the_edition(edition, topic):
    readers = [_reader(topic) for _ in range(4)]
    rows = [
        Delivery.objects.create(subscriber=r, edition=edition, status=s, sent_at=NOW if s == "sent" else None)
        for r, s in zip(readers, ["sent", "sent", "sent", "failed"], strict=True)
    ]
    DeliveryEvent.objects.create(delivery=rows[0], event_id="e1", event_type="bounced", occurred_at=NOW)
    DeliveryEvent.objects.create(delivery=rows[1], event_id="e2", event_type="complained", occurred_at=NOW)
    consent = ConsentRecord.objects.create(subscriber=readers[1], action="unsubscribe", source="form")
    ConsentRecord.objects.filter(pk=consent.pk).update(created_at=NOW + dt.timedelta(hours=3))
    Feedback.objects.create(subscriber=readers[2], paper=edition.entries.first().paper, vote=1)

    figures = curation.edition_figures(edition=edition)
    assert (figures.due, figures.sent, figures.failed) == (4, 3, 1)
    assert (figures.bounced, figures.complained) == (1, 1)
    assert figures.unsubscribed_after == 1
    assert figures.feedback_clicks == 1


@pytest.mark.postgresql
def test_an_editions_figures_are_read_by_index_as_at_two_million_deliveries(edition, topic):
    """The edition's page reads its figures by index: its rows by status from the
    index alone (COUNT(id) read each of the edition's 84,000 rows: 180 to 280 ms),
    its bounces and complaints from the events of those kinds (every event was read),
    and its first send from its freezing on (the planner walked the ledger's sends
    from the first ever until it met the newest edition's: 4 to 6 s). At 2 million
    deliveries, docs/benchmarks.md, "The admin at scale, second pass"."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.editions import edition_freeze
    from tests.plans import query_plan

    edition_freeze(edition=edition, now=NOW - dt.timedelta(minutes=5))
    readers = [_reader(topic) for _ in range(3)]
    rows = [Delivery.objects.create(subscriber=r, edition=edition, status="sent", sent_at=NOW + dt.timedelta(seconds=n))
            for n, r in enumerate(readers)]
    DeliveryEvent.objects.create(delivery=rows[0], event_id="e1", event_type="bounced", occurred_at=NOW)
    consent = ConsentRecord.objects.create(subscriber=readers[1], action="unsubscribe", source="form")
    ConsentRecord.objects.filter(pk=consent.pk).update(created_at=NOW + dt.timedelta(hours=3))

    with CaptureQueriesContext(connection) as queries:
        figures = curation.edition_figures(edition=edition)
    assert (figures.sent, figures.bounced, figures.unsubscribed_after) == (3, 1, 1)

    sql = [q["sql"] for q in queries]
    by_status = next(s for s in sql if s.startswith('SELECT "newsletter_delivery"."status"'))
    assert "Index Only Scan using delivery_edition_status_idx" in query_plan(by_status)
    # The events since it went out (an hour's margin for the ESP's clock), not all there ever were.
    events = next(s for s in sql if 'FROM "newsletter_deliveryevent"' in s)
    assert "\"occurred_at\" >= '2025-11-24 06:00:00+00:00'" in events, events
    # Which the events' index serves by kind and time (as the dashboard's per day).
    from newsletter.dashboard import sends_per_day

    with CaptureQueriesContext(connection) as queries:
        sends_per_day(days=[DAY])
    per_day = next(q["sql"] for q in queries if 'FROM "newsletter_deliveryevent"' in q["sql"])
    plan = query_plan(per_day)
    assert "event_type_idx" in plan and "occurred_at >=" in plan, plan
    first = next(s for s in sql if 'ORDER BY 1 ASC' in s or 'ORDER BY "newsletter_delivery"."sent_at" ASC' in s)
    plan = query_plan(first)
    assert "delivery_sent_idx" in plan and "Index Cond: (sent_at >=" in plan, plan


def test_topic_preview_lists_new_matches_and_changes_nothing(db):
    topic = TopicFactory(name="Agents", keywords="web agents")
    today = dt.date(2025, 11, 24)
    hit = PaperFactory(trending_date=today, title="Tool use for language model agents")
    PaperFactory(trending_date=today, title="Protein folding at scale")
    for back in range(1, 7):  # six more days with papers: the preview reads the newest seven
        PaperFactory(trending_date=today - dt.timedelta(days=back), title=f"Protein paper {back}")
    PaperFactory(trending_date=today - dt.timedelta(days=10), title="Old agents paper")

    rows = curation.topic_preview(topic=topic, keywords="agents\ntool use", today=today)
    assert [r.paper for r in rows] == [hit]
    assert rows[0].change == "new match" and rows[0].old_score == 0
    assert not PaperTopic.objects.exists()


# --- What the mutants of curation.py let through ------------------------------------------


def test_moving_the_first_paper_up_leaves_the_order_as_it_is(edition):
    titles = _titles(edition)
    first = edition.entries.get(position=1).paper
    curation.edition_move(edition=edition, paper_id=first.id, step=-1)
    assert _titles(edition) == titles


def test_holding_or_releasing_twice_is_in_the_editions_history_once(admin_client, edition):
    from django.contrib.admin.models import LogEntry

    for name in ("hold", "hold", "release", "release"):
        admin_client.post(reverse("admin:newsletter_edition_op", args=[edition.pk, name]))
    history = [row.get_change_message() for row in LogEntry.objects.filter(object_id=str(edition.pk), content_type__model="edition")
               .order_by("action_time", "pk")]
    assert history == ["Held.", "Released."]


def test_send_now_is_refused_for_an_edition_with_every_paper_hidden_and_nobody_is_marked_as_having_had_it(
    edition, topic, django_capture_on_commit_callbacks
):
    reader = _reader(topic)
    curation.papers_flag_set(papers=[entry.paper for entry in edition.entries.all()], hidden=True)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(curation.CurationError, match="no papers"):
        curation.edition_send_now(edition=edition, now=NOW)
    assert not Delivery.objects.filter(subscriber=reader).exists() and mail.outbox == []


def test_retrying_the_failed_rows_of_a_held_edition_sends_nothing(edition, topic, django_capture_on_commit_callbacks):
    reader = _reader(topic)
    Delivery.objects.create(subscriber=reader, edition=edition, status="failed", attempts=5, error="boom")
    curation.edition_hold(edition=edition)
    with django_capture_on_commit_callbacks(execute=True):
        assert curation.deliveries_retry_failed(deliveries=Delivery.objects.all()) == []
    assert mail.outbox == [] and Delivery.objects.get(subscriber=reader).status == "failed"


def test_the_preview_says_why_a_reader_gets_no_digest(edition, topic):
    skipper = SubscriberFactory(skip_empty=True, keywords="quantum chromodynamics")
    assert curation.edition_preview(edition=edition, subscriber=skipper).text == (
        "Nothing matched this reader's topics, and they skip such days: no digest.")
    curation.papers_flag_set(papers=[entry.paper for entry in edition.entries.all()], hidden=True)
    reader = _reader(topic)
    assert curation.edition_preview(edition=edition, subscriber=reader).text == (
        "This edition has no paper for this reader: no digest.")


def test_a_test_send_for_an_editor_without_an_address_says_so_and_sends_nothing(edition):
    with pytest.raises(curation.CurationError, match="no email address"):
        curation.edition_test_send(edition=edition, to="")
    assert mail.outbox == []


def test_the_figures_count_unsubscribes_within_two_days_of_the_send_and_votes_not_opens(edition, topic):
    early, late = _reader(topic), _reader(topic)
    for reader in (early, late):
        Delivery.objects.create(subscriber=reader, edition=edition, status="sent", sent_at=NOW)
    for reader, after in ((early, dt.timedelta(days=1, hours=23)), (late, dt.timedelta(days=2, hours=1))):
        consent = ConsentRecord.objects.create(subscriber=reader, action="unsubscribe", source="form")
        ConsentRecord.objects.filter(pk=consent.pk).update(created_at=NOW + after)
    paper = edition.entries.first().paper
    Feedback.objects.create(subscriber=early, paper=paper, vote=1)
    Feedback.objects.create(subscriber=late, paper=paper, vote=Feedback.Vote.MORE, source=Feedback.Source.CLICK)

    figures = curation.edition_figures(edition=edition)
    assert figures.unsubscribed_after == 1
    assert figures.feedback_clicks == 1


def test_digests_being_sent_count_as_pending_in_the_figures(edition, topic):
    Delivery.objects.create(subscriber=_reader(topic), edition=edition, status="sending", claimed_at=NOW)
    Delivery.objects.create(subscriber=_reader(topic), edition=edition, status="pending")
    assert curation.edition_figures(edition=edition).pending == 2


def test_a_newer_day_with_every_paper_hidden_is_not_todays_edition(edition):
    hidden = PaperFactory(trending_date=DAY + dt.timedelta(days=1), hidden=True)
    assert curation.edition_date_for_today(now=NOW + dt.timedelta(days=1)) == DAY
    assert _refusal(edition, now=NOW + dt.timedelta(days=1)) is None
    assert curation.edition_for_today(now=NOW + dt.timedelta(days=1)).date != hidden.trending_date


def test_a_topics_overlap_counts_the_last_thirty_days_and_names_no_switched_off_topic(db):
    today = dt.date(2025, 11, 24)
    chat, old = TopicFactory(name="Chat tuning"), TopicFactory(name="Retired topic", is_active=False)
    for title, back, scores in [("Today", 0, {chat: 0.4, old: 0.9}), ("Twenty-nine days ago", 29, {chat: 0.6}),
                                ("Thirty days ago", 30, {chat: 0.6})]:
        paper = PaperFactory(title=title, trending_date=today - dt.timedelta(days=back))
        for topic, score in scores.items():
            PaperTopicFactory(paper=paper, topic=topic, score=score)

    overlap = curation.topic_overlap(topic=chat, today=today)
    assert (overlap.passing, overlap.chips, overlap.mainly) == (2, 2, [])


def test_a_topic_preview_row_says_higher_or_lower_for_a_change_of_a_hundredth(db):
    paper = PaperFactory()

    def change(old, new):
        return curation.TopicPreviewRow(paper=paper, old_score=old, new_score=new, terms=(), editor_decided=False).change

    assert (change(0.6, 0.61), change(0.6, 0.59), change(0.6, 0.602)) == ("higher", "lower", "unchanged")


def test_a_topic_preview_row_says_a_change_only_when_the_scores_it_shows_differ(db):
    """An editor's walkthrough: adding a keyword to "Language models & pre-training"
    listed BART as "0.59 → 0.59, higher" (0.588 → 0.593): the change was reckoned
    on the unrounded scores, a difference of half a hundredth, while the table shows
    hundredths. Now the words follow the figures shown, both ways."""
    paper = PaperFactory()

    def row(old, new):
        return curation.TopicPreviewRow(paper=paper, old_score=old, new_score=new, terms=(), editor_decided=False)

    same, moved = row(0.588, 0.593), row(0.584, 0.586)
    assert (same.change, moved.change) == ("unchanged", "higher")
    assert (same.old_shown, same.new_shown, same.change) == ("0.59", "0.59", "unchanged")
    assert (moved.old_shown, moved.new_shown, moved.change) == ("0.58", "0.59", "higher")
    assert row(0.585, 0.584).change == "lower"  # 0.59 (half up, as the page rounds) → 0.58


def test_the_topic_preview_lists_drop_outs_leaves_out_hidden_papers_and_puts_the_best_first(db):
    topic = TopicFactory(name="Agents", keywords="web agents")
    today = dt.date(2025, 11, 24)
    gone = PaperFactory(trending_date=today, title="Protein folding at scale")
    PaperTopicFactory(paper=gone, topic=topic, score=0.9)
    PaperFactory(trending_date=today, title="Tool use for web agents", hidden=True)
    best = PaperFactory(trending_date=today, title="Tool use for language model agents, tool use in agents")
    weaker = PaperFactory(trending_date=today, title="Agents")

    rows = curation.topic_preview(topic=topic, keywords="agents\ntool use", today=today)
    by_paper = {r.paper: r.change for r in rows}
    assert by_paper == {gone: "drops out", best: "new match", weaker: "new match"}
    assert [r.paper for r in rows][:2] == [best, weaker]


def test_saving_an_edition_with_its_note_unchanged_keeps_the_note_on_the_web_copies_sent_before(edition, topic):
    from newsletter.archive import delivery_note

    edition.note = "Set before notes were kept."  # no EditionNote row: its note is the edition's
    edition.save()
    sent = Delivery.objects.create(subscriber=_reader(topic), edition=edition, status="sent", sent_at=NOW)
    curation.edition_note_set(edition=edition, note="Set before notes were kept.")
    assert delivery_note(delivery=sent) == "Set before notes were kept."


def test_changing_a_note_no_change_kept_leaves_it_on_the_web_copies_sent_with_it(edition, topic):
    """A note set outside the admin (a shell, SQL), then changed by an editor after
    the edition went out: the web copies of the digests sent before showed no note at
    all (the only version kept was the new one, written after them), where their
    emails had the old one. Digests sent after the change show the new note."""
    from newsletter.archive import delivery_note

    Edition.objects.filter(pk=edition.pk).update(note="Set in a shell.")
    edition.refresh_from_db()
    sent = Delivery.objects.create(subscriber=_reader(topic), edition=edition, status="sent", sent_at=timezone.now())
    curation.edition_note_set(edition=edition, note="Changed by the editor.")
    later = Delivery.objects.create(subscriber=_reader(topic), edition=edition, status="sent",
                                    sent_at=timezone.now() + dt.timedelta(minutes=1))

    assert delivery_note(delivery=sent) == "Set in a shell."
    assert delivery_note(delivery=later) == "Changed by the editor."


def test_a_test_send_while_the_shared_limits_cannot_be_read_tells_the_editor_and_sends_nothing(
    edition, settings, monkeypatch
):
    from mail import esp
    from tests.conftest import REDIS_NOWHERE

    settings.ESP_MAX_IN_FLIGHT = 8
    monkeypatch.setattr(esp, "_client", None)
    monkeypatch.setattr(esp, "_scripts", {})
    settings.REDIS_URL = REDIS_NOWHERE
    with pytest.raises(curation.CurationError, match="The test was not sent"):
        curation.edition_test_send(edition=edition, to="editor@example.org")
    assert mail.outbox == []


@pytest.mark.parametrize("held", [False, True], ids=["newest", "held"])
def test_the_edition_page_asks_once_whether_a_newer_edition_exists(edition, topic, client, admin_user, held):
    """Its figures ("Due": readers still to come only while it is the newest) and
    "Send now" (refused once a newer one exists) each looked up the newest date
    (curation.edition_newer_date): the same query twice on one page."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _reader(topic)
    if held:
        curation.edition_hold(edition=edition)
    client.force_login(admin_user)
    url = reverse("admin:newsletter_edition_change", args=[edition.pk])

    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()

    newest_date = [q["sql"] for q in queries  # selectors.paper_date_newest
                   if q["sql"].startswith('SELECT "newsletter_paper"."trending_date" AS "trending_date" FROM')
                   and 'ORDER BY 1 DESC' in q["sql"]]
    assert len(newest_date) == 1, newest_date
    assert ("On hold" in page or "release it first" in page) if held else "to the 1 reader who has not had it" in page
