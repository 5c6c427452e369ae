"""The local outbox: the embedded default's email backend. It goes through
anymail's machinery as a real ESP backend does (tags, metadata, per-recipient
status, errors) and keeps each message as a database row, listed at /outbox/ for
a person to open, instead of sending it. A message there can be played back as
bounced or complained about (`outbox_event_record`), as an ESP's webhook would
report it, so the whole path (suppression, the editors' figures) can be seen
without an ESP."""

import uuid

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus
from anymail.signals import AnymailTrackingEvent, EventType
from django.utils import timezone

# What a message of the outbox can be played back as, and how the page says it.
OUTBOX_EVENTS = {
    EventType.BOUNCED: "a hard bounce",
    EventType.COMPLAINED: "a spam complaint",
}


class OutboxEmailBackend(AnymailTestBackend):
    esp_name = "Outbox"

    def post_to_esp(self, payload, message):
        from .models import OutboxEmail

        params = payload.get_params()
        html = params.get("html_body", "")
        message_id = str(uuid.uuid4())
        OutboxEmail.objects.create(
            to=", ".join(payload.recipient_emails),
            from_email=str(params.get("from", "")),
            subject=params.get("subject", ""),
            text_body=params.get("text_body", ""),
            html_body=html,
            headers={k: str(v) for k, v in (params.get("extra_headers") or {}).items()},
            tags=list(params.get("tags") or []),
            metadata=dict(params.get("metadata") or {}),
            attachments=[{"name": a.name or "attachment", "mimetype": a.mimetype, "b64": a.b64content}
                         for a in params.get("attachments") or []],
            message_id=message_id,
        )
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {"recipient_status": {email: status for email in payload.recipient_emails}}


def outbox_event_record(*, email, kind: str):
    """Record `kind` (OUTBOX_EVENTS) for an outbox message exactly as the ESP's
    tracking webhook would (webhooks.delivery_event_record: the event tied to its
    delivery by the message's metadata, the address suppressed, the editors'
    figures counting it); once per message and kind, like a replayed webhook.
    Returns the stored event, or None when it was already recorded."""
    from .webhooks import delivery_event_record

    if kind not in OUTBOX_EVENTS:
        raise ValueError(f"not an outbox event: {kind!r}")
    event = AnymailTrackingEvent(
        event_type=kind, event_id=f"outbox-{email.pk}-{kind}", timestamp=timezone.now(),
        recipient=email.to.split(",")[0].strip(), message_id=email.message_id,
        metadata=dict(email.metadata or {}), tags=list(email.tags or []),
        description=f"Played back from the local outbox as {OUTBOX_EVENTS[kind]}",
        esp_event={"outbox_email": email.pk, "event": kind},
    )
    return delivery_event_record(event=event, esp_name=OutboxEmailBackend.esp_name)
