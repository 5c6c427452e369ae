"""The one email builder: every message the service sends goes through here
(confirmation, already subscribed, goodbye, digest, test sends).

It renders the three templates of an email (newsletter/rendering.py), sets the
headers Gmail's and Yahoo's bulk-sender rules ask for (RFC 2369 List-Unsubscribe,
RFC 8058 List-Unsubscribe-Post, RFC 2919 List-Id), and anymail tags and metadata
so tracking events come back tied to what was sent. The ESP is whatever
EMAIL_BACKEND names; anymail gives every backend the same interface."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlsplit

from anymail.message import AnymailMessage
from django.conf import settings

from subscribers.selectors import email_is_suppressed

from .rendering import RenderedEmail, email_render

logger = logging.getLogger(__name__)


def list_id() -> str:
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"Daily Papers Digest <digest.{host}>"


def email_build(
    *,
    to: str,
    template: str,
    context: dict,
    unsubscribe_url: str | None = None,
    tags: Sequence[str] = (),
    metadata: dict | None = None,
) -> AnymailMessage:
    rendered = email_render(template=template, context={**context, "unsubscribe_url": unsubscribe_url})
    return email_message(
        to=to, rendered=rendered, unsubscribe_url=unsubscribe_url, tags=list(tags) or [template],
        metadata=metadata,
    )


def email_message(
    *,
    to: str,
    rendered: RenderedEmail,
    unsubscribe_url: str | None,
    tags: Sequence[str],
    metadata: dict | None = None,
) -> AnymailMessage:
    """The message of an email already rendered (email_build, or a digest assembled
    from its edition's proof: newsletter/digest_render.py), with its headers."""
    headers = {"List-Id": list_id()}
    if unsubscribe_url:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=headers,
        tags=list(tags),
        metadata={k: str(v) for k, v in (metadata or {}).items()},
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def email_send(
    *,
    to: str,
    template: str,
    context: dict,
    unsubscribe_url: str | None = None,
    tags: Sequence[str] = (),
    metadata: dict | None = None,
    connection=None,
) -> str | None:
    """Build and send one email; return the provider's message id, or None when
    the address is suppressed (suppressed addresses never get mail of any kind).
    ESP errors (anymail.exceptions.AnymailError) propagate: the caller decides
    whether they are transient."""
    if email_is_suppressed(to):
        logger.info("email not sent: address suppressed (template=%s)", template)
        return None
    message = email_build(
        to=to, template=template, context=context, unsubscribe_url=unsubscribe_url,
        tags=tags, metadata=metadata,
    )
    if connection is not None:
        message.connection = connection
    message.send()
    # Plain Django backends (SMTP to docker-compose's Mailpit) report no id.
    status = getattr(message, "anymail_status", None)
    return str(status.message_id) if status and status.message_id is not None else ""
