import datetime as dt
import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from newsletter.models import Delivery, Edition
from newsletter.tasks import digest_send_batch as digest_send_batch_task
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = "2025-11-24"
TOPICS = {
    "Continual learning": ["catastrophic forgetting", "replay"],
    "Agents": ["tool use", "web agents"],
    "Diffusion models": ["denoising", "image generation"],
}


@pytest.fixture
def readers(db):
    """A day of papers on three topics, and one reader per topic."""
    result = {}
    for t, (name, terms) in enumerate(TOPICS.items()):
        topic = TopicFactory(name=name)
        for n, term in enumerate(terms):
            paper = PaperFactory(
                trending_date=dt.date(2025, 11, 24), upvotes=100 - 10 * t - n,
                title=f"{name}: a paper on {term}",
            )
            PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=[term])
        reader = SubscriberFactory(email=f"{name.split()[0].lower()}@example.com")
        reader.topics.add(topic)
        result[name] = reader
    return result


def _send(*args) -> str:
    out = StringIO()
    call_command("send_digests", "--date", DAY, *args, stdout=out)
    return out.getvalue()


def test_each_reader_gets_one_different_email_leading_with_their_topic_and_a_rerun_sends_nothing(readers):
    output = _send("--now")

    assert "3 sent" in output
    by_reader = {m.to[0]: m for m in mail.outbox}
    assert len(by_reader) == 3
    for name, reader in readers.items():
        message = by_reader[reader.email]
        assert message.subject.startswith(f"Daily Papers Digest, 24 Nov 2025: {name}: a")
        first = message.body.split("1. ", 1)[1]
        assert first.startswith(f"{name}: a paper on")
        assert f"{name} · matched: {TOPICS[name][0]}" in message.body
    assert len({m.body for m in mail.outbox}) == 3

    again = _send("--now")
    assert "Nobody is due" in again
    assert len(mail.outbox) == 3
    assert Delivery.objects.filter(status="sent").count() == 3
    assert "Nobody is due" in _send("--now", "--dry-run")


def test_digests_the_command_sends_are_not_queued_to_the_workers_as_well(readers, django_capture_on_commit_callbacks):
    """send_digests sends in its own process: batches queued to the workers too would
    race it for its readers, and its report would miss those the workers took."""
    with django_capture_on_commit_callbacks() as queued:
        output = _send("--now")
    assert "3 sent" in output
    assert [c.args for c in queued if getattr(c, "func", None) == digest_send_batch_task.delay] == []


def test_dry_run_prints_who_would_get_what_and_sends_nothing(readers):
    picky = readers["Diffusion models"]
    picky.only_with_code, picky.skip_empty = True, True
    picky.save()
    PaperFactory._meta.model.objects.update(github_repo="")

    output = _send("--now", "--dry-run")

    assert "Edition of Monday 24 November 2025: 3 reader(s) would get (dry run, nothing sent)" in output
    assert (
        "agents@example.com     2  Agents: a paper on tool use (Agents · matched: tool use)\n"
        "                          Agents: a paper on web agents (Agents · matched: web agents)\n"
        "                          + Continual learning: a paper on catastrophic forgetting\n"
        "                          + Continual learning: a paper on replay\n"
        "                          + Diffusion models: a paper on denoising\n"
    ) in output
    assert "diffusion@example.com  -  skipped: nothing matched\n" in output
    assert "Continual learning · matched: catastrophic forgetting" in output
    assert mail.outbox == [] and not Delivery.objects.exists()
    assert Edition.objects.get().frozen_at is None  # a dry run freezes nothing


def test_to_sends_one_reader_their_digest_whatever_their_hour(readers):
    _send("--to", "AGENTS@example.com")
    assert [m.to[0] for m in mail.outbox] == ["agents@example.com"]


