"""Entry points for the worker: take ids, call one service (STYLE.md §3). Services
import tasks (to queue them); each task imports its service inside its body, so
the two modules never import each other at load time."""

import logging

from anymail.exceptions import AnymailError
from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from redis import RedisError

from mail.errors import send_error_is_transient

from .addresses import error_describe_masked

logger = logging.getLogger(__name__)

# An ESP outage or a 429 that lasts is transient, and so is a Redis that cannot be
# reached (the ESP's shared limits live there: mail/esp.py): retried with backoff,
# Celery's own (30 s doubling to 600 s, full jitter). The ESP refusing this message
# (an invalid or inactive address, any other 4xx) is not: trying again would be
# refused again, so it is logged and the task ends. The email window was claimed
# when the task was queued, so a retry sends no second email.
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(bind=True, max_retries=6, time_limit=60, soft_time_limit=45)
def subscriber_email_send(self, subscriber_id: int, kind: str) -> None:
    from .services import subscriber_journey_email_send

    try:
        subscriber_journey_email_send(subscriber_id=subscriber_id, kind=kind)
    except (AnymailError, RedisError, OSError) as exc:  # what send_error_is_transient judges
        if not send_error_is_transient(exc):
            logger.error("%s email to subscriber %s refused by the ESP, not retried: %s",
                         kind, subscriber_id, error_describe_masked(exc))
            return
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF_SECONDS, retries=self.request.retries,
            maximum=RETRY_BACKOFF_MAX_SECONDS, full_jitter=True,
        )
        # Celery's own line names only the exception's class ("Retry in 51s:
        # AnymailRequestsAPIError()"): this one says what the ESP answered.
        logger.warning("%s email to subscriber %s not sent (%s); try %d of %d in %d s", kind, subscriber_id,
                       error_describe_masked(exc), self.request.retries + 2, self.max_retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task
def owed_emails_send() -> int:
    """Beat: the journey emails owed since Redis was away, queued now that it is back
    (subscribers/models.py, OwedEmail)."""
    from .services import owed_emails_queue

    return owed_emails_queue()
