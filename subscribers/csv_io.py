"""Subscribers in and out of CSV files, for the admin.

Import: every file needs a consent source (where and how these people agreed to
get the digest), kept on each new subscriber's consent record. New addresses get
a confirmation email (double opt-in) unless the editor states they already
confirmed elsewhere. Existing subscribers are never changed by an import: an
unsubscribed or suppressed reader stays so, and an active one gets no email.
A dry run reports what would happen and writes nothing.

Export: the selected subscribers, one row each; the admin gates it behind the
`subscribers.export_subscriber_data` permission."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dates import WEEKDAYS

from newsletter.models import Topic

from .addresses import email_display, email_normalise, email_normalise_or_given, email_validate
from .consent import consent_record_new
from .curation import editor_confirmations_refusal, editor_confirmations_would_refuse
from .forms import time_zone_choices, time_zone_current
from .models import ConsentRecord, Subscriber
from .services import (
    EMAIL_CONFIRM,
    JourneyEmailNotQueued,
    emails_at_blocked_domains,
    journey_emails_queue_new,
)
from .suppression import emails_suppressed

IMPORT_COLUMNS = ("email", "topics", "frequency", "weekday", "time_zone", "delivery_hour")
EXPORT_COLUMNS = ("email", "status", "topics", "frequency", "weekday", "delivery_hour", "time_zone",
                  "source", "created_at", "confirmed_at", "unsubscribed_at")
# An import larger than this is a job for a migration script, not a form post.
IMPORT_MAX_ROWS = 10_000
TOPIC_SEPARATORS = (";", "|")
# A row whose status column (an export's) says this: its outcome and why.
STATUS_NEVER_READDED = {
    Subscriber.Status.UNSUBSCRIBED: ("unsubscribed", "The file says they unsubscribed."),
    Subscriber.Status.SUPPRESSED: ("suppressed", "The file says they are suppressed."),
}
STATUS_NEVER_CONFIRMED = ("The file says they never confirmed: import them without “They already confirmed” "
                          "and they get a confirmation email.")
IMPORT_RACED = ("Some of these addresses were added to the list while the file was imported (another import, or "
                "a reader subscribing): nothing was imported. Check the file again to see who is new.")


@dataclass
class ImportLine:
    line: int
    email: str
    outcome: str  # "new", "exists", "invalid", "unsubscribed", "suppressed", "blocked", "duplicate"
    detail: str = ""

    @property
    def email_display(self) -> str:
        """As the file wrote it (addresses.email_display), not IDNA-encoded as stored."""
        return email_display(self.email)


@dataclass
class ImportReport:
    dry_run: bool
    prior_consent: bool
    lines: list[ImportLine] = field(default_factory=list)
    # The header's columns an import does not read (an export's status, source and
    # dates: an import never sets them), said in the summary rather than dropped unsaid.
    ignored_columns: list[str] = field(default_factory=list)
    # The rows are in, their confirmation emails not queued (services.JourneyEmailNotQueued).
    emails_not_queued: bool = False
    # A check's (dry run's) word that the import itself would be refused, and why: the
    # editor's day of confirmation emails (curation.editor_confirmations_would_refuse).
    refusal: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def created(self) -> int:
        return self.count("new")

    @property
    def summary(self) -> str:
        verb = "would be added" if self.dry_run else "added"
        parts = [f"{self.created} {verb}"]
        if self.created:
            if self.prior_consent:
                parts[0] += " as active (prior consent)"
            elif self.emails_not_queued:
                parts[0] += ", confirmation emails not sent yet (the task queue is away)"
            else:
                parts[0] += " and sent a confirmation email"
        labels = {
            "exists": "already on the list (left unchanged)",
            "duplicate": "repeated in the file",
            "invalid": "invalid",
            "unsubscribed": "unsubscribed (never re-added)",
            "suppressed": "suppressed (never mailed)",
            "blocked": "at blocked domains",
        }
        parts += [f"{self.count(k)} {label}" for k, label in labels.items() if self.count(k)]
        if self.ignored_columns:
            parts.append(f"columns not imported: {', '.join(self.ignored_columns)} (an import never sets them)")
        return "; ".join(parts) + "."


def _topics_parse(value: str, topics: dict[str, Topic]) -> tuple[list[Topic], list[str]]:
    for sep in TOPIC_SEPARATORS[1:]:
        value = value.replace(sep, TOPIC_SEPARATORS[0])
    found, unknown = [], []
    for name in filter(None, (v.strip() for v in value.split(TOPIC_SEPARATORS[0]))):
        topic = topics.get(name.lower())
        (found.append(topic) if topic else unknown.append(name))
    return found, unknown


def _row_parse(row: dict, topics: dict[str, Topic], default_topics: list[Topic], time_zones: set[str]) -> dict:
    """A CSV row to subscriber fields; raises ValidationError with a reason.
    `time_zones`: the zones a reader can choose (forms.time_zone_choices), listed once
    for the file (zoneinfo.available_timezones() reads the time-zone database each
    call: 13 ms a row, 20 s for 2,000 rows)."""
    fields: dict = {}
    chosen, unknown = _topics_parse(row.get("topics") or "", topics)
    if unknown:
        # "agents, vision" (a spreadsheet's list) was one unknown topic of that name,
        # and the editor was left to guess why: the separators are said.
        commas = any("," in name and all(part.strip().lower() in topics for part in name.split(","))
                     for name in unknown)
        hint = f" (separate topics with {' or '.join(TOPIC_SEPARATORS)}, not commas)" if commas else ""
        raise ValidationError(f"unknown topics: {', '.join(unknown)}{hint}")
    fields["topics"] = chosen or default_topics
    frequency = (row.get("frequency") or "").strip().lower()
    if frequency:
        if frequency not in Subscriber.Frequency.values:
            raise ValidationError(f"frequency must be one of {', '.join(Subscriber.Frequency.values)}")
        fields["frequency"] = frequency
    weekday = (row.get("weekday") or "").strip().lower()
    if weekday:
        fields["weekday"] = _weekday_parse(weekday)
    # As the forms take it (TimeZoneField): an old name as its current one, and only a
    # zone their select offers (an Etc/GMT-1 it does not showed as UTC, and was saved so).
    time_zone = time_zone_current((row.get("time_zone") or "").strip())
    if time_zone:
        if time_zone not in time_zones:
            raise ValidationError(f"unknown time zone {time_zone!r}")
        fields["time_zone"] = time_zone
    hour = (row.get("delivery_hour") or "").strip()
    if hour:
        # isdecimal, not isdigit: "²" is a digit int() refuses, as it does 4,301
        # digits (a 500, the file lost).
        if not (hour.isdecimal() and len(hour) <= 2) or not 0 <= int(hour) <= 23:
            raise ValidationError("delivery_hour must be 0–23")
        fields["delivery_hour"] = int(hour)
    return fields


def _weekday_parse(value: str) -> int:
    """A weekly reader's day as the export writes it (0 is Monday … 6 Sunday) or by
    its name in English, whole or short ("Thursday", "thu"); raises ValidationError."""
    if value.isdecimal() and len(value) == 1 and 0 <= int(value) <= 6:
        return int(value)
    names = [str(name).lower() for name in WEEKDAYS.values()]
    for day, name in enumerate(names):
        if value in (name, name[:3]):
            return day
    raise ValidationError("weekday must be 0–6 (0 is Monday) or a day's name")


def _header_problem(header: list[str]) -> str:
    """What is wrong with a header row without an 'email' column, with the likely
    cause when it is a file separated by semicolons or tabs (a spreadsheet's export
    in many locales)."""
    message = "The file needs a header row with an 'email' column."
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        message += f" Its columns are separated by {separator}: save it with commas (CSV, comma-separated)."
    return message


def subscribers_import(
    *,
    text: str,
    consent_source: str,
    prior_consent: bool,
    dry_run: bool,
    default_topics: Iterable[Topic] = (),
    file_name: str = "",
    editor: str = "",
    capped: bool = False,
) -> ImportReport:
    """Import subscribers from CSV text with a header row (IMPORT_COLUMNS; only
    `email` is required). Raises ValidationError for a file that cannot be read.
    `editor` (a user name) is named on each consent record; `capped`: their daily
    allowance of confirmation emails counts this file's (an editor's, not a
    superuser's; curation.editor_confirmations_refusal), and a file over it is refused."""
    consent_source = consent_source.strip()
    if not consent_source:
        raise ValidationError("Say where these people gave their consent.")
    # newline="", as the csv module asks: it reads CR, LF and CRLF line ends alike
    # (Excel for Mac's "CSV (Macintosh)" ends lines with CR alone, and was refused).
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    start = 1  # the line of the file the row being read starts on
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if "email" not in header:
            raise ValidationError(_header_problem(header))
        if repeated := sorted({name for name in header if name and header.count(name) > 1}):
            # A row's dict keeps the last of two same-named columns: "email,email"
            # imported the second, whatever the first held.
            raise ValidationError(f"The header names {', '.join(repr(n) for n in repeated)} more than "
                                  "once: keep one column of each. Nothing was imported.")
        # Each row with the line of the file it starts on: rows counted from 2
        # (csv.DictReader's) named the line above a refused row after a blank line or
        # a quoted field of two lines. Rows with nothing in them are skipped, blank
        # lines and the ",," a spreadsheet writes for its empty rows alike (each was
        # an "invalid" reader with no address).
        rows: list[tuple[int, dict]] = []
        start = reader.line_num + 1
        for values in reader:
            if any(value.strip() for value in values):
                if len(rows) == IMPORT_MAX_ROWS:
                    # Refused here, not once all are read: 5 MB of short rows
                    # (admin.IMPORT_MAX_BYTES) held 260 MB of them.
                    raise ValidationError(f"At most {IMPORT_MAX_ROWS} rows per file.")
                rows.append((start, dict(zip(header, map(_cell_read, values)))))
            start = reader.line_num + 1
    except csv.Error as exc:
        # A field over the csv module's limit (131,072 characters), a stray NUL: the
        # file as a whole is unreadable; said with the line (until 5 December: a 500).
        raise ValidationError(f"The file cannot be read as CSV at line {start}: {exc}. "
                              "Nothing was imported.") from None

    topics = {}
    for t in Topic.objects.filter(is_active=True):
        topics[t.slug.lower()] = topics[t.name.lower()] = t
    default_topics = list(default_topics)
    time_zones = {name for name, _ in time_zone_choices()}
    report = ImportReport(dry_run=dry_run, prior_consent=prior_consent,
                          ignored_columns=[name for name in header if name and name not in IMPORT_COLUMNS])
    parsed: list[tuple[ImportLine, dict]] = []
    seen: set[str] = set()
    for number, row in rows:
        raw = (row.get("email") or "").strip()
        status = (row.get("status") or "").strip().lower()
        if said := STATUS_NEVER_READDED.get(status):
            # What an export says of a reader: imported where this list's rows and
            # suppressions are not (another instance, a restored database), those who
            # left or complained came back. Said before any other fault of the row,
            # which an editor would fix and import again.
            email = email_normalise_or_given(raw)
            report.lines.append(ImportLine(number, email, *said))
            seen.add(email.lower())
            continue
        try:
            email = email_normalise(raw)
            email_validate(email)
            if prior_consent and status == Subscriber.Status.PENDING:
                # "Already confirmed elsewhere" is said of the whole file; this row says not.
                raise ValidationError(STATUS_NEVER_CONFIRMED)
            fields = _row_parse(row, topics, default_topics, time_zones)
        except ValidationError as exc:
            report.lines.append(ImportLine(number, raw, "invalid", "; ".join(exc.messages)))
            continue
        if email.lower() in seen:
            report.lines.append(ImportLine(number, email, "duplicate"))
            continue
        seen.add(email.lower())
        line = ImportLine(number, email, "new")
        report.lines.append(line)
        parsed.append((line, fields))
    # One query each for the whole file (a query each per row: the check of a file of
    # 10,000 rows made 9,000 queries and took 8 s, docs/benchmarks.md).
    suppressed = emails_suppressed(line.email for line, _ in parsed)
    blocked = emails_at_blocked_domains(line.email for line, _ in parsed)
    for line, _ in parsed:
        if line.email in suppressed:
            line.outcome = "suppressed"
        elif line.email in blocked:
            line.outcome = "blocked"
    parsed = [(line, fields) for line, fields in parsed if line.outcome == "new"]

    # Case-insensitive, like the unique index subscriber_email_ci_unique it uses.
    existing = dict(
        Subscriber.objects.annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[line.email.lower() for line, _ in parsed])
        .values_list("email_lower", "status")
    )
    for line, _ in parsed:
        status = existing.get(line.email.lower())
        if status:
            line.outcome, line.detail = "exists", Subscriber.Status(status).label
    mailed = 0 if prior_consent else sum(1 for line, _ in parsed if line.outcome == "new")
    if dry_run:
        # Said by the check, counting nothing of the day: until 8 December the check
        # passed and the import was then refused.
        if capped:
            report.refusal = editor_confirmations_would_refuse(editor=editor, count=mailed) or ""
        return report

    now = timezone.now()
    detail = {"consent_source": consent_source, "prior_consent": prior_consent}
    if editor:
        detail["added_by"] = editor  # as a reader typed in (curation.subscriber_added_by_editor)
    if file_name:
        detail["file"] = file_name
    new = [(line, fields) for line, fields in parsed if line.outcome == "new"]
    chosen = [fields.pop("topics") for _, fields in new]
    try:
        with transaction.atomic():
            # In a few statements, not a few a row: 10,000 rows took 31 s, past what a
            # proxy waits for a page (docs/benchmarks.md).
            try:
                subscribers = Subscriber.objects.bulk_create([
                    Subscriber(email=line.email, source=Subscriber.Source.IMPORT,
                               status=Subscriber.Status.ACTIVE if prior_consent else Subscriber.Status.PENDING,
                               confirmed_at=now if prior_consent else None,
                               confirmation_sent_at=None if prior_consent else now, **fields)
                    for line, fields in new
                ], batch_size=1000)
            except IntegrityError:
                # subscriber_email_ci_unique: an address found new above was added since
                # ("Import" pressed twice, a reader on the form); was a server error.
                raise ValidationError(IMPORT_RACED) from None
            # Counted once the rows are in: an import that fails spends nothing of the
            # editor's day, and one refused here is rolled back whole.
            if capped and (refusal := editor_confirmations_refusal(editor=editor, count=mailed)):
                raise ValidationError(f"{refusal} Nothing was imported.")
            Subscriber.topics.through.objects.bulk_create([
                Subscriber.topics.through(subscriber_id=subscriber.pk, topic_id=topic.pk)
                for subscriber, topics in zip(subscribers, chosen, strict=True) for topic in topics
            ], batch_size=5000)
            records = []
            for subscriber, topics in zip(subscribers, chosen, strict=True):
                records.append(consent_record_new(
                    subscriber=subscriber, action=ConsentRecord.Action.SUBSCRIBE, ip=None,
                    user_agent="", source=Subscriber.Source.IMPORT,
                    detail={**detail, "topics": sorted(t.slug for t in topics)},
                ))
                if prior_consent:
                    records.append(consent_record_new(
                        subscriber=subscriber, action=ConsentRecord.Action.CONFIRM, ip=None,
                        user_agent="", source=Subscriber.Source.IMPORT, detail=detail,
                    ))
            ConsentRecord.objects.bulk_create(records, batch_size=1000)
            if not prior_consent:
                journey_emails_queue_new(subscribers=subscribers, kind=EMAIL_CONFIRM, now=now)
    except JourneyEmailNotQueued:
        # The rows are in (their transaction committed); only the emails wait, and
        # the editor still sees which rows were refused and why.
        report.emails_not_queued = True
    return report


# A cell a spreadsheet reads as a formula (OWASP "CSV injection"): the public form
# takes "=cmd|'/Ccalc'!A0@x.com" as an address, and the export wrote it as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A value as a cell no spreadsheet runs: a leading quote before a formula's
    first character (shown as text, as OWASP advises)."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _cell_read(text: str) -> str:
    """A cell as _cell wrote it, back to its value: "'-ann@example.com" is the
    export's "-ann@example.com" (read with the quote, an import of an export added
    a reader at an address nobody owns). Changes with _cell."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def subscribers_export_csv(*, subscribers: Iterable[Subscriber]) -> str:
    """The subscribers as CSV text (EXPORT_COLUMNS); `subscribers` should have
    topics prefetched."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for s in subscribers:
        writer.writerow([_cell(value) for value in (
            s.email, s.status, ";".join(t.slug for t in s.topics.all()), s.frequency, s.weekday,
            s.delivery_hour, s.time_zone, s.source,
            s.created_at.isoformat() if s.created_at else "",
            s.confirmed_at.isoformat() if s.confirmed_at else "",
            s.unsubscribed_at.isoformat() if s.unsubscribed_at else "",
        )])
    return out.getvalue()
