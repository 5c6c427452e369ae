"""Entry points for the worker: take ids, call one service (STYLE.md §3). Services
import tasks (to queue them); each task imports its service inside its body, so
the two modules never import each other at load time."""

from anymail.exceptions import AnymailAPIError
from celery import shared_task
from redis import RedisError


# An ESP outage is transient, and so is a Redis that cannot be reached (the ESP's
# shared limits live there: mail/esp.py); retry with backoff. The email window was
# claimed when the task was queued, so a retry sends no second email.
@shared_task(
    autoretry_for=(AnymailAPIError, RedisError), retry_backoff=30, retry_backoff_max=600, max_retries=6,
    time_limit=60, soft_time_limit=45,
)
def subscriber_email_send(subscriber_id: int, kind: str) -> None:
    from .services import subscriber_journey_email_send

    subscriber_journey_email_send(subscriber_id=subscriber_id, kind=kind)
