"""Migration 0021 (suppression.suppressions_reapply): the readers at other spellings
of a mailbox suppressed before the list kept mailboxes (0020) are suppressed, their
links retired, as a suppression recorded now does; by the same rule (what
address_suppress calls), so a bounce of a "+tag" spelling where tags may be refused,
and an erasure, cover no other spelling. Each test starts from the list as 0020 left
it: rows by exact address, their mailbox filled by 0020 for known addresses."""

import importlib

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from subscribers import tokens
from subscribers.models import ConsentRecord, RetiredToken, Subscriber, Suppression
from subscribers.suppression import address_suppress, email_hash, email_is_suppressed
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

SUPPRESSED, ACTIVE = Subscriber.Status.SUPPRESSED, Subscriber.Status.ACTIVE
mailboxes_fill = importlib.import_module("subscribers.migrations.0020_suppression_mailbox").mailboxes_fill
mailbox_readers_suppress = importlib.import_module(
    "subscribers.migrations.0021_suppression_mailbox_readers").mailbox_readers_suppress


def _models_at(migration: str):
    """The models as the migrations up to `migration` have them: what RunPython gets."""
    return MigrationLoader(connection).project_state(("subscribers", migration)).apps


def _suppressed_before_0020(email: str, reason: str) -> Subscriber:
    """The reader at `email` as a suppression before 0020 left them: suppressed, a row
    of their exact address with no mailbox; their other spellings untouched."""
    Suppression.objects.create(email_hash=email_hash(email), reason=reason, mailbox_hash="")
    return SubscriberFactory(email=email, status=SUPPRESSED)


def _upgrade() -> None:
    """0020's fill, then 0021, with the models they run with (0020's fill runs after its AddField)."""
    mailboxes_fill(_models_at("0020_suppression_mailbox"), None)
    mailbox_readers_suppress(_models_at("0020_suppression_mailbox"), None)


def _manage_path(reader: Subscriber) -> str:
    return tokens.subscriber_manage_url(subscriber=reader).replace("http://testserver", "")


def _state() -> tuple:
    return (sorted(Subscriber.objects.values_list("pk", "status", "token", "status_changed_at")),
            sorted(Suppression.objects.values_list("pk", "reason", "mailbox_hash")),
            sorted(RetiredToken.objects.values_list("subscriber_id", "token")),
            ConsentRecord.objects.count())


def test_the_readers_at_other_spellings_of_a_complained_mailbox_are_suppressed_and_their_links_retired(client):
    _suppressed_before_0020("ada@gmail.com", Suppression.Reason.COMPLAINT)
    others = [SubscriberFactory(email="a.da+news@gmail.com"), SubscriberFactory(email="ADA@googlemail.com")]
    stranger = SubscriberFactory(email="a.da@example.org")  # dots count here: another's mailbox
    old = [_manage_path(reader) for reader in [*others, stranger]]
    assert [client.get(path).status_code for path in old] == [200, 200, 200]

    _upgrade()

    for reader in [*others, stranger]:
        reader.refresh_from_db()
    assert [reader.status for reader in others] == [SUPPRESSED, SUPPRESSED]
    assert stranger.status == ACTIVE
    assert [client.get(path).status_code for path in old] == [410, 410, 200]
    assert RetiredToken.objects.filter(subscriber__in=others).count() == 2
    # The live path writes no consent record for a suppression; nor does this.
    assert not ConsentRecord.objects.exists()


def test_a_bounce_spreads_where_it_reaches_the_mailbox_but_not_from_a_tag_that_may_be_refused():
    """ada@corp.example's server may refuse ada+x@ and deliver ada@ (4ebda3c): its
    bounce covers that spelling only, and 0020's fill, which gave the row the
    mailbox's hash, is undone. A bounce of bob@ covers bob+news@."""
    _suppressed_before_0020("ada+x@corp.example", Suppression.Reason.HARD_BOUNCE)
    ada = SubscriberFactory(email="ada@corp.example")
    _suppressed_before_0020("bob@corp.example", Suppression.Reason.HARD_BOUNCE)
    bob = SubscriberFactory(email="bob+news@corp.example")
    mailboxes_fill(_models_at("0020_suppression_mailbox"), None)
    assert email_is_suppressed("ada@corp.example")  # 0020's fill, against the rule

    mailbox_readers_suppress(_models_at("0020_suppression_mailbox"), None)

    ada.refresh_from_db(), bob.refresh_from_db()
    assert (ada.status, bob.status) == (ACTIVE, SUPPRESSED)
    assert not email_is_suppressed("ada@corp.example") and email_is_suppressed("ADA+x@corp.example")
    assert Suppression.objects.get(email_hash=email_hash("ada+x@corp.example")).mailbox_hash == ""
    assert not RetiredToken.objects.filter(subscriber=ada).exists()


def test_an_erasure_does_not_spread_nor_stop_the_reader_who_subscribed_again():
    """An erased reader's row covers its spelling (SPELLING_ONLY); the reader who holds
    that spelling now subscribed again and is waiting for their confirmation."""
    Suppression.objects.create(email_hash=email_hash("cy@gmail.com"), reason=Suppression.Reason.DELETED)
    again = SubscriberFactory(email="cy@gmail.com", status=Subscriber.Status.PENDING)
    other = SubscriberFactory(email="c.y@gmail.com")
    before = _state()

    _upgrade()

    again.refresh_from_db(), other.refresh_from_db()
    assert (again.status, other.status) == (Subscriber.Status.PENDING, ACTIVE)
    assert _state()[0] == before[0] and _state()[2:] == before[2:]


