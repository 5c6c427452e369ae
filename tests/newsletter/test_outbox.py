"""The local outbox pages (/outbox/), fed by newsletter/outbox.py."""

import datetime as dt

import pytest
from django.core.mail import EmailMultiAlternatives

from newsletter.models import OutboxEmail

pytestmark = pytest.mark.django_db

HTML = '<p style="color:red">Hello <b>reader</b> &amp; friends</p><script>alert("x")</script>'


@pytest.fixture
def outbox(settings):
    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"


def send(subject="Your papers for Monday", to="ada@example.com", html=HTML) -> OutboxEmail:
    message = EmailMultiAlternatives(
        subject=subject,
        body="Hello reader, here are today's papers.\n\n1. A paper",
        to=[to],
        headers={
            "List-Unsubscribe": "<https://example.com/u/abc>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    if html:
        message.attach_alternative(html, "text/html")
    message.send()
    return OutboxEmail.objects.get(subject=subject)


@pytest.fixture
def staff_client(client, django_user_model):
    """An administrator: the one who may read every email of the outbox."""
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@example.org", "pw"))
    return client


@pytest.mark.parametrize("path", ["/outbox/", "/outbox/{id}/", "/outbox/{id}/html/"])
def test_outbox_is_404_for_anonymous_and_non_staff_in_production(
    client, django_user_model, outbox, settings, path
):
    settings.DEBUG = False
    email = send()
    url = path.format(id=email.pk)

    assert client.get(url).status_code == 404
    client.force_login(django_user_model.objects.create_user("reader"))
    assert client.get(url).status_code == 404


def test_the_sites_outbox_link_shows_only_to_whom_the_outbox_opens(client, django_user_model, settings):
    """Outside local development a reader's page links no outbox (it is a 404 to
    them); an administrator's links it."""
    settings.DEBUG = False
    outbox_link = '<a href="/outbox/">Outbox</a>'

    assert outbox_link not in client.get("/subscribe/").content.decode()
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@example.org", "pw"))
    assert outbox_link in client.get("/subscribe/").content.decode()


def test_outside_local_development_an_editor_reads_only_the_emails_sent_to_them(client, django_user_model, outbox, settings):
    """Each reader's email carries their preference-centre link, which acts as them
    (the readers' admin shows it to superusers only). An editor still reads their own
    test sends there."""
    settings.DEBUG = False
    readers = send(subject="Your papers", to="ada@example.com")
    own = send(subject="[Test] Your papers", to="Editor@Example.org")
    client.force_login(django_user_model.objects.create_user("editor", "editor@example.org", is_staff=True))

    listed = client.get("/outbox/").content.decode()
    assert "[Test] Your papers" in listed and "ada@example.com" not in listed
    assert "You see the emails sent to your address" in listed
    assert client.get(f"/outbox/{own.pk}/").status_code == 200
    for path in ("/outbox/{id}/", "/outbox/{id}/html/"):
        assert client.get(path.format(id=readers.pk)).status_code == 404


def test_outbox_is_open_to_anyone_in_local_development(client, outbox, settings):
    send()
    settings.DEBUG = True

    assert client.get("/outbox/").status_code == 200


def test_outbox_lists_newest_first_with_recipient_subject_and_time(staff_client, outbox):
    send(subject="First", to="first@example.com")
    send(subject="Second", to="second@example.com")

    response = staff_client.get("/outbox/")
    html = response.content.decode()

    assert response.status_code == 200
    assert html.index("Second") < html.index("First")
    assert "second@example.com" in html and "first@example.com" in html
    assert "<time datetime=" in html


def test_outbox_times_say_which_zone_they_are_in(staff_client, outbox):
    email = send()
    OutboxEmail.objects.filter(pk=email.pk).update(created_at=dt.datetime(2025, 11, 24, 15, 44, 5, tzinfo=dt.UTC))

    listed = staff_client.get("/outbox/").content.decode()
    detail = staff_client.get(f"/outbox/{email.pk}/").content.decode()

    assert "24 Nov, 15:44 UTC" in listed
    assert "Mon, 24 Nov 2025 15:44:05 UTC" in detail


def test_outbox_list_is_paginated(staff_client, outbox):
    for n in range(52):
        send(subject=f"Email number {n:02d}")

    first = staff_client.get("/outbox/").content.decode()
    second = staff_client.get("/outbox/?page=2").content.decode()

    assert "Email number 51" in first and "Email number 02" in first
    assert "Email number 01" not in first
    assert "Email number 01" in second and "Email number 00" in second
    assert "Page 2 of 2" in second


def test_outbox_empty_state(staff_client):
    assert "The outbox is empty" in staff_client.get("/outbox/").content.decode()


def test_detail_shows_headers_the_sandboxed_html_part_and_the_text_part(staff_client, outbox):
    email = send()

    response = staff_client.get(f"/outbox/{email.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "ada@example.com" in html
    assert "List-Unsubscribe" in html and "&lt;https://example.com/u/abc&gt;" in html
    assert "List-Unsubscribe=One-Click" in html
    # The HTML part sits escaped in a sandboxed iframe: the browser renders it there,
    # without scripts, and none of it runs in this page.
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in html
    # Its links open in a new tab (newsletter_site.email_previewed), not in the frame.
    assert ("srcdoc=\"&lt;base target=&quot;_blank&quot;&gt;"
            "&lt;p style=&quot;color:red&quot;&gt;Hello &lt;b&gt;reader&lt;/b&gt; &amp;amp; friends") in html
    assert "<script>alert" not in html
    assert "<pre class=\"text-part\" tabindex=\"0\" aria-label=\"Plain-text part\">Hello reader, here are today&#x27;s papers." in html


def test_detail_of_a_text_only_email_has_no_frame(staff_client, outbox):
    email = send(html="")

    html = staff_client.get(f"/outbox/{email.pk}/").content.decode()

    assert "<iframe" not in html
    assert "Hello reader" in html


def test_raw_html_view_is_served_under_a_sandbox_csp(staff_client, outbox):
    email = send()

    response = staff_client.get(f"/outbox/{email.pk}/html/")

    assert response.status_code == 200
    assert response.content.decode() == HTML
    assert response["Content-Security-Policy"].startswith("sandbox")


def test_unknown_email_is_404(staff_client):
    assert staff_client.get("/outbox/999999/").status_code == 404


def test_a_digest_in_the_outbox_played_back_as_bounced_suppresses_the_reader_once(client, outbox, settings):
    """Without an ESP nothing bounces, so a person trying the product could not see
    what a bounce or a complaint does (the walkthrough of 5 December). The message
    page records one as the provider's webhook would: tied to its delivery by the
    message's metadata, the address suppressed, the edition's figures counting it;
    pressed again, nothing more. Opened as a link, it records nothing."""
    from newsletter.models import Delivery, DeliveryEvent, Edition
    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory

    settings.DEBUG = True
    reader = SubscriberFactory(email="ada@example.com")
    delivery = Delivery.objects.create(subscriber=reader, edition=Edition.objects.create(date=dt.date(2025, 11, 24)), status=Delivery.Status.SENT)
    message = EmailMultiAlternatives(subject="Your papers", body="1. A paper", to=[reader.email])
    message.metadata = {"delivery_id": str(delivery.pk)}
    message.send()
    email = OutboxEmail.objects.get()
    url = f"/outbox/{email.pk}/event/bounced/"

    assert client.get(url)["Location"] == f"/outbox/{email.pk}/" and not DeliveryEvent.objects.exists()
    response = client.post(url)
    assert response.status_code == 303
    page = client.get(response["Location"]).content.decode()
    assert "Recorded as a hard bounce" in page and "ada@example.com gets no more email from us" in page

    event = DeliveryEvent.objects.get()
    assert (event.delivery, event.event_type) == (delivery, "bounced")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED

    again = client.get(client.post(url)["Location"]).content.decode()
    assert "Already recorded as a hard bounce: nothing changed." in again
    assert DeliveryEvent.objects.count() == 1
    assert client.post(f"/outbox/{email.pk}/event/opened/").status_code == 404


def test_the_outbox_events_are_closed_outside_local_development(client, outbox, settings):
    settings.DEBUG = False
    email = send()
    assert client.post(f"/outbox/{email.pk}/event/bounced/").status_code == 404


def test_an_emails_attachment_is_listed_and_downloads_as_it_was_sent(staff_client, outbox):
    """The data export says its file is attached; the outbox showed no attachment, so
    a person trying the product locally could not open their export (a phone
    walkthrough)."""
    from subscribers.services import EMAIL_EXPORT, subscriber_journey_email_send
    from tests.factories import SubscriberFactory, export_data

    reader = SubscriberFactory(email="ada@example.com")
    subscriber_journey_email_send(subscriber_id=reader.pk, kind=EMAIL_EXPORT)
    email = OutboxEmail.objects.get()
    page = staff_client.get(f"/outbox/{email.pk}/").content.decode()
    link = f'/outbox/{email.pk}/attachment/0/'
    assert f'<a href="{link}" download>daily-papers-digest-my-data.zip</a>' in page

    response = staff_client.get(link)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="daily-papers-digest-my-data.zip"'
    # A reader's data is never shown by a search engine, should the link leak.
    assert response["X-Robots-Tag"] == "noindex"
    assert export_data(response.content)["email"] == "ada@example.com"
    assert staff_client.get(f"/outbox/{email.pk}/attachment/1/").status_code == 404
    from django.test import Client

    assert Client().get(link).status_code == 404  # not signed in, outside local development


def test_an_account_that_is_no_longer_staff_reads_no_email_not_even_its_own(client, django_user_model, outbox, settings):
    # An editor whose staff access was taken away, still signed in and with the
    # same address, no longer opens the outbox, their old test sends included.
    settings.DEBUG = False
    own = send(subject="[Test] Your papers", to="former@example.org")
    client.force_login(django_user_model.objects.create_user("former", "former@example.org"))

    assert client.get("/outbox/").status_code == 404
    assert client.get(f"/outbox/{own.pk}/").status_code == 404


def test_a_play_back_link_asked_for_by_head_records_nothing(client, outbox, settings):
    # A link checker or preview asking with HEAD is not a person pressing "play back
    # as a spam complaint": nothing is recorded, and no address is suppressed.
    from newsletter.models import DeliveryEvent

    settings.DEBUG = True
    email = send()

    assert client.head(f"/outbox/{email.pk}/event/complained/").status_code == 302
    assert not DeliveryEvent.objects.exists()


def test_a_text_only_email_has_no_html_part_to_open(staff_client, outbox):
    # An email sent as plain text has no HTML part: its "full size" address is a
    # 404, not a blank page.
    email = send(html="")

    assert staff_client.get(f"/outbox/{email.pk}/html/").status_code == 404


def test_the_full_size_html_part_runs_no_script_and_is_not_this_site(staff_client, outbox):
    # An email's HTML, opened full size, cannot run its scripts nor act as this site
    # (read the editor's session, post forms as them): its sandbox allows neither.
    email = send()

    policy = staff_client.get(f"/outbox/{email.pk}/html/")["Content-Security-Policy"].split()

    assert policy[0] == "sandbox"
    assert "allow-scripts" not in policy and "allow-same-origin" not in policy


def test_the_detail_names_the_sender_and_every_recipient_of_an_email_to_two_people(staff_client, outbox):
    # The error emails to ADMINS go to everyone listed there in one message.
    EmailMultiAlternatives(subject="[Django] Server error", body="Traceback", to=["ada@example.com", "bob@example.com"],
                           from_email="Daily Papers Digest <digest@example.org>").send()
    email = OutboxEmail.objects.get()

    html = staff_client.get(f"/outbox/{email.pk}/").content.decode()

    assert "<dt>From</dt><dd>Daily Papers Digest &lt;digest@example.org&gt;</dd>" in html
    assert "<dt>To</dt><dd>ada@example.com, bob@example.com</dd>" in html


def test_a_message_shows_its_tags_and_the_message_id_its_sender_was_given(staff_client, outbox):
    # The id the sender stores (a digest's Delivery.provider_message_id) is the one the
    # outbox page shows, so an editor finds the message a delivery row names.
    message = EmailMultiAlternatives(subject="Your papers", body="1. A paper", to=["ada@example.com"])
    message.tags = ["digest"]
    message.send()
    sent_id = message.anymail_status.message_id
    email = OutboxEmail.objects.get()

    listed = staff_client.get("/outbox/").content.decode()
    detail = staff_client.get(f"/outbox/{email.pk}/").content.decode()

    assert sent_id and f"<dt>Message-ID</dt><dd><code>{sent_id}</code></dd>" in detail
    assert '<span class="chip chip--small">digest</span>' in listed
    assert '<span class="chip chip--small">digest</span>' in detail


def test_an_attachment_sent_without_a_file_name_downloads_as_attachment(staff_client, outbox):
    message = EmailMultiAlternatives(subject="Your papers", body="1. A paper", to=["ada@example.com"])
    message.attach(None, b"plain words", "text/plain")
    message.send()
    email = OutboxEmail.objects.get()

    page = staff_client.get(f"/outbox/{email.pk}/").content.decode()
    response = staff_client.get(f"/outbox/{email.pk}/attachment/0/")

    assert f'<a href="/outbox/{email.pk}/attachment/0/" download>attachment</a>' in page
    assert response["Content-Disposition"] == 'attachment; filename="attachment"'
    assert response.content == b"plain words"


def test_each_message_and_kind_played_back_is_recorded_once_and_suppresses_its_address(client, outbox, settings):
    """A confirmation (no delivery behind it) played back as a bounce, then as a
    complaint, and another message as a bounce: each is recorded, not taken for a
    replay of the first, and each address is suppressed with a note that tells
    editors (Admin → Suppressions) it was played back, not reported by a provider."""
    from newsletter.models import DeliveryEvent
    from subscribers.models import Suppression
    from subscribers.suppression import email_hash

    settings.DEBUG = True
    first = send(subject="Confirm your subscription", to="ada@example.com")
    second = send(subject="Confirm yours too", to="bob@example.com")

    for email, kind, said in [(first, "bounced", "a hard bounce"), (first, "complained", "a spam complaint"),
                              (second, "bounced", "a hard bounce")]:
        page = client.get(client.post(f"/outbox/{email.pk}/event/{kind}/")["Location"]).content.decode()
        assert f"Recorded as {said}, as the provider's webhook would report it" in page

    assert DeliveryEvent.objects.count() == 3
    assert Suppression.objects.get(email_hash=email_hash("ada@example.com")).reason == "complained"
    assert Suppression.objects.get(email_hash=email_hash("bob@example.com")).note == (
        "Outbox bounced: Played back from the local outbox as a hard bounce")