def test_without_now_only_readers_at_their_hour_are_sent(readers, monkeypatch):
    """At 07:00 UTC the readers of 07:00 get it, as the dry run says; a reader of
    09:00 waits for their hour, or for --now."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2025, 11, 24, 7, 0, tzinfo=dt.UTC))
    SubscriberFactory(email="nine@example.com", delivery_hour=9).topics.add(readers["Agents"].topics.get())

    preview = _send("--dry-run")
    assert "3 reader(s) would get" in preview and "nine@example.com" not in preview
    assert "3 sent" in _send()
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in readers.values())

    assert "1 sent" in _send("--now")
    assert mail.outbox[-1].to == ["nine@example.com"]


def test_an_edition_on_hold_is_refused(readers):
    _send("--now", "--dry-run")
    Edition.objects.update(on_hold=True)
    with pytest.raises(CommandError, match="on hold"):
        _send("--now")
    assert mail.outbox == []


def test_a_long_run_shows_progress(readers, monkeypatch):
    monkeypatch.setattr("newsletter.delivery.BATCH_SIZE", 2)
    for n in range(3):
        SubscriberFactory(email=f"more{n}@example.com").topics.add(readers["Agents"].topics.get())
    output = _send("--now")
    assert "2/6 processed" in output and "6/6 processed, 6 sent" in output
    assert "6 sent" in output


def test_a_run_of_one_batch_shows_no_progress_lines(readers, monkeypatch):
    monkeypatch.setattr("newsletter.delivery.BATCH_SIZE", 3)
    output = _send("--now")
    assert "3 sent" in output and "processed" not in output


def test_view_in_browser_in_a_sent_digest_opens_that_readers_own_copy(readers, client):
    import re

    _send("--now")
    message = next(m for m in mail.outbox if m.to == ["agents@example.com"])
    html = message.alternatives[0][0]
    link = re.search(r'href="(http://testserver/digest/[^"]+)"[^>]*>View in browser', html)
    assert link, "the digest links to the reader's signed copy"
    page = client.get(link.group(1).removeprefix("http://testserver")).content.decode()
    assert "Agents: a paper on tool use" in page


def test_a_reader_whose_topic_has_nothing_today_is_told_so_and_gets_the_closest_papers(readers):
    """Empty days are never silent: the digest says nothing matched and offers the
    papers closest to the reader's topic, named as such (not as matches)."""
    from newsletter.relevance import papers_score

    papers_score(papers=list(PaperFactory._meta.model.objects.all()))  # embed them, as an import does
    graphs = TopicFactory(name="Graph learning", description="Graph neural networks and message passing.",
                          keywords="graph neural network")
    reader = SubscriberFactory(email="graphs@example.com")
    reader.topics.add(graphs)

    # The dry run lists them, as such (it stopped with a ValueError on such a reader).
    preview = _send("--to", "graphs@example.com", "--dry-run")
    assert re.search(r"graphs@example.com +0  ~ ", preview) and "(Closest to Graph learning (not a match))" in preview

    _send("--to", "graphs@example.com")

    [message] = mail.outbox
    # The subject does not lead with a paper as if it were a pick.
    assert message.subject == "Daily Papers Digest, 24 Nov 2025: nothing matched your topics, 3 close to them"
    html = message.alternatives[0][0]
    # Sent now, years after the papers' day: the digest names that day, not "today".
    assert "NOTHING MATCHED YOUR TOPICS ON 24 NOVEMBER; THE CLOSEST TO THEM" in message.body
    assert "Nothing matched your topics on 24 November: the 3 closest papers" in html
    offered = Delivery.objects.get(subscriber=reader).paper_ids
    assert len(offered) == 3
    for paper in PaperFactory._meta.model.objects.filter(id__in=offered):
        assert paper.title in message.body and paper.title in html


def test_latest_sends_the_newest_day_with_papers_whatever_today_is(readers):
    out = StringIO()
    call_command("send_digests", "--latest", "--now", stdout=out)
    assert "Edition of Monday 24 November 2025: 3 sent" in out.getvalue()


def test_latest_is_the_newest_day_a_reader_can_see_papers_of(readers):
    """An older day, and a newer day whose only paper an editor hid: --latest sends
    the 24th, the newest day with a paper a reader may see."""
    PaperFactory(trending_date=dt.date(2025, 11, 21), title="An older paper")
    PaperFactory(trending_date=dt.date(2025, 11, 25), title="A hidden paper", hidden=True)
    out = StringIO()
    call_command("send_digests", "--latest", "--now", stdout=out)
    assert "Edition of Monday 24 November 2025: 3 sent" in out.getvalue()


def test_no_papers_today_names_the_newest_day_and_the_option(readers):
    with pytest.raises(CommandError) as error:
        call_command("send_digests", stdout=StringIO())
    assert "The newest day with papers is 2025-11-24: send it with --latest" in str(error.value)


def test_with_no_papers_at_all_it_says_to_fetch_them_first(db):
    with pytest.raises(CommandError, match="No papers at all yet: run fetch_papers first"):
        call_command("send_digests", "--latest", "--now", stdout=StringIO())
    with pytest.raises(CommandError, match=r"no papers for today\. Fetch some first: manage\.py fetch_papers\.$"):
        call_command("send_digests", stdout=StringIO())


def test_a_day_without_papers_is_refused_and_nothing_is_sent(readers):
    with pytest.raises(CommandError, match="No edition to send: no papers for 2025-11-23. The newest day with papers "
                                           "is 2025-11-24: send it with --latest"):
        call_command("send_digests", "--date", "2025-11-23", "--now", stdout=StringIO())
    assert not mail.outbox and not Delivery.objects.exists()