def test_an_unrelated_reader_is_untouched_and_a_second_run_changes_nothing():
    _suppressed_before_0020("ada@gmail.com", Suppression.Reason.EDITOR)
    other = SubscriberFactory(email="a.d.a@gmail.com")
    unrelated = SubscriberFactory(email="eve@gmail.com")
    token, changed = unrelated.token, unrelated.status_changed_at

    _upgrade()
    once = _state()
    again = importlib.import_module("subscribers.suppression").suppressions_reapply(
        apps=_models_at("0020_suppression_mailbox"))

    assert _state() == once
    assert again.rows_applied == 0 and again.readers_suppressed == []
    other.refresh_from_db(), unrelated.refresh_from_db()
    assert other.status == SUPPRESSED
    assert (unrelated.status, unrelated.token, unrelated.status_changed_at) == (ACTIVE, token, changed)


def test_a_row_of_a_reader_suppressed_since_0020_is_left_as_it_is():
    """A suppression recorded by this release spread when it was recorded: nothing to
    apply, not even its row's mailbox_hash."""
    SubscriberFactory(email="ann@gmail.com")
    address_suppress(email="ann@gmail.com", reason=Suppression.Reason.COMPLAINT)
    before = _state()

    assert mailbox_readers_suppress(_models_at("0020_suppression_mailbox"), None) is None
    assert _state() == before


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_upgrade_from_the_release_before_0020_suppresses_the_mailboxs_readers_and_a_rollback_keeps_them():
    """`migrate` itself, from 0019 (the list by exact address) up: 0020 fills the
    mailboxes, 0021 suppresses their other readers; back to 0020 leaves them so."""
    try:
        call_command("migrate", "subscribers", "0019_email_change", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO subscribers_suppression (email_hash, reason, note, created_at) "
                           "VALUES (%s, 'complained', '', now())", [email_hash("ada@gmail.com")])
        SubscriberFactory(email="ada@gmail.com", status=SUPPRESSED)
        other = SubscriberFactory(email="a.da+news@gmail.com")
        call_command("migrate", "subscribers", verbosity=0)
        other.refresh_from_db()
        assert other.status == SUPPRESSED and RetiredToken.objects.filter(subscriber=other).exists()

        call_command("migrate", "subscribers", "0020_suppression_mailbox", verbosity=0)
        other.refresh_from_db()
        assert other.status == SUPPRESSED
    finally:
        call_command("migrate", verbosity=0)


def test_a_tags_bounce_whose_mailbox_has_no_other_reader_yet_does_not_stop_it_later():
    """ada+x@corp.example bounced before 0020, and nobody reads ada@corp.example yet:
    0020's fill gave the row the mailbox, against the rule, and the upgrade undoes it
    though no reader of the mailbox is there to stop; else ada@ subscribing next
    month would be refused for her tag's bounce."""
    _suppressed_before_0020("ada+x@corp.example", Suppression.Reason.HARD_BOUNCE)

    _upgrade()

    assert not email_is_suppressed("ada@corp.example") and email_is_suppressed("ada+x@corp.example")
    assert Suppression.objects.get().mailbox_hash == ""


def test_a_list_longer_than_one_transaction_takes_has_every_mailbox_stopped():
    """0021 applies the rows a hundred to a transaction (REAPPLY_BATCH): with 150
    complained mailboxes, each with a reader at a tagged spelling, all 150 are stopped,
    the last of the first hundred and of the fifty after it as the first."""
    others = []
    for n in range(150):
        _suppressed_before_0020(f"reader{n}@gmail.com", Suppression.Reason.COMPLAINT)
        others.append(SubscriberFactory(email=f"reader{n}+news@gmail.com").pk)

    _upgrade()

    assert Subscriber.objects.filter(pk__in=others, status=SUPPRESSED).count() == 150


@pytest.mark.django_db(transaction=True)
def test_a_run_stopped_half_way_leaves_no_reader_stopped_with_live_links_and_the_next_run_finishes(
    client, monkeypatch
):
    """0021 is not atomic: an error between marking a reader suppressed and retiring
    their links (the connection lost, the deploy killed) undoes that row's batch, so
    migrating again finds the reader still to stop and retires their links. Left
    suppressed with their links alive, the next run passed them over for good, and a
    forwarded digest went on opening their preference centre."""
    _suppressed_before_0020("ada@gmail.com", Suppression.Reason.COMPLAINT)
    other = SubscriberFactory(email="a.da+news@gmail.com")
    old = _manage_path(other)

    def lost(**kwargs):
        raise RuntimeError("connection lost")

    monkeypatch.setattr(importlib.import_module("subscribers.suppression"), "subscriber_links_retire", lost)
    with pytest.raises(RuntimeError):
        _upgrade()
    monkeypatch.undo()
    other.refresh_from_db()
    assert other.status == ACTIVE and client.get(old).status_code == 200

    _upgrade()

    other.refresh_from_db()
    assert other.status == SUPPRESSED and client.get(old).status_code == 410
