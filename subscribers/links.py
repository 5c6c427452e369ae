"""What a signed link from one of our emails does when it is opened: the check of a
subscriber's manage token, in one place for every view behind one (this app's
preference centre, and newsletter's "forget what the digest learned"), and the one
page for a link that does not verify, whichever email it came from."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from .tokens import (
    CONFIRM_LINK_MAX_AGE,
    EMAIL_CHANGE_LINK_MAX_AGE,
    manage_token_signed,
    subscriber_for_unsubscribe,
    subscriber_from_token,
)


def link_invalid(request: HttpRequest, *, expired: bool = False, gone: bool = False,
                 unsubscribe: bool = False, copy_kept_days: int | None = None,
                 resubscribe: bool = False, email_change: bool = False) -> HttpResponse:
    """The one page for a signed link that does not verify, whichever email it came
    from (confirm, manage, unsubscribe; a digest's view-in-browser and feedback links,
    newsletter/archive_views.py): each variant says what happened in one sentence,
    offers one way on, and at most one short line of detail (the footer holds the
    other ways), and stays out of search engines. `gone`: the link is ours and intact, but what it
    opened is no more (the reader's data deleted, the links replaced, the paper taken
    down): it is not called "copied incompletely" (a reader who had just deleted
    their data and pressed an old Unsubscribe was told so, and sent to subscribe).
    `unsubscribe` with it: an unsubscribe link, which a replaced secret still opens
    (RetiredToken), so only a deleted address leads here: it gets nothing more.
    `copy_kept_days` with it: a digest's "view in browser" link older than the
    ledger keeps its digests (newsletter/archive_views.py): the page says the copy
    was deleted after that many days and points to the archive and the preferences,
    whether or not the reader is still subscribed. `resubscribe` with it: the
    goodbye email's link, whose reader's details the retention erased after
    UNSUBSCRIBED_KEPT_DAYS (or newer emails replaced its links): the page says the
    way back is the subscribe form and its confirmation, in the same words either
    way (it tells nothing of the address). `email_change` with `expired`: the link
    mailed to a new address (views.email_change), whose way on is to ask again from
    the preference centre, not to subscribe."""
    response = render(
        request, "subscribers/link_invalid.html",
        {"expired": expired, "gone": gone, "unsubscribe": unsubscribe,
         "copy_kept_days": copy_kept_days if gone else None, "resubscribe": resubscribe and gone,
         "left_kept_days": settings.UNSUBSCRIBED_KEPT_DAYS, "confirm_days": CONFIRM_LINK_MAX_AGE.days,
         "email_change": email_change, "email_change_days": EMAIL_CHANGE_LINK_MAX_AGE.days},
        status=410 if expired or gone else 404,
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def subscriber_view(view=None, *, resubscribe: bool = False):
    """A view behind a subscriber's signed manage token, called as
    view(request, subscriber, token): the token is checked here, once for every such
    view (a forged, cut or revoked one gets `link_invalid`; `resubscribe`, the
    goodbye email's link, its page for that link), and the view is csrf_exempt: the
    token is the credential, and a mail client's one-click POST (RFC 8058) comes
    with no cookie (subscribers/views.py's docstring)."""
    if view is None:
        return lambda view: subscriber_view(view, resubscribe=resubscribe)

    @wraps(view)
    def checked(request: HttpRequest, token: str) -> HttpResponse:
        subscriber = subscriber_from_token(token=token)
        if subscriber is None:
            return link_invalid(request, gone=manage_token_signed(token), resubscribe=resubscribe)
        return view(request, subscriber, token)

    return csrf_exempt(checked)


def unsubscribe_view(view):
    """subscriber_view for the unsubscribe link alone, called as view(request,
    subscriber, token, retired): it also takes a token of a secret replaced since
    the email was sent (tokens.subscriber_for_unsubscribe; `retired` True), as an
    opt-out must keep working, and then the page offers nothing else."""
    @wraps(view)
    def checked(request: HttpRequest, token: str) -> HttpResponse:
        subscriber, retired = subscriber_for_unsubscribe(token=token)
        if subscriber is None:
            return link_invalid(request, gone=manage_token_signed(token), unsubscribe=True)
        return view(request, subscriber, token, retired)

    return csrf_exempt(checked)


def button_only(page: str):
    """For a view one of our pages' buttons posts to (pause, resume, resubscribe,
    forget what the digest learned): opened as a link (GET or HEAD: an address typed
    or pasted, a mail scanner, a bookmark) it changes nothing and sends the visitor to
    `page`, the URL name (taking the same token) of the page that holds the button;
    until 5 December it answered 405 with an empty page. Other methods: 405."""
    def decorate(view):
        @wraps(view)
        def posted_only(request: HttpRequest, token: str) -> HttpResponse:
            if request.method in ("GET", "HEAD"):
                return HttpResponseRedirect(reverse(page, args=[token]), status=303)
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return view(request, token)

        return posted_only

    return decorate
