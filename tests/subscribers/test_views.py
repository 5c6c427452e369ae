"""The subscriber journey over HTTP: what a visitor and a mail client see."""

import datetime as dt
import re

import pytest
from django.core import mail, signing
from django.test import override_settings
from django.utils import timezone

from newsletter.feedback import feedback_url
from subscribers import tokens
from subscribers.consent import CONSENT_TEXT_VERSION
from subscribers.models import BlockedDomain, ConsentRecord, Subscriber, Suppression
from subscribers.suppression import address_suppress, email_hash, email_is_suppressed
from tests.factories import PaperFactory, SubscriberFactory, export_data

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/[^\s\"<>]+)")


def _links(message) -> list[str]:
    return LINK.findall(message.body)


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


# --- Subscribe and double opt-in -------------------------------------------------


def test_subscribe_page_shows_the_form_with_topics_and_consent_text(client, topics):
    response = client.get("/subscribe/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Language models" in html and "Papers about language models." in html
    assert "email me the Daily Papers Digest" in html
    assert 'name="website"' in html  # the honeypot


def _time_zone_options(html: str) -> list[tuple[str, str]]:
    """(value, label) of each option of the page's time-zone list."""
    select = re.search(r'<select name="time_zone".*?</select>', html, re.DOTALL).group(0)
    return re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)</option>', select)


def test_a_newcomers_form_offers_every_hour_and_starts_at_a_daily_digest_at_seven(client, topics):
    html = client.get("/subscribe/").content.decode()
    assert re.search(r'<input type="radio" name="frequency" value="daily"[^>]*checked', html)
    assert not re.search(r'<input type="radio" name="frequency" value="weekly"[^>]*checked', html)
    assert '<option value="0" selected>Monday</option>' in html
    assert '<option value="7" selected>07:00</option>' in html
    assert '<option value="0">00:00</option>' in html and '<option value="23">23:00</option>' in html
    assert '<option value="5">Saturday</option>' in html and '<option value="6">Sunday</option>' in html
    assert '<label for="id_delivery_hour">Delivery time</label>' in html


def test_the_time_zone_list_names_each_place_once_by_its_current_name_as_people_write_it(client, topics):
    """UTC first, then each place once: not the database's abbreviations and
    aliases (EST5EDT, Zulu, US/Eastern), nor the old name of a renamed place (Kiev
    for Kyiv), but each place a country lists, though the database makes it a link
    to another (Bratislava to Prague); underscores read as spaces."""
    options = _time_zone_options(client.get("/subscribe/").content.decode())
    values = [value for value, _ in options]
    assert options[0] == ("UTC", "UTC") and values.count("UTC") == 1
    assert ("America/New_York", "America/New York") in options
    assert "Europe/Kyiv" in values and "Europe/Kiev" not in values
    assert {"Europe/Bratislava", "Europe/Prague", "Europe/Vatican", "Arctic/Longyearbyen"} <= set(values)
    assert not {"EST5EDT", "Factory", "localtime", "GMT", "CET", "Zulu"} & set(values)
    assert not [value for value in values if value.startswith(("Etc/", "US/"))]


def test_each_place_carries_all_its_old_names_for_a_browser_that_reports_one_of_them(client, topics):
    """A browser may report a renamed place by any of its old names (Europe/Kiev,
    America/Montreal): subscribe.js finds the option by them (data-was), so the form
    starts at the reader's own zone, not UTC. Every old name is there, not one."""
    from subscribers.forms import time_zone_renamed

    html = client.get("/subscribe/").content.decode()
    was = {value: set(names.split()) for value, names in re.findall(r'<option value="([^"]+)" data-was="([^"]+)"', html)}
    old_names = {}
    for old, current in time_zone_renamed().items():
        old_names.setdefault(current, set()).add(old)
    assert max(len(names) for names in old_names.values()) > 1  # places of several old names (Kyiv: Kiev, Uzhgorod…)
    assert was == old_names
    assert "Europe/Kiev" in was["Europe/Kyiv"] and "America/Montreal" in was["America/Toronto"]
    assert "data-was" not in re.search(r'<option value="Europe/Paris"[^>]*>', html).group(0)


def test_a_reader_stored_with_an_old_zone_name_is_shown_and_keeps_its_current_name(client, topics):
    """A reader stored as Asia/Calcutta (before the list named places by their
    current names) found the preference centre set to UTC, the list's first, and
    saving moved their digest to UTC's hour. A page opened before then posts an old
    name: it is taken as the current one."""
    reader = SubscriberFactory(time_zone="Asia/Calcutta")
    reader.topics.set([topics[0]])
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    assert re.search(r'<option value="Asia/Kolkata" selected', client.get(manage).content.decode())

    response = client.post(manage, {
        "topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
        "time_zone": "Europe/Kiev", "papers_per_digest": "10",
    })
    assert response.status_code == 303
    reader.refresh_from_db()
    assert reader.time_zone == "Europe/Kyiv"


def test_subscribing_creates_a_pending_subscriber_and_sends_one_confirmation(submit, outbox, topics):
    response = submit("Reader@Example.COM", keywords="rlhf,  rlhf, diffusion ")
    assert response.status_code == 303
    assert response["Location"] == "/subscribe/check-your-inbox/"
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "Reader@example.com"  # domain lower-cased, local part kept
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.time_zone == "Europe/Berlin"
    assert subscriber.keywords == "rlhf, diffusion"
    assert list(subscriber.topics.all()) == [topics[0]]
    assert len(outbox) == 1
    message = outbox[0]
    assert message.to == ["Reader@example.com"]
    assert "Confirm your subscription" in message.subject
    assert "Language models" in message.body
    html = message.alternatives[0][0]
    assert "Confirm my subscription" in html and "1 Example Street" in html
    # Not subscribed yet: no one-click header on the confirmation.
    assert "List-Unsubscribe" not in message.extra_headers


def test_confirming_needs_a_post_so_link_scanners_change_nothing(submit, outbox, client):
    submit()
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    page = client.get(confirm_path)
    assert page.status_code == 200 and "Confirm my subscription" in page.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING

    done = client.post(confirm_path, HTTP_USER_AGENT="Firefox", REMOTE_ADDR="198.51.100.2")
    assert done.status_code == 200
    assert "You're subscribed" in done.content.decode()
    assert re.search(r"Your first digest arrives (within 15 minutes|(today|tomorrow|on \w+ \d+ \w+)"
                     r" around 07:00 CES?T \(Europe/Berlin\))\. After that, a digest every weekday around 07:00 CES?T",
                     done.content.decode())
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.ACTIVE and subscriber.confirmed_at
    assert "/manage/" in done.content.decode()  # shown once, to whoever confirmed
    # Confirming twice is harmless: one record.
    client.post(confirm_path)
    assert subscriber.consents.filter(action=ConsentRecord.Action.CONFIRM).count() == 1


def test_a_used_confirm_link_shows_a_neutral_page_without_the_manage_link(submit, outbox, client):
    """Whoever replays the link (a forwarded email, a shared computer's history) does
    not get the never-expiring manage link: it arrives by email."""
    submit()
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    assert "/manage/" in client.post(confirm_path).content.decode()
    for replay in (client.post(confirm_path), client.get(confirm_path)):
        body = replay.content.decode()
        assert replay.status_code == 200 and "This link was already used" in body
        assert "/manage/" not in body and "/unsubscribe/" not in body
        assert "example.com" not in body  # nor the address
        # Where the manage link is: the confirmation email has none, every digest has.
        assert "Every digest ends with a link to change your topics" in body


@pytest.mark.parametrize(("event", "said"), [
    ({"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce",
      "Inactive": True}, "bounced"),
    ({"RecordType": "SpamComplaint", "Type": "SpamComplaint", "TypeCode": 512, "Name": "Spam complaint",
      "Inactive": True}, "was marked as spam"),
])
def test_a_confirm_link_whose_address_is_suppressed_says_no_digest_will_come(
    submit, outbox, client, webhook_secret, event, said,
):
    """The confirmation bounced or was reported as spam (the ESP's webhook): the
    link's owner was told "This link was already used… needs nothing more", and no
    digest ever came. The page says why, and what they can do instead."""
    from tests import webhooks

    submit("Ada.Reader@example.com")
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    payload = {**event, "ID": 7, "MessageStream": "outbound", "Tag": "confirm",
               "MessageID": "5f2e1c3a-0000-4000-8000-000000000001", "Email": "ada.reader@example.com",
               "BouncedAt": "2025-11-24T07:03:54Z", "Details": "", "Description": ""}
    assert client.post(webhooks.URL, data=payload, content_type="application/json",
                       **webhooks.auth()).status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.SUPPRESSED

    for page in (client.get(confirm_path), client.post(confirm_path)):
        body = page.content.decode()
        assert page.status_code == 200
        assert "already used" not in body and "needs nothing more" not in body
        assert "We can't send to this address" in body and said in body
        assert "no digest will come" in body
        assert "A…@example.com" in body and "/manage/" not in body  # masked, as every page behind a link
        assert 'href="/subscribe/"' in body  # the way on: another address
    assert Subscriber.objects.get().status == Subscriber.Status.SUPPRESSED
    assert len(outbox) == 1


def test_the_confirm_post_works_without_cookies_or_csrf_token(submit, outbox, csrf_client):
    submit()
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    assert csrf_client.post(confirm_path).status_code == 200
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE


def test_an_expired_confirm_link_shows_a_clear_page_and_changes_nothing(client, monkeypatch):
    subscriber = SubscriberFactory(status=Subscriber.Status.PENDING)
    signer = signing.TimestampSigner(salt="subscribers.confirm")
    long_ago = int((dt.datetime.now() - dt.timedelta(days=8)).timestamp())
    monkeypatch.setattr(signer, "timestamp", lambda: signing.b62_encode(long_ago))
    token = signer.sign(subscriber.token)
    for response in (client.get(f"/confirm/{token}/"), client.post(f"/confirm/{token}/")):
        assert response.status_code == 410
        assert "This link has expired" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING


def test_a_subscribed_reader_who_opens_their_confirmation_weeks_later_is_not_told_to_subscribe_again(
        client, monkeypatch):
    """A reader subscribed for weeks finds the confirmation email and presses its
    button: the page said "This link has expired … Subscribe again and we'll send you
    a fresh one", as if they were not subscribed. It now says the link was used and
    the subscription needs nothing more; one who left since is told how to come back."""
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    link = _confirm_link_signed(reader, ago=dt.timedelta(days=30), monkeypatch=monkeypatch)
    for response in (client.get(link), client.post(link)):
        page = " ".join(response.content.decode().split())
        assert "This link has expired" not in page and "Subscribe again" not in page
        assert "This link was already used" in page and "needs nothing more" in page

    reader.status = Subscriber.Status.UNSUBSCRIBED
    reader.save()
    page = " ".join(client.post(link).content.decode().split())
    assert "This link has expired" not in page and "was unsubscribed since" in page
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def _confirm_link_signed(subscriber, *, ago: dt.timedelta, monkeypatch) -> str:
    signer = signing.TimestampSigner(salt="subscribers.confirm")
    then = int((dt.datetime.now() - ago).timestamp())
    monkeypatch.setattr(signer, "timestamp", lambda: signing.b62_encode(then))
    return f"/confirm/{signer.sign(subscriber.token)}/"


def test_a_confirm_link_works_for_the_days_the_email_and_the_pages_promise(client, submit, outbox, monkeypatch):
    """The confirmation email, the check-your-inbox page and the expired-link page
    each name how long the link works; the link works that long and no longer."""
    submit()
    promised = {
        int(re.search(r"The link works for (\d+) days", outbox[0].body)[1]),
        int(re.search(r"The link is valid for (\d+) days", client.get("/subscribe/check-your-inbox/").content.decode())[1]),
    }
    assert len(promised) == 1, f"the email and the page promise different lifetimes: {promised}"
    days = dt.timedelta(days=promised.pop())
    subscriber = Subscriber.objects.get()

    expired = client.get(_confirm_link_signed(subscriber, ago=days + dt.timedelta(hours=1), monkeypatch=monkeypatch))
    assert expired.status_code == 410
    assert f"Confirmation links work for {days.days} days." in expired.content.decode()

    still = _confirm_link_signed(subscriber, ago=days - dt.timedelta(hours=1), monkeypatch=monkeypatch)
    assert client.get(still).status_code == 200
    client.post(still)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize("prefix", ["/confirm/", "/manage/", "/unsubscribe/"])
def test_tampered_links_show_a_clear_page_and_change_nothing(client, prefix):
    subscriber = SubscriberFactory(status=Subscriber.Status.PENDING)
    good = tokens.confirm_token(subscriber=subscriber) if prefix == "/confirm/" else (
        tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    )
    bad = good[:-3] + ("abc" if not good.endswith("abc") else "xyz")
    for response in (client.get(f"{prefix}{bad}/"), client.post(f"{prefix}{bad}/")):
        assert response.status_code == 404
        assert "This link is not valid" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PENDING
    assert not subscriber.consents.exists()


def test_form_errors_are_shown_next_to_the_fields(submit):
    response = submit("not-an-address", consent="", topics=[])
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid email address." in html
    assert "Pick at least one topic." in html
    assert "Please tick the box to agree" in html
    # The summary above the form lists them in the order of the fields on the page.
    assert html.index("Email address: Enter a valid") < html.index("Pick at least one topic.") < html.index(
        "Please tick the box")
    assert not Subscriber.objects.exists()


def test_an_address_whose_domain_has_no_ascii_form_is_refused_next_to_its_field(submit, outbox):
    """A domain label of sixty Cyrillic letters passes the form's check, but its ASCII
    (IDNA) form is longer than a label may be, so no mail server could take it: the
    refusal is said under the address field, as the form's own refusals are."""
    response = submit("ada@" + "бфцж" * 15 + ".de")
    html = response.content.decode()
    assert response.status_code == 400
    assert '<p class="sf-error" id="id_email-error">Enter a valid email address.</p>' in html
    assert "Email address: Enter a valid email address." in html  # the summary links to the field
    assert not Subscriber.objects.exists() and outbox == []



# 217 characters as typed, each label a valid domain label once encoded, but 265 in
# the ASCII (IDNA) form every address is stored and mailed in: over the 254 an
# address may have (RFC 5321's path) and the column's max_length.
LONG_ONCE_ENCODED = "a" * 64 + "@" + ".".join(["äöü" * 8] * 6) + ".de"


def test_an_address_too_long_once_its_domain_is_encoded_is_refused_next_to_its_field(
        submit, outbox, django_capture_on_commit_callbacks):
    """It passed the form (254 characters as typed), and the worker's insert of the
    new reader failed on the column (a DataError in the task, the visitor told to
    check an inbox that nothing would reach)."""
    assert len(LONG_ONCE_ENCODED) <= 254
    response = submit(LONG_ONCE_ENCODED)
    assert response.status_code == 400 and 'id="id_email-error"' in response.content.decode()
    assert not Subscriber.objects.exists() and outbox == []


# --- No enumeration ---------------------------------------------------------------


def test_the_response_is_byte_identical_whatever_state_the_address_is_in(submit, client):
    SubscriberFactory(email="pending@example.com", status=Subscriber.Status.PENDING)
    SubscriberFactory(email="active@example.com", status=Subscriber.Status.ACTIVE)
    SubscriberFactory(email="paused@example.com", status=Subscriber.Status.PAUSED,
                      paused_until=dt.date(2030, 1, 1))
    SubscriberFactory(email="gone@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    Suppression.objects.create(email_hash=email_hash("bounced@example.com"), reason="bounced")
    responses = [
        submit(email, ip=f"203.0.113.{i}")
        for i, email in enumerate(["new@example.com", "pending@example.com", "active@example.com",
                                   "paused@example.com", "gone@example.com", "bounced@example.com"])
    ]
    first = responses[0]
    for response in responses:
        assert response.status_code == first.status_code == 303
        assert response.content == first.content
        assert sorted(response.items()) == sorted(first.items())
        assert response.cookies.keys() == first.cookies.keys()
    page = client.get(first["Location"])
    assert "csrfmiddlewaretoken" not in page.content.decode()


def test_a_mailbox_that_reported_spam_gets_nothing_at_another_spelling_and_the_page_says_the_same(
        submit, outbox):
    """Anyone can type a.da+news@gmail.com: Gmail delivers it to ada@gmail.com, which
    reported the digest as spam, and each email there risks another report (a
    hostile review). The page answers as for an unknown address."""
    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.COMPLAINT)
    unknown = submit("new@example.com", ip="203.0.113.1")
    other_spelling = submit("a.da+news@gmail.com", ip="203.0.113.2")

    assert [m.to for m in outbox] == [["new@example.com"]]
    assert not Subscriber.objects.filter(email__icontains="gmail").exists()
    assert other_spelling.status_code == unknown.status_code == 303
    assert other_spelling.content == unknown.content
    assert sorted(other_spelling.items()) == sorted(unknown.items())
    assert other_spelling.cookies.keys() == unknown.cookies.keys()


