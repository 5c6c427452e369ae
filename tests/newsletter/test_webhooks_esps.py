"""The operator switches ESP (docs/esp-switch.md): each ESP's real tracking events,
posted as that ESP posts them to its URL, act on the reader as Postmark's do
(tests/newsletter/test_webhooks.py). The bodies are the shapes of django-anymail's
own tests (tests/test_<esp>_webhooks.py), with our metadata and recipient."""

import datetime as dt
import hashlib
import hmac
import json
from html import unescape

import pytest
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from botocore.session import get_session
from botocore.stub import Stubber
from django.urls import reverse
from django.utils import timezone

from newsletter.models import Delivery, DeliveryEvent, Edition
from newsletter.webhooks import NOT_SPAM, SOFT_BOUNCED
from subscribers.models import Subscriber, Suppression
from subscribers.suppression import email_hash
from tests import webhooks
from tests.factories import SubscriberFactory
from tests.newsletter.test_webhooks import bounce as postmark_bounce

pytestmark = [
    pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret"),
    # anymail 15 warns that it no longer supports SendGrid officially (README).
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

READER = "reader@example.com"


def _amazon_ses(kind: str, *, delivery_id: str, event_id: str) -> tuple[dict, dict]:
    """An SNS notification of an SES event (anymail's test_amazon_ses_webhooks.py;
    docs.aws.amazon.com/ses/latest/dg/notification-examples.html). The digest's
    metadata comes back in its X-Metadata header."""
    mail = {
        "timestamp": "2025-11-24T07:00:00.000Z", "source": "digest@example.com",
        "messageId": "0100019ab2c3d4e5-ses-message-id-000000", "destination": [READER],
        "headersTruncated": False,
        "headers": [{"name": "X-Tag", "value": "digest"},
                    {"name": "X-Metadata", "value": json.dumps({"delivery_id": delivery_id})}],
    }
    bounce = {"reportingMTA": "dns; mx.example.com", "timestamp": "2025-11-24T07:00:05.000Z",
              "feedbackId": "0100019ab2c3d4e5-feedback-000000"}
    events = {
        "delivered": {"notificationType": "Delivery", "delivery": {
            "timestamp": "2025-11-24T07:00:01.000Z", "recipients": [READER], "processingTimeMillis": 546,
            "reportingMTA": "a8-70.smtp-out.amazonses.com", "smtpResponse": "250 ok: Message accepted"}},
        "hard": {"notificationType": "Bounce", "bounce": {
            **bounce, "bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [{
                "emailAddress": READER, "status": "5.1.1", "action": "failed",
                "diagnosticCode": f"smtp; 550 5.1.1 <{READER}>... User unknown"}]}},
        "soft": {"notificationType": "Bounce", "bounce": {
            **bounce, "bounceType": "Transient", "bounceSubType": "MailboxFull", "bouncedRecipients": [{
                "emailAddress": READER, "status": "4.2.2", "action": "failed",
                "diagnosticCode": "smtp; 452 4.2.2 Mailbox full"}]}},
        # SES could not tell why: not "Permanent", so not a reason to drop the reader.
        "undetermined": {"notificationType": "Bounce", "bounce": {
            **bounce, "bounceType": "Undetermined", "bounceSubType": "Undetermined", "bouncedRecipients": [{
                "emailAddress": READER, "status": "4.0.0", "action": "failed",
                "diagnosticCode": "smtp; 421 4.0.0 Try again later"}]}},
        "complaint": {"notificationType": "Complaint", "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)", "complainedRecipients": [{"emailAddress": READER}],
            "complaintFeedbackType": "abuse", "timestamp": "2025-11-24T08:00:00.000Z"}},
        # A feedback loop's report that the message is not spam (a correction).
        "not_spam": {"notificationType": "Complaint", "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)", "complainedRecipients": [{"emailAddress": READER}],
            "complaintFeedbackType": "not-spam", "timestamp": "2025-11-24T08:00:00.000Z"}},
        "rejected": {"eventType": "Reject", "reject": {"reason": "Bad content"}},
    }
    sns = {"Type": "Notification", "MessageId": event_id,
           "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
           "Message": json.dumps({**events[kind], "mail": mail}), "Timestamp": "2025-11-24T07:00:06.000Z"}
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_ID": event_id, "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"}
    return sns, headers


def _mailgun(kind: str, *, delivery_id: str, event_id: str) -> tuple[dict, dict]:
    """Mailgun's webhook body (anymail's test_mailgun_webhooks.py), signed with the
    webhook signing key; our metadata comes back as user-variables."""
    data = {
        "timestamp": 1763967600.389832, "recipient": READER, "user-variables": {"delivery_id": delivery_id},
        "tags": ["digest"], "message": {"headers": {
            "to": READER, "from": "digest@example.com",
            "message-id": "20251124070000.1.0DF563D0B3597700@mg.example.com"}},
    }
    events = {
        "delivered": {"event": "delivered", "delivery-status": {
            "code": 250, "message": "OK", "description": "", "attempt-no": 1}},
        "hard": {"event": "failed", "severity": "permanent", "reason": "bounce", "delivery-status": {
            "code": 550, "description": "", "attempt-no": 1,
            # Receiving servers often name the address in their answer.
            "message": f"5.1.1 <{READER}>: The email account that you tried to reach does not exist."}},
        "soft": {"event": "failed", "severity": "temporary", "reason": "generic", "delivery-status": {
            "code": 452, "description": "", "attempt-no": 1, "message": "4.2.2 Mailbox full"}},
        "complaint": {"event": "complained"},
        "unsubscribe": {"event": "unsubscribed"},
        "rejected": {"event": "rejected", "reject": {"reason": "Sandbox subdomains are for test purposes only",
                                                     "description": ""}},
    }
    timestamp = "1763967600"
    signature = hmac.new(webhooks.MAILGUN_SIGNING_KEY.encode(), f"{timestamp}{event_id}".encode(), hashlib.sha256)
    body = {"signature": {"timestamp": timestamp, "token": event_id, "signature": signature.hexdigest()},
            "event-data": {**data, **events[kind], "id": event_id}}
    return body, {}


