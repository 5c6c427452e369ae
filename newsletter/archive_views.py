"""The web archive and the pages behind signed links in the digest (view in
browser, feedback). Views parse the request and call newsletter/archive.py or
newsletter/feedback.py.

The feedback and reset POSTs are csrf_exempt, like the token views in
subscribers/views.py: they carry no ambient authority (no session, no login), the
signed token in the URL is the credential, and whoever could forge the POST would
need that token already. It also means a click from an email works in a browser
that has never been to the site (no CSRF cookie yet)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from config.two_factor import staff_verified
from subscribers.links import button_only, link_invalid, subscriber_view

from . import archive
from . import feedback as reader_feedback
from .digest import COPY_PERIOD, digest_headings, late_label, week_span
from .editions import LATE_WITHIN_DAYS, listed_late, note_html
from .page_cache import public_page
from .views import ABSTRACT_SHORT_CHARS

EDITIONS_PER_PAGE = 30


def _noindex(response: HttpResponse) -> HttpResponse:
    """Personal pages stay out of search engines even when a link leaks."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
@public_page(tags=lambda: ["editions"], query=["page"])
def edition_list(request: HttpRequest) -> HttpResponse:
    asked = request.GET.getlist("page")
    page = Paginator(archive.edition_list_published(), EDITIONS_PER_PAGE).get_page(asked[-1] if asked else None)
    # One address per page: ?page=anything rendered page 1 and was stored as a page of
    # its own for an hour, two cache entries a request (a hostile tester filled Redis,
    # the broker's too, with 200 of them). Other spellings are sent to it (not stored),
    # the parameter given twice too (?page=x&page=2 was page 2, stored again).
    canonical = None if page.number == 1 else str(page.number)
    if asked and asked != [canonical]:
        return HttpResponseRedirect(request.path + (f"?page={canonical}" if canonical else ""))
    return render(request, "newsletter/edition_list.html", {"page": page, "topics": archive.topic_list_with_feeds()})


@require_safe
@public_page(tags=lambda: ["feeds"])
def feed_list(request: HttpRequest) -> HttpResponse:
    """The feeds, for a person: each feed's address to copy into a feed reader. The
    site's "Atom feed" links opened the raw XML, which a phone shows as a wall of
    markup (a phone walkthrough); the feeds themselves stay where readers find them
    (the pages' <link rel="alternate">)."""
    feeds = [("all", "All papers", "Every trending paper, newest first.", reverse("newsletter_public:feed_papers"))]
    feeds += [(f"topic-{topic.slug}", topic.name, topic.description, reverse("newsletter_public:feed_topic", args=[topic.slug]))
              for topic in archive.topic_list_with_feeds()]
    return render(request, "newsletter/feed_list.html", {"feeds": [
        {"anchor": f"feed-{slug}", "name": name, "about": about, "path": path, "url": request.build_absolute_uri(path)}
        for slug, name, about, path in feeds
    ]})


@require_safe
# An edition holds its date's papers and late ones of lists before, at most
# LATE_WITHIN_DAYS older (editions._late_papers_q): a change to a paper of any of
# those dates renders the page afresh.
@public_page(tags=lambda date: ["editions-published", f"edition:{date}", *(
    f"day:{date - dt.timedelta(days=n)}" for n in range(LATE_WITHIN_DAYS + 1))])
def edition_detail(request: HttpRequest, date: dt.date) -> HttpResponse:
    # Staff may look at an edition before it goes out (a preview); nobody else.
    edition = archive.edition_get(date=date, include_unpublished=staff_verified(request.user))
    if edition is None:
        raise Http404("No edition was sent on this date.")
    previous, following = archive.edition_dates_around(edition=edition)
    papers = archive.edition_papers(edition=edition)
    for paper in papers:
        paper.late = late_label(paper, daily_date=edition.date)  # as its email said it
    return render(
        request,
        "newsletter/edition_detail.html",
        {
            "edition": edition,
            "note_html": note_html(edition.note),
            "papers": papers,
            # Papers of lists before, listed after their edition went out
            # (editions._late_papers_q): the page says where they come from, by list.
            "late_papers": sorted((p for p in papers if listed_late(p, edition_date=edition.date)),
                                  key=lambda p: p.trending_date),
            "previous_date": previous,
            "next_date": following,
            "abstract_short_chars": ABSTRACT_SHORT_CHARS,
        },
    )


