"""The public forms while Redis is away (it holds the task queue and the rate
limits): the reader is told in words, keeps what they typed, and loses nothing;
their next try, once Redis is back, works. Against the real Celery producer and
redis-py pointed at a port where nothing listens: no mock of the broker.

Transactional tests: in production the confirmation email is queued when the
subscribe's transaction commits, inside the request."""

import re

import pytest
from django.core import mail
from django.utils import timezone

from subscribers import services, tokens
from subscribers.models import ConsentRecord, OwedEmail, Subscriber
from subscribers.tokens import subscriber_unsubscribe_url
from subscribers.views import QUEUE_AWAY_MESSAGE
from tests.conftest import REDIS_NOWHERE
from tests.factories import SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _form(topic, email="reader@example.com"):
    return {
        "email": email, "topics": [topic.pk], "keywords": "rlhf", "exclude_keywords": "",
        "frequency": "daily", "weekday": "0", "delivery_hour": "7", "time_zone": "Europe/Berlin",
        "consent": "on", "website": "",
    }


def _away_page_shown(response, email: str) -> None:
    html = response.content.decode()
    assert response.status_code == 503
    assert response["Retry-After"] == "120"
    assert QUEUE_AWAY_MESSAGE in html
    assert re.search(rf'name="email"[^>]*value="{re.escape(email)}"', html)  # kept
    assert 'value="rlhf"' in html


def test_subscribing_while_the_queue_is_away_says_so_and_the_next_try_sends(client, broker_away):
    topic = TopicFactory(name="Alignment")
    response = client.post("/subscribe/", _form(topic), REMOTE_ADDR="203.0.113.7")
    _away_page_shown(response, "reader@example.com")
    # Nothing is saved: the request's work, whatever the address, is queueing one
    # task carrying it (services.subscriber_subscribe_request), and that is what failed.
    assert not Subscriber.objects.exists() and not mail.outbox

    broker_away()  # back
    response = client.post("/subscribe/", _form(topic), REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 303
    (email,) = mail.outbox
    assert email.to == ["reader@example.com"] and "Confirm your subscription" in email.subject
    reader = Subscriber.objects.get()
    assert reader.status == Subscriber.Status.PENDING and reader.confirmation_sent_at is not None


def test_subscribing_while_the_rate_limits_cannot_be_counted_saves_nothing_and_says_so(client, settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_NOWHERE}}
    topic = TopicFactory(name="Alignment")
    response = client.post("/subscribe/", _form(topic, "other@example.com"), REMOTE_ADDR="203.0.113.7")
    _away_page_shown(response, "other@example.com")
    assert not Subscriber.objects.exists()


def test_unsubscribing_while_the_queue_is_away_still_unsubscribes(client, broker_away):
    reader = SubscriberFactory()
    path = subscriber_unsubscribe_url(subscriber=reader).split("://", 1)[1].split("/", 1)[1]
    response = client.post(f"/{path}", {"from_page": "1"})
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert ConsentRecord.objects.filter(subscriber=reader, action=ConsentRecord.Action.UNSUBSCRIBE).exists()
    assert not mail.outbox


def test_the_goodbye_of_an_unsubscribe_made_while_the_queue_was_away_is_sent_once_it_is_back(
        client, broker_away, caplog):
    """The page says "unsubscribed" at once; the goodbye email the queue could not take
    is owed, and beat's task sends it once Redis is back, once. A reader who came back
    meanwhile gets no goodbye. The operator's log says how many were queued, and
    nothing on the runs that queue none (every minute)."""
    from subscribers.models import OwedEmail
    from subscribers.tasks import owed_emails_send

    leaving, returning = SubscriberFactory(), SubscriberFactory()
    for reader in (leaving, returning):
        path = subscriber_unsubscribe_url(subscriber=reader).split("://", 1)[1].split("/", 1)[1]
        assert client.post(f"/{path}", {"from_page": "1"}).status_code == 200
    assert OwedEmail.objects.count() == 2
    with pytest.raises(services.JourneyEmailNotQueued):  # beat's run while Redis is still away
        owed_emails_send()
    assert OwedEmail.objects.count() == 2 and not mail.outbox

    returning.status = Subscriber.Status.ACTIVE  # resubscribed before the queue came back
    returning.save()
    broker_away()  # back
    caplog.set_level("INFO", logger="subscribers.tasks")
    assert owed_emails_send() == 2
    (goodbye,) = mail.outbox
    assert goodbye.to == [leaving.email]
    assert not OwedEmail.objects.exists()
    assert "emails owed since Redis was away queued: 2" in caplog.text
    caplog.clear()
    assert owed_emails_send() == 0 and len(mail.outbox) == 1  # once
    assert "emails owed" not in caplog.text


