import datetime as dt
import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone
from django.utils.dates import WEEKDAYS

from newsletter.models import Topic

from .addresses import EMAIL_MAX_LENGTH, domain_normalise, email_display, email_masked

DEFAULT_PAPERS_PER_DIGEST = 5
MAX_PAPERS_PER_DIGEST = 20


def token_new() -> str:
    """The subscriber's manage/unsubscribe secret: 256 random bits. Links carry it
    inside a signed value (subscribers/tokens.py); issuing a new one revokes them."""
    return secrets.token_urlsafe(32)


def _offset_readable(abbreviation: str) -> str:
    """A zone's abbreviation as a reader can read it: tzdata gives many zones no
    letters, only their offset ("-03" in São Paulo, "+0530" nowhere common, "+04" in
    Dubai), which reads as "UTC−3", "UTC+5:30", "UTC+4"."""
    if abbreviation[:1] not in "+-" or not abbreviation[1:].isdigit():
        return abbreviation
    hours, minutes = int(abbreviation[1:3]), int(abbreviation[3:5] or 0)
    sign = "+" if abbreviation[0] == "+" else "\u2212"
    return f"UTC{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def zone_known(name: str) -> ZoneInfo | None:
    """The time zone called `name`, None when it is not a zone this server knows (a
    name from an old import or a newer tzdata, a key that is not a zone's name): its
    readers are shown times, and are sent digests, as in UTC (Subscriber.zone,
    newsletter/due.py)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending confirmation"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
        SUPPRESSED = "suppressed", "Suppressed"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Every weekday"
        WEEKLY = "weekly", "Weekly"

    class Source(models.TextChoices):
        FORM = "form", "Subscribe form"
        ADMIN = "admin", "Admin"
        IMPORT = "import", "Import"
        # The reader left through their ESP or mail client (a tracking webhook event).
        ESP = "esp", "ESP event"

    # Stored normalised (subscribers/addresses.py, email_normalise): the domain
    # lower-cased and IDNA-encoded, the local part as given.
    email = models.EmailField(max_length=EMAIL_MAX_LENGTH)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    paused_until = models.DateField(null=True, blank=True)
    topics = models.ManyToManyField(Topic, blank=True, related_name="subscribers")
    keywords = models.CharField(
        max_length=500, blank=True, help_text="Extra interest terms, comma separated."
    )
    exclude_keywords = models.CharField(
        max_length=500, blank=True, help_text="Papers matching these are left out."
    )
    only_with_code = models.BooleanField(default=False)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(
        default=0, help_text="For weekly digests: 0 = Monday … 6 = Sunday."
    )
    delivery_hour = models.PositiveSmallIntegerField(default=7, help_text="Local hour, 0–23.")
    time_zone = models.CharField(max_length=64, default="UTC")
    papers_per_digest = models.PositiveSmallIntegerField(default=DEFAULT_PAPERS_PER_DIGEST)
    skip_empty = models.BooleanField(
        default=False, help_text="Send nothing on days with no paper matching the topics."
    )
    # What the subscribe form asked for an address already on the list (pending or
    # unsubscribed): its preference names (services.PREFERENCE_FIELDS) and "topics"
    # (ids). Applied when the address is confirmed, not before: anyone can fill in
    # the form, and it wiped an unsubscribed reader's topics, keywords and left-out
    # terms at once.
    requested = models.JSONField(null=True, blank=True, editable=False)
    # An address change the preference centre asked for and not yet approved:
    # {"to": the new address (normalised), "id": the request's id, "at": when asked,
    # "confirmed": when the link mailed to "to" was pressed, "quiet": no email}. The
    # link mailed to "to" for that id asks the current address
    # (services.subscriber_email_change_confirm), whose link moves the subscription
    # (subscriber_email_change_approve); a newer request replaces it.
    email_change = models.JSONField(null=True, blank=True, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FORM)
    token = models.CharField(max_length=64, default=token_new, unique=True, editable=False)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # Editors curate; exporting readers' data, and seeing their whole addresses
        # (addresses.ADDRESS_PERMISSION), are for superusers and whoever is given
        # these (newsletter/migrations/0004_editor_group.py leaves them out).
        permissions = [("export_subscriber_data", "Can export subscriber data"),
                       ("view_subscriber_address", "Can view subscriber addresses")]
        constraints = [
            models.UniqueConstraint(
                Lower("email"), name="subscriber_email_ci_unique",
                violation_error_message="A reader with this address (in any case) is already on the list.",
            ),
            models.CheckConstraint(
                condition=Q(delivery_hour__gte=0, delivery_hour__lte=23),
                name="subscriber_delivery_hour_valid",
            ),
            models.CheckConstraint(
                condition=Q(weekday__gte=0, weekday__lte=6), name="subscriber_weekday_valid"
            ),
            models.CheckConstraint(
                condition=Q(papers_per_digest__gte=1, papers_per_digest__lte=MAX_PAPERS_PER_DIGEST),
                name="subscriber_papers_per_digest_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "active", "paused", "unsubscribed", "suppressed"]),
                name="subscriber_status_valid",
            ),
        ]
        indexes = [
            # Serves the dispatcher's "who is due now": active subscribers by hour.
            models.Index(
                fields=["delivery_hour", "time_zone"],
                condition=Q(status__in=["active", "paused"]),
                name="subscriber_due_idx",
            ),
            # Serves every lookup of one reader by address (`email__iexact`, which
            # PostgreSQL runs as UPPER(email) = UPPER(...), so the lower-cased unique
            # index is no use to it): the subscribe form, the ESP's events, the
            # suppression list, the admin's search by whole address. Each read the
            # whole table (40 ms at 100,000 readers; per row of a search on deliveries).
            models.Index(Upper("email"), name="subscriber_email_upper_idx"),
            # Serves the admin's readers in their order (-created_at, then -id, which the
            # admin adds) and its date hierarchy's first and last day: each sorted every
            # reader (55 to 70 ms at 100,000, docs/benchmarks.md, "The admin at scale,
            # fourth pass"). Built CONCURRENTLY (subscribers 0016).
            models.Index(fields=["created_at", "id"], name="subscriber_created_idx"),
        ]

    def __str__(self) -> str:
        # What editors read (the admin's lists, titles, the deliveries' reader).
        return self.email_display

    @property
    def email_display(self) -> str:
        """The address as the reader wrote it (subscribers/addresses.py): what every
        page and email shows them."""
        return email_display(self.email)

    @property
    def email_masked(self) -> str:
        """"r…@example.com" (subscribers/addresses.py): what the pages behind a
        reader's links show. Their links travel in the emails they forward, and
        whoever opens one is not told whose subscription it is; the reader knows
        their own address from its first letter and domain."""
        return email_masked(self.email)

    @property
    def weekday_name(self) -> str:
        # Django's names, as the date filter's: not Python's calendar, whose names
        # follow the process's LC_TIME ("Donnerstag" once anything set it from LANG).
        return str(WEEKDAYS[self.weekday])

    def pause_ended(self, *, now: dt.datetime | None = None) -> bool:
        """The pause's day (paused_until) has come where the reader is: digests go out
        again from that day, whatever the status says until the reader presses a
        button. The one place of this rule: the dispatcher's check at send time
        (newsletter/due.py, subscriber_still_receiving; its query form is
        subscribers_receiving) and what the reader's pages say (status_read)."""
        return self.paused_until is not None and self.paused_until <= (now or timezone.now()).astimezone(self.zone).date()

    @property
    def status_read(self) -> str:
        """The status as the reader's pages and emails speak of it: "active" for a
        pause that has ended (pause_ended), else the status. They said "Paused …
        Resume now" to a reader getting digests again for weeks."""
        if self.status == self.Status.PAUSED and self.pause_ended():
            return self.Status.ACTIVE
        return self.status

    @property
    def zone(self) -> ZoneInfo:
        """The reader's time zone, for showing them times (UTC if it is not a known
        zone: the dispatcher treats such readers as UTC too, newsletter/due.py)."""
        return zone_known(self.time_zone) or ZoneInfo("UTC")

    def delivery_time(self, on: dt.date | None = None) -> str:
        """"07:00 EST (America/New_York)": the reader's delivery hour in their zone,
        with the zone's abbreviation on the day `on` (EST in winter, EDT in summer;
        by default today where they are). Every page and email that tells a reader
        when their digest comes says it this way."""
        zone = self.zone
        on = on or timezone.localdate(timezone=zone)
        # Through UTC, so that an hour the clocks skip reads as the reader's clock shows
        # it when the digest comes (02:00 on the day summer time starts is 03:00 CEST).
        local = dt.datetime.combine(on, dt.time(self.delivery_hour), tzinfo=zone).astimezone(dt.UTC).astimezone(zone)
        name = str(zone)
        abbreviation = _offset_readable(local.tzname())
        return f"{local:%H:%M} {abbreviation}" + ("" if abbreviation == name else f" ({name})")

    def schedule(self, on: dt.date | None = None) -> str:
        """"a digest every weekday around 07:00 EST (America/New_York)", or "a weekly
        digest on Mondays around ..." (delivery_time for `on`)."""
        when = (f"a weekly digest on {self.weekday_name}s" if self.frequency == self.Frequency.WEEKLY
                else "a digest every weekday")
        return f"{when} around {self.delivery_time(on)}"


