"""A reader moves their subscription to a new address from the preference centre:
a link to the new address, their click, a link to the current address, its click,
a notice to the old one (services.subscriber_email_change_request /
subscriber_email_change_confirm / subscriber_email_change_approve)."""

import datetime as dt
import re
import time
import types

import pytest
from django.conf import settings
from django.core import mail, signing
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from newsletter.models import Feedback
from subscribers import services, tokens
from subscribers.models import BlockedDomain, ConsentRecord, Subscriber, Suppression
from subscribers.suppression import email_hash
from tests.factories import FeedbackFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db

ADDRESS_LINK = re.compile(r"http://testserver(/address/[^\s\"<>]+)")
APPROVAL_LINK = re.compile(r"http://testserver(/address-approval/[^\s\"<>]+)")
IP = "203.0.113.40"


def _manage_path(subscriber: Subscriber) -> str:
    return tokens.subscriber_manage_url(subscriber=subscriber).removeprefix("http://testserver")


def _ask(client, subscriber: Subscriber, email: str, *, ip: str = IP):
    return client.post(_manage_path(subscriber) + "address/", {"email": email}, REMOTE_ADDR=ip)


def _link(message) -> str:
    (path,) = set(ADDRESS_LINK.findall(message.body))
    return path


def _approval_link(to: str) -> str:
    """The path of the approval link in the one approval email sent to `to`."""
    (path,) = {path for m in mail.outbox if m.to == [to] for path in APPROVAL_LINK.findall(m.body)}
    return path


def _confirm(client, capture, link: str, **origin):
    """The new address's owner presses its link's button (the approval email is
    queued once the request's transaction commits)."""
    with capture(execute=True):
        return client.post(link, **origin)


def _move(client, capture, reader: Subscriber, email: str) -> None:
    """Both inboxes say yes: the new address's link, then the current address's."""
    mail.outbox.clear()
    _ask(client, reader, email)
    _confirm(client, capture, _link(mail.outbox[0]))
    with capture(execute=True):
        client.post(_approval_link(reader.email))


def _page(response) -> str:
    return " ".join(response.content.decode().split())


def test_a_reader_moves_to_a_new_address_and_keeps_topics_votes_and_history(
        client, django_capture_on_commit_callbacks):
    topic = TopicFactory(name="Agents")
    reader = SubscriberFactory(email="ada@oldjob.example")
    reader.topics.add(topic)
    vote = FeedbackFactory(subscriber=reader)
    mail.outbox.clear()

    response = _ask(client, reader, "Ada@NewJob.example")
    assert response.status_code == 303 and response["Location"].endswith("?done=address-asked#address")
    assert "Check the inbox of the new address" in _page(client.get(response["Location"]))
    reader.refresh_from_db()
    assert reader.email == "ada@oldjob.example"  # asking changes nothing
    (asked,) = mail.outbox
    assert asked.to == ["Ada@newjob.example"] and asked.subject == "Confirm your new address for the Daily Papers Digest"
    assert asked.alternatives and "Confirm this address" in asked.alternatives[0][0]  # the MJML part
    link = _link(asked)

    opened = client.get(link)  # a link scanner's GET moves nothing
    assert opened.status_code == 200 and "Move your digest to this address?" in _page(opened)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"

    mail.outbox.clear()
    confirmed = _confirm(client, django_capture_on_commit_callbacks, link)
    page = re.sub(r"<[^>]+>", "", _page(confirmed))
    assert "One more step" in page and "we emailed a…@oldjob.example a link" in page
    assert "subscribe this address instead" in page and 'href="/subscribe/"' in _page(confirmed)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"  # not yet
    (approval,) = mail.outbox
    assert approval.to == ["ada@oldjob.example"]
    assert approval.subject == "Move your Daily Papers Digest to A…@newjob.example?"
    assert "ignore this email: nothing changes" in " ".join(approval.body.split())
    approve = _approval_link("ada@oldjob.example")
    mail.outbox.clear()
    assert "One more step" in _page(_confirm(client, django_capture_on_commit_callbacks, link))
    assert mail.outbox == []  # pressed again: the reader's inbox gets no second approval email

    opened = client.get(approve)  # a link scanner's GET moves nothing
    assert opened.status_code == 200 and "Yes, move my digest" in _page(opened)
    assert "Move your digest to A…@newjob.example?" in re.sub(r"<[^>]+>", "", _page(opened))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert not reader.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()

    with django_capture_on_commit_callbacks(execute=True):
        moved = client.post(approve, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="pytest/1.0")
    assert "Your address is changed" in _page(moved)
    # Masked, as on every other page (the preference centre, the notice): the page
    # after the button is the one left on a shared screen or in a screenshot.
    assert "now goes to A…@newjob.example," in re.sub(r"<[^>]+>", "", _page(moved))
    assert "Ada@newjob.example" not in _page(moved) and "ada@newjob.example" not in _page(moved).lower()
    reader.refresh_from_db()
    assert reader.email == "Ada@newjob.example" and reader.email_change is None
    assert list(reader.topics.all()) == [topic] and Feedback.objects.get(pk=vote.pk).subscriber_id == reader.pk
    record = reader.consents.get(action=ConsentRecord.Action.EMAIL_CHANGE)
    assert record.detail == {"from": "ada@oldjob.example", "to": "Ada@newjob.example"}
    assert record.ip_address == "198.51.100.4" and record.user_agent == "pytest/1.0"
    (notice,) = mail.outbox
    assert notice.to == ["ada@oldjob.example"] and "now goes to A…@newjob.example" in " ".join(notice.body.split())

    for replayed in (link, approve):  # used already, and signed with the secret the move retired
        again = client.post(replayed)
        assert again.status_code == 410 and "it moved to another address" in _page(again)
    assert Subscriber.objects.get(pk=reader.pk).email == "Ada@newjob.example"
    assert reader.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE).count() == 1


