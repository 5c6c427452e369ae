import datetime as dt

from django.urls import path, register_converter

from . import views


class IsoDateConverter:
    """/papers/2025-11-24/: a Daily Papers date; anything else is a 404."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError (e.g. 2025-02-30) -> 404

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

app_name = "newsletter"
urlpatterns = [
    path("", views.home, name="home"),
    path("papers/<isodate:date>/", views.papers_on_date, name="papers_on_date"),
    path("outbox/", views.outbox_list, name="outbox"),
    path("outbox/<int:email_id>/", views.outbox_detail, name="outbox_detail"),
    path("outbox/<int:email_id>/html/", views.outbox_html, name="outbox_html"),
]
