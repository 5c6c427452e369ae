"""The ESP's tracking webhook: /anymail/<esp>/tracking/ for the one ESP configured
(settings.WEBHOOK_ESP), and nothing else under /anymail/ (404): no inbound
webhooks, no endpoints of ESPs we do not use (their views fail on missing keys or
libraries).

anymail's view class for the ESP still does the ESP-specific work, called step by
step so each failure has its own answer, decided where it happens:

- credentials (anymail's basic auth of ANYMAIL["WEBHOOK_SECRET"], checked before
  anything of the ESP is built, plus any signature the ESP adds) missing or wrong,
  or no secret configured: 401 with WWW-Authenticate, and nothing is read;
- a body over WEBHOOK_BODY_MAX (1 MiB, above SendGrid's batches of 768 KB; the
  site's DATA_UPLOAD_MAX_MEMORY_SIZE is for the public forms): 413;
- a body the ESP's parser cannot read, or whose every event has fields of the wrong
  types or values we cannot store (newsletter/webhooks.py, tracking_event_problem):
  400, and nothing of it is acted on; so is the ESP's *inbound* webhook set to this
  URL by mistake (anymail's message, which says so, is the answer and is logged as
  an error);
- such events beside others in one post are left out, each logged as an error, and
  the others recorded: the post is the ESP's, its credentials checked, and it would
  post the same again. Until 8 December one such event made the whole post a 400,
  which SendGrid retries for a day and then drops, with the bounces and complaints
  of some 2,000 other events;
- then the post's events are recorded (newsletter/webhooks.py,
  delivery_events_record). An error there is ours, not the sender's: it stays a
  500, which ESPs retry. anymail's `tracking` signal is not sent: a receiver gets
  one event at a time, and a post is recorded as a whole.
"""

from __future__ import annotations

import errno
import logging
from io import BytesIO

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailWebhookValidationFailure,
)
from anymail.signals import AnymailTrackingEvent
from anymail.utils import get_anymail_setting
from anymail.webhooks.base import AnymailBasicAuthMixin
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from .webhooks import delivery_events_record, tracking_event_problem

logger = logging.getLogger(__name__)

# What anymail's ESP parsers raise on a body that is not the ESP's event format:
# not JSON (ValueError), a list where an object was expected (TypeError,
# AttributeError), a missing field (KeyError, IndexError), bytes that are not UTF-8.
# RecursionError: JSON nested thousands deep (json.loads gives up; it was a 500).
# OverflowError: an epoch timestamp (Mailgun's, SendGrid's, Brevo's) past any date,
# which the system's clock functions refuse, as OSError EOVERFLOW for some (_unreadable).
_UNREADABLE_BODY = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError, OverflowError,
                    AnymailError, OSError)


def _unreadable(exc: Exception) -> bool:
    """Whether the ESP's parser raised `exc` for the body, not for a fault of ours: an
    OSError only of a value too large (EOVERFLOW), as datetime.fromtimestamp raises
    for some epochs past any date (it was a 500, which the sender retries for days)."""
    return not isinstance(exc, OSError) or exc.errno == errno.EOVERFLOW


# The largest body the webhook reads, once the credentials are right. SendGrid posts
# its events "within approximately 30 seconds or when the batch size reaches 768
# kilobytes" (a batch is cut after the event that reaches it): the morning's burst of
# deliveries is posts of that size, which the site's DATA_UPLOAD_MAX_MEMORY_SIZE
# (512 KiB, for the public forms) refused with a 400 until 8 December. SendGrid
# retries such a post for a day, then drops it, with every bounce and complaint in it.
WEBHOOK_BODY_MAX = 1024 * 1024


