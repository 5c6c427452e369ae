from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from newsletter.health import health

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("health/", health, name="health"),
    path("", include("newsletter.urls")),
    path("", include("newsletter.urls_public")),
    path("anymail/", include("anymail.urls")),
    path("", include("subscribers.urls")),
]