def test_a_goodbye_owed_and_then_sent_by_a_later_unsubscribe_is_not_sent_again(client, broker_away):
    from subscribers.models import OwedEmail
    from subscribers.tasks import owed_emails_send

    reader = SubscriberFactory()
    path = subscriber_unsubscribe_url(subscriber=reader).split("://", 1)[1].split("/", 1)[1]
    client.post(f"/{path}", {"from_page": "1"})
    assert OwedEmail.objects.filter(subscriber=reader).exists()
    reader.status = Subscriber.Status.ACTIVE  # came back, and leaves again once Redis is back
    reader.save()
    broker_away()  # back
    client.post(f"/{path}", {"from_page": "1"})
    (goodbye,) = mail.outbox
    assert goodbye.to == [reader.email]
    assert owed_emails_send() == 0 and len(mail.outbox) == 1


def test_asking_for_ones_data_while_the_queue_is_away_says_so_and_the_next_try_sends(client, broker_away):
    """"Email me my data" while the queue is away: the reader is told it was not
    sent, and the once-per-window limit is not spent on the email that never left,
    so their next try, once Redis is back, sends it (it said "sent already")."""
    from subscribers.tokens import subscriber_manage_url

    reader = SubscriberFactory(email="me@example.com")
    export = subscriber_manage_url(subscriber=reader).split("://", 1)[1].split("/", 1)[1]
    response = client.post(f"/{export}export/")
    assert response["Location"].endswith("?done=export-failed#your-data")
    assert not mail.outbox

    broker_away()  # back
    response = client.post(f"/{export}export/")
    assert response["Location"].endswith("?done=export-sent#your-data")
    (email,) = mail.outbox
    assert email.to == ["me@example.com"]


def test_asking_for_ones_link_while_the_queue_is_away_says_so_and_the_next_try_sends(client, broker_away):
    """"Lost your link?" while the queue is away: the reader is told the email did not
    go, with the address they typed still in the field, and their next try, once
    Redis is back, sends it."""
    SubscriberFactory(email="ada@example.com")
    response = client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")
    html = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "120"
    assert "We could not send the email just now. Please try again in a few minutes." in html
    assert re.search(r'name="email"[^>]*value="ada@example.com"', html)
    assert not mail.outbox

    broker_away()  # back
    response = client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 303
    (email,) = mail.outbox
    assert email.to == ["ada@example.com"]


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_editors_resend_while_the_queue_is_away_says_so_and_spends_no_window(editor_client, broker_away):
    from django.urls import reverse

    from subscribers.admin import QUEUE_AWAY_ADMIN_MESSAGE

    pending = [SubscriberFactory(status=Subscriber.Status.PENDING) for _ in range(3)]
    changelist = reverse("admin:subscribers_subscriber_changelist")
    resend = {"action": "confirmation_resend", "_selected_action": [p.pk for p in pending]}

    response = editor_client.post(changelist, resend, follow=True)
    assert response.status_code == 200
    assert _messages(response) == [QUEUE_AWAY_ADMIN_MESSAGE]
    # Every claim given back, also those whose emails Django never tried to queue.
    assert set(Subscriber.objects.values_list("confirmation_sent_at", flat=True)) == {None}

    broker_away()  # back
    response = editor_client.post(changelist, resend, follow=True)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in pending)


def test_an_import_while_the_queue_is_away_keeps_the_rows_and_says_the_emails_wait(editor_client, broker_away):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    file = SimpleUploadedFile("readers.csv", b"email\na@example.com\nb@example.com\n", content_type="text/csv")
    response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
        "file": file, "consent_source": "Booth sign-up sheet", "_import": "1"}, follow=True)
    assert response.status_code == 200
    (shown,) = _messages(response)
    assert shown.startswith("Import done, but the confirmation emails could not be queued")
    imported = Subscriber.objects.filter(email__in=["a@example.com", "b@example.com"])
    assert [(s.status, s.confirmation_sent_at) for s in imported] == [(Subscriber.Status.PENDING, None)] * 2


