"""The local outbox: the embedded default's email backend. It goes through
anymail's machinery as a real ESP backend does (tags, metadata, per-recipient
status, errors) and keeps each message as a database row, listed at /outbox/ for
a person to open, instead of sending it."""

import uuid

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus


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
            message_id=message_id,
        )
        status = AnymailRecipientStatus(message_id=message_id, status="sent")
        return {"recipient_status": {email: status for email in payload.recipient_emails}}
