"""newsletter/digest.py is the one place a reader's digest is made: the batch send,
preview as a reader, test send and `send_digests --dry-run` all go through
`digest_make`, and what an editor previews as a reader is what that reader gets,
byte for byte."""

import datetime as dt
from io import StringIO
from unittest import mock

import pytest
from django.core import mail, signing
from django.core.management import call_command
from django.utils import timezone

from newsletter import curation, digest
from newsletter.delivery import deliveries_create, digest_send_batch
from newsletter.editions import edition_assemble
from newsletter.models import Delivery, Topic
from newsletter.ranking import ranking_data_load
from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

DAY = dt.date(2025, 11, 24)  # a Monday
NOW = dt.datetime(2025, 11, 24, 7, 5, tzinfo=dt.UTC)


@pytest.fixture
def edition(db):
    agents = TopicFactory(name="Agents")
    vision = TopicFactory(name="Vision")
    for n in range(6):
        topic = agents if n % 2 else vision
        paper = PaperFactory(
            trending_date=DAY, upvotes=90 - n, title=f"Paper {n} on {topic.name} & <tags>",
            github_repo="https://github.com/example/repo" if n % 3 == 0 else "",
        )
        PaperTopicFactory(paper=paper, topic=topic, score=0.9, matched_terms=[topic.name.lower()])
    for n in range(3):
        PaperFactory(trending_date=DAY, upvotes=20 - n, title=f"Unrelated paper {n}")
    edition = edition_assemble(date=DAY)
    edition.note = "A *big* day for agents."
    edition.save()
    return edition


def _reader(edition, name="Agents", **kwargs):
    reader = SubscriberFactory(delivery_hour=7, **kwargs)
    reader.topics.add(Topic.objects.get(name=name))
    return reader


def _sent_html(message) -> str:
    return next(body for body, mime in message.alternatives if mime == "text/html")


@pytest.mark.parametrize("frequency", ["daily", "weekly"])
def test_preview_as_a_reader_is_byte_for_byte_what_the_reader_is_sent(edition, frequency, monkeypatch):
    # The signed "view in browser" link carries the second it was signed
    # (django.core.signing.dumps): the preview and the send are made within the same
    # second here, as they would be if the editor looked at the moment it was sent.
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1xYRpk")
    reader = _reader(edition, frequency=frequency, weekday=0)
    others = [_reader(edition, name="Vision") for _ in range(2)]  # a batch, not one reader
    ids = deliveries_create(edition=edition, subscriber_ids=[reader.id, *[o.id for o in others]], now=NOW)

    preview = curation.edition_preview(edition=edition, subscriber=reader)
    digest_send_batch(delivery_ids=ids, now=timezone.now())  # the moment the editor looks

    (sent,) = [m for m in mail.outbox if m.to == [reader.email]]
    assert preview.paper_count > 0
    assert preview.html == _sent_html(sent)
    assert preview.text == sent.body
    assert preview.subject == sent.subject
    assert Delivery.objects.get(subscriber=reader).status == "sent"


def test_every_path_that_shows_or_sends_a_digest_makes_it_with_digest_make(edition):
    reader = _reader(edition)
    with mock.patch.object(digest, "digest_make", wraps=digest.digest_make) as make:
        curation.edition_preview(edition=edition, subscriber=reader)
        preview_call = make.call_args.kwargs
        curation.edition_test_send(edition=edition, to="editor@example.org", subscriber=reader)
        test_call = make.call_args.kwargs
        call_command("send_digests", "--date", DAY.isoformat(), "--now", "--dry-run", stdout=StringIO())
        dry_call = make.call_args.kwargs
        call_command("send_digests", "--date", DAY.isoformat(), "--now", stdout=StringIO())
        send_call = make.call_args.kwargs

    assert make.call_count == 4
    for call in (preview_call, test_call, dry_call, send_call):
        assert call["subscriber"] == reader and call["edition"] == edition
    assert test_call["personal_links"] is False  # the editor's copy carries no reader links
    assert send_call["delivery"] == Delivery.objects.get(subscriber=reader)
    test_message, sent = mail.outbox
    assert test_message.to == ["editor@example.org"] and sent.to == [reader.email]
    assert test_message.subject == "[Test] " + sent.subject


def test_a_reader_who_skips_empty_days_gets_nothing_and_the_preview_says_so(edition):
    reader = SubscriberFactory(delivery_hour=7, skip_empty=True, keywords="quantum chromodynamics")
    made = digest.digest_make(
        edition=edition, subscriber=reader,
        data=ranking_data_load(date=DAY, subscriber_ids=[reader.id]),
    )
    assert made.message is None and made.selection.skip
    preview = curation.edition_preview(edition=edition, subscriber=reader)
    assert preview.paper_count == 0 and "no digest" in preview.subject


