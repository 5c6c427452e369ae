"""How a reader's digest of an edition is made: the one place.

`digest_make` chooses the reader's papers (ranking.digest_select, from data loaded
once per batch), builds the context the digest templates use, renders it and
builds the message with its list headers (mail/building.py). Everything that shows
or sends a digest calls it: the batch send (newsletter/delivery.py), preview as a
reader and test send (newsletter/curation.py) and `send_digests --dry-run`. So
what an editor previews as a reader is, byte for byte, what that reader gets
(tests/newsletter/test_digest.py).

Rendering: a reader's own digest (with their feedback, manage and unsubscribe
links) is assembled from the edition's proof (newsletter/digest_render.py: the
templates run once per edition, not once per reader). A digest without personal
links (a test send to an editor, a preview for "a reader with no topics") runs the
templates directly; the two renderers give the same bytes for the same context
(tests/newsletter/test_digest_render.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from anymail.message import AnymailMessage
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dates import MONTHS, WEEKDAYS

from mail.building import email_message
from mail.rendering import RenderedEmail, absolute_url, email_base_context, email_render
from subscribers.models import Subscriber
from subscribers.tokens import subscriber_links, subscriber_manage_url

from .archive import delivery_view_url
from .digest_render import DigestProof, digest_proof
from .editions import day_beside, listed_late, note_html, note_text
from .feedback import feedback_url, subscriber_fingerprint
from .models import Delivery, Edition, Paper, Topic, bidi_isolated
from .ranking import (
    DigestSelection,
    RankedPaper,
    RankingData,
    digest_candidates,
    digest_select,
    week_first_day,
)

DIGEST_TEMPLATE = "digest"
# About two lines at 600 px: the reader scans, the link has the rest.
ABSTRACT_MAX_CHARS = 160
SUBJECT_TITLE_MAX_CHARS = 90
# A card's title is cut here (the paper's page has it whole): Paper.title holds 500
# characters, and twenty-three titles that long in a script of three bytes a letter
# took a digest past Gmail's clipping size (102 KB), the unsubscribe link hidden
# behind "[Message clipped]". The sample's longest title is 169 characters.
CARD_TITLE_MAX_CHARS = 200


@dataclass
class EveryoneReader:
    """A reader with no topics or keywords (they get the edition as it trends):
    previews work before anyone has subscribed. Quacks like a Subscriber for
    ranking (digest_select); has no links of its own."""

    id: int = 0
    pk: int = 0
    email: str = "reader@example.com"
    frequency: str = Subscriber.Frequency.DAILY
    keywords: str = ""
    exclude_keywords: str = ""
    only_with_code: bool = False
    papers_per_digest: int = 10
    skip_empty: bool = False

    @property
    def topics(self):
        return Topic.objects.none()


@dataclass(frozen=True)
class Digest:
    selection: DigestSelection
    # None when there is nothing to send: the reader skips days when nothing
    # matched and this is one, or the edition has no paper for them at all.
    message: AnymailMessage | None
    weekly: bool = False  # made as a weekly digest (Delivery.weekly)

    @property
    def paper_ids(self) -> list[int]:
        return self.selection.paper_ids

    @property
    def picked(self) -> int:
        """How many of paper_ids are the reader's picks (the rest: also trending, or
        the closest papers on a day nothing matched): Delivery.picked."""
        return len(self.selection.papers)

    @property
    def reasons(self) -> list[str]:
        """Each pick's "why" line, as the email shows it, then on a day nothing
        matched, what it says beside each closest paper ("closest to Agents"):
        Delivery.reasons. The web copy shows them and, by them, words its heading as
        the email did (digest_headings): closest papers, not the day's trending ones."""
        return ([ranked.reason for ranked in self.selection.papers]
                + [closest_said(card_topics(ranked)) for ranked in self.selection.closest])

    @property
    def chips(self) -> list[list[str]]:
        """The topics the email shows beside each of paper_ids (card_topics), for its
        web copy to show the same as chips: Delivery.chips. A closest paper's is the
        reader's topic it is nearest to, which the email says in words ("closest to
        Agents"), never as a chip: as a chip it would read as a match, so none."""
        selection = self.selection
        return ([card_topics(ranked, n) for n, ranked in enumerate(selection.papers, 1)]
                + [[] for _ in selection.closest] + [card_topics(ranked) for ranked in selection.also_trending])

    @property
    def html(self) -> str:
        if self.message is None:
            return ""
        return next((body for body, mime in self.message.alternatives if mime == "text/html"), "")


