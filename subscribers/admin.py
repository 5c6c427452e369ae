from operator import attrgetter

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import formats, timezone
from django.utils.html import format_html_join
from django.utils.text import Truncator

from newsletter.due import next_digest
from newsletter.models import Delivery, Topic

from . import csv_io
from .addresses import (
    ADDRESS_PERMISSION,
    address_column,
    address_lookup_allowed,
    email_exactly,
    email_masked,
    email_normalise,
    email_search_term,
    email_shown_to,
)
from .curation import (
    editor_confirmations_refusal,
    subscriber_added_by_editor,
    subscribers_confirmation_resend,
    subscribers_links_revoke,
    subscribers_suppress,
    subscribers_unsuppress,
)
from .forms import WEEKDAYS
from .models import BlockedDomain, ConsentRecord, Subscriber, Suppression
from .services import JourneyEmailNotQueued, email_domain_is_blocked, subscriber_delete
from .suppression import (
    KEPT_FROM_EDITORS,
    address_suppress,
    address_suppressions,
    email_hash,
    email_is_suppressed,
    suppressions_of,
)
from .tokens import subscriber_manage_url

EXPORT_PERMISSION = "subscribers.export_subscriber_data"
# When the task queue (Redis) cannot take the confirmation emails: nothing was sent,
# and no address's email window was spent.
QUEUE_AWAY_ADMIN_MESSAGE = (
    "The confirmation emails could not be queued: Redis (the task queue) cannot be "
    "reached. Those not queued wait for you: use \"Resend the confirmation email\" once /health/ is 200 again."
)


class ConsentRecordInline(admin.TabularInline):
    """The evidence of consent, read-only: editors see it, nobody rewrites it."""

    model = ConsentRecord
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "source", "ip_address", "user_agent",
              "consent_text_version", "detail_text")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        # Where and with what a reader consented identifies them as their address
        # does: for those who may see addresses (the proof is kept either way).
        fields = super().get_fields(request, obj)
        if request.user.has_perm(ADDRESS_PERMISSION):
            return fields
        return tuple(f for f in fields if f not in ("ip_address", "user_agent"))

    @admin.display(description="Detail")
    def detail_text(self, record: ConsentRecord) -> str:
        """One "what: value" line per key ({"added_by": "ann", "topics": ["llm"]}
        read as raw JSON)."""
        def said(value) -> str:
            if isinstance(value, list | tuple):
                return ", ".join(map(str, value)) or "none"
            if isinstance(value, bool):
                return "yes" if value else "no"
            return "—" if value in (None, "") else str(value)

        return format_html_join(
            "\n", "<div>{}: {}</div>", ((key.replace("_", " "), said(value)) for key, value in record.detail.items())
        ) or "—"


class DeliveryInline(admin.TabularInline):
    """The digests this reader was sent (the ledger), read-only."""

    model = Delivery
    extra = 0
    can_delete = False
    fields = ("edition", "status", "sent_at", "attempts", "error", "provider_event")
    readonly_fields = fields
    ordering = ("-created_at",)
    verbose_name_plural = "Deliveries"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        # The latest provider event of each row, read for the list in one query: a
        # "Sent" row whose digest bounced said so only on the delivery's own page (an
        # editor's walkthrough, "I get nothing since Tuesday").
        return (super().get_queryset(request).select_related("edition")
                .prefetch_related(Delivery.events_prefetch()))

    @admin.display(description="Provider's latest event")
    def provider_event(self, delivery: Delivery) -> str:
        """"bounced on 1 Dec 2026 07:03: 550 5.1.1 user unknown", as the ESP reported it."""
        latest = delivery.provider_latest
        if latest is None:
            return "—"
        said = f"{latest.kind_said} on {formats.date_format(timezone.localtime(latest.occurred_at), 'DATETIME_FORMAT')}"
        description = Truncator(latest.description).chars(EVENT_DESCRIPTION_SHOWN)
        return f"{said}: {description}" if description else said