def _brevo(kind: str, *, delivery_id: str, event_id: str) -> tuple[dict, dict]:
    """Brevo's transactional webhook body (anymail's test_brevo_webhooks.py); our
    metadata comes back in X-Mailin-custom. Brevo gives no event id."""
    events = {"delivered": "delivered", "hard": "hard_bounce", "soft": "soft_bounce", "complaint": "spam",
              "unsubscribe": "unsubscribe", "invalid": "invalid_email", "blocklisted": "blocked"}
    reasons = {"hard": " RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable.",
               "soft": "undefined Unable to find MX of domain example.com"}
    body = {"event": events[kind], "email": READER, "id": 1234,
            "message-id": "<202511240700.9876543210@smtp-relay.mailin.fr>",
            "ts_epoch": 1763967600000 + int(event_id[-3:], 16), "tags": ["digest"],
            "X-Mailin-custom": json.dumps({"delivery_id": delivery_id})}
    if kind in reasons:
        body["reason"] = reasons[kind]
    return body, {}


def _sendgrid(kind: str, *, delivery_id: str, event_id: str) -> tuple[list, dict]:
    """SendGrid's event webhook body, a list of events (anymail's
    test_sendgrid_webhooks.py); our metadata comes back as top-level custom args."""
    events = {
        "delivered": {"event": "delivered", "response": "250 2.0.0 OK"},
        "hard": {"event": "bounce", "type": "bounce", "status": "5.1.1",
                 "reason": "550 5.1.1 The email account that you tried to reach does not exist."},
        "soft": {"event": "bounce", "type": "blocked", "status": "4.7.1",
                 "reason": "421 4.7.1 Temporarily deferred due to unexpected volume"},
        # The receiving server asked SendGrid to try again later (greylisting); it does.
        "deferred": {"event": "deferred", "attempt": "1",
                     "response": "450 4.2.0 Recipient address rejected: Greylisted, try again later"},
        "complaint": {"event": "spamreport"},
        "unsubscribe": {"event": "unsubscribe"},
        "dropped_invalid": {"event": "dropped", "reason": "Invalid"},
        # Dropped because the address is on SendGrid's bounce or unsubscribe list.
        "dropped_bounced": {"event": "dropped", "reason": "Bounced Address"},
        "dropped_unsubscribed": {"event": "dropped", "reason": "Unsubscribed Address"},
        "rejected": {"event": "dropped", "reason": "Spam Content (if spam checker app enabled)"},
    }
    event = {"email": READER, "timestamp": 1763967600, "smtp-id": "<wrfRRvF7Q0GgwUo2CvDmEA@example.com>",
             "sg_event_id": event_id, "sg_message_id": "wrfRRvF7Q0GgwUo2CvDmEA.filter0425p1mdw1.13037.0",
             "category": ["digest"], "delivery_id": delivery_id, **events[kind]}
    return [event], {}


ESPS = {
    "amazon_ses": (_amazon_ses, "text/plain; charset=UTF-8"),  # SNS posts its JSON as text/plain
    "mailgun": (_mailgun, "application/json"),
    "brevo": (_brevo, "application/json"),
    "sendgrid": (_sendgrid, "application/json"),
}
# What each ESP's soft bounce above says, as the admin shows it.
ESP_SOFT_REASONS = {"amazon_ses": "Transient: MailboxFull", "mailgun": "4.2.2 Mailbox full",
                    "brevo": "Unable to find MX", "sendgrid": "Temporarily deferred"}
# What each kind of event leaves: the reader's status, the suppression's reason, the
# event as stored. Not every ESP has every kind (anymail maps no SES unsubscribe).
OUTCOMES = {
    "delivered": (Subscriber.Status.ACTIVE, None, "delivered"),
    "hard": (Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE, "bounced"),
    "soft": (Subscriber.Status.ACTIVE, None, SOFT_BOUNCED),
    "undetermined": (Subscriber.Status.ACTIVE, None, SOFT_BOUNCED),
    "complaint": (Subscriber.Status.SUPPRESSED, Suppression.Reason.COMPLAINT, "complained"),
    "unsubscribe": (Subscriber.Status.UNSUBSCRIBED, None, "unsubscribed"),
    "invalid": (Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE, "bounced"),
    "dropped_invalid": (Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE, "rejected"),
    # The ESP refuses every digest to it: as a hard bounce, or as the reader's
    # unsubscribe there (they were left active, and sent a dropped digest a day).
    "dropped_bounced": (Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE, "rejected"),
    "dropped_unsubscribed": (Subscriber.Status.UNSUBSCRIBED, None, "rejected"),
    "rejected": (Subscriber.Status.ACTIVE, None, "rejected"),
    # On the ESP's own blocklist (Brevo's "blocked"): every digest to it would be
    # refused, so it is suppressed as a hard bounce; it was left active, and sent one
    # blocked digest a day.
    "blocklisted": (Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE, "rejected"),
    # Amazon SES's complaint of feedback type "not-spam" says the message is not spam:
    # it suppressed the reader as a complaint, and counted as one in the figures.
    "not_spam": (Subscriber.Status.ACTIVE, None, NOT_SPAM),
}
CASES = [(esp, kind) for esp, kinds in {
    "amazon_ses": ("delivered", "hard", "soft", "undetermined", "complaint", "not_spam", "rejected"),
    "mailgun": ("delivered", "hard", "soft", "complaint", "unsubscribe", "rejected"),
    "brevo": ("delivered", "hard", "soft", "complaint", "unsubscribe", "invalid", "blocklisted"),
    "sendgrid": ("delivered", "hard", "soft", "complaint", "unsubscribe", "dropped_invalid", "dropped_bounced",
                 "dropped_unsubscribed", "rejected"),
}.items() for kind in kinds]


