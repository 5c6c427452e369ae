"""Beat's schedules in the admin (django-celery-beat's own pages, narrowed).

Editors may move the morning fetch to another time of day, or switch it off,
nothing else. The other schedules are the
machinery of sending (the dispatcher, settling dead workers' readers, the page and
email debts of a Redis outage): editors see them and what each does, and only
superusers change them, in django-celery-beat's full form."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.utils import formats, timezone
from django_celery_beat.admin import CrontabScheduleAdmin, PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from timezone_field import TimeZoneFormField

from .schedules import MORNING_FETCH_TASK, crontab_in_words


def fetch_schedule_error(task: str, crontab) -> str | None:
    """Why `crontab` cannot run the morning fetch, or None. The readers' hours are
    counted from one fetch a day (schedules.morning_fetch), so its schedule names one
    hour and one minute."""
    if task != MORNING_FETCH_TASK:
        return None
    if crontab is None:
        return "The morning fetch runs on a daily schedule: choose one (or add one with “+”)."
    if not (crontab.hour.isdigit() and crontab.minute.isdigit()):
        return ("The morning fetch runs once a day: choose a schedule with one hour and one "
                f"minute (“{crontab_in_words(crontab)}” is not).")
    return None


class SuperuserScheduleForm(PeriodicTaskForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A date and a time box under one label, which names only the first (axe: label).
        if start := self.fields.get("start_time"):
            for box, name in zip(start.widget.widgets, ("Start date", "Start time"), strict=True):
                box.attrs["aria-label"] = name

    def clean(self):
        data = super().clean()
        if error := fetch_schedule_error(data.get("task"), data.get("crontab")):
            self.add_error("crontab", error)
        return data


class EditorFetchScheduleForm(forms.ModelForm):
    """The morning fetch as an editor changes it: whether, and at what time of day in
    which zone. In words: the model's help said "Set to False to disable the
    schedule", the list offered the dispatcher's "every 15 minutes", and moving it
    meant django-celery-beat's raw crontab page in a "+" popup (minute, hour, day of
    month, month, day of week as cron fields: editors' walkthroughs). The daily
    schedule behind the time is found or made on save."""

    at = forms.TimeField(
        label="Every day at", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Readers' hours are counted from it: a reader at 07:00 gets the edition of the "
                  "last fetch before their hour.",
    )
    time_zone = TimeZoneFormField(label="Time zone", use_pytz=False)

    class Meta:
        model = PeriodicTask
        fields = ("enabled",)
        labels = {"enabled": "On"}
        help_texts = {"enabled": "Untick to stop the morning fetch: no new papers and no new edition "
                                 "until it is on again."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cron = self.instance.crontab if self.instance.crontab_id else None
        if cron is not None and fetch_schedule_error(self.instance.task, cron) is None:
            self.initial.setdefault("at", dt.time(int(cron.hour), int(cron.minute)))
        self.initial.setdefault("time_zone", str(cron.timezone) if cron is not None else "UTC")

    def save(self, commit=True):
        at, zone = self.cleaned_data["at"], self.cleaned_data["time_zone"]
        self.instance.crontab = CrontabSchedule.objects.filter(
            minute=str(at.minute), hour=str(at.hour), day_of_week="*", day_of_month="*", month_of_year="*",
            timezone=zone,
        ).first() or CrontabSchedule.objects.create(minute=str(at.minute), hour=str(at.hour), timezone=zone)
        return super().save(commit)


class _ByName:
    """A schedule that reads as its name, for the admin's messages and history:
    PeriodicTask's str() adds the raw crontab, so saving the morning fetch said
    "“Fetch today's trending papers (every morning): 15 7 * * * (m/h/dM/MY/d) UTC”
    was changed successfully", and Recent actions listed it so."""

    def __init__(self, task: PeriodicTask):
        self._task = task

    def __getattr__(self, name):
        return getattr(self._task, name)

    def __str__(self) -> str:
        return self._task.name


admin.site.unregister(PeriodicTask)


def crontab_translation(crontab: CrontabSchedule) -> str:
    """A crontab in words for a superuser's pages, where django-celery-beat shows
    cron_descriptor's "At 05:30 AM UTC" (a 12-hour clock the house does not write):
    the house's words (schedules.crontab_in_words), and cron_descriptor's for a
    shape those leave raw ("At 05:30 AM, on day 1 of the month UTC" says more than
    "30 5 1 * * (m/h/dM/MY/d) UTC")."""
    said = crontab_in_words(crontab)
    return crontab.human_readable if said == str(crontab) else said


def _when(at: dt.datetime) -> str:
    """A schedule's moment as the house writes one, in the admin's zone: "7 Dec 2026,
    05:30 UTC" (DATETIME_FORMAT; it was "Monday 7 December, 05:30 UTC", a pattern of
    this page's own)."""
    return formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")


