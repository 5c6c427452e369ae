from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from newsletter.health import health
from newsletter.webhook_views import tracking_urlpatterns

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("health/", health, name="health"),
    path("", include("newsletter.urls")),
    path("", include("newsletter.urls_public")),
    # Only the configured ESP's tracking webhook (newsletter/webhook_views.py).
    path("anymail/", include(tracking_urlpatterns(esp=settings.WEBHOOK_ESP))),
    path("", include("subscribers.urls")),
]
