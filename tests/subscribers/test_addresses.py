"""One form of an address at every entry point (subscribers/addresses.py,
email_normalise and email_hash): the subscribe form, the import, the admin, the
ESP's webhook and every suppression lookup agree on user@bücher.de."""

import json

import pytest
from django.contrib.auth import get_user_model

from subscribers.addresses import email_masked, email_normalise
from subscribers.csv_io import subscribers_import
from subscribers.models import Subscriber
from subscribers.suppression import email_hash, email_is_suppressed
from tests import webhooks

pytestmark = pytest.mark.django_db

STORED = "user@xn--bcher-kva.de"


def _bounce(client, email: str):
    body = {"RecordType": "Bounce", "ID": 901, "Type": "HardBounce", "TypeCode": 1,
            "MessageID": "00000000-0000-0000-0000-00000000abcd", "Metadata": {}, "Email": email,
            "BouncedAt": "2025-11-24T07:03:54Z", "Description": "unknown user"}
    return client.post(webhooks.URL, json.dumps(body), content_type="application/json", **webhooks.auth())


@pytest.mark.parametrize("spelling", ["user@bücher.de", "user@BÜCHER.de", "user@xn--bcher-kva.de",
                                      "user@bu\u0308cher.de", " user@bücher.de. "])
def test_every_spelling_of_one_address_normalises_and_hashes_alike(spelling):
    assert email_normalise(spelling) == STORED
    assert email_hash(spelling) == email_hash(STORED) == email_hash("USER@xn--bcher-kva.de")


@pytest.mark.parametrize("bounced", ["user@bücher.de", "USER@xn--BCHER-KVA.de"])
def test_a_bounce_for_any_spelling_suppresses_the_reader_who_subscribed_with_another(
    client, webhook_secret, submit, outbox, bounced,
):
    assert submit("user@bücher.de").status_code == 303
    reader = Subscriber.objects.get()
    assert reader.email == STORED

    assert _bounce(client, bounced).status_code == 200

    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert email_is_suppressed(STORED) and email_is_suppressed("user@bücher.de")
    # The form, in either spelling, mails nothing more.
    outbox.clear()
    for spelling in ("user@bücher.de", STORED):
        assert submit(spelling, ip="198.51.100.8").status_code == 303
    assert outbox == []


def test_a_bounced_address_without_a_subscriber_is_refused_by_the_import(client, webhook_secret):
    assert _bounce(client, "user@bücher.de").status_code == 200
    report = subscribers_import(text="email\nuser@BÜCHER.de\n", consent_source="booth",
                                prior_consent=True, dry_run=False)
    assert [line.outcome for line in report.lines] == ["suppressed"]
    assert not Subscriber.objects.exists()