def test_an_active_address_gets_already_subscribed_with_a_manage_link(submit, outbox, topics):
    subscriber = SubscriberFactory(email="active@example.com", time_zone="Asia/Tokyo")
    subscriber.topics.set([topics[1]])
    submit("active@example.com", time_zone="UTC")
    assert len(outbox) == 1
    message = outbox[0]
    assert "already subscribed" in message.subject
    assert any(p.startswith("/manage/") for p in _links(message))
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A stranger cannot change an active subscriber's preferences through the form.
    subscriber.refresh_from_db()
    assert subscriber.time_zone == "Asia/Tokyo"
    assert list(subscriber.topics.all()) == [topics[1]]


def test_a_pause_with_no_end_says_so_and_not_a_day(client):
    """A pause an editor set without a date (the admin allows it) never ends by itself:
    the page says so instead of a sentence with no day in it."""
    subscriber = SubscriberFactory(status=Subscriber.Status.PAUSED, paused_until=None)
    page = client.get(_path(tokens.subscriber_manage_url(subscriber=subscriber))).content.decode()
    assert "No digest goes out until you resume." in page and "arrives ." not in page


def test_an_address_already_subscribed_is_told_when_its_next_digest_comes(submit, outbox, topics):
    """Someone subscribing again wants to know it is on: the email says when the next
    digest comes; for a paused address, the day its pause ends (the pause's date is
    the first day digests come again; "paused until" read as its last)."""
    SubscriberFactory(email="on@example.com", time_zone="Europe/Paris", delivery_hour=9)
    back = dt.date.today() + dt.timedelta(days=10)
    SubscriberFactory(email="resting@example.com", status=Subscriber.Status.PAUSED, paused_until=back)
    while back.weekday() >= 5:
        back += dt.timedelta(days=1)

    submit("on@example.com")
    submit("resting@example.com", ip="203.0.113.8")

    for message, said in zip(outbox, [
        re.compile(r"Your next digest arrives (within 15 minutes|(today|tomorrow|on \w+ \d+ \w+) around 09:00 CES?T \(Europe/Paris\))\."),
        re.compile(re.escape(f"Your next digest arrives on {back:%A} {back.day} {back:%B} around 07:00 UTC, when your pause ends.")),
    ], strict=True):
        html = next(body for body, mime in message.alternatives if mime == "text/html")
        for text in (message.body, html):
            assert said.search(" ".join(text.split())), (message.to, text)


def test_a_pause_that_has_ended_is_not_shown_as_still_on(client, submit, outbox):
    """Pause 2 weeks; the pause's day comes and digests go out again (newsletter/due.py
    sends to a paused reader from that day on, and nothing changes their status).
    Opening the preferences a week later said "Paused. Digests start again by
    themselves …" with a "Resume now" button, and asking for the link by subscribing
    again said the next digest came "when your pause ends". The pause is over: the
    page says the reader is subscribed, and the email names no pause."""
    reader = SubscriberFactory(email="back-from-holiday@example.com", status=Subscriber.Status.PAUSED,
                               paused_until=dt.date.today() - dt.timedelta(days=7))
    page = client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).content.decode()
    status = " ".join(re.search(r'<div class="sf-status[^"]*">(.*?)</div>', page, re.DOTALL).group(1).split())
    assert "You're subscribed" in status and "Paused" not in status and "Resume now" not in status
    assert "The next one arrives" in status

    submit("back-from-holiday@example.com")
    [message] = outbox
    body = " ".join(message.body.split())
    assert "Your next digest arrives" in body and "when your pause ends" not in body


# --- Abuse protection ----------------------------------------------------------------


def test_a_hundred_submissions_for_one_address_send_at_most_one_email(submit, outbox):
    statuses = {submit("target@example.com", ip=f"10.0.{i // 250}.{i % 250}").status_code
                for i in range(100)}
    assert len(outbox) == 1
    assert statuses <= {303, 429}


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=1000, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=1000)
def test_the_email_window_alone_keeps_it_to_one_email(submit, outbox):
    for _ in range(100):
        assert submit("target@example.com").status_code == 303
    assert len(outbox) == 1


@override_settings(SUBSCRIBE_EMAIL_WINDOW_SECONDS=600)
def test_after_the_window_another_confirmation_may_go_out(submit, outbox):
    submit("target@example.com")
    Subscriber.objects.update(confirmation_sent_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    submit("target@example.com")
    assert len(outbox) == 2


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100,
                   SUBSCRIBE_RATE_WINDOW_SECONDS=900)
def test_too_many_submissions_from_one_ip_get_a_friendly_429(submit):
    for i in range(3):
        assert submit(f"person{i}@example.com").status_code == 303
    response = submit("person9@example.com")
    assert response.status_code == 429
    assert "That was a lot of tries" in response.content.decode()
    # How long, in words as in the header: "a little while" left a person guessing.
    assert response["Retry-After"] == "900" and "try again in 15 minutes at most" in response.content.decode()
    assert not Subscriber.objects.filter(email="person9@example.com").exists()
    # Another IP is not affected.
    assert submit("person9@example.com", ip="198.51.100.99").status_code == 303


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=3, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_asking_for_ones_link_too_often_is_told_about_links_not_a_confirmation_email(client):
    """"Email me a link to my preferences", pressed once too often: the 429 page said
    "We've had many subscribe requests … If you already submitted the form, check
    your inbox: the confirmation email may be there", to a reader who had asked for
    their link and expected no confirmation. The subscribe form's page is unchanged."""
    for _ in range(3):
        client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")
    response = client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")

    page = " ".join(response.content.decode().split())
    assert response.status_code == 429 and "That was a lot of tries" in page
    assert "subscribe requests" not in page and "confirmation email" not in page
    assert "If you already asked for your link, check your inbox" in page


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=100, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=2)
def test_one_client_asking_for_one_address_too_often_gets_a_429_and_others_do_not(submit, outbox):
    """Counted per address alone, a stranger's requests for a victim's address
    refused the victim's own ("That was a lot of tries"), window after window (left
    from the notes of 5 December). Now one client repeating one address is stopped,
    and the address's owner, elsewhere, gets the page everyone gets."""
    assert submit("x@example.com", ip="10.0.0.1").status_code == 303
    assert submit("X@EXAMPLE.com", ip="10.0.0.1").status_code == 303
    assert submit("x@example.com", ip="10.0.0.1").status_code == 429
    assert submit("x@example.com", ip="10.0.0.2").status_code == 303
    assert len(outbox) == 1  # one email per address per window, whoever asks


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=100, SUBSCRIBE_EMAILS_PER_MAILBOX=2)
def test_spellings_of_one_mailbox_share_its_cap_of_emails(submit, outbox):
    """"+tags" and Gmail's dots reach one mailbox: each spelling had a window of its
    own, so a stranger could send one person an email per spelling (a hostile
    tester's pass). The mailbox's emails are capped, whoever asks and from wherever;
    other people's addresses keep their own."""
    for n, spelling in enumerate(["ann.lee+news@gmail.com", "annlee@googlemail.com", "a.n.n.l.e.e+x@gmail.com",
                                  "ann.lee@gmail.com"]):
        assert submit(spelling, ip=f"10.0.0.{n + 1}").status_code == 303
    assert len(outbox) == 2
    for n, spelling in enumerate(["ann+a@example.com", "ann+b@example.com", "ann@example.com"]):
        assert submit(spelling, ip=f"10.0.1.{n + 1}").status_code == 303
    assert submit("a.nn@example.com", ip="10.0.2.1").status_code == 303  # dots count elsewhere
    assert [m.to for m in outbox[2:]] == [["ann+a@example.com"], ["ann+b@example.com"], ["a.nn@example.com"]]
    # A spelling whose email the cap held back gets it once the window has passed.
    held = Subscriber.objects.get(email="ann@example.com")
    assert held.confirmation_sent_at is None


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=100, SUBSCRIBE_EMAILS_PER_MAILBOX=2,
                   SUBSCRIBE_EMAILS_PER_MAILBOX_DAY=5)
def test_a_mailbox_gets_at_most_a_days_cap_of_emails_however_many_windows_pass(submit, outbox, settings):
    """Within the limits of each window, one client trying spellings of a victim's
    mailbox every ten minutes sent it a window's cap of emails for ever: 432 a day
    (a security review, 7 December 2026). Now the mailbox has a cap a day too, and
    the form answers alike, so the asker learns nothing. Each window is ended as
    time would end it: its count gone, each address's last email a window old."""
    from django.core.cache import cache

    from subscribers.addresses import mailbox_key

    spellings = ["vic+1@example.com", "vic+2@example.com"]
    window_count = f"ratelimit:journey:mailbox:{email_hash(mailbox_key(spellings[0]))}"
    for window in range(5):
        for n, spelling in enumerate(spellings):
            assert submit(spelling, ip=f"10.9.{window}.{n}").status_code == 303
        cache.delete(window_count)
        Subscriber.objects.update(confirmation_sent_at=timezone.now() - dt.timedelta(
            seconds=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS + 1))
    assert len(outbox) == 5
    # Another mailbox keeps its own.
    assert submit("someone.else@example.com", ip="10.9.9.9").status_code == 303
    assert len(outbox) == 6 and outbox[-1].to == ["someone.else@example.com"]


@override_settings(GOODBYE_EMAILS_PER_READER_DAY=2)
def test_leaving_and_coming_back_again_and_again_sends_a_days_cap_of_goodbyes(
        client, outbox, django_capture_on_commit_callbacks):
    """The unsubscribe link (in every digest and its List-Unsubscribe header), then
    Resubscribe, then the link again: a goodbye email each time, as fast as anyone
    holding the link pressed them (a security review, 7 December 2026). The reader
    still leaves and comes back each time; the goodbyes stop at the day's cap."""
    reader = SubscriberFactory()
    unsubscribe = _path(tokens.subscriber_unsubscribe_url(subscriber=reader))
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            page = client.post(unsubscribe, {"from_page": "1"}).content.decode()
        assert "You're unsubscribed" in page
        # Back by their newest link (leaving replaced the secret: the first link only unsubscribes).
        reader.refresh_from_db()
        client.post(_path(tokens.subscriber_resubscribe_url(subscriber=reader)))
    goodbyes = [m for m in outbox if m.subject == outbox[0].subject]
    assert "unsubscribed" in outbox[0].subject and len(goodbyes) == 2
    assert reader.consents.filter(action="unsubscribe").count() == 4


@override_settings(TRUSTED_PROXY_COUNT=1, SUBSCRIBE_RATE_LIMIT_PER_IP=1)
def test_behind_a_proxy_the_client_ip_is_taken_from_x_forwarded_for(client, topics, submit):
    assert submit("a@example.com", meta={"HTTP_X_FORWARDED_FOR": "1.1.1.1"}, ip="10.0.0.1").status_code == 303
    assert submit("b@example.com", meta={"HTTP_X_FORWARDED_FOR": "2.2.2.2"}, ip="10.0.0.1").status_code == 303
    assert submit("c@example.com", meta={"HTTP_X_FORWARDED_FOR": "1.1.1.1"}, ip="10.0.0.1").status_code == 429
    assert ConsentRecord.objects.filter(ip_address="2.2.2.2").exists()


def test_one_click_unsubscribe_is_answered_where_it_lands_without_a_redirect(client, settings):
    """RFC 8058 clients POST once and follow no redirect: even an http link behind
    the SSL redirect unsubscribes, while other pages are still redirected."""
    settings.SECURE_SSL_REDIRECT = True
    reader = SubscriberFactory()
    path = _path(tokens.subscriber_unsubscribe_url(subscriber=reader))
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).status_code == 301


def test_a_filled_honeypot_looks_like_success_and_does_nothing(submit, outbox):
    response = submit("bot@example.com", website="http://spam.example")
    assert response.status_code == 303
    assert not Subscriber.objects.exists()
    assert outbox == []


def test_blocked_domains_and_their_subdomains_are_refused(submit, outbox):
    BlockedDomain.objects.create(domain="mailinator.com")
    for email in ("a@mailinator.com", "a@eu.Mailinator.com"):
        response = submit(email)
        assert response.status_code == 400
        assert "cannot accept addresses at this domain" in response.content.decode()
    assert not Subscriber.objects.exists()
    assert outbox == []


