"""What editors do to subscribers from the admin (STYLE.md: admin actions call one
service). Consent events stay in subscribers/services.py; these are the editors'
own decisions, recorded in the admin's log with their reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from .consent import consent_record
from .models import ConsentRecord, RetiredToken, Subscriber, Suppression, token_new
from .services import EMAIL_CONFIRM, journey_email_queue
from .suppression import KEPT_FROM_EDITORS, address_suppress, address_unsuppress, suppressions_of


def subscribers_suppress(*, subscribers: Iterable[Subscriber], reason: str) -> int:
    """Never mail these addresses again (until unsuppressed); return how many
    readers this suppressed."""
    count = 0
    with transaction.atomic():
        for subscriber in subscribers:
            address_suppress(
                email=subscriber.email, reason=Suppression.Reason.EDITOR, note=reason, replace=True
            )
            count += subscriber.status != Subscriber.Status.SUPPRESSED
    return count


@dataclass(frozen=True)
class Unsuppression:
    lifted: int  # suppressed readers given back their own state
    kept: list[Subscriber]  # readers whose suppression no editor lifts (a spam complaint)


def subscribers_unsuppress(*, subscribers: Iterable[Subscriber]) -> Unsuppression:
    """Lift the suppression (subscribers/suppression.py, address_unsuppress) of each
    reader but those whose suppression no editor lifts (KEPT_FROM_EDITORS), which
    stay suppressed."""
    subscribers = list(subscribers)
    rows = suppressions_of(s.email for s in subscribers)
    kept = [s for s in subscribers if s.email in rows and rows[s.email].reason in KEPT_FROM_EDITORS]
    count = 0
    with transaction.atomic():
        for subscriber in subscribers:
            if subscriber not in kept:
                address_unsuppress(email=subscriber.email)
                count += subscriber.status == Subscriber.Status.SUPPRESSED
    return Unsuppression(lifted=count, kept=kept)


@dataclass(frozen=True)
class ConfirmationResend:
    queued: int  # pending readers whose email is queued
    held: int  # pending readers sent one within the window: nothing now
    not_pending: int  # selected readers who are not waiting for confirmation


def subscribers_links_revoke(*, subscribers: Iterable[Subscriber]) -> int:
    """A new secret for each reader (models.token_new): every link signed with the
    old one (manage, view in browser, votes, confirmation) stops working, but for
    the unsubscribe links of the emails already sent (models.RetiredToken), which
    still unsubscribe and do nothing else. Returns how many readers."""
    with transaction.atomic():
        current = list(Subscriber.objects.filter(pk__in=[s.pk for s in subscribers]).values_list("pk", "token"))
        RetiredToken.objects.bulk_create(RetiredToken(subscriber_id=pk, token=token) for pk, token in current)
        for pk, _ in current:
            Subscriber.objects.filter(pk=pk).update(token=token_new())
    return len(current)


def subscribers_confirmation_resend(*, subscribers: Iterable[Subscriber]) -> ConfirmationResend:
    """Send the confirmation email again to pending readers (at most once per
    address per SUBSCRIBE_EMAIL_WINDOW_SECONDS, like the subscribe form), and say
    how many were queued, held back by that window, or not pending."""
    now = timezone.now()
    counts = {True: 0, False: 0}
    not_pending = 0
    with transaction.atomic():
        for subscriber in subscribers:
            if subscriber.status == Subscriber.Status.PENDING:
                counts[journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now)] += 1
            else:
                not_pending += 1
    return ConfirmationResend(queued=counts[True], held=counts[False], not_pending=not_pending)


def subscriber_added_by_editor(*, subscriber: Subscriber, editor: str) -> None:
    """A reader an editor typed in the admin (saved, with their topics): waiting for
    confirmation, like one from the form or an import without prior consent, with
    a consent record naming the editor, and the confirmation email on its way. An
    editor cannot make anyone a recipient by hand; until 5 December "Active" in the
    add form mailed the next digest to an address that never confirmed."""
    now = timezone.now()
    Subscriber.objects.filter(pk=subscriber.pk).update(
        status=Subscriber.Status.PENDING, source=Subscriber.Source.ADMIN, confirmed_at=None, status_changed_at=now)
    subscriber.refresh_from_db()
    consent_record(
        subscriber=subscriber, action=ConsentRecord.Action.SUBSCRIBE, ip=None, user_agent="",
        source=Subscriber.Source.ADMIN,
        detail={"added_by": editor, "topics": sorted(t.slug for t in subscriber.topics.all())},
    )
    journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now)