def test_the_page_says_the_same_whether_or_not_the_new_address_has_a_subscription(client):
    """No enumeration: whoever holds a reader's link learns nothing of another address.
    The taken address's own inbox is told why nothing can move there, with no link."""
    owner = SubscriberFactory(email="taken@example.org")
    first, second = SubscriberFactory(), SubscriberFactory()
    mail.outbox.clear()

    to_taken = _ask(client, first, "taken@example.org")
    to_free = _ask(client, second, "free@example.org")
    assert to_taken.status_code == to_free.status_code == 303
    assert (to_taken["Location"].replace(_manage_path(first), "")
            == to_free["Location"].replace(_manage_path(second), ""))
    page_taken, page_free = client.get(to_taken["Location"]), client.get(to_free["Location"])
    def token(reader):
        return _manage_path(reader).split("/")[2]

    assert (_page(page_taken).replace(first.email_masked, "X").replace(token(first), "T")
            == _page(page_free).replace(second.email_masked, "X").replace(token(second), "T"))

    taken_mail = next(m for m in mail.outbox if m.to == ["taken@example.org"])
    assert "has a subscription of its own" in " ".join(taken_mail.body.split()) and not ADDRESS_LINK.search(taken_mail.body)
    assert Subscriber.objects.get(pk=owner.pk).email == "taken@example.org"
    assert Subscriber.objects.get(pk=first.pk).email == first.email


def test_a_link_to_an_address_subscribed_since_cannot_be_used_and_merges_nothing(client):
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    link = _link(mail.outbox[0])
    other = SubscriberFactory(email="ADA@newjob.example")  # subscribed before the click

    for response in (client.get(link), client.post(link)):
        assert "This link can't be used" in _page(response) and "never merged" in _page(response)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert Subscriber.objects.get(pk=other.pk).email == "ADA@newjob.example"
    assert not ConsentRecord.objects.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()


def test_only_the_newest_requests_link_moves_the_subscription(client, django_capture_on_commit_callbacks):
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@typo.example")
    _ask(client, reader, "ada@newjob.example")
    old_link, new_link = _link(mail.outbox[0]), _link(mail.outbox[1])

    assert "It was used already, or a newer request" in _page(client.post(old_link))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    _confirm(client, django_capture_on_commit_callbacks, new_link)
    client.post(_approval_link("ada@oldjob.example"))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example"


