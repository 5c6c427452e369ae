"""Views parse the request and call one service (subscribers/services.py).

Token views are csrf_exempt: they carry no ambient authority (no session, no
login); the signed token in the URL is the credential, and anyone who could
forge the POST would need that token already. Exempting them also means no
cookie is needed or set, which RFC 8058's one-click POST requires."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from redis import RedisError

from newsletter.due import next_digest

from . import services
from .addresses import email_display, email_masked
from .forms import (
    EmailChangeForm,
    LinksRequestForm,
    PauseForm,
    PreferencesFields,
    PreferencesForm,
    SubscribeForm,
)
from .links import button_only, link_invalid, subscriber_view, unsubscribe_view
from .models import ConsentRecord, Subscriber
from .suppression import KEPT_FROM_EDITORS, suppression_reason_of
from .throttling import client_ip, rate_limited_response
from .tokens import (
    CONFIRM_LINK_MAX_AGE,
    EMAIL_CHANGE_LINK_MAX_AGE,
    TokenProblem,
    subscriber_from_confirm_token,
    subscriber_from_email_change_token,
    subscriber_manage_url,
    subscriber_unsubscribe_url,
)

# The subscribe form when the confirmation email cannot be queued (the same words
# for every address: nothing tells whether it was subscribed already).
QUEUE_AWAY_MESSAGE = (
    "We could not send your confirmation email just now. Your choices are still in the "
    "form below: please send it again in a few minutes."
)
QUEUE_AWAY_RETRY_SECONDS = 120
# The preference centre's title after each of its buttons (manage.html's messages say the rest).
DONE_TITLES = {
    "saved": "Saved", "paused": "Paused", "resumed": "Digests on again", "resubscribed": "Subscribed again",
    "export-sent": "Your data is on its way", "export-recent": "Your data was sent already",
    "export-failed": "Your data was not sent", "export-unmailable": "Your data was not sent",
    # "Forget all of this" (newsletter/archive_views.py: feedback_reset; its message is
    # in _learned_preferences.html).
    "learned_reset": "Votes forgotten",
    "address-asked": "Check your new inbox",
}


def _origin(request: HttpRequest) -> dict:
    return {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
        "source": Subscriber.Source.FORM,
    }


def _see_other(url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(url, status=303)


# "Check your inbox" names the address the email went to, so a reader sees a typo
# there and then; it travels in a short-lived signed cookie scoped to that page's
# path, never in the URL (history, access logs). The page is the same for every
# address but for echoing what this browser typed, so it tells nothing new.
ASKED_COOKIE = "asked"
ASKED_SALT = "subscribers.asked-address"
# A browser drops a cookie over 4,096 bytes, and with it the address the page echoes:
# choices whose JSON is longer (500-character keywords in a script JSON escapes six
# characters a letter) are not kept.
ASKED_COOKIE_MAX_CHARS = 3000
# The address typed in a cached page's field (subscribe_start), on its way to the form
# the same way: the form is then a page of its own (GET), which Back can show again.
START_COOKIE = "start"
START_SALT = "subscribers.start-address"


def _done_for(url: str, email: str, choices: dict | None = None) -> HttpResponseRedirect:
    """To the "check your inbox" page at `url`, with what this browser asked for in a
    signed cookie only that page (and its "type it again") reads: the address, and the
    subscribe form's other choices."""
    value = json.dumps({"email": email, "choices": choices or {}})
    if len(value) > ASKED_COOKIE_MAX_CHARS:  # long keywords in another script: the address alone
        value = json.dumps({"email": email, "choices": {}})
    return _see_other_with(url, ASKED_COOKIE, value, salt=ASKED_SALT)


def _see_other_with(url: str, cookie: str, value: str, *, salt: str) -> HttpResponseRedirect:
    """To `url`, with `value` in a short-lived signed cookie only that path reads."""
    response = _see_other(url)
    response.set_signed_cookie(
        cookie, value, salt=salt, max_age=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS,
        path=url, secure=settings.SESSION_COOKIE_SECURE, httponly=True, samesite="Strict",
    )
    return response


def _asked(request: HttpRequest) -> tuple[str, dict]:
    """The address as the reader wrote it (Chromium sends an internationalised domain
    IDNA-encoded) and their other choices, from _done_for's cookie. A cookie of the
    release before holds the address alone."""
    raw = request.get_signed_cookie(ASKED_COOKIE, default="", salt=ASKED_SALT,
                                    max_age=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS)
    try:
        asked = json.loads(raw)
    except ValueError:
        asked = {"email": raw}
    if not isinstance(asked, dict):
        asked = {"email": raw}
    choices = asked.get("choices")
    return email_display(str(asked.get("email") or "")), choices if isinstance(choices, dict) else {}