def _body_read(request: HttpRequest) -> bool:
    """Read the body of an authenticated post now, up to WEBHOOK_BODY_MAX rather than
    DATA_UPLOAD_MAX_MEMORY_SIZE (Django's HttpRequest.body checks that one when it
    first reads; what it has read it keeps in `_body`, where anymail's view and the
    form parser find it). False when it is larger."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > WEBHOOK_BODY_MAX:
        return False
    body = request.read(WEBHOOK_BODY_MAX + 1)
    request._body, request._stream = body, BytesIO(body)  # as HttpRequest.body leaves them
    return len(body) <= WEBHOOK_BODY_MAX


class _WebhookCredentials(AnymailBasicAuthMixin):
    """anymail's basic auth of ANYMAIL["WEBHOOK_SECRET"], without any ESP's view:
    it reads no ESP setting, so it can be built whatever the ESP's configuration."""

    esp_name = "ESP"


def _unauthorized() -> HttpResponse:
    response = HttpResponse("Missing or wrong webhook credentials.", status=401,
                            content_type="text/plain")
    response["WWW-Authenticate"] = 'Basic realm="ESP webhooks", charset="UTF-8"'
    return response


@csrf_exempt
def tracking_webhook(request: HttpRequest, *, view_class) -> HttpResponse:
    if request.method == "HEAD":
        return HttpResponse()  # some ESPs probe the URL when it is set up
    if request.method != "POST":
        response = HttpResponse("POST events here.", status=405, content_type="text/plain")
        response["Allow"] = "POST, HEAD"
        return response
    if not get_anymail_setting("webhook_secret", default=None):
        # anymail would accept anyone (with a warning); an unauthenticated POST must
        # never suppress or unsubscribe a reader.
        logger.error("tracking webhook refused: WEBHOOK_SECRET is not set")
        return _unauthorized()
    try:
        # anymail's basic auth alone first, before the ESP's view is built: a view
        # whose ESP settings are missing (Mailgun's signing key, boto3 for Amazon
        # SES: check --deploy's digest.E007) raises on construction, and only the
        # ESP, which has the credentials, may ever see that error (a 500 it retries).
        _WebhookCredentials().run_validators(request)
    except AnymailWebhookValidationFailure:
        return _unauthorized()
    if not _body_read(request):
        return HttpResponse(f"The body is larger than {WEBHOOK_BODY_MAX:,} bytes.", status=413,
                            content_type="text/plain")
    try:
        view = view_class()
        view.setup(request)
        view.run_validators(request)  # the credentials again, and the ESP's signature
    except AnymailWebhookValidationFailure:
        return _unauthorized()
    try:
        events = [e for e in view.parse_events(request) if isinstance(e, AnymailTrackingEvent)]
    except AnymailConfigurationError as exc:
        # The ESP's inbound webhook (replies) set to this URL: anymail's message says
        # so, to the ESP's webhook log and to ours, where someone must fix the setting.
        logger.error("tracking webhook refused a body: %s", exc)
        return HttpResponseBadRequest(str(exc), content_type="text/plain")
    except _UNREADABLE_BODY as exc:
        if not _unreadable(exc):
            raise
        return HttpResponseBadRequest(
            f"The body is not a {view.esp_name} tracking event ({type(exc).__name__}).",
            content_type="text/plain",
        )
    problems = [(event, tracking_event_problem(event)) for event in events]
    recordable = [event for event, problem in problems if problem is None]
    if events and not recordable:
        return HttpResponseBadRequest(problems[0][1], content_type="text/plain")
    for event, problem in problems:
        if problem:
            logger.error("tracking webhook left out an event of %s's post (id %.100s): %s",
                         view.esp_name, event.event_id, problem)
    delivery_events_record(events=recordable, esp_name=view.esp_name)
    return HttpResponse()


def tracking_urlpatterns(*, esp: str) -> list:
    """The route of `esp`'s tracking webhook, at the path anymail documents for it
    (e.g. postmark/tracking/); empty when anymail has no such ESP."""
    from anymail.urls import urlpatterns as anymail_urlpatterns

    for pattern in anymail_urlpatterns:
        if pattern.name == f"{esp}_tracking_webhook":
            return [path(str(pattern.pattern), tracking_webhook,
                         {"view_class": pattern.callback.view_class}, name="tracking_webhook")]
    return []
