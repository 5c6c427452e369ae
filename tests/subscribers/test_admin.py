"""The subscribers' admin (subscribers/admin.py, csv_io.py, curation.py)."""

import datetime as dt
import re
from html import unescape

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from subscribers.models import ConsentRecord, Subscriber, Suppression
from subscribers.suppression import email_hash
from tests.factories import SubscriberFactory, TopicFactory


def test_an_editor_gets_403_on_subscriber_export(editor_client):
    SubscriberFactory()
    assert editor_client.get(reverse("admin:subscribers_subscriber_export")).status_code == 403


def test_an_editor_is_not_offered_export_or_delete(editor_client):
    reader = SubscriberFactory()
    url = reverse("admin:subscribers_subscriber_changelist")
    html = editor_client.get(url).content.decode()
    assert "export_csv" not in html and "delete_selected" not in html
    response = editor_client.post(url, {"action": "export_csv", "_selected_action": [reader.pk]})
    assert response.get("Content-Type", "").startswith("text/html")  # no CSV
    delete = reverse("admin:subscribers_subscriber_delete", args=[reader.pk])
    assert editor_client.post(delete, {"post": "yes"}).status_code == 403
    assert Subscriber.objects.filter(pk=reader.pk).exists()


def test_a_superuser_exports_selected_as_csv(admin_client):
    topic = TopicFactory(slug="agents")
    reader = SubscriberFactory(email="a@example.com")
    reader.topics.add(topic)
    SubscriberFactory(email="b@example.com")
    response = admin_client.post(reverse("admin:subscribers_subscriber_changelist"),
                                 {"action": "export_csv", "_selected_action": [reader.pk]})
    body = response.content.decode()
    assert response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0].startswith("email,status,topics")
    assert "a@example.com,active,agents" in body and "b@example.com" not in body
    assert admin_client.get(reverse("admin:subscribers_subscriber_export")).status_code == 200


def test_the_export_never_hands_a_spreadsheet_a_formula(admin_client):
    """The public form takes "=cmd|'/Ccalc'!A0@x.com" as an address; the export wrote
    it as the row's first cell, which a spreadsheet runs (a hostile tester's pass)."""
    for email in ("=cmd|'/Ccalc'!A0@x.com", "+sum@x.com", "-2+3@x.com", "@x@y.com"):
        Subscriber.objects.create(email=email)
    body = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    rows = [line.split(",", 1)[0] for line in body.splitlines()[1:]]
    assert sorted(rows) == sorted(["'=cmd|'/Ccalc'!A0@x.com", "'+sum@x.com", "'-2+3@x.com", "'@x@y.com"])


