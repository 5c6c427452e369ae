"""Forms parse and validate input; the rules of what happens live in services.py."""

from __future__ import annotations

import functools
import importlib.resources
import zoneinfo
from pathlib import Path

from django import forms
from django.utils import dates

from newsletter.models import Topic
from newsletter.reader_keywords import keyword_stop_words_only, keyword_wordless, keywords_common

from .addresses import email_validate
from .consent import CONSENT_TEXT, consent_version_sign
from .models import MAX_PAPERS_PER_DIGEST, Subscriber

# The days by the names every other place gives them (Django's: Subscriber.weekday_name).
WEEKDAYS = list(dates.WEEKDAYS.items())
HOURS = [(h, f"{h:02d}:00") for h in range(24)]


@functools.cache
def time_zone_choices() -> list[tuple[str, str]]:
    """Each place once, by its current name: not the old names kept as links to it
    (time_zone_renamed)."""
    renamed = time_zone_renamed()
    names = sorted(
        z for z in zoneinfo.available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")) and z not in renamed
    )
    return [("UTC", "UTC")] + [(z, z.replace("_", " ")) for z in names]


def _tz_database_file(name: str) -> str:
    """A text file of the time-zone database zoneinfo reads (the system's, else the
    tzdata package's); empty when there is none."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return importlib.resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""


@functools.cache
def time_zone_renamed() -> dict[str, str]:
    """Old names of places -> the names the time-zone database uses now (Europe/Kiev ->
    Europe/Kyiv, Asia/Calcutta -> Asia/Kolkata, Asia/Saigon -> Asia/Ho_Chi_Minh): the
    database keeps an old name as a link to the zone its country's entry names
    (zone.tab). Browsers report ICU's id, often the old one. Empty without the files."""
    current = {line.split("\t")[2] for line in _tz_database_file("zone.tab").splitlines()
               if line and not line.startswith("#")}
    links = (line.split()[1:3] for line in _tz_database_file("tzdata.zi").splitlines() if line.startswith("L "))
    return {old: new for new, old in links if new in current and old not in current}


def time_zone_current(name: str) -> str:
    return time_zone_renamed().get(name, name)


class TimeZoneField(forms.ChoiceField):
    """A zone by its current name; an old one (a browser's, a reader's stored before)
    is taken as the current."""

    def to_python(self, value) -> str:
        return time_zone_current(super().to_python(value))


class TopicChoiceField(forms.ModelMultipleChoiceField):
    """Checkboxes whose label is the topic; templates show its description too."""

    widget = forms.CheckboxSelectMultiple

    def __init__(self, **kwargs):
        super().__init__(queryset=Topic.objects.filter(is_active=True), **kwargs)


class PreferencesFields(forms.Form):
    """What both the subscribe form and the preference centre ask."""

    topics = TopicChoiceField(
        required=True,
        error_messages={"required": "Pick at least one topic."},
    )
    keywords = forms.CharField(
        required=False, max_length=500, label="Extra keywords",
        help_text="Comma separated, e.g. “speculative decoding, RLHF”.",
    )
    exclude_keywords = forms.CharField(
        required=False, max_length=500, label="Leave out papers about",
        help_text="Comma separated.",
    )
    frequency = forms.ChoiceField(
        choices=Subscriber.Frequency.choices, widget=forms.RadioSelect,
        initial=Subscriber.Frequency.DAILY,
    )
    weekday = forms.TypedChoiceField(
        choices=WEEKDAYS, coerce=int, initial=0, label="Day of the weekly digest",
    )
    delivery_hour = forms.TypedChoiceField(
        choices=HOURS, coerce=int, initial=7, label="Delivery time",
    )
    time_zone = TimeZoneField(choices=time_zone_choices, initial="UTC", label="Time zone")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # With no active topic (an editor turned them all off, or a new installation
        # whose editor deleted the defaults) there is nothing to pick: the form must
        # not ask for the impossible. A reader without topics gets the day's
        # trending papers (newsletter/ranking.py), and the page says so.
        if not self.fields["topics"].queryset.exists():
            self.fields["topics"].required = False

    def clean_keywords(self) -> str:
        return _keywords_clean(self.cleaned_data["keywords"], would="match nearly every paper")

    def clean_exclude_keywords(self) -> str:
        return _keywords_clean(self.cleaned_data["exclude_keywords"], would="leave out nearly every paper")


