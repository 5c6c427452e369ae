from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.db.models import Max, Min
from django.utils import timezone

register = template.Library()


@register.inclusion_tag("admin/date_hierarchy.html")
def readers_date_hierarchy(cl) -> dict:
    """The readers' list's date hierarchy (`created_at`), as Django's
    (admin_list.date_hierarchy), but its first level, the years, asks each year from
    the first reader's to the last's whether it has one (`created_at__year`, a range of
    subscriber_created_idx), where Django's DISTINCT of every reader's year read them
    all (20-40 ms at 100,000 readers, docs/benchmarks.md, "The admin at scale, fourth
    pass"). Any other level is Django's."""
    field = cl.date_hierarchy
    if any(f"{field}__{part}" in cl.params for part in ("year", "month", "day")):
        return date_hierarchy(cl)
    span = cl.queryset.aggregate(first=Min(field), last=Max(field))
    if span["first"] is None or timezone.localtime(span["first"]).year == timezone.localtime(span["last"]).year:
        return date_hierarchy(cl)  # one year: Django lists its months
    years = range(timezone.localtime(span["first"]).year, timezone.localtime(span["last"]).year + 1)
    return {"show": True, "back": None, "choices": [
        {"link": cl.get_query_string({f"{field}__year": str(year)}, [f"{field}__"]), "title": str(year)}
        for year in years if cl.queryset.filter(**{f"{field}__year": year}).exists()
    ]}