class ConsentRecord(models.Model):
    """Evidence of each consent event (GDPR art. 7(1)): what, when, from where."""

    class Action(models.TextChoices):
        SUBSCRIBE = "subscribe", "Subscribed"
        CONFIRM = "confirm", "Confirmed"
        PREFERENCES = "preferences", "Changed preferences"
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"
        RESUBSCRIBE = "resubscribe", "Resubscribed"
        # The reader moved the subscription to another address, confirmed from that
        # address and approved from the old one (detail: "from" and "to"; the
        # approval's click: services.subscriber_email_change_approve).
        EMAIL_CHANGE = "email_change", "Changed address"

    class Source(models.TextChoices):
        # Where the event came from. The same values as Subscriber.Source, but read
        # for an event, not for how a subscriber first came in: "form" is every page
        # the reader acts on (subscribe form, confirm link, preference centre, pause,
        # unsubscribe), not only the subscribe form.
        FORM = Subscriber.Source.FORM.value, "The reader, on our pages"
        ADMIN = Subscriber.Source.ADMIN.value, "An editor, in the admin"
        IMPORT = Subscriber.Source.IMPORT.value, "Import"
        ESP = Subscriber.Source.ESP.value, "ESP event"
        # An RFC 8058 one-click POST to the List-Unsubscribe address: the mail
        # client's own button, not a page of ours (subscribers/views.py unsubscribe).
        # Until 7 December 2026 it read "The reader, on our pages", told apart only by
        # the detail "one click: yes".
        MAIL_CLIENT = "mailclient", "The reader, with their mail client's unsubscribe button"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consents")
    action = models.CharField(max_length=20, choices=Action.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    consent_text_version = models.CharField(max_length=20, blank=True)
    # What changed (preferences, pause length), so editors see more than "changed".
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.get_source_display()})"


