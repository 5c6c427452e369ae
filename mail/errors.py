"""What a provider's error means for the sender: try again later, or give up on
this message. Used by the digest ledger (newsletter/sending.py, rule 4) and the
email tasks (subscribers/tasks.py, the readers' journey emails; config/tasks.py, the
staff's sign-in emails: `email_task_failed`, EMAIL_TASK_OPTIONS)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from anymail.exceptions import (
    AnymailAPIError,
    AnymailError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)

logger = logging.getLogger(__name__)

# HTTP statuses an ESP uses for "try again later".
TRANSIENT_STATUSES = {408, 429}
# Longest reason stored on a ledger row.
REASON_MAX_CHARS = 2000


def api_error_status(exc: AnymailAPIError) -> int | None:
    """The HTTP status the ESP answered `exc` with, None when there was no answer.
    anymail sets status_code for the ESPs it calls with requests; for Amazon SES,
    called through boto3, it passes botocore's parsed error as `response` (a dict,
    {"Error": {"Code": "TooManyRequestsException"}, "ResponseMetadata":
    {"HTTPStatusCode": 429}}) and leaves status_code None, which read as "no answer"
    and failed a throttled or 5xx send for good."""
    if exc.status_code is not None:
        return exc.status_code
    response = exc.response
    if isinstance(response, dict):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    return None


def _unanswered(exc: AnymailAPIError) -> bool:
    """The request never got an answer: requests' network errors, or botocore's
    (EndpointConnectionError, ReadTimeoutError...: no `response`, unlike its
    ClientError); botocore's others (NoCredentialsError) are configuration."""
    if isinstance(exc, AnymailRequestsAPIError):
        return True
    cause = exc.__cause__
    names = {cls.__name__ for cls in type(cause).__mro__}
    return isinstance(cause, OSError) or (
        type(cause).__module__.startswith("botocore") and bool(names & {"ConnectionError", "HTTPClientError"}))


def error_is_transient(exc: BaseException) -> bool:
    """Worth retrying later: rate limits, server errors, timeouts, lost connections."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return False
    if isinstance(exc, AnymailAPIError):
        status = api_error_status(exc)
        if status is None:
            return _unanswered(exc)
        return status in TRANSIENT_STATUSES or status >= 500
    return isinstance(exc, OSError | TimeoutError)


def send_error_is_transient(exc: BaseException) -> bool:
    """A send worth trying again later: the provider's transient error, or Redis (where
    the shared rate and the digests' journal live, mail/esp.py) away; any other error
    fails that message only."""
    return error_is_transient(exc) or isinstance(exc, redis.RedisError)


def error_describe(exc: BaseException) -> str:
    """"Type: message", short enough for a ledger row."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - some ESP errors cannot describe themselves
        text = repr(exc.args)
    return f"{type(exc).__name__}: {text}"[:REASON_MAX_CHARS]


# An email task's retries after a transient failure: Celery's own backoff (30 s
# doubling to 600 s, full jitter), 6 times (EMAIL_TASK_OPTIONS).
RETRY_BACKOFF_SECONDS = 30
RETRY_BACKOFF_MAX_SECONDS = 600
# Every email task's Celery options (`@shared_task(**EMAIL_TASK_OPTIONS)`): bound, for
# email_task_failed's retries, and a minute at most per try.
EMAIL_TASK_OPTIONS = {"bind": True, "max_retries": 6, "time_limit": 60, "soft_time_limit": 45}
# What an email task's send may raise that email_task_failed judges
# (send_error_is_transient); anything else is a bug, left to Celery.
EMAIL_SEND_ERRORS = (AnymailError, redis.RedisError, OSError)


def email_task_failed(task, exc: BaseException, *, what: str,
                      describe: Callable[[BaseException], str] = error_describe) -> None:
    """An email task (bound Celery task) whose send raised `exc`. An ESP outage or a
    429 that lasts is transient, and so is a Redis that cannot be reached (the ESP's
    shared limits live there: mail/esp.py): the task is retried with backoff
    (raises celery's Retry). The ESP refusing this message (an invalid or inactive
    address, any other 4xx) is not: trying again would be refused again, so it is
    logged and the task ends. `what` names the email in the log ("confirm email to
    subscriber 12"); `describe` says what the ESP answered (masking addresses, for
    a log that holds none)."""
    from celery.utils.time import get_exponential_backoff_interval

    if not send_error_is_transient(exc):
        logger.error("%s refused by the ESP, not retried: %s", what, describe(exc))
        return
    countdown = get_exponential_backoff_interval(
        factor=RETRY_BACKOFF_SECONDS, retries=task.request.retries,
        maximum=RETRY_BACKOFF_MAX_SECONDS, full_jitter=True,
    )
    # Celery's own line names only the exception's class ("Retry in 51s:
    # AnymailRequestsAPIError()"): this one says what the ESP answered.
    logger.warning("%s not sent (%s); try %d of %d in %d s", what, describe(exc),
                   task.request.retries + 2, task.max_retries + 1, countdown)
    raise task.retry(exc=exc, countdown=countdown) from exc