def _choices_kept(data: dict) -> dict:
    """The subscribe form's choices besides the address (its PreferencesFields), as
    its initial values: the topics by key."""
    choices = {name: data[name] for name in PreferencesFields.base_fields}
    choices["topics"] = [topic.pk for topic in data["topics"]]
    return choices


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        # The address from a cached page's field (subscribe_start's cookie), or from a
        # link of the old kind (/subscribe/?email=…): filled in, nothing validated yet.
        started = request.get_signed_cookie(START_COOKIE, default="", salt=START_SALT,
                                            max_age=settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS)
        form = SubscribeForm(initial={"email": (request.GET.get("email", "") or started)[:254]})
    else:
        form = SubscribeForm(data=request.POST)
    if request.method == "POST":
        done = _see_other(reverse("subscribers:subscribe_done"))
        if form.is_bot():
            # Look like success, do nothing: a bot learns nothing to adapt to.
            return done
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.subscriber_subscribe_request(
                    email=data["email"], topics=data["topics"], keywords=data["keywords"],
                    exclude_keywords=data["exclude_keywords"], frequency=data["frequency"],
                    weekday=data["weekday"], delivery_hour=data["delivery_hour"],
                    time_zone=data["time_zone"], consent_shown=form.consent_version_posted(),
                    **_origin(request),
                )
            except services.SubscribeRateLimited:
                return rate_limited_response(
                    template_name="subscribers/rate_limited.html",
                    retry_after=settings.SUBSCRIBE_RATE_WINDOW_SECONDS,
                )
            except ValidationError as exc:
                form.add_error(None if hasattr(exc, "error_dict") else "email", exc)
            except (services.JourneyEmailNotQueued, RedisError):
                # Redis (the email queue and the rate limits) is away: say so, keep
                # what they filled in, and nothing holds back their next try.
                form.add_error(None, QUEUE_AWAY_MESSAGE)
                response = render(request, "subscribers/subscribe.html", {"form": form}, status=503)
                response["Retry-After"] = str(QUEUE_AWAY_RETRY_SECONDS)
                return response
            else:
                # The same redirect for every address, whatever its state: no
                # enumeration (the page behind it holds no form and no token).
                return _done_for(done.url, data["email"], _choices_kept(data))
    return render(request, "subscribers/subscribe.html", {"form": form}, status=400 if form.errors else 200)


@csrf_exempt  # it changes nothing: it only fills the form in (a cached page posts it, with no token)
@never_cache
@require_http_methods(["GET", "POST"])
def subscribe_start(request: HttpRequest) -> HttpResponse:
    """The first step from a page served from the public cache: its address field
    posts here and is sent on to the whole form, which gets the address in a cookie
    (START_COOKIE) and fills it in. It was a GET (/subscribe/?email=…), which put the
    address in the browser's history and in any access log (a phone walkthrough);
    then the form was this POST's answer, kept from every store, so Back from "Check
    your inbox" led to Chrome's "Confirm Form Resubmission" (ERR_CACHE_MISS) and the
    form was gone. Opened as a link: the form."""
    subscribe_url = reverse("subscribers:subscribe")
    if request.method == "GET":
        return _see_other(subscribe_url)
    return _see_other_with(subscribe_url, START_COOKIE, request.POST.get("email", "")[:254], salt=START_SALT)


# links_sent's query string after the used confirm link's button (confirm_links):
# the reader typed no address, so the page speaks of the one the link was sent to.
LINKS_SENT_BY_LINK = "by=link"