@never_cache
@require_safe
def delivery_view(request: HttpRequest, token: str) -> HttpResponse:
    delivery = archive.delivery_from_token(token=token)
    if delivery is None:
        # A digest older than the ledger keeps: its page says so, not "the
        # subscription's data was deleted" (a reader still subscribed was told that).
        return link_invalid(request, gone=archive.delivery_token_signed(token),
                            copy_kept_days=settings.LEDGER_KEPT_DAYS if archive.delivery_token_past_ledger(token) else None)
    subscriber = delivery.subscriber
    papers = archive.delivery_papers(delivery=delivery)
    # A weekly digest's copy says so (it read as the day's, "Also trending that day"
    # over papers of the week).
    weekly = archive.delivery_weekly(delivery=delivery)
    # As the email had them: the picks, then the also-trending papers, or on a day
    # nothing matched, the papers offered instead (all one list on rows sent before
    # Delivery.picked was kept). By id: a paper taken down since leaves the list.
    picked_ids = {int(i) for i in delivery.paper_ids[: delivery.picked]} if delivery.picked is not None else None
    picks = [p for p in papers if picked_ids is None or p.pk in picked_ids]
    # Each pick's "why" line, and each closest paper's "closest to …", as the email
    # had them (rows sent before they were kept: none).
    why = dict(zip((int(i) for i in delivery.paper_ids), delivery.reasons or [], strict=False))
    for paper in papers:
        paper.why = why.get(paper.pk, "")
        paper.late = late_label(paper, daily_date=None if weekly else delivery.edition.date)
    for paper in picks:
        # Vote links on the picks only, as in the email (digest.py: also-trending and
        # offered papers carry none): this page is the link readers share, and each
        # vote link on it lets whoever has it vote as the reader. A row sent before
        # Delivery.picked was kept does not say which papers were the picks: none.
        if picked_ids is None:
            continue
        paper.more_url = reader_feedback.feedback_url(subscriber=subscriber, paper=paper, vote=1)
        paper.less_url = reader_feedback.feedback_url(subscriber=subscriber, paper=paper, vote=-1)
    others = [p for p in papers if picked_ids is not None and p.pk not in picked_ids]
    # The email's headings, of a day read since ("that day", not "today").
    headings = digest_headings(period=COPY_PERIOD[weekly], picks=delivery.picked != 0,
                               closest=delivery.picked == 0 and archive.delivery_offered_closest(delivery=delivery))
    # Times on the page (when it was sent) in the reader's own zone.
    with timezone.override(subscriber.zone):
        response = render(
            request,
            "newsletter/edition_delivery.html",
            {
                "delivery": delivery,
                "edition": delivery.edition,
                "note_html": note_html(archive.delivery_note(delivery=delivery)),
                "papers": picks,
                "others": others,
                "picked_title": headings["picked"],
                "also_title": headings["also"],
                "weekly": weekly,
                "week_span": week_span(delivery.edition.date),
                # No manage link on this page nor the vote pages it links to: the "view
                # in browser" link is the one readers share, and the manage link acts as
                # the reader (export, delete, unsubscribe). Their email carries it.
                "abstract_short_chars": ABSTRACT_SHORT_CHARS,
            },
        )
    return _noindex(response)


@csrf_exempt  # the signed token is the credential: module docstring
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def feedback(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows a one-button page: mail scanners and link previews fetch every
    link in an email, and must not vote for the reader. The POST records the vote."""
    asked = reader_feedback.feedback_request_from_token(token=token)
    if asked is None:
        return link_invalid(request, gone=reader_feedback.feedback_token_signed(token))
    if request.method == "POST":
        reader_feedback.feedback_record(
            subscriber=asked.subscriber, paper=asked.paper, vote=asked.vote
        )
        return HttpResponseRedirect(request.path, status=303)
    # The page after the POST, or a second click on the same link: say it is noted.
    current = reader_feedback.feedback_vote_current(subscriber=asked.subscriber, paper=asked.paper)
    recorded = current == asked.vote
    context = {
        "paper": asked.paper,
        "vote": asked.vote,
        "is_less": asked.is_less,
        "recorded": recorded,
        # "Your next digests will show…" is a promise only to a reader who gets them
        # (it was made to one who had unsubscribed).
        # A pause whose day has come is over (Subscriber.status_read).
        "status": asked.subscriber.status_read,
        # After voting, one click changes one's mind.
        "opposite_url": reader_feedback.feedback_url(
            subscriber=asked.subscriber, paper=asked.paper, vote=-asked.vote
        ),
    }
    return _noindex(render(request, "newsletter/feedback_page.html", context))


@button_only("subscribers:manage")
@subscriber_view  # the manage token in the URL is the credential: module docstring
def feedback_reset(request: HttpRequest, subscriber, token: str) -> HttpResponse:
    reader_feedback.feedback_reset(subscriber=subscriber)
    manage = reverse("subscribers:manage", args=[token])
    return HttpResponseRedirect(f"{manage}?done=learned_reset#learned", status=303)