def test_an_approval_link_of_a_request_replaced_since_moves_nothing(client, django_capture_on_commit_callbacks):
    """The old inbox approved a change the reader had replaced by a newer request
    (a typo, seen too late): only the newest request's links move anything."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@typo.example")
    _confirm(client, django_capture_on_commit_callbacks, _link(mail.outbox[0]))
    approve_typo = _approval_link("ada@oldjob.example")
    _ask(client, reader, "ada@newjob.example")

    for response in (client.get(approve_typo), client.post(approve_typo)):
        assert "It was used already, or a newer request" in _page(response)
    reader.refresh_from_db()
    assert reader.email == "ada@oldjob.example" and reader.email_change["to"] == "ada@newjob.example"
    assert not ConsentRecord.objects.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()


def test_an_approval_link_after_the_new_address_was_taken_cannot_be_used_and_merges_nothing(
        client, django_capture_on_commit_callbacks):
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    _confirm(client, django_capture_on_commit_callbacks, _link(mail.outbox[0]))
    approve = _approval_link("ada@oldjob.example")
    other = SubscriberFactory(email="ADA@newjob.example")  # subscribed between the two clicks

    for response in (client.get(approve), client.post(approve)):
        assert "This link can't be used" in _page(response) and "never merged" in _page(response)
        assert "ADA@newjob.example" not in _page(response)  # masked, as the approval email has it
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert Subscriber.objects.get(pk=other.pk).email == "ADA@newjob.example"
    assert not ConsentRecord.objects.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()


def test_an_approval_link_expires_with_the_request_it_names(client, django_capture_on_commit_callbacks):
    """Mailed when the new address confirmed, perhaps near the end of the request's
    days: it works no longer than the request, however fresh its own signature."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    _confirm(client, django_capture_on_commit_callbacks, _link(mail.outbox[0]))
    approve = _approval_link("ada@oldjob.example")
    asked_long_ago = dt.datetime.now(dt.UTC) - tokens.EMAIL_CHANGE_LINK_MAX_AGE - dt.timedelta(minutes=1)
    Subscriber.objects.filter(pk=reader.pk).update(
        email_change={**Subscriber.objects.get(pk=reader.pk).email_change, "at": asked_long_ago.isoformat()})

    for response in (client.get(approve), client.post(approve)):
        assert response.status_code == 410 and "This link has expired" in _page(response)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"


def test_an_approval_link_lives_the_requests_days_however_late_the_new_address_confirmed(
        client, django_capture_on_commit_callbacks, monkeypatch):
    """Asked, then confirmed by the new address an hour before the request's days ran
    out: the approval mailed then works for that hour, not for days from the
    confirmation, and the daily forget drops the request once they are over."""
    asked = dt.datetime.now(dt.UTC)

    def clock_at(moment: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=moment.timestamp))

    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    clock_at(asked + tokens.EMAIL_CHANGE_LINK_MAX_AGE - dt.timedelta(hours=1))
    _confirm(client, django_capture_on_commit_callbacks, _link(mail.outbox[0]))
    approve = _approval_link("ada@oldjob.example")
    clock_at(asked + tokens.EMAIL_CHANGE_LINK_MAX_AGE + dt.timedelta(minutes=1))

    for response in (client.get(approve), client.post(approve)):
        assert response.status_code == 410 and "This link has expired" in _page(response)
    assert services.email_change_requests_forget(now=timezone.now()) == 1
    reader.refresh_from_db()
    assert (reader.email, reader.email_change) == ("ada@oldjob.example", None)


def test_whoever_holds_a_readers_link_cannot_move_it_to_their_own_address_and_take_their_data(
        client, django_capture_on_commit_callbacks):
    """A digest forwarded carries the reader's manage link. Its holder asked to move
    the subscription to their own address and pressed the link that came to them
    (it proves only that the new address is theirs): the subscription was theirs,
    and "Email me my data" sent them the reader's consent records, IP addresses, old
    address and votes. Now the move waits for the reader's own inbox, which is asked."""
    reader = SubscriberFactory(email="ada@example.org")
    FeedbackFactory(subscriber=reader)
    mail.outbox.clear()

    _ask(client, reader, "mallory@attacker.example", ip="198.51.100.66")
    (theirs,) = mail.outbox
    assert theirs.to == ["mallory@attacker.example"]
    mail.outbox.clear()
    _confirm(client, django_capture_on_commit_callbacks, _link(theirs), REMOTE_ADDR="198.51.100.66")

    reader.refresh_from_db()
    assert reader.email == "ada@example.org"
    assert not reader.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()
    (approval,) = mail.outbox  # the real reader is asked, and may ignore it
    assert approval.to == ["ada@example.org"] and approval.subject == "Move your Daily Papers Digest to m…@attacker.example?"

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_manage_path(reader) + "export/", REMOTE_ADDR="198.51.100.66")
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]  # the data go to the reader only