def _keywords_clean(value: str, *, would: str) -> str:
    """One spelling: terms separated by ", ", no empty ones, no duplicates. A term of
    stop words alone ("of", "the", "I") is refused, named: ranking would find it in
    nearly every paper, and left out it emptied the reader's digests with no word
    of why (reader_keywords.keyword_stop_words_only). So is one that nearly every
    one of the newest papers says ("model": reader_keywords.keywords_common), with
    how many say it."""
    seen: dict[str, str] = {}
    for term in value.replace("\n", ",").split(","):
        term = " ".join(term.split())
        if term and term.lower() not in seen:
            seen[term.lower()] = term
    stop_words = [term for term in seen.values() if keyword_stop_words_only(term)]
    # "∑" or "→" was saved, and found in no paper: a keyword that never matched.
    wordless = [term for term in seen.values() if keyword_wordless(term)]
    others = [term for term in seen.values() if term not in stop_words and term not in wordless]
    errors = [f"Nearly every paper says “{term}”, so it would {would}: remove it or use a more specific term."
              for term in stop_words]
    errors += [f"“{term}” has no word to look for in a paper: write it in words." for term in wordless]
    errors += [f"“{term}” is in {said} of the {read} newest papers, so it would {would}: "
               "remove it or use a more specific term."
               for term, (said, read) in keywords_common(others).items()]
    if errors:
        raise forms.ValidationError(errors)
    return ", ".join(seen.values())


class AddressField(forms.EmailField):
    """An email address a reader types (addresses.email_validate)."""

    default_validators = [email_validate]


class SubscribeForm(PreferencesFields):
    email = AddressField(
        max_length=254, label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    consent = forms.BooleanField(
        required=True, label=CONSENT_TEXT,
        error_messages={"required": "Please tick the box to agree, so we may email you."},
    )
    # Honeypot: hidden from people by CSS and from screen readers by aria-hidden;
    # bots that fill every field fill it. Named like a field they expect.
    website = forms.CharField(
        required=False, label="Leave this empty",
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    field_order = ["email", "topics", "keywords", "exclude_keywords", "frequency", "weekday",
                   "delivery_hour", "time_zone", "consent", "website"]

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    # The consent text's version travels in a hidden input that is not a field: no
    # value of it is ever an error for the person (services.subscriber_subscribe_request
    # checks it), and a form shown again, with an error, shows the current wording,
    # so it carries the current version, not the one it was posted with.
    def consent_version_signed(self) -> str:
        return consent_version_sign()

    def consent_version_posted(self) -> str:
        return str(self.data.get("consent_version", ""))


class LinksRequestForm(forms.Form):
    """"Email me my link": an address, and the subscribe form's honeypot."""
    email = AddressField(
        max_length=254, label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )
    website = SubscribeForm.base_fields["website"]

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))


class EmailChangeForm(forms.Form):
    """The preference centre's "Change my address": the new address."""
    email = AddressField(
        max_length=254, label="New email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "placeholder": "you@example.com"}),
    )


class PreferencesForm(PreferencesFields):
    only_with_code = forms.BooleanField(required=False, label="Only papers with code")
    papers_per_digest = forms.TypedChoiceField(
        choices=[(n, str(n)) for n in range(1, MAX_PAPERS_PER_DIGEST + 1)], coerce=int,
        label="Papers per digest",
    )
    skip_empty = forms.BooleanField(
        required=False, label="Skip days with nothing matching my topics",
    )

    @classmethod
    def for_subscriber(cls, subscriber: Subscriber, data=None) -> PreferencesForm:
        initial = {
            name: getattr(subscriber, name)
            for name in ("keywords", "exclude_keywords", "frequency", "weekday", "delivery_hour",
                         "time_zone", "only_with_code", "papers_per_digest", "skip_empty")
        }
        initial["topics"] = list(subscriber.topics.values_list("pk", flat=True))
        initial["time_zone"] = time_zone_current(subscriber.time_zone)
        return cls(data=data, initial=initial)


class PauseForm(forms.Form):
    weeks = forms.TypedChoiceField(choices=[(1, "1"), (2, "2"), (4, "4")], coerce=int)
