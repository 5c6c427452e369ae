"""Public pages and the local outbox. Views parse input and call selectors."""

import base64
import datetime as dt
import logging
from functools import wraps

from django.conf import settings
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from config.two_factor import staff_verified

from . import selectors
from .outbox import OUTBOX_EVENTS, outbox_event_record
from .page_cache import public_page
from .pictures import PICTURE_MISSING_SECONDS, PictureUnavailable, picture_get

logger = logging.getLogger(__name__)

# How many recent dates the home page links to: a week of Daily Papers.
RECENT_DATES_SHOWN = 7
OUTBOX_PAGE_SIZE = 50
# An abstract shorter than this fits in the two lines a card shows, so it gets no
# "more" toggle (templates/newsletter/_paper_card.html).
ABSTRACT_SHORT_CHARS = 180


@require_safe
@public_page(tags=lambda: ["dates", "home"])
def home(request):
    return _papers_page(request, date=None)


@require_safe
@public_page(tags=lambda date: ["dates", f"day:{date}"])
def papers_on_date(request, date: dt.date):
    return _papers_page(request, date=date)


def _papers_page(request, *, date: dt.date | None):
    recent = selectors.edition_dates_recent(limit=RECENT_DATES_SHOWN)
    requested = date is not None
    if not requested and recent:
        date = recent[0]
    papers = list(selectors.paper_list_trending(date=date)) if date else []
    if requested and not papers:
        # The home page has an empty state; a date with nothing on it does not exist.
        raise Http404("No papers trended on this date.")
    previous, following = selectors.edition_dates_adjacent(date=date) if date else (None, None)
    return render(
        request,
        "newsletter/home.html",
        {
            "date": date,
            "is_latest": bool(recent) and date == recent[0],
            "papers": papers,
            "recent_dates": recent,
            "previous_date": previous,
            "next_date": following,
            "abstract_short_chars": ABSTRACT_SHORT_CHARS,
            "excerpt_only": True,
        },
    )


@require_safe
@public_page(tags=lambda arxiv_id=None, pk=None, slug="": [f"paper:{arxiv_id or pk}"])
def paper_detail(request, arxiv_id: str | None = None, pk: int | None = None, slug: str = ""):
    """A paper's page: what the digest, the home page, the archive and the feeds link
    to. Any other address of the same paper (old slug, by key although it has an
    arXiv id) redirects to the one get_absolute_url gives."""
    paper = selectors.paper_get_visible(arxiv_id=arxiv_id, pk=pk)
    if paper is None:
        raise Http404("No such paper.")
    if request.path != paper.get_absolute_url():
        # Permanent, for search engines, but kept by browsers a day only: a browser
        # keeps a 301 without a lifetime for good, and an address that changes back
        # (a title an editor edits and then restores, an arXiv id given and taken
        # away) then looped between the two (ERR_TOO_MANY_REDIRECTS) for whoever
        # had followed the first redirect.
        response = redirect(paper.get_absolute_url(), permanent=True)
        patch_cache_control(response, max_age=PAPER_REDIRECT_MAX_AGE)
        return response
    return render(
        request,
        "newsletter/paper_detail.html",
        {"paper": paper, "topic_reasons": selectors.paper_topic_reasons(paper=paper)},
    )


# How long a browser keeps a paper's redirect to its current address (paper_detail).
PAPER_REDIRECT_MAX_AGE = 86400


# A picture's URL names its version (Paper.picture_url): the answer never changes.
PICTURE_MAX_AGE = 365 * 86400


@require_safe
def paper_picture(request, pk: str, version: str, extension: str):
    """A paper's picture, from this site's copy (newsletter/pictures.py): what the
    digests and the pages show, so no reader's client asks Hugging Face for it. An
    older version's URL (the picture changed since the email went out) redirects
    to the current one. A picture that could not be had last time (the pages show
    none) is still asked for here, so a fetch that succeeds brings it back."""
    paper = selectors.paper_picture_get(pk=int(pk))
    if paper is None or not paper.picture_served_url:
        raise Http404("No such picture.")
    if request.path != paper.picture_served_url:
        return redirect(paper.picture_served_url)
    try:
        picture = picture_get(paper)
    except PictureUnavailable as exc:
        logger.warning("picture of paper %s not served: %s", pk, exc)
        response = HttpResponse("This picture cannot be shown now.", status=404, content_type="text/plain")
        patch_cache_control(response, public=True, max_age=PICTURE_MISSING_SECONDS)
        return response
    response = FileResponse(picture.path.open("rb"), content_type=picture.content_type)
    patch_cache_control(response, public=True, max_age=PICTURE_MAX_AGE, immutable=True)
    return response