def test_a_tampered_or_foreign_link_gets_the_invalid_link_page_and_changes_nothing(client):
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    link = _link(mail.outbox[0])
    manage_token = _manage_path(reader).split("/")[2]  # signed for another purpose
    change_token = link.split("/")[2]  # the new inbox's link at the current inbox's door
    for path in (link[:-3] + "AAA/", f"/address/{manage_token}/", f"/address-approval/{change_token}/"):
        for response in (client.get(path), client.post(path)):
            assert response.status_code == 404 and "This link is not valid" in _page(response)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"


def test_an_expired_link_says_so_and_changes_nothing(client, monkeypatch):
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    link = _link(mail.outbox[0])
    later = time.time() + (tokens.EMAIL_CHANGE_LINK_MAX_AGE + dt.timedelta(minutes=1)).total_seconds()
    monkeypatch.setattr(signing, "time", types.SimpleNamespace(time=lambda: later))

    for response in (client.get(link), client.post(link)):
        assert response.status_code == 410
        page = _page(response)
        assert "This link has expired" in page and "ask again from your preferences" in page
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=2, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_asking_too_often_is_refused_by_the_public_forms_limits(client):
    """The subscribe form's limits, counted with it: two requests from one client,
    then a 429 that speaks of the address change; another client is not held."""
    reader = SubscriberFactory()
    mail.outbox.clear()
    assert _ask(client, reader, "one@example.org").status_code == 303
    assert client.post("/subscription/", {"email": "x@example.org"}, REMOTE_ADDR=IP).status_code == 303
    refused = _ask(client, reader, "two@example.org")
    assert refused.status_code == 429 and "check the new address's inbox" in _page(refused)
    assert _ask(client, reader, "two@example.org", ip="198.51.100.9").status_code == 303


@override_settings(SUBSCRIBE_EMAILS_PER_MAILBOX=2)
def test_a_reader_gets_a_windows_cap_of_links_whatever_addresses_they_type(client):
    reader = SubscriberFactory()
    mail.outbox.clear()
    for n in range(2):
        assert _ask(client, reader, f"new{n}@example.org", ip=f"198.51.100.{n}").status_code == 303
    assert _ask(client, reader, "new9@example.org", ip="198.51.100.9").status_code == 429
    assert len(mail.outbox) == 2


def test_a_blocked_domain_or_ones_own_address_is_refused_on_the_page(client):
    BlockedDomain.objects.create(domain="mailinator.com")
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    blocked = _ask(client, reader, "ada@eu.mailinator.com")
    assert blocked.status_code == 400 and "cannot accept addresses at this domain" in _page(blocked)
    same = _ask(client, reader, "ADA@oldjob.example")
    assert same.status_code == 400 and "already" in _page(same)
    assert mail.outbox == [] and Subscriber.objects.get(pk=reader.pk).email_change is None


def test_a_suppressed_new_address_gets_nothing_and_the_page_is_the_same(client):
    Suppression.objects.create(email_hash=email_hash("hurt@example.org"), reason="complained")
    reader = SubscriberFactory()
    mail.outbox.clear()
    response = _ask(client, reader, "hurt@example.org")
    assert response.status_code == 303 and response["Location"].endswith("?done=address-asked#address")
    assert mail.outbox == []


def test_an_address_whose_owner_deleted_their_data_can_take_the_subscription_by_their_click(
        client, django_capture_on_commit_callbacks):
    """As subscribing again does: the deleted reader's own click lifts that suppression."""
    Suppression.objects.create(email_hash=email_hash("ada@newjob.example"), reason=Suppression.Reason.DELETED)
    reader = SubscriberFactory(email="ada@oldjob.example")
    _move(client, django_capture_on_commit_callbacks, reader, "ada@newjob.example")
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example"
    assert not Suppression.objects.filter(email_hash=email_hash("ada@newjob.example")).exists()