def test_suppressed_addresses_are_never_mailed(submit, outbox, client, django_capture_on_commit_callbacks):
    Suppression.objects.create(email_hash=email_hash("Hurt@Example.com"), reason="complained")
    submit("hurt@example.com")
    assert outbox == []
    # Nor through a subscriber row that still exists (bounced after subscribing).
    subscriber = SubscriberFactory(email="bounced@example.com")
    Suppression.objects.create(email_hash=email_hash(subscriber.email), reason="bounced")
    submit("bounced@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=subscriber)), {"from_page": "1"})
    assert outbox == []


def test_unicode_domains_are_stored_idna_encoded(submit):
    submit("leser@bücher.example")
    assert Subscriber.objects.get().email == "leser@xn--bcher-kva.example"


# --- Consent records ---------------------------------------------------------------


def test_every_step_of_the_journey_leaves_a_consent_record(submit, outbox, client, topics,
                                                          django_capture_on_commit_callbacks):
    submit(ip="203.0.113.50")
    subscriber = Subscriber.objects.get()
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    client.post(confirm_path, REMOTE_ADDR="203.0.113.51", HTTP_USER_AGENT="Mail app")
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    unsubscribe = _path(tokens.subscriber_unsubscribe_url(subscriber=subscriber))
    client.post(manage, {"topics": [topics[1].pk], "frequency": "weekly", "weekday": "4",
                         "delivery_hour": "9", "time_zone": "UTC", "papers_per_digest": "8"})
    client.post(f"{manage}pause/", {"weeks": "2"})
    client.post(f"{manage}resume/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(unsubscribe, {"from_page": "1"})
    (resubscribe,) = [p for p in _links(outbox[-1]) if p.endswith("/resubscribe/")]  # the goodbye's
    client.post(resubscribe)
    records = list(subscriber.consents.order_by("created_at", "id"))
    assert [r.action for r in records] == [
        "subscribe", "confirm", "preferences", "pause", "resume", "unsubscribe", "resubscribe",
    ]
    assert records[0].ip_address == "203.0.113.50"
    assert records[0].user_agent == "pytest-browser/1.0"
    assert records[1].ip_address == "203.0.113.51" and records[1].user_agent == "Mail app"
    assert {r.consent_text_version for r in records} == {CONSENT_TEXT_VERSION}
    assert {r.source for r in records} == {"form"}
    assert records[2].detail["frequency"] == "weekly"
    assert records[2].detail["topics"] == [topics[1].slug]


def test_a_subscribe_request_the_worker_carries_out_late_is_recorded_as_of_the_request(
        submit, outbox, monkeypatch, django_capture_on_commit_callbacks):
    """The worker writes a subscribe request's rows (public_form_request_carry_out):
    with the worker away for an hour, the consent record said the hour it got to
    it, not when the person pressed Subscribe, and the consent text of a release
    deployed meanwhile. The request's time and the version its form showed travel
    with the task (as JSON, as the broker carries them), beside its IP and user
    agent, for a new address and for a reader who had left and asks again."""
    import json

    from subscribers import consent, tasks

    asked = dt.datetime(2026, 12, 7, 9, 0, 5, tzinfo=dt.UTC)
    held = []
    monkeypatch.setattr(tasks.public_form_request_carry_out, "delay", lambda *args: held.append(args))
    monkeypatch.setattr(timezone, "now", lambda: asked)
    SubscriberFactory(email="back@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    submit("new@example.com", ip="203.0.113.50")
    submit("back@example.com", ip="203.0.113.51")
    assert len(held) == 2 and outbox == []

    monkeypatch.setattr(timezone, "now", lambda: asked + dt.timedelta(hours=1))
    monkeypatch.setattr(consent, "CONSENT_TEXT_VERSION", "2027-01-01")
    with django_capture_on_commit_callbacks(execute=True):
        for args in held:
            tasks.public_form_request_carry_out(*json.loads(json.dumps(args)))

    for email, ip in (("new@example.com", "203.0.113.50"), ("back@example.com", "203.0.113.51")):
        record = ConsentRecord.objects.get(subscriber__email=email, action="subscribe")
        assert (record.created_at, record.ip_address, record.user_agent, record.consent_text_version) == (
            asked, ip, "pytest-browser/1.0", CONSENT_TEXT_VERSION), email
    new = Subscriber.objects.get(email="new@example.com")
    assert (new.status, new.created_at, new.status_changed_at) == (Subscriber.Status.PENDING, asked, asked)
    # The email goes out now: its window (and the link's age) counts from the sending.
    assert new.confirmation_sent_at == asked + dt.timedelta(hours=1)
    assert sorted(m.to[0] for m in outbox) == ["back@example.com", "new@example.com"]


NEW_CONSENT_VERSION = "2027-01-01"


def _consent_wording_released(monkeypatch, version: str = NEW_CONSENT_VERSION) -> None:
    """What a release with new consent wording changes: the current version, wherever
    a module holds it, and the versions consent.py knows."""
    from subscribers import consent, services

    monkeypatch.setitem(consent.CONSENT_TEXT_HISTORY, version, "New wording.")
    monkeypatch.setattr(consent, "CONSENT_TEXT_VERSION", version)
    monkeypatch.setattr(services, "CONSENT_TEXT_VERSION", version, raising=False)


def _consent_version_shown(client, path: str = "/subscribe/") -> str:
    html = client.get(path).content.decode()
    return re.search(r'<input type="hidden" name="consent_version" value="([^"]+)"', html).group(1)


def test_a_form_shown_before_a_release_that_changed_the_consent_wording_records_the_wording_it_showed(
        client, submit, monkeypatch):
    """The consent record kept the version of the web process that got the POST: a form
    opened before a release that changed the wording, and sent after it, recorded a
    text the person never saw. The form carries the version it showed."""
    shown_before = _consent_version_shown(client)
    _consent_wording_released(monkeypatch)
    shown_after = _consent_version_shown(client)

    assert submit("before@example.com", ip="203.0.113.60", consent_version=shown_before).status_code == 303
    assert submit("after@example.com", ip="203.0.113.61", consent_version=shown_after).status_code == 303

    versions = dict(ConsentRecord.objects.filter(action="subscribe")
                    .values_list("subscriber__email", "consent_text_version"))
    assert versions == {"before@example.com": CONSENT_TEXT_VERSION, "after@example.com": NEW_CONSENT_VERSION}


def test_a_form_shown_again_with_an_error_carries_the_wording_it_shows_now(client, topics, monkeypatch):
    """A form sent back with an error shows the current wording (its box still
    ticked), so it carries the current version, not the one it was posted with."""
    shown_before = _consent_version_shown(client)
    _consent_wording_released(monkeypatch)
    response = client.post("/subscribe/", {"email": "not an address", "consent": "on",
                                           "consent_version": shown_before})
    assert response.status_code == 400
    shown = re.search(r'name="consent_version" value="([^"]+)"', response.content.decode()).group(1)
    assert shown != shown_before and shown.startswith(f"{NEW_CONSENT_VERSION}:")


@pytest.mark.parametrize("posted", [
    "tampered", "unknown version", "other purpose", "missing", "", "2025-11-28", "\x00<script>", "x" * 5000,
])
def test_a_consent_version_not_signed_by_us_or_unknown_records_the_current_one_and_still_subscribes(
        client, submit, outbox, monkeypatch, posted):
    """Missing, tampered, signed for another purpose, or a version consent.py does not
    know: the current version, never an error for the person nor a lost subscription."""
    from subscribers import consent

    version, signature = _consent_version_shown(client).rsplit(":", 1)
    with monkeypatch.context() as patch:  # a release whose version consent.py no longer knows
        patch.setattr(consent, "CONSENT_TEXT_VERSION", "1999-01-01")
        unknown = _consent_version_shown(client)
    _consent_wording_released(monkeypatch)
    value = {
        "tampered": f"{version}:{signature[:-2]}AA",
        "unknown version": unknown,
        "other purpose": tokens.signer("subscribers.manage").sign(CONSENT_TEXT_VERSION),
    }.get(posted, posted)
    overrides = {} if posted == "missing" else {"consent_version": value}
    assert submit(**overrides).status_code == 303
    record = ConsentRecord.objects.get(action="subscribe")
    assert record.consent_text_version == NEW_CONSENT_VERSION
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING and len(outbox) == 1


def test_a_reader_whose_browser_sends_a_very_long_user_agent_still_confirms(submit, outbox, client):
    """The column holds 400 characters: a longer user agent (some in-app browsers
    append a list of their own) is cut to its first 400, not refused with an error."""
    submit()
    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    user_agent = "Mozilla/5.0 " + "InAppBrowser/1.0 " * 60
    response = client.post(confirm_path, REMOTE_ADDR="203.0.113.51", HTTP_USER_AGENT=user_agent)
    assert response.status_code == 200 and "You're subscribed" in response.content.decode()
    assert Subscriber.objects.get().status == Subscriber.Status.ACTIVE
    confirmed = ConsentRecord.objects.get(action="confirm")
    assert confirmed.user_agent == user_agent[:400]


# --- Preference centre ----------------------------------------------------------------


def test_the_preference_centre_saves_every_preference(client, topics):
    subscriber = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    assert client.get(manage).status_code == 200
    response = client.post(manage, {
        "topics": [topics[0].pk, topics[1].pk], "keywords": "agents", "exclude_keywords": "survey",
        "only_with_code": "on", "frequency": "weekly", "weekday": "5", "delivery_hour": "18",
        "time_zone": "America/New_York", "papers_per_digest": "12", "skip_empty": "on",
    })
    assert response.status_code == 303
    page = client.get(response["Location"])
    assert "Saved." in page.content.decode()
    subscriber.refresh_from_db()
    assert (subscriber.frequency, subscriber.weekday, subscriber.delivery_hour) == ("weekly", 5, 18)
    assert subscriber.time_zone == "America/New_York"
    assert subscriber.papers_per_digest == 12
    assert subscriber.only_with_code and subscriber.skip_empty
    assert (subscriber.keywords, subscriber.exclude_keywords) == ("agents", "survey")
    assert subscriber.topics.count() == 2


def test_the_preference_centre_opens_with_the_readers_own_choices(client, topics):
    reader = SubscriberFactory(keywords="agents", exclude_keywords="survey", only_with_code=True, skip_empty=True,
                               papers_per_digest=20, frequency="weekly", weekday=4, delivery_hour=18)
    reader.topics.set([topics[1]])
    html = client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).content.decode()
    assert re.search(rf'<input type="checkbox" name="topics" value="{topics[1].pk}"[^>]*checked', html)
    assert not re.search(rf'<input type="checkbox" name="topics" value="{topics[0].pk}"[^>]*checked', html)
    assert 'name="keywords" id="id_keywords" value="agents"' in html
    assert 'name="exclude_keywords" id="id_exclude_keywords" value="survey"' in html
    assert re.search(r'<input type="checkbox" name="only_with_code"[^>]*checked', html)
    assert re.search(r'<input type="checkbox" name="skip_empty"[^>]*checked', html)
    assert '<option value="20" selected>20</option>' in html  # the most a digest holds
    assert re.search(r'<input type="radio" name="frequency" value="weekly"[^>]*checked', html)
    assert '<option value="4" selected>Friday</option>' in html and '<option value="18" selected>18:00</option>' in html


def test_keywords_are_kept_in_one_spelling_each_whatever_the_reader_typed(client, topics):
    """A term typed twice in two cases is kept once, as first typed; spaces inside a
    term are one; empty terms are dropped: in the keywords and the left-out terms."""
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    response = client.post(manage, {
        "topics": [topics[0].pk], "keywords": "rlhf, RLHF,, speculative   decoding,",
        "exclude_keywords": "Survey,  survey , ,benchmark", "frequency": "daily", "weekday": "0",
        "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "10",
    })
    html = client.get(response["Location"]).content.decode()
    assert 'value="rlhf, speculative decoding"' in html
    assert 'value="Survey, benchmark"' in html


@pytest.mark.parametrize("field", ["keywords", "exclude_keywords"])
def test_keywords_longer_than_the_field_holds_are_refused_with_a_message_not_an_error_page(client, topics, field):
    """The page's fields stop at 500 characters; a longer post is told so."""
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    response = client.post(manage, {
        "topics": [topics[0].pk], field: ", ".join(f"term{n}" for n in range(80)), "frequency": "daily",
        "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "10",
    })
    assert response.status_code == 400
    assert "Ensure this value has at most 500 characters" in response.content.decode()
    reader.refresh_from_db()
    assert getattr(reader, field) == ""


@pytest.mark.parametrize(("field", "would"), [("keywords", "match"), ("exclude_keywords", "leave out")])
def test_a_term_of_stop_words_alone_is_refused_beside_its_field_keeping_what_was_typed(client, topics, field, would):
    """"Leave out papers about: of" left out nearly every paper, and the reader got
    empty digests with no word of why. A term that is only stop words is refused,
    named, beside the field that holds it, with what was typed kept to correct (read
    in words as the matcher reads it: "the." is "the"; "I", one letter, is no
    acronym); a term with other words, and an acronym in capitals ("IT"), are kept."""
    reader = SubscriberFactory(keywords="agents", exclude_keywords="survey")
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    typed = "mixture of experts, IT, of, The, of the, I, the."
    response = client.post(manage, {
        "topics": [topics[0].pk], field: typed, "frequency": "daily",
        "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "10",
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert f'name="{field}" id="id_{field}" value="{typed}"' in html
    errors = re.search(rf'<p class="sf-error" id="id_{field}-error">(.*?)</p>', html).group(1)
    for term in ("of", "The", "of the", "I", "the."):
        assert f"Nearly every paper says “{term}”, so it would {would} nearly every paper" in errors
    assert "“mixture of experts”" not in errors and "“IT”" not in errors
    reader.refresh_from_db()
    assert (reader.keywords, reader.exclude_keywords) == ("agents", "survey")

    client.post(manage, {
        "topics": [topics[0].pk], field: "mixture of experts, IT", "frequency": "daily",
        "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "10",
    })
    reader.refresh_from_db()
    assert getattr(reader, field) == "mixture of experts, IT"


def test_a_term_with_no_word_in_it_is_refused_as_one_that_finds_nothing(submit):
    """"∑" or "→" as a keyword was saved and found in no paper, ever: the reader waited
    for papers on it. It is refused beside its field; a term with a word and a symbol
    ("C++", "k-NN") is kept."""
    response = submit("new@example.com", keywords="∑, →, C++, k-NN")
    assert response.status_code == 400
    html = response.content.decode()
    assert "“∑” has no word to look for in a paper: write it in words." in html
    assert "“→” has no word to look for in a paper" in html
    assert "“C++”" not in html and "“k-NN”" not in html
    assert not Subscriber.objects.filter(email="new@example.com").exists()
    assert submit("new@example.com", keywords="C++, k-NN").status_code == 303


def test_the_subscribe_form_refuses_a_term_of_stop_words_alone_too(submit):
    response = submit("new@example.com", exclude_keywords="surveys, of")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="surveys, of"' in html
    assert "Nearly every paper says “of”, so it would leave out nearly every paper" in html
    assert not Subscriber.objects.filter(email="new@example.com").exists()


def _labelled_papers(*days: str) -> list:
    """The papers of these labelled days (tests/data/relevance), one trending date each."""
    import json
    from pathlib import Path

    papers = []
    for n, day in enumerate(days):
        data = json.loads((Path(__file__).parents[1] / "data" / "relevance" / f"{day}.json").read_text())
        papers += [PaperFactory(title=p["title"], abstract=p["abstract"], trending_date=dt.date(2025, 11, 20 + n))
                   for p in data["papers"]]
    return papers


@pytest.mark.parametrize(("field", "would"), [("exclude_keywords", "leave out"), ("keywords", "match")])
def test_a_term_nearly_every_new_paper_says_is_refused_with_how_many_say_it(client, topics, field, would):
    """"Leave out papers about: model" left out four papers in five, as "of" did: the
    reader's digests were nearly empty, and nothing said why. A term three in four of
    the newest papers say is refused beside its field, with how many say it, counted
    on the papers a reader may see (two tuning days' papers here: 85 of them; a hidden
    one is not counted). A field's term, however broad, is kept ("language model"
    is in about half of them)."""
    papers = _labelled_papers("day_a", "day_e")
    hidden = PaperFactory(title="A model", abstract="A model of models.", hidden=True, trending_date=dt.date(2025, 11, 30))
    said = sum(1 for p in papers if re.search(r"\bmodel", f"{p.title} {p.abstract}", re.IGNORECASE))
    reader = SubscriberFactory(keywords="agents", exclude_keywords="survey")
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    form = {"topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
            "time_zone": "UTC", "papers_per_digest": "10"}

    response = client.post(manage, {**form, field: "language model, model, reinforcement learning"})

    assert response.status_code == 400
    errors = re.search(rf'<p class="sf-error" id="id_{field}-error">(.*?)</p>', response.content.decode()).group(1)
    assert errors == (f"“model” is in {said} of the {len(papers)} newest papers, so it would {would} "
                      "nearly every paper: remove it or use a more specific term.")
    assert said >= 0.75 * len(papers) and hidden.pk
    reader.refresh_from_db()
    assert (reader.keywords, reader.exclude_keywords) == ("agents", "survey")

    assert client.post(manage, {**form, field: "language model, reinforcement learning"}).status_code == 303
    reader.refresh_from_db()
    assert getattr(reader, field) == "language model, reinforcement learning"


def test_with_few_papers_yet_no_term_is_judged_common(client, topics):
    """A new installation's first papers say little of what is common: under 50
    papers, no term is refused for how many say it (stop words still are)."""
    _labelled_papers("day_a")
    reader = SubscriberFactory()
    response = client.post(_path(tokens.subscriber_manage_url(subscriber=reader)), {
        "topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
        "time_zone": "UTC", "papers_per_digest": "10", "exclude_keywords": "model"})
    assert response.status_code == 303
    reader.refresh_from_db()
    assert reader.exclude_keywords == "model"


def test_a_save_that_fails_after_one_that_succeeded_says_only_what_failed(client, topics):
    """Save, then untick every topic and save again from the page the first save led
    to (its address ends in ?done=saved): the answer is the error alone, not "Saved."
    above it, and nothing changed."""
    subscriber = SubscriberFactory()
    subscriber.topics.set([topics[0]])
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    saved_page = client.post(manage, {
        "topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
        "time_zone": "UTC", "papers_per_digest": "10",
    })["Location"]
    assert "Saved." in client.get(saved_page).content.decode()
    failed = client.post(saved_page, {
        "topics": [], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
        "time_zone": "UTC", "papers_per_digest": "10",
    })
    assert failed.status_code == 400
    html = failed.content.decode()
    assert "Pick at least one topic" in html
    assert "Saved." not in html
    assert list(subscriber.topics.all()) == [topics[0]]


@pytest.mark.parametrize("status", [Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.SUPPRESSED])
def test_a_reader_who_gets_no_digests_is_not_promised_a_next_one_when_they_save(client, topics, status):
    """The preference centre of a reader who left (or whose address bounced) still
    holds the form. Saving it said "Saved. Your next digest uses these settings.",
    right above "You're unsubscribed and get no more digests.": no next digest comes.
    The flash says when these settings apply instead."""
    reader = SubscriberFactory(status=status)
    weekly = {"topics": [topics[1].pk], "frequency": "weekly", "weekday": "4", "delivery_hour": "7",
              "time_zone": "UTC", "papers_per_digest": "10"}
    response = client.post(_path(tokens.subscriber_manage_url(subscriber=reader)), weekly)
    html = client.get(response["Location"]).content.decode()
    flash = re.search(r'<p class="sf-flash" role="status"[^>]*>(.*?)</p>', html, re.DOTALL).group(1)
    assert "Saved." in flash
    assert "next digest" not in flash
    assert ("if you resubscribe" if status == Subscriber.Status.UNSUBSCRIBED else "no digest goes out") in flash.lower()
    assert list(reader.topics.all()) == [topics[1]]


def test_a_bounced_readers_page_keeps_their_settings_and_saves_them(client, topics):
    """A bounce may be lifted by an editor (not in KEPT_FROM_EDITORS), and the reader's
    settings then apply: their page is not the data-only one a complaint leaves, and
    saving it saves."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="ada@example.com")
    address_suppress(email="ada@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    reader.refresh_from_db()
    weekly = {"topics": [topics[1].pk], "frequency": "weekly", "weekday": "4", "delivery_hour": "7",
              "time_zone": "UTC", "papers_per_digest": "10"}
    response = client.post(_path(tokens.subscriber_manage_url(subscriber=reader)), weekly)
    assert response["Location"].endswith("?done=saved")
    assert list(reader.topics.all()) == [topics[1]]


def test_a_buttons_address_opened_as_a_link_changes_nothing_and_leads_to_its_button(client):
    """Pause and resume act on a button's POST only (a mail scanner fetches every
    link). Opened as a link, each answered 405 with an empty page (Chromium: "HTTP
    ERROR 405"); now each leads to the page that holds its button, and changes
    nothing. Another method still gets 405. (Resubscribe's address is the goodbye
    email's link and shows its own button: the test below.)"""
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    for address, page in ((f"{manage}pause/", manage), (f"{manage}resume/", manage)):
        for method in (client.get, client.head):
            response = method(address)
            assert (response.status_code, response["Location"]) == (303, page), address
        assert client.put(address).status_code == 405
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and reader.paused_until is None
    assert list(reader.consents.values_list("action", flat=True)) == []
    # The page it leads to is the reader's, with the button.
    assert 'action="' + manage + 'pause/"' in client.get(manage).content.decode()


@pytest.mark.parametrize(("zone", "abbreviation"), [
    ("America/New_York", r"E[SD]T"), ("Asia/Tokyo", "JST"), ("UTC", "UTC"),
])
def test_the_preference_centre_says_when_the_digest_comes_in_the_readers_zone(client, zone, abbreviation):
    reader = SubscriberFactory(time_zone=zone, delivery_hour=7)
    html = client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).content.decode()
    # EST or EDT depending on today's date in New York; the zone's name beside it.
    named = "" if zone == "UTC" else rf" \({re.escape(zone)}\)"
    assert re.search(rf"a digest every weekday around 07:00 {abbreviation}{named}\.", html), html


def test_the_readers_delivery_time_takes_the_abbreviation_of_that_day():
    reader = SubscriberFactory.build(time_zone="America/New_York", delivery_hour=7,
                                     frequency="weekly", weekday=0)
    assert reader.delivery_time(dt.date(2025, 11, 24)) == "07:00 EST (America/New_York)"
    assert reader.delivery_time(dt.date(2025, 7, 7)) == "07:00 EDT (America/New_York)"
    assert reader.schedule(dt.date(2025, 7, 7)) == "a weekly digest on Mondays around 07:00 EDT (America/New_York)"
    # Zones that tzdata gives only an offset, not letters, read as one.
    assert SubscriberFactory.build(time_zone="America/Sao_Paulo").delivery_time(
        dt.date(2025, 11, 24)) == "07:00 UTC\u22123 (America/Sao_Paulo)"
    assert SubscriberFactory.build(time_zone="Asia/Dubai").delivery_time() == "07:00 UTC+4 (Asia/Dubai)"
    assert SubscriberFactory.build(time_zone="Asia/Kathmandu").delivery_time() == "07:00 UTC+5:45 (Asia/Kathmandu)"
    # A zone the server does not know is shown as what the dispatcher uses: UTC.
    assert SubscriberFactory.build(time_zone="Mars/Olympus", delivery_hour=9).delivery_time() == "09:00 UTC"
    # Nor one that is not a zone's name at all (an old import's path): UTC, not a 500.
    assert SubscriberFactory.build(time_zone="../Europe/Paris", delivery_hour=9).delivery_time() == "09:00 UTC"
    # An hour the clocks skip reads as the reader's clock shows it when the digest comes.
    assert SubscriberFactory.build(time_zone="Europe/Berlin", delivery_hour=2).delivery_time(
        dt.date(2026, 3, 29)) == "03:00 CEST (Europe/Berlin)"


def test_a_readers_secret_is_256_random_bits():
    """The secret inside every manage and unsubscribe link (subscribers/tokens.py): 43
    URL-safe characters, new for each reader, so no link can be guessed."""
    tokens_made = {SubscriberFactory.build().token for _ in range(50)}
    assert len(tokens_made) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens_made)


def test_pausing_for_two_weeks_sets_the_date_digests_start_again(client):
    subscriber = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    client.post(f"{manage}pause/", {"weeks": "2"})
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.PAUSED
    assert subscriber.paused_until == dt.date.today() + dt.timedelta(weeks=2)
    # The page says the day the first digest comes back (the pause's last day is a
    # day digests come again; a daily reader's next weekday from there).
    back = subscriber.paused_until
    while back.weekday() >= 5:
        back += dt.timedelta(days=1)
    page = client.get(manage).content.decode()
    assert f"the next one arrives on {back:%A} {back.day} {back:%B} around 07:00 UTC." in page
    client.post(f"{manage}pause/", {"weeks": "3"})  # not an offered length: ignored
    subscriber.refresh_from_db()
    assert subscriber.paused_until == dt.date.today() + dt.timedelta(weeks=2)


@pytest.mark.parametrize("weeks", [1, 4])
def test_each_pause_button_holds_the_digests_for_the_weeks_it_names(client, weeks):
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    assert f'name="weeks" value="{weeks}"' in client.get(manage).content.decode()

    response = client.post(f"{manage}pause/", {"weeks": str(weeks)})

    back = dt.date.today() + dt.timedelta(weeks=weeks)
    while back.weekday() >= 5:
        back += dt.timedelta(days=1)
    page = client.get(response["Location"]).content.decode()
    assert "Done: your digests are on hold." in page
    assert f"the next one arrives on {back:%A} {back.day} {back:%B} around 07:00 UTC." in page


def test_the_preference_pages_buttons_work_in_a_browser_that_checks_csrf(csrf_client):
    """The preference centre's forms carry no CSRF token (the signed link is the
    credential): a browser enforcing CSRF, as a real one does, pauses the reader
    when they press Pause, where it would answer 403 "CSRF verification failed"."""
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    assert 'name="weeks" value="2"' in csrf_client.get(manage).content.decode()
    response = csrf_client.post(f"{manage}pause/", {"weeks": "2"})
    assert response.status_code == 303
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PAUSED and reader.paused_until is not None

def _exported(client, manage: str) -> dict:
    """"Email me my data" pressed: the data in the file attached to the email it sends."""
    mail.outbox.clear()
    assert client.post(f"{manage}export/").status_code == 303
    (email,) = mail.outbox
    ((name, content, _),) = email.attachments
    assert name == "daily-papers-digest-my-data.zip"
    return export_data(content)


def test_the_export_holds_everything_about_the_subscriber(client, topics):
    subscriber = SubscriberFactory(email="me@example.com", keywords="agents")
    subscriber.topics.set(topics)
    ConsentRecord.objects.create(subscriber=subscriber, action="subscribe", source="form",
                                 ip_address="203.0.113.9", consent_text_version="v1")
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    data = _exported(client, manage)
    assert data["email"] == "me@example.com"
    assert data["preferences"]["keywords"] == "agents"
    assert {t["slug"] for t in data["preferences"]["topics"]} == {t.slug for t in topics}
    assert data["consent_records"][0]["ip_address"] == "203.0.113.9"
    assert {"deliveries", "feedback", "status", "confirmed_at", "unsubscribed_at"} <= set(data)


def test_the_export_tells_a_paper_opened_from_the_digest_from_a_vote(client):
    """The export listed a paper the reader only opened from their digest (the ESP
    reported the click) as a "More like this" vote, which they never cast; and it
    did not say that their clicks are kept. Each row says which it is."""
    from newsletter.feedback import feedback_click_record

    reader = SubscriberFactory()
    voted, opened = PaperFactory(arxiv_id="2511.00001"), PaperFactory(arxiv_id="2511.00002")
    assert client.post(_path(feedback_url(subscriber=reader, paper=voted, vote=-1))).status_code == 303
    feedback_click_record(subscriber=reader, paper=opened)

    rows = {row["paper"]: row for row in _exported(client, _path(tokens.subscriber_manage_url(subscriber=reader)))["feedback"]}

    assert (rows["2511.00001"]["vote"], rows["2511.00001"]["source"]) == ("Less like this", "Voted")
    assert (rows["2511.00002"]["vote"], rows["2511.00002"]["source"]) == (None, "Opened from the digest")


def test_the_export_names_the_papers_each_digest_held_as_a_person_reads_them(client):
    """Not the database's ids: each paper by its arXiv id (or title), a pick or not,
    and the "why" line it came with; a paper taken off the site since says so."""
    from newsletter.models import Delivery, Edition
    from tests.factories import PaperFactory

    subscriber = SubscriberFactory()
    agents, other, gone = (PaperFactory(arxiv_id="2511.00001", title="Agents that plan"),
                           PaperFactory(arxiv_id=None, title="A paper without an id"),
                           PaperFactory(title="Withdrawn since"))
    edition = Edition.objects.create(date=dt.date(2025, 11, 24))
    Delivery.objects.create(subscriber=subscriber, edition=edition, status=Delivery.Status.SENT,
                            paper_ids=[agents.pk, other.pk, gone.pk], picked=1,
                            reasons=["Agents · matched: agent"])
    gone.delete()
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))

    data = _exported(client, manage)

    assert data["deliveries"] == [{
        "edition": "2025-11-24", "status": "sent", "sent_at": None,
        "papers": [
            {"paper": "2511.00001", "title": "Agents that plan", "picked": True, "why": "Agents · matched: agent"},
            {"paper": "A paper without an id", "title": "A paper without an id", "picked": False, "why": ""},
            {"paper": "(no longer on the site)", "title": "(no longer on the site)", "picked": False, "why": ""},
        ],
    }]


def test_the_export_says_its_digests_are_the_ledgers_days_only(client, settings):
    """A reader of some months, whose older digests' records the retention deleted
    (docs/data-retention.md): the file and the email say the digests listed are the
    last LEDGER_KEPT_DAYS days', and the file lists the one kept."""
    from newsletter.models import Delivery, Edition
    from newsletter.retention import retention_apply

    settings.LEDGER_KEPT_DAYS = 60
    subscriber = SubscriberFactory()
    for days_ago in (90, 3):
        edition = Edition.objects.create(date=dt.date.today() - dt.timedelta(days=days_ago))
        Delivery.objects.create(subscriber=subscriber, edition=edition, status=Delivery.Status.SENT, paper_ids=[])
    retention_apply()

    data = _exported(client, _path(tokens.subscriber_manage_url(subscriber=subscriber)))

    assert [d["edition"] for d in data["deliveries"]] == [(dt.date.today() - dt.timedelta(days=3)).isoformat()]
    assert "last 60 days" in data["deliveries_kept"]
    assert "which papers we sent you when (in the last 60 days" in " ".join(mail.outbox[0].body.split())


def test_deleting_keeps_only_a_hash_on_the_suppression_list(client, submit, outbox):
    subscriber = SubscriberFactory(email="Leaving@Example.com")
    ConsentRecord.objects.create(subscriber=subscriber, action="subscribe", source="form")
    manage = _path(tokens.subscriber_manage_url(subscriber=subscriber))
    page = client.get(f"{manage}delete/").content.decode()
    assert "hash" in page and "never email you again" in page
    assert Subscriber.objects.exists()  # GET changed nothing
    response = client.post(f"{manage}delete/")
    assert response.status_code == 200
    # The page after deleting said "you'll never get email from us again", though the
    # page before it (and the form) lets the person subscribe again by confirming.
    done = " ".join(response.content.decode().split())
    assert "never get email from us again" not in done
    assert ">Subscribe again</a>" in done and 'href="/subscribe/"' in done
    assert not Subscriber.objects.exists() and not ConsentRecord.objects.exists()
    suppression = Suppression.objects.get()
    assert suppression.reason == Suppression.Reason.DELETED
    assert "leaving" not in suppression.email_hash.lower()
    assert suppression.email_hash == email_hash("leaving@example.com")
    # The old link now shows a clear page.
    assert client.get(manage).status_code == 410


def test_after_deleting_their_data_a_readers_old_links_say_so_not_that_they_are_broken(client):
    """A reader who had just deleted their data and pressed an old email's
    Unsubscribe to be sure was told "This link is not valid … copied incompletely",
    and sent to subscribe (a phone walkthrough). Each old link now says what
    happened; a link cut short still says it is not valid."""
    reader = SubscriberFactory(email="gone@example.com")
    paper = PaperFactory()
    manage, unsubscribe = (_path(url) for url in tokens.subscriber_links(subscriber=reader))
    confirm = _path(tokens.confirm_url(subscriber=reader))
    vote = _path(feedback_url(subscriber=reader, paper=paper, vote=1))
    client.post(f"{manage}delete/")
    assert not Subscriber.objects.exists()

    for method in (client.get, client.post):
        response = method(unsubscribe)
        page = response.content.decode()
        assert response.status_code == 410 and "This subscription was deleted" in page
        assert "unsubscribes nothing" in page and "not valid" not in page
    for path in (manage, confirm, vote, f"{manage}delete/"):
        response = client.get(path)
        page = response.content.decode()
        assert response.status_code == 410, path
        assert "This link no longer leads anywhere" in page and "data was deleted" in page, path
    cut = client.get(unsubscribe[:-6] + "/")
    assert cut.status_code == 404 and "This link is not valid" in cut.content.decode()


def test_a_reader_who_deleted_their_data_can_subscribe_again_by_confirming(client, submit, outbox):
    """Erasure keeps a hash so the address is not mailed by accident (an import, an
    editor), but the person themselves may come back through the form: the
    confirmation email goes out, and confirming takes the hash off the list. It
    used to be a dead end: the form said "check your inbox" and nothing came."""
    subscriber = SubscriberFactory(email="back@example.com")
    client.post(_path(tokens.subscriber_manage_url(subscriber=subscriber)) + "delete/")
    assert Suppression.objects.get().reason == Suppression.Reason.DELETED

    submit("back@example.com")
    assert [m.to for m in outbox] == [["back@example.com"]]
    assert Subscriber.objects.get().status == "pending"
    assert Suppression.objects.exists()  # not lifted before the confirmation

    confirm_path = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    client.post(confirm_path)
    assert Subscriber.objects.get().status == "active"
    assert not Suppression.objects.exists()


def test_confirming_another_spelling_of_an_erased_mailbox_subscribes_it_and_lifts_only_what_stopped_it(
        client, submit, outbox):
    """An erasure covers the spelling erased (suppression.SPELLING_ONLY): the person
    may subscribe as a.da@gmail.com, whose confirmation lifts nothing, as nothing
    stopped it; ada@gmail.com stays off the list until confirmed itself."""
    subscriber = SubscriberFactory(email="ada@gmail.com")
    client.post(_path(tokens.subscriber_manage_url(subscriber=subscriber)) + "delete/")

    submit("a.da@gmail.com")
    assert [m.to for m in outbox] == [["a.da@gmail.com"]]
    client.post(next(p for p in _links(outbox[0]) if p.startswith("/confirm/")))
    assert Subscriber.objects.get().status == "active"
    assert email_is_suppressed("ada@gmail.com") and not email_is_suppressed("a.da@gmail.com")


def test_an_old_unsubscribe_link_does_not_tell_a_reader_who_came_back_that_nothing_more_is_sent(
    client, submit, outbox,
):
    """Delete my data, subscribe again with the same address and confirm, then press
    Unsubscribe in an email from before (a reader's walkthrough): the page said "This
    address is not on our list … Nothing more is sent to that address, so there is
    nothing to unsubscribe from", and the new subscription's digests kept coming. The
    link cannot tell which address it was for (the data is gone), so it claims nothing
    of the address, says a new subscription has links of its own and offers them."""
    reader = SubscriberFactory(email="again@example.com")
    manage, old_unsubscribe = (_path(url) for url in tokens.subscriber_links(subscriber=reader))
    client.post(f"{manage}delete/")
    submit("again@example.com")
    client.post(next(p for p in _links(outbox[0]) if p.startswith("/confirm/")))
    assert Subscriber.objects.get().status == "active"

    response = client.get(old_unsubscribe)
    page = response.content.decode()
    assert response.status_code == 410
    assert "not on our list" not in page and "Nothing more is sent to that address" not in page
    assert "Subscribed again" in page and 'href="/subscription/"' in page
    assert Subscriber.objects.get().status == "active"  # nothing changed


def test_the_form_changes_an_unsubscribed_readers_preferences_only_once_the_address_confirms(
    client, submit, outbox, topics,
):
    """Anyone can fill in the form with any address: for an unsubscribed reader it
    replaced their topics and emptied their keywords and left-out terms at once,
    before any confirmation (a reader's walkthrough of several days). Now what the
    form asked for waits for the address's owner to confirm."""
    reader = SubscriberFactory(email="kw@example.com", status="unsubscribed", keywords="speech recognition",
                               exclude_keywords="scaling laws")
    reader.topics.set([topics[0]])
    from newsletter.editions import edition_assemble
    from newsletter.models import Delivery
    from tests.factories import PaperFactory

    edition = edition_assemble(date=PaperFactory().trending_date)
    Delivery.objects.create(subscriber=reader, edition=edition, status="sent")

    submit("kw@example.com", topics=[topics[1].pk], keywords="", frequency="weekly")

    reader.refresh_from_db()
    assert reader.status == "unsubscribed"  # their own "resubscribe" button still works
    # The confirmation names the topics confirming gives.
    assert topics[1].name in outbox[-1].body and topics[0].name not in outbox[-1].body
    assert (reader.keywords, reader.exclude_keywords, reader.frequency) == ("speech recognition", "scaling laws", "daily")
    assert list(reader.topics.all()) == [topics[0]]
    confirm_path = next(p for p in _links(outbox[-1]) if p.startswith("/confirm/"))
    page = client.post(confirm_path).content.decode()
    reader.refresh_from_db()
    assert reader.status == "active" and reader.requested is None
    assert (reader.keywords, reader.exclude_keywords, reader.frequency) == ("", "", "weekly")
    assert list(reader.topics.all()) == [topics[1]]
    # A reader coming back hears of their next digest, not their first.
    assert "Your next digest arrives" in page or "You&#x27;ll get" in page
    assert "Your first digest" not in page


def test_a_reader_back_by_the_form_reads_as_a_reader_once_they_confirm(client, submit, outbox, topics):
    """A reader who left in March comes back by the form and confirms: their page in
    the admin and their data no longer give a date they left, and a topic an editor
    switched off between the request and the confirmation is not made theirs (no
    digest carries it, and the preference centre no longer offers it)."""
    from newsletter.models import Topic

    left = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    reader = SubscriberFactory(email="back@example.com", status="unsubscribed", unsubscribed_at=left)
    submit("back@example.com", topics=[topics[0].pk, topics[1].pk])
    Topic.objects.filter(pk=topics[1].pk).update(is_active=False)

    client.post(next(p for p in _links(outbox[-1]) if p.startswith("/confirm/")))

    reader.refresh_from_db()
    assert reader.status == "active" and reader.unsubscribed_at is None
    assert list(reader.topics.all()) == [topics[0]]


def test_saving_the_preference_centre_unchanged_adds_nothing_to_the_readers_consent_history(topics):
    """A reader who presses Save without changing anything: nothing changed, so no
    entry "preferences changed" in the history their data export shows."""
    from subscribers.services import subscriber_preferences_update

    reader = SubscriberFactory(keywords="speech")
    reader.topics.set([topics[0]])
    before = ConsentRecord.objects.filter(subscriber=reader).count()

    changed = subscriber_preferences_update(subscriber=reader, topics=[topics[0]], ip=None, user_agent="",
                                            keywords="speech", frequency=reader.frequency)

    assert changed == []
    assert ConsentRecord.objects.filter(subscriber=reader).count() == before


def test_an_unsubscribed_readers_old_preference_page_cannot_pause_them_back_onto_the_list(client):
    """A page left open from before the reader unsubscribed still holds the Pause
    button: pressing it must not make them a paused reader, whose digests start
    again when the pause ends."""
    reader = SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))

    client.post(f"{manage}pause/", {"weeks": "1"})

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED and reader.paused_until is None


