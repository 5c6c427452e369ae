"""The plain-text part's tidying (mail/rendering.py)."""

import random
import re

import pytest

from mail.rendering import TEXT_WIDTH, text_tidy, text_wrap


def test_text_tidy_collapses_runs_of_blank_lines_as_before():
    """Runs of three or more newlines become one blank line, two stay; the pattern
    was rewritten for speed (docs/benchmarks.md), so it is held to the old one."""
    assert text_tidy("\n\na\n\n\n\nb\n\nc\n\n\n") == "a\n\nb\n\nc\n"
    old = re.compile(r"\n{3,}")
    rng = random.Random(7)
    for _ in range(500):
        text = "".join(rng.choice(["\n", "\n", " ", "x", "\r\n", "\t"]) for _ in range(rng.randint(0, 60)))
        assert text_tidy(text) == old.sub("\n\n", text).strip() + "\n"


def test_text_wrap_keeps_addresses_whole_and_continues_at_the_indent():
    url = "https://example.com/" + "x" * 90
    text = f"Read the thread at {url} and then the paper everyone is talking about this week."
    lines = text_wrap(text, indent=3).splitlines()
    assert lines[0] == "Read the thread at" and lines[1] == f"   {url}"
    assert all(line.startswith("   ") and len(line) <= TEXT_WIDTH for line in lines[2:])
    assert text_wrap("short", indent=3) == "short" and text_wrap("") == ""
    item = "- " + "word " * 20
    assert text_wrap(item).splitlines()[1].startswith("  word")  # a list item hangs under its words


JOURNEY_KINDS = ["confirm", "already_subscribed", "goodbye", "export", "links", "links_data",
                 "email_change", "email_change_taken", "email_change_approval", "email_changed",
                 "editor_setup_link", "editor_wrong_codes"]


def _journey_email_sent(kind: str, settings):
    """The one email of `kind` (a reader's, or an editor's for editor_*), as sent."""
    from django.contrib.auth import get_user_model
    from django.core import mail

    from config.two_factor import staff_email
    from subscribers.models import ConsentRecord
    from subscribers.services import subscriber_journey_email_send
    from tests.factories import SubscriberFactory, TopicFactory

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    if kind.startswith("editor_"):
        editor = get_user_model().objects.create_user("ada", "ada@example.org", "pw-12345-long", is_staff=True)
        staff_email(editor.pk, kind.removeprefix("editor_"),
                    {"count": 3, "at": "5 Dec 2026, 18:40 UTC", "ip": "203.0.113.7"})
    else:
        reader = SubscriberFactory(status={"confirm": "pending", "goodbye": "unsubscribed"}.get(kind, "active"))
        reader.topics.add(TopicFactory(name="Agents"))
        if kind == "links_data":  # the link of a reader who complained: to their data only
            from subscribers.suppression import address_suppress

            address_suppress(email=reader.email, reason="complained")
            kind = "links"
        elif kind == "email_changed":  # the notice to the old address, once it moved (before
            # the startswith below, which took it for the link until 7 December)
            ConsentRecord.objects.create(subscriber=reader, action="email_change", source="form",
                                         detail={"from": "ada@old-employer.example", "to": reader.email})
        elif kind == "email_change_approval":  # to the current address, once the new one confirmed
            reader.email_change = {"to": "ada.lovelace@new-employer.example", "id": "x", "confirmed": "now"}
            reader.save()
        elif kind.startswith("email_change"):  # the address change's link, to an address free or taken
            reader.email_change = {"to": "ada.lovelace@new-employer.example", "id": "x"}
            reader.save()
            if kind == "email_change_taken":
                SubscriberFactory(email="ada.lovelace@new-employer.example")
            kind = "email_change"
        subscriber_journey_email_send(subscriber_id=reader.id, kind=kind)
    [message] = mail.outbox
    return message


@pytest.mark.django_db
@pytest.mark.parametrize("kind", JOURNEY_KINDS)
def test_every_emails_text_part_reads_in_a_text_client(kind, settings):
    """The digest's text part was wrapped at 72 characters (5 December 2026); the
    other emails' prose still ran to 150 and more, a line each in a text client and
    in a reply's quote. Only a line that is one word (a link) may be longer."""
    message = _journey_email_sent(kind, settings)
    long = [line for line in message.body.splitlines() if len(line) > TEXT_WIDTH and " " in line.strip()]
    assert long == [], long
    assert "{%" not in message.body and "&amp;" not in message.body


@pytest.mark.django_db
@pytest.mark.parametrize("kind", JOURNEY_KINDS)
def test_every_emails_text_part_says_why_it_came_as_its_html_does(kind, settings):
    """The HTML part of a confirmation, a goodbye, a data export or a link ends "You
    get this email because ..."; their text parts said nothing of it, and an
    editor's said less (a newcomer's walkthrough of the outbox, 6 December 2026)."""
    import html
    import re

    message = _journey_email_sent(kind, settings)
    [(html_part, _)] = message.alternatives
    reason = re.search(r"You get this email because.*?(?=<br|</)", html_part, re.DOTALL).group()
    reason = " ".join(html.unescape(re.sub(r"<[^>]+>", "", reason)).split())
    assert reason in " ".join(message.body.split())


def test_text_wrap_counts_what_the_line_starts_with_and_never_cuts_a_link_at_a_hyphen():
    """A title of 70 characters after the template's "1. " ran to 73 unwrapped; a link
    cut after one of its hyphens is a dead link in a text client; and a line that only
    starts with a hyphen ("-40% memory") is no list item, so it does not hang."""
    title = "a" * 35 + " " + "b" * 34
    assert text_wrap(title, indent=3) == "a" * 35 + "\n   " + "b" * 34
    link = "https://example.com/" + "-".join(["state-of-the-art"] * 5)
    assert link in text_wrap(f"See {link} for the rest.").splitlines()
    minus = text_wrap("-40% memory, " + "and the same accuracy on every benchmark " * 2).splitlines()
    assert len(minus) == 2 and minus[1].startswith("accuracy")


@pytest.mark.django_db
def test_an_email_makes_the_readers_mail_app_fetch_nothing_from_another_site(settings):
    """The emails' font stack names Roboto, for which MRML's default fonts add a
    Google Fonts stylesheet (a <link> and an @import): each reader's mail app would
    ask Google for it on opening, telling it who read what and when."""
    [(html_part, _)] = _journey_email_sent("confirm", settings).alternatives
    assert "Roboto" in html_part
    assert "<link" not in html_part and "@import" not in html_part and "googleapis" not in html_part


def text_read(html_part: str) -> str:
    """An email's HTML as a screen reader or a client without its styles reads it: the
    text of its elements one after the other, nothing added between them."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", html_part)).split(" "))


@pytest.mark.django_db
def test_the_confirmations_topics_are_read_as_separate_words(settings):
    """"Your topics:" then a chip per topic, back to back: read out (or shown without
    the chips' styles) as "Your topics: LLM reasoningEfficient training & compression"
    (a newcomer's walkthrough, 7 December)."""
    from django.core import mail

    from subscribers.services import subscriber_journey_email_send
    from tests.factories import SubscriberFactory, TopicFactory

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    reader = SubscriberFactory(status="pending")
    reader.topics.add(TopicFactory(name="LLM reasoning", position=1), TopicFactory(name="Efficient training", position=2))
    subscriber_journey_email_send(subscriber_id=reader.id, kind="confirm")
    [(html_part, _)] = mail.outbox[0].alternatives

    read = text_read(html_part)
    assert "LLM reasoning" in read and "Efficient training" in read
    assert "reasoningEfficient" not in read and "trainingLLM" not in read
