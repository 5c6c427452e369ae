"""The suppression list (subscribers/suppression.py) is keyed with its own key,
SUPPRESSION_HASH_KEY, never with SECRET_KEY: rotating SECRET_KEY, routine after a
leak, must leave every bounced, complained, editor-suppressed and erased address
unmailable."""

import datetime as dt
import hashlib
import importlib

import pytest
from django.apps import apps
from django.core import mail

from newsletter.models import DeliveryEvent
from subscribers.curation import subscribers_suppress, subscribers_unsuppress
from subscribers.models import Subscriber, Suppression
from subscribers.services import subscriber_delete, subscriber_subscribe
from subscribers.suppression import (
    address_suppress,
    address_unsuppress,
    address_unsuppress_on_confirmation,
    email_hash,
    email_hash_with_key,
    email_is_suppressed,
    emails_suppressed,
    suppression_reason_of,
)
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
rekey = importlib.import_module("subscribers.migrations.0005_suppression_hash_key").rekey


@pytest.fixture
def suppressed_by_every_writer():
    """One address suppressed by each writer: the ESP webhook's hard bounce, an
    editor, and a reader's erasure (only the hash stays)."""
    SubscriberFactory(email="bounced@example.com")
    address_suppress(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    editor_pick = SubscriberFactory(email="trap@example.com")
    subscribers_suppress(subscribers=[editor_pick], reason="a spam trap")
    subscriber_delete(subscriber=SubscriberFactory(email="erased@bücher.de"))
    return ["bounced@example.com", "trap@example.com", "erased@bücher.de"]


def test_rotating_secret_key_leaves_every_suppression_effective(settings, suppressed_by_every_writer):
    emails = suppressed_by_every_writer
    settings.SECRET_KEY = "rotated-after-a-leak-" + "z" * 40

    assert all(email_is_suppressed(e) for e in emails)
    assert emails_suppressed([*emails, "someone@example.com"]) == set(emails)
    # The bounced address cannot subscribe itself back into the digest (an erased
    # reader may, by confirming again: test_views.py).
    subscriber_subscribe(email="Bounced@Example.com", topics=[], ip=None, user_agent="test")
    assert Subscriber.objects.get(email__iexact="bounced@example.com").status == "suppressed"
    assert mail.outbox == []


def test_the_list_hangs_on_its_own_key(settings, suppressed_by_every_writer):
    """The other side of the test above: the hash key is the one thing that matters."""
    settings.SUPPRESSION_HASH_KEY = "a-new-key-that-must-never-be-set"
    assert not any(email_is_suppressed(e) for e in suppressed_by_every_writer)


def _plain_hash(email: str, key: str) -> str:
    """The list's hash before this change: lower-cased, keyed with SECRET_KEY."""
    return hashlib.blake2b(email.strip().lower().encode(), key=key.encode()[:64], digest_size=32).hexdigest()


def test_the_migration_rekeys_the_rows_of_known_addresses(settings):
    settings.SECRET_KEY, settings.SUPPRESSION_HASH_KEY = "the-old-secret-key", "the-new-hash-key"
    SubscriberFactory(email="ann@example.com", status=Subscriber.Status.SUPPRESSED)
    SubscriberFactory(email="bob@xn--bcher-kva.de", status=Subscriber.Status.SUPPRESSED)
    Suppression.objects.create(email_hash=_plain_hash("ann@example.com", "the-old-secret-key"), reason="bounced")
    Suppression.objects.create(
        email_hash=email_hash_with_key("bob@xn--bcher-kva.de", key="the-old-secret-key"), reason="complained"
    )
    event = DeliveryEvent.objects.create(
        event_id="e1", event_type="soft_bounced", occurred_at=dt.datetime(2025, 11, 24, tzinfo=dt.UTC),
        recipient_hash=_plain_hash("ann@example.com", "the-old-secret-key"),
    )
    assert not email_is_suppressed("ann@example.com")  # the old rows do not match the new key

    rekey(apps, None)

    assert email_is_suppressed("ann@example.com") and email_is_suppressed("bob@bücher.de")
    assert Suppression.objects.get(email_hash=email_hash("ann@example.com")).reason == "bounced"
    event.refresh_from_db()
    assert event.recipient_hash == email_hash("ann@example.com")


def test_the_migration_refuses_rows_it_cannot_rekey_and_changes_nothing(settings):
    settings.SECRET_KEY, settings.SUPPRESSION_HASH_KEY = "the-old-secret-key", "the-new-hash-key"
    SubscriberFactory(email="ann@example.com", status=Subscriber.Status.SUPPRESSED)
    known = _plain_hash("ann@example.com", "the-old-secret-key")
    erased = _plain_hash("erased@example.com", "the-old-secret-key")
    Suppression.objects.create(email_hash=known, reason="bounced")
    Suppression.objects.create(email_hash=erased, reason="deleted")

    with pytest.raises(RuntimeError, match="Set SUPPRESSION_HASH_KEY to the SECRET_KEY"):
        rekey(apps, None)
    assert set(Suppression.objects.values_list("email_hash", flat=True)) == {known, erased}


def test_the_migration_changes_nothing_when_the_keys_are_the_same(settings):
    settings.SUPPRESSION_HASH_KEY = settings.SECRET_KEY
    erased = email_hash("erased@example.com")
    Suppression.objects.create(email_hash=erased, reason="deleted")
    rekey(apps, None)
    assert email_is_suppressed("erased@example.com")


def test_an_address_keeps_the_first_reason_it_was_suppressed_for_unless_a_stronger_one_comes():
    """What an editor reads before lifting a suppression ("Suppressed on …: Hard
    bounce (550 5.1.1 user unknown)") is why the address was stopped: later, weaker
    events do not rewrite it. A complaint is the strongest and replaces anything; a
    bounce after an erasure replaces the erasure (a new subscription must no longer
    lift it)."""
    address_suppress(email="gone@example.com", reason=Suppression.Reason.HARD_BOUNCE, note="550 5.1.1 user unknown")
    address_suppress(email="gone@example.com", reason=Suppression.Reason.SOFT_BOUNCES, note="mailbox full")
    address_suppress(email="gone@example.com", reason=Suppression.Reason.EDITOR, note="asked by phone")
    row = Suppression.objects.get(email_hash=email_hash("gone@example.com"))
    assert (row.reason, row.note) == ("bounced", "550 5.1.1 user unknown")

    address_suppress(email="gone@example.com", reason=Suppression.Reason.COMPLAINT, note="Postmark complained")
    assert Suppression.objects.get(email_hash=email_hash("gone@example.com")).reason == "complained"

    address_suppress(email="left@example.com", reason=Suppression.Reason.DELETED)
    address_suppress(email="left@example.com", reason=Suppression.Reason.HARD_BOUNCE, note="550")
    assert Suppression.objects.get(email_hash=email_hash("left@example.com")).reason == "bounced"


def test_the_whole_hash_key_counts_not_only_its_beginning(settings, suppressed_by_every_writer):
    """Someone who learns the key's first characters (a leaked start of the
    setting) still cannot check a dump's list against addresses."""
    settings.SUPPRESSION_HASH_KEY = settings.SUPPRESSION_HASH_KEY[:20] + "-another-ending"
    assert not any(email_is_suppressed(e) for e in suppressed_by_every_writer)


def test_only_an_erasure_is_lifted_by_confirming_a_new_subscription():
    """An erased reader who subscribes again and confirms is mailed again; an address
    an editor or a bounce stopped stays stopped whoever confirms it."""
    address_suppress(email="erased@example.com", reason=Suppression.Reason.DELETED)
    address_suppress(email="picked@example.com", reason=Suppression.Reason.EDITOR)
    address_suppress(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)

    assert address_unsuppress_on_confirmation(email="erased@example.com")
    assert not email_is_suppressed("erased@example.com")
    for email in ("picked@example.com", "bounced@example.com"):
        assert not address_unsuppress_on_confirmation(email=email)
        assert email_is_suppressed(email)
    # Nothing left to lift.
    assert not address_unsuppress_on_confirmation(email="erased@example.com")


def test_a_suppression_a_subscription_may_lift_is_not_counted_when_asked_to_leave_it_out():
    """The subscribe form lets an erased reader through to confirm again, never a
    bounced one."""
    address_suppress(email="erased@example.com", reason=Suppression.Reason.DELETED)
    address_suppress(email="bounced@example.com", reason=Suppression.Reason.HARD_BOUNCE)
    leave_out = [Suppression.Reason.DELETED]
    assert email_is_suppressed("erased@example.com")
    assert not email_is_suppressed("erased@example.com", unless_reasons=leave_out)
    assert email_is_suppressed("bounced@example.com", unless_reasons=leave_out)


def test_a_bounce_with_a_long_diagnostic_is_still_suppressed():
    """An ESP's diagnostic can run to pages; the address is suppressed all the same,
    with the beginning of the reason kept for the editor."""
    diagnostic = "550 5.1.1 user unknown; " + "the remote server said more. " * 40
    assert address_suppress(email="gone@example.com", reason=Suppression.Reason.HARD_BOUNCE, note=diagnostic)
    row = Suppression.objects.get(email_hash=email_hash("gone@example.com"))
    assert row.reason == "bounced" and diagnostic.startswith(row.note) and row.note.startswith("550 5.1.1")


def test_a_reader_suppressed_and_lifted_shows_since_when_each_time():
    """The admin's "status since" of a reader tells the editor when they were
    stopped, and when they were put back."""
    reader = SubscriberFactory(email="ann@example.com", status=Subscriber.Status.ACTIVE)
    before = Subscriber.objects.get(pk=reader.pk).status_changed_at
    address_suppress(email="ann@example.com", reason=Suppression.Reason.EDITOR)
    reader.refresh_from_db()
    suppressed_at = reader.status_changed_at
    assert reader.status == Subscriber.Status.SUPPRESSED and suppressed_at and (before is None or suppressed_at > before)
    assert address_unsuppress(email="ann@example.com")
    reader.refresh_from_db()
    assert reader.status_changed_at > suppressed_at


def test_an_editor_cannot_lift_a_spam_complaint():
    """Whoever reported the digest as spam is never mailed again: "Unsuppress" keeps
    the complaint and the reader stays suppressed."""
    reader = SubscriberFactory(email="ann@example.com", status=Subscriber.Status.ACTIVE)
    address_suppress(email="ann@example.com", reason=Suppression.Reason.COMPLAINT)
    assert not address_unsuppress(email="ann@example.com")
    assert email_is_suppressed("ann@example.com")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_lifting_a_suppression_typed_in_another_case_puts_the_reader_back():
    """An editor who types the address from a support email, in its own case or the
    domain's Unicode spelling, lifts it for the reader too."""
    reader = SubscriberFactory(email="ann@xn--bcher-kva.de", status=Subscriber.Status.ACTIVE,
                               confirmed_at=dt.datetime(2025, 11, 1, tzinfo=dt.UTC))
    address_suppress(email="ann@xn--bcher-kva.de", reason=Suppression.Reason.EDITOR)
    assert address_unsuppress(email="ANN@Bücher.de")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_lifting_an_address_that_is_not_suppressed_lifts_nothing():
    """The editor is told no suppression was lifted, not that one was."""
    assert not address_unsuppress(email="never@example.com")


# --- One mailbox, many spellings (addresses.mailbox_key) -------------------------------


def test_a_complaint_covers_every_spelling_of_the_mailbox():
    """Whoever reported the digest as spam from ada@gmail.com is not mailed at the
    spellings anyone can type into the form: Gmail delivers them all to one inbox."""
    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.COMPLAINT)
    spellings = ["a.da+news@gmail.com", "ADA@googlemail.com", "A.D.A@Gmail.com"]
    for email in spellings:
        assert email_is_suppressed(email)
        assert suppression_reason_of(email) == Suppression.Reason.COMPLAINT
    assert emails_suppressed([*spellings, "adam@gmail.com"]) == set(spellings)
    assert not email_is_suppressed("adam@gmail.com")


