import hashlib
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import Suppression


def email_normalise(email: str) -> str:
    """The one stored form of an address, used at every entry point (subscribe form,
    import, admin, ESP webhooks, suppression lookups): Unicode in NFC, the domain
    lower-cased and IDNA-encoded (user@Bücher.de -> user@xn--bcher-kva.de), the local
    part as given. RFC 5321 lets a server treat the local part case-sensitively, so
    mail goes to it as the reader typed it; every comparison is case-insensitive
    (the unique index subscriber_email_ci_unique, `email__iexact` lookups and
    `email_hash`), so Ann@x.org and ann@x.org are one reader. Raises ValidationError."""
    local, at, domain = unicodedata.normalize("NFC", email.strip()).rpartition("@")
    domain = domain.strip().rstrip(".")
    if not at or not local or not domain:
        raise ValidationError("Enter a valid email address.", code="invalid")
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValidationError("Enter a valid email address.", code="invalid") from exc
    return f"{local}@{domain}"


def email_hash(email: str) -> str:
    """A keyed hash of the address in its compared form (email_normalise, then
    lower-cased whole): what the suppression list keeps, so a deleted subscriber's
    address is not stored but is still never mailed again, whichever spelling of
    the domain a later form, import or bounce uses. Something that is not an
    address (an ESP may report anything) is hashed stripped and lower-cased.
    Keyed with SECRET_KEY so the list cannot be checked against a list of addresses
    by someone holding only a database dump."""
    try:
        compared = email_normalise(email).lower()
    except ValidationError:
        compared = email.strip().lower()
    return hashlib.blake2b(
        compared.encode(), key=settings.SECRET_KEY.encode()[:64], digest_size=32
    ).hexdigest()


def email_is_suppressed(email: str) -> bool:
    return Suppression.objects.filter(email_hash=email_hash(email)).exists()
