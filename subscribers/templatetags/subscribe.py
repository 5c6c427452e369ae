import functools

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from subscribers.forms import time_zone_choices, time_zone_renamed

register = template.Library()


@register.inclusion_tag("subscribers/_subscribe_start.html")
def subscribe_form() -> dict:
    """Subscribing from any page: `{% load subscribe %}{% subscribe_form %}`. An email
    field that opens the full form (posted to /subscribe/start/) on its own page, so the page
    it sits on holds no CSRF token and can be served from the public cache
    (newsletter/page_cache.py). Brings its stylesheet."""
    return {}


@functools.cache
def _time_zone_options() -> str:
    # An option's old names (data-was) let subscribe.js find it by the one a browser reports.
    was: dict[str, list[str]] = {}
    for old, current in time_zone_renamed().items():
        was.setdefault(current, []).append(old)
    return format_html_join("", '<option value="{}"{}>{}</option>', (
        (value, format_html(' data-was="{}"', " ".join(sorted(was[value]))) if value in was else "", label)
        for value, label in time_zone_choices()
    ))


@register.simple_tag
def time_zone_options(selected: str | None) -> str:
    """The ~420 <option>s of the time-zone select, built once per process instead of
    through a template loop on every form page; `selected` is marked."""
    html = _time_zone_options()
    if selected:
        option = format_html('<option value="{}"', selected)
        html = html.replace(option, option + " selected", 1)
    return mark_safe(html)
