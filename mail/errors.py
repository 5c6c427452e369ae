"""What a provider's error means for the sender: try again later, or give up on
this message. Used by the digest ledger (newsletter/sending.py, rule 4) and the
journey emails' task (subscribers/tasks.py)."""

from __future__ import annotations

import redis
from anymail.exceptions import (
    AnymailAPIError,
    AnymailInvalidAddress,
    AnymailRecipientsRefused,
    AnymailRequestsAPIError,
)

# HTTP statuses an ESP uses for "try again later".
TRANSIENT_STATUSES = {408, 429}
# Longest reason stored on a ledger row.
REASON_MAX_CHARS = 2000


def error_is_transient(exc: BaseException) -> bool:
    """Worth retrying later: rate limits, server errors, timeouts, lost connections."""
    if isinstance(exc, AnymailRecipientsRefused | AnymailInvalidAddress):
        return False
    if isinstance(exc, AnymailAPIError):
        status = exc.status_code
        if status is None:
            # No HTTP status: the request never got an answer (network failure).
            return isinstance(exc, AnymailRequestsAPIError)
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