def test_an_unsubscribed_readers_old_page_does_not_say_its_pause_or_resume_was_done(client):
    """A preference page left open from when the reader was paused; they have
    unsubscribed since. Its "Resume now" led to "Welcome back: digests are on again."
    above "You're unsubscribed and get no more digests.", its Pause buttons to
    "Done: your digests are on hold". Neither changed anything: the page says only
    where they stand."""
    reader = SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    for button, claim in (("pause/", "your digests are on hold"), ("resume/", "digests are on again")):
        response = client.post(f"{manage}{button}", {"weeks": "1"})
        page = client.get(response["Location"]).content.decode()
        assert "You're unsubscribed" in page and claim not in page, button
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_a_paused_reader_who_leaves_and_resubscribes_gets_digests_again_at_once(client):
    """Paused for four weeks, then unsubscribed, then "Resubscribe" from the goodbye
    email: they asked for digests again, so the old pause is gone with the leaving
    (before, it still held: no digest until its end, and the page said so)."""
    from subscribers.services import subscriber_pause

    reader = SubscriberFactory()
    subscriber_pause(subscriber=reader, weeks=4, ip=None, user_agent="")
    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED and reader.paused_until is None

    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)) + "resubscribe/")

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and reader.paused_until is None


def test_resume_ends_the_pause_at_once_and_the_next_digest_comes_at_the_readers_hour(client):
    """"Resume now" on a four-week pause: the reader is active with no pause left
    (kept, its end date held their digests back until then while the page said they
    were back), and the next digest the dispatcher owes them is at their next hour."""
    from newsletter.due import subscriber_due_at
    from newsletter.schedules import MORNING_FETCH
    from subscribers.services import subscriber_pause

    reader = SubscriberFactory(delivery_hour=9, time_zone="UTC")
    subscriber_pause(subscriber=reader, weeks=4, ip=None, user_agent="")
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))

    client.post(f"{manage}resume/")

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and reader.paused_until is None
    monday_nine = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
    assert subscriber_due_at(subscriber=reader, at=monday_nine, fetch_at=MORNING_FETCH, newest=monday_nine.date())