def _next_run_at(task: PeriodicTask) -> dt.datetime:
    """When `task`'s crontab runs next, in UTC, to the nearest minute (the estimate
    comes out a hair before the hour)."""
    now = timezone.now()
    at = now + task.crontab.schedule.remaining_estimate(now) + dt.timedelta(seconds=30)
    return at.replace(second=0, microsecond=0).astimezone(dt.UTC)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    list_display = ("name", "enabled", "scheduler", "description", "last_run_at")

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if request.user.is_superuser or obj is None:
            return allowed
        return allowed and obj.task == MORNING_FETCH_TASK

    def get_actions(self, request):
        # Enable, disable, toggle and run act on any schedule: superusers only.
        return super().get_actions(request) if request.user.is_superuser else {}

    def get_fieldsets(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_fieldsets(request, obj)
        editable = self.has_change_permission(request, obj)
        when = (("interval",) if obj is not None and obj.interval_id
                else ("at", "time_zone", "next_run") if editable
                else ("crontab_translation", "next_run"))
        return ((None, {"fields": ("schedule_name", "what_it_does", "enabled", *when, "last_run")}),)

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ("schedule_name", "what_it_does", "interval", "last_run", "crontab_translation", "next_run")

    # An editor's rows in words: the model's own help ("Short Description For This
    # Task", "Datetime that the schedule last triggered the task to run. Reset to None
    # if enabled is set to False") showed under the read-only rows.
    @admin.display(description="Name")
    def schedule_name(self, obj):
        return obj.name

    @admin.display(description="What it does")
    def what_it_does(self, obj):
        return obj.description or "—"

    @admin.display(description="Last run")
    def last_run(self, obj):
        if not obj.last_run_at:
            return "Not yet"
        return _when(obj.last_run_at)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # django-celery-beat's own view fills the crontab's "Translation:" help with
        # cron_descriptor's words ("At 05:30 AM UTC"); the same page, with the house's.
        context = {**(extra_context or {}),
                   "readable_crontabs": {c.pk: crontab_translation(c) for c in CrontabSchedule.objects.all()}}
        return super(PeriodicTaskAdmin, self).changeform_view(request, object_id, form_url, context)

    def response_add(self, request, obj, post_url_continue=None):
        return super().response_add(request, _ByName(obj), post_url_continue)

    def response_change(self, request, obj):
        return super().response_change(request, _ByName(obj))

    def log_addition(self, request, obj, message):
        return super().log_addition(request, _ByName(obj), message)

    def log_change(self, request, obj, message):
        return super().log_change(request, _ByName(obj), message)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # A schedule's page is headed by its name: PeriodicTask's own str() adds the
        # raw crontab ("…: 30 5 * * * (m/h/dM/MY/d) UTC"), which the page's rows say in
        # words (an editor's walkthrough).
        if obj is not None:
            context["subtitle"] = obj.name
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description="Next run")
    def next_run(self, obj):
        """When it runs next, in UTC and in words (the page named no time at all)."""
        if not (obj and obj.enabled and obj.crontab_id):
            return "— (switched off)" if obj and not obj.enabled else "—"
        return _when(_next_run_at(obj))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.task == MORNING_FETCH_TASK:
            cron = obj.crontab
            if obj.enabled and cron is not None:
                at = f"{int(cron.hour):02d}:{int(cron.minute):02d}"
                # In UTC the next run is at the time just said: "at 07:15 (UTC); next run
                # Monday 7 December, 07:15 UTC" said the time and the zone twice.
                next_day = formats.date_format(timezone.localtime(_next_run_at(obj)), "DATE_FORMAT")
                when = (f"at {at} UTC, next on {next_day}" if str(cron.timezone) == "UTC"
                        else f"at {at} ({cron.timezone}); next run {self.next_run(obj)}")
                said = f"The morning fetch runs every day {when}. Readers' hours are counted from it."
            else:
                said = "The morning fetch is off: no new papers or edition until it is on again."
            self.message_user(request, said)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if request.user.is_superuser:
            kwargs["form"] = SuperuserScheduleForm
        elif self.has_change_permission(request, obj):
            kwargs["form"] = EditorFetchScheduleForm
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="Schedule")
    def crontab_translation(self, obj):
        return crontab_in_words(obj.crontab) if obj.crontab_id else "—"

    @admin.display(description="Schedule")
    def scheduler(self, obj):
        """The list's column in words: PeriodicTask.scheduler's str() said a crontab raw
        ("30 5 * * * (m/h/dM/MY/d) UTC") beside "every day" for an interval."""
        return crontab_in_words(obj.crontab) if obj.crontab_id else obj.scheduler


admin.site.unregister(CrontabSchedule)


@admin.register(CrontabSchedule)
class CrontabAdmin(CrontabScheduleAdmin):
    """Beat's crontabs (superusers): "In words" beside the raw fields, where the list
    and the page said cron_descriptor's "At 05:30 AM UTC"."""

    list_display = ("__str__", "in_words")
    fields = ("in_words", "minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
    readonly_fields = ("in_words",)

    @admin.display(description="In words")
    def in_words(self, obj):
        return crontab_translation(obj) if obj.pk else "—"