def test_without_redis_it_says_how_to_start_it_and_makes_no_delivery(readers, settings):
    """`make digest` while `make run` (and its embedded Redis) is stopped: one line
    that says so, not a digest left pending for a dispatcher that is not running."""
    from tests.conftest import REDIS_NOWHERE

    settings.REDIS_URL = REDIS_NOWHERE
    with pytest.raises(CommandError) as error:
        _send("--now")
    assert "Redis at redis://127.0.0.1:9/0 does not answer" in str(error.value)
    assert "start `make run`" in str(error.value) and "Nothing was sent" in str(error.value)
    assert not Delivery.objects.exists() and not mail.outbox


@pytest.mark.parametrize(("skip_empty", "reason"), [
    (True, "nothing matched and the reader skips such days"),
    (False, "no paper of the edition is left for them (their filters, or they had each one already)"),
])
def test_a_reader_who_gets_nothing_is_told_why_and_the_rerun_does_not_say_not_their_hour(readers, skip_empty, reason):
    """The walkthrough of 5 December: a new reader who ticked "only papers with code"
    and "skip days with nothing matching" got nothing, and `make digest` said only
    "1 skipped", then "already sent, or not their hour". Now the run names the reader
    and the reason the ledger holds, and the rerun says they had it (sent or skipped).
    With "skip days …" left off, the reason said they skip such days too (a reader's
    walkthrough of 7 December): their filter left no paper of the day to show, not
    even a closest or an also-trending one."""
    picky = readers["Agents"]
    picky.only_with_code, picky.skip_empty = True, skip_empty
    picky.save()
    PaperFactory._meta.model.objects.update(github_repo="")

    output = _send("--now")
    assert "2 sent, 0 failed, 1 skipped" in output
    assert f"  skipped ({reason}): agents@example.com" in output

    again = _send("--now")
    assert "Nobody is due for Edition of Monday 24 November 2025: every reader had it already (sent or skipped" in again
    # Not "or it is not their hour (--now sends whatever the hour)": --now was given
    # (`make digest`), so the hour is no reason; without it, it may be, and is said.
    assert "not their hour" not in again
    assert "not their hour (--now sends whatever the hour)" in _send()


def test_a_digest_the_esp_could_not_take_goes_to_the_workers_two_minutes_later_not_half_an_hour(
        readers, postmark, django_capture_on_commit_callbacks):
    """An operator's walkthrough: `send_digests --now` said "725 left pending for the
    dispatcher to retry", the dispatcher took none (they were leased), and the sweep
    took them 31 minutes later (the batch task's longest backoff, with no task waiting)."""
    import datetime as dt

    from django.utils import timezone

    from newsletter.delivery import deliveries_resolve_stale

    postmark.fail_next(("status", 503))
    started = timezone.now()
    output = _send("--now")
    # A 5xx stops the batch (the provider is away): those not sent by then wait.
    waiting = re.search(r"(\d+) not sent yet \(the email provider was busy or away\): the workers try again "
                        r"within about 2 minutes", output)
    rows = Delivery.objects.filter(status=Delivery.Status.PENDING)
    assert waiting and rows.count() == int(waiting.group(1)) >= 1
    assert all(r.lease_expires_at <= started + dt.timedelta(minutes=3) for r in rows)
    # Beat's sweep, two minutes on, hands them to the workers (eager here): each sent once.
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_resolve_stale(now=timezone.now() + dt.timedelta(minutes=2, seconds=30))
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3
    assert sorted(postmark.accepted.values()) == [1, 1, 1]


def test_a_run_names_five_readers_a_reason_at_most_the_commonest_reason_first(readers, postmark):
    """A run that skipped six readers and failed six names five of each reason and
    counts the rest, the reason most readers had first."""
    agents = readers["Agents"].topics.get()
    for n in range(6):
        SubscriberFactory(email=f"picky{n}@example.com", only_with_code=True, skip_empty=True).topics.add(agents)
    for n in range(3):
        SubscriberFactory(email=f"more{n}@example.com").topics.add(agents)
    PaperFactory._meta.model.objects.update(github_repo="")
    postmark.fail_next(*[("status", 422, "Invalid 'To' address")] * 5, ("status", 422, "Inactive recipient"))

    output = _send("--now")

    assert "0 sent, 6 failed, 6 skipped" in output
    assert ("  skipped (nothing matched and the reader skips such days): "
            "picky0@example.com, picky1@example.com, picky2@example.com, picky3@example.com, picky4@example.com "
            "and 1 more\n") in output
    # The ESP answered the calls in the order they came: which reader had which words varies.
    failed = [block.rsplit("): ", 1) for block in output.split("  failed (")[1:]]
    assert ["Invalid 'To' address" in reason for reason, _ in failed] == [True, False]
    assert [len(emails.strip().split(", ")) for _, emails in failed] == [5, 1]
    assert " and " not in failed[0][1]  # five named: none left to count