@pytest.fixture
def routed(settings):
    """Route one ESP's webhook as its operator sets it up (README, "Email provider")."""
    return lambda esp: webhooks.esp_route(settings, esp)


def _post(client, url: str, esp: str, kind: str, *, delivery_id: str, event_id: str):
    build, content_type = ESPS[esp]
    body, headers = build(kind, delivery_id=delivery_id, event_id=event_id)
    return client.post(url, json.dumps(body), content_type=content_type, **headers, **webhooks.auth())


def _delivery(subscriber, *, day: int = 24) -> Delivery:
    edition, _ = Edition.objects.get_or_create(date=dt.date(2025, 11, day))
    return Delivery.objects.create(subscriber=subscriber, edition=edition, status=Delivery.Status.SENT,
                                   provider_message_id="not-the-events-message-id", sent_at=timezone.now())


@pytest.mark.parametrize(("esp", "kind"), CASES)
def test_each_esps_events_reach_the_ledger_and_suppress_exactly_when_they_should(client, routed, esp, kind):
    reader = SubscriberFactory(email=READER)
    delivery = _delivery(reader)
    url = routed(esp)

    response = _post(client, url, esp, kind, delivery_id=str(delivery.pk), event_id="a1b2c3d4e5f60001")

    assert response.status_code == 200, response.content
    status, reason, event_type = OUTCOMES[kind]
    reader.refresh_from_db()
    assert reader.status == status
    assert list(Suppression.objects.values_list("reason", flat=True)) == ([reason] if reason else [])
    event = DeliveryEvent.objects.get()
    assert event.delivery == delivery and event.event_type == event_type
    if kind in ("hard", "soft"):
        # The admin's reason: Mailgun and Brevo put it in the server's answer only.
        assert event.description and READER not in event.description
    # The address is kept only as its hash, wherever the ESP wrote it: Amazon SES's
    # lists of recipients ("destination", "bouncedRecipients") included.
    assert READER not in json.dumps(event.payload).lower()