# A digest's tag: the ESP's events about it say it (webhooks: DeliveryEvent.email).
DIGEST_TAG = "digest"

# What marks an editor's test send of a digest (curation.edition_test_send), its tag
# and a key of its metadata: the ESP's events about it say one or both, and
# webhooks.delivery_event_record keeps them out of the readers' figures
# (DeliveryEvent.of_test_send). It is in no ledger row, so nothing else tells.
DIGEST_TEST_TAG = "digest-test"
DIGEST_TEST_METADATA = {"test_send": "1"}


def digest_make(
    *,
    edition: Edition,
    subscriber: Subscriber | None,
    data: RankingData,
    delivery: Delivery | None = None,
    personal_links: bool = True,
    proofs: dict[tuple[int, bool], DigestProof] | None = None,
    now: dt.datetime | None = None,
) -> Digest:
    """The digest `subscriber` gets for `edition` (a reader with no topics when
    None), ranked from `data` (ranking.ranking_data_load for the edition's date and
    at least this reader). `delivery`: the ledger row it is sent for (its metadata
    and the reader's signed "view in browser" link); without one the link is the
    edition's public page. Without `personal_links` the reader's feedback, manage
    and unsubscribe links are left out (a test send to an editor must not carry a
    reader's unsubscribe link). `proofs`: shared by the digests of one batch.
    `now`: when it is made (default: now); the digest names its papers' day by the
    reader's date then (edition_period)."""
    reader = subscriber or EveryoneReader()
    selection = digest_select(subscriber=reader, date=edition.date, data=data)
    if selection.skip or not selection.paper_ids:
        return Digest(selection=selection, message=None)
    weekly = selection.weekly  # a weekly reader's, or a daily one's first after a weekly
    linked = subscriber if personal_links else None
    manage_url = unsubscribe_url = None
    if linked is not None:
        manage_url, unsubscribe_url = subscriber_links(subscriber=linked)
    zone = reader.zone if isinstance(reader, Subscriber) else None
    context = digest_context(
        edition=edition, selection=selection, subscriber=linked, manage_url=manage_url, weekly=weekly,
        today=timezone.localdate(now or timezone.now(), timezone=zone),
    )
    if delivery is not None:
        # The reader's own copy, by a signed link (newsletter/archive.py).
        context["view_in_browser_url"] = delivery_view_url(delivery=delivery)
    context["unsubscribe_url"] = unsubscribe_url
    rendered = _render(edition=edition, context=context, data=data, proofs=proofs, personal=bool(linked))
    metadata = {"edition": edition.date.isoformat()}
    if delivery is not None:
        metadata = {"delivery_id": delivery.pk, **metadata}
    message = email_message(
        to=reader.email, rendered=rendered, unsubscribe_url=unsubscribe_url, tags=[DIGEST_TAG],
        metadata=metadata,
    )
    return Digest(selection=selection, message=message, weekly=weekly)


def _render(*, edition: Edition, context: dict, data: RankingData, proofs: dict | None,
            personal: bool) -> RenderedEmail:
    if not personal:
        return email_render(template=DIGEST_TEMPLATE, context=context)
    proofs = {} if proofs is None else proofs
    key = (edition.pk, context["weekly"])
    if key not in proofs:
        proofs[key] = digest_proof(
            context=digest_proof_context(edition=edition, weekly=context["weekly"], data=data)
        )
    return proofs[key].render(context)


# --- The context the digest templates use ------------------------------------------------