# Enough of an ESP's description for the SMTP reply ("550 5.1.1 … user unknown");
# the delivery's own page has it whole.
EVENT_DESCRIPTION_SHOWN = 120


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=300, widget=forms.TextInput(attrs={"size": 60}),
        help_text="Why: kept with the suppression and in the admin's history.",
    )


# An import's file is read whole: 10,000 rows (csv_io.IMPORT_MAX_ROWS) fit in far less.
IMPORT_MAX_BYTES = 5_000_000


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text=(
        "A header row, then one reader per row. Columns: email (required), topics "
        "(slugs or names separated by ;), frequency (daily/weekly), weekday (a weekly "
        "reader's day: Monday or 0 … Sunday or 6), time_zone (e.g. Europe/Paris), "
        "delivery_hour (0–23). A file exported here imports as it is."))
    consent_source = forms.CharField(
        max_length=200, label="Where did they consent?",
        help_text="Required. E.g. “Sign-up sheet at the NeurIPS 2025 booth, 3 Dec”. "
                  "Kept on each reader's consent record.",
    )
    prior_consent = forms.BooleanField(
        required=False, label="They already confirmed their address elsewhere (double opt-in)",
        help_text="Leave unticked and each new address gets a confirmation email and "
                  "receives nothing until it is confirmed.",
    )
    default_topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.filter(is_active=True), required=False,
        widget=forms.CheckboxSelectMultiple, help_text="For rows without topics.",
    )

    def __init__(self, *args, prior_consent: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not prior_consent:
            del self.fields["prior_consent"]

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(f"The file is over {IMPORT_MAX_BYTES // 1_000_000} MB: split it "
                                        f"(at most {csv_io.IMPORT_MAX_ROWS:,} rows a file).")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError("The file is not UTF-8 text; save it as “CSV UTF-8”.") from exc


def suppression_said(row: Suppression) -> str:
    """Why and since when a reader is suppressed, from the list's row: "Suppressed
    on 1 Dec 2026: Hard bounce (Postmark bounced: 550 5.1.1 …)"."""
    when = formats.date_format(timezone.localtime(row.created_at), "SHORT_DATE_FORMAT")
    said = f"Suppressed on {when}: {row.get_reason_display()}" + (f" ({row.note})" if row.note else "")
    if row.reason in KEPT_FROM_EDITORS:
        said += ". An editor cannot lift that: they stay suppressed"
    return said


# Readers an export loads at a time, with their topics (one prefetch a batch): all at
# once, 20,000 readers held 88 MB (100,000: some 440 MB); the CSV text is a few MB.
EXPORT_BATCH = 2000


def _export_response(subscribers) -> HttpResponse:
    response = HttpResponse(
        csv_io.subscribers_export_csv(subscribers=subscribers.iterator(chunk_size=EXPORT_BATCH)),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="subscribers-{stamp}.csv"'
    return response


class SubscriberAdminForm(forms.ModelForm):
    """The admin is an entry point too: an address typed here is stored in the same
    form as one from the subscribe form or an import."""

    # The user name whose daily allowance of confirmation emails a new reader counts
    # against (SubscriberAdmin.get_form: an editor's, not a superuser's).
    capped_editor: str | None = None

    class Meta:
        model = Subscriber
        fields = "__all__"
        # The day by name, as the reader's own form asks it (a number box "0 = Monday").
        widgets = {"weekday": forms.Select(choices=WEEKDAYS)}
        help_texts = {"weekday": "For weekly digests."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["email"] = self.instance.email_display  # stored again by clean_email

    def clean_email(self) -> str:
        email = email_normalise(self.cleaned_data["email"])
        if self.instance.pk is None or email.lower() != self.instance.email.lower():
            # As the import refuses them: nobody is mailed at an address that bounced,
            # complained or asked to be erased, or of a blocked domain.
            if email_is_suppressed(email):
                raise forms.ValidationError("This address is on the suppression list (a bounce, a complaint "
                                            "or an erasure): it cannot be added here.")
            if email_domain_is_blocked(email):
                raise forms.ValidationError("This address's domain is blocked (Blocked domains).")
        return email

    def _post_clean(self):
        super()._post_clean()
        # Counted last, once the form is otherwise valid: a typo spends nothing. Not in
        # clean(): the model's own checks (an hour of 25) run after it, and a form sent
        # back for one of them spent a new address of the editor's day.
        if (not self.errors and self.instance.pk is None and self.capped_editor is not None
                and (refusal := editor_confirmations_refusal(editor=self.capped_editor, count=1))):
            self.add_error(None, refusal)


class _MaskedRow:
    """A reader's row as its checkbox's label names it: masked (email_masked)."""

    def __init__(self, subscriber: Subscriber):
        self.pk, self._said = subscriber.pk, email_masked(subscriber.email)

    def __str__(self) -> str:
        return self._said


def _history_named(entry, subscriber: Subscriber):
    entry.object_repr = f"Reader {subscriber.pk} ({email_masked(subscriber.email)})"
    entry.save(update_fields=["object_repr"])
    return entry


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    form = SubscriberAdminForm
    change_list_template = "admin/subscribers/subscriber/change_list.html"
    # Six columns, so the list fits 1280 px beside both sidebars (nine did not, and the
    # last ones were cut off): frequency, hour and time zone read as one schedule.
    list_display = ("address", "status", "topic_names", "schedule_text", "source", "joined")
    list_filter = ("status", "topics", "frequency", "time_zone", "source", "only_with_code")
    search_fields = ("email",)
    date_hierarchy = "created_at"
    # Status and source only change by what readers do and by the actions (suppress,
    # unsuppress, resend the confirmation), each with its consent record: an editor
    # cannot make anyone a recipient by hand. A reader added here waits for their
    # confirmation (save_related).
    readonly_fields = ("address", "status", "source", "status_changed_at", "confirmation_sent_at", "confirmed_at",
                       "unsubscribed_at", "created_at", "updated_at", "manage_link", "next_digest_text",
                       "suppression_text")
    inlines = [ConsentRecordInline, DeliveryInline]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        # Tens of topics: one checkbox each, labelled (Django's two-list filter gave
        # screen readers labels they may not read, axe: aria-prohibited-attr).
        if db_field.name == "topics":
            kwargs["widget"] = forms.CheckboxSelectMultiple
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "topics":
            field.label_from_instance = attrgetter("name_and_state")
        return field
    actions = ["suppress", "unsuppress", "confirmation_resend", "links_revoke", "export_csv"]
    fieldsets = (
        (None, {"fields": ("email", "status", "suppression_text", "paused_until", "next_digest_text", "source",
                           "manage_link")}),
        ("Preferences", {"fields": ("topics", "keywords", "exclude_keywords", "only_with_code",
                                    "frequency", "weekday", "delivery_hour", "time_zone",
                                    "papers_per_digest", "skip_empty")}),
        ("History", {"fields": ("status_changed_at", "confirmation_sent_at", "confirmed_at",
                                "unsubscribed_at", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("topics")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and not request.user.is_superuser:
            form = type(form.__name__, (form,), {"capped_editor": request.user.get_username()})
        return form

    def get_readonly_fields(self, request, obj=None):
        # A reader's address is theirs: changed here, a confirmed reader's digests
        # went to whatever address was typed, under their consent records (a hostile
        # tester's pass). A new address subscribes on the form, and confirms.
        fields = super().get_readonly_fields(request, obj)
        return (*fields, "email") if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        # The preference-centre link acts as the reader (export, delete, unsubscribe,
        # recorded as theirs): superusers only. Why a reader is suppressed, for those who are.
        fieldsets = super().get_fieldsets(request, obj)
        left_out = {"manage_link"} if not request.user.is_superuser else set()
        if obj is None or obj.status != Subscriber.Status.SUPPRESSED:
            left_out.add("suppression_text")
        # A reader's page shows their address as the list does (masked for editors
        # without ADDRESS_PERMISSION); a new reader's is typed in.
        shown = {"email": "address"} if obj is not None else {}
        (name, options), *rest = fieldsets
        fields = tuple(shown.get(f, f) for f in options["fields"] if f not in left_out)
        return ((name, {**options, "fields": fields}), *rest)

    def get_search_results(self, request, queryset, search_term):
        if request.user.has_perm(ADDRESS_PERMISSION) or not search_term.strip():
            # Either spelling of an internationalised domain finds its readers.
            return super().get_search_results(request, queryset, email_search_term(search_term))
        if "@" not in search_term:
            self.message_user(request, "Type a reader's whole address to find them: addresses are shown masked "
                                       "(j…@example.com) unless you may see them.", messages.INFO)
        return queryset.filter(email_exactly("email", search_term)), False

    def lookup_allowed(self, lookup, value, request):
        return address_lookup_allowed(request.user, lookup) and super().lookup_allowed(lookup, value, request)

    def get_list_display(self, request):
        column = address_column(request.user, email_of=lambda obj: obj.email, description="Email", ordering="email")
        return [column if name == "address" else name for name in super().get_list_display(request)]

    def action_checkbox(self, obj):
        # Django labels each row's checkbox with str(obj), the whole address, whoever
        # looks; the row's own cell says the whole of it to those who may see it.
        return super().action_checkbox(_MaskedRow(obj))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.address_shown = email_shown_to(request.user, obj.email)
        return obj

    # The admin's history names a reader by number and masked address, not str(obj):
    # every editor's "Recent actions" lists it (and an erasure renames it, services).
    def log_addition(self, request, obj, message):
        return _history_named(super().log_addition(request, obj, message), obj)

    def log_change(self, request, obj, message):
        return _history_named(super().log_change(request, obj, message), obj)

    def _reader_said(self, request, object_id) -> dict:
        """The page's subtitle and breadcrumb as this user may see them (Django's
        are str(obj), the whole address)."""
        obj = self.get_object(request, object_id)
        return {"subtitle": obj.address_shown, "reader_said": obj.address_shown} if obj is not None else {}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(request, object_id, form_url,
                                   {**self._reader_said(request, object_id), **(extra_context or {})})

    def history_view(self, request, object_id, extra_context=None):
        said = self._reader_said(request, object_id)
        if said:
            said["title"] = f"Change history: {said.pop('subtitle')}"
        return super().history_view(request, object_id, {**said, **(extra_context or {})})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change:
            subscriber_added_by_editor(subscriber=form.instance, editor=request.user.get_username())

    def response_add(self, request, obj, post_url_continue=None):
        # The address is not the message's first word: the admin's template shows every
        # message through capfirst ("Friend.of.editor@…", an editor's walkthrough).
        self.message_user(request, f"Confirmation email on its way to {obj.email_display}: the reader is waiting "
                                   "for confirmation, and digests start once they press its button.", messages.INFO)
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description="Email")
    def address(self, obj: Subscriber) -> str:
        # A reader's page: get_object sets it for the user looking (masked otherwise).
        return getattr(obj, "address_shown", None) or email_masked(obj.email)

    @admin.display(description="Topics")
    def topic_names(self, obj: Subscriber) -> str:
        return ", ".join(t.name_and_state for t in obj.topics.all()) or "—"

    @admin.display(description="Schedule", ordering="delivery_hour")
    def schedule_text(self, obj: Subscriber) -> str:
        return obj.schedule()

    @admin.display(description="Next digest")
    def next_digest_text(self, obj: Subscriber) -> str:
        """What the reader's own pages say (newsletter/due.py): for a reader asking
        an editor when their digest comes."""
        return (next_digest(subscriber=obj).when or "none: this reader gets no digests") if obj.pk else "—"

    @admin.display(description="Suppression")
    def suppression_text(self, obj: Subscriber) -> str:
        """For "I get nothing since Tuesday": the page said "Suppressed", not why or when."""
        row = suppressions_of([obj.email]).get(obj.email)
        return suppression_said(row) if row else "The address is no longer on the suppression list (Suppressions)"

    @admin.display(description="Joined", ordering="created_at")
    def joined(self, obj: Subscriber) -> str:
        return formats.date_format(timezone.localtime(obj.created_at), "SHORT_DATE_FORMAT")

    @admin.display(description="Preference centre")
    def manage_link(self, obj: Subscriber) -> str:
        return subscriber_manage_url(subscriber=obj) if obj.pk else "—"

    def get_deleted_objects(self, objs, request):
        """A superuser's erasure of readers who ever got a digest: Django asks for the
        right to delete each related row, and nobody has it for the ledger's
        (DeliveryAdmin.has_delete_permission), so the page said "Cannot delete
        subscriber … delivery" and a reader's erasure was refused in the admin (an
        editor's walkthrough, 7 December). Their deliveries go with them through
        subscriber_delete, which keeps the editions' figures (newsletter/tallies.py)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed - {Delivery._meta.verbose_name}, protected

    # Deleting goes through the service: a keyed hash stays on the suppression list.
    def delete_model(self, request, obj):
        subscriber_delete(subscriber=obj)

    def delete_queryset(self, request, queryset):
        for subscriber in queryset:
            subscriber_delete(subscriber=subscriber)

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def _reason_action(self, request, queryset, *, title: str, apply, kept_said=None):
        """`apply` does it to the selected readers and returns how many it changed
        and those it left as they were, which `kept_said` says why."""
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            subscribers = list(queryset)
            count, kept = apply(subscribers)
            for subscriber in subscribers:
                if subscriber not in kept:
                    self.log_change(request, subscriber, f"{title}: {reason}")
            self.message_user(request, f"{title}: {count} of {len(subscribers)} readers. Reason: {reason}",
                              messages.SUCCESS)
            if kept:
                self.message_user(request, kept_said(kept), messages.WARNING)
            return None
        # Each reader with why and since when they are suppressed, if they are: the
        # form said "(Suppressed)", and an editor lifted a spam complaint unawares.
        subscribers = list(queryset)
        rows = suppressions_of(s.email for s in subscribers)
        readers = [(s, email_shown_to(request.user, s.email), suppression_said(rows[s.email]) if s.email in rows else "")
                   for s in subscribers]
        return TemplateResponse(request, "admin/subscribers/subscriber/reason_action.html", {
            # The page asks ("Suppress"); the message and the history say what was done.
            **self.admin_site.each_context(request), "title": title.removesuffix("ed"), "form": form,
            "readers": readers, "action": request.POST.get("action"), "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across") == "1",  # admin/_select_across.html
        })

    @admin.action(description="Suppress selected (never mail again)…", permissions=["change"])
    def suppress(self, request, queryset):
        def apply(subscribers):
            return subscribers_suppress(subscribers=subscribers, reason=request.POST["reason"]), []
        return self._reason_action(request, queryset, title="Suppressed", apply=apply)

    @admin.action(description="Unsuppress selected…", permissions=["change"])
    def unsuppress(self, request, queryset):
        def apply(subscribers):
            done = subscribers_unsuppress(subscribers=subscribers)
            return done.lifted, done.kept

        def kept_said(kept) -> str:
            named = ", ".join(email_shown_to(request.user, s.email) for s in kept)
            return (f"Not unsuppressed: {named} reported the digest as spam. "
                    "An editor cannot lift that: they stay suppressed and are never mailed again (Gmail's and "
                    "Yahoo's rules for bulk senders).")
        return self._reason_action(request, queryset, title="Unsuppressed", apply=apply, kept_said=kept_said)

    @admin.action(description="Resend the confirmation email (pending readers)", permissions=["change"])
    def confirmation_resend(self, request, queryset):
        if not request.user.is_superuser:
            pending = queryset.filter(status=Subscriber.Status.PENDING).count()
            refusal = editor_confirmations_refusal(editor=request.user.get_username(), count=pending)
            if refusal:
                self.message_user(request, f"{refusal} Nothing was sent.", messages.ERROR)
                return
        try:
            done = subscribers_confirmation_resend(subscribers=queryset)
        except JourneyEmailNotQueued:
            self.message_user(request, QUEUE_AWAY_ADMIN_MESSAGE, messages.ERROR)
            return
        # Each reader's history says who mailed them again (as the editions' sends).
        for subscriber in Subscriber.objects.filter(pk__in=done.mailed):
            self.log_change(request, subscriber, "Confirmation email sent again.")
        minutes = max(1, settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS // 60)
        parts = [f"Confirmation email queued for {done.queued} pending reader{pluralize(done.queued)}."]
        if done.held:
            parts.append(f"Not sent to {done.held}: one went to {'that address' if done.held == 1 else 'each'} "
                         f"in the last {minutes} minute{pluralize(minutes)} (at most one per address in that "
                         "time); try again after.")
        if done.not_pending:
            parts.append(f"{done.not_pending} selected {'is' if done.not_pending == 1 else 'are'} not waiting "
                         "for confirmation: nothing sent.")
        self.message_user(request, " ".join(parts), messages.SUCCESS if done.queued else messages.WARNING)

    def has_revoke_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description="Give selected readers new links (revoke the old ones)", permissions=["revoke"])
    def links_revoke(self, request, queryset):
        """A reader whose preference-centre link leaked (it acts as them and never
        expires): a new secret, so every link made from the old one stops working."""
        count = subscribers_links_revoke(subscribers=queryset)
        self.message_user(request, f"New links for {count} reader{pluralize(count)}: their old preference-centre, "
                                   "view-in-browser, vote and confirmation links no longer work (the unsubscribe links "
                                   "of emails already sent still unsubscribe, and do nothing else); the next email "
                                   "each gets carries the new ones.", messages.SUCCESS)

    @admin.action(description="Export selected as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        if not self.has_export_permission(request):
            raise PermissionDenied
        return _export_response(queryset)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="subscribers_subscriber_import"),
            path("export/", view(self.export_view), name="subscribers_subscriber_export"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"has_export_permission": self.has_export_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def export_view(self, request):
        """Every subscriber (or ?status=...) as CSV: personal data, so 403 without
        the export permission, even for editors who may view subscribers."""
        if not self.has_export_permission(request):
            raise PermissionDenied
        queryset = self.get_queryset(request).order_by("created_at")
        if request.GET.get("status") in Subscriber.Status.values:
            queryset = queryset.filter(status=request.GET["status"])
        return _export_response(queryset)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        # "They already confirmed elsewhere" makes readers recipients at once: a
        # superuser's word (an editor's made up addresses active; a hostile tester's pass).
        may_state_consent = request.user.is_superuser
        form = ImportForm(request.POST or None, request.FILES or None, prior_consent=may_state_consent)
        report = None
        if request.method == "POST" and form.is_valid():
            dry_run = "_import" not in request.POST
            try:
                report = csv_io.subscribers_import(
                    text=form.cleaned_data["file"],
                    consent_source=form.cleaned_data["consent_source"],
                    prior_consent=form.cleaned_data.get("prior_consent", False),
                    default_topics=form.cleaned_data["default_topics"],
                    dry_run=dry_run,
                    file_name=request.FILES["file"].name,
                    editor=request.user.get_username(),
                    capped=not request.user.is_superuser,
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                if report.emails_not_queued:
                    # The rows are in; only the emails wait, and the report stays on screen.
                    self.message_user(request, f"Import done, but {QUEUE_AWAY_ADMIN_MESSAGE[0].lower()}"
                                               f"{QUEUE_AWAY_ADMIN_MESSAGE[1:]}", messages.ERROR)
                elif not dry_run:
                    # The line-by-line report stays on screen after a real import too
                    # (it was a redirect to the list, and the lines were gone): which
                    # were refused and why is what the editor fixes next.
                    self.message_user(request, f"Import done: {report.summary}", messages.SUCCESS)
                if not dry_run:
                    form = ImportForm(prior_consent=may_state_consent)
        return TemplateResponse(request, "admin/subscribers/subscriber/import.html", {
            **self.admin_site.each_context(request), "title": "Import subscribers from CSV",
            "form": form, "report": report, "opts": self.model._meta,
        })


class SuppressionForm(forms.ModelForm):
    """Editors type an address; only its hash is stored."""

    email = forms.EmailField(required=False, help_text="Stored only as a hash.")

    class Meta:
        model = Suppression
        fields = ("email", "email_hash", "reason", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a suppression's address never changes (SuppressionAdmin)
            self.fields.pop("email", None)
        if "email_hash" in self.fields:
            self.fields["email_hash"].required = False

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            return data
        if data.get("email"):
            data["email_hash"] = email_hash(data["email"])
            self.instance.email_hash = data["email_hash"]
        elif not data.get("email_hash"):
            raise forms.ValidationError("Give an address or its hash.")
        return data


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = ("email_hash", "reason", "note", "created_at")
    list_filter = ("reason",)
    search_fields = ("email_hash", "note")

    def get_fields(self, request, obj=None):
        # A suppression's address never changes: a new hash typed over it made the
        # suppressed address (a complaint, a hard bounce) mailable again.
        return ("email_hash", "reason", "note") if obj is not None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        # A complaint's reason neither: changed to "an editor's decision", it could be
        # unsuppressed (suppression.KEPT_FROM_EDITORS). Nor an editor's, whatever it is
        # (formfield_for_choice_field).
        if obj is not None and (obj.reason in KEPT_FROM_EDITORS or not request.user.is_superuser):
            return ("email_hash", "reason")
        return ("email_hash",) if obj is not None else ()

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        # An editor's suppression is an editor's: the other reasons are what the ESP
        # reported (a bounce, a complaint) or what the reader did (erasure). Offered
        # "Spam complaint", an editor made any address unmailable for good, superusers
        # included (a hostile tester's pass).
        if db_field.name == "reason" and not request.user.is_superuser:
            kwargs["choices"] = [(Suppression.Reason.EDITOR.value, Suppression.Reason.EDITOR.label)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting the row lifts it: a complaint stays, superusers included.
        if obj is not None and obj.reason in KEPT_FROM_EDITORS:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        email = form.cleaned_data.get("email")
        if email and not change:
            # Through the one path that also marks the reader of that address
            # suppressed (address_suppress): until 5 December a suppression added
            # here left them "Active", counted among the dashboard's readers.
            address_suppress(email=email, reason=obj.reason, note=obj.note, replace=True)
            obj.pk = Suppression.objects.get(email_hash=obj.email_hash).pk
        else:
            super().save_model(request, obj, form, change)

    def get_search_results(self, request, queryset, search_term):
        # An editor can search by address: it is hashed the same way, and the
        # rows of its mailbox are found too, as the checks find them.
        if "@" in search_term:
            return queryset.filter(pk__in=address_suppressions(search_term.strip())), False
        return super().get_search_results(request, queryset, search_term)


@admin.register(BlockedDomain)
class BlockedDomainAdmin(admin.ModelAdmin):
    list_display = ("domain", "note", "created_at")
    search_fields = ("domain", "note")
