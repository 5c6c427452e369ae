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


def _token(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_an_address_change_link_and_a_confirm_link_open_nothing_at_each_others_door(client):
    """The address-change link goes to an inbox that is not yet the reader's, and the
    confirmation to one nobody has confirmed: each is signed for its own purpose
    (its own salt), so neither, pasted into the other's URL, opens that page."""
    reader = SubscriberFactory(email="ada@oldjob.example", status=Subscriber.Status.PENDING)
    reader.email_change = {"id": "r1", "email": "ada@newjob.example"}
    change = _token(tokens.email_change_url(subscriber=reader))
    confirm = _token(tokens.confirm_url(subscriber=reader))

    for path in (f"/confirm/{change}/", f"/address/{confirm}/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "This link is not valid" in " ".join(response.content.decode().split())
    # Each at its own door still opens its page.
    assert client.get(f"/confirm/{confirm}/").status_code == 200


def test_an_address_changes_two_links_open_nothing_at_each_others_door(client):
    """The link mailed to the new address (whoever typed it holds it) and the approval
    mailed to the current one are signed for their own purposes: the first, pasted
    into the approval's URL, approves nothing, and the other way round."""
    reader = SubscriberFactory(email="ada@oldjob.example")
    reader.email_change = {"id": "r1", "to": "ada@newjob.example", "at": "2999-01-01T00:00:00+00:00",
                           "confirmed": "2999-01-01T00:00:00+00:00"}
    reader.save()
    change = _token(tokens.email_change_url(subscriber=reader))
    approval = _token(tokens.email_change_approval_url(subscriber=reader))

    for path in (f"/address-approval/{change}/", f"/address/{approval}/", f"/confirm/{approval}/"):
        for response in (client.get(path), client.post(path)):
            assert response.status_code == 404, path
    assert Subscriber.objects.get(pk=reader.pk).email == "ada@oldjob.example"
    assert client.get(f"/address-approval/{approval}/").status_code == 200  # at its own door


def test_an_old_emails_unsubscribe_page_shows_nothing_of_the_readers_new_links(client):
    """After the reader's links were replaced (they left and came back, were
    suppressed, or an editor gave new links), an old email's unsubscribe link still
    unsubscribes (RFC 8058), and its page, opened by whoever holds that email, carries
    no link made from the new secret: no preference centre, no way to their data."""
    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.ACTIVE)
    old_unsubscribe = _path(tokens.subscriber_unsubscribe_url(subscriber=reader))
    tokens.subscriber_links_retire(subscriber_ids=[reader.pk])
    reader.refresh_from_db()
    new_secret = _token(tokens.subscriber_manage_url(subscriber=reader))

    page = client.get(old_unsubscribe).content.decode()
    assert new_secret not in page and "/manage/" not in page
    assert 'name="from_page"' in page  # the one button it offers: unsubscribe

    response = client.post(old_unsubscribe, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and new_secret not in response.content.decode()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_a_confirmation_link_whose_secret_was_replaced_confirms_nobody(client):
    """A confirmation link leaked (a shared inbox, a forwarded email) and an editor
    gave the still-pending reader new links: the old link is dead. It found its
    reader through the retired secret (which leads a reader who left to a page
    saying so), and its button would have confirmed a subscription nobody confirmed."""
    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.PENDING)
    old_confirm = _path(tokens.confirm_url(subscriber=reader))
    tokens.subscriber_links_retire(subscriber_ids=[reader.pk])

    for response in (client.get(old_confirm), client.post(old_confirm)):
        assert response.status_code == 410
        assert "Confirm my subscription" not in response.content.decode()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.PENDING and reader.confirmed_at is None


def test_a_confirmation_mailed_before_the_reader_left_does_not_bring_them_back(client):
    """A reader asked on the form for new preferences (a confirmation link naming that
    request), then left. That link, from before they left, is an old email's: it
    leads to a page saying they unsubscribed, and its button puts nobody back on the
    list (the goodbye email's Resubscribe does, for the reader who has it)."""
    reader = SubscriberFactory(email="ada@example.com", status=Subscriber.Status.ACTIVE)
    reader.requested = {"id": "r1", "frequency": "weekly"}
    reader.save()
    old_confirm = _path(tokens.confirm_url(subscriber=reader))
    assert client.post(_path(tokens.subscriber_unsubscribe_url(subscriber=reader)),
                       {"List-Unsubscribe": "One-Click"}).status_code == 200

    client.post(old_confirm)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert "unsubscribed" in " ".join(client.get(old_confirm).content.decode().split())