def test_an_import_while_the_queue_is_away_still_shows_which_rows_were_refused(editor_client, broker_away):
    """The page went back to the readers' list with the message alone: which rows
    were refused, and why, was gone (checking the file again named the new ones
    "exists"), and nothing said the emails of the rows added wait."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    file = SimpleUploadedFile("readers.csv", b"email\na@example.com\nnot-an-address\n", content_type="text/csv")
    response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
        "file": file, "consent_source": "Booth sign-up sheet", "_import": "1"}, follow=True)
    page = response.content.decode()
    assert "Imported: 1 added, confirmation emails not sent yet (the task queue is away); 1 invalid.</h2>" in page
    assert "<td>3</td><td>not-an-address</td><td>invalid</td>" in page
    (shown,) = _messages(response)
    assert shown.startswith("Import done, but the confirmation emails could not be queued")


def test_with_the_rate_limits_away_an_editor_refused_is_still_told_how_many_are_left(settings):
    """The editors' daily limit counts in the process while Redis is away (the
    emails wait for it anyway); the refusal's "N left today" reads that count too,
    not the Redis it cannot reach (it said all of them were left)."""
    import uuid

    from subscribers.curation import editor_confirmations_refusal

    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS_NOWHERE}}
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 3
    editor = f"editor-{uuid.uuid4().hex}"  # the process's own count outlives a test
    assert editor_confirmations_refusal(editor=editor, count=2) is None
    refusal = editor_confirmations_refusal(editor=editor, count=2)
    assert "at most 3 new addresses a day" in refusal and "1 left today" in refusal


def test_a_resend_the_queue_drops_midway_gives_back_only_the_emails_not_queued(editor_client, broker_own):
    """The broker stops after taking two of four confirmation emails (a real Redis
    server killed): the editor is told; the two readers whose emails were queued
    keep their window, so the editor's next try sends only the other two, and
    nobody gets the email twice."""
    from celery.signals import after_task_publish
    from django.urls import reverse

    from subscribers.admin import QUEUE_AWAY_ADMIN_MESSAGE

    server, back = broker_own
    pending = [SubscriberFactory(status=Subscriber.Status.PENDING) for _ in range(4)]
    queued_ids = []

    def stop_after_two(sender=None, headers=None, **kwargs):
        queued_ids.append(headers["argsrepr"])
        if len(queued_ids) == 2:
            server.stop()

    after_task_publish.connect(stop_after_two, weak=False)
    try:
        changelist = reverse("admin:subscribers_subscriber_changelist")
        resend = {"action": "confirmation_resend", "_selected_action": [p.pk for p in pending]}
        response = editor_client.post(changelist, resend, follow=True)
    finally:
        after_task_publish.disconnect(stop_after_two)
    assert _messages(response) == [QUEUE_AWAY_ADMIN_MESSAGE]
    assert len(queued_ids) == 2
    windows = dict(Subscriber.objects.values_list("pk", "confirmation_sent_at"))
    taken = {pk for pk, sent_at in windows.items() if sent_at is not None}
    assert len(taken) == 2  # the two queued keep their window, the other two are free
    assert all(str(pk) in "".join(queued_ids) for pk in taken)

    back()
    editor_client.post(changelist, resend, follow=True)
    resent = sorted(m.to[0] for m in mail.outbox)
    assert resent == sorted(p.email for p in pending if p.pk not in taken)


def _asked_before(reader: Subscriber) -> str:
    """A request to move `reader` to ada@newjob.example, mailed before Redis went away:
    the path of its link."""
    Subscriber.objects.filter(pk=reader.pk).update(
        email_change={"to": "ada@newjob.example", "id": "asked-before", "at": timezone.now().isoformat()})
    reader.refresh_from_db()
    return tokens.email_change_url(subscriber=reader).removeprefix("http://testserver")


def test_changing_address_while_the_queue_is_away_says_so_and_keeps_the_link_mailed_before(
        client, broker_away):
    reader = SubscriberFactory(email="ada@oldjob.example")
    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    link = _asked_before(reader)

    response = client.post(manage + "address/", {"email": "ada@other.example"})
    page = response.content.decode()
    assert response.status_code == 503 and response["Retry-After"] == "120"
    assert "We could not send the email just now" in page
    assert re.search(r'name="email"[^>]*value="ada@other.example"', page)  # kept
    assert Subscriber.objects.get(pk=reader.pk).email_change["id"] == "asked-before"
    assert not mail.outbox

    broker_away()  # back
    client.post(link)  # the link mailed before still asks the current address
    (approval,) = mail.outbox
    assert approval.to == ["ada@oldjob.example"]
    client.post(re.search(r"http://testserver(/address-approval/\S+/)", approval.body).group(1))
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example"


@pytest.mark.parametrize(("confirmed_before", "page_says", "moved", "owed_kind"), [
    (False, "One more step", False, "email_change_approval"),  # the new address's click
    (True, "Your address is changed", True, "email_changed"),  # the current address's
])
def test_an_address_change_clicked_while_the_queue_is_away_owes_its_next_email(
        client, broker_away, confirmed_before, page_says, moved, owed_kind):
    """Each inbox's click stands while the queue is away: the new address's owes the
    approval email to the current address, the current address's owes the notice to
    the old one; beat sends it once the queue is back."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    link = _asked_before(reader)
    if confirmed_before:
        reader.email_change["confirmed"] = timezone.now().isoformat()
        Subscriber.objects.filter(pk=reader.pk).update(email_change=reader.email_change)
        link = tokens.email_change_approval_url(subscriber=reader).removeprefix("http://testserver")
    response = client.post(link)
    assert page_says in response.content.decode()
    assert (Subscriber.objects.get(pk=reader.pk).email == "ada@newjob.example") is moved
    assert OwedEmail.objects.filter(subscriber=reader, kind=owed_kind).exists()

    broker_away()  # back
    assert services.owed_emails_queue() == 1
    (owed,) = mail.outbox
    assert owed.to == ["ada@oldjob.example"] and owed.tags == [owed_kind]