def _abstract_short(paper) -> str:
    text = (paper.ai_summary or paper.abstract or "").strip()
    if len(text) <= ABSTRACT_MAX_CHARS:
        return text
    return text[:ABSTRACT_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _feedback_links(subscriber: Subscriber, paper, fingerprint: str) -> dict:
    return {
        "more_url": feedback_url(subscriber=subscriber, paper=paper, vote=1, fingerprint=fingerprint),
        "less_url": feedback_url(subscriber=subscriber, paper=paper, vote=-1, fingerprint=fingerprint),
    }


def paper_reading_links(paper) -> dict[str, str]:
    """The links a digest card carries to read a paper (the one place: the templates
    show these, and digest_paper_clicked maps a click on one back to the paper).
    The feedback links are not among them: a click on "less like this" is a vote."""
    return {
        # The paper's page on this site: every paper has one, whatever links its data has.
        "url": paper.page_url,
        "arxiv_url": paper.arxiv_url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.github_repo,
    }


def digest_paper_clicked(*, delivery: Delivery, url: str) -> Paper | None:
    """The paper of `delivery`'s digest whose reading link is `url` (a click the ESP
    reported), or None: another link (the masthead, feedback, manage), or a paper
    this reader was not sent. Only the digest's own papers are candidates, so a
    link shared by two papers of different days cannot be misread."""
    url = (url or "").strip()
    if not url or not delivery.paper_ids:
        return None
    papers = Paper.objects.filter(pk__in=[i for i in delivery.paper_ids if isinstance(i, int)])
    for paper in sorted(papers, key=lambda p: delivery.paper_ids.index(p.pk)):
        if url in {link for link in paper_reading_links(paper).values() if link}:
            return paper
    return None


def _paper_context(ranked: RankedPaper, n: int = 0, links: dict | None = None, *,
                   daily_date: dt.date | None = None, closest: bool = False) -> dict:
    """A paper as the templates show it: a pick's card (`n` its position from 1), or
    an also-trending or closest item (n 0; `closest`: offered on a day nothing
    matched). `daily_date`: the edition's date in a daily digest, where a paper of a
    list before it says it came in late."""
    paper = ranked.paper
    topics = card_topics(ranked, n)
    # How the text part leads a pick's chips: "also in" beside the topic its why line
    # names, "in" beside a why line that names none ("Trending").
    pick_topics_lead = "also in " if any(t in ranked.reason for t in ranked.topics) else "in "
    return {
        "id": paper.id,
        "n": n,
        "title": subject_title(paper.title, CARD_TITLE_MAX_CHARS),
        **paper_reading_links(paper),
        "byline": paper.byline,
        "upvotes": paper.upvotes,
        "num_comments": paper.num_comments,
        "topics": topics,
        # The topics as text, separator included, so that a reader's paper with no
        # topic ends cleanly whatever the proof's paper had (digest_render.py): the
        # also-trending line's ending, and in the text part a pick's chips, after its
        # "why" line. A closest paper's topic is the reader's it is nearest to, not
        # one it is in: said so ("· Vision-language" under "nothing matched" read as
        # a match).
        "topics_line": (
            f" · {closest_said(topics) if closest else (pick_topics_lead if n else '') + ', '.join(topics)}"
            if topics else ""
        ),
        "reason": ranked.reason,
        "abstract": _abstract_short(paper),
        "pinned": paper.pinned,
        "late": late_label(paper, daily_date=daily_date),
        # The reader's first pick shows the paper's picture (the API's thumbnail), when
        # it has one: the card the eye lands on first. Only that one: ten pictures
        # would make a long email longer, and most clients load them all at once.
        "lead": n == 1,
        # This site's copy (newsletter/pictures.py): the reader's client asks no one else.
        "picture_url": absolute_url(paper.picture_url) if paper.picture_url else "",
        **(links or {}),
    }


def card_topics(ranked: RankedPaper, n: int = 0) -> list[str]:
    """The topics a digest shows beside a paper for its reader (the one place: the
    email's chips and its text part's, and the reader's web copy's, Delivery.chips):
    of ranking's topics for them (RankedPaper.topics: a pick's are the reader's own),
    a pick's (`n` its position from 1) leave out the topic its "why" line names
    already. An item of the also-trending or closest block has no "why" line shown,
    so it names its topics (a closest paper's reason names its nearest topic:
    filtered, it showed none)."""
    return [t for t in ranked.topics if not n or t not in ranked.reason][:3]


def closest_said(topics: Sequence[str]) -> str:
    """What a digest says beside a paper offered on a day nothing matched, of the
    reader's topics it is nearest to (card_topics): "closest to Agents". The email's
    line and its web copy's (Digest.reasons)."""
    return f"closest to {', '.join(topics)}" if topics else ""


def late_label(paper, *, daily_date: dt.date | None) -> str:
    """What a daily digest of `daily_date` says of a paper of a list before it: it
    was listed after that list's edition went out (editions._late_papers_q), so it
    comes late. Nothing in a weekly digest, whose papers are the week's. The one
    wording: the email, its reader's web copy and the edition's archive page
    (archive_views)."""
    if daily_date is None or not listed_late(paper, edition_date=daily_date):
        return ""
    return f"added to {WEEKDAYS[paper.trending_date.weekday()]}’s list after its edition went out"


@lru_cache(maxsize=16)
def _note_html(note: str) -> str:
    """The editor's note is the same in every digest of an edition: Markdown and the
    sanitiser run once per note and process, not once per reader."""
    return note_html(note)


@lru_cache(maxsize=16)
def _note_text(note: str) -> str:
    return note_text(note)


def edition_browser_url(edition: Edition) -> str:
    """The public archive page of the edition (newsletter/archive_views.py)."""
    return absolute_url(reverse("newsletter_public:edition_detail", args=[edition.date]))


def subject_title(title: str, limit: int = SUBJECT_TITLE_MAX_CHARS) -> str:
    return title if len(title) <= limit else title[: limit - 1].rsplit(" ", 1)[0] + "…"


# Inboxes show about this much of a subject on a phone; past it the count is cut off.
SUBJECT_MAX_CHARS = 70
# "TÜLU 3: Pushing Frontiers in ..." is known by what comes before the colon, when short.
SHORT_NAME_MAX_CHARS = 32


def _short_name(title: str) -> str:
    name, colon, _ = title.partition(":")
    return name.strip() if colon and 0 < len(name.strip()) <= SHORT_NAME_MAX_CHARS else title.strip()


def week_span(date: dt.date, *, year: int | None = None) -> str:
    """The days a weekly digest of `date` covers, as its email names them: "18–24
    November 2025", "28 November – 4 December 2025", "29 December 2025 – 4 January
    2026". Beside a `year`, for a subject line, as day_beside writes a day (newsletter/
    editions.py): short months, and a day's year only when it is another: "18–24 Nov",
    "18–24 Nov 2025" read in 2026, "29 Dec 2025 – 4 Jan" read in 2026."""
    first = week_first_day(date)
    # Django's names (the date filter's), not strftime's: those follow the process's LC_TIME.
    month = "F" if year is None else "M"

    def year_said(day: dt.date) -> str:
        return "" if day.year == year else f" {day.year}"

    if first.month == date.month:
        return f"{first.day}–{date.day} {formats.date_format(date, month)}{year_said(date)}"
    first_year = year_said(first) if first.year != date.year else ""
    return (f"{first.day} {formats.date_format(first, month)}{first_year} – "
            f"{date.day} {formats.date_format(date, month)}{year_said(date)}")


def digest_subject(*, site_name: str, date: dt.date, year: int, weekly: bool, titles: Sequence[str],
                   nothing_matched: bool = False, offered: str = "close to them") -> str:
    """"Daily Papers Digest, Mon 24 Nov: RLP, TÜLU 3 +3 more": the brand, the date, as
    many papers (by short name, best first) as fit in SUBJECT_MAX_CHARS, and how many
    more (a bare "+4" read as a puzzle in an inbox: a phone walkthrough). The date is
    written beside the `year` it is read in, the reader's at the send (day_beside):
    with its year when it is another ("24 Nov 2025", the sample edition sent in 2026
    read "Mon 24 Nov", as if of this November); a week's days likewise (week_span:
    "week of 18–24 Nov 2025").
    `nothing_matched`: the papers are not picks but what is `offered` instead (the
    closest to the reader's topics, or the day's trending ones), and the subject
    says that instead of leading with one as if it were a pick."""
    when = f"week of {week_span(date, year=year)}" if weekly else day_beside(date, year=year)
    head = f"{site_name}, {when}"
    if nothing_matched:
        return f"{head}: nothing matched your topics, {len(titles)} {offered}"
    if not titles:
        return head
    names = [_short_name(t) for t in titles]
    # Two papers known by the same short name ("Agents: ...", "Agents: ...") keep their titles.
    names = [n if names.count(n) == 1 else t for n, t in zip(names, titles, strict=True)]
    # A right-to-left name is isolated (bidi_isolated): the " +4 more" after an Arabic
    # one read "4+" inside it. Its two marks are invisible, and counted here.
    for shown in range(len(names), 0, -1):
        more = f" +{len(names) - shown} more" if shown < len(names) else ""
        subject = f"{head}: {', '.join(bidi_isolated(n) for n in names[:shown])}{more}"
        if len(subject) <= SUBJECT_MAX_CHARS:
            return subject
    more = f" +{len(names) - 1} more" if len(names) > 1 else ""
    return f"{head}: {bidi_isolated(subject_title(names[0], SUBJECT_MAX_CHARS - len(head) - 2 - len(more)))}{more}"


# The preview text names at most this many of the picks' topics (an inbox shows ~90 characters).
PREHEADER_TOPICS = 3


def _topics_phrase(ranked: Sequence[RankedPaper]) -> str:
    """", on Agents, Robotics and Vision": the topics of the picks, most relevant first."""
    names = list(dict.fromkeys(t for r in ranked for t in r.topics))
    if not names:
        return ""
    shown = names[:PREHEADER_TOPICS]
    if len(names) > len(shown):
        return f", on {', '.join(shown)} and more"
    return ", on " + (f"{', '.join(shown[:-1])} and {shown[-1]}" if len(shown) > 1 else shown[0])


def _edition_context(*, edition: Edition, weekly: bool) -> dict:
    """What the digest templates use that is the same for every reader of an edition."""
    return {
        "edition": edition,
        "edition_date": edition.date,
        "weekly": weekly,
        "week_span": week_span(edition.date) if weekly else "",
        "note_html": _note_html(edition.note),
        "note_text": _note_text(edition.note),
    }


# Within this many days of the reader's date, a digest names its papers' day by its
# weekday ("on Thursday"); further off, by its date ("on 24 November").
WEEKDAY_NAMED_WITHIN = 6


@dataclass(frozen=True)
class EditionPeriod:
    """How a digest names the day its papers trended, for one reader: "today" only
    when it is their today. A reader whose hour comes before the morning fetch
    (schedules.morning_fetch, 05:30 UTC by default: Asia all year) gets the edition
    before it, which is "Thursday's" on their Friday morning, not "today's", and
    Friday's on Monday (newsletter/editions.py)."""

    when: str  # "today", "on Thursday", "this week": "also trending on Thursday"
    # After "picked for you": "today", "this week", or nothing (the masthead's date
    # right before it says the day: "Thursday 3 December 2026 · 7 papers picked for you").
    picked: str


def edition_period(*, date: dt.date, weekly: bool, today: dt.date) -> EditionPeriod:
    """How the digest of the papers of `date` names them for a reader whose date is `today`."""
    if weekly:
        return EditionPeriod("this week", "this week")
    if date == today:
        return EditionPeriod("today", "today")
    day = (WEEKDAYS[date.weekday()] if abs((date - today).days) <= WEEKDAY_NAMED_WITHIN
           else f"{date.day} {MONTHS[date.month]}")
    return EditionPeriod(f"on {day}", "")


def digest_headings(*, period: EditionPeriod, picks: bool, closest: bool) -> dict[str, str]:
    """A digest's section headings (the one place: its email and its reader's web
    copy, archive_views.delivery_view): {"picked": over the picks, "also": over the
    rest}. `picks`: it has picks (if not, nothing matched the reader's topics);
    `closest`: what it offers then are the papers closest to them, not the day's
    trending ones."""
    return {
        "picked": f"Picked for you {period.picked}".rstrip(),
        "also": (
            f"Also trending {period.when}" if picks
            else f"Nothing matched your topics {period.when}; the closest to them" if closest
            else f"Nothing matched your topics {period.when}; trending instead"
        ),
    }


# How a reader's web copy names the day (or week) of its papers, read any day after:
# "that day" ("today" or "on Thursday" in the email it copies).
COPY_PERIOD = {False: EditionPeriod("that day", ""), True: EditionPeriod("that week", "")}


def digest_context(
    *, edition: Edition, selection: DigestSelection, subscriber: Subscriber | None = None,
    manage_url: str | None = None, weekly: bool | None = None, today: dt.date | None = None,
) -> dict:
    """Everything digest.subject.txt / digest.txt / digest.mjml use. `subscriber`:
    whose links the digest carries (None: no personal links). `manage_url`: the
    reader's, when the caller made it already (subscriber_links). `weekly`: the
    wording of a weekly digest (default: the subscriber's frequency). `today`: the
    reader's date (default: the site's), against which the papers' day is named."""
    if weekly is None:
        weekly = subscriber is not None and subscriber.frequency == Subscriber.Frequency.WEEKLY
    daily_date = None if weekly else edition.date
    if subscriber is not None:
        fingerprint = subscriber_fingerprint(subscriber=subscriber)
        papers = [
            _paper_context(r, n, _feedback_links(subscriber, r.paper, fingerprint), daily_date=daily_date)
            for n, r in enumerate(selection.papers, 1)
        ]
    else:
        papers = [_paper_context(r, n, daily_date=daily_date) for n, r in enumerate(selection.papers, 1)]
    # Also-trending items carry no feedback links (the templates show none). On a day
    # when nothing passed for the reader, the papers closest to their topics take
    # that block, under a heading that says so (ranking.DigestSelection.closest).
    closest = [_paper_context(r, daily_date=daily_date, closest=True)
               for r in selection.closest] if not papers else []
    also = closest or [_paper_context(r, daily_date=daily_date) for r in selection.also_trending]
    lead = (papers or also or [None])[0]
    total = len(papers) or len(also)
    context = _edition_context(edition=edition, weekly=weekly)
    today = today or timezone.localdate()
    period = edition_period(date=edition.date, weekly=weekly, today=today)
    subject = digest_subject(
        site_name=email_base_context()["site_name"], date=edition.date, year=today.year, weekly=weekly,
        titles=[p["title"] for p in papers or also], nothing_matched=not papers,
        offered="close to them" if closest else "trending",
    )
    summary = preheader = ""
    if lead:
        summary = f"{total} paper{'s' if total != 1 else ''} picked for you {period.picked}".rstrip()
        if closest:
            summary = f"Nothing matched your topics {period.when}: the {total} closest paper{'s' if total != 1 else ''}"
        elif not papers:
            summary = f"{total} trending paper{'s' if total != 1 else ''} {period.when}"
        # The preview text adds the topics the picks are in, not the first paper's
        # reason (which read as if it were the whole digest's).
        preheader = summary + (_topics_phrase(selection.papers) if papers else "")
    headings = digest_headings(period=period, picks=bool(papers), closest=bool(closest))
    return {
        **context,
        "papers": papers,
        "also_trending": also,
        # The text part's section headings in capitals; the HTML's the same words in
        # sentence case, set in capitals by its style (a screen reader reads words,
        # not letters).
        **{f"{name}_heading": title.upper() for name, title in headings.items()},
        **{f"{name}_title": title for name, title in headings.items()},
        "subject": subject,
        "summary": summary,  # the header's line under the date
        "preheader": preheader,
        "view_in_browser_url": edition_browser_url(edition),
        "manage_url": manage_url or (subscriber_manage_url(subscriber=subscriber) if subscriber else ""),
        # When their digest comes, in their zone on the edition's day (the footer).
        "schedule": subscriber.schedule(edition.date) if subscriber else "",
    }


def digest_proof_context(*, edition: Edition, weekly: bool, data: RankingData) -> dict:
    """The context of the proof every digest of the edition is assembled from
    (digest_render.py): each candidate paper as a card and as an also-trending item."""
    candidates = digest_candidates(date=edition.date, weekly=weekly, data=data)
    papers = [
        _paper_context(RankedPaper(
            paper=p, score=0, relevance=0, reason="",
            topics=[h.name for h in data.topic_hits.get(p.id, [])[:1]],
        ), daily_date=None if weekly else edition.date)
        for p in candidates
    ]
    return {**_edition_context(edition=edition, weekly=weekly), "papers": papers, "also_trending": papers}
