"""The schema the migrations leave is one the previous release can still write: an
upgrade migrates while that release's worker and beat may not have stopped yet, and
rolling back (README, "Upgrading") runs it again on the new schema. A column added to
an existing table is therefore nullable or has a default in the database, not only in
Django (AddField drops the default it adds the column with)."""

import datetime as dt

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, migrations
from django.db.migrations.loader import MigrationLoader
from django.db.models import NOT_PROVIDED

from newsletter.models import Delivery, Edition, OutboxEmail
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

# The first migration of each app under this rule: the columns added before it were
# added in releases that no deployment rolls back across (see the module docstring).
RULE_FROM = {"newsletter": "0017", "subscribers": "0008"}


def _release_apps(app_label: str, migration: str):
    """The models as the release whose newest migration is `migration` has them."""
    return MigrationLoader(connection).project_state((app_label, migration)).apps


def test_the_release_before_the_reasons_column_still_records_its_deliveries():
    subscriber = SubscriberFactory()
    edition = Edition.objects.create(date=dt.date(2026, 12, 3))
    OldDelivery = _release_apps("newsletter", "0017_delivery_picked").get_model("newsletter", "Delivery")

    OldDelivery.objects.create(subscriber_id=subscriber.pk, edition_id=edition.pk)

    delivery = Delivery.objects.get(subscriber=subscriber, edition=edition)
    assert delivery.status == Delivery.Status.PENDING
    assert delivery.reasons == []


def test_the_release_before_outbox_attachments_still_keeps_its_emails():
    OldOutboxEmail = _release_apps("newsletter", "0025_delivery_weekly").get_model("newsletter", "OutboxEmail")

    OldOutboxEmail.objects.create(to="reader@example.org", from_email="digest@example.com",
                                  subject="Confirm your subscription", message_id="m-1")

    assert OutboxEmail.objects.get(message_id="m-1").attachments == []


def test_every_column_added_to_an_existing_table_is_nullable_or_has_a_database_default():
    loader = MigrationLoader(connection)
    final = loader.project_state().apps
    missing = []
    for (app_label, name), migration in sorted(loader.disk_migrations.items()):
        if app_label not in RULE_FROM or name[:4] < RULE_FROM[app_label]:
            continue
        for operation in migration.operations:
            if not isinstance(operation, migrations.AddField) or operation.field.many_to_many:
                continue
            try:
                field = final.get_model(app_label, operation.model_name)._meta.get_field(operation.name)
            except (LookupError, FieldDoesNotExist):  # removed since
                continue
            if not field.null and field.db_default is NOT_PROVIDED:
                missing.append(f"{app_label}.{operation.model_name}.{operation.name} ({name})")
    assert missing == []


def test_the_pins_column_starts_sent_editions_with_their_papers_pins_as_they_stand():
    """0043 adds EditionPaper.pinned; what editions sent before it had pinned is not
    known, and the papers' pins now are the best there is."""
    from importlib import import_module

    from django.apps import apps
    from django.utils import timezone

    from newsletter.models import EditionPaper
    from tests.factories import PaperFactory

    edition = Edition.objects.create(date=dt.date(2026, 12, 3), frozen_at=timezone.now())
    pinned, other = PaperFactory(pinned=True), PaperFactory()
    for position, paper in enumerate([pinned, other], start=1):
        EditionPaper.objects.create(edition=edition, paper=paper, position=position)

    import_module("newsletter.migrations.0043_editionpaper_pinned").pins_copy(apps, None)

    assert dict(EditionPaper.objects.values_list("paper_id", "pinned")) == {pinned.pk: True, other.pk: False}


def test_every_model_change_has_its_migration():
    """A model that differs from what its migrations leave (a max_length read from a
    constant that changed, a field renamed) is a schema no deployment gets: the
    commit says "no migration", and nothing checked it."""
    import io

    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:
        pytest.fail(f"a model change without its migration:\n{out.getvalue()}")

