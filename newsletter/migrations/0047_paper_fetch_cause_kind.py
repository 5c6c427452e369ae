"""PaperFetch.cause and PaperFetch.kind, stored by the fetch that knows them
(ingest.paper_fetch_failure_record, papers_fetch_morning, manage.py fetch_papers)
instead of read back: why Hugging Face could not be read was parsed out of the
error's text, and a read timeout ("Read timed out" has "time" in it) was told as "it
took longer than the task may run"; which fetch an attempt was was guessed from its
time, so a morning fetch scheduled late in the day (the schedules are editable) whose
retries passed midnight UTC was told as "the second fetch" of its list, and an
operator's fetch by hand was not recorded at all. Columns with a database default
(the release before still inserts rows without them); the rows there are get what
the old reading made of them."""

import datetime as dt
import re

from django.db import migrations, models


def _cause(message: str) -> str:
    """What PaperFetch.reason read in a message (before this migration)."""
    status = re.search(r"HTTP \d{3}", message)
    if status:
        return status[0]
    if "not valid JSON" in message:
        return "its answer was not JSON"
    if "time" in message:
        return "it took longer than the task may run"
    return "no connection"


def backfill(apps, schema_editor):
    PaperFetch = apps.get_model("newsletter", "PaperFetch")
    for fetch in PaperFetch.objects.all().iterator():
        fetch.kind = "second" if fetch.attempted_at.astimezone(dt.UTC).date() > fetch.date else "morning"
        fetch.cause = _cause(fetch.message) if fetch.outcome == "unavailable" else ""
        fetch.save(update_fields=["kind", "cause"])


KINDS = [("morning", "The morning fetch or its retries (tasks.papers_fetch_today)"),
         ("second", "The next morning's fetch of the list again (ingest.papers_fetch_morning)"),
         ("hand", "An operator's manage.py fetch_papers --date")]


class Migration(migrations.Migration):
    dependencies = [("newsletter", "0046_paper_fetch")]

    operations = [
        migrations.AddField(
            model_name="paperfetch",
            name="cause",
            field=models.CharField(blank=True, db_default="", default="", max_length=80),
        ),
        migrations.AddField(
            model_name="paperfetch",
            name="kind",
            field=models.CharField(choices=KINDS, db_default="morning", default="morning", max_length=8),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="paperfetch",
            constraint=models.CheckConstraint(
                condition=models.Q(kind__in=["morning", "second", "hand"]), name="paper_fetch_kind_valid"),
        ),
    ]