@require_safe
def favicon(request):
    """/favicon.ico, which browsers and feed readers ask for whatever the page says:
    the site's icon (templates/base.html links the same file)."""
    return HttpResponsePermanentRedirect(staticfiles_storage.url("newsletter/favicon.svg"))


def outbox_recipient(request) -> str | None:
    """Whose emails this request may read in the outbox: "" for all of them (local
    development, or a superuser), an editor's own address (their test sends) for
    other staff, None for nobody. The outbox holds readers' emails, and each carries
    that reader's preference-centre link, which acts as them: like that link in the
    admin, it is a superuser's to see."""
    user = request.user
    if settings.DEBUG or (staff_verified(user) and user.is_superuser):
        return ""
    if staff_verified(user) and user.email:
        return user.email
    return None


def outbox_visible(request) -> bool:
    return outbox_recipient(request) is not None


def _outbox_only(view):
    """The view gets `to`: the recipient its emails are limited to ("" for all)."""
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        to = outbox_recipient(request)
        if to is None:
            raise Http404
        return view(request, *args, to=to, **kwargs)

    return wrapper


@require_safe
@_outbox_only
def outbox_list(request, to: str):
    page = Paginator(selectors.outbox_email_list(to=to), OUTBOX_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "newsletter/outbox_list.html", {"page": page, "only_to": to})


@require_safe
@_outbox_only
def outbox_detail(request, email_id: int, to: str):
    email = selectors.outbox_email_get(email_id=email_id, to=to)
    if email is None:
        raise Http404
    played = request.GET.get("played", "")
    return render(request, "newsletter/outbox_detail.html", {
        "email": email, "events": OUTBOX_EVENTS.items(), "played": OUTBOX_EVENTS.get(played),
        "played_again": bool(request.GET.get("again")),
    })


@require_safe
@_outbox_only
def outbox_attachment(request, email_id: int, n: int, to: str):
    """An outbox email's attachment n, downloaded as a mail client would offer it (the
    data export said "attached" and the outbox showed no attachment: a walkthrough)."""
    email = selectors.outbox_email_get(email_id=email_id, to=to)
    if email is None or not 0 <= n < len(email.attachments or []):
        raise Http404
    attachment = email.attachments[n]
    response = HttpResponse(base64.b64decode(attachment["b64"]), content_type=attachment["mimetype"])
    response["Content-Disposition"] = content_disposition_header(True, attachment["name"])
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "HEAD", "POST"])
@_outbox_only
def outbox_event(request, email_id: int, kind: str, to: str):
    """The outbox page's "play back as bounced / complained" buttons (outbox.py).
    Opened as a link it records nothing and leads to the message."""
    email = selectors.outbox_email_get(email_id=email_id, to=to)
    if email is None or kind not in OUTBOX_EVENTS:
        raise Http404
    detail = reverse("newsletter:outbox_detail", args=[email.pk])
    if request.method != "POST":
        return redirect(detail)
    recorded = outbox_event_record(email=email, kind=kind)
    return HttpResponseRedirect(f"{detail}?played={kind}{'' if recorded else '&again=1'}#events", status=303)


@require_safe
@_outbox_only
def outbox_html(request, email_id: int, to: str):
    """The HTML part on its own, full size. The CSP sandbox runs it in an opaque
    origin with no scripts, so an email cannot act as this site."""
    email = selectors.outbox_email_get(email_id=email_id, to=to)
    if email is None or not email.html_body:
        raise Http404
    response = HttpResponse(email.html_body, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = "sandbox allow-popups allow-popups-to-escape-sandbox"
    return response