def test_an_address_typed_in_the_admin_is_stored_like_one_from_the_form(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345678")
    client.force_login(admin)
    response = client.post("/admin/subscribers/subscriber/add/", {
        "email": "user@Bücher.de", "status": "active", "source": "admin", "frequency": "daily",
        "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "5",
        "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Subscriber.objects.get().email == STORED


def test_the_reader_sees_their_address_as_they_wrote_it_while_mail_goes_to_the_stored_form(client, submit, outbox):
    """The walkthrough of 5 December subscribed as user@bücher.example and was asked to
    confirm "user@xn--bcher-kva.example". The stored form stays the IDNA one (mail
    servers need it; every lookup uses it); what people read is the address they typed."""
    assert submit("user@Bücher.de").status_code == 303
    reader = Subscriber.objects.get()
    assert reader.email == STORED and reader.email_display == "user@bücher.de"
    (message,) = outbox
    assert message.to == [STORED]
    html = message.alternatives[0][0]
    assert "user@bücher.de" in message.body and "user@bücher.de" in html
    assert "xn--" not in message.body and "xn--" not in html
    from subscribers.tokens import subscriber_manage_url
    page = client.get(subscriber_manage_url(subscriber=reader).replace("http://testserver", "")).content.decode()
    # Masked on the page behind the link, which a forwarded email hands to others.
    assert "u…@bücher.de" in page and "xn--" not in page


@pytest.mark.parametrize(("stored", "shown"), [
    ("ann@example.com", "ann@example.com"),
    ("Ann@xn--mnchen-3ya.de", "Ann@münchen.de"),
    ("odd@xn--a.de", "odd@xn--a.de"),  # does not decode: shown as stored
])
def test_an_address_is_shown_with_its_domain_decoded(stored, shown):
    from subscribers.addresses import email_display
    assert email_display(stored) == shown


@pytest.mark.parametrize(("typed", "stored", "shown"), [
    ("ada@faß.de", "ada@xn--fa-hia.de", "ada@faß.de"),
    ("ada@FASS.de", "ada@fass.de", "ada@fass.de"),  # another domain, another owner
    ("eli@ελληνικός.gr", "eli@xn--qxaegecap6byf.gr", "eli@ελληνικός.gr"),  # final sigma
    ("ali@نامه\u200cای.ir", "ali@xn--mgba3gch31f060k.ir", "ali@نامه\u200cای.ir"),  # zero-width non-joiner
    ("amy@i❤.ws", "amy@xn--i-7iq.ws", "amy@i❤.ws"),  # IDNA 2008 has no emoji: encoded as before
])
def test_a_domain_with_an_eszett_a_final_sigma_or_a_joiner_is_mailed_at_that_domain(submit, outbox, typed, stored, shown):
    """Python's "idna" codec is IDNA 2003, which maps ß to "ss", ς to σ and drops
    joiners: a reader who subscribed as ada@faß.de (a German domain since 2010) was
    stored as ada@fass.de, and their confirmation email went to whoever owns fass.de;
    they never got it (an international reader's walkthrough). Domains are encoded
    by IDNA 2008 (UTS 46), as registries, browsers' address bars and mail servers do."""
    assert email_normalise(typed) == stored
    assert submit(typed).status_code == 303
    reader = Subscriber.objects.get()
    assert reader.email == stored and reader.email_display == shown
    (message,) = outbox
    assert message.to == [stored] and shown in message.body


@pytest.mark.parametrize(("address", "masked"), [
    ("jane.doe@example.com", "j…@example.com"),
    ("ann@example.com", "a…@example.com"),
    # One letter of two would be half the name: "jo@", "li@" are people's initials.
    ("jo@example.com", "…@example.com"),
    ("x@example.com", "…@example.com"),
    ("no address at all", "…"),
])
def test_an_address_masked_for_an_editor_shows_at_most_one_letter_and_none_of_a_short_name(address, masked):
    """What an editor without "Can view subscriber addresses" sees of a reader
    (the admin's lists, the ledger, the history): enough to tell readers apart and
    see a domain that bounces, never enough to recognise someone."""
    assert email_masked(address) == masked


@pytest.mark.parametrize("named", ["user@bücher.de", "USER@xn--BCHER-KVA.de"])
def test_an_esp_unsubscribe_for_any_spelling_unsubscribes_the_reader(client, webhook_secret, submit, named):
    """The reader left through their mail client's unsubscribe button; the ESP
    names the address as it was written to it."""
    assert submit("user@bücher.de").status_code == 303
    body = {"RecordType": "SubscriptionChange", "MessageID": "00000000-0000-0000-0000-00000000abce",
            "ChangedAt": "2025-11-24T08:53:34Z", "Recipient": named, "Origin": "Recipient",
            "SuppressSending": True, "SuppressionReason": "ManualSuppression", "Metadata": {}}
    assert client.post(webhooks.URL, json.dumps(body), content_type="application/json",
                       **webhooks.auth()).status_code == 200

    assert Subscriber.objects.get().status == Subscriber.Status.UNSUBSCRIBED


@pytest.mark.parametrize("typed", ["@example.com", "ann@exa mple.com", "ann@example.com\tx"])
def test_a_missing_name_or_a_space_in_the_domain_is_not_an_address(typed):
    """The form and the import say "Enter a valid email address." rather than store
    an address no mail server accepts (and whose reader would never be reached)."""
    from django.core.exceptions import ValidationError
    with pytest.raises(ValidationError):
        email_normalise(typed)


def test_a_name_typed_with_a_combining_accent_is_suppressed_like_the_composed_one():
    """A bounce for josé@ (é as one character) suppresses the address a form or a
    mail client spelled with e and a combining accent: they are one address."""
    assert email_hash("jose\u0301@example.com") == email_hash("jos\u00e9@example.com")


def test_a_recipient_an_esp_reports_that_is_no_address_is_suppressed_whatever_its_spacing():
    """An ESP may report anything as a recipient; its suppression is found again
    when it is reported with other spaces around it."""
    assert email_hash("  Not An Address ") == email_hash("not an address")


@pytest.mark.parametrize(("spelling", "mailbox"), [
    ("Ann@Example.com", "ann@example.com"),
    ("ann+news@example.com", "ann@example.com"),
    ("a.n.n@gmail.com", "ann@gmail.com"),
    ("A.n.n+x@googlemail.com", "ann@gmail.com"),
    ("ann+news+2024@gmail.com", "ann@gmail.com"),
])
def test_spellings_of_one_mailbox_share_its_limit_on_mail_to_strangers(spelling, mailbox):
    """Each spelling of a mailbox (case, "+tag", Gmail's dots and its other domain)
    counts against the one limit of mail to that mailbox, not a limit of its own."""
    from subscribers.addresses import mailbox_key
    assert mailbox_key(spelling) == mailbox_key(mailbox)


def test_addresses_that_are_only_a_tag_do_not_share_one_limit():
    """"+a@" and "+b@" are not both the mailbox "@example.com": one's limit is not
    spent by mail to the other."""
    from subscribers.addresses import mailbox_key
    assert mailbox_key("+a@example.com") != mailbox_key("+b@example.com")


def test_an_esp_refusal_naming_a_reader_is_masked_on_the_ledger_and_keeps_its_punctuation():
    """The reason an editor reads on the ledger names the recipient masked, and the
    brackets, quotes and commas around it are still there to read."""
    from subscribers.addresses import error_describe_masked
    exc = RuntimeError("Recipients refused: <jane.doe@example.com>, 'ann@example.org'; try later")
    assert error_describe_masked(exc) == (
        f"RuntimeError: Recipients refused: <{email_masked('jane.doe@example.com')}>, "
        f"'{email_masked('ann@example.org')}'; try later"
    )
    assert "jane" not in error_describe_masked(exc) and "ann@" not in error_describe_masked(exc)


def test_an_editor_who_sees_addresses_masked_cannot_sort_readers_by_address():
    """Sorting a masked column by the address would place a reader between others;
    those who see addresses whole can sort by them."""
    from django.contrib.auth.models import Permission

    from subscribers.addresses import address_column
    editor = get_user_model().objects.create_user("ed", "ed@example.com", "pw-12345678", is_staff=True)
    boss = get_user_model().objects.create_user("boss", "boss@example.com", "pw-12345678", is_staff=True)
    boss.user_permissions.add(Permission.objects.get(codename="view_subscriber_address"))
    boss = get_user_model().objects.get(pk=boss.pk)

    def column(user):
        return address_column(user, email_of=lambda obj: obj, description="Email", ordering="email")

    assert getattr(column(editor), "admin_order_field", None) is None
    assert column(boss).admin_order_field == "email"
    assert column(editor)("jane.doe@example.com") == email_masked("jane.doe@example.com")
