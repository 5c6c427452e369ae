"""The one email builder: every message the service sends goes through here
(confirmation, already subscribed, goodbye, digest, test sends).

It renders the three templates of an email (mail/rendering.py), sets the headers
Gmail's and Yahoo's bulk-sender rules ask for (RFC 2369 List-Unsubscribe, RFC 8058
List-Unsubscribe-Post, RFC 2919 List-Id), and anymail tags and metadata so tracking
events come back tied to what was sent. The ESP is whatever EMAIL_BACKEND names;
anymail gives every backend the same interface.

Whether an address may be mailed at all is not decided here: callers ask
subscribers/suppression.py first (the journey emails in subscribers/services.py,
the digest batch in newsletter/delivery.py)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from anymail.message import AnymailMessage
from django.conf import settings

from . import esp
from .rendering import RenderedEmail, email_render

# An email one person is waiting for (a confirmation, an editor's test send) rides
# out an ESP's 429s this long, then fails like any other error: the task retries it
# later with backoff, the editor is told. Digests wait longer (esp.THROTTLED_RETRY_SECONDS).
TRANSACTIONAL_THROTTLE_SECONDS = 10.0


def list_id() -> str:
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"Daily Papers Digest <digest.{host}>"


def list_headers(*, unsubscribe_url: str | None) -> dict[str, str]:
    """List-Id always; the one-click unsubscribe pair when the email has a link."""
    headers = {"List-Id": list_id()}
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


def email_build(
    *,
    to: str,
    template: str,
    context: dict,
    unsubscribe_url: str | None = None,
    tags: Sequence[str] = (),
    metadata: dict | None = None,
    attachments: Sequence[tuple[str, str | bytes, str]] = (),
) -> AnymailMessage:
    """`attachments`: (file name, content, MIME type) each."""
    rendered = email_render(template=template, context={**context, "unsubscribe_url": unsubscribe_url})
    message = email_message(
        to=to, rendered=rendered, unsubscribe_url=unsubscribe_url, tags=list(tags) or [template],
        metadata=metadata,
    )
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    return message


def email_message(
    *,
    to: str,
    rendered: RenderedEmail,
    unsubscribe_url: str | None,
    tags: Sequence[str],
    metadata: dict | None = None,
) -> AnymailMessage:
    """The message of an email already rendered (email_build, or a digest assembled
    from its edition's proof: newsletter/digest.py), with its headers."""
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=list_headers(unsubscribe_url=unsubscribe_url),
        tags=list(tags),
        metadata={k: str(v) for k, v in (metadata or {}).items()},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def message_send(message: AnymailMessage) -> str:
    """Send a built message the way the digests go out (mail/esp.py, esp_send): under
    the rate and the cap on calls in flight that every worker shares, so a
    confirmation sent during a digest run does not push the ESP over its limit, and
    a 429 is ridden out for TRANSACTIONAL_THROTTLE_SECONDS. Returns the provider's
    message id ("" when the backend reports none: plain Django backends, e.g. SMTP to
    docker-compose's Mailpit). ESP errors (anymail.exceptions.AnymailError) and an
    unreachable Redis (redis.RedisError: the shared limits cannot be read)
    propagate: the caller decides what they mean (mail/errors.py)."""
    return esp.esp_send(message, throttled_for=TRANSACTIONAL_THROTTLE_SECONDS).message_id


def email_send(
    *,
    to: str,
    template: str,
    context: dict,
    unsubscribe_url: str | None = None,
    tags: Sequence[str] = (),
    metadata: dict | None = None,
    attachments: Sequence[tuple[str, str | bytes, str]] = (),
) -> str:
    """Build and send one email; return the provider's message id (message_send).
    The caller has checked the address is not suppressed."""
    message = email_build(
        to=to, template=template, context=context, unsubscribe_url=unsubscribe_url,
        tags=tags, metadata=metadata, attachments=attachments,
    )
    return message_send(message)
