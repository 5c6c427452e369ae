"""What editors do to subscribers from the admin (STYLE.md: admin actions call one
service). Consent events stay in subscribers/services.py; these are the editors'
own decisions, recorded in the admin's log with their reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from .consent import consent_record
from .models import ConsentRecord, Subscriber, Suppression
from .services import EMAIL_CONFIRM, journey_email_queue
from .suppression import KEPT_FROM_EDITORS, address_suppress, address_unsuppress, suppressions_of
from .throttling import rate_limit_count, rate_limit_exceeded, rate_limit_take_back
from .tokens import subscriber_links_retire

# The window of EDITOR_CONFIRMATIONS_PER_DAY.
DAY_SECONDS = 24 * 60 * 60


def _confirmations_key(editor: str) -> str:
    """The rate limiter's key of an editor's day of confirmation emails."""
    return f"editor-confirmations:{editor}"


def editor_confirmations_refusal(*, editor: str, count: int) -> str | None:
    """Count `count` confirmation emails the editor `editor` (a user name) is about
    to send to addresses nobody confirmed yet (an import, a reader typed in, a
    resend), or say why not, counting nothing: an editor's account mails at most
    settings.EDITOR_CONFIRMATIONS_PER_DAY such addresses a day. Each email carries
    the topics' names, an editor's words, from the service's own domain: unlimited,
    a stolen editor's account mailed any list of strangers, 10,000 a file (a
    hostile tester's pass). Superusers are not counted: callers ask only for others."""
    key = _confirmations_key(editor)
    # Counted in this process when Redis is away: the emails wait for it anyway.
    if not count or not rate_limit_exceeded(key=key, limit=settings.EDITOR_CONFIRMATIONS_PER_DAY,
                                            window_seconds=DAY_SECONDS, local_when_away=True, hits=count):
        return None
    rate_limit_take_back(key=key, local_when_away=True, hits=count)
    return editor_confirmations_would_refuse(editor=editor, count=count)


def editor_confirmations_would_refuse(*, editor: str, count: int) -> str | None:
    """What editor_confirmations_refusal would say to `count` more emails now, counting
    nothing: an import's check (dry run) says it before the editor presses "Import"."""
    limit = settings.EDITOR_CONFIRMATIONS_PER_DAY
    left = max(0, limit - rate_limit_count(key=_confirmations_key(editor)))
    if count <= left:
        return None
    return (f"That would send {count} confirmation email{pluralize(count)}: an editor mails at most {limit} new "
            f"addresses a day (imports, readers added by hand and resends together), {left} left today; a "
            "superuser can send more.")


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
    mailed: tuple[int, ...] = ()  # the ids of the `queued`


def subscribers_links_revoke(*, subscribers: Iterable[Subscriber]) -> int:
    """"Give selected readers new links" (tokens.subscriber_links_retire). Returns
    how many readers."""
    return subscriber_links_retire(subscriber_ids=[s.pk for s in subscribers])


def subscribers_confirmation_resend(*, subscribers: Iterable[Subscriber]) -> ConfirmationResend:
    """Send the confirmation email again to pending readers (at most once per
    address per SUBSCRIBE_EMAIL_WINDOW_SECONDS, like the subscribe form), and say
    how many were queued, held back by that window, or not pending."""
    now = timezone.now()
    mailed, held, not_pending = [], 0, 0
    with transaction.atomic():
        for subscriber in subscribers:
            if subscriber.status != Subscriber.Status.PENDING:
                not_pending += 1
            elif journey_email_queue(subscriber=subscriber, kind=EMAIL_CONFIRM, now=now):
                mailed.append(subscriber.pk)
            else:
                held += 1
    return ConfirmationResend(queued=len(mailed), held=held, not_pending=not_pending, mailed=tuple(mailed))


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
