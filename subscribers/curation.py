"""What editors do to subscribers from the admin (STYLE.md: admin actions call one
service). Consent events stay in subscribers/services.py; these are the editors'
own decisions, recorded in the admin's log with their reason."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .models import Subscriber, Suppression
from .selectors import email_hash
from .services import EMAIL_CONFIRM, _journey_email_queue


def subscribers_suppress(*, subscribers: Iterable[Subscriber], reason: str) -> int:
    """Never mail these addresses again (until unsuppressed); return how many."""
    count = 0
    now = timezone.now()
    with transaction.atomic():
        for subscriber in subscribers:
            Suppression.objects.update_or_create(
                email_hash=email_hash(subscriber.email),
                defaults={"reason": Suppression.Reason.EDITOR, "note": reason[:300]},
            )
            if subscriber.status != Subscriber.Status.SUPPRESSED:
                Subscriber.objects.filter(pk=subscriber.pk).update(
                    status=Subscriber.Status.SUPPRESSED, status_changed_at=now, updated_at=now
                )
                count += 1
    return count


def subscribers_unsuppress(*, subscribers: Iterable[Subscriber]) -> int:
    """Lift the suppression. The reader goes back to where their own choices left
    them: active if they confirmed and never unsubscribed, unsubscribed if they did,
    else pending (never subscribed by an editor's click)."""
    count = 0
    now = timezone.now()
    with transaction.atomic():
        for subscriber in subscribers:
            Suppression.objects.filter(email_hash=email_hash(subscriber.email)).delete()
            if subscriber.status != Subscriber.Status.SUPPRESSED:
                continue
            if subscriber.unsubscribed_at:
                status = Subscriber.Status.UNSUBSCRIBED
            elif subscriber.confirmed_at:
                status = Subscriber.Status.ACTIVE
            else:
                status = Subscriber.Status.PENDING
            Subscriber.objects.filter(pk=subscriber.pk).update(
                status=status, status_changed_at=now, updated_at=now
            )
            count += 1
    return count


def subscribers_confirmation_resend(*, subscribers: Iterable[Subscriber]) -> int:
    """Send the confirmation email again to pending readers (at most once per
    address per SUBSCRIBE_EMAIL_WINDOW_SECONDS, like the subscribe form)."""
    now = timezone.now()
    count = 0
    with transaction.atomic():
        for subscriber in subscribers:
            if subscriber.status == Subscriber.Status.PENDING:
                _journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now)
                count += 1
    return count