def test_a_pause_is_counted_in_the_readers_own_dates():
    """A reader in Tokyo pauses for a week at 08:30 on Saturday 22 November there
    (23:30 on Friday in UTC): digests come again on Saturday 29 November, their date
    a week on, not on the 28th (a week from the date in UTC)."""
    from subscribers.services import subscriber_pause

    reader = SubscriberFactory(time_zone="Asia/Tokyo")
    subscriber_pause(subscriber=reader, weeks=1, ip=None, user_agent="",
                     now=dt.datetime(2025, 11, 21, 23, 30, tzinfo=dt.UTC))

    reader.refresh_from_db()
    assert reader.paused_until == dt.date(2025, 11, 29)


def test_a_suppressed_readers_old_unsubscribe_link_leaves_them_suppressed(client):
    """An address that bounced, unsubscribed by a link in an older digest: the editor
    keeps seeing why nothing goes there (suppressed), not "unsubscribed", and the
    resubscribe link it would then offer stays closed."""
    reader = SubscriberFactory(status=Subscriber.Status.SUPPRESSED)

    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_a_strangers_request_is_never_applied_by_the_readers_own_link(client, submit, outbox, topics):
    """A hostile tester's pass: a reader subscribed; within the window of one email
    per address a stranger submitted the same address with other choices (no email
    went out), and the reader's own confirm link then applied the stranger's topics,
    keywords and schedule. An unsubscribed reader's old links worked again too."""
    submit("victim@example.com", topics=[topics[0].pk])
    own_link = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    submit("victim@example.com", ip="198.51.100.9", topics=[topics[1].pk], keywords="attacker chose this",
           frequency="weekly")
    assert len(outbox) == 1  # nothing mailed for the stranger's request

    client.post(own_link)
    reader = Subscriber.objects.get()
    assert reader.status == "active" and reader.requested is None
    assert list(reader.topics.all()) == [topics[0]] and reader.keywords == "" and reader.frequency == "daily"

    # Unsubscribed: a stranger's request mails a confirmation; the reader's old link
    # (of their first subscription) does not re-confirm them, and nothing of theirs changes.
    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})
    outbox.clear()
    submit("victim@example.com", ip="203.0.113.99", topics=[topics[1].pk], keywords="attacker chose this")
    assert Subscriber.objects.get().status == "unsubscribed" and len(outbox) == 1
    assert "This link was already used" in client.post(own_link).content.decode()
    reader.refresh_from_db()
    assert reader.status == "unsubscribed" and list(reader.topics.all()) == [topics[0]]


def test_a_second_confirmation_the_reader_left_unused_does_not_bring_them_back_after_they_leave(
        client, submit, outbox, topics):
    """Two confirmation emails for a pending address, the second for someone's other
    choices twenty minutes later (outside the window of one email per address). The
    reader confirms by the first; its choices hold, and the second request is
    dropped. Once they unsubscribe, the unused second email's button does not
    subscribe them again with those other choices (it did while the request was
    kept on the confirmed reader: an old link undoing an unsubscribe)."""
    submit("twice@example.com", topics=[topics[0].pk])
    Subscriber.objects.update(confirmation_sent_at=timezone.now() - dt.timedelta(minutes=20))
    submit("twice@example.com", ip="198.51.100.9", topics=[topics[1].pk], keywords="someone else's", frequency="weekly")
    first, second = (next(p for p in _links(m) if p.startswith("/confirm/")) for m in outbox)
    assert first != second

    client.post(first)
    reader = Subscriber.objects.get()
    assert reader.status == "active" and list(reader.topics.all()) == [topics[0]]
    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})

    assert "This link was already used" in client.post(second).content.decode()
    reader.refresh_from_db()
    assert reader.status == "unsubscribed"
    assert list(reader.topics.all()) == [topics[0]] and reader.keywords == "" and reader.frequency == "daily"


def test_a_reader_who_unsubscribed_and_comes_back_at_once_gets_a_confirmation(client, submit, outbox):
    """Subscribe, confirm, unsubscribe, and subscribe again a minute later: a fresh
    confirmation email comes, within the window of one email per address (the
    walkthrough of 5 December got "check your inbox" and nothing). Anyone else asking
    for the address within the window still sends nothing more."""
    submit("back@example.com")
    client.post(next(p for p in _links(outbox[0]) if p.startswith("/confirm/")))
    reader = Subscriber.objects.get()
    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})
    assert Subscriber.objects.get().status == "unsubscribed"
    outbox.clear()

    submit("back@example.com")
    confirmations = [m for m in outbox if any(p.startswith("/confirm/") for p in _links(m))]
    assert [m.to for m in confirmations] == [["back@example.com"]]
    submit("back@example.com", ip="198.51.100.9")
    assert len([m for m in outbox if any(p.startswith("/confirm/") for p in _links(m))]) == 1

    # Asking on the form changes nothing before the confirmation (anyone can type
    # the address): the reader stays unsubscribed, and the goodbye's "resubscribe"
    # link, opened meanwhile, still offers to resubscribe, not to unsubscribe.
    assert Subscriber.objects.get().status == "unsubscribed"
    html = client.get(_path(tokens.subscriber_unsubscribe_url(subscriber=reader))).content.decode()
    assert "Unsubscribe from the digest?" not in html

    client.post(next(p for p in _links(confirmations[0]) if p.startswith("/confirm/")))
    assert Subscriber.objects.get().status == "active"