def test_a_bounce_at_one_spelling_stops_every_reader_of_the_mailbox():
    ada = SubscriberFactory(email="ada@gmail.com")
    dotted = SubscriberFactory(email="A.da@googlemail.com")
    adam = SubscriberFactory(email="adam@gmail.com")
    address_suppress(email="ada+old@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    statuses = dict(Subscriber.objects.values_list("pk", "status"))
    assert statuses == {ada.pk: "suppressed", dotted.pk: "suppressed", adam.pk: "active"}


def test_dots_are_one_mailbox_only_where_the_provider_says_so():
    """At example.org a.da@ and ada@ are two people's mailboxes (mailbox_key): a
    bounce of one stops neither the other nor its reader. A "+tag" is the same
    mailbox there too."""
    other = SubscriberFactory(email="a.da@example.org")
    address_suppress(email="ada@example.org", reason=Suppression.Reason.HARD_BOUNCE)
    assert not email_is_suppressed("a.da@example.org")
    assert email_is_suppressed("ADA+news@example.org")
    other.refresh_from_db()
    assert other.status == Subscriber.Status.ACTIVE


def test_an_editors_unsuppress_of_one_spelling_lifts_the_mailbox():
    """What the check finds is what lifting lifts: lifting a.da+x@ only, the
    suppression of ada@ went on stopping a.da+x@ ("Unsuppress" said it was lifted)."""
    confirmed = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    ada = SubscriberFactory(email="ada@gmail.com", confirmed_at=confirmed)
    dotted = SubscriberFactory(email="a.da@gmail.com", confirmed_at=confirmed)
    subscribers_suppress(subscribers=[ada], reason="a role address")
    assert Subscriber.objects.get(pk=dotted.pk).status == "suppressed"

    assert address_unsuppress(email="a.da+x@gmail.com")
    assert not emails_suppressed(["ada@gmail.com", "a.da@gmail.com", "a.da+x@gmail.com"])
    assert set(Subscriber.objects.values_list("status", flat=True)) == {"active"}


def test_an_editor_cannot_lift_a_complaint_by_another_spelling_of_its_mailbox():
    reader = SubscriberFactory(email="a.da@gmail.com")
    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.COMPLAINT)
    address_suppress(email="a.da@gmail.com", reason=Suppression.Reason.EDITOR)
    assert not address_unsuppress(email="a.da@gmail.com")
    assert suppression_reason_of("a.da@gmail.com") == Suppression.Reason.COMPLAINT
    assert subscribers_unsuppress(subscribers=[reader]).kept == [reader]
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_an_erasure_covers_its_own_spelling_only():
    """Erasing ada@gmail.com is its owner's choice about that subscription: their
    subscription as a.da@gmail.com goes on, and confirming it lifts nothing, as
    nothing stopped it; ada@ itself is lifted only by confirming ada@ again."""
    other = SubscriberFactory(email="a.da@gmail.com")
    subscriber_delete(subscriber=SubscriberFactory(email="ada@gmail.com"))
    assert email_is_suppressed("ada@gmail.com")
    assert not email_is_suppressed("a.da@gmail.com")
    other.refresh_from_db()
    assert other.status == Subscriber.Status.ACTIVE

    assert not address_unsuppress_on_confirmation(email="a.da@gmail.com")
    assert email_is_suppressed("ada@gmail.com")
    assert address_unsuppress_on_confirmation(email="ADA@gmail.com")
    assert not email_is_suppressed("ada@gmail.com")


