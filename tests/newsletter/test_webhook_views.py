"""The tracking webhook's routes and answers (newsletter/webhook_views.py): only the
configured ESP's tracking URL exists, anonymous requests are never a 500, wrong
credentials are a 401, and a body we cannot record is a 400 that changes nothing."""

import json

import pytest
from anymail.urls import urlpatterns as anymail_urlpatterns
from django.test import Client

from newsletter.models import DeliveryEvent
from subscribers.models import Subscriber, Suppression
from tests import webhooks
from tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]
URL, SECRET = webhooks.URL, webhooks.SECRET

def _anymail_paths() -> list[str]:
    """Every URL anymail ships (27 in anymail 13), the regex ones made concrete."""
    paths = []
    for pattern in anymail_urlpatterns:
        route = str(pattern.pattern)
        paths.append("/anymail/" + route.strip("^$").replace("(_mime)?", ""))
    return paths


def test_every_anymail_url_answers_anonymous_requests_without_a_5xx():
    anonymous = Client(raise_request_exception=False)
    paths = _anymail_paths()
    assert len(paths) >= 20 and URL in paths
    answers = {}
    for path in paths:
        for method in ("get", "post", "head", "put"):
            answers[(method, path)] = getattr(anonymous, method)(path).status_code
    assert all(status < 500 for status in answers.values()), answers
    # Only the configured ESP's tracking webhook exists; it asks for credentials.
    assert {path for (method, path), status in answers.items() if status != 404} == {URL}
    assert answers[("post", URL)] == 401 and answers[("head", URL)] == 200
    assert answers[("get", URL)] == 405


def test_opening_the_webhook_in_a_browser_says_to_post_events_there():
    """An operator pasting the webhook's address into a browser gets a 405 that names
    the methods the URL takes (HTTP requires it of a 405), and no event is read."""
    response = Client().get(URL)
    assert response.status_code == 405
    assert {m.strip() for m in response["Allow"].split(",")} == {"POST", "HEAD"}
    assert "POST events here" in response.content.decode()

def _anymail_esps() -> list[str]:
    """Every ESP anymail has a tracking webhook for (14 in anymail 13)."""
    suffix = "_tracking_webhook"
    return sorted({p.name.removesuffix(suffix) for p in anymail_urlpatterns
                   if p.name and p.name.endswith(suffix)})


@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
@pytest.mark.parametrize("esp", _anymail_esps())
def test_whichever_esp_is_routed_anonymous_requests_never_get_a_5xx(settings, esp):
    """Also when the routed ESP lacks its own settings (Mailgun's signing key, boto3
    for Amazon SES; check --deploy says so, digest.E007): the credentials are
    checked before the ESP's view is built, so only the ESP itself could meet that
    error, never an anonymous request."""
    settings.ROOT_URLCONF = webhooks.urlconf_routing(esp)
    anonymous = Client(raise_request_exception=False)
    url = f"/anymail/{esp}/tracking/"
    answers = {(method, path): getattr(anonymous, method)(path).status_code
               for path in _anymail_paths() for method in ("get", "post")}
    assert not {k: v for k, v in answers.items() if v >= 500}
    assert answers[("post", url)] == 401 and answers[("get", url)] == 405
    assert {path for (_, path), status in answers.items() if status != 404} == {url}


def test_an_unknown_esp_routes_no_webhook_at_all():
    from newsletter.webhook_views import tracking_urlpatterns

    assert tracking_urlpatterns(esp="") == [] and tracking_urlpatterns(esp="outbox") == []
    assert [str(p.pattern) for p in tracking_urlpatterns(esp="amazon_ses")] == ["amazon_ses/tracking/"]


def _bounce(**fields) -> dict:
    return {"RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1,
            "MessageID": "00000000-0000-0000-0000-000000000042", "Metadata": {},
            "Email": "reader@example.com", "BouncedAt": "2025-11-24T07:03:54Z",
            "Description": "unknown user", **fields}


@pytest.mark.parametrize("fields", [
    {"Email": 12345}, {"Email": ["reader@example.com", "other@example.com"]},
    {"Email": {"address": "reader@example.com"}}, {"Metadata": "delivery_id=1"},
    {"Metadata": [1, 2]}, {"Description": 7},
])
def test_fields_of_the_wrong_type_get_400_and_change_nothing(client, fields):
    reader = SubscriberFactory(email="reader@example.com")
    response = client.post(URL, json.dumps(_bounce(**fields)), content_type="application/json",
                           **webhooks.auth())
    assert response.status_code == 400, response.content
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not Suppression.objects.exists() and not DeliveryEvent.objects.exists()


@pytest.mark.parametrize("body", [
    '{"": Infinity}', '{"": NaN}', '{"": -Infinity}',
    ('{"RecordType": "Bounce", "ID": 1, "Type": "HardBounce", "Email": "reader@example.com", '
     '"Details": NaN}'),
    '{"RecordType": "Bounce", "ID": "\\u0000", "Email": "reader@example.com"}',
    '{"RecordType": "Bounce", "ID": 2, "Email": "reader\\u0000@example.com"}',
    # In a field nobody reads, but the payload is stored as it came.
    '{"RecordType": "Bounce", "ID": 3, "Email": "reader@example.com", "ServerID": NaN}',
    '{"RecordType": "Bounce", "ID": 4, "Email": "reader@example.com", "Server\\u0000ID": 23}',
    "not json", "null", "[]", "[1]", '"Bounce"', "\xff\xfe",
    # JSON, but no event: stored as an "unknown" event with 200 (an operator's walkthrough).
    '{"x": 1}', "{}",
    # Nested deeper than the parser goes (RecursionError): was a 500 (a hostile tester's pass).
    '{"RecordType": "Bounce", "Details": ' + "[" * 100_000 + "]" * 100_000 + "}",
])
def test_bodies_that_are_not_standard_json_events_get_400(client, body):
    reader = SubscriberFactory(email="reader@example.com")
    response = client.post(URL, body, content_type="application/json", **webhooks.auth())
    assert response.status_code == 400, response.content
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not DeliveryEvent.objects.exists()


def test_a_valid_event_still_acts(client):
    reader = SubscriberFactory(email="reader@example.com")
    response = client.post(URL, json.dumps(_bounce()), content_type="application/json", **webhooks.auth())
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_an_inbound_webhook_pointed_at_the_tracking_url_gets_400_that_names_the_mistake(client, caplog):
    """Postmark's inbound webhook (a reply to a digest) set to this URL by mistake: its
    body is no tracking event. It was a 500, which Postmark retries for hours; now
    a 400 that says what to fix, and an error in the log for whoever runs the site."""
    reader = SubscriberFactory(email="reader@example.com")
    inbound = {  # postmarkapp.com/developer/webhooks/inbound-webhook
        "From": "reader@example.com", "FromFull": {"Email": "reader@example.com", "Name": ""},
        "To": "digest@example.com", "Subject": "Re: Your papers", "MessageID": "a8c1040e",
        "TextBody": "Thanks!", "Headers": [], "Attachments": [],
    }
    with caplog.at_level("ERROR", logger="newsletter.webhook_views"):
        response = client.post(URL, json.dumps(inbound), content_type="application/json", **webhooks.auth())

    assert response.status_code == 400
    assert "*inbound* webhook" in response.content.decode()
    assert any("inbound" in record.getMessage() for record in caplog.records)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE and not DeliveryEvent.objects.exists()
