"""The one stored form of an email address, used at every entry point (subscribe
form, import, admin, ESP webhooks, suppression lookups)."""

from __future__ import annotations

import re
import unicodedata

import idna
from django.contrib.admin.decorators import display
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q
from django.db.models.constants import LOOKUP_SEP

from mail.errors import error_describe


def email_normalise(email: str) -> str:
    """Unicode in NFC, the domain lower-cased and IDNA-encoded (user@Bücher.de ->
    user@xn--bcher-kva.de), the local part as given. RFC 5321 lets a server treat
    the local part case-sensitively, so mail goes to it as the reader typed it;
    every comparison is case-insensitive (the unique index
    subscriber_email_ci_unique, `email__iexact` lookups and
    subscribers/suppression.py's `email_hash`), so Ann@x.org and ann@x.org are one
    reader. Raises ValidationError."""
    local, at, domain = unicodedata.normalize("NFC", email.strip()).rpartition("@")
    if not at or not local or not domain.strip().rstrip("."):
        raise ValidationError("Enter a valid email address.", code="invalid")
    try:
        return f"{local}@{domain_normalise(domain)}"
    except ValidationError:
        raise ValidationError("Enter a valid email address.", code="invalid") from None


# Addresses with other letters before the @ (RFC 6531: δοκιμή@example.gr) are real:
# their owners are told why theirs cannot be used, not that it is not an address.
LOCAL_PART_NOT_ASCII = (
    "We can only send to addresses with Latin letters (a–z), digits and . _ - + before the @: "
    "our mail cannot reach other letters there yet. Please use another address."
)


# The longest address mail can go to (RFC 5321's path of 256 with its brackets), and
# Subscriber.email's max_length.
EMAIL_MAX_LENGTH = 254
ADDRESS_TOO_LONG = (
    f"This address is too long for mail once its domain is written in plain letters "
    f"(over {EMAIL_MAX_LENGTH} characters). Please use another address."
)


def email_validate(email: str) -> None:
    """Django's validate_email, saying why when the part before the @ is not ASCII
    (which it refuses, and the ESPs cannot deliver to), and refusing an address
    longer than EMAIL_MAX_LENGTH in its stored form (email_normalise): an
    internationalised domain grows when IDNA-encoded, so one of 217 characters as
    typed became 265, which passed the forms and failed the row's insert.
    Raises ValidationError."""
    local, at, _ = email.strip().rpartition("@")
    if at and local and not local.isascii():
        raise ValidationError(LOCAL_PART_NOT_ASCII, code="invalid")
    validate_email(email)
    if len(email_normalise(email)) > EMAIL_MAX_LENGTH:
        raise ValidationError(ADDRESS_TOO_LONG, code="max_length")


def domain_normalise(domain: str) -> str:
    """A domain in its stored form, as email_normalise stores an address's: NFC,
    no trailing dot, IDNA-encoded, lower-cased. A leading "@" or "*." (how people
    write "every address at") is dropped. Raises ValidationError."""
    domain = unicodedata.normalize("NFC", domain.strip()).removeprefix("@").removeprefix("*.").rstrip(".")
    if not domain or "@" in domain or any(c.isspace() for c in domain):
        raise ValidationError("Enter a domain, like example.com.", code="invalid")
    try:
        return _idna_encode(domain).lower()
    except UnicodeError as exc:
        raise ValidationError("Enter a domain, like example.com.", code="invalid") from exc


def _idna_encode(domain: str) -> str:
    """IDNA 2008 with UTS 46's mapping (the `idna` package), as registries, browsers'
    address bars and mail servers encode a domain: Python's "idna" codec is IDNA 2003,
    which maps faß.de to fass.de (another domain, another owner), ς to σ, and drops
    the zero-width joiners of Persian and Indic names. A name IDNA 2008 refuses
    (an emoji domain, i❤.ws) and an ASCII one are encoded by the codec, as before."""
    if not domain.isascii():
        try:
            return idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError:
            pass
    return domain.encode("idna").decode("ascii")


def email_display(email: str) -> str:
    """An address as its owner wrote it, for people: the stored domain decoded from
    IDNA (user@xn--bcher-kva.de -> user@bücher.de; email_normalise stores the
    encoded form, which mail servers need and nobody recognises as theirs). An
    address whose domain does not decode is shown as stored."""
    local, at, domain = email.rpartition("@")
    if not at or "xn--" not in domain:
        return email
    try:
        return f"{local}@{idna.decode(domain)}"
    except idna.IDNAError:
        try:
            return f"{local}@{domain.encode('ascii').decode('idna')}"  # encoded by IDNA 2003 (_idna_encode)
        except UnicodeError:
            return email


def email_search_term(term: str) -> str:
    """What someone typed to find an address, in the stored spelling: each word's
    internationalised domain, or label of one, IDNA-encoded ("ada@bücher.de" ->
    "ada@xn--bcher-kva.de", "例え" -> "xn--r8jz45g"), so a search of stored
    addresses finds the reader by the address they wrote. A part of a label does not
    encode to a part of its encoding: it finds nobody."""
    def stored(word: str) -> str:
        local, at, domain = word.rpartition("@")
        try:
            return word if word.isascii() else f"{local}{at}{domain_normalise(domain)}"
        except ValidationError:
            return word

    return " ".join(stored(word) for word in term.split())