def test_an_export_holds_a_batch_of_readers_at_a_time_not_all_of_them(admin_client, monkeypatch):
    """"Export all as CSV" loaded every reader with their topics before writing a row:
    20,000 readers of two topics held 88 MB at its peak (tracemalloc), so the 100,000
    the admin is measured at (docs/benchmarks.md) some 440 MB in one web process. It
    reads them a batch at a time, each batch's topics in one query (a memory peak is
    not pinned here: it follows when the garbage collector runs)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from subscribers import admin as subscribers_admin

    monkeypatch.setattr(subscribers_admin, "EXPORT_BATCH", 100, raising=False)
    topic = TopicFactory(slug="agents")
    readers = Subscriber.objects.bulk_create([Subscriber(email=f"r{n}@example.org") for n in range(300)])
    Subscriber.topics.through.objects.bulk_create(
        [Subscriber.topics.through(subscriber_id=r.pk, topic_id=topic.pk) for r in readers])
    with CaptureQueriesContext(connection) as queries:
        body = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    assert body.count("@example.org,pending,agents,") == 300
    through = Subscriber.topics.through._meta.db_table
    assert len([q for q in queries if f'"{through}"' in q["sql"]]) == 3


def test_deleting_as_superuser_leaves_a_suppression_hash(admin_client):
    reader = SubscriberFactory(email="gone@example.com")
    admin_client.post(reverse("admin:subscribers_subscriber_delete", args=[reader.pk]), {"post": "yes"})
    assert not Subscriber.objects.exists()
    assert Suppression.objects.filter(email_hash=email_hash("gone@example.com")).exists()


def test_a_superuser_erases_readers_who_got_digests_one_or_several(admin_client):
    """A reader who asks to be forgotten has usually had digests: the superuser's
    delete said "Cannot delete subscriber … your account doesn't have permission to
    delete … delivery" (the ledger's rows are deleted by no one by hand), and the
    erasure was refused, on the reader's page and for a selection (an editor's
    walkthrough, 7 December). Their deliveries go with them, through the service."""
    from newsletter.models import Delivery, Edition

    edition = Edition.objects.create(date=dt.date(2026, 11, 30))
    readers = [SubscriberFactory(email=f"gone{n}@example.com") for n in range(3)]
    for reader in readers:
        Delivery.objects.create(subscriber=reader, edition=edition, status="sent")

    erased = admin_client.post(reverse("admin:subscribers_subscriber_delete", args=[readers[0].pk]), {"post": "yes"})
    assert erased.status_code == 302
    admin_client.post(reverse("admin:subscribers_subscriber_changelist"),
                      {"action": "delete_selected", "post": "yes", "_selected_action": [r.pk for r in readers[1:]]})

    assert not Subscriber.objects.exists() and not Delivery.objects.exists()
    assert Suppression.objects.filter(email_hash__in=[email_hash(r.email) for r in readers]).count() == 3


def test_a_switched_off_topic_says_so_on_the_readers_list_and_page(editor_client):
    """A reader keeps following a topic an editor switched off, which is in no digest
    any more: the readers' list named it like the others, and a reader's page (the
    Add page too) offered it unmarked."""
    reader = SubscriberFactory(email="follows@example.com")
    reader.topics.add(TopicFactory(name="Agents"), TopicFactory(name="Model compression", is_active=False))

    listed = unescape(editor_client.get(reverse("admin:subscribers_subscriber_changelist")).content.decode())
    assert "Agents, Model compression (switched off: in no digest)" in listed  # the topics' order: new ones last
    for url in (reverse("admin:subscribers_subscriber_change", args=[reader.pk]),
                reverse("admin:subscribers_subscriber_add")):
        page = unescape(editor_client.get(url).content.decode())
        assert re.search(r"<label[^>]*>\s*<input[^>]*>\s*Model compression \(switched off: in no digest\)</label>", page)
        assert re.search(r"<label[^>]*>\s*<input[^>]*>\s*Agents</label>", page)


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("readers.csv", text.encode(), content_type="text/csv")


CSV = ("email,topics,frequency,time_zone\n"
       "new@example.com,agents,weekly,Europe/Paris\n"
       "old@example.com,,,\n"
       "not-an-address,,,\n"
       "new@example.com,,,\n")


def test_import_dry_run_reports_and_writes_nothing(editor_client):
    TopicFactory(name="Agents", slug="agents")
    SubscriberFactory(email="old@example.com", status="unsubscribed")
    response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
        "file": _csv(CSV), "consent_source": "Booth sign-up sheet", "_check": "1"})
    html = response.content.decode()
    assert "1 would be added" in html and "1 already on the list (left unchanged)" in html
    assert "1 invalid" in html and "1 repeated" in html
    assert Subscriber.objects.count() == 1 and mail.outbox == []


@pytest.mark.parametrize(("text", "said"), [
    # A field over the csv module's limit: was a 500 (_csv.Error) in the editors'
    # walkthrough of 5 December.
    ("email,note\nann@example.com," + "x" * 140_000 + "\n",
     "The file cannot be read as CSV at line 2: field larger than field limit"),
    # A spreadsheet's export with semicolons: the likely cause, said.
    ("email;topics\nann@example.com;agents\n",
     "Its columns are separated by semicolons: save it with commas"),
    # Two columns of one name: csv.DictReader kept the second, so "email,email"
    # imported whatever the second column held.
    ("email,email\nann@example.com,bob@example.com\n",
     "The header names &#x27;email&#x27; more than once: keep one column of each. Nothing was imported."),
    # Tab-separated (a spreadsheet's "Text" export): the likely cause, said.
    ("email\ttopics\nann@example.com\tagents\n",
     "Its columns are separated by tabs: save it with commas"),
])
def test_an_unreadable_import_file_is_refused_with_its_cause_and_nothing_is_imported(editor_client, text, said):
    response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
        "file": _csv(text), "consent_source": "Booth sign-up sheet", "_import": "1"})
    assert response.status_code == 200
    assert said in response.content.decode()
    assert not Subscriber.objects.exists()


def _imported(client, text: str, **form) -> str:
    response = client.post(reverse("admin:subscribers_subscriber_import"), {
        "file": _csv(text), "consent_source": "Booth sign-up sheet", "_import": "1", **form})
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_file_imports_whatever_ends_its_lines(editor_client, end):
    """Excel for Mac's "CSV (Macintosh)" ends each line with CR alone: the import
    refused it as "new-line character seen in unquoted field - do you need to open
    the file in universal-newline mode?" (the csv module's words, of a file opened
    without newline="")."""
    html = _imported(editor_client, end.join(["email,topics", "ann@example.com,", "bob@example.com,", ""]))
    assert "Imported: 2 added and sent a confirmation email." in html
    assert sorted(Subscriber.objects.values_list("email", flat=True)) == ["ann@example.com", "bob@example.com"]


def test_the_report_names_the_line_of_the_file_a_refused_row_is_on(editor_client):
    """The report numbered rows by count from 2: after a blank line, or a quoted field
    written on two lines, it sent the editor to the line above the refused row."""
    text = 'email,note\nann@example.com,\n\nnot-an-address,\n"bob@example.com","met at the booth,\nasked for it"\nbad@,\n'
    html = _imported(editor_client, text)
    assert "<td>4</td><td>not-an-address</td><td>invalid</td>" in html
    assert "<td>5</td><td>bob@example.com</td><td>new</td>" in html
    assert "<td>7</td><td>bad@</td><td>invalid</td>" in html


def test_rows_with_nothing_in_them_are_skipped_not_counted_invalid(editor_client):
    """A spreadsheet saved as CSV writes the empty rows below its list as commas
    (",,"): each was reported "invalid: Enter a valid email address." with no
    address, and the summary counted readers refused that were never there."""
    html = _imported(editor_client, "email,topics,frequency\nann@example.com,,\n,,\n , ,\n\n")
    assert "Imported: 1 added and sent a confirmation email.</h2>" in html
    assert "invalid" not in html


def test_a_row_names_its_topics_and_settings_as_a_person_writes_them(editor_client):
    """A spreadsheet's header in capitals with spaces after the commas, topics by
    slug or by name in any case, separated by ";" or "|" with spaces around them, a
    frequency in capitals: each reader gets what their row says, their delivery
    hour and time zone too."""
    TopicFactory(name="Agents", slug="agents")
    TopicFactory(name="Computer Vision", slug="vision")
    text = ("Email, Topics, Frequency, Time_Zone, Delivery_Hour\n"
            "pipe@example.com,agents|vision,Weekly,Asia/Tokyo,0\n"
            "spaced@example.com, Agents ; COMPUTER VISION ,DAILY,,23\n")
    html = _imported(editor_client, text)
    assert "Imported: 2 added and sent a confirmation email.</h2>" in html  # no "0 invalid; 0 …"
    readers = {s.email: s for s in Subscriber.objects.all()}
    assert sorted(readers) == ["pipe@example.com", "spaced@example.com"]
    for reader in readers.values():
        assert sorted(t.slug for t in reader.topics.all()) == ["agents", "vision"], reader.email
    pipe, spaced = readers["pipe@example.com"], readers["spaced@example.com"]
    assert (pipe.frequency, pipe.time_zone, pipe.delivery_hour) == ("weekly", "Asia/Tokyo", 0)
    assert (spaced.frequency, spaced.time_zone, spaced.delivery_hour) == ("daily", "UTC", 23)
    # Where, from which file, by whom and to what each reader consented: on their record.
    assert ConsentRecord.objects.get(subscriber=pipe).detail == {
        "consent_source": "Booth sign-up sheet", "prior_consent": False, "added_by": "editor",
        "file": "readers.csv", "topics": ["agents", "vision"]}


@pytest.mark.parametrize(("row", "said"), [
    ("agents;robotics,,,", "unknown topics: robotics"),
    # A spreadsheet's list in one cell: the separators are said.
    ('"agents, vision",,,', "unknown topics: agents, vision (separate topics with ; or |, not commas)"),
    (",monthly,,", "frequency must be one of daily, weekly"),
    (",,Mars/Olympus,", "unknown time zone &#x27;Mars/Olympus&#x27;"),
    (",,,24", "delivery_hour must be 0–23"),
    # A digit str.isdigit() takes and int() does not (a 500 before, the file's rows lost).
    (",,,²", "delivery_hour must be 0–23"),
    (",,," + "9" * 5000, "delivery_hour must be 0–23"),
])
def test_a_row_the_digest_cannot_honour_is_refused_with_its_reason_and_the_others_are_imported(
    editor_client, row, said,
):
    TopicFactory(name="Agents", slug="agents"), TopicFactory(name="Vision", slug="vision")
    text = ("email,topics,frequency,time_zone,delivery_hour\n"
            "ok@example.com,agents,weekly,Europe/Paris,8\n"
            f"refused@example.com,{row}\n")
    html = _imported(editor_client, text)
    assert f"<td>3</td><td>refused@example.com</td><td>invalid</td><td>{said}</td>" in html
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ok@example.com"]


def test_an_imported_time_zone_is_one_a_reader_can_choose_stored_by_its_current_name(editor_client):
    """The import took any name of the time-zone database: "Etc/GMT-1" (or GMT,
    EST5EDT), which the reader's own form does not offer, so their preferences page
    showed the first zone, UTC, and saving it moved their digest's hour. An old name
    is stored as the forms store it (Asia/Calcutta is Asia/Kolkata)."""
    html = unescape(_imported(editor_client, "email,time_zone\nold@example.com,Asia/Calcutta\n"
                                             "etc@example.com,Etc/GMT-1\n"))
    assert "<td>3</td><td>etc@example.com</td><td>invalid</td><td>unknown time zone 'Etc/GMT-1'</td>" in html
    assert list(Subscriber.objects.values_list("email", "time_zone")) == [("old@example.com", "Asia/Kolkata")]


def test_rows_without_topics_get_the_topics_ticked_for_them_and_the_others_keep_their_own(editor_client):
    agents = TopicFactory(name="Agents", slug="agents")
    vision = TopicFactory(name="Computer Vision", slug="vision")
    _imported(editor_client, "email,topics\nnone@example.com,\nown@example.com,agents\n",
              default_topics=[vision.pk])
    assert [t.slug for t in Subscriber.objects.get(email="none@example.com").topics.all()] == ["vision"]
    assert [t.slug for t in Subscriber.objects.get(email="own@example.com").topics.all()] == [agents.slug]


def test_a_file_over_the_most_rows_a_file_may_have_is_refused_whole(editor_client, monkeypatch):
    from subscribers import csv_io

    monkeypatch.setattr(csv_io, "IMPORT_MAX_ROWS", 2)
    over = _imported(editor_client, "email\na@example.com\nb@example.com\nc@example.com\n")
    assert "At most 2 rows per file." in over and not Subscriber.objects.exists()
    assert "Imported: 2 added" in _imported(editor_client, "email\na@example.com\nb@example.com\n")


def test_a_file_over_the_most_rows_is_refused_at_the_first_row_past_them_unread_beyond(editor_client, monkeypatch):
    """The rows were counted once all were read: a file within IMPORT_MAX_BYTES of
    short rows ("x@y.io", 714,000 of them in 5 MB) held 260 MB of rows in the web
    process before it was refused, and what came after the most rows was read too
    (here, a field the csv module cannot read was the reason given)."""
    from subscribers import csv_io

    monkeypatch.setattr(csv_io, "IMPORT_MAX_ROWS", 2)
    over = _imported(editor_client, "email\na@example.com\nb@example.com\nc@example.com\n" + "x" * 140_000 + "\n")
    assert "At most 2 rows per file." in over and not Subscriber.objects.exists()


def test_a_row_with_an_address_in_capitals_is_the_same_subscriber(editor_client):
    SubscriberFactory(email="ann@example.com")
    html = _imported(editor_client, "email\nAnn@Example.com\n")
    assert "<td>2</td><td>Ann@example.com</td><td>exists</td><td>Active</td>" in html
    assert "0 added; 1 already on the list (left unchanged)." in html
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@example.com"] and mail.outbox == []


def test_a_row_naming_a_retired_topic_is_refused_as_an_unknown_topic(editor_client):
    TopicFactory(name="Old Topic", slug="old", is_active=False)
    html = _imported(editor_client, "email,topics\nann@example.com,old\n")
    assert "<td>2</td><td>ann@example.com</td><td>invalid</td><td>unknown topics: old</td>" in html
    assert not Subscriber.objects.exists()


# Addresses of the longest length mail and the email column take (254), and one more.
ADDRESS_254 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
ADDRESS_255 = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"


def test_an_imported_address_of_254_characters_is_added_and_one_of_255_refused_with_why(editor_client):
    """An import checks addresses with addresses.email_validate only (no form field's
    max_length): a row of 255 characters, which Django's validator takes (up to 320),
    failed the whole import on the column's insert; 254, the most mail takes, is an
    address like any other."""
    assert (len(ADDRESS_254), len(ADDRESS_255)) == (254, 255)
    html = unescape(_imported(editor_client, f"email\n{ADDRESS_254}\n{ADDRESS_255}\n"))
    assert f"<td>3</td><td>{ADDRESS_255}</td><td>invalid</td><td>This address is too long for mail" in html
    assert list(Subscriber.objects.values_list("email", flat=True)) == [ADDRESS_254]


@pytest.mark.parametrize("row", ["ann smith@example.com", "ann@@example.com", ".ann@example.com"])
def test_an_imported_row_that_looks_like_an_address_but_is_none_is_refused(editor_client, row):
    """The stored form (addresses.email_normalise) takes these: Django's validator in
    addresses.email_validate is what refuses them, and nothing could be mailed there."""
    html = _imported(editor_client, f"email\nok@example.com\n{row}\n")
    assert f"<td>3</td><td>{row}</td><td>invalid</td>" in html
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ok@example.com"]


def test_an_address_at_a_blocked_domain_is_not_imported(editor_client):
    from subscribers.models import BlockedDomain

    BlockedDomain.objects.create(domain="junkmail.test")
    html = _imported(editor_client, "email\nann@example.com\nbob@eu.junkmail.test\n")
    assert "<td>3</td><td>bob@eu.junkmail.test</td><td>blocked</td>" in html
    assert "1 added and sent a confirmation email; 1 at blocked domains." in html
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ann@example.com"]


def test_a_reader_imported_with_prior_consent_has_their_confirmation_on_record_and_in_the_export(admin_client):
    _imported(admin_client, "email\nknown@example.com\n", prior_consent="on")
    reader = Subscriber.objects.get(email="known@example.com")
    actions = [r.action for r in ConsentRecord.objects.filter(subscriber=reader).order_by("pk")]
    assert actions == ["subscribe", "confirm"]
    body = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    header, row = body.splitlines()
    assert dict(zip(header.split(","), row.split(",")))["confirmed_at"] == reader.confirmed_at.isoformat()


def test_an_export_imported_on_another_instance_never_re_adds_who_left_or_was_suppressed(
    admin_client, django_capture_on_commit_callbacks,
):
    """An export has every reader with their status; imported where this list's rows
    and suppressions are not (another instance, a database restored), the readers
    who unsubscribed or complained came back, active with "prior consent" or mailed a
    confirmation without: the import read no status (a hostile tester's pass)."""
    from subscribers.suppression import address_suppress

    SubscriberFactory(email="stays@example.com")
    SubscriberFactory(email="left@example.com", status="unsubscribed")
    SubscriberFactory(email="complained@example.com")
    address_suppress(email="complained@example.com", reason=Suppression.Reason.COMPLAINT)
    exported = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    Subscriber.objects.all().delete()
    Suppression.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        page = unescape(_imported(admin_client, exported, prior_consent="on"))
        _imported(admin_client, exported)

    assert "<td>left@example.com</td><td>unsubscribed</td><td>The file says they unsubscribed.</td>" in page
    assert "<td>complained@example.com</td><td>suppressed</td><td>The file says they are suppressed.</td>" in page
    assert "1 added as active (prior consent); 1 unsubscribed (never re-added); 1 suppressed (never mailed)" in page
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["stays@example.com"]
    assert mail.outbox == []


def test_an_export_imported_with_prior_consent_makes_no_reader_who_never_confirmed_a_recipient(admin_client):
    """"They already confirmed their address elsewhere" is said of a whole file; an
    export's pending readers never confirmed, as its status column says, and the
    import made them active: digests to addresses nobody confirmed."""
    SubscriberFactory(email="confirmed@example.com")
    SubscriberFactory(email="waiting@example.com", status="pending", confirmed_at=None)
    exported = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    Subscriber.objects.all().delete()

    page = unescape(_imported(admin_client, exported, prior_consent="on"))

    assert ("<td>waiting@example.com</td><td>invalid</td><td>The file says they never confirmed: import them "
            "without “They already confirmed” and they get a confirmation email.</td>") in page
    assert list(Subscriber.objects.values_list("email", "status")) == [("confirmed@example.com", "active")]


def test_a_file_exported_here_imports_back_with_each_readers_schedule_and_says_what_it_leaves(admin_client):
    """An export moved to another instance, or imported back after a mistake: a weekly
    reader of Thursdays came back a reader of Mondays (the import read no weekday),
    and the export's status, source and dates were dropped without a word."""
    agents, vision = TopicFactory(slug="agents"), TopicFactory(slug="vision")
    weekly = SubscriberFactory(email="thu@example.com", frequency="weekly", weekday=3, delivery_hour=18,
                               time_zone="Asia/Tokyo")
    weekly.topics.set([agents, vision])
    daily = SubscriberFactory(email="day@example.com", delivery_hour=6, time_zone="America/Chicago")
    daily.topics.set([vision])
    exported = admin_client.post(reverse("admin:subscribers_subscriber_changelist"), {
        "action": "export_csv", "_selected_action": [weekly.pk, daily.pk]}).content.decode()
    Subscriber.objects.all().delete()

    page = _imported(admin_client, exported, prior_consent="on")

    assert ("2 added as active (prior consent); columns not imported: status, source, created_at, "
            "confirmed_at, unsubscribed_at (an import never sets them).") in page
    back = {s.email: s for s in Subscriber.objects.prefetch_related("topics")}
    assert (back["thu@example.com"].frequency, back["thu@example.com"].weekday_name,
            back["thu@example.com"].delivery_hour, str(back["thu@example.com"].time_zone)) == (
        "weekly", "Thursday", 18, "Asia/Tokyo")
    assert {t.slug for t in back["thu@example.com"].topics.all()} == {"agents", "vision"}
    assert (back["day@example.com"].delivery_hour, str(back["day@example.com"].time_zone)) == (6, "America/Chicago")


def test_an_export_imported_back_reads_each_address_as_the_reader_wrote_it(admin_client):
    """The export writes "-ann@example.com" as "'-ann@example.com" (a leading quote,
    so no spreadsheet runs it as a formula); imported back, the quote was taken as
    part of the address: a second reader at an address nobody owns, mailed a
    confirmation, beside the first."""
    for email in ("-ann@example.com", "+bob@example.com", "=cal@example.com", "dan@example.com"):
        SubscriberFactory(email=email)
    exported = admin_client.get(reverse("admin:subscribers_subscriber_export")).content.decode()
    assert "'-ann@example.com" in exported

    page = unescape(_imported(admin_client, exported))

    assert "0 added; 4 already on the list (left unchanged)" in page
    assert "<td>-ann@example.com</td><td>exists</td>" in page
    assert Subscriber.objects.count() == 4


@pytest.mark.parametrize(("written", "day"), [("Thursday", 3), ("thu", 3), ("SUN", 6), ("0", 0)])
def test_a_weekly_readers_day_is_read_by_its_name_or_number(admin_client, written, day):
    _imported(admin_client, f"email,frequency,weekday\nw@example.com,weekly,{written}\n", prior_consent="on")
    assert Subscriber.objects.get().weekday == day


def test_a_row_with_a_day_that_is_not_one_is_refused_with_the_reason(admin_client):
    """'²' is a digit int() refuses, as it refuses 5,000 digits: either was a 500, the
    file's rows lost (9bea232 reads decimal digits of a weekday's length)."""
    page = _imported(admin_client, "email,frequency,weekday\nw@example.com,weekly,7\nx@example.com,weekly,Thurs\n"
                                   f"y@example.com,weekly,²\nz@example.com,weekly,{'0' * 5000}\n")
    assert page.count("weekday must be 0–6 (0 is Monday) or a day&#x27;s name") == 4
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("prior_consent", [True, False])
def test_an_imports_queries_do_not_grow_with_its_rows(db, prior_consent):
    """A file of 10,000 rows took 31 s to import (a few statements a row, past what a
    proxy waits for the page) and 8 s to check (two queries a row: suppressed?
    blocked?). The checks are one query each for the file, the writes a few
    statements for all its rows, the confirmation emails' claims among them (an
    UPDATE a row until 6 December: docs/benchmarks.md, "An import of 10,000 readers")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from subscribers.csv_io import subscribers_import
    from subscribers.models import BlockedDomain

    topic = TopicFactory(slug="agents")
    Suppression.objects.create(email_hash=email_hash("gone5@example.org"), reason="hard_bounce")
    BlockedDomain.objects.create(domain="spam.example")
    counts = {}
    for rows in (20, 200):
        text = "email,topics\n" + "".join(f"r{rows}-{i}@example.org,agents\n" for i in range(rows))
        text += "gone5@example.org,\nsomeone@mx.spam.example,\n"
        for dry_run in (True, False):
            with CaptureQueriesContext(connection) as queries:
                report = subscribers_import(text=text, consent_source="Booth", prior_consent=prior_consent,
                                            dry_run=dry_run)
            counts[rows, dry_run] = len(queries)
        assert (report.created, report.count("suppressed"), report.count("blocked")) == (rows, 1, 1)
    assert counts[20, True] == counts[200, True]
    assert counts[200, False] - counts[20, False] <= 2  # a batch boundary at most
    reader = Subscriber.objects.get(email="r200-7@example.org")
    assert list(reader.topics.all()) == [topic]
    assert [r.action for r in ConsentRecord.objects.filter(subscriber=reader).order_by("pk")] == (
        ["subscribe", "confirm"] if prior_consent else ["subscribe"])


def test_an_imports_time_zones_are_listed_once_for_the_file_not_once_a_row(db, monkeypatch):
    """Each row's time zone was checked against zoneinfo.available_timezones(), which
    reads the time-zone database anew each call (13 ms): an export of 2,000 readers
    (every row has its time_zone) took 20 s to check, 10,000 over a minute and a
    half, past what a proxy waits for the page. The benchmark's file had no time
    zones (docs/benchmarks.md, "An import of 10,000 readers")."""
    import zoneinfo

    from subscribers.csv_io import subscribers_import

    calls = []
    listed = zoneinfo.available_timezones

    def counted():
        calls.append(1)
        return listed()

    monkeypatch.setattr(zoneinfo, "available_timezones", counted)
    text = "email,time_zone\n" + "".join(f"r{i}@example.org,Europe/Paris\n" for i in range(50))
    report = subscribers_import(text=text + "late@example.org,Mars/Olympus\n", consent_source="Booth",
                               prior_consent=True, dry_run=True)
    assert (report.created, report.count("invalid")) == (50, 1)
    assert len(calls) <= 1


def test_import_requires_a_consent_source(editor_client):
    response = editor_client.post(reverse("admin:subscribers_subscriber_import"),
                                  {"file": _csv(CSV), "consent_source": "", "_import": "1"})
    assert "This field is required" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_imported_addresses_get_a_confirmation_email(editor_client, django_capture_on_commit_callbacks):
    TopicFactory(name="Agents", slug="agents")
    SubscriberFactory(email="old@example.com", status="unsubscribed")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
            "file": _csv(CSV), "consent_source": "Booth sign-up sheet", "_import": "1"})
    # The report of each line stays on screen after the import (it was a redirect,
    # and which lines were refused, and why, was gone).
    html = response.content.decode()
    assert response.status_code == 200 and "Imported: 1 added and sent a confirmation email" in html
    assert re.search(r"<td>4</td><td>not-an-address</td><td>invalid</td>", html)
    new = Subscriber.objects.get(email="new@example.com")
    assert (new.status, new.source, new.frequency, new.time_zone) == ("pending", "import", "weekly", "Europe/Paris")
    assert [t.slug for t in new.topics.all()] == ["agents"]
    record = ConsentRecord.objects.get(subscriber=new)
    assert record.detail["consent_source"] == "Booth sign-up sheet"
    assert [m.to[0] for m in mail.outbox] == ["new@example.com"]  # the unsubscribed one is left alone
    assert Subscriber.objects.get(email="old@example.com").status == "unsubscribed"


def test_prior_consent_imports_active_readers_without_email(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:subscribers_subscriber_import"), {
            "file": _csv("email\nknown@example.com\n"), "consent_source": "Old list, double opt-in",
            "prior_consent": "on", "_import": "1"})
    reader = Subscriber.objects.get(email="known@example.com")
    assert reader.status == "active" and reader.confirmed_at
    assert mail.outbox == []


def test_the_form_after_an_editors_import_offers_no_prior_consent(editor_client):
    """The page after an import gave the editor a fresh form with "They already
    confirmed their address elsewhere" (a superuser's), which their next file's
    post ignored: readers they were shown as confirmed were mailed and pending."""
    page = _imported(editor_client, "email\nann@example.com\n")
    assert "Imported: 1 added" in page and "prior_consent" not in page


def test_an_editor_cannot_make_anyone_a_recipient_without_their_confirmation(
    editor_client, admin_client, django_capture_on_commit_callbacks,
):
    """A hostile tester's pass, as an editor: an import "with prior consent" made
    made-up addresses active; changing a confirmed reader's address sent their
    digests to whatever was typed; the reader's preference-centre link let them
    export and delete the reader's data. Now: the import always asks for confirmation
    (prior consent is a superuser's), the address of an existing reader cannot be
    changed, and the link is shown to superusers only. A suppression's address is
    never changed either (a new hash made a complainer mailable again)."""
    import_url = reverse("admin:subscribers_subscriber_import")
    assert "prior_consent" not in editor_client.get(import_url).content.decode()
    assert "prior_consent" in admin_client.get(import_url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(import_url, {"file": _csv("email\nmadeup@example.com\n"),
                                        "consent_source": "trust me", "prior_consent": "on", "_import": "1"})
    assert Subscriber.objects.get(email="madeup@example.com").status == "pending"
    assert [m.to for m in mail.outbox] == [["madeup@example.com"]]

    reader = SubscriberFactory(email="reader@example.com")
    url = reverse("admin:subscribers_subscriber_change", args=[reader.pk])
    page = editor_client.get(url).content.decode()
    assert "/manage/" not in page and "Preference centre" not in page
    assert "/manage/" in admin_client.get(url).content.decode()
    editor_client.post(url, {"email": "stranger@victim.test", "topics": [], "frequency": "daily", "weekday": "0",
                             "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "5",
                             "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
                             "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    reader.refresh_from_db()
    assert reader.email == "reader@example.com"

    suppression = Suppression.objects.create(email_hash=email_hash("complained@example.com"), reason="complained")
    change = reverse("admin:subscribers_suppression_change", args=[suppression.pk])
    editor_client.post(change, {"email": "other@example.com", "email_hash": "0" * 64, "reason": "complained",
                                "note": "moved"})
    suppression.refresh_from_db()
    assert suppression.email_hash == email_hash("complained@example.com") and suppression.note == "moved"


def test_suppressing_every_reader_of_a_long_list_reaches_them_all(editor_client):
    """"Select all 210", "Suppress selected…", a reason, "Suppress": the question
    page posted back all 210 ids, one field each, past Django's 200
    (DATA_UPLOAD_MAX_NUMBER_FIELDS): "Bad Request (400)", no reader suppressed (an
    editor's walkthrough, 7 December). It posts the choice of "all" with the list's
    filters, as the list itself does."""
    from tests.forms import hidden_fields

    readers = [SubscriberFactory(status="active") for _ in range(210)]
    other = SubscriberFactory(status="paused")  # not in the filtered list
    url = reverse("admin:subscribers_subscriber_changelist") + "?status__exact=active"
    page = editor_client.post(url, {"action": "suppress", "select_across": "1", "index": "0",
                                    "_selected_action": [r.pk for r in readers[:50]]})
    assert "210 readers" in page.content.decode()

    answer = editor_client.post(url, {**hidden_fields(page.content.decode()), "apply": "Suppress",
                                      "reason": "list bought by a former partner"})
    assert answer.status_code == 302
    assert set(Subscriber.objects.filter(status="suppressed").values_list("pk", flat=True)) == {r.pk for r in readers}
    other.refresh_from_db()
    assert other.status == "paused"


def test_suppress_with_a_reason_then_unsuppress(editor_client):
    reader = SubscriberFactory(email="x@example.com", confirmed_at="2025-11-01T00:00Z")
    url = reverse("admin:subscribers_subscriber_changelist")
    page = editor_client.post(url, {"action": "suppress", "_selected_action": [reader.pk]})
    assert "Reason" in page.content.decode()
    # It asks before anything is done: "Suppress", not "Suppressed".
    assert page.context["title"] == "Suppress"
    assert 'value="Suppress"' in page.content.decode()
    editor_client.post(url, {"action": "suppress", "_selected_action": [reader.pk], "apply": "1",
                             "reason": "asked by phone"})
    reader.refresh_from_db()
    assert reader.status == "suppressed"
    assert Suppression.objects.get(email_hash=email_hash("x@example.com")).note == "asked by phone"
    editor_client.post(url, {"action": "unsuppress", "_selected_action": [reader.pk], "apply": "1",
                             "reason": "address fixed"})
    reader.refresh_from_db()
    assert reader.status == "active"
    assert not Suppression.objects.exists()


def test_unsuppress_puts_each_reader_back_where_their_own_choices_left_them(editor_client):
    """Lifting a suppression never subscribes anyone: a reader who had unsubscribed
    stays unsubscribed, one who never confirmed stays pending (no digest without
    their confirmation), and only one who had confirmed is active again."""
    from subscribers.suppression import address_suppress

    left = SubscriberFactory(email="left@example.com", confirmed_at="2025-11-01T00:00Z",
                             unsubscribed_at="2025-11-10T00:00Z", status="unsubscribed")
    never = SubscriberFactory(email="never@example.com", confirmed_at=None, status="pending")
    kept = SubscriberFactory(email="kept@example.com", confirmed_at="2025-11-01T00:00Z")
    for reader in (left, never, kept):
        address_suppress(email=reader.email, reason=Suppression.Reason.HARD_BOUNCE, note="550")
    url = reverse("admin:subscribers_subscriber_changelist")
    editor_client.post(url, {"action": "unsuppress", "_selected_action": [left.pk, never.pk, kept.pk],
                             "apply": "1", "reason": "the mail server was fixed"})
    assert {r.email: r.status for r in Subscriber.objects.all()} == {
        "left@example.com": "unsubscribed", "never@example.com": "pending", "kept@example.com": "active"}
    assert not Suppression.objects.exists()


def test_resend_confirmation_mails_pending_readers_only(editor_client, django_capture_on_commit_callbacks):
    pending = SubscriberFactory(status="pending")
    active = SubscriberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                                      {"action": "confirmation_resend", "_selected_action": [pending.pk, active.pk]},
                                      follow=True)
    assert [m.to[0] for m in mail.outbox] == [pending.email]
    assert [str(m) for m in response.context["messages"]] == [
        "Confirmation email queued for 1 pending reader. 1 selected is not waiting for confirmation: nothing sent."]
    # The reader's history says who mailed them again; nothing for the one not mailed.
    from django.contrib.admin.models import LogEntry

    def history(reader) -> list[tuple[str, str]]:
        return [(e.user.username, e.get_change_message()) for e in LogEntry.objects.filter(
            object_id=str(reader.pk), content_type__model="subscriber")]

    assert history(pending) == [("editor", "Confirmation email sent again.")] and history(active) == []

    # At once again: the window holds it back, and the editor is told so, not "queued"
    # (the walkthrough of 5 December was told an email was queued that never went).
    # The window told is the one applied (SUBSCRIBE_EMAIL_WINDOW_SECONDS).
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                                      {"action": "confirmation_resend", "_selected_action": [pending.pk]},
                                      follow=True)
    assert len(mail.outbox) == 1
    held_back = ("Confirmation email queued for 0 pending readers. Not sent to 1: one went to that address "
                 "in the last 10 minutes (at most one per address in that time); try again after.")
    assert [(str(m), m.level_tag) for m in response.context["messages"]] == [(held_back, "warning")]
    assert len(history(pending)) == 1  # held back: no line claims a send


def test_subscribers_filter_by_time_zone_and_show_consent_and_deliveries(editor_client):
    SubscriberFactory(email="paris@example.com", time_zone="Europe/Paris")
    SubscriberFactory(email="utc@example.com")
    url = reverse("admin:subscribers_subscriber_changelist")
    html = editor_client.get(url, {"time_zone": "Europe/Paris"}).content.decode()
    # Masked for an editor (test_an_editor_sees_readers_addresses_masked_…).
    assert "p…@example.com" in html and "u…@example.com" not in html
    reader = Subscriber.objects.get(email="paris@example.com")
    html = editor_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    assert "Consent records" in html or "consent record" in html.lower()
    assert "Deliveries" in html


def test_a_readers_page_in_the_admin_says_when_their_next_digest_comes(editor_client):
    """The editor answering "when do I get it?" sees what the reader's own pages say."""
    import re
    paris = SubscriberFactory(time_zone="Europe/Paris", delivery_hour=9)
    gone = SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)

    def next_digest(reader) -> str:
        html = editor_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
        text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
        return text.split("Next digest:", 1)[1][:80]

    assert re.search(r"(within 15 minutes|(today|tomorrow|on \w+ \d+ \w+) around 09:00 CES?T \(Europe/Paris\))",
                     next_digest(paris))
    assert "none: this reader gets no digests" in next_digest(gone)


def test_consent_records_say_the_reader_acted_on_our_pages_not_the_subscribe_form(editor_client):
    """A preference change made in the preference centre is the reader's own act on
    our pages; it used to read "Changed preferences (Subscribe form)"."""
    from subscribers import services

    reader = SubscriberFactory(email="reader@example.com", status="active")
    services.subscriber_preferences_update(
        subscriber=reader, topics=[], ip="203.0.113.9", user_agent="Firefox", papers_per_digest=7,
    )
    record = ConsentRecord.objects.get(subscriber=reader, action="preferences")
    assert str(record) == "Changed preferences (The reader, on our pages)"
    html = editor_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    inline = html[html.index("Consent records") if "Consent records" in html else html.lower().index("consent record"):]
    assert "The reader, on our pages" in inline
    assert "Subscribe form" not in inline


@pytest.mark.parametrize("typed", ["Spam-Domain.COM", "@spam-domain.com", "*.spam-domain.com", " spam-domain.com. "])
def test_a_blocked_domain_is_stored_as_addresses_are_and_then_blocks(admin_client, typed):
    """The editors' walkthrough of 5 December added "Spam-Domain.COM" and
    "@junkmail.org": saved, and then no address of either was blocked (the lookup
    compares the stored form). Now the domain is stored as addresses are."""
    from subscribers.models import BlockedDomain
    from subscribers.services import email_domain_is_blocked

    response = admin_client.post(reverse("admin:subscribers_blockeddomain_add"), {"domain": typed, "note": "spam"})
    assert response.status_code == 302
    assert BlockedDomain.objects.get().domain == "spam-domain.com"
    assert email_domain_is_blocked("x@spam-domain.com") and email_domain_is_blocked("y@mail.Spam-Domain.COM")
    # Typed again in another way: refused as the one already listed.
    again = admin_client.post(reverse("admin:subscribers_blockeddomain_add"), {"domain": "SPAM-domain.com"})
    assert again.status_code == 200 and BlockedDomain.objects.count() == 1


def test_what_is_no_domain_is_refused_as_a_blocked_domain(admin_client):
    from subscribers.models import BlockedDomain

    response = admin_client.post(reverse("admin:subscribers_blockeddomain_add"), {"domain": "ann@example.com"})
    assert "Enter a domain, like example.com." in response.content.decode()
    assert not BlockedDomain.objects.exists()


def test_blocked_domains_typed_before_are_stored_again_by_the_migration(db):
    import importlib

    from django.apps import apps

    from subscribers.models import BlockedDomain
    from subscribers.services import email_domain_is_blocked

    for typed in ("Spam-Domain.COM", "@junkmail.org", "junkmail.org", "not a domain"):
        BlockedDomain.objects.create(domain=typed)  # as rows were saved before
    assert not email_domain_is_blocked("x@spam-domain.com")
    importlib.import_module("subscribers.migrations.0008_blocked_domains_normalised").domains_normalise(apps, None)
    assert sorted(BlockedDomain.objects.values_list("domain", flat=True)) == [
        "junkmail.org", "not a domain", "spam-domain.com"]
    assert email_domain_is_blocked("x@spam-domain.com") and email_domain_is_blocked("z@junkmail.org")


def test_an_editor_cannot_make_anyone_a_recipient_by_hand(admin_client, django_capture_on_commit_callbacks):
    """The editors' walkthrough of 5 December added an address as "Active" and set an
    imported, never-confirmed reader to "Active": both got the next digest, with no
    consent record. Now a reader added by hand waits for their confirmation (the
    email goes out; a consent record names the editor), the status cannot be set in
    the form, and a suppressed or blocked address cannot be added."""
    from subscribers.models import BlockedDomain
    from subscribers.suppression import address_suppress

    form = {"email": "  New.Reader@Example.COM ", "status": "active", "source": "form", "frequency": "daily",
            "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "5",
            "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:subscribers_subscriber_add"), form, follow=True)
    reader = Subscriber.objects.get()
    assert (reader.email, reader.status, reader.source) == ("New.Reader@example.com", "pending", "admin")
    assert reader.confirmed_at is None
    assert [m.to for m in mail.outbox] == [["New.Reader@example.com"]] and "confirm" in mail.outbox[0].subject.lower()
    (record,) = reader.consents.all()
    assert (record.action, record.source, record.detail["added_by"]) == ("subscribe", "admin", "admin")
    assert "waiting for confirmation" in response.content.decode()

    # The change form has no status to set.
    change = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk]))
    assert 'name="status"' not in change.content.decode()

    address_suppress(email="gone@example.com", reason=Suppression.Reason.COMPLAINT, note="")
    BlockedDomain.objects.create(domain="trash.io")
    for email, said in (("gone@example.com", "on the suppression list"), ("evil@trash.io", "domain is blocked")):
        refused = admin_client.post(reverse("admin:subscribers_subscriber_add"), {**form, "email": email})
        assert said in refused.content.decode()
    assert Subscriber.objects.count() == 1


