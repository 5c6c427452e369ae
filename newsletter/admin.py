"""The editors' admin: papers, topics, editions (preview, test send, hold, send now),
the delivery ledger and the dashboard. Views and actions parse input and call one
service of newsletter/curation.py (or relevance/services); no logic here."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from operator import attrgetter

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.db.models import (
    Exists,
    ExpressionWrapper,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce, Upper
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat, pluralize
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin

from subscribers.addresses import (
    ADDRESS_PERMISSION,
    address_column,
    email_exactly,
    email_masked,
    email_normalise_or_given,
    email_search_term,
    email_shown_to,
)
from subscribers.models import Subscriber

from . import admin_beat, curation, dashboard, relevance, services, tallies  # noqa: F401 (admin_beat registers beat's pages)
from .editions import edition_send_time, listed_late, note_links_misleading
from .health import health_check
from .ingest import (
    IngestError,
    arxiv_id_typed,
    json_read,
    previous_list_date,
    title_normalise,
    trending_date_refusal,
)
from .models import (
    Delivery,
    DeliveryEvent,
    Edition,
    EditionTally,
    Paper,
    PaperTopic,
    Topic,
    keyword_lines,
    thumbnail_url_allowed,
)
from .selectors import (
    PAPER_VISIBLE,
    deliveries_carrying,
    paper_date_newest,
    paper_fetch_missing,
    paper_fetch_no_papers,
    paper_fetch_to_show,
    paper_fetch_told,
    paper_refresh_to_show,
    topic_rows_prefetch,
)
from .sql import key_from_text
from .webhooks import SOFT_BOUNCED

# How many readers the preview's "as whom" list offers; others by id in the URL.
PREVIEW_READER_CHOICES = 200
# A topic a paper passes for but is no chip of (relevance.topics_about), as editors see it.
PASS_ONLY = (": passes for this topic, so its readers can get it; no chip, being far below "
             "the paper's strongest topic")
# What holding an edition means, as the edition's page and the hold's message say it:
# a hold of more than a day keeps its papers from everyone (newsletter/due.py:
# catch_up_since looks a day back, and readers get the newest edition at their hour).
HOLD_SAID = ("On hold: no digest of this edition goes out until you release it. Release it within a day: "
             "readers whose hour passed meanwhile get it at the next run. A reader whose hour comes once the "
             "next edition is out gets that one instead, so a longer hold sends this one to nobody.")
# A search of the ledger lists the readers it found by id up to this many (their
# rows by the readers' index); beyond, it reads the readers alongside the list.
SEARCH_READERS_LISTED = 500
# Provider events the ledger filters on, as DeliveryEvent.event_type holds them:
# anymail's normalised types, except that a soft bounce of any ESP ("deferred", or
# a temporary "bounced") is stored as SOFT_BOUNCED (newsletter/webhooks.py); the
# filter offered "deferred", which nothing is stored as.
PROVIDER_EVENTS = {"delivered": "Delivered", "bounced": "Bounced", SOFT_BOUNCED: "Soft bounced",
                   "complained": "Complained", "unsubscribed": "Unsubscribed", "opened": "Opened",
                   "clicked": "Clicked", "rejected": "Rejected", "failed": "Failed"}


# --- Papers -----------------------------------------------------------------------------


def row_inputs_label(form, row: str) -> None:
    """A table of inputs (an inline, a list's editable column) has column headers, not
    labels: each input is named by its column and its row, and loses the help text
    the row does not show (its aria-describedby pointed at nothing). axe: label."""
    for name, field in form.fields.items():
        column = "Delete" if name == "DELETE" else str(field.label or name).capitalize()
        # A foreign key's select sits inside the admin's wrapper (its add/change links).
        widget = getattr(field.widget, "widget", field.widget)
        widget.attrs["aria-label"] = f"{column}: {row}" if row else column
        field.help_text = ""


class LabelledRowsFormSet(BaseInlineFormSet):
    def __init__(self, *args, **kwargs):
        """A row deleted since the page was opened (another editor's save re-scored
        the paper's topics) is left out, and counted in `stale_rows`: it failed the
        whole save with "Please correct the error below" over no visible error."""
        super().__init__(*args, **kwargs)
        self.stale_rows = 0
        if not self.is_bound or self.instance.pk is None:
            return
        existing = {str(pk) for pk in self.get_queryset().values_list("pk", flat=True)}
        data = self.data.copy()
        for index in range(self.initial_form_count()):
            row = self.add_prefix(index)
            if data.get(f"{row}-id", "") not in existing:  # gone, or sent back without it
                data[f"{row}-DELETE"] = "on"
                self.stale_rows += 1
        self.data = data

    def add_fields(self, form, index):
        super().add_fields(form, index)  # DELETE is added here, after the form's own fields
        row = str(form.instance.topic) if form.instance.pk else "new row"
        row_inputs_label(form, row)


class PaperTopicInline(admin.TabularInline):
    model = PaperTopic
    formset = LabelledRowsFormSet
    extra = 1
    fields = ("topic", "score", "source", "matched")
    readonly_fields = ("matched",)
    # A plain list of the (tens of) topics; the search box of an autocomplete gave
    # screen readers an unnamed combobox.
    verbose_name = "topic"
    verbose_name_plural = ("Topics (a row you add puts the paper under the topic, a row you delete takes it "
                           "off; re-scoring keeps both. Set a row back to Automatic to let the keywords decide)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("topic")  # each row's label names it

    @admin.display(description="Matched terms")
    def matched(self, row):
        # The terms as the digest's why line names them (they showed as raw JSON).
        return ", ".join(row.matched_terms) or "—"


class HasCodeFilter(admin.SimpleListFilter):
    title = "has code"
    parameter_name = "has_code"

    def lookups(self, request, model_admin):
        return (("yes", "With code"), ("no", "Without code"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(github_repo="")
        if self.value() == "no":
            return queryset.filter(github_repo="")
        return queryset


class TopicFilter(admin.SimpleListFilter):
    """The papers a topic has: the rows that pass (score above 0). Django's filter on
    the many-to-many also took the rows an editor set to "not this topic" (score 0),
    so the list and its count held papers the topic's readers never get."""
    title = "topic"
    parameter_name = "topic"

    def lookups(self, request, model_admin):
        return [(str(t.pk), t.name_and_state) for t in Topic.objects.only("pk", "name", "is_active")]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(topic_scores__topic=self.value(), topic_scores__score__gt=0)


class TopicChoiceForm(forms.Form):
    topic = forms.ModelChoiceField(queryset=Topic.objects.all(), empty_label=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A switched-off topic stays on offer (papers can be prepared for it before it
        # is switched on again, or taken off it), said so as on the readers' pages.
        self.fields["topic"].label_from_instance = attrgetter("name_and_state")


# A saved response of the API the paste form takes as a file: a day's list is some
# hundreds of kB; a paste is cut at DATA_UPLOAD_MAX_MEMORY_SIZE (a bare 400 before the
# form saw it, the text gone), a file is not. Larger: manage.py fetch_papers --file.
PAPERS_FILE_MAX_BYTES = 20 * 1024 * 1024


class PaperJSONForm(forms.Form):
    entry = forms.CharField(
        label="API JSON entry", required=False,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 90, "class": "vLargeTextField"}),
        help_text="One entry of https://huggingface.co/api/daily_papers (an object with a "
                  "'paper' key), or a list of them.",
    )
    file = forms.FileField(
        label="or a saved file", required=False,
        help_text="The API's response saved as a file, for a list too long to paste (a paste "
                  f"takes {filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} at most, a file "
                  f"{filesizeformat(PAPERS_FILE_MAX_BYTES)}).",
    )
    trending_date = forms.DateField(
        initial=lambda: timezone.localdate(), help_text="The Daily Papers date it trended on.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean_trending_date(self):
        day = self.cleaned_data["trending_date"]
        if refusal := trending_date_refusal(day):
            raise forms.ValidationError(f"{refusal}.")
        return day

    def clean(self):
        cleaned = super().clean()
        text, upload = cleaned.get("entry"), cleaned.get("file")
        if text and upload:
            raise forms.ValidationError("Paste an entry or choose a file, not both.")
        if not text and not upload:
            self.add_error("entry", "Paste an entry of the API, or choose a file of them.")
            return cleaned
        if upload and upload.size > PAPERS_FILE_MAX_BYTES:
            self.add_error("file", f"This file is {filesizeformat(upload.size)}, over the "
                                   f"{filesizeformat(PAPERS_FILE_MAX_BYTES)} a file may be here: import it "
                                   "with manage.py fetch_papers --file.")
            return cleaned
        field = "file" if upload else "entry"
        try:
            value = json_read(upload.read() if upload else text)
        except IngestError as exc:
            said = str(exc)
            # The browser forgets a chosen file when the page comes back: name it.
            self.add_error(field, f"{upload.name}: {said}. Choose it again once it is put right." if upload
                           else f"{said[:1].upper()}{said[1:]}.")
            return cleaned
        if not isinstance(value, dict | list):
            self.add_error(field, "Paste a JSON object (one entry) or a list of entries.")
        elif not value:
            # "[]" was "Added or updated 0 paper(s)." in green (an editors' walkthrough).
            self.add_error(field, "Nothing to add: paste an entry of the API, or a list of them.")
        else:
            cleaned["entry"] = value
        return cleaned


# A paper's flag as its history says it was changed (_flags_logged).
FLAG_SAID = {("pinned", True): "Pinned.", ("pinned", False): "Unpinned.",
             ("hidden", True): "Hidden.", ("hidden", False): "Shown again."}


def _flags_logged(model_admin, request, papers, **flag) -> None:
    """A line in the history of each paper whose pin or hide this changes, under the
    editor's name: Django's admin logs its forms' saves, not actions, so a paper
    hidden from every digest (or pinned into every one) said nothing of who did it.
    `papers` as read before the change (papers_flag_set updates the rows, not them)."""
    for paper in papers:
        for name, value in flag.items():
            if getattr(paper, name) != value:
                model_admin.log_change(request, paper, FLAG_SAID[name, value])


def _papers(count: int) -> str:
    """"1 paper", "2 papers": the count in the messages of the paper actions."""
    return f"{count} paper{pluralize(count)}"


def _day(date) -> str:
    """A day as the lists write it ("24 Nov 2025", the house's short date:
    config/formats/en/formats.py): papers, editions and deliveries alike (the
    editions' list had Django's "Nov. 24, 2025")."""
    return formats.date_format(date, "SHORT_DATE_FORMAT")


def _already_sent_said(model_admin, request, papers) -> None:
    """After hiding papers: those that already went out, in how many digests, and a
    link to them (who got it). Hiding said only "Hidden: …" when 400 of 401
    digests had carried the paper (an editor's walkthrough)."""
    url = reverse("admin:newsletter_delivery_changelist")
    went_out = set(services.papers_sent().filter(paper_id__in=[p.pk for p in papers]).values_list("paper_id", flat=True))
    for paper in [p for p in papers if p.pk in went_out]:
        count = deliveries_carrying(paper=paper).count()
        if count:
            model_admin.message_user(request, format_html(
                "“{}” already went out in {} digest{}: those emails cannot be changed; digests sent from now "
                'on leave it out. <a href="{}?carried={}">Who got it</a>', paper.title, count, pluralize(count),
                url, paper.pk), messages.WARNING)


def _withdrawn(paper) -> str:
    """Why a withdrawn paper stays off the site and out of every digest, hidden or
    not (selectors.PAPER_VISIBLE), and how an editor changes that."""
    return (f"its authors withdrew it on {_day(timezone.localtime(paper.withdrawn_at))}. "
            "Clear “Withdrawn at” on its page if that was a mistake.")


def _withdrawn_said(model_admin, request, papers) -> None:
    """After showing papers again: those their authors withdrew stay out. "Show
    again" said "Shown again: …" of a withdrawn paper, which then left the edition's
    list of hidden papers and was on no list of it (7 December 2026)."""
    for paper in papers:
        if paper.withdrawn_at:
            model_admin.message_user(
                request, f"“{paper.title}” stays off the site and out of every digest: {_withdrawn(paper)}",
                messages.WARNING)


class LinesField(forms.CharField):
    """A list of strings (a JSONField of the model) as a text area of one per line:
    the admin showed and took them as raw JSON ('["agents", "tool use"]')."""

    def __init__(self, **kwargs):
        super().__init__(required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}), **kwargs)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in super().to_python(value).splitlines() if line.strip()]


