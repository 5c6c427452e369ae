"""Entry points for the worker: take ids, call one service (STYLE.md §3). Services
import tasks (to queue them); each task imports its service inside its body, so
the two modules never import each other at load time."""

import logging

from celery import shared_task

from mail.errors import EMAIL_SEND_ERRORS, EMAIL_TASK_OPTIONS, email_task_failed

from .addresses import error_describe_masked

logger = logging.getLogger(__name__)

# A journey email's failed send: mail/errors.py, email_task_failed (retried with
# backoff when transient, logged and dropped when the ESP refuses it). The email
# window was claimed when the task was queued, so a retry sends no second email.


@shared_task(**EMAIL_TASK_OPTIONS)
def subscriber_email_send(self, subscriber_id: int, kind: str) -> None:
    from .services import subscriber_journey_email_send

    try:
        subscriber_journey_email_send(subscriber_id=subscriber_id, kind=kind)
    except EMAIL_SEND_ERRORS as exc:
        email_task_failed(self, exc, what=f"{kind} email to subscriber {subscriber_id}",
                          describe=error_describe_masked)


@shared_task
def public_form_request_carry_out(form: str, email: str, fields: dict) -> None:
    """A public form's request, carrying the address: the worker looks it up and
    queues what it calls for (services.public_form_request_carry_out), so the
    request's time is the same for every address."""
    from .services import public_form_request_carry_out as carry_out

    carry_out(form=form, email=email, fields=fields)


@shared_task
def owed_emails_send() -> int:
    """Beat: the journey emails owed since Redis was away, queued now that it is back
    (subscribers/models.py, OwedEmail)."""
    from .services import owed_emails_queue

    queued = owed_emails_queue()
    if queued:  # Celery's own lines for this task are DEBUG (config/celery.py, QUIET_TASKS)
        logger.info("emails owed since Redis was away queued: %s", queued)
    return queued
