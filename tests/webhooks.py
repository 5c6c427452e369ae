"""The ESP's tracking webhook as the tests call it: its address, the secret the
`webhook_secret` fixture (tests/conftest.py) configures, and the Basic auth header
Postmark sends with it (anymail's WEBHOOK_SECRET, "user:password")."""
import base64
import types

URL = "/anymail/postmark/tracking/"
SECRET = "postmark-hook:correct-horse-battery"
# Mailgun signs every post with it (its webhook signing key), as well as the basic auth.
MAILGUN_SIGNING_KEY = "mailgun-webhook-signing-key"


def auth(credentials: str = SECRET) -> dict:
    """Request headers carrying `credentials` as the ESP sends them."""
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def urlconf_routing(esp: str) -> types.ModuleType:
    """The site's URLs with WEBHOOK_ESP=esp: its /anymail/ route is `esp`'s alone
    (set it as settings.ROOT_URLCONF)."""
    from django.urls import include, path

    from config import urls
    from newsletter.webhook_views import tracking_urlpatterns

    module = types.ModuleType(f"urls_webhook_{esp}")
    module.urlpatterns = [
        path("anymail/", include(tracking_urlpatterns(esp=esp))),
        *[p for p in urls.urlpatterns if not str(p.pattern).startswith("anymail/")],
    ]
    return module


def esp_route(settings, esp: str) -> str:
    """Route one ESP's webhook as its operator sets it up (README, "Email provider");
    its URL. `settings`: pytest-django's fixture."""
    settings.ROOT_URLCONF = urlconf_routing(esp)
    settings.WEBHOOK_ESP = esp
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}
    return f"/anymail/{esp}/tracking/"