@pytest.mark.parametrize(("code", "description", "reason"), [
    (605, "Not delivering to previously bounced address", Suppression.Reason.HARD_BOUNCE),
    (607, "Not delivering to a user who marked your messages as spam", Suppression.Reason.COMPLAINT),
])
def test_mailguns_legacy_drop_for_an_earlier_bounce_or_spam_report_suppresses_for_that_reason(
        client, routed, code, description, reason):
    """A Mailgun account on its legacy webhooks (form posts, as before June 2018)
    reports a digest it dropped because the address bounced before (code 605) or its
    reader marked a digest as spam (607; anymail: rejected for "spam"). Either way
    Mailgun drops every digest to it: the reader is suppressed, a report of spam as
    a complaint (the dashboard's complaint rate counts it). With the 607 read as
    nothing, the reader stayed active and was sent a dropped digest a day."""
    reader = SubscriberFactory(email=READER)
    delivery = _delivery(reader)
    url = routed("mailgun")
    timestamp, token = "1763967600", "5c2a1e7b9d3f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a"
    signature = hmac.new(webhooks.MAILGUN_SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    form = {
        "event": "dropped", "recipient": READER, "domain": "mg.example.com", "reason": "hardfail",
        "code": str(code), "description": description, "Message-Id": "<20251124070000.1.0DF563D0B3597700@mg.example.com>",
        "message-headers": json.dumps([["To", READER], ["X-Mailgun-Variables", json.dumps({"delivery_id": str(delivery.pk)})]]),
        "timestamp": timestamp, "token": token, "signature": signature.hexdigest(),
    }

    response = client.post(url, form, **webhooks.auth())

    assert response.status_code == 200, response.content
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert list(Suppression.objects.values_list("reason", flat=True)) == [reason]
    assert DeliveryEvent.objects.get().delivery == delivery


@pytest.mark.parametrize("esp", ESPS)
def test_each_esps_events_twice_out_of_order_or_not_ours_are_harmless(client, routed, esp):
    reader = SubscriberFactory(email=READER)
    delivery = _delivery(reader)
    url = routed(esp)
    # A soft bounce reported after the delivery, each posted twice (the ESP retries).
    for kind, event_id in (("soft", "a1b2c3d4e5f60002"), ("delivered", "a1b2c3d4e5f60001")):
        for _ in range(2):
            assert _post(client, url, esp, kind, delivery_id=str(delivery.pk), event_id=event_id).status_code == 200
    # A delivery id that is not ours (another sender's metadata, or a reader erased).
    assert _post(client, url, esp, "delivered", delivery_id="999999", event_id="a1b2c3d4e5f60003").status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not Suppression.objects.exists()
    assert sorted(DeliveryEvent.objects.filter(delivery=delivery).values_list("event_type", flat=True)) == [
        "delivered", SOFT_BOUNCED]
    assert DeliveryEvent.objects.filter(delivery__isnull=True).count() == 1


def test_amazon_sns_subscription_is_confirmed_for_the_sender_with_the_credentials_only(client, routed, monkeypatch):
    """SNS's handshake (docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html):
    it posts a SubscriptionConfirmation without credentials, and again with those of
    the URL's user:password after a 401 asking for them. anymail confirms it through
    the SNS API in the topic's own region; then SES's first notification is a text
    that is no event."""
    url = routed("amazon_ses")
    topic = "arn:aws:sns:us-west-2:123456789012:ses-events"
    body = {  # the shape of anymail's test_sns_subscription_auto_confirmation
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "EXAMPLE-confirm-token", "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.\nTo confirm the subscription, "
                   "visit the SubscribeURL included in this message.",
        "SubscribeURL": f"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}"
                        "&Token=EXAMPLE-confirm-token",
        "Timestamp": "2025-11-24T06:00:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0000.pem",
    }
    headers = {"HTTP_X_AMZ_SNS_MESSAGE_ID": body["MessageId"],
               "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "SubscriptionConfirmation"}
    stubs = []

    def sns_client(view, service_name, **params):
        sns = get_session().create_client(service_name, region_name=params["region_name"],
                                          aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
        stub = Stubber(sns)
        stub.add_response("confirm_subscription", {"SubscriptionArn": f"{topic}:0001"},
                          {"TopicArn": topic, "Token": "EXAMPLE-confirm-token", "AuthenticateOnUnsubscribe": "true"})
        stub.activate()
        stubs.append((params["region_name"], stub))
        return sns

    monkeypatch.setattr(AmazonSESTrackingWebhookView, "get_boto_client", sns_client)

    first = client.post(url, json.dumps(body), content_type="text/plain; charset=UTF-8", **headers)
    assert first.status_code == 401 and first["WWW-Authenticate"].startswith("Basic ") and not stubs
    again = client.post(url, json.dumps(body), content_type="text/plain; charset=UTF-8", **headers,
                        **webhooks.auth())
    assert again.status_code == 200, again.content
    [(region, stub)] = stubs
    assert region == "us-west-2"
    stub.assert_no_pending_responses()  # confirmed, once

    validated = {"Type": "Notification", "MessageId": "da41e39f-ea4d-435a-b922-c6aae3915ebe", "TopicArn": topic,
                 "Message": "Successfully validated SNS topic for Amazon SES event publishing.",
                 "Timestamp": "2025-11-24T06:00:01.000Z"}
    response = client.post(url, json.dumps(validated), content_type="text/plain; charset=UTF-8",
                           HTTP_X_AMZ_SNS_MESSAGE_ID=validated["MessageId"],
                           HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification", **webhooks.auth())
    assert response.status_code == 200 and not DeliveryEvent.objects.exists()


@pytest.mark.parametrize("region", ["127.0.0.1", "localhost", "evil.example", "us-east-1.evil.example#"])
def test_a_forged_sns_confirmation_makes_the_server_ask_only_amazon(routed, monkeypatch, region):
    """Hostile tester, second round: anymail never loads a SubscriptionConfirmation's
    SubscribeURL; it calls the SNS API in the region the TopicArn names (after the
    credentials, which a forger must have). A region naming another host is refused
    by botocore, or becomes a name under amazonaws.com: no request goes elsewhere."""
    from botocore.exceptions import EndpointConnectionError
    from botocore.httpsession import URLLib3Session
    from django.test import Client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    asked = []

    def send(session, request):
        asked.append(request.url)
        raise EndpointConnectionError(endpoint_url=request.url)

    monkeypatch.setattr(URLLib3Session, "send", send)
    topic = f"arn:aws:sns:{region}:123456789012:ses-events"
    body = {"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "forged", "TopicArn": topic, "Message": "You have chosen to subscribe.",
            "SubscribeURL": "http://127.0.0.1:6379/?Action=ConfirmSubscription", "Timestamp": "2025-11-24T06:00:00Z",
            "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "http://127.0.0.1:8120/cert.pem"}
    response = Client(raise_request_exception=False).post(
        routed("amazon_ses"), json.dumps(body), content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_ID=body["MessageId"], HTTP_X_AMZ_SNS_MESSAGE_TYPE="SubscriptionConfirmation",
        **webhooks.auth())
    assert response.status_code != 200 or not asked
    hosts = {url.split("/")[2] for url in asked}
    assert all(host.endswith(".amazonaws.com") for host in hosts), hosts


@pytest.mark.parametrize("esp", ESPS)
def test_the_editor_reads_the_new_esps_bounces_beside_the_old_postmark_ones(admin_client, client, routed, esp):
    """After the switch the ledger holds Postmark's rows and the new ESP's: both read
    by event and reason, and the 'provider event' filter offers the soft bounces,
    which every ESP's webhook stores as soft_bounced (it offered 'Deferred', which
    nothing is stored as, and no soft bounce at all)."""
    reader = SubscriberFactory(email=READER)
    before = _delivery(reader, day=20)
    routed("postmark")
    assert client.post(webhooks.URL, json.dumps(postmark_bounce(READER, kind="SoftBounce", delivery=before)),
                       content_type="application/json", **webhooks.auth()).status_code == 200
    after = _delivery(reader, day=24)
    assert _post(client, routed(esp), esp, "soft", delivery_id=str(after.pk), event_id="a1b2c3d4e5f60004").status_code == 200

    ledger = reverse("admin:newsletter_delivery_changelist")
    page = admin_client.get(ledger).content.decode()
    assert "?event=soft_bounced" in page and "?event=deferred" not in page
    listed = admin_client.get(ledger, {"event": SOFT_BOUNCED}).context["cl"].result_list
    assert {d.pk for d in listed} == {before.pk, after.pk}
    for delivery, said in ((before, "unable to deliver your message"), (after, ESP_SOFT_REASONS[esp])):
        page = admin_client.get(reverse("admin:newsletter_delivery_change", args=[delivery.pk])).content.decode()
        assert "soft bounced" in page and said in unescape(page), (delivery, said)


# The ESP's answer to a send, as anymail's backend tests have it: the message id the
# ledger keeps (Delivery.provider_message_id, mail/esp.py's EspCall.message_id).
SEND_ANSWERS = {
    "mailgun": (200, {"id": "<20251124070000.1.0DF563D0B3597700@mg.example.com>", "message": "Queued. Thank you."}),
    "brevo": (201, {"messageId": "<202511240700.9876543210@smtp-relay.mailin.fr>"}),
}


@pytest.fixture
def sending(settings, monkeypatch):
    """EMAIL_BACKEND is `esp`'s anymail backend; its API answers as the ESP does (SES
    through botocore's Stubber, the others through requests)."""
    import requests

    from mail import esp as esp_calls

    def send(esp: str, answer: tuple[int, dict | None] | None = None) -> str:
        settings.EMAIL_BACKEND = f"anymail.backends.{esp}.EmailBackend"
        settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_KEY": "key", "MAILGUN_SENDER_DOMAIN": "mg.example.com",
                            "BREVO_API_KEY": "key", "AMAZON_SES_CLIENT_PARAMS": {
                                "region_name": "us-east-1", "aws_access_key_id": "AKIDEXAMPLE",
                                "aws_secret_access_key": "secret"}}
        esp_calls.esp_connection_close()
        if esp == "amazon_ses":
            stub = Stubber(esp_calls._thread_connection().client)
            stub.add_response("send_email", {"MessageId": "0100019ab2c3d4e5-ses-message-id-000000"})
            stub.activate()
        else:
            status, body = answer or SEND_ANSWERS[esp]

            def request(session, method, url, **kwargs):
                response = requests.Response()
                response.status_code = status
                response._content = b"" if body is None else json.dumps(body).encode()
                response.headers["Content-Type"] = "application/json"
                response.url = url
                return response

            monkeypatch.setattr(requests.Session, "request", request)
        from anymail.message import AnymailMessage

        message = AnymailMessage(subject="Your digest", body="Hello", from_email="digest@example.com",
                                 to=[READER], metadata={"delivery_id": "0"})
        try:
            return esp_calls.esp_send(message).message_id
        finally:
            esp_calls.esp_connection_close()

    return send


@pytest.mark.parametrize("esp", ["amazon_ses", "mailgun", "brevo"])
def test_an_event_without_our_metadata_finds_its_delivery_by_the_id_the_send_kept(client, routed, sending, esp):
    """SES's notifications carry our metadata only with 'Include original headers'
    on; without it an event is tied to its delivery by the message id the ESP
    answered the send with, which must be the one its events name."""
    reader = SubscriberFactory(email=READER)
    delivery = _delivery(reader)
    delivery.provider_message_id = sending(esp)
    delivery.save(update_fields=["provider_message_id"])
    assert delivery.provider_message_id

    assert _post(client, routed(esp), esp, "hard", delivery_id="", event_id="a1b2c3d4e5f60005").status_code == 200

    assert DeliveryEvent.objects.get().delivery == delivery


def test_an_event_without_our_metadata_whose_message_id_two_deliveries_hold_is_the_newests(client, routed):
    """Of two deliveries holding the message id an event names (an ESP that reuses
    ids, a restored database), the event is the newest's, the ledger's first: as
    before the webhook read a post whole (hD's mutation testing of _deliveries_find)."""
    reader = SubscriberFactory(email=READER)
    older, newer = _delivery(reader, day=20), _delivery(reader, day=24)
    Delivery.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(days=4))
    Delivery.objects.filter(pk__in=[older.pk, newer.pk]).update(provider_message_id="shared-id")
    [event], _ = _sendgrid("hard", delivery_id="", event_id="a1b2c3d4e5f60031")
    event["smtp-id"] = "shared-id"

    assert client.post(routed("sendgrid"), json.dumps([event]), content_type="application/json",
                       **webhooks.auth()).status_code == 200

    assert DeliveryEvent.objects.get().delivery == newer


@pytest.mark.parametrize("esp", ESPS)
def test_each_esps_webhook_refuses_wrong_credentials_and_mailguns_a_wrong_signature(client, routed, esp):
    reader = SubscriberFactory(email=READER)
    url = routed(esp)
    build, content_type = ESPS[esp]
    body, headers = build("complaint", delivery_id="", event_id="a1b2c3d4e5f60006")
    refused = [client.post(url, json.dumps(body), content_type=content_type, **headers,
                           **webhooks.auth("postmark-hook:the-old-password")).status_code,
               client.post(url, json.dumps(body), content_type=content_type, **headers).status_code]
    if esp == "mailgun":  # the right credentials, but not signed with our signing key
        body["signature"]["signature"] = "0" * 64
        refused.append(client.post(url, json.dumps(body), content_type=content_type, **webhooks.auth()).status_code)
    assert set(refused) == {401}
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not DeliveryEvent.objects.exists()


def test_a_send_the_esp_answers_without_a_message_id_gives_the_ledger_an_empty_id(sending):
    """Brevo may answer 201 with no body (anymail: message_id None): the ledger keeps
    an empty id, and the events find the delivery by our metadata."""
    assert sending("brevo", (201, None)) == ""


def test_a_batched_brevo_webhook_is_refused_loudly_not_taken_silently(client, routed):
    """Brevo's "batched" option posts a list of events, which anymail's Brevo view
    does not read (README: leave it off): a 400 the operator sees in Brevo's logs,
    and nothing half-recorded."""
    reader = SubscriberFactory(email=READER)
    url = routed("brevo")
    events = [_brevo(kind, delivery_id="", event_id=f"a1b2c3d4e5f6000{n}")[0] for n, kind in enumerate(("hard", "soft"))]

    response = client.post(url, json.dumps(events), content_type="application/json", **webhooks.auth())

    assert response.status_code == 400
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not DeliveryEvent.objects.exists()


def _sendgrid_event(kind: str, *, email: object, event_id: str) -> dict:
    [event], _ = _sendgrid(kind, delivery_id="", event_id=event_id)
    return {**event, "email": email}


def test_a_sendgrid_post_of_several_events_acts_on_each_of_them(client, routed):
    """SendGrid posts its events in batches: a bounce and a spam report in one post
    suppress both readers, each for its own reason, not only the first one."""
    bounced, complained = SubscriberFactory(email="bounced@example.com"), SubscriberFactory(email="spam@example.com")
    events = [_sendgrid_event("hard", email=bounced.email, event_id="a1b2c3d4e5f60011"),
              _sendgrid_event("complaint", email=complained.email, event_id="a1b2c3d4e5f60012")]

    response = client.post(routed("sendgrid"), json.dumps(events), content_type="application/json",
                           **webhooks.auth())

    assert response.status_code == 200, response.content
    assert dict(Suppression.objects.values_list("email_hash", "reason")) == {
        email_hash(bounced.email): Suppression.Reason.HARD_BOUNCE,
        email_hash(complained.email): Suppression.Reason.COMPLAINT}
    assert DeliveryEvent.objects.count() == 2


def test_a_sendgrid_post_with_one_unreadable_event_records_the_others_and_logs_the_one(client, routed, caplog):
    """An event of a post we cannot store (an address that is no text, a NUL in a
    broken server's answer) made the whole post a 400: SendGrid posts the same
    again for a day, refused each time, then drops it, with the bounces and
    complaints of every other event in it (some 2,000 in the morning's posts). The
    others are recorded now, and the one left out is an error in our log, with its
    id and why. A post of nothing but such events is still refused."""
    import logging

    reader = SubscriberFactory(email=READER)
    events = [_sendgrid_event("hard", email=READER, event_id="a1b2c3d4e5f60021"),
              _sendgrid_event("hard", email=12345, event_id="a1b2c3d4e5f60022")]

    with caplog.at_level(logging.ERROR, logger="newsletter.webhook_views"):
        response = client.post(routed("sendgrid"), json.dumps(events), content_type="application/json",
                               **webhooks.auth())

    assert response.status_code == 200, response.content
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE
    assert list(DeliveryEvent.objects.values_list("event_id", flat=True)) == ["sendgrid:a1b2c3d4e5f60021"]
    [logged] = [r.getMessage() for r in caplog.records]
    assert "a1b2c3d4e5f60022" in logged and "The event's recipient is not text." in logged

    response = client.post(routed("sendgrid"), json.dumps(events[1:]), content_type="application/json",
                           **webhooks.auth())
    assert response.status_code == 400 and response.content == b"The event's recipient is not text."
    assert DeliveryEvent.objects.count() == 1


@pytest.mark.parametrize(("esp", "kind"), [("mailgun", "soft"), ("sendgrid", "deferred")])
def test_a_digest_deferred_then_delivered_is_no_soft_bounce_towards_suppression(client, routed, esp, kind):
    """A server that greylists (common at universities and companies) refuses each
    first attempt with a 4xx; the ESP reports it (Mailgun's temporary "failed",
    SendGrid's "deferred") and delivers minutes later. Each such digest counted as a
    soft bounce: the reader whose every digest arrived was suppressed on the third
    ("3 soft bounces in 30 days") and got no digest again."""
    from newsletter.webhooks import SOFT_BOUNCE_THRESHOLD

    reader = SubscriberFactory(email=READER)
    url = routed(esp)
    for n in range(SOFT_BOUNCE_THRESHOLD):
        delivery = _delivery(reader, day=20 + n)
        for step, event_kind in enumerate((kind, "delivered")):
            response = _post(client, url, esp, event_kind, delivery_id=str(delivery.pk),
                             event_id=f"a1b2c3d4e5f6{n}{step}00")
            assert response.status_code == 200, response.content

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not Suppression.objects.exists()
    assert DeliveryEvent.objects.filter(event_type=SOFT_BOUNCED).count() == SOFT_BOUNCE_THRESHOLD


def test_a_soft_bounce_reported_after_the_digests_delivery_still_counts(client):
    """The receiving server took the digest, then bounced it (a mailbox found full
    after accepting: the ESP reports the bounce after "delivered"). The reader did
    not get it: the third such digest suppresses, as any three soft bounces do."""
    from newsletter.webhooks import SOFT_BOUNCE_THRESHOLD

    reader = SubscriberFactory(email=READER)
    for n in range(SOFT_BOUNCE_THRESHOLD):
        delivery = _delivery(reader, day=20 + n)
        delivered = {"RecordType": "Delivery", "ServerID": 23, "MessageStream": "broadcast",
                     "MessageID": f"m-{n}", "Recipient": READER, "Tag": "digest",
                     "DeliveredAt": f"2025-11-{20 + n}T07:00:00Z", "Details": "smtp;250 OK",
                     "Metadata": {"delivery_id": str(delivery.pk)}}
        bounced = postmark_bounce(READER, kind="SoftBounce", delivery=delivery, event_id=n + 1,
                                  message_id=f"m-{n}", at=f"2025-11-{20 + n}T08:00:00Z")
        for body in (delivered, bounced):
            response = client.post(webhooks.URL, json.dumps(body), content_type="application/json",
                                   **webhooks.auth())
            assert response.status_code == 200, response.content

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.SOFT_BOUNCES


@pytest.mark.parametrize("esp", ["mailgun", "brevo", "sendgrid"])
@pytest.mark.parametrize("timestamp", [1e20, -1e20, 10**30])
def test_an_epoch_timestamp_past_any_date_gets_400_and_changes_nothing(client, routed, esp, timestamp):
    """These ESPs give an event's time as seconds (Brevo: milliseconds) since 1970,
    which anymail turns into a date: a number past any date made it raise
    OverflowError or OSError (EOVERFLOW), a 500 the sender retries for days, its
    hard bounce never recorded. A body we cannot read is a 400, as any other."""
    reader = SubscriberFactory(email=READER)
    body, _ = ESPS[esp][0]("hard", delivery_id="", event_id="a1b2c3d4e5f60001")
    if esp == "sendgrid":
        body = [body[0] | {"timestamp": timestamp}]
    elif esp == "brevo":
        body["ts_epoch"] = timestamp
    else:
        body["event-data"]["timestamp"] = timestamp

    response = client.post(routed(esp), json.dumps(body), content_type="application/json", **webhooks.auth())

    assert response.status_code == 400, response.content
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not DeliveryEvent.objects.exists()


@pytest.mark.parametrize(("category", "email"), [
    # SendGrid returns a category as it was sent: a string for a single one.
    ("confirm", "confirm"), (["confirm"], "confirm"), ("digest-test-x", "digest-test-x"),
    (5, ""), ([5, "confirm"], "confirm"),
])
def test_sendgrids_category_in_any_shape_names_the_email_and_never_fails(client, routed, category, email):
    """anymail hands SendGrid's "category" over as it came. A string was read as a
    list of its characters: the bounce of a confirmation was filed under the email
    "c" (the dashboard's table of other emails); a string holding "digest-test" was
    taken for an editor's test send; a number was a 500 the ESP retried for days."""
    reader = SubscriberFactory(email=READER)
    [event], _ = _sendgrid("hard", delivery_id="", event_id="a1b2c3d4e5f60031")

    response = client.post(routed("sendgrid"), json.dumps([event | {"category": category}]),
                           content_type="application/json", **webhooks.auth())

    assert response.status_code == 200, response.content
    stored = DeliveryEvent.objects.get()
    assert (stored.email, stored.of_test_send) == (email, False)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


@pytest.mark.parametrize(("reason", "code", "description", "status", "suppressed_for"), [
    ("suppress-complaint", 607, "Not delivering to a user who marked your messages as spam",
     Subscriber.Status.SUPPRESSED, Suppression.Reason.COMPLAINT),
    ("suppress-unsubscribe", 606, "Not delivering to unsubscribed address", Subscriber.Status.UNSUBSCRIBED, None),
    ("suppress-bounce", 605, "Not delivering to previously bounced address",
     Subscriber.Status.SUPPRESSED, Suppression.Reason.HARD_BOUNCE),
])
def test_mailguns_drop_for_an_earlier_complaint_or_unsubscribe_acts_for_that_reason(
        client, routed, reason, code, description, status, suppressed_for):
    """Mailgun's webhooks of today report a digest it dropped because the address is
    on its own lists as a permanent failure whose reason says which list; anymail
    calls each "bounced". A drop for an earlier spam report suppressed the reader as
    a hard bounce, which an editor may lift (a complaint no one lifts); one for an
    earlier unsubscribe did too, where the reader had left, as the legacy webhook's
    drops and SendGrid's are read."""
    reader = SubscriberFactory(email=READER)
    body, _ = _mailgun("hard", delivery_id=str(_delivery(reader).pk), event_id="a1b2c3d4e5f60041")
    body["event-data"] |= {"reason": reason, "delivery-status": {
        "code": code, "message": "", "description": description, "attempt-no": 1}}

    response = client.post(routed("mailgun"), json.dumps(body), content_type="application/json", **webhooks.auth())

    assert response.status_code == 200, response.content
    reader.refresh_from_db()
    assert reader.status == status
    assert list(Suppression.objects.values_list("reason", flat=True)) == ([suppressed_for] if suppressed_for else [])
    # A digest Mailgun never sent: no bounce in the dashboard's figures (stored as a
    # rejection, as SendGrid's drops are); before, each counted as a bounce.
    assert DeliveryEvent.objects.get().event_type == "rejected"


def test_a_sendgrid_post_as_large_as_sendgrid_makes_them_is_taken_whole(client, routed, settings):
    """SendGrid posts its events "within approximately 30 seconds or when the batch
    size reaches 768 kilobytes": in the morning's burst of deliveries, posts of that
    size. The site's limit for a request body (DATA_UPLOAD_MAX_MEMORY_SIZE, 512 KiB)
    refused each with a 400, which SendGrid retries for a day and then drops: every
    bounce and complaint in it was lost. The webhook reads up to WEBHOOK_BODY_MAX
    once the credentials are right; anonymous posts are refused before any is read."""
    from newsletter.webhook_views import WEBHOOK_BODY_MAX

    bounced, complained = SubscriberFactory(email="bounced@example.com"), SubscriberFactory(email="spam@example.com")
    delivered = [_sendgrid_event("delivered", email=f"reader{n}@example.com", event_id=f"a1b2c3d4e5f6{n:04}")
                 | {"response": "250 2.0.0 OK " + "x" * 700} for n in range(700)]
    events = [*delivered, _sendgrid_event("hard", email=bounced.email, event_id="a1b2c3d4e5f6b001"),
              _sendgrid_event("complaint", email=complained.email, event_id="a1b2c3d4e5f6c001")]
    body = json.dumps(events)
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < len(body) <= 768 * 1000 < WEBHOOK_BODY_MAX

    response = client.post(routed("sendgrid"), body, content_type="application/json", **webhooks.auth())

    assert response.status_code == 200, response.content
    assert dict(Suppression.objects.values_list("email_hash", "reason")) == {
        email_hash(bounced.email): Suppression.Reason.HARD_BOUNCE,
        email_hash(complained.email): Suppression.Reason.COMPLAINT}
    assert DeliveryEvent.objects.count() == len(events)
    # Past the webhook's own limit, or without the credentials: refused, nothing read.
    too_big = json.dumps([events[-1] | {"response": "x" * WEBHOOK_BODY_MAX}])
    assert client.post(routed("sendgrid"), too_big, content_type="application/json",
                       **webhooks.auth()).status_code == 413
    assert client.post(routed("sendgrid"), body, content_type="application/json").status_code == 401


def test_a_post_of_one_mib_is_read_whole_and_one_byte_more_is_refused(client, routed):
    """The largest body read is 1 MiB (WEBHOOK_BODY_MAX), room for a SendGrid batch
    cut after the event that reaches 768 KB: a post of 1 MiB is taken (its bounce
    suppresses), one of a byte more is refused with a 413, nothing of it read."""
    bounced = SubscriberFactory(email="bounced@example.com")
    events = json.dumps([_sendgrid_event("hard", email=bounced.email, event_id="a1b2c3d4e5f6b001")])
    at_the_limit = events + " " * (1024 * 1024 - len(events))

    assert client.post(routed("sendgrid"), at_the_limit + " ", content_type="application/json",
                       **webhooks.auth()).status_code == 413
    assert not Suppression.objects.exists()
    assert client.post(routed("sendgrid"), at_the_limit, content_type="application/json",
                       **webhooks.auth()).status_code == 200
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE


def _morning_post(readers: list, *, prefix: str) -> list[dict]:
    """SendGrid's post in the morning's burst: each reader's digest delivered and
    opened (nothing to act on), and one of them bounced."""
    events = []
    for n, reader in enumerate(readers):
        delivery = _delivery(reader)
        for kind, step in (("delivered", "d"), ("open", "o")):
            [event], _ = _sendgrid("delivered", delivery_id=str(delivery.pk), event_id=f"{prefix}{step}{n:05}")
            events.append({**event, "email": reader.email, "event": kind})
    events[-1] = {**_sendgrid("hard", delivery_id=events[-1]["delivery_id"], event_id=f"{prefix}b")[0][0],
                  "email": readers[-1].email}
    return events


def test_a_morning_post_costs_queries_for_what_it_acts_on_not_for_its_length(client, routed):
    """SendGrid posts up to 768 KB at a time, some 2,000 events in the morning's
    burst. Each event cost eight queries: such a post took about 20 s to answer
    (bench/webhook.py), past the time SendGrid waits, holding a web worker all along,
    and SendGrid posted it again. The events that are only stored ("delivered",
    "open") now go in together; a post ten times as long makes no more queries, and
    each event is still stored once, its bounce still acted on."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url, queries = routed("sendgrid"), {}
    for size, prefix in ((10, "a1b2c3d4e5f6s"), (100, "a1b2c3d4e5f6l")):
        readers = SubscriberFactory.create_batch(size)
        body = json.dumps(_morning_post(readers, prefix=prefix))
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, body, content_type="application/json", **webhooks.auth())
        assert response.status_code == 200, response.content
        queries[size] = len(captured.captured_queries)
        assert DeliveryEvent.objects.filter(event_id__startswith=f"sendgrid:{prefix}").count() == 2 * size
        readers[-1].refresh_from_db()
        assert readers[-1].status == Subscriber.Status.SUPPRESSED
        assert {r.status for r in readers[:-1]} == {Subscriber.Status.ACTIVE}
    assert queries[100] <= queries[10] + 2, queries  # 21 and 21; 172 and 1,612 until 8 December

    # Posted again (SendGrid's retry): nothing stored twice, nothing acted on twice.
    assert client.post(url, body, content_type="application/json", **webhooks.auth()).status_code == 200
    assert DeliveryEvent.objects.count() == 220
    assert Suppression.objects.count() == 2


def test_a_post_with_a_digest_deferred_then_delivered_three_times_suppresses_nobody(client, routed):
    """The greylisting server's three digests (deferred, then delivered), reported in
    one post: each "delivered" is stored before the next soft bounce is counted, as
    when they came one post each. Three deferred digests never delivered, in one
    post, suppress as three soft bounces do."""
    from newsletter.webhooks import SOFT_BOUNCE_THRESHOLD

    greylisted, gone = SubscriberFactory(email=READER), SubscriberFactory(email="full@example.com")
    events = []
    for n in range(SOFT_BOUNCE_THRESHOLD):
        for reader, kinds in ((greylisted, ("deferred", "delivered")), (gone, ("deferred",))):
            delivery = _delivery(reader, day=20 + n)
            for step, kind in enumerate(kinds):
                [event], _ = _sendgrid(kind, delivery_id=str(delivery.pk),
                                       event_id=f"a1b2c3d4e5f6{reader.pk}{n}{step}")
                events.append({**event, "email": reader.email})

    response = client.post(routed("sendgrid"), json.dumps(events), content_type="application/json",
                           **webhooks.auth())

    assert response.status_code == 200, response.content
    greylisted.refresh_from_db(), gone.refresh_from_db()
    assert greylisted.status == Subscriber.Status.ACTIVE
    assert gone.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.SOFT_BOUNCES
    assert DeliveryEvent.objects.count() == 3 * SOFT_BOUNCE_THRESHOLD


def test_in_a_post_only_an_erased_readers_events_lose_what_the_esp_said(client, routed):
    """A post's events are stored together, each address's suppression read once: the
    events of a reader who erased their data are kept without what the ESP said of
    them (their payload); those of an address suppressed for another reason (a
    hard bounce) keep theirs, which the editor reads to see why it bounced."""
    from subscribers.suppression import address_suppress

    erased, bounced = "erased@example.com", "bounced@example.com"
    address_suppress(email=erased, reason=Suppression.Reason.DELETED)
    address_suppress(email=bounced, reason=Suppression.Reason.HARD_BOUNCE)
    events = [_sendgrid_event("delivered", email=erased, event_id="a1b2c3d4e5f60031"),
              _sendgrid_event("delivered", email=bounced, event_id="a1b2c3d4e5f60032")]

    response = client.post(routed("sendgrid"), json.dumps(events), content_type="application/json",
                           **webhooks.auth())

    assert response.status_code == 200, response.content
    payloads = dict(DeliveryEvent.objects.values_list("event_id", "payload"))
    assert payloads["sendgrid:a1b2c3d4e5f60031"] == {}
    assert payloads["sendgrid:a1b2c3d4e5f60032"]["response"] == "250 2.0.0 OK"



def test_an_event_repeated_within_one_post_is_stored_once_and_acted_on_once(client, routed):
    """An ESP may repeat an event within a post (its retry of a part it thought lost):
    the events only stored go in together, each once, and the post is no 500 for a
    row it carries twice; a bounce repeated suppresses once, with one note."""
    reader = SubscriberFactory(email=READER)
    delivered = _sendgrid_event("delivered", email=READER, event_id="a1b2c3d4e5f60051")
    bounce = _sendgrid_event("hard", email=READER, event_id="a1b2c3d4e5f60052")

    response = client.post(routed("sendgrid"), json.dumps([delivered, delivered, bounce, delivered, bounce]),
                           content_type="application/json", **webhooks.auth())

    assert response.status_code == 200, response.content
    assert sorted(DeliveryEvent.objects.values_list("event_id", flat=True)) == [
        "sendgrid:a1b2c3d4e5f60051", "sendgrid:a1b2c3d4e5f60052"]
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE
