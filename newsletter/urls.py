import datetime as dt

from django.urls import path, re_path, register_converter

from . import views
from .models import ARXIV_ID_PATTERN

# A Daily Papers date is far from the calendar's ends: the pages and their cache tags
# reach days either side of it (an edition's page the lists before it, whose late
# papers it took), which for 0001-01-01 do not exist (OverflowError: a 500).
_CALENDAR_MARGIN = dt.timedelta(days=31)


class IsoDateConverter:
    """/papers/2025-11-24/: a Daily Papers date; anything else is a 404."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        date = dt.date.fromisoformat(value)  # ValueError (e.g. 2025-02-30) -> 404
        if not dt.date.min + _CALENDAR_MARGIN <= date <= dt.date.max - _CALENDAR_MARGIN:
            raise ValueError(f"{value} is too near an end of the calendar")
        return date

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")


class ArxivIdConverter:
    """/papers/2511.12345/: a paper's page by its arXiv id (Paper.get_absolute_url)."""

    regex = ARXIV_ID_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ArxivIdConverter, "arxivid")

app_name = "newsletter"
urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    # At most 19 digits, a bigint's: the view reads pk with int(), which refuses
    # over 4,300 digits (a 500, and the whole path logged, for each such ask).
    re_path(r"^pictures/(?P<pk>[0-9]{1,19})-(?P<version>[0-9a-f]{12})\.(?P<extension>png|jpg|gif|webp)$",
            views.paper_picture, name="paper_picture"),
    path("papers/<isodate:date>/", views.papers_on_date, name="papers_on_date"),
    path("papers/<arxivid:arxiv_id>/", views.paper_detail, name="paper_detail"),
    path("papers/p<int:pk>-<slug:slug>/", views.paper_detail, name="paper_detail_by_pk"),
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:email_id>/", views.outbox_detail, name="outbox_detail"),
    path("outbox/<int:email_id>/html/", views.outbox_html, name="outbox_html"),
    path("outbox/<int:email_id>/attachment/<int:n>/", views.outbox_attachment, name="outbox_attachment"),
    path("outbox/<int:email_id>/event/<str:kind>/", views.outbox_event, name="outbox_event"),
]
