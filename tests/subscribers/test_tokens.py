import datetime as dt

import pytest
from django.core import signing

from subscribers import tokens
from subscribers.models import Subscriber
from tests.factories import SubscriberFactory
from tests.tamper import signature_changed

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def test_manage_and_unsubscribe_urls_are_absolute_and_resolve_to_the_subscriber():
    subscriber = SubscriberFactory()
    manage = tokens.subscriber_manage_url(subscriber=subscriber)
    unsubscribe = tokens.subscriber_unsubscribe_url(subscriber=subscriber)
    assert manage.startswith("http://testserver/manage/")
    assert unsubscribe.startswith("http://testserver/unsubscribe/")
    token = manage.rstrip("/").rsplit("/", 1)[1]
    assert tokens.subscriber_from_token(token=token) == subscriber


def test_a_tampered_token_finds_nobody():
    subscriber = SubscriberFactory()
    token = tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    assert tokens.subscriber_from_token(token=signature_changed(token)) is None
    # The raw secret alone, without the signature, is not accepted either.
    assert tokens.subscriber_from_token(token=subscriber.token) is None


def test_the_readers_secret_alone_without_the_signature_does_not_unsubscribe_them(client):
    """The secret stored in the database (a leaked backup) is not a link: without the
    signature, made with SECRET_KEY, the one-click unsubscribe refuses it."""
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    response = client.post(f"/unsubscribe/{reader.token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_a_confirm_token_is_not_a_manage_token_and_back():
    subscriber = SubscriberFactory()
    confirm = tokens.confirm_token(subscriber=subscriber)
    manage = tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    assert tokens.subscriber_from_token(token=confirm) is None
    assert tokens.subscriber_from_confirm_token(token=manage) is tokens.TokenProblem.INVALID


def test_issuing_a_new_token_revokes_every_link():
    subscriber = SubscriberFactory()
    manage = tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    subscriber.token = "a-brand-new-secret"
    subscriber.save()
    assert tokens.subscriber_from_token(token=manage) is None


def _confirm_token_mailed_days_ago(subscriber: Subscriber, days: float, monkeypatch) -> str:
    """A confirm token as the email sent `days` ago carried it (Django's signer, its clock set back)."""
    then = dt.datetime.now().timestamp() - dt.timedelta(days=days).total_seconds()
    signer = signing.TimestampSigner(salt="subscribers.confirm")
    monkeypatch.setattr(signer, "timestamp", lambda: signing.b62_encode(int(then)))
    return signer.sign(subscriber.token)


def test_confirm_links_expire_after_seven_days(monkeypatch):
    subscriber = SubscriberFactory(status=Subscriber.Status.PENDING)
    old = _confirm_token_mailed_days_ago(subscriber, 8, monkeypatch)
    assert tokens.subscriber_from_confirm_token(token=old) is tokens.TokenProblem.EXPIRED
    fresh = tokens.confirm_token(subscriber=subscriber)
    assert tokens.subscriber_from_confirm_token(token=fresh) == subscriber


def test_links_are_signed_as_django_signs_them_so_either_verifies_the_other(settings):
    """The signer that derives its key once (tokens.signer) must make Django's
    signatures byte for byte: links mailed before it, and links it makes, verify
    either way, including under a rotated key (SECRET_KEY_FALLBACKS)."""
    subscriber = SubscriberFactory()
    value = subscriber.token
    assert tokens.signer("a salt").sign(value) == signing.Signer(salt="a salt").sign(value)
    payload = [12, "abcdef0123456789"]
    ours = tokens.signer("a salt", timestamped=True).sign_object(payload)
    assert signing.loads(ours, salt="a salt") == payload
    assert tokens.signer("a salt", timestamped=True).unsign_object(signing.dumps(payload, salt="a salt")) == payload
    # Another salt's signature is refused.
    with pytest.raises(signing.BadSignature):
        tokens.signer("another salt").unsign(tokens.signer("a salt").sign(value))

    manage = tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a new secret key " + "x" * 40
    # Signed under the old key: still accepted while it is a fallback, then refused.
    assert tokens.subscriber_from_token(token=manage) == subscriber
    assert tokens.subscriber_manage_url(subscriber=subscriber).rstrip("/").rsplit("/", 1)[1] != manage
    settings.SECRET_KEY_FALLBACKS = []
    assert tokens.subscriber_from_token(token=manage) is None


# A manage/unsubscribe token as a release mailed it (Django's Signer, salt
# "subscribers.manage"), recorded with the deploy's key and the reader's secret.
# Mailed links never expire (RFC 8058), so every later release must still read it.
RECORDED_SECRET_KEY = "recorded-secret-key-of-a-deploy-for-links-already-mailed-0123456789"
RECORDED_READER_SECRET = "Xq7mN2pR4sT6vW8yZ0aB3cD5eF7gH9jK1lM3nP5qR7s"
RECORDED_TOKEN = f"{RECORDED_READER_SECRET}:l7K2mzMEbRIveIAoZXvWmeH96IkgCcCLt5T8m6nXZhE"


def test_links_in_emails_already_mailed_still_open_and_unsubscribe_after_an_upgrade(settings, client):
    """A release that changed how links are signed (the salt, the algorithm, the
    token's shape) would leave every digest in every inbox with dead links: the
    preference centre would say "not valid" and one-click unsubscribe would fail."""
    settings.SECRET_KEY = RECORDED_SECRET_KEY
    reader = SubscriberFactory(token=RECORDED_READER_SECRET, status=Subscriber.Status.ACTIVE)
    assert tokens.subscriber_manage_url(subscriber=reader) == f"http://testserver/manage/{RECORDED_TOKEN}/"

    manage = client.get(f"/manage/{RECORDED_TOKEN}/")
    assert manage.status_code == 200 and "<h1>Your digest</h1>" in manage.content.decode()
    unsubscribed = client.post(f"/unsubscribe/{RECORDED_TOKEN}/", "List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded")
    assert unsubscribed.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_a_confirm_link_opened_six_days_after_the_email_still_shows_the_confirm_button(client, monkeypatch):
    """Confirm links last seven days: a reader back from a week away who opens the
    email on day six is not told that their link expired."""
    reader = SubscriberFactory(status=Subscriber.Status.PENDING)
    token = _confirm_token_mailed_days_ago(reader, 6, monkeypatch)
    page = client.get(_path(tokens.token_url("subscribers:confirm", token)))
    assert page.status_code == 200 and "Confirm my subscription" in page.content.decode()