def test_a_bounce_after_an_erasure_keeps_the_address_closed_to_the_form(client, submit, outbox):
    from subscribers.suppression import address_suppress

    subscriber = SubscriberFactory(email="gone@example.com")
    client.post(_path(tokens.subscriber_manage_url(subscriber=subscriber)) + "delete/")
    address_suppress(email="gone@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE

    submit("gone@example.com")
    assert outbox == []


# --- Unsubscribe -----------------------------------------------------------------------


def test_one_click_post_without_cookies_unsubscribes_with_200_and_is_idempotent(
    csrf_client, outbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory()
    url = _path(tokens.subscriber_unsubscribe_url(subscriber=subscriber))
    with django_capture_on_commit_callbacks(execute=True):  # a goodbye would be queued on commit
        first = csrf_client.post(url, "List-Unsubscribe=One-Click",
                                 content_type="application/x-www-form-urlencoded")
    assert first.status_code == 200
    assert not first.cookies
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    changed_at = subscriber.status_changed_at
    second = csrf_client.post(url, "List-Unsubscribe=One-Click",
                              content_type="application/x-www-form-urlencoded")
    assert second.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status_changed_at == changed_at
    assert subscriber.consents.filter(action="unsubscribe").count() == 1
    assert outbox == []  # the mail client already told the reader
    # The consent history an editor reads says how they left ("one click: yes").
    assert subscriber.consents.get(action="unsubscribe").detail == {"one_click": True}
    assert subscriber.consents.get(action="unsubscribe").source == ConsentRecord.Source.MAIL_CLIENT


def test_a_forwarded_digest_lets_a_colleague_change_nothing_by_its_links_nor_see_whose_it_is(csrf_client, outbox):
    """A reader forwards their digest; the colleague opens every link in it, both
    parts, without the reader's cookies. Opening a link changes nothing (votes,
    pause, unsubscribe and the rest wait for a button's POST), and no page names the
    reader: the preference centre said "You're subscribed as ada.lovelace@…" in full,
    and even "We email it to your address, ada.lovelace@…, so it reaches only you,
    even if someone else has this page's link". They show the address masked
    (subscribers.addresses.email_masked), as the admin does for editors. The
    header's one-click unsubscribe (RFC 8058) is a POST and works at once."""
    from html import unescape

    from newsletter.editions import edition_freeze
    from newsletter.models import Edition, Feedback
    from tests.newsletter.test_digest_rendering import digest_message

    address = "ada.lovelace@example.org"
    message, html = digest_message(papers=3, email=address)
    reader = Subscriber.objects.get(email=address)
    edition_freeze(edition=Edition.objects.get())  # gone out: its public page is up

    def state():
        return (Subscriber.objects.filter(pk=reader.pk).values().get(), list(reader.topics.all()),
                Feedback.objects.count(), ConsentRecord.objects.count())

    before = state()
    links = {unescape(u) for u in re.findall(r'href="(http://testserver/[^"]+)"', html)}
    links |= set(_links(message))
    assert any("/manage/" in u for u in links) and any("/feedback/" in u for u in links)
    for url in sorted(links):
        response = csrf_client.get(_path(url), follow=True)
        page = response.content.decode()
        assert response.status_code == 200, url
        assert address not in page and "ada.lovelace" not in page, url
    assert state() == before and outbox == []
    manage = next(u for u in links if "/manage/" in u)
    assert "You're subscribed</strong> as <span class=\"address\">a…@example.org:</span>" in csrf_client.get(_path(manage)).content.decode()

    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    response = csrf_client.post(_path(unsubscribe), "List-Unsubscribe=One-Click",
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_one_click_also_accepts_multipart_bodies(csrf_client):
    subscriber = SubscriberFactory()
    url = _path(tokens.subscriber_unsubscribe_url(subscriber=subscriber))
    assert csrf_client.post(url, {"List-Unsubscribe": "One-Click"}).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_the_unsubscribe_page_offers_one_click_alternatives_and_sends_goodbye(
    client, outbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory()
    url = _path(tokens.subscriber_unsubscribe_url(subscriber=subscriber))
    page = client.get(url).content.decode()
    assert "Unsubscribe from the digest?" in page
    assert "Switch to a weekly digest" in page and "Change your topics" in page
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE  # GET changed nothing
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"from_page": "1"})
    assert response.status_code == 200
    assert "You're unsubscribed" in response.content.decode()
    assert "Sorry to see you go." in response.content.decode()
    # The way back is the goodbye email's: the page may answer someone else holding the link.
    assert "has a button to resubscribe" in response.content.decode()
    assert "/resubscribe/" not in response.content.decode()
    assert len(outbox) == 1 and "unsubscribed" in outbox[0].subject
    assert subscriber.consents.get(action="unsubscribe").detail == {"one_click": False}  # by the page's button
    assert subscriber.consents.get(action="unsubscribe").source == ConsentRecord.Source.FORM
    assert "List-Unsubscribe" not in outbox[0].extra_headers
    # Resubscribing from the goodbye email's link: opening it changes nothing and
    # shows the button; the button resubscribes.
    (resubscribe,) = [p for p in _links(outbox[0]) if p.startswith("/unsubscribe/")]
    assert resubscribe.endswith("/resubscribe/")
    page = client.get(resubscribe).content.decode()
    assert "Resubscribe to the digest?" in page and ">Resubscribe</button>" in page
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    client.post(resubscribe)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
    # Opened again days later, the old email's link says so: it led to the
    # unsubscribe page, whose one button was "Unsubscribe".
    again = client.get(resubscribe).content.decode()
    assert "<title>You're subscribed" in again and "Unsubscribe</button>" not in again
    assert 'href="' + tokens.subscriber_manage_url(subscriber=subscriber) + '"' in again


def test_once_a_reader_leaves_the_links_of_their_old_emails_only_unsubscribe(
    client, outbox, django_capture_on_commit_callbacks
):
    """Manage and unsubscribe links never changed (subscribers/tokens.py): after a
    reader unsubscribed, the preference centre of any old digest (forwarded, or in a
    shared inbox) resubscribed them with one press, nothing sent to them, and deleted
    their data. Leaving now gives the reader a new secret: an old email's links
    unsubscribe (RFC 8058 asks that they keep working) and do nothing else; the
    goodbye email, made after, carries the way back."""
    reader = SubscriberFactory(email="ada@example.com")
    manage, unsubscribe = (_path(url) for url in tokens.subscriber_links(subscriber=reader))
    old_resubscribe = _path(tokens.subscriber_resubscribe_url(subscriber=reader))
    # The preference centre says where the way back will be: not "from this page",
    # whose link leaving retires.
    centre = " ".join(client.get(manage).content.decode().split())
    assert "The email saying you're unsubscribed has a button to resubscribe" in centre
    assert "come back any time from this page" not in centre
    with django_capture_on_commit_callbacks(execute=True):
        left = client.post(unsubscribe, {"from_page": "1"})
    page = " ".join(left.content.decode().split())
    assert left.status_code == 200 and "You're unsubscribed" in page
    # The page answers whoever pressed, who may not be the reader: no link of the new secret.
    assert "/manage/" not in page and "resubscribe/" not in page
    assert "The email saying you're unsubscribed has a button to resubscribe" in page

    assert client.get(manage).status_code == 410
    assert client.post(old_resubscribe).status_code == 410
    assert client.post(f"{manage}delete/").status_code == 410
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    # The one-click unsubscribe still answers (nothing more to do).
    one_click = client.post(unsubscribe, {"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "/manage/" not in one_click.content.decode()

    (goodbye,) = outbox
    (resubscribe,) = [p for p in _links(goodbye) if p.endswith("/resubscribe/")]
    assert client.post(resubscribe).status_code == 303
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert client.get(manage).status_code == 410  # the old email's link stays dead
    # Their next digest's links are the new secret's.
    assert client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).status_code == 200


@pytest.mark.parametrize("reason", [Suppression.Reason.COMPLAINT, Suppression.Reason.HARD_BOUNCE])
def test_once_an_address_is_suppressed_an_old_emails_links_cannot_delete_the_readers_data(client, reason):
    """A reader who reported a digest as spam (or whose address bounced) kept links
    that opened their preference centre, "Delete my data" included, for anyone
    holding a forwarded copy. Their old emails' links now only unsubscribe."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="ada@example.com")
    manage, unsubscribe = (_path(url) for url in tokens.subscriber_links(subscriber=reader))
    address_suppress(email="ada@example.com", reason=reason)
    assert client.get(manage).status_code == 410
    assert client.post(f"{manage}delete/").status_code == 410
    assert Subscriber.objects.filter(pk=reader.pk, status=Subscriber.Status.SUPPRESSED).exists()
    page = client.get(unsubscribe)
    assert page.status_code == 200 and "You're unsubscribed" in page.content.decode()
    assert "/manage/" not in page.content.decode()


def test_a_weekly_reader_is_not_offered_a_weekly_digest_instead_of_leaving(client):
    weekly = SubscriberFactory(frequency=Subscriber.Frequency.WEEKLY)
    page = client.get(_path(tokens.subscriber_unsubscribe_url(subscriber=weekly))).content.decode()
    assert "Unsubscribe from the digest?" in page and "Change your topics" in page
    assert "Switch to a weekly digest" not in page


def test_asking_again_within_the_window_sends_nothing_and_the_page_does_not_claim_it_did(
    submit, outbox, topics, client
):
    submit("again@example.com")
    submit("again@example.com")
    assert len(outbox) == 1
    html = client.get("/subscribe/check-your-inbox/").content.decode()
    assert "we have just sent" not in html
    assert "unless we sent one in the last 10 minutes" in html
    # It names both emails the address may get: it promised a confirmation to an
    # address already subscribed, which got "already subscribed" (a phone walkthrough).
    assert "if the address is subscribed already, a link to its preferences" in html


def test_type_it_again_keeps_the_topics_keywords_and_schedule_chosen(submit, client, topics):
    """"Not your address? Type it again" opened a blank form: the topics, keywords and
    schedule just chosen were lost, only the address was wrong (a newcomer's
    walkthrough). The form comes back with them, the address empty; a browser that
    did not ask gets the plain form."""
    submit("ada@exmaple.com", topics=[topics[0].pk, topics[1].pk], keywords="speculative decoding, RLHF",
           exclude_keywords="robotics", frequency="weekly", weekday="4", delivery_hour="18",
           time_zone="Asia/Kolkata")
    page = client.get("/subscribe/check-your-inbox/again/")
    form = page.context["form"]
    assert page.status_code == 200 and "no-cache" in page["Cache-Control"]
    assert (set(form.initial["topics"]), form.initial["keywords"], form.initial["exclude_keywords"]) == (
        {topics[0].pk, topics[1].pk}, "speculative decoding, RLHF", "robotics")
    assert (form.initial["frequency"], form.initial["weekday"], form.initial["delivery_hour"],
            form.initial["time_zone"]) == ("weekly", 4, 18, "Asia/Kolkata")
    html = page.content.decode()
    assert 'value="speculative decoding, RLHF"' in html and "exmaple" not in html
    assert 'action="/subscribe/"' in html  # it posts as the form does

    from django.test import Client

    assert Client().get("/subscribe/check-your-inbox/again/")["Location"] == "/subscribe/"
    # Keywords too long for a cookie (a browser drops one over 4,096 bytes): the
    # address is still echoed, the form comes back plain.
    other = Client()
    long = "、".join(["注意力机制"] * 80)  # 479 characters, each escaped to six in JSON
    response = submit("mei@example.cn", client=other, ip="203.0.113.8", keywords=long, exclude_keywords=long)
    assert len(response.cookies["asked"].OutputString()) < 4096
    assert "You typed <strong>mei@example.cn</strong>" in other.get("/subscribe/check-your-inbox/").content.decode()
    assert other.get("/subscribe/check-your-inbox/again/")["Location"] == "/subscribe/"


def test_check_your_inbox_names_the_address_typed_so_a_typo_shows(submit, client, topics):
    """"Check your inbox" did not say where the email went: a reader who typed
    "ada@exmaple.com" waited for an email that could never come. The page now echoes
    the address this browser typed (a signed cookie for that page's path only, never
    the URL), with a way to type it again; another browser, or a cookie not signed by
    us, sees the page without any address."""
    response = submit("Ada@Exmaple.com")
    cookie = response.cookies["asked"]
    assert cookie["path"] == "/subscribe/check-your-inbox/" and cookie["httponly"] and cookie["samesite"] == "Strict"
    assert "exmaple" not in response["Location"]
    page = client.get("/subscribe/check-your-inbox/")
    html = page.content.decode()
    assert "You typed <strong>Ada@Exmaple.com</strong>" in html
    assert 'Not your address? <a href="/subscribe/check-your-inbox/again/">Type it again</a>' in html
    assert "no-cache" in page["Cache-Control"] or "max-age=0" in page["Cache-Control"]

    from django.test import Client

    stranger = Client()
    assert "You typed" not in stranger.get("/subscribe/check-your-inbox/").content.decode()
    stranger.cookies["asked"] = "eve@example.com"
    assert "eve@example.com" not in stranger.get("/subscribe/check-your-inbox/").content.decode()

    # The "email me my link" form says it the same way.
    client.post("/subscription/", {"email": "grace@example.org"}, REMOTE_ADDR="203.0.113.9")
    sent = client.get("/subscription/sent/").content.decode()
    assert "You typed <strong>grace@example.org</strong>" in sent and 'href="/subscription/">Type it again' in sent


def test_check_your_inbox_names_the_address_of_a_cookie_the_release_before_set(client):
    """That release's cookie held the address alone, not the form's other choices: a
    reader who asked just before an update still reads their address."""
    from subscribers.views import ASKED_COOKIE, ASKED_SALT

    client.cookies[ASKED_COOKIE] = signing.get_cookie_signer(salt=ASKED_COOKIE + ASKED_SALT).sign("ada@exmaple.com")
    assert "You typed <strong>ada@exmaple.com</strong>" in client.get("/subscribe/check-your-inbox/").content.decode()


def test_check_your_inbox_names_an_internationalised_domain_as_the_reader_wrote_it(submit, client, topics):
    """Chromium sends an <input type=email>'s internationalised domain IDNA-encoded:
    a reader who typed user@例え.jp read "You typed user@xn--r8jz45g.jp" and could not
    tell whether that was their address (an international reader's walkthrough)."""
    submit("user@xn--r8jz45g.jp")
    assert "You typed <strong>user@例え.jp</strong>" in client.get("/subscribe/check-your-inbox/").content.decode()
    client.post("/subscription/", {"email": "ada@xn--bcher-kva.de"}, REMOTE_ADDR="203.0.113.9")
    assert "You typed <strong>ada@bücher.de</strong>" in client.get("/subscription/sent/").content.decode()


def test_with_no_active_topic_a_visitor_can_still_subscribe_and_save_preferences(submit, client, topics):
    """An editor turned every topic off: the form cannot ask for one (nobody could
    subscribe or save), and says what the digest brings instead."""
    from newsletter.models import Topic

    Topic.objects.update(is_active=False)
    html = client.get("/subscribe/").content.decode()
    assert "No topics to choose from yet" in html
    assert "pick at least one" not in html

    assert submit(topics=[]).status_code == 303
    reader = Subscriber.objects.get()
    assert not reader.topics.exists()

    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    response = client.post(manage, {
        "keywords": "agents", "exclude_keywords": "", "frequency": "daily", "weekday": "0",
        "delivery_hour": "8", "time_zone": "UTC", "papers_per_digest": "5",
    })
    assert response.status_code == 303
    reader.refresh_from_db()
    assert (reader.keywords, reader.delivery_hour) == ("agents", 8)

    # With a topic back, choosing one is required again.
    Topic.objects.filter(pk=topics[0].pk).update(is_active=True)
    assert "Pick at least one topic." in submit("other@example.com", topics=[]).content.decode()


def test_the_headers_subscribe_on_the_form_keeps_what_was_typed(client, submit, topics):
    """On a phone the header, with its black "Subscribe", stays in view while one
    fills the form (reached from the home page's "Continue"). Tapping it, as if it
    sent the form, loaded /subscribe/ afresh: the address, topics and keywords were
    gone, without a word. On the form's pages it now leads to the form's own
    Subscribe button, on the same page."""
    pages = [
        client.get("/subscribe/"),
        client.post("/subscribe/start/", {"email": "kim@example.com"}, follow=True),
        submit("kim@example.com", topics=[]),  # sent back with "Pick at least one topic."
    ]
    for response in pages:
        html = response.content.decode()
        cta = re.search(r'<a href="([^"]*)" class="site-nav__cta"', html).group(1)
        assert cta.startswith("#"), response.request["PATH_INFO"]
        assert re.search(rf'<button type="submit" id="{cta[1:]}"[^>]*>Subscribe</button>', html)


def test_a_readers_own_pages_do_not_ask_them_to_subscribe(client):
    """The header's "Subscribe" call stood over the confirm, unsubscribe and delete
    pages of a reader who had (a phone walkthrough); the subscribe page keeps it."""
    reader = SubscriberFactory()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    pages = [
        _path(tokens.confirm_url(subscriber=SubscriberFactory(status=Subscriber.Status.PENDING))),
        _path(tokens.subscriber_unsubscribe_url(subscriber=reader)),
        _path(tokens.subscriber_resubscribe_url(subscriber=reader)),
        f"{manage}delete/", manage,
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200 and 'class="site-nav__cta"' not in response.content.decode(), path
    assert 'class="site-nav__cta"' in client.get("/subscribe/").content.decode()


# --- "Email me a link to my preferences" -----------------------------------------


def test_a_reader_without_their_email_gets_a_link_to_their_preferences_by_email(
    client, outbox, django_capture_on_commit_callbacks
):
    """A reader whose confirmation link was used, or whose emails are gone, had no way
    back to their preferences (a phone walkthrough): the page said to wait for a
    digest. Now they give their address and the link goes to that inbox; the page
    is the same for any address, so it tells nobody who is on the list."""
    reader = SubscriberFactory(email="ada@example.com")
    pending = SubscriberFactory(email="grace@example.com", status=Subscriber.Status.PENDING)

    def ask(email, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscription/", {"email": email, **extra}, REMOTE_ADDR="203.0.113.9")

    pages = [ask(address) for address in ("Ada@Example.com", "nobody@example.com", "grace@example.com")]
    assert {(r.status_code, r["Location"]) for r in pages} == {(303, "/subscription/sent/")}
    sent = client.get("/subscription/sent/").content.decode()
    assert "If that address is on our list, an email with the link to its preferences is on its way" in sent

    linked, confirm = outbox
    assert linked.to == ["ada@example.com"] and linked.subject == "Your link to your Daily Papers Digest preferences"
    manage = next(p for p in _links(linked) if p.startswith("/manage/"))
    assert manage == _path(tokens.subscriber_manage_url(subscriber=reader))
    assert "You're subscribed" in client.get(manage).content.decode()
    # Not confirmed yet: the confirmation again, which is its only way in.
    assert confirm.to == [pending.email] and any(p.startswith("/confirm/") for p in _links(confirm))

    # Asked again within the window, or by a bot (the honeypot): nothing more.
    ask("ada@example.com")
    ask("ada@example.com", website="https://spam.example")
    assert len(outbox) == 2
    refused = client.post("/subscription/", {"email": "not an address"})
    assert refused.status_code == 400 and "Enter a valid email address" in refused.content.decode()


@pytest.mark.parametrize("form", ["/subscribe/", "/subscription/"])
def test_the_public_forms_do_the_same_work_in_the_request_for_any_address(
        client, topics, broker_own, django_capture_on_commit_callbacks, form):
    """A timing oracle (a security review, 7 December 2026): "email me my link" took
    1.8 ms for an unknown or suppressed address and 4.4 ms for a reader (medians of
    200; a lookup, a claim and a task queued for one, nothing for the other), and
    subscribe 10.3 ms unknown, 7.4 ms a reader, 4.2 ms suppressed. Now the request
    does the same for any address: the limits, the same queries, one task carrying
    the address (the lookup and the email are the worker's). Counted against a real
    broker of the test's own, nobody consuming it."""
    import redis
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from subscribers.suppression import address_suppress

    server, _ = broker_own
    queue = redis.Redis.from_url(server.url)
    now = timezone.now()
    addresses = {
        "unknown": "nobody@example.com",
        "active": SubscriberFactory(email="ada@example.com").email,
        "unsubscribed": SubscriberFactory(email="bea@example.com", status=Subscriber.Status.UNSUBSCRIBED).email,
        "pending": SubscriberFactory(email="cy@example.com", status=Subscriber.Status.PENDING).email,
        "pending, mailed just now": SubscriberFactory(
            email="di@example.com", status=Subscriber.Status.PENDING, confirmation_sent_at=now).email,
        "suppressed": SubscriberFactory(email="eve@example.com").email,
    }
    address_suppress(email="eve@example.com", reason=Suppression.Reason.COMPLAINT)
    work = {}
    for n, (state, email) in enumerate(addresses.items()):
        data = {"email": email, "website": ""}
        if form == "/subscribe/":
            data |= {"topics": [topics[0].pk], "keywords": "", "exclude_keywords": "", "frequency": "daily",
                     "weekday": "0", "delivery_hour": "7", "time_zone": "Europe/Berlin", "consent": "on"}
        before = queue.llen("celery")
        with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
            response = client.post(form, data, REMOTE_ADDR=f"203.0.113.{n + 1}")
        assert response.status_code == 303, (state, response.status_code)
        work[state] = (len(queries), queue.llen("celery") - before)
    assert set(work.values()) == {work["unknown"]}, work
    assert work["unknown"][1] == 1  # one task, for any address
    assert mail.outbox == []  # nothing was sent from the request itself


def test_a_reader_who_complained_gets_a_link_to_their_data_only_by_asking_for_it(
        client, outbox, django_capture_on_commit_callbacks):
    """Since bbaaf48 a spam complaint retires the reader's links (their old manage
    link answers 410), "email me my link" sent nothing to a suppressed address, and
    the export refused one: to see or delete their data (GDPR art. 15, 17) the reader
    had to write to a person. Now the 410 page and the form say the way, and asking
    mails a link (a reply to their own request, no List-Unsubscribe, at most one a
    day whoever asks) that opens their data only: export and delete, no digest
    settings, pause, address or resubscribe. The export reaches them; deleting
    keeps the complaint on the list."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="ada@example.com", keywords="agents")
    old_manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    address_suppress(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)
    gone = client.get(old_manage)
    assert gone.status_code == 410
    said = " ".join(gone.content.decode().split())
    assert "Email me a fresh link</a>" in said and "It works even if you marked our email as spam" in said
    assert 'href="/subscription/"' in said
    form = " ".join(client.get("/subscription/").content.decode().split())
    assert "get a copy of your data or delete it, even if you marked our email as spam" in form

    def ask():
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/subscription/", {"email": "Ada@example.com"}, REMOTE_ADDR="203.0.113.9")

    assert ask()["Location"] == "/subscription/sent/"
    (linked,) = outbox
    assert linked.to == ["ada@example.com"] and linked.subject == "Your link to your Daily Papers Digest data"
    assert "List-Unsubscribe" not in linked.extra_headers
    assert "marked as spam" in " ".join(linked.body.split())
    (data,) = {p for p in _links(linked) if p.startswith("/manage/")}
    page = client.get(data).content.decode()
    assert "Email me my data" in page and "Delete my data" in page and "marked as spam" in page
    for offered in ("Save preferences", "Resubscribe", "Pause 1 week", "Change my address", "Unsubscribe</button>"):
        assert offered not in page, offered
    saved = client.post(data, {"topics": [], "keywords": "survey", "frequency": "daily", "weekday": "0",
                               "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "8"})
    assert saved.status_code == 303 and Subscriber.objects.get(pk=reader.pk).keywords == "agents"

    with django_capture_on_commit_callbacks(execute=True):
        pressed = client.post(f"{data}export/")
    assert pressed["Location"].endswith("?done=export-sent#your-data")
    assert outbox[-1].to == ["ada@example.com"] and outbox[-1].attachments

    # Asked again after the email's window: nothing more that day.
    Subscriber.objects.update(confirmation_sent_at=timezone.now() - dt.timedelta(hours=1))
    ask()
    assert len(outbox) == 2

    deleting = client.get(f"{data}delete/").content.decode()
    assert "Keep my data" in deleting and "confirming that email takes the fingerprint off" not in deleting
    client.post(f"{data}delete/")
    assert not Subscriber.objects.filter(pk=reader.pk).exists()
    assert Suppression.objects.get(email_hash=email_hash("ada@example.com")).reason == "complained"


def test_a_complained_readers_request_that_mails_nothing_leaves_the_days_data_link_for_the_next(
        client, outbox, django_capture_on_commit_callbacks):
    """The one data link a day (DATA_LINK_WINDOW_SECONDS) is used by an email that
    went: a request that the address's email window stopped (an email went to it
    minutes before the complaint) mailed nothing, and until 8 December still used
    the day's link, so the reader who asked again after the window got nothing for
    a day."""
    from subscribers.suppression import address_suppress

    SubscriberFactory(email="ada@example.com", confirmation_sent_at=timezone.now() - dt.timedelta(minutes=1))
    address_suppress(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)

    def ask():
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")

    ask()
    assert outbox == []
    Subscriber.objects.update(confirmation_sent_at=timezone.now() - dt.timedelta(hours=1))
    ask()
    (linked,) = outbox
    assert linked.subject == "Your link to your Daily Papers Digest data"
    Subscriber.objects.update(confirmation_sent_at=timezone.now() - dt.timedelta(hours=1))
    ask()
    assert len(outbox) == 1


def test_the_data_only_pages_other_buttons_change_nothing_and_say_nothing_was_done(
        client, outbox, django_capture_on_commit_callbacks):
    """Whoever holds a complained reader's data link posts the buttons its page does
    not offer (an old page's, or typed). Nothing changed, but the page after
    Resubscribe said "You're subscribed again. Welcome back!" (title "Subscribed
    again") to an address no digest goes to, and after "Change my address" "Check
    your new inbox", though nothing was sent."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.UNSUBSCRIBED)
    address_suppress(email="ada@example.com", reason=Suppression.Reason.COMPLAINT)
    reader.refresh_from_db()
    data = _path(tokens.subscriber_manage_url(subscriber=reader))
    token = data.split("/")[2]
    before = Subscriber.objects.filter(pk=reader.pk).values().get()
    outbox.clear()
    # Its page, opened (the goodbye email's link takes the same token): its title said
    # "You're subscribed" above "We can't send to this address".
    opened = " ".join(client.get(f"/unsubscribe/{token}/resubscribe/").content.decode().split())
    assert "<title>We can't send to this address · " in opened and "<h1>We can't send to this address</h1>" in opened
    for path, body in ((f"/unsubscribe/{token}/resubscribe/", {}), (f"{data}address/", {"email": "new@example.org"}),
                       (f"{data}pause/", {"weeks": "4"}), (f"{data}resume/", {})):
        with django_capture_on_commit_callbacks(execute=True):
            pressed = client.post(path, body)
        assert pressed.status_code == 303, path
        page = " ".join(client.get(pressed["Location"]).content.decode().split())
        assert "<title>Your digest · " in page and "sf-flash" not in page, path
    assert Subscriber.objects.filter(pk=reader.pk).values().get() == before
    assert outbox == [] and not ConsentRecord.objects.filter(subscriber=reader).exclude(
        action=ConsentRecord.Action.SUBSCRIBE).exists()

@pytest.mark.parametrize("reason", [Suppression.Reason.HARD_BOUNCE, Suppression.Reason.EDITOR])
def test_a_suppressed_address_that_did_not_complain_gets_no_link_and_the_pages_say_what_becomes_of_its_data(
        client, outbox, django_capture_on_commit_callbacks, reason):
    """A bounced address takes no mail, and an editor's suppression (a spam trap, a
    role address) is not for a stranger's form to undo: no link is sent. The pages
    a reader of a bounced address reaches (their old link's 410, the form) say their
    data is deleted by itself UNSUBSCRIBED_KEPT_DAYS after we stopped sending."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="ada@example.com")
    old_manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    address_suppress(email="ada@example.com", reason=reason)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")
    assert outbox == []
    expected = "A bounced address gets none; its data is deleted 30 days after the bounce"
    assert expected in " ".join(client.get(old_manage).content.decode().split())
    assert "we delete its data by ourselves 30 days" in " ".join(client.get("/subscription/").content.decode().split())


def test_a_bot_filling_the_honeypot_of_lost_your_link_is_answered_as_anyone_and_mails_nobody(
    client, outbox, django_capture_on_commit_callbacks
):
    SubscriberFactory(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/subscription/", {"email": "ada@example.com", "website": "https://spam.example"},
                               REMOTE_ADDR="203.0.113.9")
    assert (response.status_code, response["Location"]) == (303, "/subscription/sent/")
    assert outbox == []


def test_the_pages_that_dead_end_offer_the_link_by_email(client):
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    token = tokens.confirm_token(subscriber=reader)
    used = client.get(f"/confirm/{token}/").content.decode()
    assert "This link was already used" in used and f'action="/confirm/{token}/links/"' in used
    assert 'href="/subscription/"' in client.get("/manage/not-a-valid-token/").content.decode()


def _csrf_post(csrf_client, path: str, page: str, **extra):
    """Press a form's button on `page` as a browser does: its CSRF token and cookie."""
    field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return csrf_client.post(path, {"csrfmiddlewaretoken": field}, **extra)


@pytest.mark.parametrize("status", [Subscriber.Status.ACTIVE, Subscriber.Status.UNSUBSCRIBED])
def test_a_used_confirm_links_button_emails_the_reader_their_links_without_typing_their_address(
        csrf_client, outbox, django_capture_on_commit_callbacks, status):
    """"Email me a link to my preferences" on the used-link page opened /subscription/
    and asked the reader to type the address the link already names. It is a button
    now, which emails their links through the form's service and limits: one email,
    to them; pressed again within the window, nothing more; without its CSRF token,
    nothing."""
    reader = SubscriberFactory(email="ada@example.com", status=status)
    SubscriberFactory(email="someone.else@example.com", status=Subscriber.Status.ACTIVE)
    token = tokens.confirm_token(subscriber=reader)
    used = csrf_client.get(f"/confirm/{token}/").content.decode()
    assert "This link was already used" in used and "ada@example.com" not in used
    assert 'href="/subscription/">Email me a link' not in used  # nothing to type
    assert re.search(r'<form method="post" action="/confirm/[^"]+/links/">.*?<button[^>]*>Email me a link to my preferences',
                     used, re.DOTALL)

    with django_capture_on_commit_callbacks(execute=True):
        pressed = _csrf_post(csrf_client, f"/confirm/{token}/links/", used, REMOTE_ADDR="203.0.113.9")
    assert (pressed.status_code, pressed["Location"]) == (303, "/subscription/sent/?by=link")
    assert [(m.to, m.tags) for m in outbox] == [(["ada@example.com"], ["links"])]
    assert any(p.startswith("/manage/") for p in _links(outbox[0]))
    # The page after it is the form's, and names no address; it spoke of "the address
    # you typed" to a reader who typed none.
    sent = " ".join(csrf_client.get(pressed["Location"]).content.decode().split())
    assert "ada@example.com" not in sent and "typed" not in sent and "If that address" not in sent
    assert "on its way to the address your confirmation link was sent to" in sent
    # The form's own page still speaks of what was typed.
    assert "check the address you typed" in csrf_client.get("/subscription/sent/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        again = _csrf_post(csrf_client, f"/confirm/{token}/links/", used, REMOTE_ADDR="203.0.113.9")
    assert again.status_code == 303 and len(outbox) == 1  # one email per address per window
    with django_capture_on_commit_callbacks(execute=True):
        forged = csrf_client.post(f"/confirm/{token}/links/", REMOTE_ADDR="203.0.113.9")
    assert forged.status_code == 403 and len(outbox) == 1
    assert csrf_client.get(f"/confirm/{token}/links/").status_code == 405


@override_settings(SUBSCRIBE_RATE_LIMIT_PER_IP=2, SUBSCRIBE_RATE_LIMIT_PER_ADDRESS=100)
def test_a_used_confirm_links_button_shares_the_forms_limits_and_its_429_page(client, outbox):
    """The button counts against the "email me my link" form's limits, and the other
    way round: it cannot be used to send more than the form could."""
    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.ACTIVE)
    token = tokens.confirm_token(subscriber=reader)
    client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9")
    client.post(f"/confirm/{token}/links/", REMOTE_ADDR="203.0.113.9")
    refused = client.post(f"/confirm/{token}/links/", REMOTE_ADDR="203.0.113.9")
    page = " ".join(refused.content.decode().split())
    assert refused.status_code == 429 and "If you already asked for your link, check your inbox" in page
    assert client.post("/subscription/", {"email": "ada@example.com"}, REMOTE_ADDR="203.0.113.9").status_code == 429


def test_a_used_confirm_links_button_keeps_the_links_checks(client, outbox, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    """A tampered link, an expired one still pending, or one that would still confirm
    gets the page its link gets, and no email; a suppressed address gets its page."""
    pending = SubscriberFactory(status=Subscriber.Status.PENDING)
    fresh = tokens.confirm_token(subscriber=pending)
    expired = _confirm_link_signed(pending, ago=dt.timedelta(days=30), monkeypatch=monkeypatch).strip("/").split("/")[-1]
    suppressed = SubscriberFactory(status=Subscriber.Status.SUPPRESSED)
    with django_capture_on_commit_callbacks(execute=True):
        tampered = client.post(f"/confirm/{fresh[:-2]}xx/links/")
        gone = client.post(f"/confirm/{expired}/links/")
        still_good = client.post(f"/confirm/{fresh}/links/")
        refused = client.post(f"/confirm/{tokens.confirm_token(subscriber=suppressed)}/links/")
    assert tampered.status_code == client.post(f"/confirm/{fresh[:-2]}xx/").status_code >= 400
    assert gone.status_code == 410 and "This link has expired" in gone.content.decode()
    assert (still_good.status_code, still_good["Location"]) == (303, f"/confirm/{fresh}/")
    assert "We can't send to this address" in refused.content.decode()
    assert outbox == []
    pending.refresh_from_db()
    assert pending.status == Subscriber.Status.PENDING


def test_an_email_someone_asked_for_does_not_say_they_subscribed(outbox):
    """The confirmation's footer said "You get this email because you subscribed",
    before anyone had (a phone walkthrough); so did the link and "already
    subscribed" emails, which anyone may ask for with an address."""
    from subscribers.services import (
        EMAIL_CONFIRM,
        EMAIL_GOODBYE,
        EMAIL_LINKS,
        subscriber_journey_email_send,
    )

    asked = {EMAIL_CONFIRM: SubscriberFactory(status=Subscriber.Status.PENDING),
             EMAIL_LINKS: SubscriberFactory(status=Subscriber.Status.ACTIVE)}
    for kind, reader in asked.items():
        subscriber_journey_email_send(subscriber_id=reader.pk, kind=kind)
    goodbye = SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    subscriber_journey_email_send(subscriber_id=goodbye.pk, kind=EMAIL_GOODBYE)
    *asked_for, subscribed = [m.alternatives[0][0] for m in outbox]
    for html in asked_for:
        assert "because someone asked for it with this address" in html and "because you subscribed" not in html
    assert "because you subscribed" in subscribed


def test_an_address_with_greek_or_cyrillic_letters_before_the_at_is_told_why_it_is_refused(submit, client, outbox):
    """δοκιμή@example.gr is a real address (RFC 6531), which the service cannot mail
    (Django's validator and the ESPs take ASCII before the @ only): the form said
    "Enter a valid email address." about an address its owner knows is valid, so
    they tried it again and again (an international reader's walkthrough). It now
    says what is wrong and what to do; a mistyped address still reads as before."""
    for typed in ("δοκιμή@example.gr", "почта@пример.рф"):
        response = submit(typed)
        assert response.status_code == 400
        html = response.content.decode()
        assert "We can only send to addresses with Latin letters (a–z), digits and . _ - + before the @" in html
        assert "Enter a valid email address." not in html
    response = client.post("/subscription/", {"email": "δοκιμή@example.gr"}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 400 and "Latin letters (a–z)" in response.content.decode()
    assert "Enter a valid email address." in submit("ada@@example.org").content.decode()
    assert not Subscriber.objects.exists() and outbox == []


def test_a_reader_who_never_got_a_digest_is_promised_a_first_one_on_confirming_again(client, submit, outbox):
    # The only digest made for this reader failed to send before they left: back by
    # the form, the page after confirming speaks of their first digest, not the next.
    from newsletter.models import Delivery, Edition

    reader = SubscriberFactory(email="back@example.com", status="unsubscribed", unsubscribed_at=timezone.now())
    Delivery.objects.create(subscriber=reader, edition=Edition.objects.create(date=dt.date(2025, 11, 24)),
                            status=Delivery.Status.FAILED)
    submit("back@example.com")

    page = client.post(next(p for p in _links(outbox[-1]) if p.startswith("/confirm/"))).content.decode()

    assert "Your first digest arrives" in page


def test_asking_for_ones_data_again_at_once_says_it_went_already_and_sends_no_second(client):
    # "Email me my data" pressed twice: the second time the reader is told it was
    # emailed minutes ago (look in the inbox and the spam folder), and no second
    # email goes out.
    manage = _path(tokens.subscriber_manage_url(subscriber=SubscriberFactory(email="me@example.com")))
    _exported(client, manage)

    again = client.post(f"{manage}export/", follow=True).content.decode()

    assert "We emailed it to" in again and "On its way" not in again
    assert len(mail.outbox) == 1
    # ... and for how long that holds, in minutes, before they may ask again.
    from subscribers.services import EXPORT_WINDOW_SECONDS

    assert f"less than {EXPORT_WINDOW_SECONDS // 60} minutes ago" in again


def test_asking_for_ones_data_at_an_address_we_cannot_mail_says_nothing_was_sent(client):
    """A reader whose address bounced opens their preferences from an old email
    ("We can't send to this address … so no digest goes out") and presses "Email me
    my data": the page said "On its way to b…: look in your inbox in a minute or
    two", and nothing ever came (no email of ours goes to a suppressed address). It
    now says nothing was sent, and why; pressing again says the same."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="bounced@example.com")
    old_manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    address_suppress(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    # An old email's link opens nothing since the suppression (it only unsubscribes,
    # test_once_an_address_is_suppressed_an_old_emails_links_cannot_delete_the_readers_data);
    # the page answers the same to a link of the reader's current secret.
    assert client.post(f"{old_manage}export/").status_code == 410
    reader.refresh_from_db()
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    for _ in range(2):
        page = " ".join(client.post(f"{manage}export/", follow=True).content.decode().split())
        assert "On its way" not in page and "We emailed it to" not in page
        assert "Nothing was sent: we can't email" in page
    assert mail.outbox == []


def test_pressing_resubscribe_lands_on_the_preferences_welcoming_the_reader_back(client):
    # After "Resubscribe" the reader sees their preferences say they are subscribed
    # again, not a page that looks as if nothing happened.
    reader = SubscriberFactory(status="unsubscribed", unsubscribed_at=timezone.now())

    page = client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)) + "resubscribe/", follow=True)

    assert "subscribed again. Welcome back!" in page.content.decode()


@pytest.mark.parametrize("status", [Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED])
def test_an_old_goodbyes_resubscribe_pressed_by_a_reader_subscribed_since_says_so_and_changes_nothing(
        client, status):
    """A reader who came back (and perhaps paused since) presses the Resubscribe
    button of an old goodbye email: they are subscribed, the page says so, and a
    pause stays as it was."""
    back = dt.date(2030, 1, 1)
    reader = SubscriberFactory(status=status, paused_until=back if status == Subscriber.Status.PAUSED else None)
    before = Subscriber.objects.filter(pk=reader.pk).values().get()
    page = client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)) + "resubscribe/", follow=True)
    assert "subscribed again. Welcome back!" in page.content.decode()
    assert Subscriber.objects.filter(pk=reader.pk).values().get() == before


def test_resubscribe_posted_for_a_reader_not_yet_confirmed_confirms_nothing_and_says_nothing(client):
    """Whoever holds a pending reader's unsubscribe link posts its Resubscribe: the
    address is not confirmed, so nothing changes, and the page after it does not
    say "You're subscribed again"."""
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    pressed = client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)) + "resubscribe/")
    assert pressed.status_code == 303 and "done=" not in pressed["Location"]
    assert "sf-flash" not in client.get(pressed["Location"]).content.decode()
    assert Subscriber.objects.get(pk=reader.pk).status == Subscriber.Status.PENDING


def _left_and_asked_again_on_the_form(client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """A reader of topics[0] who unsubscribed on the page (the goodbye email) and then
    subscribed again on the public form with topics[1] (its confirmation email):
    (reader, the goodbye's Resubscribe path, the confirmation's path)."""
    submit("both@example.com", topics=[topics[0].pk])
    client.post(next(p for p in _links(outbox[0]) if p.startswith("/confirm/")))
    reader = Subscriber.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})
    (resubscribe,) = [p for m in outbox if "unsubscribed" in m.subject
                      for p in _links(m) if p.endswith("/resubscribe/")]
    outbox.clear()
    submit("both@example.com", topics=[topics[1].pk], frequency="weekly")
    (confirm,) = [p for m in outbox for p in _links(m) if p.startswith("/confirm/")]
    return reader, resubscribe, confirm


def _followed_topics(client, reader) -> list[str]:
    page = client.get(_path(tokens.subscriber_manage_url(subscriber=reader))).content.decode()
    return re.findall(r'<input type="checkbox" name="topics" value="(\d+)"[^>]*checked', page)


def test_a_reader_who_resubscribes_and_then_confirms_the_forms_choices_gets_them_not_an_error(
        client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """An unsubscribed reader asked again on the form, choosing other topics, then
    pressed "Resubscribe" in their goodbye email, then the confirmation email's
    button: the page said "This link was already used … Nothing was changed", and
    they kept the topics they had left with. The confirmation, mailed for that
    request to their own mailbox, now gives them what they chose on the form."""
    reader, resubscribe, confirm = _left_and_asked_again_on_the_form(
        client, submit, outbox, topics, django_capture_on_commit_callbacks)

    client.post(resubscribe)
    assert Subscriber.objects.get().status == "active"
    # A confirmation the queue had not sent yet still goes: it carries their choice.
    from subscribers.services import EMAIL_CONFIRM, subscriber_journey_email_send

    outbox.clear()
    subscriber_journey_email_send(subscriber_id=reader.pk, kind=EMAIL_CONFIRM)
    assert len([p for m in outbox for p in _links(m) if p.startswith("/confirm/")]) == 1
    opened = " ".join(client.get(confirm).content.decode().split())
    assert "already used" not in opened and "Confirm my subscription</button>" in opened
    assert "is subscribed again. Press the button to get the digest with the topics" in opened
    page = " ".join(client.post(confirm).content.decode().split())

    assert "already used" not in page and "You're subscribed" in page
    reader.refresh_from_db()
    assert reader.status == "active" and reader.requested is None
    assert list(reader.topics.all()) == [topics[1]] and reader.frequency == "weekly"
    assert _followed_topics(client, reader) == [str(topics[1].pk)]
    # The link is used now: pressed again, it says so.
    assert "This link was already used" in client.post(confirm).content.decode()


def test_a_reader_who_paused_before_confirming_the_forms_choices_is_told_the_digest_waits_for_the_pause(
        client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """Back by Resubscribe, then paused for ten days, then the form's confirmation:
    the pause stays, and the page said "Your next digest arrives on <the pause's
    end>" as if that were any day; it says the digest comes when the pause ends, as
    the emails do."""
    reader, resubscribe, confirm = _left_and_asked_again_on_the_form(
        client, submit, outbox, topics, django_capture_on_commit_callbacks)
    client.post(resubscribe)
    Subscriber.objects.filter(pk=reader.pk).update(status=Subscriber.Status.PAUSED,
                                                   paused_until=dt.date.today() + dt.timedelta(days=10))

    page = " ".join(client.post(confirm).content.decode().split())

    assert Subscriber.objects.get(pk=reader.pk).status == "paused"
    assert re.search(r"Your (first|next) digest arrives [^.]*, when your pause ends\. After that,", page), page


def test_a_paused_reader_asking_for_their_link_reads_when_the_pause_ends_in_both_parts(
        client, outbox, django_capture_on_commit_callbacks):
    """The links email's HTML said "…, when your pause ends"; its plain-text part gave
    the date alone, as if digests came before it."""
    SubscriberFactory(email="resting@example.com", status=Subscriber.Status.PAUSED,
                      paused_until=dt.date.today() + dt.timedelta(days=10))
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/subscription/", {"email": "resting@example.com"}, REMOTE_ADDR="203.0.113.9")

    [message] = outbox
    html = next(body for body, mime in message.alternatives if mime == "text/html")
    for text in (message.body, html):
        assert re.search(r"Your next digest arrives [^.]*, when your pause ends\.", " ".join(text.split())), text


def test_choices_saved_in_the_preferences_after_resubscribing_outlast_the_forms_confirmation(
        client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """Back by Resubscribe, the reader chose their topics in the preference centre;
    the form's confirmation, pressed after, must not put back the form's older
    choice: it says the subscription needs nothing more."""
    reader, resubscribe, confirm = _left_and_asked_again_on_the_form(
        client, submit, outbox, topics, django_capture_on_commit_callbacks)
    client.post(resubscribe)
    reader.refresh_from_db()  # leaving gave them a new secret: the goodbye's links are its
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))
    client.post(manage, {"topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "9",
                         "time_zone": "UTC", "papers_per_digest": "5", "keywords": "", "exclude_keywords": ""})
    reader.refresh_from_db()
    assert list(reader.topics.all()) == [topics[0]] and reader.delivery_hour == 9

    page = " ".join(client.post(confirm).content.decode().split())

    assert "This link was already used" in page and "needs nothing more" in page
    reader.refresh_from_db()
    assert reader.status == "active" and list(reader.topics.all()) == [topics[0]]
    assert reader.frequency == "daily" and reader.delivery_hour == 9


def test_a_reader_who_confirms_the_forms_choices_and_then_presses_resubscribe_keeps_them(
        client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """The other order: the confirmation first, then the goodbye email's
    "Resubscribe": subscribed with the form's topics, and the Resubscribe link says
    they are subscribed (its button, from a page left open, changes nothing)."""
    reader, resubscribe, confirm = _left_and_asked_again_on_the_form(
        client, submit, outbox, topics, django_capture_on_commit_callbacks)

    assert "You're subscribed" in " ".join(client.post(confirm).content.decode().split())
    opened = client.get(resubscribe).content.decode()
    assert "<title>You're subscribed" in opened and "Resubscribe</button>" not in opened
    client.post(resubscribe)

    reader.refresh_from_db()
    assert reader.status == "active" and list(reader.topics.all()) == [topics[1]] and reader.frequency == "weekly"


def test_a_reader_who_left_and_opens_their_old_confirmation_is_not_told_a_digest_comes(
        client, submit, outbox, topics, django_capture_on_commit_callbacks):
    """Subscribed, confirmed, unsubscribed, then the confirmation email's button again
    (to come back): the page said "The subscription it confirms needs nothing more …
    the first comes at the time you chose", and no digest ever came. It now says the
    subscription was unsubscribed since, and where "Resubscribe" is."""
    submit("left@example.com")
    confirm = next(p for p in _links(outbox[0]) if p.startswith("/confirm/"))
    client.post(confirm)
    reader = Subscriber.objects.get()
    client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)), {"from_page": "1"})

    for response in (client.get(confirm), client.post(confirm)):
        page = " ".join(response.content.decode().split())
        assert "This link was already used" in page
        assert "needs nothing more" not in page and "the first comes at the time you chose" not in page
        assert "was unsubscribed since" in page and "Resubscribe" in page
        assert 'href="/subscription/"' in page
    assert Subscriber.objects.get().status == "unsubscribed"


@pytest.mark.parametrize("days", [1, 30])
def test_the_preference_centre_costs_the_same_few_queries_for_1_and_30_days_of_editions(
    client, django_assert_num_queries, topics, days
):
    """The page says when the next digest comes (newsletter/due.py next_digest), which
    reads the reader's newest delivery and the edition the dispatcher would send: a
    few queries, however many lists and digests there were."""
    from newsletter.editions import edition_assemble
    from newsletter.models import Delivery

    reader = SubscriberFactory(delivery_hour=9, time_zone="UTC")
    reader.topics.add(topics[0])
    today = timezone.now().date()
    for back in range(days):
        PaperFactory(trending_date=today - dt.timedelta(days=back))
        edition = edition_assemble(date=today - dt.timedelta(days=back))
        Delivery.objects.create(edition=edition, subscriber=reader, status=Delivery.Status.SENT)
    manage = _path(tokens.subscriber_manage_url(subscriber=reader))

    # The reader, their topics, whether any topic is active, their newest digest's
    # date, the morning fetch's schedule, the newest date with papers and the newest
    # edition (what the dispatcher would send), the topics of the form, feedback.
    with django_assert_num_queries(9):
        response = client.get(f"{manage}?done=saved")
    assert response.status_code == 200 and "Saved. Your next digest, " in response.content.decode()


def test_the_confirmation_repeats_no_text_typed_on_the_form(submit, outbox, topics):
    """The confirmation goes to an address nobody has confirmed: whatever the form's
    free-text fields carry would be a message from us, signed by our domain, that
    anyone can send to anyone ("Visit … to keep your account"). It names the topics,
    chosen from our list, and nothing typed (4faccdd echoed the keywords for a
    reader's walkthrough; the fuzz test of header breakers found "Bcc: …" in the body)."""
    bait = "Your account is locked: visit https://evil.example/unlock now"
    submit(keywords=bait, exclude_keywords=bait)

    (message,) = outbox
    for part in (message.body, message.alternatives[0][0], message.subject):
        assert "evil.example" not in part and "locked" not in part


def test_a_term_is_refused_from_three_in_four_of_the_papers_once_there_are_fifty(client, topics):
    """The rule's edges, as its numbers say: a term said by exactly three in four of
    the newest papers is refused (39 of 52), and so it is once there are exactly 50
    papers (39 of 50); "model" is the reader's term, and the other papers say none of it."""
    from newsletter.reader_keywords import KEYWORD_COMMON_PAPERS_LEAST, KEYWORD_COMMON_SHARE

    said = [PaperFactory(title=f"A model of graphs {n}", abstract="We colour graphs.",
                         trending_date=dt.date(2025, 11, 20)) for n in range(39)]
    others = [PaperFactory(title=f"Graph colouring {n}", abstract="We colour graphs.",
                           trending_date=dt.date(2025, 11, 20)) for n in range(13)]
    assert len(said) == KEYWORD_COMMON_SHARE * (len(said) + len(others))
    manage = _path(tokens.subscriber_manage_url(subscriber=SubscriberFactory()))
    form = {"topics": [topics[0].pk], "frequency": "daily", "weekday": "0", "delivery_hour": "7",
            "time_zone": "UTC", "papers_per_digest": "10", "exclude_keywords": "model"}

    response = client.post(manage, form)
    assert response.status_code == 400
    assert "“model” is in 39 of the 52 newest papers" in response.content.decode()

    for paper in others[:2]:
        paper.delete()
    assert len(said) + len(others) - 2 == KEYWORD_COMMON_PAPERS_LEAST
    response = client.post(manage, form)
    assert response.status_code == 400
    assert "“model” is in 39 of the 50 newest papers" in response.content.decode()


def test_a_term_is_judged_on_the_newest_papers_not_the_older_ones(client, topics, monkeypatch):
    """What papers say changes with the field: a term is judged on the newest
    KEYWORD_COMMON_PAPERS papers (50 here), not on older ones (100 that never say it)."""
    from newsletter import reader_keywords

    monkeypatch.setattr(reader_keywords, "KEYWORD_COMMON_PAPERS", 50)
    for n in range(100):
        PaperFactory(title=f"Graph colouring {n}", abstract="We colour graphs.", trending_date=dt.date(2025, 11, 1))
    for n in range(50):
        PaperFactory(title=f"A model of graphs {n}", abstract="We colour graphs.", trending_date=dt.date(2025, 11, 20))
    manage = _path(tokens.subscriber_manage_url(subscriber=SubscriberFactory()))

    response = client.post(manage, {"topics": [topics[0].pk], "frequency": "daily", "weekday": "0",
                                    "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "10",
                                    "exclude_keywords": "model"})

    assert response.status_code == 400
    assert "“model” is in 50 of the 50 newest papers" in response.content.decode()