def _one_newline(value):
    """A text as compared: a browser posts a text area's and a hidden field's line
    ends as CRLF, whatever the database holds."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


class PaperAdminForm(forms.ModelForm):
    # Room for the address of the paper's page, which clean_arxiv_id reads the id out of.
    arxiv_id = forms.CharField(label="arXiv id", required=False, max_length=300,
                               help_text="Its id (2511.00001) or the address of its page on arXiv or Hugging Face.")
    ai_keywords = LinesField(label="AI keywords", help_text="The API's keywords, one per line.")
    authors = LinesField(help_text="One name per line, in the paper's order.")

    class Meta:
        model = Paper
        # The admin's fieldsets choose the form's fields; these two are what clean() reads.
        fields = ("title", "arxiv_id")
        # As people write them (Django's defaults read "Arxiv id", "Ai summary").
        labels = {"ai_summary": "AI summary", "github_repo": "GitHub repository",
                  "github_stars": "GitHub stars", "num_comments": "Comments", "published_on": "Published on arXiv"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Each field carries the value the editor was shown (Django's hidden initial),
        # so a save knows what they changed and what someone else changed meanwhile.
        if self.instance.pk:
            for field in self.fields.values():
                field.show_hidden_initial = True

    def clean_arxiv_id(self) -> str | None:
        """The bare id of what the editor typed or pasted (ingest.arxiv_id_typed):
        "2511.00001v2" is 2511.00001, and so a paper already here is refused by the
        unique id, naming it, not saved a second time."""
        return arxiv_id_typed(self.cleaned_data.get("arxiv_id") or "") or None

    def clean_thumbnail_url(self):
        url = self.cleaned_data["thumbnail_url"]
        if url and not thumbnail_url_allowed(url):
            hosts = ", ".join(settings.THUMBNAIL_HOSTS)
            raise forms.ValidationError(f"A paper's picture comes from Hugging Face's thumbnails (https://{hosts}/…): "
                                        "one from elsewhere is fetched by every reader's mail client, telling its "
                                        "host who opened the digest.")
        return url

    def _seen(self, name: str):
        """(whether the form carried it, the value the editor was shown) of a field."""
        bound = self[name]
        if bound.html_initial_name not in self.data:
            return False, None
        return True, _one_newline(self._widget_data_value(bound.field.hidden_widget(), bound.html_initial_name))

    def changed_meanwhile(self) -> list[str]:
        """The fields someone else changed since the editor opened the page: the
        value now stored differs from the one they were shown."""
        changed = []
        for name, field in self.fields.items():
            carried, seen = self._seen(name)
            if carried and field.has_changed(_one_newline(self.initial.get(name)), seen):
                changed.append(name)
        return changed

    def _conflicts(self) -> None:
        """Two editors on one paper: the second save silently undid the first (an
        editor's walkthrough). Now a save writes only the fields its editor changed
        (PaperAdmin.save_model), so another's changes to other fields stay; a field
        both changed, differently, is refused with what it holds now, and the form
        then counts that value as seen: saving again keeps this editor's."""
        if not self.instance.pk or not self.is_bound:
            return
        clashes = [
            name for name in set(self.changed_data) & set(self.changed_meanwhile())
            if self.fields[name].has_changed(_one_newline(self.initial.get(name)),
                                             _one_newline(self.data.get(self.add_prefix(name))))
        ]
        if not clashes:
            return
        last = (LogEntry.objects.filter(content_type__model="paper", content_type__app_label="newsletter",
                                        object_id=str(self.instance.pk))
                .select_related("user").order_by("-action_time").first())
        who = (f"{last.user.get_username()} at {formats.date_format(timezone.localtime(last.action_time), 'TIME_FORMAT')}"
               if last else "someone")
        self.data = self.data.copy()
        for name in sorted(clashes):
            field = self.fields[name]
            now = self.initial.get(name)
            shown = field.hidden_widget().format_value(field.prepare_value(now))
            self.data[self[name].html_initial_name] = "" if shown is None else shown
            self.add_error(name, f"Changed by {who} since you opened this page; it now reads: "
                                 f"“{field.prepare_value(now) if now not in (None, '') else '(empty)'}”. "
                                 "Save again to keep yours instead.")

    def clean(self):
        """A paper without an arXiv id is known by its title (Paper.title_key, the
        import's upsert key): a second one titled alike would be refused by the
        database (until 5 December: a 500). Said here, naming the other paper.
        And a field another editor changed meanwhile (_conflicts)."""
        self._conflicts()
        cleaned = super().clean()
        title, arxiv_id = cleaned.get("title"), cleaned.get("arxiv_id")
        if title and not arxiv_id:
            twin = (Paper.objects.filter(arxiv_id__isnull=True, title_key=title_normalise(title))
                    .exclude(pk=self.instance.pk).first())
            if twin is not None:
                self.add_error("title", f"Another paper without an arXiv id is already titled like this: "
                                        f"“{twin.title}” of {formats.date_format(twin.trending_date, 'SHORT_DATE_FORMAT')}. Give this one its "
                                        "arXiv id, or another title.")
        return cleaned


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    form = PaperAdminForm
    change_list_template = "admin/newsletter/paper/change_list.html"
    # Pinned, hidden and code as one column of words: as three columns of icons the
    # table was wider than the page at 1280 px, and those were the columns cut off.
    list_display = ("title_short", "date", "upvotes", "comments", "topic_chips", "state")
    list_filter = ("trending_date", TopicFilter, "pinned", "hidden", HasCodeFilter)
    search_fields = ("title", "abstract", "arxiv_id", "authors", "organization")
    date_hierarchy = "trending_date"
    readonly_fields = ("title_key", "created_at", "updated_at", "picture")
    inlines = [PaperTopicInline]
    actions = ["pin", "unpin", "hide", "unhide", "topic_add", "topic_remove", "topic_example", "topic_unexample",
               "rescore"]
    list_per_page = 50
    # An editor who pastes "github.com/org/repo" gets https://, as every link of a
    # paper is (Django 6's default; 5.2 warns about its http one).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("title", "arxiv_id", "trending_date", "upvotes", "num_comments",
                           ("pinned", "hidden"))}),
        ("Text", {"fields": ("abstract", "ai_summary", "ai_keywords")}),
        ("Authors and links", {"classes": ("collapse",), "fields": (
            "authors", "author_count", "organization", "organization_slug", "published_on",
            "github_repo", "github_stars", "project_page", "thumbnail_url", "picture", "withdrawn_at")}),
        ("Record", {"classes": ("collapse",), "fields": ("title_key", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # `served`: whether this site serves the paper's picture (newsletter/views.py,
        # paper_picture: a paper readers can see, selectors.PAPER_VISIBLE); a hidden
        # or withdrawn paper's row and page showed a broken image.
        return (super().get_queryset(request).prefetch_related(topic_rows_prefetch())
                .annotate(served=ExpressionWrapper(PAPER_VISIBLE, output_field=models.BooleanField())))

    @admin.display(description="Title", ordering="title")
    def title_short(self, paper):
        """The title, its arXiv id, and the paper's picture beside them, as readers
        see it on its card: an editor finds a paper of the morning by its figure
        faster than by its title (this site's copy: newsletter/pictures.py)."""
        title = paper.title if len(paper.title) <= 90 else paper.title[:89] + "…"
        text = format_html("{}<br><small class='muted'>{}</small>", title, paper.arxiv_id or "no arXiv id")
        if not (paper.picture_url and getattr(paper, "served", False)):
            return text
        return format_html('<div class="paper-row"><img class="paper-thumb" src="{}" alt="" width="64" height="36" '
                           'loading="lazy" decoding="async" data-picture-frame><div>{}</div></div>',
                           paper.picture_url, text)

    @admin.display(description="Picture as readers see it")
    def picture(self, paper):
        if not paper.picture_served_url:
            return "None: the card shows the title alone."
        if not getattr(paper, "served", False):  # unsaved, hidden or withdrawn (get_queryset)
            return "None while it is hidden or withdrawn: readers see no picture of it, nor its card."
        if paper.picture_missing_at:
            return format_html("None: Hugging Face's CDN would not give it (tried {}); the card shows the title "
                               "alone until a later try brings it.",
                               formats.date_format(timezone.localtime(paper.picture_missing_at), "DATETIME_FORMAT"))
        return format_html('<img class="paper-picture" src="{}" alt="The paper\'s picture" width="320" height="168" '
                           'data-picture-frame>', paper.picture_url)

    @admin.display(description="Topics")
    def topic_chips(self, paper):
        return render_to_string("admin/newsletter/_topic_chips.html",
                                {"tags": paper.topic_tags, "pass_only": PASS_ONLY})

    @admin.display(description="Date", ordering="trending_date")
    def date(self, paper):
        """The trending date under a short heading ("Trending date" and its sort marks
        took 150 px of a table that did not fit)."""
        return _day(paper.trending_date)

    @admin.display(description="Comments", ordering="num_comments")
    def comments(self, paper):
        return paper.num_comments

    @admin.display(description="State")
    def state(self, paper):
        badges = []
        if paper.pinned:
            badges.append(mark_safe('<span class="badge pin">Pinned</span>'))
        if paper.hidden:
            badges.append(mark_safe('<span class="badge off">Hidden</span>'))
        if paper.withdrawn_at:
            badges.append(format_html('<span class="badge off" title="Off the site and out of every digest: {}">'
                                      "Withdrawn</span>", _withdrawn(paper)))
        if paper.github_repo:
            badges.append(format_html('<a class="badge code" href="{}" rel="noopener">Code</a>', paper.github_repo))
        return mark_safe(" ".join(badges))

    def save_model(self, request, obj, form, change):
        # Only what this editor changed is written: another's changes made meanwhile
        # to other fields stay (PaperAdminForm._conflicts).
        services.paper_save(paper=obj, date_before=form.initial.get("trending_date"),
                            fields=form.changed_data if change else None)

    def has_delete_permission(self, request, obj=None):
        # A paper an edition went out with stays: readers' emails, web copies and
        # feedback links point to it (services.papers_delete). Hiding takes it off
        # the site and out of digests not sent yet.
        if obj is not None and services.papers_sent().filter(paper_id=obj.pk).exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.papers_delete(papers=Paper.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.papers_delete(papers=queryset)

    def save_formset(self, request, form, formset, change):
        """The paper's topic rows are an editor's decisions, as the list's "Add a
        topic…" and "Remove a topic…" are (services.paper_topic_set): a row added here
        puts the paper under the topic, a row deleted takes it off, and re-scoring
        keeps both. A new row was saved as Automatic, score 0, in no list, and a
        deleted automatic row came back at the next re-score (an editor's
        walkthrough). A row set back to Automatic lets the keywords decide again."""
        if formset.model is not PaperTopic:
            return super().save_formset(request, form, formset, change)
        paper = form.instance
        rows = formset.save(commit=False)
        for row in formset.deleted_objects:
            services.paper_topic_set(paper=paper, topic=row.topic, assigned=False)
        changed = {row.pk: fields for row, fields in formset.changed_objects}
        for row in rows:
            if row.pk is None:
                services.paper_topic_set(paper=paper, topic=row.topic, assigned=True)
            elif "source" in changed.get(row.pk, ()) and row.source == PaperTopic.Source.AUTO:
                services.paper_topic_reset(paper=paper, topic=row.topic)
            else:  # a score an editor set
                row.source = PaperTopic.Source.EDITOR
                row.save()
        return None

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        stale = sum(getattr(formset, "stale_rows", 0) for formset in formsets)
        if stale:
            self.message_user(request, f"{stale} of the topic rows you saw had been re-scored by another save since "
                              "you opened the page: changes to them, if any, were not kept. The topics as they "
                              "are now are below.", messages.WARNING)
        # A new paper, or one whose text changed, is embedded and scored again (its
        # topics follow its words; editors' own rows stay); until 5 December an edit
        # kept the old topics until someone ran "Re-score topics".
        if not change or set(form.changed_data) & set(relevance.PAPER_SCORING_FIELDS):
            services.papers_rescore(papers=[form.instance])

    def _flag(self, request, queryset, *, done: str, already: str, **flag) -> None:
        """Pin, unpin, hide or show the selected papers, and say how many changed
        and how many were so already; a hidden paper that went out says so
        (_already_sent_said)."""
        papers = list(queryset)
        count = curation.papers_flag_set(papers=papers, **flag)
        _flags_logged(self, request, papers, **flag)
        said = f"{done} {_papers(count)}."
        if count < len(papers):
            said = f"{said[:-1]} ({len(papers) - count} {pluralize(len(papers) - count, 'was,were')} {already} already)."
        self.message_user(request, said)
        if flag.get("hidden"):
            _already_sent_said(self, request, papers)
        elif flag.get("hidden") is False:
            _withdrawn_said(self, request, papers)

    @admin.action(description="Pin selected papers (shown first)")
    def pin(self, request, queryset):
        self._flag(request, queryset, done="Pinned", already="pinned", pinned=True)

    @admin.action(description="Unpin selected papers")
    def unpin(self, request, queryset):
        self._flag(request, queryset, done="Unpinned", already="unpinned", pinned=False)

    @admin.action(description="Hide selected papers (never shown or mailed)")
    def hide(self, request, queryset):
        self._flag(request, queryset, done="Hid", already="hidden", hidden=True)

    @admin.action(description="Show selected papers again")
    def unhide(self, request, queryset):
        self._flag(request, queryset, done="Showed again", already="shown", hidden=False)

    def _topic_action(self, request, queryset, *, assigned: bool, example: bool = False):
        """Add or remove a topic (`assigned`), or, with `example`, make the papers
        examples of it (`assigned`) or stop using them as such."""
        form = TopicChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            topic = form.cleaned_data["topic"]
            papers = list(queryset)
            # Each paper's history says it, under the editor's name (as _flags_logged):
            # the topic taken off every paper left its readers nothing, and no trace.
            logged = (("Used as an example of “{}”.", "No longer an example of “{}”.") if example
                      else ("Put under “{}”.", "Taken off “{}”."))[0 if assigned else 1].format(topic)
            if example:
                count = services.topic_exemplars_set(topic=topic, papers=queryset, example=assigned)
                said = (pluralize(count, "is now an example,are now examples") if assigned
                        else pluralize(count, "is no longer an example,are no longer examples"))
                said = f"{_papers(count)} {said} of {topic}; its papers were re-scored."
            else:
                count = curation.papers_topic_set(papers=queryset, topic=topic, assigned=assigned)
                said = f"{topic} {'added to' if assigned else 'removed from'} {_papers(count)}."
            for paper in papers:
                self.log_change(request, paper, logged)
            self.message_user(request, said, messages.SUCCESS)
            return None
        title = ("Use papers as examples of a topic" if example and assigned
                 else "Stop using papers as examples of a topic" if example
                 else "Add a topic to papers" if assigned else "Remove a topic from papers")
        return TemplateResponse(request, "admin/newsletter/paper/topic_action.html", {
            **self.admin_site.each_context(request),
            "title": title, "example": example,
            "form": form, "papers": queryset, "assigned": assigned,
            "action": request.POST.get("action"), "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across") == "1",  # admin/_select_across.html
        })

    @admin.action(description="Add a topic to selected papers…")
    def topic_add(self, request, queryset):
        return self._topic_action(request, queryset, assigned=True)

    @admin.action(description="Remove a topic from selected papers…")
    def topic_remove(self, request, queryset):
        return self._topic_action(request, queryset, assigned=False)

    @admin.action(description="Use as an example of a topic…")
    def topic_example(self, request, queryset):
        return self._topic_action(request, queryset, assigned=True, example=True)

    @admin.action(description="Stop using as an example of a topic…")
    def topic_unexample(self, request, queryset):
        return self._topic_action(request, queryset, assigned=False, example=True)

    @admin.action(description="Re-score topics of selected papers")
    def rescore(self, request, queryset):
        count = services.papers_rescore(papers=queryset)
        for paper in queryset:
            self.log_change(request, paper, "Re-scored.")
        self.message_user(request, f"Re-scored {_papers(count)}.", messages.SUCCESS)

    def get_urls(self):
        return [
            path("add-json/", self.admin_site.admin_view(self.json_add_view),
                 name="newsletter_paper_add_json"),
            path("latest/", self.admin_site.admin_view(self.latest_view),
                 name="newsletter_paper_latest"),
            *super().get_urls(),
        ]

    def latest_view(self, request):
        """"Today's papers": the newest day that has papers (the sample day in
        development), not an empty list for a date nothing was fetched for."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        url = reverse("admin:newsletter_paper_changelist")
        newest = paper_date_newest()
        return HttpResponseRedirect(f"{url}?trending_date={newest.isoformat()}" if newest else url)

    def _pasted_report(self, request, pasted: curation.PastedPapers, day) -> None:
        """What a paste did, counted, and each paper whose day is not the date given:
        the day a paper is listed under is the first day it trended, which a re-paste
        with another date moved (or did not) without a word before."""
        result = pasted.result
        parts = [f"added {_papers(result.created)}" if result.created else "",
                 f"updated {_papers(result.updated)}" if result.updated else "",
                 f"{_papers(result.unchanged)} already as pasted" if result.unchanged else ""]
        self.message_user(request, "; ".join(p for p in parts if p).capitalize() + ".", messages.SUCCESS)

        def when(date) -> str:
            return formats.date_format(date)

        for paper, before in pasted.moved:
            self.message_user(request, format_html(
                "“{}” moved from {} to {}: a paper is listed on the first day it trended.",
                paper.title, when(before), when(paper.trending_date)), messages.WARNING)
        for paper in pasted.kept:
            self.message_user(request, format_html(
                "“{}” stays on {}, the first day it trended, not {}. Change its date on its page "
                "to move it.", paper.title, when(paper.trending_date), when(day)), messages.WARNING)

    def json_add_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PaperJSONForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            day = form.cleaned_data["trending_date"]
            try:
                pasted = curation.paper_import_entry(entry=form.cleaned_data["entry"], trending_date=day)
            except IngestError as exc:
                # Beside what the editor gave: a file's problems under the file.
                form.add_error("file" if request.FILES.get("file") else "entry", str(exc))
            else:
                self._pasted_report(request, pasted, day)
                if len(pasted.papers) == 1:
                    return HttpResponseRedirect(
                        reverse("admin:newsletter_paper_change", args=[pasted.papers[0].pk]))
                return HttpResponseRedirect(reverse("admin:newsletter_paper_changelist"))
        return TemplateResponse(request, "admin/newsletter/paper/add_json.html", {
            **self.admin_site.each_context(request), "title": "Add a paper from the API's JSON",
            "form": form, "opts": self.model._meta,
        })


# --- Topics -----------------------------------------------------------------------------


def _topic_readers(topic: Topic):
    """The readers a topic's change concerns: those who follow it and have not left."""
    return Subscriber.objects.filter(topics=topic).exclude(status=Subscriber.Status.UNSUBSCRIBED)


class TopicForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = "__all__"
        # The description is the definition a reader and the model read: a sentence
        # or two, written in a box that shows them whole.
        widgets = {"description": forms.Textarea(attrs={"rows": 3, "class": "vLargeTextField"})}
        help_texts = {"description": "What belongs to this topic, in a sentence or two: it is on the "
                                     "subscribe form, and papers close to it count for the topic."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The position a new topic gets (models.topic_position_last) is the Add page's
        # initial value; a saved topic's is its own. Django's second, hidden copy of a
        # computed default ("initial-position") is not needed to tell a change.
        if "position" in self.fields:
            self.fields["position"].show_hidden_initial = False
        # Unticking "active" on a topic readers follow asks first, naming them
        # (confirm.js, data-confirm-unchecked): it saved with no question (an
        # editor's walkthrough). What they are left with is said after the save.
        topic, active = self.instance, self.fields.get("is_active")
        if topic.pk and topic.is_active and active is not None:
            readers = _topic_readers(topic).count()
            if readers:
                active.widget.attrs["data-confirm-unchecked"] = (
                    f"{readers} reader{pluralize(readers)} follow{pluralize(readers, 's,')} “{topic.name}”: switching it "
                    "off takes it out of their digests and the subscribe form. Switch it off?")

    def clean_name(self):
        """Readers choose topics by name: two that differ only in case or spacing
        ("agents" beside "Agents") would both be on the subscribe form."""
        name = " ".join(self.cleaned_data["name"].split())
        twin = Topic.objects.filter(name__iexact=name).exclude(pk=self.instance.pk).first()
        if twin is not None:
            raise forms.ValidationError(f"There is already a topic named “{twin.name}”"
                                        f"{'' if twin.is_active else ' (switched off)'}.")
        return name

    def clean_keywords(self):
        keywords = self.cleaned_data["keywords"]
        problems = relevance.keyword_lines_problems(keyword_lines(keywords))
        if problems:
            raise forms.ValidationError(problems)
        return keywords


def _rows_counted(queryset) -> Subquery:
    """COUNT(*) of `queryset` (filtered on an OuterRef) as one column of a list: an
    index range per row shown. Counts over joins multiplied the joined tables' rows
    (a topic's papers × its readers: 3.8 million rows for 15 topics and 6,400
    readers), and kept the joins in the pagination's count queries too."""
    return Subquery(queryset.order_by().values(n=Func(template="COUNT(*)", output_field=IntegerField())))


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicForm
    change_form_template = "admin/newsletter/topic/change_form.html"
    list_display = ("name", "slug", "is_active", "position", "paper_count", "reader_count")
    list_editable = ("position",)
    search_fields = ("name", "keywords")

    def get_changelist_form(self, request, **kwargs):
        class RowForm(super().get_changelist_form(request, **kwargs)):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                row_inputs_label(self, self.instance.name)

        return RowForm
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "description", "keywords", "is_broad", "is_active", "position", "example_papers",
              "chip_on")
    readonly_fields = ("example_papers", "chip_on")

    @admin.display(description="Chip on")
    def chip_on(self, topic):
        """How many of the papers it passes for carry it as a chip, and what the others
        are mainly about (curation.topic_overlap)."""
        if not topic.pk:
            return "Once saved: how many of the papers it passes for are mainly about it."
        overlap = curation.topic_overlap(topic=topic)
        days = curation.TOPIC_OVERLAP_DAYS
        if not overlap.passing:
            return f"No paper of the last {days} days passes for this topic."
        said = format_html("{} of the {} papers of the last {} days that pass for this topic carry it as a chip.",
                           overlap.chips, overlap.passing, days)
        if not overlap.mainly:
            return said
        others = format_html_join(", ", "{} ({})", overlap.mainly)
        return format_html("{} The others are mainly about: {}. They still reach this topic's readers.",
                           said, others)

    @admin.display(description="Example papers")
    def example_papers(self, topic):
        titles = list(topic.exemplars.values_list("title", flat=True)) if topic.pk else []
        # A default topic's canonical papers count as examples too (embeddings.topic_embed).
        titles += [f"{p.get('title', '')} (built in)" for p in topic.builtin_examples or [] if isinstance(p, dict)]
        if not titles:
            return "None yet. In the papers list, select papers and choose “Use as an example of a topic…”."
        return format_html("{}<br><small class='muted'>In the papers list, “Stop using as an example of a topic…” "
                           "takes one off.</small>", format_html_join(mark_safe("<br>"), "{}", ((t,) for t in titles)))

    def get_queryset(self, request):
        # Over papertopic_topic_score_idx and the readers' topic_id index.
        return super().get_queryset(request).annotate(
            papers_matched=_rows_counted(PaperTopic.objects.filter(topic=OuterRef("pk"), score__gt=0)),
            readers=_rows_counted(Subscriber.topics.through.objects.filter(
                topic=OuterRef("pk"), subscriber__status=Subscriber.Status.ACTIVE)),
        )

    @admin.display(description="Papers", ordering="papers_matched")
    def paper_count(self, topic):
        # The papers list filtered by the topic holds the same papers (TopicFilter).
        url = reverse("admin:newsletter_paper_changelist")
        return format_html('<a href="{}?topic={}">{}</a>', url, topic.pk, topic.papers_matched)

    @admin.display(description="Active readers", ordering="readers")
    def reader_count(self, topic):
        return topic.readers

    def save_model(self, request, obj, form, change):
        if change:
            fields = {name: form.cleaned_data[name] for name in form.changed_data
                      if name in services.TOPIC_EDITABLE_FIELDS}
            before = form.initial.get("name")
            rescored = bool(set(fields).intersection(services.TOPIC_SCORING_FIELDS))
            passing = set(curation.topic_passing(topic=obj).values_list("paper_id", flat=True)) if rescored else None
            services.topic_update(topic=obj, **fields)
            if "is_active" in fields and not obj.is_active:
                self._readers_left(request, obj, done="switched off")
            else:
                self._readers_told(request, obj, switched_on="is_active" in fields,
                                   renamed_from=before if "name" in fields else None)
                if passing is not None:
                    self._rescore_told(request, curation.topic_change_measure(topic=obj, before=passing))
        else:
            services.topic_create(topic=obj)

    def delete_model(self, request, obj):
        self._readers_left(request, obj, done="deleted")
        services.topics_delete(topics=Topic.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        services.topics_delete(topics=queryset)

    def construct_change_message(self, request, form, formsets, add=False):
        """The topic's history keeps what its definition said before each change
        ("Changed Description (was: “…”)"): Django's lists only the fields' names,
        so nothing was left to go back to (an editor's walkthrough)."""
        if add or not set(form.changed_data) & {"name", "description", "keywords"}:
            return super().construct_change_message(request, form, formsets, add)
        said = []
        for name in form.changed_data:
            label = form.fields[name].label or name
            if name in ("name", "description", "keywords"):
                before = " / ".join(str(form.initial.get(name) or "").splitlines()) or "(empty)"
                said.append(f"{label} (was: “{before}”)")
            else:
                said.append(str(label))
        return f"Changed {', '.join(said)}."

    def _readers_told(self, request, topic: Topic, *, switched_on: bool, renamed_from: str | None) -> None:
        """What a topic's readers see after it is switched on again or renamed (an
        editor's walkthrough was told only "changed successfully")."""
        count = _topic_readers(topic).count()
        readers = f"{count} reader{pluralize(count)}"
        if switched_on:
            self.message_user(request, f"“{topic.name}” is on again: {readers} who follow{pluralize(count, 's,')} it "
                              f"get{pluralize(count, 's,')} it from their next digest, and every reader can choose it.",
                              messages.SUCCESS)
        if renamed_from:
            self.message_user(request, f"Renamed from “{renamed_from}”: {readers} see{pluralize(count, 's,')} "
                              f"“{topic.name}” in their digests and preference centre from now on; what they follow "
                              "is unchanged.", messages.SUCCESS)

    def _rescore_told(self, request, change: curation.TopicChange) -> None:
        """What the new definition did to the recent papers it passes for, with the
        titles that came and went (a few): the history keeps the old text to go back."""
        days = curation.TOPIC_OVERLAP_DAYS
        if not change.came and not change.went:
            self.message_user(request, f"Re-scored: it passes for the same {_papers(change.after)} of the last {days} "
                              "days as before.", messages.SUCCESS)
            return

        def some(titles: list[str]) -> str:
            shown = "; ".join(f"“{t}”" for t in titles[:3])
            return shown + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")

        parts = [f"Re-scored: it now passes for {_papers(change.after)} of the last {days} days (was {change.before})"]
        if change.came:
            parts.append(f"{len(change.came)} came in: {some(change.came)}")
        if change.went:
            parts.append(f"{len(change.went)} went out: {some(change.went)}")
        level = messages.WARNING if change.went and len(change.went) >= len(change.came) else messages.SUCCESS
        self.message_user(request, ". ".join(parts) + ". Its history keeps the previous definition.", level)

    def _readers_left(self, request, topic: Topic, *, done: str) -> None:
        """Say what a topic's readers are left with once it is switched off or
        deleted: it leaves their digests and their preference centre, and those who
        follow nothing else get the day's trending papers (an editors' walkthrough,
        5 December, was told only "changed successfully")."""
        readers = _topic_readers(topic)
        count = readers.count()
        if not count:
            return
        alone = readers.exclude(topics__in=Topic.objects.filter(is_active=True).exclude(pk=topic.pk)).count()
        self.message_user(request, (
            f"{count} reader{pluralize(count)} followed “{topic.name}”, now {done}: it is gone from their digests "
            f"and their preference centre. {alone} of them follow{'s' if alone == 1 else ''} no other topic and "
            f"get{'s' if alone == 1 else ''} the day's trending papers until they choose one."), messages.WARNING)

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="newsletter_topic_preview"),
            *super().get_urls(),
        ]

    @xframe_options_sameorigin  # shown in the change form's own frame
    def preview_view(self, request):
        """The change form posts here (formaction) into a frame: the matches of the
        topic as typed (name, description, keywords, broad), before anything is
        saved. The frame's first load (GET) shows the stored definition's."""
        topic = None
        if (topic_id := key_from_text(request.GET.get("topic"))) is not None:
            topic = Topic.objects.filter(pk=topic_id).first()
        if not (self.has_change_permission(request, topic) or self.has_add_permission(request)):
            raise PermissionDenied
        typed = request.method == "POST"
        keywords = request.POST.get("keywords", topic.keywords if topic else "")
        rows = curation.topic_preview(
            topic=topic, keywords=keywords, name=request.POST.get("name"),
            description=request.POST.get("description"),
            is_broad=("is_broad" in request.POST) if typed else None,
        )
        return TemplateResponse(request, "admin/newsletter/topic/preview.html", {
            "rows": rows, "topic": topic, "days": curation.TOPIC_PREVIEW_DAYS,
            # A paper of another year says its year: the newest days with papers may be
            # a year old (make run's sample day beside a few new ones).
            "this_year": timezone.localdate().year,
            "threshold": relevance.RELEVANCE_THRESHOLD,
            # The rows also list the papers dropping out and those an editor keeps out.
            "within": sum(1 for r in rows if r.new_score >= relevance.RELEVANCE_THRESHOLD),
            "new": sum(1 for r in rows if r.change == "new match"),
            "dropped": sum(1 for r in rows if r.change == "drops out"),
            "typed_nothing": not (keywords.strip() or request.POST.get("name", "").strip()
                                  or request.POST.get("description", "").strip()),
        })


# --- Editions ---------------------------------------------------------------------------


class EditionNoteForm(forms.ModelForm):
    class Meta:
        model = Edition
        fields = ("note",)
        widgets = {"note": forms.Textarea(attrs={"rows": 5, "class": "vLargeTextField",
                                                 "placeholder": "A line or two for today's readers. **Markdown** works."})}

    def clean_note(self):
        note = self.cleaned_data["note"]
        if misleading := note_links_misleading(note):
            raise forms.ValidationError(misleading)
        return note


@admin.register(Edition)
class EditionAdmin(admin.ModelAdmin):
    change_form_template = "admin/newsletter/edition/change_form.html"
    change_list_template = "admin/newsletter/edition/change_list.html"
    form = EditionNoteForm
    list_display = ("day", "state", "paper_total", "sent_total", "failed_total")
    list_filter = ("on_hold",)
    date_hierarchy = "date"
    fields = ("note",)

    def get_queryset(self, request):
        # The figures kept once an edition settled (EditionTally, by its key); the
        # others' rows counted, an index range of delivery_edition_status_idx each.
        # PostgreSQL runs a COALESCE's second subquery only for an edition whose
        # tally is stale or missing.
        deliveries = Delivery.objects.filter(edition=OuterRef("pk"))
        tally = EditionTally.objects.filter(edition=OuterRef("pk"))

        def figure(kept: str, status: str):
            # A stale tally's rows, and those an erasure deleted (tallies.py, the rule).
            counted = _rows_counted(deliveries.filter(status=status)) + Coalesce(
                Subquery(tally.values(f"{kept}_gone")), 0)
            return Coalesce(Subquery(tally.values(kept)), counted, output_field=IntegerField())

        return super().get_queryset(request).annotate(
            paper_n=_rows_counted(Edition.papers.through.objects.filter(edition=OuterRef("pk"))),
            sent_n=figure("sent", Delivery.Status.SENT),
            failed_n=figure("failed", Delivery.Status.FAILED),
        )

    def changelist_view(self, request, extra_context=None):
        if self.has_view_or_change_permission(request):
            # The editions settled since the last look are counted once, and kept.
            tallies.edition_tallies_keep()
        today_fetch = paper_fetch_no_papers(today=timezone.now().astimezone(dt.UTC).date())
        return super().changelist_view(request, {"today_fetch": today_fetch, **(extra_context or {})})

    def has_add_permission(self, request):
        # Editions are made from a date's papers ("Today's edition" assembles it).
        return False

    def save_model(self, request, obj, form, change):
        curation.edition_note_set(edition=obj, note=form.cleaned_data["note"])
        if obj.frozen_at and "note" in form.changed_data:
            # An edition gone out: the note reaches the web pages, not the emails sent.
            self.message_user(request, "This edition already went out: the emails sent, and each reader's copy "
                              "of theirs in a browser, keep the note they had; the edition's public page shows "
                              "this one, as will any digest of it still to go.", messages.WARNING)

    def delete_model(self, request, obj):
        curation.editions_delete(editions=Edition.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        curation.editions_delete(editions=queryset)

    # Not "date": a model field of the name is shown before a method of the admin.
    @admin.display(description="Date", ordering="date")
    def day(self, edition):
        return _day(edition.date)

    @admin.display(description="State")
    def state(self, edition):
        if edition.on_hold:
            return mark_safe('<span class="badge hold">On hold</span>')
        if edition.frozen_at:
            return mark_safe('<span class="badge sent">Sending / sent</span>')
        return mark_safe('<span class="badge draft">Not sent yet</span>')

    @admin.display(description="Papers", ordering="paper_n")
    def paper_total(self, edition):
        return edition.paper_n

    @admin.display(description="Sent", ordering="sent_n")
    def sent_total(self, edition):
        return edition.sent_n

    @admin.display(description="Failed", ordering="failed_n")
    def failed_total(self, edition):
        return edition.failed_n

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("today/", view(self.today_view), name="newsletter_edition_today"),
            path("dashboard/", view(self.dashboard_view), name="newsletter_dashboard"),
            path("<int:pk>/paper/<int:paper_id>/<str:op>/", view(self.paper_view),
                 name="newsletter_edition_paper"),
            path("<int:pk>/do/<str:op>/", view(self.edition_op_view), name="newsletter_edition_op"),
            *super().get_urls(),
        ]

    def _edition_for_change(self, request, pk) -> Edition:
        edition = get_object_or_404(Edition, pk=pk)
        if not self.has_change_permission(request, edition):
            raise PermissionDenied
        return edition

    def _back(self, edition, request) -> HttpResponseRedirect:
        url = reverse("admin:newsletter_edition_change", args=[edition.pk])
        reader = request.POST.get("preview_as", "")
        return HttpResponseRedirect(f"{url}?preview_as={reader}" if reader else url)

    def today_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        edition = curation.edition_for_today()
        if edition is None:
            self.message_user(request, format_html(
                "No papers yet: fetch a day of Daily Papers first (manage.py fetch_papers), or "
                '<a href="{}">add them from the API\'s JSON</a>.', reverse("admin:newsletter_paper_add_json")),
                messages.WARNING)
            return HttpResponseRedirect(reverse("admin:newsletter_edition_changelist"))
        return HttpResponseRedirect(reverse("admin:newsletter_edition_change", args=[edition.pk]))

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        _, checks = health_check()
        today = timezone.now().astimezone(dt.UTC).date()
        return TemplateResponse(request, "admin/newsletter/dashboard.html", {
            **self.admin_site.each_context(request), "title": "Dashboard",
            # "fail: <exception class>: <what>": the what, for the editors.
            "failing": {name: line.split(": ", 2)[-1] for name, line in checks.items() if line.startswith("fail")},
            "charts": dashboard.dashboard_charts(),
            "rate_warn": dashboard.RATE_WARN, "rate_limit": dashboard.RATE_LIMIT,
            "paper_fetch": paper_fetch_to_show(today=today),
            "paper_refresh": paper_refresh_to_show(date=previous_list_date(today), today=today),
        })

    @staticmethod
    def _reader(value: str) -> Subscriber | None:
        pk = key_from_text(value)
        return Subscriber.objects.filter(pk=pk).prefetch_related("topics").first() if pk is not None else None

    def paper_view(self, request, pk, paper_id, op):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        edition = self._edition_for_change(request, pk)
        paper = get_object_or_404(Paper, pk=paper_id)
        try:
            if op in ("up", "down"):
                curation.edition_move(edition=edition, paper_id=paper.pk, step=-1 if op == "up" else 1)
            elif op in ("pin", "unpin"):
                curation.papers_flag_set(papers=[paper], pinned=op == "pin")
                _flags_logged(self, request, [paper], pinned=op == "pin")
                self.message_user(request, f"{'Pinned' if op == 'pin' else 'Unpinned'}: {paper.title}")
            elif op in ("hide", "unhide"):
                curation.papers_flag_set(papers=[paper], hidden=op == "hide")
                _flags_logged(self, request, [paper], hidden=op == "hide")
                if op == "hide":
                    self.message_user(request, f"Hidden: {paper.title}")
                    _already_sent_said(self, request, [paper])
                elif paper.withdrawn_at:
                    _withdrawn_said(self, request, [paper])
                else:
                    self.message_user(request, f"Shown again: {paper.title}")
            else:
                raise PermissionDenied
        except curation.CurationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return self._back(edition, request)

    def edition_op_view(self, request, pk, op):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        edition = self._edition_for_change(request, pk)
        try:
            if op == "hold":
                if curation.edition_hold(edition=edition):
                    self.log_change(request, edition, "Held.")
                figures = curation.edition_figures(edition=edition)
                if edition.frozen_at and figures.due and not figures.pending:
                    # Sent to everyone due: the hold only stops the sends still to come.
                    self.message_user(request, f"On hold. This edition already went out to {figures.sent} "
                                      f"reader{pluralize(figures.sent)}; the hold stops only what is still to come "
                                      "(a reader added today, a retry).", messages.WARNING)
                else:
                    self.message_user(request, HOLD_SAID, messages.WARNING)
            elif op == "release":
                if curation.edition_release(edition=edition):
                    self.log_change(request, edition, "Released.")
                self.message_user(request, "Released: readers whose hour passed during the hold get it at the "
                                  "next run, the others at their hour; once each.", messages.SUCCESS)
            elif op == "send-now":
                count = curation.edition_send_now(edition=edition)
                if count:
                    # What reached every reader says who sent it (the edition's history).
                    self.log_change(request, edition, f"Sent now to {count} reader{pluralize(count)}.")
                self.message_user(request, f"Sending now to {count} reader{pluralize(count)} who {pluralize(count, 'has,have')} not had it.",
                                  messages.SUCCESS)
            elif op == "test-send":
                reader = self._reader(request.POST.get("preview_as", ""))
                curation.edition_test_send(edition=edition, to=request.user.email, subscriber=reader)
                # The history (every editor reads it) names the reader by number, not address.
                who = (f"as reader {reader.pk} ({email_shown_to(request.user, reader.email)}) gets it" if reader
                       else "as a reader with no topics gets it")
                logged = f"as reader {reader.pk} gets it" if reader else who
                self.log_change(request, edition, f"Test sent to {request.user.email} {logged}.")
                self.message_user(request, f"Test sent to {request.user.email}, {who}.", messages.SUCCESS)
            else:
                raise PermissionDenied
        except curation.CurationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return self._back(edition, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        edition = self.get_object(request, object_id)
        extra = {}
        if edition is not None:
            reader = self._reader(request.GET.get("preview_as", ""))
            # Any reader by their address: the list holds the first 200 by address
            # (an editor could not preview the reader of a support email otherwise).
            address = request.GET.get("preview_email", "").strip()
            found = (Subscriber.objects.filter(email__iexact=email_normalise_or_given(address))
                     .prefetch_related("topics").first()) if address else None
            # An address no reader has is said beside the field, which keeps it (the page
            # opens at #preview: a message at its top went unseen), and the reader
            # chosen in the list stays, so a kept mistyped address does not undo a choice.
            address_unknown = address if address and not found else ""
            reader = found or reader
            receiving = Subscriber.objects.filter(status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED])
            # By UPPER(email), which subscriber_email_upper_idx gives in order: by
            # email, every receiving reader was sorted for the first 200 (26-38 ms at
            # 100,000 readers, docs/benchmarks.md, "The admin at scale, fourth pass").
            readers = list(receiving.order_by(Upper("email")).only("id", "email")[:PREVIEW_READER_CHOICES])
            if reader and reader not in readers:
                readers.insert(0, reader)
            for each in [*readers, *([reader] if reader else [])]:
                # Masked for editors who may not see addresses: the reader's number tells them apart.
                shown = email_shown_to(request.user, each.email)
                each.shown = shown if request.user.has_perm(ADDRESS_PERMISSION) else f"{shown} (reader {each.pk})"
            entries = list(
                edition.entries.select_related("paper").prefetch_related(
                    topic_rows_prefetch("paper__topic_scores"))
                .order_by("position")
            )
            for entry in entries:
                entry.late = listed_late(entry.paper, edition_date=edition.date)
                # A sent edition's picks are those it went out with (EditionPaper.pinned,
                # as archive.edition_papers shows them), which came first in every
                # digest; a pin changed since reaches only the readers not sent to yet
                # (ranking reads the paper's). One not sent yet has the pins as they stand.
                entry.pin_shown = entry.pinned if edition.frozen_at else entry.paper.pinned
                entry.pin_changed = entry.pin_shown != entry.paper.pinned
            # The papers of its date readers do not get that are not in its rows (a
            # sent edition keeps the ones it went out with, marked hidden there):
            # hidden by an editor, or withdrawn by their authors, which "Show again"
            # does not bring back (selectors.PAPER_VISIBLE). Until 7 December a
            # withdrawn paper shown again was on neither list.
            left_out = list(
                Paper.objects.filter(~PAPER_VISIBLE, trending_date=edition.date)
                .exclude(pk__in=[entry.paper_id for entry in entries]).order_by("-upvotes")
            )
            hidden = [p for p in left_out if not p.withdrawn_at]
            withdrawn = [p for p in left_out if p.withdrawn_at]
            for paper in withdrawn:
                paper.withdrawn_said = _withdrawn(paper)
            # Why a date has no papers (the morning fetch's last attempt); and on an
            # older edition, the one "Today's edition" opens while today's papers are
            # not in (curation.edition_date_for_today), why today's are not.
            today = timezone.now().astimezone(dt.UTC).date()
            paper_fetch = paper_fetch_told(date=edition.date)
            today_fetch = paper_fetch_missing(date=today) if edition.date < today else None
            # "Send now": the date and how many it reaches, or why it cannot (nobody left to
            # reach included). Counted only when it may be sent: the readers-due query,
            # for a question never asked.
            now = timezone.now()
            # Asked once for both (a query): "Due" counts readers still to come, and
            # "Send now" may go, only while it is the newest edition.
            newer_date = curation.edition_newer_date(edition=edition, now=now)
            figures = curation.edition_figures(edition=edition, now=now, newest=newer_date is None)
            refusal = curation.edition_send_now_refusal(edition=edition, newer_date=newer_date)
            # The readers "Send now" reaches are those its "Due" counts still to come:
            # one count (curation.edition_send_now_audience), on the page and in the dialog.
            audience = None if refusal else figures.to_come
            if audience == 0:
                refusal = curation.SEND_NOW_NOBODY_LEFT
            extra = {
                "title": str(edition),
                "subtitle": None,
                "edition": edition,
                "entries": entries,
                "hidden_papers": hidden,
                "withdrawn_papers": withdrawn,
                "paper_fetch": paper_fetch,
                "today_fetch": today_fetch,
                # A reader's own links act as them: a superuser's to see, as in the
                # readers' admin (subscribers/admin.py, manage_link).
                "preview": curation.edition_preview(
                    edition=edition, subscriber=reader, personal_links=request.user.is_superuser),
                "preview_links_left_out": reader is not None and not request.user.is_superuser,
                "preview_reader": reader,
                "preview_email_unknown": address_unknown,
                "readers": readers,
                "readers_more": len(readers) >= PREVIEW_READER_CHOICES and receiving.count() > PREVIEW_READER_CHOICES,
                "figures": figures,
                "ledger_kept_days": settings.LEDGER_KEPT_DAYS,  # what a pruned edition's note says
                "send_now_refusal": refusal, "send_now_audience": audience,
                "user_email": request.user.email,
                "pass_only": PASS_ONLY,
            }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


# --- Deliveries -------------------------------------------------------------------------


class DeliveryEventInline(admin.TabularInline):
    model = DeliveryEvent
    extra = 0
    can_delete = False
    fields = ("kind_said", "occurred_at", "description")
    readonly_fields = fields

    @admin.display(description="Event")
    def kind_said(self, event: DeliveryEvent) -> str:
        return event.kind_said

    def has_add_permission(self, request, obj=None):
        return False


# How far an ESP's clock, which stamps its events, may be behind ours.
EVENT_CLOCK_LEEWAY = dt.timedelta(hours=1)


class ProviderEventFilter(admin.SimpleListFilter):
    """The deliveries an event of one type was reported for. A type with at most
    `listed_up_to` events (bounces and complaints on a confirmed list: rare, and in
    bursts) is read from its events first (event_type_idx), then the rows by key: as
    `EXISTS` on the list's own order, the newest rows were walked until a page of them
    had one, past every edition since the last burst (1.7 s four editions back, at 8.4
    million rows; docs/benchmarks.md). A common type keeps `EXISTS`: its rows are
    found among the newest soon."""
    title = "provider event"
    parameter_name = "event"
    listed_up_to = 10_000
    rows_by_key = False  # set by queryset() for a rare type: its rows are few, found by key

    def lookups(self, request, model_admin):
        return list(PROVIDER_EVENTS.items())

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        events = DeliveryEvent.objects.filter(event_type=self.value())
        delivery_ids = list(events.order_by().values_list("delivery_id", flat=True)[:self.listed_up_to + 1])
        if len(delivery_ids) <= self.listed_up_to:
            # Listed in the ledger's order by sorting these rows, not by walking the
            # order's index (LedgerChangeList): PostgreSQL walked it anyway.
            self.rows_by_key = True
            return queryset.filter(pk__in=set(delivery_ids))
        # A row is made before anything happens to its email: none made after the
        # type's newest event (an hour's leeway for the ESP's clock) can have one, so
        # the walk starts there, not at the newest row (a storm of bounces weeks ago,
        # none since: it walked every edition since first).
        newest = events.aggregate(newest=Max("occurred_at"))["newest"]
        return queryset.filter(Exists(events.filter(delivery=OuterRef("pk"))),
                               created_at__lte=newest + EVENT_CLOCK_LEEWAY)


class CarriedPaperFilter(admin.SimpleListFilter):
    """?carried=<paper id>: the digests sent with that paper (the link an editor gets
    after hiding a paper that went out). Shown only when asked for."""
    title = "carried the paper"
    parameter_name = "carried"

    @cached_property
    def paper(self) -> Paper | None:
        """The paper asked for, read once for both the choice shown and the rows."""
        pk = key_from_text(self.value())
        return Paper.objects.filter(pk=pk).first() if pk is not None else None

    def lookups(self, request, model_admin):
        return [(self.value(), f"“{self.paper.title}”")] if self.paper else []

    rows_by_key = False  # set by queryset(): a paper's rows are found by key, then sorted

    def queryset(self, request, queryset):
        # The selector's conditions on the list's own rows: as `pk IN (its rows)`,
        # every row of the editions that can carry the paper was read for each page
        # and count (0.2 to 0.4 s at 84,000 rows an edition), where a page needs its
        # first hundred and the count its first 10,001 (LedgerPaginator).
        if not self.paper:
            return queryset
        # Its rows are found by key (the GIN index of paper_ids, or their ids on
        # SQLite) and sorted, as a rare provider event's (LedgerChangeList): in the
        # list's own order, PostgreSQL walked the newest rows of the whole ledger
        # for a paper of weeks ago (3.7 s at 2.09 million rows, docs/benchmarks.md).
        self.rows_by_key = True
        return queryset & deliveries_carrying(paper=self.paper)


class LedgerPaginator(Paginator):
    """Django's paginator, counting the rows up to `counted_up_to` + 1 (`more_than`
    then says there are more, and the ledger's list says "more than 10,000"): the
    count of all the rows a filter keeps read every one of them (0.1 s for the whole
    ledger, 0.3 to 0.5 s for a common provider event or a paper's readers, at 2
    million rows, docs/benchmarks.md), and nobody pages to the ten-thousandth row:
    they filter further."""

    counted_up_to = 10_000
    more_than = False

    @cached_property
    def count(self) -> int:
        counted = self.object_list.order_by()[: self.counted_up_to + 1].count()
        self.more_than = counted > self.counted_up_to
        return counted


class SentEditionFilter(admin.RelatedFieldListFilter):
    """The editions that went out, newest first: those frozen, as each is before its
    ledger rows are made (delivery.deliveries_create). Django's RelatedOnly filter
    read the distinct editions of the whole ledger on every page of it (60 to 125 ms
    at 2 million rows, docs/benchmarks.md)."""

    def field_choices(self, field, request, model_admin):
        # Each a day as the list's column writes it ("24 Nov 2025"): the editions' names,
        # "Edition of Monday 24 November 2025", took two lines each in the sidebar, in
        # another style than the column beside them.
        ordering = self.field_admin_ordering(field, request, model_admin) or ["-date"]
        editions = Edition.objects.filter(frozen_at__isnull=False).order_by(*ordering)
        return [(pk, _day(date)) for pk, date in editions.values_list("pk", "date")]


class LedgerChangeList(ChangeList):
    """The deliveries' list. In the model's order (newest first), unless a column is
    sorted; when a filter picked its rows by key (ProviderEventFilter for a rare
    type: `rows_by_key`), in the same order as an expression no index holds, so the
    rows are read by key and sorted (a few ms for 10,000) instead of found by
    walking the newest rows of the whole ledger for them."""

    def get_ordering(self, request, queryset):
        if not self.params.get(ORDER_VAR) and any(getattr(spec, "rows_by_key", False) for spec in self.filter_specs):
            return [Coalesce("created_at", "updated_at").desc(), "-id"]
        return super().get_ordering(request, queryset)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("edition_date", "reader", "status_said", "attempts", "sent", "error_short")
    list_filter = ("status", ProviderEventFilter, ("edition", SentEditionFilter), CarriedPaperFilter)
    # A filtered or searched page says how many rows it found, not also how many the
    # ledger holds: that count read the whole table on each (55 to 110 ms at 2 million).
    show_full_result_count = False
    # The templates of admin/newsletter/delivery/ say "more than 10,000" beyond that.
    paginator = LedgerPaginator
    search_fields = ("subscriber__email", "provider_message_id")
    # The ledger as an editor reads it: the papers by title and the why lines as
    # lines (they were "Paper ids: [102, 105…]" and a JSON list), the lease last.
    fields = ("edition", "reader", "status", "weekly", "attempts", "sent_at", "provider_message_id",
              "error", "papers_sent", "created_at", "updated_at", "claimed_at", "lease_expires_at")
    readonly_fields = fields
    inlines = [DeliveryEventInline]
    actions = ["retry_failed"]

    @admin.display(description="Papers sent (picks first, with their why lines)")
    def papers_sent(self, delivery):
        ids = [int(i) for i in delivery.paper_ids or []]
        titles = dict(Paper.objects.filter(pk__in=ids).values_list("pk", "title"))
        reasons = list(delivery.reasons or [])
        rows = []
        for n, pk in enumerate(ids):
            kind = ("pick" if delivery.picked is None or n < delivery.picked else "also trending")
            why = reasons[n] if n < len(reasons) else ""
            rows.append((reverse("admin:newsletter_paper_change", args=[pk]), titles.get(pk, f"paper {pk} (deleted)"),
                         kind + (f": {why}" if why else "")))
        if not rows:
            return "—"
        return format_html("<ol>{}</ol>", format_html_join("", '<li><a href="{}">{}</a> <small class="muted">{}</small></li>', rows))

    def get_queryset(self, request):
        return (super().get_queryset(request).select_related("edition", "subscriber")
                .prefetch_related(Delivery.events_prefetch()))

    def get_changelist(self, request, **kwargs):
        return LedgerChangeList

    # The reader as the user may see them (subscribers.addresses.email_shown_to): a
    # column and a read-only field are given no request, so the list's column is made
    # per request and the page's reader set on the row get_object reads.
    def get_list_display(self, request):
        column = address_column(request.user, email_of=lambda delivery: delivery.subscriber.email,
                                description="Reader", ordering="subscriber__email")
        return [column if name == "reader" else name for name in super().get_list_display(request)]

    def get_object(self, request, object_id, from_field=None):
        delivery = super().get_object(request, object_id, from_field)
        if delivery is not None:
            delivery.reader_shown = email_shown_to(request.user, delivery.subscriber.email)
        return delivery

    @admin.display(description="Reader")
    def reader(self, delivery):
        shown = getattr(delivery, "reader_shown", None) or email_masked(delivery.subscriber.email)
        return format_html('<a href="{}">{}</a>', reverse("admin:subscribers_subscriber_change",
                                                           args=[delivery.subscriber_id]), shown)

    def get_search_results(self, request, queryset, search_term):
        """The readers first, then their rows or the message's by index: one OR
        across the join read the whole ledger (1.4 s at 2 million rows for an
        editor's search, 2 to 6 s for a superuser's, docs/benchmarks.md). Those who
        see addresses find readers by any part of theirs (each word a part: the
        readers' list's search; subscriber_email_trgm_idx), the others by their
        whole address (subscriber_email_upper_idx: they see addresses masked); a
        provider's message id is found whole, by either (delivery_provider_msgid_idx)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if request.user.has_perm(ADDRESS_PERMISSION):
            # Either spelling of an internationalised domain finds its readers.
            found = Q()
            for word in email_search_term(term).split():
                found &= Q(email__icontains=word)
        else:
            found = email_exactly("email", term)
        readers = list(Subscriber.objects.filter(found).values_list("pk", flat=True)[:SEARCH_READERS_LISTED + 1])
        # Up to a few hundred readers, their rows by the readers' index. More, and
        # they are common enough for the newest rows to hold the page's soon: the list's
        # order (delivery_created_idx) with the readers read alongside, once.
        of_readers = (Q(subscriber_id__in=readers) if len(readers) <= SEARCH_READERS_LISTED
                      else Q(subscriber_id__in=Subscriber.objects.filter(found).values("pk")))
        return queryset.filter(of_readers | Q(provider_message_id=term)), False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None and cl.paginator.more_than:  # "All 10001 selected" was not so
            response.context_data["selection_note_all"] = (
                f"All of more than {cl.paginator.counted_up_to:,} selected")
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Read-only: no Save buttons over a page nothing on can be changed.
        extra = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    @admin.display(description="Edition", ordering="edition__date")
    def edition_date(self, delivery):
        return _day(delivery.edition.date)

    @admin.display(description="Sent", ordering="sent_at")
    def sent(self, delivery):
        return edition_send_time(delivery.sent_at, edition_date=delivery.edition.date) if delivery.sent_at else "—"

    # In the status's column: a column of its own cut the list off at 1280 px.
    @admin.display(description="Status", ordering="status")
    def status_said(self, delivery):
        """"Sent · bounced": the status, and the provider's latest event when there is
        one (read for the page in one query: get_queryset). A row whose digest bounced
        or was marked as spam read "Sent" like the others, and only the reader's page
        or the provider-event filter said otherwise (an editor's walkthrough)."""
        latest = delivery.provider_latest
        return f"{delivery.get_status_display()} · {latest.kind_said}" if latest else delivery.get_status_display()

    @admin.display(description="Error")
    def error_short(self, delivery):
        return format_html("<span title='{}'>{}</span>", delivery.error, delivery.error[:60])

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # The ledger is what makes sends exactly-once: rows are never deleted by hand.
        return False

    @admin.action(description="Retry failed deliveries (each reader still gets it at most once)",
                  permissions=["change"])
    def retry_failed(self, request, queryset):
        try:
            retried = curation.deliveries_retry_failed(deliveries=queryset)
        except curation.CurationError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        # Each row's history says who sent it again (as the edition's "Sent now").
        for delivery in Delivery.objects.filter(pk__in=retried).select_related("subscriber", "edition"):
            self.log_change(request, delivery, "Sent again after it failed.")
        count, asked = len(retried), queryset.count()
        if not count:
            self.message_user(request, f"Nothing queued: none of the {asked} selected had failed (only failed "
                                       "deliveries are sent again; filter by Status: Failed).", messages.WARNING)
            return
        others = f" The other {asked - count} selected had not failed: left as they are." if asked > count else ""
        self.message_user(request, f"Queued {count} failed deliver{'y' if count == 1 else 'ies'} again.{others}",
                          messages.SUCCESS)