def test_an_address_change_never_confirmed_is_forgotten_once_its_link_is_dead(client):
    """The typed address (perhaps a stranger's) was kept on the reader's row for good."""
    from newsletter.retention import retention_apply

    stale, fresh = SubscriberFactory(), SubscriberFactory()
    _ask(client, stale, "typed@example.org")
    _ask(client, fresh, "kept@example.org")
    asked_long_ago = (dt.datetime.now(dt.UTC) - tokens.EMAIL_CHANGE_LINK_MAX_AGE - dt.timedelta(minutes=1))
    Subscriber.objects.filter(pk=stale.pk).update(
        email_change={**Subscriber.objects.get(pk=stale.pk).email_change, "at": asked_long_ago.isoformat()})

    assert retention_apply().address_changes == 1
    assert Subscriber.objects.get(pk=stale.pk).email_change is None
    assert Subscriber.objects.get(pk=fresh.pk).email_change["to"] == "kept@example.org"


def _mailbox_fill(email: str) -> None:
    """The mailbox's window cap of emails asked for by anyone, reached (the forms'
    services._mailbox_capped counts under this key)."""
    from subscribers.addresses import mailbox_key
    from subscribers.throttling import rate_limit_exceeded

    rate_limit_exceeded(key=f"journey:mailbox:{email_hash(mailbox_key(email))}",
                        limit=100, window_seconds=600, hits=settings.SUBSCRIBE_EMAILS_PER_MAILBOX)


@pytest.mark.parametrize("probed", ["suppressed", "capped"])
@override_settings(SUBSCRIBE_EMAILS_PER_MAILBOX=2)
def test_whoever_holds_a_link_learns_nothing_of_another_address_from_the_change_form(client, monkeypatch, probed):
    """The link holder (anyone: subscribe yourself) types a stranger's address. A
    suppressed one (a complaint, a bounce) or a mailbox others filled was told three
    ways: the request was not counted against the reader, so the next one was a 303
    where an unknown address's was a 429; it left the link mailed before working,
    where any other request replaces it; and it made one query fewer."""
    probe = "hurt@example.org"
    if probed == "suppressed":
        Suppression.objects.create(email_hash=email_hash(probe), reason=Suppression.Reason.COMPLAINT)
    else:
        _mailbox_fill(probe)
    answers = {}
    for label, typed in (("probe", probe), ("unknown", "nobody@example.org")):
        reader = SubscriberFactory()
        mail.outbox.clear()
        _ask(client, reader, f"mine-{label}@example.net")
        link_before = _link(mail.outbox[0])
        queries = []

        def counted(execute, sql, *args, queries=queries):
            queries.append(sql)
            return execute(sql, *args)

        # The request's own queries (the worker's are another process's), counted as
        # they run: the test client's request resets connection.queries.
        with monkeypatch.context() as queue_away, connection.execute_wrapper(counted):
            queue_away.setattr(services.subscriber_email_send, "delay", lambda *args: None)
            asked = _ask(client, reader, typed)
        replaced = "It was used already, or a newer request" in _page(client.get(link_before))
        next_one = _ask(client, reader, f"again-{label}@example.net")
        answers[label] = (asked.status_code, len(queries), replaced, next_one.status_code)
    assert answers["probe"] == answers["unknown"]
    assert answers["unknown"][2:] == (True, 429)
    mail.outbox.clear()
    _ask(client, SubscriberFactory(), probe)
    assert [m for m in mail.outbox if probe in m.to] == []  # and the probed address gets nothing


def test_a_new_address_too_long_once_its_domain_is_encoded_is_refused_on_the_page(client):
    """It was taken (254 characters as typed), its link mailed, and the link's button
    answered 500: the row's email column holds 254 (DataError)."""
    from tests.subscribers.test_views import LONG_ONCE_ENCODED

    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    response = _ask(client, reader, LONG_ONCE_ENCODED)
    assert response.status_code == 400 and 'id="id_email-error"' in response.content.decode()
    assert mail.outbox == [] and Subscriber.objects.get(pk=reader.pk).email_change is None