def test_a_bounce_after_an_erasure_covers_the_mailbox():
    """The stronger reason replaces the erasure (address_suppress), and with it what
    the suppression covers."""
    subscriber_delete(subscriber=SubscriberFactory(email="ada@gmail.com"))
    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    assert email_is_suppressed("a.da@gmail.com")


def test_the_migration_gives_the_rows_of_known_addresses_their_mailbox():
    """Rows from before the mailbox was kept cover their mailbox once the migration
    finds their address among the readers; a row nobody's address matches (an erased
    reader's) keeps covering its own spelling."""
    mailboxes_fill = importlib.import_module("subscribers.migrations.0020_suppression_mailbox").mailboxes_fill
    SubscriberFactory(email="ada@gmail.com", status=Subscriber.Status.SUPPRESSED)
    Suppression.objects.create(email_hash=email_hash("ada@gmail.com"), reason="complained")
    Suppression.objects.create(email_hash=email_hash("bob@gmail.com"), reason="bounced")
    assert not email_is_suppressed("a.da@gmail.com")

    mailboxes_fill(apps, None)

    assert email_is_suppressed("a.da@gmail.com")
    assert email_is_suppressed("bob@gmail.com") and not email_is_suppressed("b.ob@gmail.com")
    # Suppressed again, the row gets its mailbox.
    address_suppress(email="bob@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    assert email_is_suppressed("b.ob@gmail.com")


@pytest.mark.parametrize("reason", [Suppression.Reason.HARD_BOUNCE, Suppression.Reason.SOFT_BOUNCES])
def test_a_bounce_of_a_tagged_spelling_does_not_stop_the_mailbox_where_tags_may_not_be_delivered(reason):
    """Many a company's or university's server refuses ada+x@ ("no such user") and
    delivers ada@: anyone could type ada+x@corp.example into the subscribe form, and
    the confirmation's bounce stopped the digests of the reader at ada@ (and retired
    their links). A bounce says only that its spelling takes no mail; at Gmail,
    which delivers every +tag to the mailbox, it still covers the mailbox
    (test_a_bounce_at_one_spelling_stops_every_reader_of_the_mailbox), and a
    complaint (which only the mailbox's owner can make) covers it everywhere."""
    reader = SubscriberFactory(email="ada@corp.example")
    address_suppress(email="ada+x@corp.example", reason=reason)
    assert email_is_suppressed("ADA+x@corp.example")
    assert not email_is_suppressed("ada@corp.example")
    assert not emails_suppressed(["ada@corp.example", "ada+y@corp.example"])
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE

    # The same spelling's complaint: its mail was delivered, to the mailbox's owner.
    address_suppress(email="ada+x@corp.example", reason=Suppression.Reason.COMPLAINT)
    assert email_is_suppressed("ada@corp.example")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_an_erasure_does_not_stop_another_spelling_checked_in_the_same_batch():
    """A batch check (a digest batch, an import, the admin's list) answers for each
    address what a check of it alone answers: a.da@gmail.com is not refused because
    the erased ada@gmail.com happens to be on the same list."""
    subscriber_delete(subscriber=SubscriberFactory(email="ada@gmail.com"))
    assert emails_suppressed(["ada@gmail.com", "a.da@gmail.com"]) == {"ada@gmail.com"}


def test_the_reason_given_for_an_erased_spelling_of_a_bounced_mailbox_is_the_bounce():
    """The reason shown (the admin, the reader's pages) is the one that stops the
    address: confirming ada@gmail.com again lifts its erasure, not the bounce of its
    mailbox, so "deleted" would promise a way back that does not exist."""
    subscriber_delete(subscriber=SubscriberFactory(email="ada@gmail.com"))
    address_suppress(email="a.da@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    assert suppression_reason_of("ada@gmail.com") == Suppression.Reason.HARD_BOUNCE
    assert address_unsuppress_on_confirmation(email="ada@gmail.com")
    assert suppression_reason_of("ada@gmail.com") == Suppression.Reason.HARD_BOUNCE


def test_a_bounce_after_a_complaint_of_a_tagged_spelling_keeps_the_mailbox_stopped():
    """Whoever reported the digest as spam from ada+x@corp.example owns ada@: a later
    bounce of that spelling keeps the complaint, and with it the whole mailbox, so
    nobody typing ada+y@corp.example into the form sends them a confirmation."""
    reader = SubscriberFactory(email="ada@corp.example")
    address_suppress(email="ada+x@corp.example", reason=Suppression.Reason.COMPLAINT)
    address_suppress(email="ada+x@corp.example", reason=Suppression.Reason.HARD_BOUNCE)
    assert suppression_reason_of("ada+x@corp.example") == Suppression.Reason.COMPLAINT
    assert email_is_suppressed("ada@corp.example")
    assert email_is_suppressed("ada+y@corp.example")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED


def test_lifting_a_mailbox_keeps_a_reader_whose_own_tagged_spelling_bounced():
    """An editor lifts their suppression of ada@corp.example: the reader there is
    mailed again, the one at ada+x@corp.example, whose server refused the tag, is not
    (their bounce covers their spelling only, and still stands)."""
    confirmed = dt.datetime(2025, 11, 1, tzinfo=dt.UTC)
    ada = SubscriberFactory(email="ada@corp.example", confirmed_at=confirmed)
    tagged = SubscriberFactory(email="ada+x@corp.example", confirmed_at=confirmed)
    address_suppress(email="ada+x@corp.example", reason=Suppression.Reason.HARD_BOUNCE)
    address_suppress(email="ada@corp.example", reason=Suppression.Reason.EDITOR)

    assert address_unsuppress(email="ada@corp.example")
    statuses = dict(Subscriber.objects.values_list("pk", "status"))
    assert statuses == {ada.pk: "active", tagged.pk: "suppressed"}


def test_a_second_suppression_of_a_stopped_reader_keeps_since_when_and_their_links():
    """A reader stopped for a bounce, then complained of: they were stopped once, so
    the admin's "status since" stays the bounce's, and the links of the emails sent
    between (their preference centre's, retired at the bounce) are not retired again."""
    reader = SubscriberFactory(email="ann@gmail.com", status=Subscriber.Status.ACTIVE)
    address_suppress(email="ann@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    reader.refresh_from_db()
    stopped = (reader.status, reader.status_changed_at, reader.token)

    address_suppress(email="a.nn@gmail.com", reason=Suppression.Reason.COMPLAINT)

    reader.refresh_from_db()
    assert (reader.status, reader.status_changed_at, reader.token) == stopped
    assert stopped[0] == Subscriber.Status.SUPPRESSED


def test_a_tags_bounce_reported_in_another_case_stops_the_reader_at_that_spelling():
    """The reader typed Ada+x@corp.example; the ESP reports the bounce of ada+x@ (a
    server may lower-case the local part). The bounce covers that spelling only
    (tags may be refused there), and that spelling is the reader's: the admin and
    the dashboard show them suppressed and their old links are retired, not
    "active" while the digest skips them."""
    reader = SubscriberFactory(email="Ada+x@corp.example")
    token = reader.token
    address_suppress(email="ada+x@corp.example", reason=Suppression.Reason.HARD_BOUNCE)
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    assert reader.token != token