def test_a_day_nothing_matched_does_not_lead_its_subject_with_a_trending_paper(edition):
    """A reader of one keyword nothing of the day mentions (and no topic, so no
    "closest" papers) gets the day's trending papers instead. Six weeks of such days
    came in the inbox as "Daily Papers Digest, Mon 12 Oct: Segment Anything +2 more",
    a subject that reads as picks for them (a walkthrough); the email itself opened
    with "Nothing matched your topics today; trending instead". The subject says it,
    as it did on a day that offers the closest papers."""
    reader = SubscriberFactory(delivery_hour=7, keywords="quantum chromodynamics")
    made = digest.digest_make(edition=edition, subscriber=reader,
                              data=ranking_data_load(date=DAY, subscriber_ids=[reader.id]))
    assert made.picked == 0 and len(made.paper_ids) == 3
    assert made.message.subject == "Daily Papers Digest, 24 Nov 2025: nothing matched your topics, 3 trending"
    heading = made.message.body.split("\n\n")[2]  # after the masthead and the note
    assert heading.startswith("NOTHING MATCHED YOUR TOPICS") and heading.endswith("; TRENDING INSTEAD")


def test_an_editor_previewing_an_old_edition_is_not_told_its_papers_are_todays(edition):
    """Previewed a year after its day, as a reader with no topics: each card says the
    paper is trending with its votes, and nothing says "today" (the why lines are
    also kept, Delivery.reasons, and read later)."""
    preview = curation.edition_preview(edition=edition, subscriber=None)
    # Its chip (Vision: the why line names no topic) is said in the text part too.
    assert "\n   Trending · in Vision\n   Ada Lovelace, Alan Turing · ▲ 90" in preview.text
    assert preview.text.count("▲ 90") == 1  # the why line does not repeat the card's votes
    assert "Monday 24 November 2025 · 9 papers picked for you" in preview.html
    assert "today" not in preview.text.lower() and "today" not in preview.html.lower()


def test_the_plain_text_part_gives_the_editors_note_as_text_not_markdown(edition):
    """The walkthrough of 5 December read `**Hello readers** — a [link](…) & <b>html</b>`
    in the text part. Now it says what the HTML part shows: the words, the link's
    address after its words, list items as "- "; no Markdown or tag is left."""
    edition.note = ("**Hello readers** — read [the thread](https://example.org/t) & <b>this</b>.\n\n"
                    "- one\n- two <script>alert(1)</script>")
    edition.save()
    text = curation.edition_preview(edition=edition, subscriber=None).text
    assert text.startswith("Daily Papers Digest · Monday 24 November 2025\n\n"
                           "Hello readers — read the thread (https://example.org/t) & this.\n\n"
                           "- one\n- two\n")
    assert not any(mark in text for mark in ("**", "](", "<b>", "<script", "alert("))


def test_the_plain_text_part_gives_a_mailbox_link_once_not_followed_by_its_mailto(edition):
    """A link whose words are its mailbox reads as the mailbox alone, as an address
    whose words are the address does: "ada@example.org (mailto:ada@example.org)" said
    it twice."""
    edition.note = "Questions? Write to [ada@example.org](mailto:ada@example.org) or see <https://example.org/faq>."
    edition.save()
    text = curation.edition_preview(edition=edition, subscriber=None).text
    assert "Questions? Write to ada@example.org or see https://example.org/faq.\n" in text
    assert "mailto:" not in text


def test_one_batch_of_daily_and_weekly_readers_gives_each_the_digest_of_their_kind(edition, monkeypatch):
    """A batch shares its proofs (newsletter/digest_render.py) between its readers: a
    weekly reader's digest is made from the edition's weekly proof ("Your week,
    18–24 November 2025"), a daily one's from its daily proof, whichever comes first."""
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1xYRpk")
    daily = _reader(edition)
    weekly = _reader(edition, frequency="weekly", weekday=0)
    ids = deliveries_create(edition=edition, subscriber_ids=[daily.id, weekly.id], now=NOW)
    previews = {r.email: curation.edition_preview(edition=edition, subscriber=r) for r in (daily, weekly)}

    digest_send_batch(delivery_ids=ids, now=timezone.now())

    assert sorted(m.to[0] for m in mail.outbox) == sorted(previews)
    for sent in mail.outbox:
        assert _sent_html(sent) == previews[sent.to[0]].html and sent.body == previews[sent.to[0]].text
    (weekly_sent,) = [m for m in mail.outbox if m.to == [weekly.email]]
    assert "Your week, 18–24 November 2025" in _sent_html(weekly_sent)
