"""Entry points for the worker of the site's own wiring: the emails a staff member
gets about their sign-in (config/two_factor.py). Each task takes ids and calls one
function, imported inside its body (STYLE.md §3)."""

from celery import shared_task

from mail.errors import EMAIL_SEND_ERRORS, EMAIL_TASK_OPTIONS, email_task_failed
from subscribers.addresses import error_describe_masked


@shared_task(**EMAIL_TASK_OPTIONS)
def staff_email_send(self, user_id: int, kind: str, context: dict | None = None) -> None:
    from .two_factor import staff_email

    try:
        staff_email(user_id, kind, context or {})
    except EMAIL_SEND_ERRORS as exc:
        # Masked as the readers' (subscribers/tasks.py): the logs hold no address.
        email_task_failed(self, exc, what=f"{kind} email to staff user {user_id}",
                          describe=error_describe_masked)