def test_a_confirmation_mailed_to_the_old_address_does_not_resubscribe_the_new_one(
        client, django_capture_on_commit_callbacks):
    """A reader who left asked on the form again (or anyone typed their address): a
    confirmation for that request went to the old inbox. They then moved the
    subscription, unsubscribed as it is, to a new address. Whoever reads the old inbox
    (an employer's, once the reader has left the job) pressed that confirmation, and
    the new address got digests again, with the form's choices, without its owner's
    confirming anything: the old address's consent was taken for the new one's."""
    topic = TopicFactory()
    reader = SubscriberFactory(email="ada@oldjob.example", status=Subscriber.Status.UNSUBSCRIBED)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/subscribe/", {
            "email": "ada@oldjob.example", "topics": [topic.pk], "frequency": "daily", "weekday": "0",
            "delivery_hour": "7", "time_zone": "UTC", "consent": "on", "website": ""}, REMOTE_ADDR="198.51.100.7")
    (confirmation,) = mail.outbox
    confirm_path = re.search(r"http://testserver(/confirm/[^\s\"<>]+)", confirmation.body).group(1)

    _move(client, django_capture_on_commit_callbacks, Subscriber.objects.get(pk=reader.pk), "ada@newjob.example")
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example"

    client.post(confirm_path)  # from the old inbox
    moved = Subscriber.objects.get(pk=reader.pk)
    assert moved.status == Subscriber.Status.UNSUBSCRIBED and list(moved.topics.all()) != [topic]


def _subscribe_on_the_form(client, capture, email: str, *, ip: str = "198.51.100.66") -> None:
    """Anyone types an address into the public subscribe form: a pending row nobody
    confirmed, and a confirmation email to that address."""
    with capture(execute=True):
        client.post("/subscribe/", {
            "email": email, "topics": [TopicFactory().pk], "frequency": "daily", "weekday": "0",
            "delivery_hour": "7", "time_zone": "UTC", "consent": "on", "website": ""}, REMOTE_ADDR=ip)


