"""The public archive, feeds, and the pages behind signed links in the digest
(newsletter/archive_views.py)."""

from django.urls import path

from . import archive_views, feeds
from . import urls as _site_urls  # noqa: F401 - registers the `isodate` converter
from .page_cache import public_page

app_name = "newsletter_public"
urlpatterns = [
    path("editions/", archive_views.edition_list, name="edition_list"),
    path("editions/<isodate:date>/", archive_views.edition_detail, name="edition_detail"),
    path("digest/<str:token>/", archive_views.delivery_view, name="delivery_view"),
    path("feeds/", archive_views.feed_list, name="feed_list"),
    path("feeds/papers.atom", public_page(tags=lambda: ["feeds"])(feeds.PapersFeed()), name="feed_papers"),
    path("feeds/topics/<slug:slug>.atom", public_page(tags=lambda slug: ["feeds"])(feeds.TopicPapersFeed()), name="feed_topic"),
    path("feedback/<str:token>/", archive_views.feedback, name="feedback"),
    # Reached from the preference centre with the reader's manage token.
    path("manage/<str:token>/learned/reset/", archive_views.feedback_reset, name="feedback_reset"),
]