@pytest.mark.parametrize("status", [Subscriber.Status.ACTIVE, Subscriber.Status.UNSUBSCRIBED])
def test_the_used_confirm_links_button_while_the_queue_is_away_says_so_and_the_next_press_sends(
        client, broker_away, status):
    """The used confirm link's "Email me a link to my preferences" while the queue is
    away: the reader is told the email did not go, on the same page, with the button
    to press again; once Redis is back, the next press sends it."""
    from subscribers.tokens import confirm_token

    reader = SubscriberFactory(email="ada@example.com", status=status)
    token = confirm_token(subscriber=reader)
    response = client.post(f"/confirm/{token}/links/", REMOTE_ADDR="203.0.113.9")
    html = " ".join(response.content.decode().split())
    assert response.status_code == 503 and response["Retry-After"] == "120"
    assert "This link was already used" in html
    assert "We could not send the email just now. Please try again in a few minutes." in html
    assert f'action="/confirm/{token}/links/"' in html and "Email me a link to my preferences" in html
    assert not mail.outbox

    broker_away()  # back
    response = client.post(f"/confirm/{token}/links/", REMOTE_ADDR="203.0.113.9")
    assert (response.status_code, response["Location"]) == (303, "/subscription/sent/?by=link")
    (email,) = mail.outbox
    assert email.to == ["ada@example.com"]


def test_address_changes_the_queue_could_not_take_do_not_use_up_the_readers_requests(
        client, broker_away, settings):
    """The reader's window of SUBSCRIBE_EMAILS_PER_MAILBOX requests counts requests
    whose email was queued: tries the page answered "We could not send the email just
    now" are given back, so the try it asked for, once the queue is back, sends."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    for n in range(settings.SUBSCRIBE_EMAILS_PER_MAILBOX):
        assert client.post(manage + "address/", {"email": f"ada{n}@other.example"}).status_code == 503

    broker_away()  # back
    assert client.post(manage + "address/", {"email": "ada@newjob.example"}).status_code == 303
    (link,) = mail.outbox
    assert link.to == ["ada@newjob.example"]



def test_a_complained_readers_data_link_the_queue_could_not_take_is_left_for_the_next_request(monkeypatch):
    """A reader suppressed after a complaint gets one data link a day. In the worker,
    a request whose email the queue could not take mailed nothing: it leaves the
    day's link for the next request, which mails it."""
    from kombu.exceptions import OperationalError

    from subscribers.models import Suppression
    from subscribers.suppression import address_suppress

    SubscriberFactory(email="ada@example.com")
    address_suppress(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)

    def away(*args):
        raise OperationalError("the broker is away")

    with monkeypatch.context() as queue_away:
        queue_away.setattr(services.subscriber_email_send, "delay", away)
        with pytest.raises(services.JourneyEmailNotQueued):
            services.subscriber_links_send(email="ada@example.com")
    assert not mail.outbox

    services.subscriber_links_send(email="ada@example.com")  # back
    (linked,) = mail.outbox
    assert linked.subject == "Your link to your Daily Papers Digest data"


def test_retrying_an_address_change_the_queue_could_not_take_mails_its_link_once_it_is_back(
        client, broker_away, settings):
    """The page says "Please try again in a few minutes", and the reader does, with
    the same new address. Each try the queue could not take still counted one email
    against that mailbox's cap: after SUBSCRIBE_EMAILS_PER_MAILBOX of them, the try
    once the queue was back said "Check your new inbox" and mailed nothing."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    manage = tokens.subscriber_manage_url(subscriber=reader).removeprefix("http://testserver")
    for _ in range(settings.SUBSCRIBE_EMAILS_PER_MAILBOX):
        assert client.post(manage + "address/", {"email": "ada@newjob.example"}).status_code == 503

    broker_away()  # back
    assert client.post(manage + "address/", {"email": "ada@newjob.example"}).status_code == 303
    (link,) = mail.outbox
    assert link.to == ["ada@newjob.example"]
