import hashlib
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from .models import Subscriber, Suppression


def email_hash(email: str) -> str:
    """A keyed hash of a normalised address: what the suppression list keeps, so a
    deleted subscriber's address is not stored but is still never mailed again.
    Keyed with SECRET_KEY so the list cannot be checked against a list of addresses
    by someone holding only a database dump."""
    normalised = email.strip().lower().encode()
    return hashlib.blake2b(normalised, key=settings.SECRET_KEY.encode()[:64], digest_size=32).hexdigest()


def email_is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()


def subscriber_zone(*, subscriber: Subscriber) -> ZoneInfo:
    """The reader's time zone, for showing them times (UTC if it is not a known zone:
    the dispatcher treats such readers as UTC too, newsletter/delivery.py)."""
    try:
        return ZoneInfo(subscriber.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