# Providers that deliver "a.n.n@gmail.com" to "ann@gmail.com".
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def mailbox_key(email: str) -> str:
    """The mailbox an address reaches, for limits on mail to strangers (never for
    sending or storing): lower case, without a "+tag" (most providers deliver
    ann+x@ to ann@), and for Gmail without dots. Each spelling was an address of
    its own for the per-address limit, so one mailbox could be sent 5 emails per
    spelling per window (a hostile tester's pass)."""
    local, _, domain = email.lower().rpartition("@")
    local = _untagged(local)
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


# Providers known to deliver "ann+x@" to "ann@" (subaddressing). Elsewhere a server
# may refuse "ann+x@" as no such user and deliver "ann@" (many a company's or
# university's does): mailbox_key's "+tag" rule is right for limits on mail to a
# stranger, not for a bounce's verdict on the mailbox (mailbox_reached).
_TAG_DELIVERING_DOMAINS = _DOTLESS_DOMAINS | frozenset({
    "outlook.com", "hotmail.com", "live.com", "icloud.com", "me.com", "fastmail.com",
    "proton.me", "protonmail.com",
})


def mailbox_reached(email: str) -> bool:
    """Whether mail to `email` is known to reach its mailbox (mailbox_key): it has
    no "+tag", or its provider delivers tags (_TAG_DELIVERING_DOMAINS; Gmail's dots
    too). What a bounce of it says of the mailbox
    (subscribers/suppression.py, address_suppress)."""
    local, _, domain = email.lower().rpartition("@")
    return _untagged(local) == local or domain in _TAG_DELIVERING_DOMAINS


def _untagged(local: str) -> str:
    """A local part without its "+tag" (a local part that is all tag is kept)."""
    return local.split("+", 1)[0] or local


def mailbox_spellings(email: str, *, field: str = "email") -> Q:
    """A filter on the addresses in `field` that keeps every stored spelling of
    `email`'s mailbox (mailbox_key) and a few others: narrow it with mailbox_key.
    By the domains mailbox_key takes for one and the key's start (its first letter
    where dots do not count), so that a mailbox needs no column of its own.
    Changes with mailbox_key."""
    local, _, domain = mailbox_key(email).rpartition("@")
    dotless = domain in _DOTLESS_DOMAINS
    at = Q()
    for each in sorted(_DOTLESS_DOMAINS if dotless else {domain}):
        at |= Q(**{f"{field}__iendswith": f"@{each}"})
    return at & Q(**{f"{field}__istartswith": local[:1] if dotless else local})


def email_normalise_or_given(text: str) -> str:
    """email_normalise, or the text stripped when it is no address (an ESP may
    report anything as a recipient)."""
    try:
        return email_normalise(text)
    except ValidationError:
        return text.strip()


# Whoever has it sees readers' whole addresses in the admin (superusers have every
# permission); the Editor group does not: editors curate papers and editions and
# watch the ledger, which needs no reader's address (migration 0012).
ADDRESS_PERMISSION = "subscribers.view_subscriber_address"


def email_masked(email: str) -> str:
    """"j…@example.com": enough to tell readers apart on a list and see a domain
    that bounces, not enough to mail or recognise someone."""
    local, at, domain = email_display(email).rpartition("@")
    if not at:
        return "…"
    return f"{local[:1] if len(local) > 2 else ''}…@{domain}"


# An address within a text ("Found inactive addresses: jane@example.com."); quotes,
# brackets and commas end it.
_ADDRESS_IN_TEXT = re.compile(r"[^\s@<>()\[\]{}'\",;:]+@[^\s@<>()\[\]{}'\",;:]+")


def error_describe_masked(exc: BaseException) -> str:
    """mail.errors.error_describe with every address in it masked (email_masked): an
    ESP's refusal names the recipient, and the reason goes to the ledger, which
    editors who see addresses masked read, and to the logs, which hold no address."""
    return _ADDRESS_IN_TEXT.sub(lambda found: email_masked(found.group()), error_describe(exc))


def email_shown_to(user, email: str) -> str:
    """The address as `user` may see it in the admin: whole with ADDRESS_PERMISSION,
    else masked (email_masked)."""
    return email_display(email) if user.has_perm(ADDRESS_PERMISSION) else email_masked(email)


def address_column(user, *, email_of, description: str, ordering: str):
    """An admin list's column of readers' addresses as `user` may see them
    (email_shown_to): ModelAdmin.get_list_display puts it in, since a column's own
    method is given no request. Named "address": its cells' class is field-address.
    Sortable only by those who see addresses whole: a masked column sorted by the
    address places a reader between others (a binary search of their address)."""
    def address(obj) -> str:
        return email_shown_to(user, email_of(obj))

    return display(description=description,
                   ordering=ordering if user.has_perm(ADDRESS_PERMISSION) else None)(address)


def address_lookup_allowed(user, lookup: str) -> bool:
    """Whether an admin list may filter on `lookup` from the address bar for `user`:
    not on the address for those who see it masked (Django allows any lookup on a
    model's own field, and `?email__startswith=ja` answered letter by letter)."""
    return user.has_perm(ADDRESS_PERMISSION) or lookup.split(LOOKUP_SEP)[0] != "email"


def email_exactly(field: str, term: str) -> Q:
    """The admin's search for those who see addresses masked: the one reader of a
    whole address, in any case or spelling of its domain (a support email's "From"),
    never a list of partial matches to page through."""
    return Q(**{f"{field}__iexact": email_normalise_or_given(term)})