def test_an_address_suppressed_on_the_suppressions_page_marks_its_reader_suppressed(admin_client):
    """The editors' walkthrough of 5 December suppressed an address there: its reader
    stayed "Active", counted among the dashboard's readers and offered in previews."""
    reader = SubscriberFactory(email="ann@example.com")
    response = admin_client.post(reverse("admin:subscribers_suppression_add"),
                                 {"email": "ANN@example.com", "reason": "editor", "note": "asked by phone"})
    assert response.status_code == 302
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.SUPPRESSED
    row = Suppression.objects.get()
    assert (row.email_hash, row.reason, row.note) == (email_hash("ann@example.com"), "editor", "asked by phone")


def test_an_address_already_listed_is_refused_in_words_not_by_the_constraints_name(admin_client):
    SubscriberFactory(email="ann@example.com")
    response = admin_client.post(reverse("admin:subscribers_subscriber_add"), {
        "email": "ANN@example.com", "frequency": "daily", "weekday": "0", "delivery_hour": "7",
        "time_zone": "UTC", "papers_per_digest": "5",
        "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    html = response.content.decode()
    assert "A reader with this address (in any case) is already on the list." in html
    assert "subscriber_email_ci_unique" not in html


def test_a_superuser_gives_a_reader_new_links_and_the_old_ones_stop(admin_client, editor_client, client):
    """A leaked preference-centre link acts as the reader and never expired: nothing
    issued a new secret (a hostile tester's pass). The action does; editors do not
    have it."""
    from subscribers import tokens

    reader = SubscriberFactory(email="leaked@example.com")
    old = tokens.subscriber_manage_url(subscriber=reader).replace("http://testserver", "")
    assert client.get(old).status_code == 200
    changelist = reverse("admin:subscribers_subscriber_changelist")
    assert "links_revoke" not in editor_client.get(changelist).content.decode()
    editor_client.post(changelist, {"action": "links_revoke", "_selected_action": [reader.pk]})
    assert client.get(old).status_code == 200  # an editor's crafted POST changed nothing

    response = admin_client.post(changelist, {"action": "links_revoke", "_selected_action": [reader.pk]}, follow=True)
    assert "New links for 1 reader:" in response.content.decode()
    reader.refresh_from_db()
    assert client.get(old).status_code == 410  # ours, intact, replaced: "no longer leads anywhere"
    others = [SubscriberFactory().pk for _ in range(2)]
    response = admin_client.post(changelist, {"action": "links_revoke", "_selected_action": others}, follow=True)
    assert "New links for 2 readers:" in response.content.decode()
    new = tokens.subscriber_manage_url(subscriber=reader).replace("http://testserver", "")
    assert new != old and client.get(new).status_code == 200


def test_after_new_links_the_unsubscribe_link_of_an_old_email_still_unsubscribes_and_does_nothing_else(
        admin_client, client):
    """Revoking the links killed the one-click unsubscribe of every email the reader
    already had (an operator's walkthrough): an opt-out must keep working (RFC 8058,
    CAN-SPAM's 30 days). It still unsubscribes; its page links to nothing of theirs."""
    from subscribers import tokens
    from subscribers.models import Subscriber

    reader = SubscriberFactory(email="leaked@example.com")
    old_manage, old_unsubscribe = (u.replace("http://testserver", "") for u in tokens.subscriber_links(subscriber=reader))
    admin_client.post(reverse("admin:subscribers_subscriber_changelist"),
                      {"action": "links_revoke", "_selected_action": [reader.pk]})
    assert client.get(old_manage).status_code == 410

    page = client.get(old_unsubscribe)
    html = page.content.decode()
    assert page.status_code == 200 and "Unsubscribe from the digest?" in html
    assert "/manage/" not in html and "Or get less, not nothing" not in html
    # A mail client's RFC 8058 one-click POST.
    done = client.post(old_unsubscribe, {"List-Unsubscribe": "One-Click"})
    reader.refresh_from_db()
    assert done.status_code == 200 and reader.status == Subscriber.Status.UNSUBSCRIBED
    html = done.content.decode()
    assert "only unsubscribes" in html and "Resubscribe" not in html and "/manage/" not in html
    assert client.post(old_unsubscribe.removesuffix("/") + "/resubscribe/").status_code == 410


def test_adding_a_reader_says_their_address_as_stored(editor_client, django_capture_on_commit_callbacks):
    """An editor's walkthrough: the message read "Friend.of.editor@example.com is
    waiting…" (the admin's template capitalises each message's first letter)."""
    form = {"email": "friend.of.editor@example.com", "frequency": "daily", "weekday": "0", "delivery_hour": "7",
            "time_zone": "UTC", "papers_per_digest": "5",
            "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:subscribers_subscriber_add"), form, follow=True)
    html = response.content.decode()
    assert "Confirmation email on its way to friend.of.editor@example.com: the reader is waiting" in html
    assert "Friend.of.editor" not in html


def test_a_readers_page_names_the_weekday_and_reads_consent_details_as_lines(editor_client):
    """An editor's walkthrough: the weekday was a number box ("0 = Monday … 6 =
    Sunday") and each consent record's detail raw JSON."""
    reader = SubscriberFactory(email="weekly@example.com", frequency="weekly", weekday=3)
    ConsentRecord.objects.create(subscriber=reader, action="subscribe", source="admin",
                                 detail={"added_by": "ann", "topics": ["llm", "vision"], "one_click": True})
    url = reverse("admin:subscribers_subscriber_change", args=[reader.pk])
    html = editor_client.get(url).content.decode()
    assert re.search(r'<select name="weekday"[^>]*>', html)
    assert '<option value="3" selected>Thursday</option>' in html
    assert "0 = Monday" not in html
    assert "<div>added by: ann</div>" in html and "<div>topics: llm, vision</div>" in html
    assert "<div>one click: yes</div>" in html and "added_by" not in html
    editor_client.post(url, {"topics": [], "frequency": "weekly", "weekday": "4", "delivery_hour": "7",
                             "time_zone": "UTC", "papers_per_digest": "5",
                             "consents-TOTAL_FORMS": "1", "consents-INITIAL_FORMS": "1",
                             "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    reader.refresh_from_db()
    assert reader.weekday_name == "Friday"


def test_a_readers_history_says_whether_they_left_by_their_mail_clients_button_or_our_page(
    editor_client, django_capture_on_commit_callbacks
):
    """A mail client's one-click unsubscribe (RFC 8058: a POST to the List-Unsubscribe
    address) read "Unsubscribed (The reader, on our pages)" in a reader's history,
    like the button of our unsubscribe page; only a detail "one click: yes" told
    them apart. The editor now reads where each came from."""
    from subscribers import tokens

    by_client, by_page = SubscriberFactory(), SubscriberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for reader, body in ((by_client, "List-Unsubscribe=One-Click"), (by_page, "from_page=1")):
            url = tokens.subscriber_unsubscribe_url(subscriber=reader).removeprefix("http://testserver")
            assert editor_client.post(url, body, content_type="application/x-www-form-urlencoded").status_code == 200

    def history(reader) -> str:
        return editor_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()

    client_said, page_said = unescape(history(by_client)), unescape(history(by_page))
    assert "The reader, with their mail client's unsubscribe button" in client_said
    assert "The reader, on our pages" not in client_said
    assert "The reader, on our pages" in page_said
    assert "mail client" not in page_said
    assert str(by_client.consents.get(action="unsubscribe")) == (
        "Unsubscribed (The reader, with their mail client's unsubscribe button)")


def test_unsuppress_says_why_each_reader_is_suppressed_and_keeps_a_spam_complaint(
    editor_client, admin_client, django_capture_on_commit_callbacks,
):
    """An editor's walkthrough: the form said only "(Suppressed)", and lifted a spam
    complaint like any other. Now it says why and since when, and whoever complained
    stays suppressed (suppression.KEPT_FROM_EDITORS), superusers' clicks included."""
    import datetime as dt

    from django.contrib.admin.models import LogEntry

    from subscribers.suppression import address_suppress

    bounced = SubscriberFactory(email="bounced@example.com", confirmed_at="2026-11-01T00:00Z")
    complained = SubscriberFactory(email="complained@example.com", confirmed_at="2026-11-01T00:00Z")
    address_suppress(email=bounced.email, reason=Suppression.Reason.HARD_BOUNCE,
                     note="Postmark bounced: 550 5.1.1 user unknown")
    address_suppress(email=complained.email, reason=Suppression.Reason.COMPLAINT, note="Postmark complained: ")
    Suppression.objects.update(created_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    url = reverse("admin:subscribers_subscriber_changelist")
    selected = {"action": "unsuppress", "_selected_action": [bounced.pk, complained.pk]}
    html = editor_client.post(url, selected).content.decode()
    assert "Suppressed on 1 Dec 2026: Hard bounce (Postmark bounced: 550 5.1.1 user unknown)" in html
    assert ("Suppressed on 1 Dec 2026: Spam complaint (Postmark complained: ). An editor cannot lift that: "
            "they stay suppressed") in html

    # The complainer named as the list shows them: masked for an editor.
    for client, lifted, shown in ((editor_client, 1, "c…@example.com"), (admin_client, 0, "complained@example.com")):
        response = client.post(url, {**selected, "apply": "1", "reason": "they asked"}, follow=True)
        kept = (f"Not unsuppressed: {shown} reported the digest as spam. An editor cannot lift that: "
                "they stay suppressed and are never mailed again (Gmail's and Yahoo's rules for bulk senders).")
        assert [(str(m), m.level_tag) for m in response.context["messages"]] == [
            (f"Unsuppressed: {lifted} of 2 readers. Reason: they asked", "success"), (kept, "warning")]
        bounced.refresh_from_db()
        complained.refresh_from_db()
        assert (bounced.status, complained.status) == ("active", "suppressed")
        assert Suppression.objects.get().email_hash == email_hash("complained@example.com")
    assert not LogEntry.objects.filter(object_id=str(complained.pk)).exists()


def test_a_suppressed_readers_page_says_why_and_when_and_each_deliverys_latest_event(editor_client):
    """Support case "I get nothing since Tuesday" in an editor's walkthrough: the
    reader's page said "Suppressed", not why or since when, and Monday's delivery
    read "Sent" with no sign of its bounce. The deliveries' events take no query per
    row."""
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.models import Delivery, DeliveryEvent, Edition
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="tuesday@example.com", confirmed_at="2026-11-01T00:00Z")
    monday = dt.datetime(2026, 11, 30, 7, 3, tzinfo=dt.UTC)

    def delivery_with_events(day: int, *events: str) -> None:
        edition = Edition.objects.create(date=dt.date(2026, 11, day))
        row = Delivery.objects.create(subscriber=reader, edition=edition, status="sent", sent_at=monday)
        for minutes, event in enumerate(events):
            DeliveryEvent.objects.create(delivery=row, event_id=f"{day}-{event}", event_type=event,
                                         occurred_at=monday + dt.timedelta(minutes=minutes),
                                         description="550 5.1.1 user unknown" if event == "bounced" else "")

    delivery_with_events(29, "delivered", "opened")
    url = reverse("admin:subscribers_subscriber_change", args=[reader.pk])
    assert "field-suppression_text" not in editor_client.get(url).content.decode()  # an active reader's page
    address_suppress(email=reader.email, reason=Suppression.Reason.HARD_BOUNCE,
                     note="Postmark bounced: 550 5.1.1 user unknown")
    Suppression.objects.update(created_at=dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    with CaptureQueriesContext(connection) as one:
        editor_client.get(url)
    delivery_with_events(30, "delivered", "bounced")
    delivery_with_events(28)
    with CaptureQueriesContext(connection) as three:
        response = editor_client.get(url)
    assert len(three) == len(one)
    text = " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())
    assert "Status: Suppressed Suppression: Suppressed on 1 Dec 2026: Hard bounce (Postmark bounced: 550 5.1.1 user unknown)" in text
    assert "bounced on 30 Nov 2026, 07:04 UTC: 550 5.1.1 user unknown" in text
    assert "opened on 30 Nov 2026, 07:04 UTC" in text  # the 29th's row: its latest event


def test_a_spam_complaint_cannot_be_renamed_or_deleted_on_the_suppressions_page(editor_client, admin_client):
    """Unsuppress keeps a complaint; changing its reason to "an editor's decision"
    first, or deleting its row, lifted it anyway."""
    from subscribers.suppression import address_suppress

    reader = SubscriberFactory(email="complained@example.com")
    address_suppress(email=reader.email, reason=Suppression.Reason.COMPLAINT, note="Postmark complained")
    row = Suppression.objects.get()
    change = reverse("admin:subscribers_suppression_change", args=[row.pk])
    editor_client.post(change, {"reason": "editor", "note": "asked by phone"})
    row.refresh_from_db()
    assert (row.reason, row.note) == ("complained", "asked by phone")
    delete = reverse("admin:subscribers_suppression_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Suppression.objects.filter(pk=row.pk, reason="complained").exists()


def test_an_editor_mails_a_day_of_new_addresses_at_most_and_each_import_names_them(
    editor_client, admin_client, settings, django_capture_on_commit_callbacks,
):
    """A hostile tester's pass, as a compromised editor: an import mailed a
    confirmation to each of 10,000 addresses of any list, file after file, each
    email carrying the topics' names (an editor's words) from the service's domain,
    and no record said who imported them; "Resend the confirmation email" mailed
    every pending reader again every ten minutes. Now an editor's account mails at
    most EDITOR_CONFIRMATIONS_PER_DAY new addresses a day (imports, readers typed in
    and resends together; a superuser's are not counted), and an import's consent
    records name the editor, as a reader typed in does."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 3
    import_url = reverse("admin:subscribers_subscriber_import")

    def imported(client, *addresses):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(import_url, {"file": _csv("email\n" + "\n".join(addresses) + "\n"),
                                            "consent_source": "Booth sign-up sheet", "_import": "1"})

    imported(editor_client, "a@example.com", "b@example.com")
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "b@example.com"]
    record = ConsentRecord.objects.get(subscriber__email="a@example.com")
    assert record.detail["added_by"] == "editor"

    # The check says so before the import, and spends nothing of the day.
    checked = editor_client.post(import_url, {"file": _csv("email\nc@example.com\nd@example.com\n"),
                                              "consent_source": "Booth sign-up sheet"}).content.decode()
    assert "The import would be refused: That would send 2 confirmation emails" in checked
    assert "1 left today" in checked and "press “Import” to apply it" not in checked
    assert "would be refused" not in editor_client.post(import_url, {
        "file": _csv("email\nc@example.com\n"), "consent_source": "Booth sign-up sheet"}).content.decode()

    refused = imported(editor_client, "c@example.com", "d@example.com").content.decode()
    assert "at most 3 new addresses a day" in refused and "1 left today" in refused
    assert "Nothing was imported" in refused
    assert not Subscriber.objects.filter(email__in=["c@example.com", "d@example.com"]).exists()

    pending = list(Subscriber.objects.filter(status="pending").values_list("pk", flat=True))
    Subscriber.objects.update(confirmation_sent_at=None)  # past the per-address window
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        resent = editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                                    {"action": "confirmation_resend", "_selected_action": pending}, follow=True)
    assert mail.outbox == [] and "at most 3 new addresses a day" in resent.content.decode()

    form = {"email": "typed@example.com", "frequency": "daily", "weekday": "0", "delivery_hour": "7",
            "time_zone": "UTC", "papers_per_digest": "5", "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(reverse("admin:subscribers_subscriber_add"), form)
        more = editor_client.post(reverse("admin:subscribers_subscriber_add"), {**form, "email": "more@example.com"})
    assert "at most 3 new addresses a day" in more.content.decode()
    assert [m.to for m in mail.outbox] == [["typed@example.com"]]
    assert not Subscriber.objects.filter(email="more@example.com").exists()

    imported(admin_client, "c@example.com", "d@example.com")
    assert Subscriber.objects.filter(email__in=["c@example.com", "d@example.com"]).count() == 2


def test_an_editor_over_a_lowered_allowance_is_told_none_are_left_and_still_imports_known_addresses(
    editor_client, settings,
):
    """The day's allowance lowered (EDITOR_CONFIRMATIONS_PER_DAY) below what an editor
    already sent: the refusal says "0 left today", not a negative number, and a file
    that mails nobody (its readers are all on the list) is not refused."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 3
    _imported(editor_client, "email\na@example.com\nb@example.com\nc@example.com\n")
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 2
    refused = _imported(editor_client, "email\nd@example.com\n")
    assert "at most 2 new addresses a day" in refused and "0 left today" in refused
    known = _imported(editor_client, "email\na@example.com\n")
    assert "Imported: 0 added; 1 already on the list (left unchanged)." in known
    assert "That would send" not in known and Subscriber.objects.count() == 3


def test_an_address_added_while_its_file_is_imported_fails_the_import_with_why_and_spends_nothing(
    editor_client, settings, monkeypatch,
):
    """"Import" pressed twice, or a reader subscribing on the form at that moment: an
    address the file's check found new was on the list by its insert, and the editor
    got a server error (IntegrityError, subscriber_email_ci_unique) with no word of
    what happened, their day's allowance of confirmation emails spent on it."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 2
    insert = Subscriber.objects.bulk_create

    def meanwhile(objs, **kwargs):
        Subscriber.objects.create(email="ann@example.com")  # the other request's, just committed
        return insert(objs, **kwargs)

    monkeypatch.setattr(Subscriber.objects, "bulk_create", meanwhile)
    page = unescape(_imported(editor_client, "email\nann@example.com\nbob@example.com\n"))
    assert ("Some of these addresses were added to the list while the file was imported (another import, or "
            "a reader subscribing): nothing was imported. Check the file again to see who is new.") in page
    assert not Subscriber.objects.filter(email="bob@example.com").exists()

    monkeypatch.undo()
    assert "Imported: 2 added" in _imported(editor_client, "email\ncid@example.com\ndee@example.com\n")


def test_an_editors_allowance_of_confirmation_emails_is_a_days(editor_client):
    import redis
    from django.conf import settings
    from django.core.cache import cache

    _imported(editor_client, "email\na@example.com\n")
    key = cache.make_key("ratelimit:editor-confirmations:editor")
    assert 23 * 3600 < redis.Redis.from_url(settings.REDIS_URL).ttl(key) <= 24 * 3600


def test_suppressing_readers_says_how_many_were_not_suppressed_already_and_records_the_editors_reason(
    editor_client,
):
    """A reader suppressed by a bounce, suppressed again by an editor: the editor's
    reason replaces the bounce's (what the reader's page and the suppressions list
    say), and the message counts only the reader who was not suppressed already."""
    from subscribers.suppression import address_suppress

    bounced = SubscriberFactory(email="bounced@example.com")
    address_suppress(email=bounced.email, reason=Suppression.Reason.HARD_BOUNCE, note="550 user unknown")
    active = SubscriberFactory(email="active@example.com")
    response = editor_client.post(reverse("admin:subscribers_subscriber_changelist"), {
        "action": "suppress", "_selected_action": [bounced.pk, active.pk], "apply": "1",
        "reason": "asked by phone"}, follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        "Suppressed: 1 of 2 readers. Reason: asked by phone"]
    row = Suppression.objects.get(email_hash=email_hash(bounced.email))
    assert (row.reason, row.note) == ("editor", "asked by phone")


def test_a_reader_an_editor_types_in_has_their_topics_on_their_consent_record(editor_client):
    TopicFactory(name="Agents", slug="agents")
    topic = TopicFactory(name="Computer Vision", slug="vision")
    editor_client.post(reverse("admin:subscribers_subscriber_add"), {
        "email": "typed@example.com", "topics": [topic.pk], "frequency": "daily", "weekday": "0",
        "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "5", "consents-TOTAL_FORMS": "0",
        "consents-INITIAL_FORMS": "0", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"})
    record = ConsentRecord.objects.get(subscriber__email="typed@example.com")
    assert record.detail == {"added_by": "editor", "topics": ["vision"]}


def test_an_editor_can_neither_lift_a_spam_complaint_nor_forge_one(editor_client, admin_client):
    """A hostile tester's pass, as a compromised editor. Lifting: "Suppress selected…"
    on a reader who had reported the digest as spam rewrote their row's reason to an
    editor's, which "Unsuppress selected…" then lifted, and a complaint arriving after
    an editor's suppression was dropped for the editor's reason: either way the
    complainer was mailed again (Gmail's and Yahoo's rules). Forging: the suppression
    form offered "Spam complaint" (and every other reason), so an editor could mark
    every reader's address as a complaint, which nobody can lift, superusers
    included. Now a complaint is kept whatever comes after it and replaces any other
    reason, and an editor's suppression is an editor's: the reason is not theirs to
    choose or change."""
    from subscribers.suppression import address_suppress

    complainer = SubscriberFactory(email="complainer@example.com")
    address_suppress(email=complainer.email, reason=Suppression.Reason.COMPLAINT, note="Postmark: spam")
    url = reverse("admin:subscribers_subscriber_changelist")
    for action in ("suppress", "unsuppress"):
        editor_client.post(url, {"action": action, "_selected_action": [complainer.pk], "apply": "1",
                                 "reason": "asked by phone"})
    complainer.refresh_from_db()
    assert complainer.status == "suppressed"
    assert Suppression.objects.get(email_hash=email_hash(complainer.email)).reason == "complained"

    later = SubscriberFactory(email="later@example.com")
    editor_client.post(url, {"action": "suppress", "_selected_action": [later.pk], "apply": "1", "reason": "asked"})
    address_suppress(email=later.email, reason=Suppression.Reason.COMPLAINT, note="Postmark: spam")
    assert Suppression.objects.get(email_hash=email_hash(later.email)).reason == "complained"

    victim = SubscriberFactory(email="victim@example.com")
    add = reverse("admin:subscribers_suppression_add")
    assert 'value="complained"' not in editor_client.get(add).content.decode()
    editor_client.post(add, {"email": victim.email, "reason": "complained", "note": "forged"})
    assert not Suppression.objects.filter(email_hash=email_hash(victim.email), reason="complained").exists()
    editor_client.post(add, {"email": victim.email, "reason": "editor", "note": "asked by phone"})
    row = Suppression.objects.get(email_hash=email_hash(victim.email))
    assert row.reason == "editor"
    editor_client.post(reverse("admin:subscribers_suppression_change", args=[row.pk]),
                       {"reason": "complained", "note": "forged"})
    row.refresh_from_db()
    assert row.reason == "editor"
    # A superuser still records any reason (an ESP's complaint that came by email).
    admin_client.post(add, {"email": "told@example.com", "reason": "complained", "note": "by email"})
    assert Suppression.objects.get(email_hash=email_hash("told@example.com")).reason == "complained"


def test_an_editor_finds_and_reads_a_reader_at_an_internationalised_domain_as_written(editor_client):
    """The address is stored with its domain IDNA-encoded (what mail servers need):
    an editor who searched the list for "ada@bücher.de", or "例え", found nobody, and
    the list, the deliveries and the reader's page showed "ada@xn--bcher-kva.de"
    (an international reader's walkthrough). Now the search takes either spelling and
    every page names the reader as they wrote their address."""
    from django.contrib.auth.models import Permission, User

    from newsletter.editions import edition_assemble
    from newsletter.models import Delivery
    from tests.factories import PaperFactory

    ada = SubscriberFactory(email="ada@xn--bcher-kva.de")
    SubscriberFactory(email="user@xn--r8jz45g.jp")
    SubscriberFactory(email="grace@example.org")
    changelist = reverse("admin:subscribers_subscriber_changelist")
    # Without "Can view subscriber addresses": the whole address, in either spelling,
    # finds the one reader, shown masked as written.
    for term in ("ada@bücher.de", "ADA@xn--bcher-kva.de"):
        response = editor_client.get(changelist, {"q": term})
        assert list(response.context["cl"].result_list) == [ada], term
        assert "a…@bücher.de" in response.content.decode()  # masked, decoded
    User.objects.get(username="editor").user_permissions.add(
        Permission.objects.get(codename="view_subscriber_address"))
    for term, found in (("ada@bücher.de", ["ada@bücher.de"]), ("例え", ["user@例え.jp"]),
                        ("BÜCHER.de", ["ada@bücher.de"]), ("xn--bcher-kva", ["ada@bücher.de"]),
                        ("grace", ["grace@example.org"])):
        html = editor_client.get(changelist, {"q": term}).content.decode()
        rows = re.findall(r'<th class="field-[a-z_]+"><a href="[^"]+">([^<]+)</a>', html)
        assert rows == found, (term, rows)
    assert "xn--" not in editor_client.get(changelist).content.decode()
    page = editor_client.get(reverse("admin:subscribers_subscriber_change", args=[ada.pk])).content.decode()
    assert "Change subscriber" in page and "ada@bücher.de" in page

    PaperFactory()
    Delivery.objects.create(edition=edition_assemble(date=PaperFactory._meta.model.objects.get().trending_date),
                            subscriber=ada)
    deliveries = editor_client.get(reverse("admin:newsletter_delivery_changelist"), {"q": "bücher"}).content.decode()
    assert "ada@bücher.de" in deliveries and "xn--" not in deliveries


def test_an_import_names_international_addresses_as_the_file_wrote_them_and_says_why_one_is_refused(
    editor_client, django_capture_on_commit_callbacks,
):
    """The import's report said "ada@xn--bcher-kva.de … new" for the file's
    ada@bücher.de, and "Enter a valid email address." for δοκιμή@example.gr, a real
    address the service cannot mail (an international reader's walkthrough). It now
    names the address as written, stores it as every entry point does, mails the
    confirmation there, and gives the subscribe form's reason for the other."""
    TopicFactory(name="Agents", slug="agents")
    text = "email,topics\nada@bücher.de,agents\nuser@例え.jp,agents\nδοκιμή@example.gr,agents\nADA@BÜCHER.DE,agents\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(reverse("admin:subscribers_subscriber_import"), {
            "file": _csv(text), "consent_source": "Booth sign-up sheet", "_import": "1"})
    html = response.content.decode()
    assert "<td>2</td><td>ada@bücher.de</td><td>new</td>" in html
    assert "<td>3</td><td>user@例え.jp</td><td>new</td>" in html
    assert "<td>5</td><td>ADA@bücher.de</td><td>duplicate</td>" in html  # one reader, any case
    assert re.search(r"<td>4</td><td>δοκιμή@example.gr</td><td>invalid</td><td>We can only send to addresses "
                     r"with Latin letters \(a–z\)", html)
    assert "xn--" not in html
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@xn--bcher-kva.de", "user@xn--r8jz45g.jp"]


def test_a_reader_a_superuser_deletes_leaves_their_address_in_no_admin_history(admin_client):
    """Django's admin logs a deletion under the object's str(), the address: the
    "Recent actions" box on every admin page listed "gone@example.com" after its
    erasure (a data-protection reviewer's walkthrough)."""
    from django.contrib.admin.models import DELETION, LogEntry

    reader = SubscriberFactory(email="gone@example.com")
    admin_client.post(reverse("admin:subscribers_subscriber_delete", args=[reader.pk]), {"post": "yes"})
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.object_repr == f"Reader {reader.pk} (erased)"
    admin_client.get(reverse("admin:index"))  # the one-off "deleted successfully" message
    assert "gone@example.com" not in admin_client.get(reverse("admin:index")).content.decode()


def _reader_seen_by(editor_client, reader, *, edition):
    """Every admin page an editor reaches a reader from, as one text."""
    from newsletter.models import Delivery

    delivery = Delivery.objects.create(subscriber=reader, edition=edition, status="sent")
    changelist = reverse("admin:subscribers_subscriber_changelist")
    pages = [
        changelist,
        reverse("admin:subscribers_subscriber_change", args=[reader.pk]),
        reverse("admin:subscribers_subscriber_history", args=[reader.pk]),
        reverse("admin:newsletter_delivery_changelist"),
        reverse("admin:newsletter_delivery_change", args=[delivery.pk]),
        reverse("admin:newsletter_edition_change", args=[edition.pk]),
    ]
    html = [editor_client.get(page).content.decode() for page in pages]
    html.append(editor_client.post(changelist, {"action": "suppress", "_selected_action": [reader.pk]}).content.decode())
    return "\n".join(html)


def test_an_editor_sees_readers_addresses_masked_and_finds_one_by_its_whole_address(editor_client):
    """A data-protection reviewer's walkthrough: an editor (curating papers and
    editions, watching deliveries) paged through every reader's address, and the IP
    addresses and browsers of their consent records. Without "Can view subscriber
    addresses" they now see "j…@example.com", and find a reader for support by
    their whole address only, in the readers' list and the ledger."""
    import datetime as dt

    from newsletter.editions import edition_assemble

    reader = SubscriberFactory(email="jane.doe@example.com")
    ConsentRecord.objects.create(subscriber=reader, action="subscribe", source="form",
                                 ip_address="203.0.113.9", user_agent="Firefox/140 on Jane's laptop")
    SubscriberFactory(email="bob.smith@example.org")
    seen = _reader_seen_by(editor_client, reader, edition=edition_assemble(date=dt.date(2025, 11, 24)))
    assert "jane.doe" not in seen and "bob.smith" not in seen
    assert "203.0.113.9" not in seen and "Jane's laptop" not in seen
    assert "j…@example.com" in seen

    changelist = reverse("admin:subscribers_subscriber_changelist")
    found = editor_client.get(changelist, {"q": "Jane.Doe@Example.com"}).context["cl"].result_list
    assert list(found) == [reader]
    assert not editor_client.get(changelist, {"q": "jane"}).context["cl"].result_list
    ledger = reverse("admin:newsletter_delivery_changelist")
    assert [d.subscriber for d in editor_client.get(ledger, {"q": "jane.doe@example.com"}).context["cl"].result_list] == [reader]
    assert not editor_client.get(ledger, {"q": "example.com"}).context["cl"].result_list


def test_an_editor_cannot_spell_out_a_masked_address_with_lookups_or_ordering(editor_client):
    """The readers' list took any lookup on its own fields from the address bar
    (Django allows a model's local fields): `?email__startswith=ja` answered how many
    readers' addresses start so, letter by letter the whole address of any reader,
    and sorting by the address column placed one between others. An editor without
    "Can view subscriber addresses" gets neither (the ledger's list neither)."""
    reader = SubscriberFactory(email="jane.doe@example.com")
    SubscriberFactory(email="bob.smith@example.org")
    changelist = reverse("admin:subscribers_subscriber_changelist")
    for lookup in ("email__startswith", "email__istartswith", "email__gt", "email__regex", "email__contains"):
        answer = editor_client.get(changelist, {lookup: "jane.d"})
        assert answer.status_code == 400 or list(answer.context["cl"].result_list) != [reader], lookup
    assert editor_client.get(changelist, {"email__startswith": "jane.d"}).status_code == 400
    ledger = reverse("admin:newsletter_delivery_changelist")
    assert editor_client.get(ledger, {"subscriber__email__startswith": "jane.d"}).status_code == 400
    page = editor_client.get(changelist)
    assert "sortable column-address" not in page.content.decode()
    assert "email" not in page.context["cl"].get_ordering_field_columns().values()


def test_an_editor_gets_no_whole_address_from_the_admins_autocomplete(editor_client):
    """The admin's autocomplete (/admin/autocomplete/) answers for any relation to a
    model whose admin has a search box, with each row's str(): the ledger's `reader`
    with no term listed every reader's whole address to an editor who sees them
    masked. Now it answers only for a field an admin page offers it on
    (autocomplete_fields; this project offers none)."""
    SubscriberFactory(email="jane.doe@example.com")
    SubscriberFactory(email="bob.smith@example.org")
    url = reverse("admin:autocomplete")
    for source in ({"app_label": "newsletter", "model_name": "delivery"},
                   {"app_label": "newsletter", "model_name": "feedback"}):
        answer = editor_client.get(url, {**source, "field_name": "subscriber", "term": ""})
        assert "jane.doe" not in answer.content.decode() and "bob.smith" not in answer.content.decode()
        assert answer.status_code == 403


def test_an_editor_given_the_address_permission_sees_whole_addresses(editor_client):
    import datetime as dt

    from django.contrib.auth.models import Permission, User

    from newsletter.editions import edition_assemble

    User.objects.get(username="editor").user_permissions.add(
        Permission.objects.get(codename="view_subscriber_address"))
    reader = SubscriberFactory(email="jane.doe@example.com")
    ConsentRecord.objects.create(subscriber=reader, action="subscribe", source="form", ip_address="203.0.113.9")
    seen = _reader_seen_by(editor_client, reader, edition=edition_assemble(date=dt.date(2025, 11, 24)))
    assert seen.count("jane.doe@example.com") >= 8 and "203.0.113.9" in seen
    changelist = reverse("admin:subscribers_subscriber_changelist")
    assert list(editor_client.get(changelist, {"q": "jane"}).context["cl"].result_list) == [reader]


def test_an_editors_recent_actions_name_a_reader_masked(editor_client):
    """After "Suppress selected…" on a reader the list showed masked, the admin's
    home page's "Recent actions" named them by their whole address (Django logs
    str(obj)). The history names them "Reader 7 (j…@example.com)"."""
    from django.contrib.admin.models import LogEntry

    reader = SubscriberFactory(email="jane.doe@example.com")
    editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                       {"action": "suppress", "_selected_action": [reader.pk], "apply": "1", "reason": "asked"})
    assert LogEntry.objects.get().object_repr == f"Reader {reader.pk} (j…@example.com)"
    editor_client.get(reverse("admin:index"))  # the one-off message of the action
    assert "jane.doe" not in editor_client.get(reverse("admin:index")).content.decode()


@pytest.mark.postgresql
def test_an_editors_search_of_the_readers_by_whole_address_reads_the_one_reader_by_index(editor_client):
    """The search by whole address (email_exactly, `iexact`: UPPER(email) on
    PostgreSQL) and every other lookup of a reader by address are served by an index
    of UPPER(email): the unique index of lower(email) served none of them, and each
    read the whole table (40 ms at 100,000 readers, docs/benchmarks.md)."""
    from tests.plans import list_query_plan

    SubscriberFactory(email="Ada@example.org")
    url = reverse("admin:subscribers_subscriber_changelist")
    assert editor_client.get(url, {"q": "ada@EXAMPLE.org"}).context["cl"].result_count == 1
    plan = list_query_plan(editor_client, f"{url}?q=ada@example.org", "subscribers_subscriber", ordered=False)
    assert "subscriber_email_upper_idx" in plan, plan


@pytest.mark.postgresql
def test_the_readers_list_reads_its_page_in_order_by_index(editor_client):
    """The readers' list, filtered by status or not, reads its page of the newest
    readers by subscriber_created_idx, and its date hierarchy's first and last day
    too: each sorted every reader (55 to 70 ms at 100,000 readers, docs/benchmarks.md,
    "The admin at scale, fourth pass")."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.plans import list_query_plan, query_plan

    SubscriberFactory.create_batch(3)
    url = reverse("admin:subscribers_subscriber_changelist")
    for page in (url, f"{url}?status__exact=active"):
        plan = list_query_plan(editor_client, page, "subscribers_subscriber")
        assert "Index Scan Backward using subscriber_created_idx" in plan and "Sort" not in plan, plan
    with CaptureQueriesContext(connection) as queries:
        editor_client.get(url)
    first_and_last = next(q["sql"] for q in queries if 'MIN("subscribers_subscriber"."created_at")' in q["sql"])
    assert "subscriber_created_idx" in query_plan(first_and_last)


def test_the_readers_date_hierarchy_lists_the_years_with_readers_without_reading_every_reader(editor_client):
    """Its years are those with readers in the list as filtered, found a year at a
    time by subscriber_created_idx: Django's DISTINCT of every reader's year read
    the whole table (20-40 ms at 100,000 readers, docs/benchmarks.md, "The admin at
    scale, fourth pass"). Inside a year, Django's months."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for year, status in ((2024, Subscriber.Status.ACTIVE), (2026, Subscriber.Status.PENDING)):
        reader = SubscriberFactory(status=status)
        Subscriber.objects.filter(pk=reader.pk).update(created_at=dt.datetime(year, 3, 1, tzinfo=dt.UTC))
    url = reverse("admin:subscribers_subscriber_changelist")

    def titles(query: dict) -> list[str]:
        return [choice["title"] for choice in editor_client.get(url, query).context["choices"]]

    with CaptureQueriesContext(connection) as queries:
        assert titles({}) == ["2024", "2026"]
    assert not [q["sql"] for q in queries if "DATE_TRUNC" in q["sql"]]
    assert titles({"status__exact": "active", "source__exact": "form"}) == ["Fri 1 Mar"]  # one reader: Django's, their day (the house's MONTH_DAY_FORMAT)
    assert titles({"created_at__year": "2024"}) == ["March 2024"]


_ADD_FORM = {"frequency": "daily", "weekday": "0", "delivery_hour": "7", "time_zone": "UTC", "papers_per_digest": "5",
             "consents-TOTAL_FORMS": "0", "consents-INITIAL_FORMS": "0",
             "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}


def test_a_form_sent_back_with_a_mistake_spends_none_of_an_editors_day_of_new_addresses(
    editor_client, settings, django_capture_on_commit_callbacks,
):
    """An editor allowed one new address a day types an hour that is none (25): the
    form comes back, and the same reader, corrected, is still added and mailed."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 1
    add = reverse("admin:subscribers_subscriber_add")
    form = {**_ADD_FORM, "email": "typo@example.com"}
    assert editor_client.post(add, {**form, "delivery_hour": "25"}).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert editor_client.post(add, form).status_code == 302
    assert [m.to for m in mail.outbox] == [["typo@example.com"]]


def test_a_superuser_adds_readers_by_hand_beyond_an_editors_day_of_new_addresses(
    admin_client, settings, django_capture_on_commit_callbacks,
):
    """The day's allowance is an editor's: a superuser typing readers in is not held
    by it (as their imports are not)."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 1
    add = reverse("admin:subscribers_subscriber_add")
    with django_capture_on_commit_callbacks(execute=True):
        for email in ("one@example.com", "two@example.com"):
            assert admin_client.post(add, {**_ADD_FORM, "email": email}).status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["one@example.com", "two@example.com"]


def test_editing_a_readers_preferences_mails_them_nothing_and_keeps_them_active(
    editor_client, django_capture_on_commit_callbacks,
):
    """An editor moves a confirmed reader's hour for them: the reader stays active
    (their digests go on), gets no confirmation email, and their address cannot be
    typed over on their page."""
    reader = SubscriberFactory(email="kept@example.com")
    change = reverse("admin:subscribers_subscriber_change", args=[reader.pk])
    assert 'name="email"' not in editor_client.get(change).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(change, {**_ADD_FORM, "email": "other@example.com", "delivery_hour": "9"})
    assert response.status_code == 302
    reader.refresh_from_db()
    assert (reader.email, reader.status, reader.delivery_hour) == ("kept@example.com", "active", 9)
    assert mail.outbox == []


def test_resending_to_a_few_pending_among_many_selected_counts_only_the_pending(
    editor_client, settings, django_capture_on_commit_callbacks,
):
    """An editor selects the whole page to resend: only the pending readers are mailed,
    and only they count against the editor's day."""
    settings.EDITOR_CONFIRMATIONS_PER_DAY = 1
    pending = SubscriberFactory(status="pending")
    active = [SubscriberFactory() for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(reverse("admin:subscribers_subscriber_changelist"),
                           {"action": "confirmation_resend", "_selected_action": [pending.pk, *(a.pk for a in active)]})
    assert [m.to[0] for m in mail.outbox] == [pending.email]


def test_the_export_of_one_status_has_those_readers_only(admin_client):
    """"Export" of the pending readers (?status=pending) hands over no active one."""
    SubscriberFactory(email="waiting@example.com", status="pending")
    SubscriberFactory(email="reading@example.com")
    body = admin_client.get(reverse("admin:subscribers_subscriber_export") + "?status=pending").content.decode()
    assert "waiting@example.com" in body and "reading@example.com" not in body


def test_an_editor_finds_a_suppression_by_its_address_and_cannot_change_a_bounces_reason(editor_client):
    """Only a hash is stored, yet an editor who types the address finds its row; on a
    hard bounce's page the reason is not theirs to change (it is what the ESP said)."""
    from subscribers.suppression import address_suppress

    address_suppress(email="ann@example.com", reason=Suppression.Reason.HARD_BOUNCE, note="550 user unknown")
    address_suppress(email="bob@example.com", reason=Suppression.Reason.HARD_BOUNCE, note="")
    listing = editor_client.get(reverse("admin:subscribers_suppression_changelist") + "?q=ann@example.com")
    assert email_hash("ann@example.com") in listing.content.decode()
    assert email_hash("bob@example.com") not in listing.content.decode()
    row = Suppression.objects.get(email_hash=email_hash("ann@example.com"))
    page = editor_client.get(reverse("admin:subscribers_suppression_change", args=[row.pk])).content.decode()
    assert 'name="reason"' not in page


def test_an_editor_who_searches_one_spelling_finds_the_suppression_of_its_mailbox(editor_client):
    """A reader writes from a.da+news@gmail.com asking why nothing comes: the row that
    stops it was recorded for ada@gmail.com, and the search finds it (only hashes are
    stored, so the editor could not find it otherwise)."""
    from subscribers.suppression import address_suppress

    address_suppress(email="ada@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    address_suppress(email="adam@gmail.com", reason=Suppression.Reason.HARD_BOUNCE)
    listing = editor_client.get(reverse("admin:subscribers_suppression_changelist") + "?q=a.da%2Bnews@gmail.com")
    assert email_hash("ada@gmail.com") in listing.content.decode()
    assert email_hash("adam@gmail.com") not in listing.content.decode()


def test_an_import_file_over_the_size_a_file_may_have_is_refused_with_how_to_split_it(editor_client, monkeypatch):
    """A file over IMPORT_MAX_BYTES is refused whole, saying its limit, not read."""
    from subscribers import admin as subscribers_admin

    monkeypatch.setattr(subscribers_admin, "IMPORT_MAX_BYTES", 1_000_000)
    rows = "".join(f"reader{n:06d}@example.com\n" for n in range(45_000))  # about 1.1 MB
    refused = _imported(editor_client, "email\n" + rows)
    assert "The file is over 1 MB: split it" in refused and not Subscriber.objects.exists()


def test_a_weekly_readers_day_has_one_name_in_every_place_whatever_the_process_locale(admin_client, german_time_locale):
    """The days were named by three tables: Python's calendar (the reader's schedule
    in their digests, pages and the admin list; the names the CSV import reads), a
    list written out in forms.py (the preference form, the admin's select) and
    Django's (the schedules' list). Under a German LC_TIME a Thursday reader's
    schedule said "a weekly digest on Donnerstags", their select said "Thursday",
    and the import refused "Thursday". Now all are Django's, as the date filter's."""
    from django_celery_beat.models import CrontabSchedule

    from newsletter.schedules import crontab_in_words

    reader = SubscriberFactory(email="thu@example.com", frequency="weekly", weekday=3, delivery_hour=18)

    changelist = admin_client.get(reverse("admin:subscribers_subscriber_changelist")).content.decode()
    change = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    assert "a weekly digest on Thursdays around 18:00 UTC" in changelist
    assert re.search(r'<option value="3" selected>Thursday</option>', change)
    assert crontab_in_words(CrontabSchedule(minute="0", hour="6", day_of_week="4")) == "Thursdays at 06:00 UTC"
    _imported(admin_client, "email,frequency,weekday\nw@example.com,weekly,Thursday\nx@example.com,weekly,thu\n",
              prior_consent="on")
    assert set(Subscriber.objects.filter(email__in=["w@example.com", "x@example.com"])
               .values_list("weekday", flat=True)) == {3}
