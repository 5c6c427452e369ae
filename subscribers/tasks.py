"""Entry points for the worker: take ids, call one service (STYLE.md §3). Services
import tasks (to queue them); each task imports its service inside its body, so
the two modules never import each other at load time."""

import logging

from anymail.exceptions import AnymailError
from celery import shared_task
from redis import RedisError

from mail.errors import email_task_failed

from .addresses import error_describe_masked

logger = logging.getLogger(__name__)

# A journey email's failed send: mail/errors.py, email_task_failed (retried with
# backoff when transient, logged and dropped when the ESP refuses it). The email
# window was claimed when the task was queued, so a retry sends no second email.


@shared_task(bind=True, max_retries=6, time_limit=60, soft_time_limit=45)
def subscriber_email_send(self, subscriber_id: int, kind: str) -> None:
    from .services import subscriber_journey_email_send

    try:
        subscriber_journey_email_send(subscriber_id=subscriber_id, kind=kind)
    except (AnymailError, RedisError, OSError) as exc:  # what send_error_is_transient judges
        email_task_failed(self, exc, what=f"{kind} email to subscriber {subscriber_id}",
                          describe=error_describe_masked)


@shared_task
def owed_emails_send() -> int:
    """Beat: the journey emails owed since Redis was away, queued now that it is back
    (subscribers/models.py, OwedEmail)."""
    from .services import owed_emails_queue

    return owed_emails_queue()