def test_a_stranger_who_typed_the_new_address_into_the_subscribe_form_does_not_block_the_move(
        client, django_capture_on_commit_callbacks):
    """The stranger's pending row at the new address made every move there "taken"
    (its inbox got no link) until retention deleted it, 30 days later. The new
    inbox's owner proves by their click that it is theirs; a row nobody confirmed is
    no other reader: it goes, with its consent records, as retention takes it."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    _subscribe_on_the_form(client, django_capture_on_commit_callbacks, "ada@newjob.example")
    squatter = Subscriber.objects.get(email="ada@newjob.example")
    assert squatter.status == Subscriber.Status.PENDING and squatter.consents.exists()

    _move(client, django_capture_on_commit_callbacks, reader, "ada@newjob.example")

    reader.refresh_from_db()
    assert reader.email == "ada@newjob.example"
    assert list(Subscriber.objects.filter(email__iexact="ada@newjob.example")) == [reader]
    assert not ConsentRecord.objects.filter(subscriber_id=squatter.pk).exists()
    assert not Suppression.objects.filter(email_hash=email_hash("ada@newjob.example")).exists()


@pytest.mark.parametrize("status", ["active", "paused", "unsubscribed", "suppressed", "pending, confirmed once"])
def test_a_row_at_the_new_address_that_someone_confirmed_still_means_taken(
        client, django_capture_on_commit_callbacks, status):
    reader = SubscriberFactory(email="ada@oldjob.example")
    other = SubscriberFactory(email="ada@newjob.example", status=status.split(",")[0])
    if status.startswith("pending"):
        Subscriber.objects.filter(pk=other.pk).update(confirmed_at=dt.datetime.now(dt.UTC))
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    (taken,) = mail.outbox
    assert "has a subscription of its own" in " ".join(taken.body.split()) and not ADDRESS_LINK.search(taken.body)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert Subscriber.objects.filter(pk=other.pk).exists()


def _approval_asked_over_a_pending_row(client, capture) -> tuple[Subscriber, Subscriber, str]:
    """A stranger's pending row at ada@newjob.example; the reader asked to move there,
    the new inbox pressed its link: the reader, that row, the approval link."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    _subscribe_on_the_form(client, capture, "ada@newjob.example")
    pending = Subscriber.objects.get(email="ada@newjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    _confirm(client, capture, _link(next(m for m in mail.outbox if m.to == ["ada@newjob.example"])))
    return reader, pending, _approval_link("ada@oldjob.example")


def test_a_pending_row_confirmed_between_the_two_clicks_means_taken_and_stays(
        client, django_capture_on_commit_callbacks):
    reader, pending, approve = _approval_asked_over_a_pending_row(client, django_capture_on_commit_callbacks)
    Subscriber.objects.filter(pk=pending.pk).update(status=Subscriber.Status.ACTIVE, confirmed_at=dt.datetime.now(dt.UTC))

    assert "never merged" in _page(client.post(approve))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert Subscriber.objects.get(pk=pending.pk).email == "ada@newjob.example"


def test_an_approval_link_signed_before_the_new_address_confirmed_moves_nothing(client):
    """The move needs both inboxes' yes: the current address's link, whenever it was
    signed, moves nothing until the new address's owner pressed theirs (the new
    address may be a typo, or not the reader's)."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    reader.refresh_from_db()
    approve = tokens.email_change_approval_url(subscriber=reader).removeprefix("http://testserver")

    for response in (client.get(approve), client.post(approve)):
        assert "It was used already, or a newer request" in _page(response)
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert not ConsentRecord.objects.filter(action=ConsentRecord.Action.EMAIL_CHANGE).exists()


def test_no_approval_email_for_a_request_replaced_before_the_queue_sent_it(
        client, django_capture_on_commit_callbacks):
    """The new address confirmed, and before the queue sent the approval the reader
    asked for another address: the current inbox is not asked to approve a move its
    new address never confirmed (the email's button would only say "used already")."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@typo.example")
    with django_capture_on_commit_callbacks() as queued:
        client.post(_link(mail.outbox[0]))
    _ask(client, reader, "ada@newjob.example")
    mail.outbox.clear()

    for callback in queued:
        callback()
    assert mail.outbox == []


@pytest.mark.parametrize("door", ["new address", "current address"])
def test_two_presses_at_once_of_either_button_act_once(client, django_capture_on_commit_callbacks, monkeypatch, door):
    """A double click (or a browser's retry) whose two requests both read the link's
    reader before either acted: the second sees what the first did (the service
    reads the row again under its lock). It sent the reader's inbox a second
    approval email, or a second "address changed" notice and consent record."""
    from subscribers import views

    reader = SubscriberFactory(email="ada@oldjob.example")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    link = _link(mail.outbox[0])
    if door == "current address":
        _confirm(client, django_capture_on_commit_callbacks, link)
        link = _approval_link("ada@oldjob.example")
    mail.outbox.clear()
    read = views.subscriber_from_email_change_token

    def the_other_press_acts_meanwhile(**kwargs):
        found, other = read(**kwargs), read(**kwargs)
        if door == "new address":
            services.subscriber_email_change_confirm(subscriber=other, change_id=other.email_change_id)
        else:
            services.subscriber_email_change_approve(subscriber=other, change_id=other.email_change_id,
                                                     ip=IP, user_agent="")
        return found

    monkeypatch.setattr(views, "subscriber_from_email_change_token", the_other_press_acts_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(link)
    assert len(mail.outbox) == 1  # one approval email, or one notice
    if door == "current address":
        assert Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example"
        assert reader.consents.filter(action=ConsentRecord.Action.EMAIL_CHANGE).count() == 1


def test_a_row_at_the_new_address_confirmed_the_instant_before_the_move_stays_and_nothing_moves(
        client, django_capture_on_commit_callbacks, monkeypatch):
    """The approval's check saw a row nobody confirmed at the new address; its owner
    confirmed it in the instant before the move. That row is a reader now: it is
    not deleted with its consent, and nothing is merged (the move takes only what it
    finds never confirmed under its lock)."""
    reader, pending, approve = _approval_asked_over_a_pending_row(client, django_capture_on_commit_callbacks)
    checked = services.email_change_state

    def confirmed_right_after_the_check(**kwargs):
        state = checked(**kwargs)
        Subscriber.objects.filter(pk=pending.pk).update(
            status=Subscriber.Status.ACTIVE, confirmed_at=dt.datetime.now(dt.UTC))
        return state

    monkeypatch.setattr(services, "email_change_state", confirmed_right_after_the_check)
    assert "never merged" in _page(client.post(approve))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert Subscriber.objects.get(pk=pending.pk).email == "ada@newjob.example"
    assert ConsentRecord.objects.filter(subscriber_id=pending.pk).exists()


@override_settings(SUBSCRIBE_EMAILS_PER_MAILBOX=2)
def test_requests_refused_for_asking_too_often_use_none_of_the_typed_mailboxs_emails(client):
    """A reader over their window's requests gets a 429 before anything is counted on
    the address typed: a link holder who keeps typing a stranger's address after
    that does not use up the emails that mailbox may get, so the next request for it
    (another reader's, its owner's) is still mailed."""
    reader = SubscriberFactory()
    mail.outbox.clear()
    for n in range(2):
        assert _ask(client, reader, f"mine{n}@example.net", ip=f"198.51.100.{n}").status_code == 303
    for n in range(2):
        assert _ask(client, reader, "eve@example.org", ip=f"198.51.100.{10 + n}").status_code == 429
    assert _ask(client, SubscriberFactory(), "eve@example.org", ip="198.51.100.20").status_code == 303
    assert [m.to for m in mail.outbox if m.to == ["eve@example.org"]] == [["eve@example.org"]]


@override_settings(SUBSCRIBE_EMAILS_PER_MAILBOX=2)
def test_an_address_whose_owner_deleted_their_data_gets_no_more_links_than_any_mailbox(client):
    """Its suppression is lifted by its owner's click, so the link goes to it: as to
    any mailbox, at most SUBSCRIBE_EMAILS_PER_MAILBOX a window, however many readers'
    links are used to type it."""
    Suppression.objects.create(email_hash=email_hash("ada@newjob.example"), reason=Suppression.Reason.DELETED)
    mail.outbox.clear()
    for n in range(4):
        assert _ask(client, SubscriberFactory(), "ada@newjob.example", ip=f"198.51.100.{n}").status_code == 303
    assert len([m for m in mail.outbox if m.to == ["ada@newjob.example"]]) == 2


def test_an_unsubscribed_reader_asking_to_move_is_told_to_check_the_new_inbox(client):
    """An unsubscribed reader's address can change (their data page offers it): the
    page says where the link went, as an active reader's does."""
    reader = SubscriberFactory(email="ada@oldjob.example", status=Subscriber.Status.UNSUBSCRIBED)
    mail.outbox.clear()
    response = _ask(client, reader, "ada@newjob.example")
    assert response.status_code == 303 and response["Location"].endswith("?done=address-asked#address")
    assert [m.to for m in mail.outbox] == [["ada@newjob.example"]]


def test_a_reader_not_yet_confirmed_who_posts_an_address_change_is_told_nothing_was_asked(client):
    """A pending reader's page has no address form (their address is not confirmed):
    a change posted anyway sends nothing, and the page after it does not say "Check
    your new inbox"."""
    reader = SubscriberFactory(email="ada@oldjob.example", status=Subscriber.Status.PENDING)
    mail.outbox.clear()
    response = _ask(client, reader, "ada@newjob.example")
    assert response.status_code == 303 and "done=" not in response["Location"]
    assert "sf-flash" not in _page(client.get(response["Location"]))
    assert mail.outbox == [] and Subscriber.objects.get(pk=reader.pk).email_change is None


def test_the_old_inboxs_links_act_no_more_once_the_subscription_moved(client, django_capture_on_commit_callbacks):
    """Whoever reads the old inbox after the move (a former employer, a shared
    mailbox) finds its digests' links: the preference centre, its delete button and
    the votes no longer act for the reader, whose digests now go elsewhere. Before,
    they did, for good. The old digests' unsubscribe link still unsubscribes, as any
    sent email's must (RFC 8058); the page after the move leads to the preferences
    with the new links."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    old_manage = _manage_path(reader)
    old_unsubscribe = tokens.subscriber_unsubscribe_url(subscriber=reader).removeprefix("http://testserver")
    mail.outbox.clear()
    _ask(client, reader, "ada@newjob.example")
    _confirm(client, django_capture_on_commit_callbacks, _link(mail.outbox[0]))
    with django_capture_on_commit_callbacks(execute=True):
        moved = client.post(_approval_link("ada@oldjob.example"))

    assert client.get(old_manage).status_code == 410
    assert client.post(old_manage + "delete/").status_code == 410
    assert Subscriber.objects.filter(pk=reader.pk, email="ada@newjob.example").exists()
    (new_manage,) = {path for path in re.findall(r'href="(?:http://testserver)?(/manage/[^"]+)"', moved.content.decode())}
    assert new_manage != old_manage and client.get(new_manage).status_code == 200

    client.post(old_unsubscribe)
    assert Subscriber.objects.get(pk=reader.pk).status == Subscriber.Status.UNSUBSCRIBED