class Suppression(models.Model):
    """Addresses that must never be mailed again, kept only as a hash so a deleted
    subscriber leaves no address behind (subscribers/services.py, email_hash)."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "bounced", "Hard bounce"
        SOFT_BOUNCES = "soft_bounced", "Repeated soft bounces"
        COMPLAINT = "complained", "Spam complaint"
        DELETED = "deleted", "Deleted their data"
        EDITOR = "editor", "Suppressed by an editor"

    email_hash = models.CharField(max_length=64, unique=True)
    # The keyed hash of the mailbox the address reaches (suppression.mailbox_hash),
    # which every spelling of it shares; "" for a row whose address nobody knew when
    # the column came (migration 0020): it covers its own spelling only.
    mailbox_hash = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["mailbox_hash"], name="suppression_mailbox_idx")]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"


class BlockedDomain(models.Model):
    """Domains the subscribe form refuses (disposable or abusive), editable by editors."""

    domain = models.CharField(max_length=253, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.domain

    def clean(self):
        # Stored as addresses are (subscribers/addresses.py), so that the lookup of an
        # address's domain finds it: "Spam-Domain.COM" or "@junkmail.org" as typed
        # never matched (an editors' walkthrough, 5 December).
        self.domain = domain_normalise(self.domain)


class OwedEmail(models.Model):
    """A journey email the reader should still get although the task queue (Redis)
    could not take it when it was due: the goodbye of an unsubscribe made while
    Redis was away, which stands whether or not the email goes. Beat queues it once
    Redis is back and deletes the row (subscribers/services.py, owed_emails_queue);
    the task sends nothing if the reader's state no longer calls for it."""

    # Found by owed_email_unique, which starts with it.
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "kind"], name="owed_email_unique")]

    def __str__(self) -> str:
        return f"{self.kind} for subscriber {self.subscriber_id}"


class RetiredToken(models.Model):
    """A reader's secret replaced (tokens.subscriber_links_retire): by "Give selected
    readers new links", when the reader unsubscribed, or when their address was
    suppressed. Kept for one thing only: the unsubscribe
    links of the emails already sent still unsubscribe (RFC 8058's one-click, and
    CAN-SPAM asks an opt-out to work for 30 days after a send). Every other link made
    from it stays dead."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="retired_tokens")
    token = models.CharField(max_length=64, unique=True, editable=False)
    retired_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"retired secret of subscriber {self.subscriber_id}"


class LeftReadersErased(models.Model):
    """Readers the retention erased after they left the list, counted by the day they
    left (in the server's zone) and how (unsubscribed or suppressed): the dashboard's
    readers by status go on counting them so from that day, as before they were
    erased (docs/data-retention.md, "Figures"). A count, of no one."""

    left_on = models.DateField()
    status = models.CharField(max_length=20)
    erased = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["left_on", "status"], name="left_readers_erased_unique")]

    def __str__(self) -> str:
        return f"{self.erased} {self.status} on {self.left_on.isoformat()}, erased since"