def _check_your_inbox(request: HttpRequest, *, links: bool, by_link: bool = False) -> HttpResponse:
    # The page is the same whatever happened (no enumeration), so it says exactly
    # what may have happened: one email per address per window, not more.
    window_minutes = max(1, settings.SUBSCRIBE_EMAIL_WINDOW_SECONDS // 60)
    return render(request, "subscribers/subscribe_done.html", {
        "window_minutes": window_minutes, "links": links, "by_link": by_link,
        "asked": "" if by_link else _asked(request)[0], "confirm_days": CONFIRM_LINK_MAX_AGE.days,
    })


@never_cache  # it reads this browser's cookie
@require_GET
def subscribe_done(request: HttpRequest) -> HttpResponse:
    return _check_your_inbox(request, links=False)


@never_cache  # it reads this browser's cookie
@require_GET
def subscribe_again(request: HttpRequest) -> HttpResponse:
    """"Not your address? Type it again": the subscribe form with the topics, keywords
    and schedule this browser just chose, and the address empty. It was a blank form
    (a newcomer's walkthrough). Under the "check your inbox" page's path, so it gets
    that page's cookie (_done_for); without it, the plain form."""
    _, choices = _asked(request)
    if not choices:
        return _see_other(reverse("subscribers:subscribe"))
    return render(request, "subscribers/subscribe.html", {"form": SubscribeForm(initial=choices)})


def _links_rate_limited() -> HttpResponse:
    """The 429 of a request for one's links (the form, the used confirm link's button).
    Its own words: the subscribe form's spoke of subscribe requests and a confirmation email."""
    return rate_limited_response(
        template_name="subscribers/rate_limited_links.html",
        retry_after=settings.SUBSCRIBE_RATE_WINDOW_SECONDS,
    )


def _links_request_context(form: LinksRequestForm) -> dict:
    # The data of an address we stopped sending to is erased after this many days
    # (services.subscribers_left_erase): what a reader whose mail bounces can expect.
    return {"form": form, "left_kept_days": settings.UNSUBSCRIBED_KEPT_DAYS}


@require_http_methods(["GET", "POST"])
def links_request(request: HttpRequest) -> HttpResponse:
    """"Lost your link?": an address in, the same page out whatever it is
    (services.subscriber_links_request); the link goes to the address only."""
    form = LinksRequestForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if not form.is_bot():
            try:
                services.subscriber_links_request(email=form.cleaned_data["email"], ip=client_ip(request))
            except services.SubscribeRateLimited:
                return _links_rate_limited()
            except (services.JourneyEmailNotQueued, RedisError):
                form.add_error(None, "We could not send the email just now. Please try again in a few minutes.")
                response = render(request, "subscribers/links_request.html", _links_request_context(form), status=503)
                response["Retry-After"] = str(QUEUE_AWAY_RETRY_SECONDS)
                return response
            return _done_for(reverse("subscribers:links_sent"), form.cleaned_data["email"])
        return _see_other(reverse("subscribers:links_sent"))
    return render(request, "subscribers/links_request.html", _links_request_context(form), status=400 if form.errors else 200)


@never_cache
@require_GET
def links_sent(request: HttpRequest) -> HttpResponse:
    return _check_your_inbox(request, links=True, by_link=request.GET.urlencode() == LINKS_SENT_BY_LINK)


def _confirm_link_checked(request: HttpRequest, token: str) -> Subscriber | HttpResponse:
    """The subscriber a confirm link names, or the page a link that names nobody (or
    has expired for a reader it would still confirm) gets."""
    found = subscriber_from_confirm_token(token=token, expired_too=True)
    if isinstance(found, TokenProblem):
        return link_invalid(request, expired=found is TokenProblem.EXPIRED, gone=found is TokenProblem.GONE)
    if found.confirm_link_expired:
        # It confirms nothing. "This link has expired … Subscribe again and we'll send
        # you a fresh one" is for a reader it would still confirm; one subscribed (or
        # gone) since, who found the old email, was sent to subscribe again.
        if services.subscriber_confirmable(subscriber=found, request_id=found.confirm_request_id):
            return link_invalid(request, expired=True)
        return _confirm_refused(request, found, token)
    return found


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    # GET only shows a button: link scanners fetch links but do not press buttons.
    found = _confirm_link_checked(request, token)
    if isinstance(found, HttpResponse):
        return found
    # A used link (replayed, forwarded, found in a history) gets a neutral page: the
    # never-expiring manage link is shown once, to whoever confirmed, and otherwise
    # only arrives by email.
    if request.method == "GET":
        if not services.subscriber_confirmable(subscriber=found, request_id=found.confirm_request_id):
            return _confirm_refused(request, found, token)
        return render(request, "subscribers/confirm.html", {"subscriber": found})
    if not services.subscriber_confirm(subscriber=found, **_origin(request)):
        found.refresh_from_db()
        return _confirm_refused(request, found, token)
    found.refresh_from_db()
    return render(
        request, "subscribers/confirmed.html",
        {"subscriber": found, "manage_url": subscriber_manage_url(subscriber=found),
         "next_digest": next_digest(subscriber=found),
         # A reader coming back (they had digests before) gets their next one, not a first.
         "returning": found.deliveries.filter(status="sent").exists()},
    )


# Not csrf_exempt, unlike the token views: it sends an email, and a page elsewhere
# that knew the link must not press it for the reader. The used-link page's form
# carries the token (the confirm view renders it; exempt views still set the cookie).
@never_cache
@require_http_methods(["POST"])
def confirm_links(request: HttpRequest, token: str) -> HttpResponse:
    """The used-link page's "Email me a link to my preferences": the "email me my
    link" form's service, limits and pages for the address the link names, without
    asking the reader to type it. The link's checks are confirm's."""
    found = _confirm_link_checked(request, token)
    if isinstance(found, HttpResponse):
        return found
    if services.subscriber_confirmable(subscriber=found, request_id=found.confirm_request_id):
        return _see_other(reverse("subscribers:confirm", args=[token]))  # not used: it confirms
    if found.status == Subscriber.Status.SUPPRESSED:
        return _confirm_refused(request, found, token)
    try:
        services.subscriber_links_request(email=found.email, ip=client_ip(request))
    except services.SubscribeRateLimited:
        return _links_rate_limited()
    except (services.JourneyEmailNotQueued, RedisError):
        response = render(request, "subscribers/confirm_used.html", {
            "unsubscribed": found.status == Subscriber.Status.UNSUBSCRIBED, "token": token,
            "error": "We could not send the email just now. Please try again in a few minutes.",
        }, status=503)
        response["Retry-After"] = str(QUEUE_AWAY_RETRY_SECONDS)
        return response
    # The form's "check your inbox", without the address (the page names nobody),
    # in words for a reader who typed none.
    return _see_other(f"{reverse('subscribers:links_sent')}?{LINKS_SENT_BY_LINK}")


def _confirm_refused(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The confirm link confirms nothing now. A suppressed address (its confirmation
    bounced, was reported as spam, or an editor stopped it) is told so, and why: the
    "already used" page told them nothing more was needed, and no digest ever came.
    The signed link reaches only the address's mailbox, so this tells no stranger
    whether an address is on the list (the public forms still say nothing of it)."""
    if subscriber.status == Subscriber.Status.SUPPRESSED:
        return render(request, "subscribers/confirm_suppressed.html", {
            "subscriber": subscriber, "reason": suppression_reason_of(subscriber.email),
        })
    # Unsubscribed since: the page said "needs nothing more … the first comes at the
    # time you chose" to a reader who gets nothing; it says how to come back.
    return render(request, "subscribers/confirm_used.html",
                  {"unsubscribed": subscriber.status == Subscriber.Status.UNSUBSCRIBED, "token": token})


def _manage_context(subscriber: Subscriber, **extra) -> dict:
    return {
        "subscriber": subscriber,
        "manage_url": subscriber_manage_url(subscriber=subscriber),
        "unsubscribe_url": subscriber_unsubscribe_url(subscriber=subscriber),
        **extra,
    }


@never_cache
@require_http_methods(["GET", "POST"])
@subscriber_view
def manage(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    if request.method == "POST" and _suppressed_for_good(subscriber):
        # Its page offers no digest settings (_manage_page, data_only): nothing is saved.
        return _see_other(request.path)
    form = PreferencesForm.for_subscriber(
        subscriber, data=request.POST if request.method == "POST" else None
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        topics = data.pop("topics")
        services.subscriber_preferences_update(
            subscriber=subscriber, topics=topics, **data, **_origin(request)
        )
        return _see_other(f"{request.path}?done=saved")
    # What the last step did, said on the page it led to; not above a form sent back
    # with errors (it is posted to that same address).
    done = request.GET.get("done", "") if request.method == "GET" else ""
    return _manage_page(request, subscriber, form=form, done=done)


def _suppressed_for_good(subscriber: Subscriber) -> str:
    """The reason of the reader's suppression when it is one nobody lifts
    (KEPT_FROM_EDITORS: a spam complaint), so no digest ever goes to them again;
    else "". A bounce or an editor's suppression may be lifted by an editor, and the
    reader's settings then apply (test_a_reader_who_gets_no_digests_is_not_promised_a_next_one_when_they_save)."""
    if subscriber.status != Subscriber.Status.SUPPRESSED:
        return ""
    reason = suppression_reason_of(subscriber.email)
    return reason if reason in KEPT_FROM_EDITORS else ""


def _manage_page(request: HttpRequest, subscriber: Subscriber, *, form: PreferencesForm | None = None,
                 change_form: EmailChangeForm | None = None, done: str = "", status: int | None = None) -> HttpResponse:
    """The preference centre, with whichever of its forms was sent back with errors.
    For an address no digest goes to again (_suppressed_for_good), its reader's data
    only (export, delete): the link a reader who complained gets by asking for it
    (services.subscriber_links_send) opens it, and settings for digests that never
    come, or moving them to another address, are not offered."""
    form = form or PreferencesForm.for_subscriber(subscriber)
    change_form = change_form or EmailChangeForm()
    suppression_reason = _suppressed_for_good(subscriber)
    return render(
        request, "subscribers/manage.html",
        _manage_context(subscriber, form=form, change_form=change_form, done=done, done_title=DONE_TITLES.get(done),
                        data_only=bool(suppression_reason), suppression_reason=suppression_reason,
                        left_kept_days=settings.UNSUBSCRIBED_KEPT_DAYS,
                        next_digest=next_digest(subscriber=subscriber),
                        export_minutes=services.EXPORT_WINDOW_SECONDS // 60,
                        email_changeable=subscriber.status in services.EMAIL_CHANGEABLE,
                        change_days=EMAIL_CHANGE_LINK_MAX_AGE.days),
        status=status or (400 if form.errors or change_form.errors else 200),
    )


def _manage_done(token: str, done: str) -> str:
    """The preference centre saying what a button did; nothing when it did nothing (a
    page left open from before the reader unsubscribed, or was suppressed, still has
    Pause and "Resume now": their flash would contradict the status under it)."""
    return reverse("subscribers:manage", args=[token]) + (f"?done={done}" if done else "")


@button_only("subscribers:manage")
@subscriber_view
def pause(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    form = PauseForm(data=request.POST)
    if form.is_valid():
        subscriber = services.subscriber_pause(
            subscriber=subscriber, weeks=form.cleaned_data["weeks"], **_origin(request)
        )
    return _see_other(_manage_done(token, "paused" if subscriber.status == Subscriber.Status.PAUSED else ""))


@button_only("subscribers:manage")
@subscriber_view
def resume(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    subscriber = services.subscriber_resume(subscriber=subscriber, **_origin(request))
    return _see_other(_manage_done(token, "resumed" if subscriber.status == Subscriber.Status.ACTIVE else ""))


@button_only("subscribers:manage")
@subscriber_view
def export(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The reader's data goes to their address, not to whoever holds the link
    (services.subscriber_export_send)."""
    try:
        done = "export-sent" if services.subscriber_export_send(subscriber=subscriber) else "export-recent"
    except (services.JourneyEmailNotQueued, RedisError):
        done = "export-failed"
    except services.AddressUnmailable:
        done = "export-unmailable"
    return _see_other(reverse("subscribers:manage", args=[token]) + f"?done={done}#your-data")


@button_only("subscribers:manage")
@subscriber_view
def email_change_request(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The preference centre's "Change my address": a link to the new address
    (services.subscriber_email_change_request), and the same page after it whatever
    that address is."""
    change_form = EmailChangeForm(data=request.POST)
    if change_form.is_valid():
        try:
            services.subscriber_email_change_request(
                subscriber=subscriber, email=change_form.cleaned_data["email"], ip=client_ip(request))
        except services.SubscribeRateLimited:
            return rate_limited_response(template_name="subscribers/rate_limited_email_change.html",
                                         retry_after=settings.SUBSCRIBE_RATE_WINDOW_SECONDS)
        except ValidationError as exc:
            change_form.add_error(None if hasattr(exc, "error_dict") else "email", exc)
        except (services.JourneyEmailNotQueued, RedisError):
            change_form.add_error(None, "We could not send the email just now. Please try again in a few minutes.")
            response = _manage_page(request, subscriber, change_form=change_form, status=503)
            response["Retry-After"] = str(QUEUE_AWAY_RETRY_SECONDS)
            return response
        else:
            # Nothing is asked for a reader whose address cannot change (suppressed,
            # pending: their page has no such form): no "Check your new inbox".
            asked = subscriber.status in services.EMAIL_CHANGEABLE
            return _see_other(_manage_done(token, "address-asked") + "#address" if asked
                              else _manage_done(token, ""))
    return _manage_page(request, subscriber, change_form=change_form)


@csrf_exempt  # the signed link is the credential, as for confirm
@never_cache
@require_http_methods(["GET", "POST"])
def email_change(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to the new address. GET shows what it would do and a button
    (link scanners fetch links, they do not press buttons); the button's POST proves
    the address is theirs and asks the current address to approve
    (services.subscriber_email_change_confirm). A link that cannot be used says why:
    only the new address's inbox holds it, and its email said the same already."""
    return _email_change_page(request, token, approval=False)


@csrf_exempt  # the signed link is the credential, as for confirm
@never_cache
@require_http_methods(["GET", "POST"])
def email_change_approve(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to the current address once the new one confirmed: GET asks,
    the button's POST moves the subscription (services.subscriber_email_change_approve)."""
    return _email_change_page(request, token, approval=True)


def _email_change_page(request: HttpRequest, token: str, *, approval: bool) -> HttpResponse:
    found = subscriber_from_email_change_token(token=token, approval=approval)
    if isinstance(found, TokenProblem):
        return link_invalid(request, expired=found is TokenProblem.EXPIRED, gone=found is TokenProblem.GONE,
                            email_change=True)
    new_email = email_display((found.email_change or {}).get("to", ""))
    if request.method == "GET":
        outcome = services.email_change_state(subscriber=found, change_id=found.email_change_id, approval=approval)
    elif approval:
        outcome = services.subscriber_email_change_approve(
            subscriber=found, change_id=found.email_change_id, **_origin(request))
        found.refresh_from_db()
    else:
        outcome = services.subscriber_email_change_confirm(subscriber=found, change_id=found.email_change_id)
    if outcome is services.EmailChange.EXPIRED:  # the change it names is older than its links
        return link_invalid(request, expired=True, email_change=True)
    return render(request, "subscribers/email_change.html", {
        "subscriber": found, "new_email": new_email, "new_masked": email_masked(new_email),
        "approval": approval, "state": outcome.value if outcome else "ask",
        "manage_url": subscriber_manage_url(subscriber=found),
    })


@never_cache
@require_http_methods(["GET", "POST"])
@subscriber_view
def delete(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    if request.method == "GET":
        return render(request, "subscribers/delete.html", _manage_context(subscriber))
    services.subscriber_delete(subscriber=subscriber)
    return render(request, "subscribers/deleted.html")


@never_cache
@require_http_methods(["GET", "POST"])
@unsubscribe_view
def unsubscribe(request: HttpRequest, subscriber: Subscriber, token: str, retired: bool) -> HttpResponse:
    """GET: a page with a one-click button. POST: RFC 8058 one-click (a mail client
    posting `List-Unsubscribe=One-Click`) or that button. Either takes effect at
    once, is idempotent, answers 200 and never redirects. A link of a secret replaced
    since (`retired`: by this unsubscribe too) unsubscribes too, and its page offers
    nothing else: no preference centre, no resubscribe (links.unsubscribe_view)."""
    changed = False
    if request.method == "POST":
        from_page = request.POST.get("from_page") == "1"
        origin = _origin(request)
        if not from_page:  # the mail client's button (RFC 8058), not our page's
            origin["source"] = ConsentRecord.Source.MAIL_CLIENT
        changed = services.subscriber_unsubscribe(
            subscriber=subscriber, one_click=not from_page, notify=from_page, **origin
        )
        subscriber.refresh_from_db()
        # Leaving replaced the reader's secret (tokens.py): this link is an old email's
        # now, and the page answers whoever pressed it, who may not be the reader: it
        # carries no link made from the new secret (the goodbye email does).
        retired = retired or changed
    if retired:
        context = {"subscriber": subscriber, "just_now": changed, "retired": True}
    else:
        context = _manage_context(subscriber, just_now=changed)
    return render(request, "subscribers/unsubscribe.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@subscriber_view(resubscribe=True)
def resubscribe(request: HttpRequest, subscriber: Subscriber, token: str) -> HttpResponse:
    """The goodbye email's "Resubscribe" link. GET (a link scanner, or the reader
    days later) changes nothing: it shows the button, or, to a reader subscribed
    again since, says so (it led to the unsubscribe page, whose one button is
    "Unsubscribe"). The button's POST resubscribes."""
    if request.method == "POST":
        subscriber = services.subscriber_resubscribe(subscriber=subscriber, **_origin(request))
        # "Subscribed again" only when they are: a suppressed address stays where it
        # is (the data-only page said "Welcome back!" to a reader who had complained).
        resubscribed = subscriber.status in (Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED)
        return _see_other(_manage_done(token, "resubscribed" if resubscribed else ""))
    return render(request, "subscribers/resubscribe.html", _manage_context(subscriber))


