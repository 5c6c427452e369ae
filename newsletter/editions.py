"""Editions: one per Daily Papers date, the papers readers get that day, in order.

An edition is assembled from the visible papers of its date and those of a list
before whose sent edition did not hold them (listed after it went out: `_late_papers_q`);
editors' pins first, hidden and withdrawn papers out, then by upvotes and comments.
It may be re-assembled as often as needed until it is frozen. Once an editor has set the
order by hand (`order_set_by_editor`), re-assembly keeps it: papers already in the
edition keep their places, pinned ones first; newly fetched papers join after the
others of their group in trend order; papers hidden since drop out. It is frozen when its first
digest is queued (newsletter/delivery.py, deliveries_create), so the archive shows
what readers got; editing papers afterwards changes only editions not yet sent.

Which edition is "today's" (`edition_current`): the newest edition whose date is
at most three days before today in UTC. Daily Papers publishes a date's list
during that UTC day; a reader whose hour comes before today's list is fetched
(everyone east of about UTC+1:30 at 07:00, and central Europe in summer) gets the
newest before it, if they have not had it: on Tuesday, Monday's; on Monday,
Friday's, across a weekend without lists. Until 4 December 2026 it had to be at
most a day old, so those readers never got Friday's papers and no digest on
Monday, although their pages promised one. Nobody gets an edition twice (the
ledger's unique row), and nothing older than three days goes out."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit

import markdown
import nh3
from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone

from .models import Edition, EditionPaper, Paper
from .page_cache import pages_changed
from .selectors import PAPER_VISIBLE, paper_date_newest

# How old "today's" edition may be: a weekend (see the module docstring).
EDITION_MAX_AGE_DAYS = 3
# What the editor's note may contain once rendered from Markdown.
NOTE_TAGS = {"p", "br", "a", "strong", "em", "b", "i", "ul", "ol", "li", "code", "blockquote"}


# How far back a late paper still joins an edition (_late_papers_q): Friday's late
# papers come with Monday morning's refresh, and reach Tuesday's edition when
# Monday's went out before the refresh brought them.
LATE_WITHIN_DAYS = EDITION_MAX_AGE_DAYS + 1


def edition_papers_ordered(*, date: dt.date):
    """The visible papers an edition of `date` holds, in edition order: those of the
    date and the late papers of the editions before (`_late_papers_q`). Served by
    paper_day_trend_idx (trending_date, -pinned, -upvotes WHERE NOT hidden)."""
    return Paper.objects.filter(
        Q(trending_date=date) | _late_papers_q(date=date), PAPER_VISIBLE
    ).order_by("-pinned", "-upvotes", "-num_comments", "id")


def _late_papers_q(*, date: dt.date) -> Q:
    """Papers of a list whose edition went out without them, and that no edition sent
    since holds: listed on its date after it went out (the morning fetch brings them
    the next morning, ingest.papers_fetch_morning), or shown again by an editor
    since. They join the next edition assembled, so every paper of a list reaches a
    daily reader once, whenever the refresh lands. Only papers of an edition that
    went out (frozen): one never sent was never anyone's; and of the last
    LATE_WITHIN_DAYS: an older list is not news. Until 5 December 2026 such papers
    reached the site and no digest."""
    since = date - dt.timedelta(days=LATE_WITHIN_DAYS)
    sent = Edition.objects.filter(date__gte=since, date__lt=date, frozen_at__isnull=False)
    dates = list(sent.values_list("date", flat=True))
    if not dates:
        return Q(pk__in=[])
    held = EditionPaper.objects.filter(edition__date__gte=since, edition__frozen_at__isnull=False)
    return Q(trending_date__in=dates) & ~Q(pk__in=held.values("paper_id"))


def listed_late(paper: Paper, *, edition_date: dt.date) -> bool:
    """Whether `paper`, in the edition of `edition_date`, is a late paper of a list
    before (`_late_papers_q`): what the digest, the edition's page and the editors'
    page say of it."""
    return paper.trending_date is not None and paper.trending_date < edition_date


def day_beside(day: dt.date, *, year: int) -> str:
    """A day written beside a page (or list) of `year`, as the house writes a day where
    the year goes without saying: "Mon 24 Nov", and with its year when it is another:
    "29 Nov 2026". From the edition of 24 November 2025, "Sun 29 Nov →" read as five
    days later, not a year. The edition's and the day's neighbours, the topic preview."""
    return formats.date_format(day, "MONTH_DAY_FORMAT" if day.year == year else "SHORT_DATE_FORMAT")


def edition_send_time(at: dt.datetime, *, edition_date: dt.date) -> str:
    """When a digest of the edition of `edition_date` went out, in the current zone,
    as the house writes a send: "24 Nov, 07:05 UTC" (SHORT_DATETIME_FORMAT), and with
    its year when that is not the edition's: "6 Dec 2026, 04:22 UTC" (DATETIME_FORMAT).
    The edition of 24 November 2025 said "First digests went out 6 Dec, 04:22 UTC", sent
    a year later, read as twelve days after. The edition's page in the admin, the
    deliveries' list and a reader's view-in-browser page."""
    local = timezone.localtime(at)
    return formats.date_format(local, "SHORT_DATETIME_FORMAT" if local.year == edition_date.year else "DATETIME_FORMAT")


@transaction.atomic
def edition_assemble(*, date: dt.date) -> Edition:
    """Create or refresh the edition of `date` from its papers. A frozen edition's
    papers are left as they are (what readers got)."""
    edition, _ = Edition.objects.get_or_create(date=date)
    # Lock the row so a concurrent freeze waits for this assembly, or this one sees it.
    edition = Edition.objects.select_for_update().get(pk=edition.pk)
    if edition.frozen_at is not None:
        return edition
    visible = list(edition_papers_ordered(date=date).values_list("id", "pinned"))
    current = list(edition.entries.order_by("position").values_list("paper_id", "pinned"))
    if edition.order_set_by_editor:
        place = {paper_id: i for i, (paper_id, _) in enumerate(current)}
        # Stable sort: pins first, then the editor's places, then trend for new papers.
        visible.sort(key=lambda row: (not row[1], place.get(row[0], len(place))))
    # With each paper's pin as it stands (EditionPaper.pinned): the one the edition is
    # sent, and archived, with once it is frozen.
    if current != visible:
        edition.entries.all().delete()
        EditionPaper.objects.bulk_create(
            EditionPaper(edition=edition, paper_id=paper_id, position=position, pinned=pinned)
            for position, (paper_id, pinned) in enumerate(visible, start=1)
        )
    return edition


def edition_freeze(*, edition: Edition, now: dt.datetime | None = None) -> bool:
    """Freeze an edition (idempotent); True if this call froze it."""
    now = now or timezone.now()
    frozen = Edition.objects.filter(pk=edition.pk, frozen_at__isnull=True).update(frozen_at=now)
    if frozen:
        edition.frozen_at = now
        pages_changed(editions=[edition.date], published=True)  # now in the archive
    return bool(frozen)


def edition_date_current(*, now: dt.datetime) -> dt.date | None:
    """The date of today's edition (module docstring), without writing anything: the
    newest date, at most EDITION_MAX_AGE_DAYS old, with visible papers or an edition
    row; None when there is none. Two queries. What the dispatcher sends at `now`
    (edition_current) and what the pages that promise the next digest count on
    (due.next_digest_at)."""
    today = now.astimezone(dt.UTC).date()
    oldest = today - dt.timedelta(days=EDITION_MAX_AGE_DAYS)
    newest_paper_date = paper_date_newest(until=today)
    newest_edition_date = (
        Edition.objects.filter(date__range=(oldest, today)).order_by("-date").values_list("date", flat=True).first()
    )
    dates = [d for d in (newest_paper_date, newest_edition_date) if d and d >= oldest]
    return max(dates) if dates else None


def edition_current(*, now: dt.datetime) -> Edition | None:
    """Today's edition (edition_date_current), assembled if it is not frozen yet; None
    when there is none or it has no papers. A date with papers but no edition row
    yet (fetched, never assembled) gets one here."""
    date = edition_date_current(now=now)
    if date is None:
        return None
    edition = edition_assemble(date=date)
    return edition if edition.entries.exists() else None


def note_text(note: str) -> str:
    """The editor's note for the digest's plain-text part: what note_html shows, as
    text (a link as "its words (its address)", list items as "- ", no Markdown or
    tags left), so that both parts say the same."""
    reader = _note_read(note)
    lines = (line.strip() for line in "".join(reader.out).strip().splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _note_read(note: str) -> _NoteText:
    reader = _NoteText()
    reader.feed(note_html(note))
    reader.close()
    return reader


class _NoteText(HTMLParser):
    BLOCKS = {"p", "ul", "ol", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._link: tuple[str, int] | None = None  # (address, where its words start)
        self.links: list[tuple[str, str]] = []  # (address, words) of every link

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._link = (dict(attrs).get("href") or "", len(self.out))
        elif tag == "li":
            self.out.append("\n- ")
        elif tag == "br":
            self.out.append("\n")
        elif tag in self.BLOCKS:
            self.out.append("\n\n")

    def handle_endtag(self, tag):
        if tag == "a" and self._link is not None:
            address, start = self._link
            words = "".join(self.out[start:]).strip()
            self.links.append((address, words))
            if address and address not in (words, f"mailto:{words}"):
                self.out.append(f" ({address})")
            self._link = None
        elif tag in self.BLOCKS:
            self.out.append("\n\n")

    def handle_data(self, data):
        if data.strip() or "\n" not in data:  # not the line breaks between Markdown's tags
            self.out.append(data)


# A link's words that read as an address: a scheme, "www.", a mailbox, or a host
# followed by a path or ending in a common top-level domain ("Node.js" is a name).
_WORDS_ADDRESS = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*:(?://)?)|(?P<www>www\.))?(?:(?P<user>[^\s/@:]+)@)?"
    r"(?P<host>(?:[^\s/@:?#.]+\.)+(?P<tld>[^\s/@:?#.\d]{2,}))\.?(?::\d+)?(?P<path>[/?#]\S*)?$",
    re.IGNORECASE,
)
# What reads as "." or "/" in a link's words though it is not: the dots IDNA reads as
# "." and Unicode's confusables of both (after NFKC, which maps full-width forms).
_LOOKALIKES = str.maketrans({
    **dict.fromkeys("\u0660\u06f0\u0701\u0702\u2024\u3002\ua4f8\ua60e", "."),
    **dict.fromkeys("\u1735\u2041\u2044\u2215\u2571\u27cb\u29f8\u2cc6\u2f03\u3033\u30ce\u31d3\u4e3f", "/"),
})
# Bidirectional controls: "\u202egro.vixra" shows as "arxiv.org".
_DIRECTION_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What may stand around an address in a sentence: "(arxiv.org)", "arxiv.org,".
_AROUND_ADDRESS = "()[]{}<>,;:!?\"'“”‘’«»"
_COMMON_TLDS = {"com", "org", "net", "io", "ai", "co", "dev", "edu", "gov", "info", "app", "me", "uk",
                "de", "fr", "jp", "cn", "ru", "eu", "us", "ca", "ch", "nl", "in", "xyz", "ly", "to"}


def _host(name: str) -> str:
    """A host as compared: lower case, IDNA-encoded, without "www."."""
    name = name.lower().rstrip(".").removeprefix("www.")
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def note_links_misleading(note: str) -> list[str]:
    """The links of an editor's note whose words name another site than the one they
    lead to ("[arxiv.org/abs/2401.01234](https://arxiv-login.example)", a mailbox
    shown for a mailto of another): each as a sentence for the editor. The digest
    goes to every reader under the project's name, so an editor's account must not
    be able to dress a link as another (a compromised editor's walkthrough)."""
    misleading = []
    for address, shown in _note_read(note).links:
        if _DIRECTION_CONTROLS.search(shown):
            misleading.append(f"The link “{shown}” has characters that change the direction of its text, so "
                              "readers would not see what it says. Write its words without them.")
            continue
        # As a browser reads it: "\" is "/" in an http(s) address, so "https://evil.example\@arxiv.org/"
        # goes to evil.example (urlsplit alone read arxiv.org).
        target = urlsplit(address.replace("\\", "/"))
        goes_to = target.path if target.scheme == "mailto" else target.hostname or ""
        # As a reader sees them (a look-alike dot or slash is one), each address the
        # words name: "Read it on arxiv.org" names arxiv.org as much as "arxiv.org" does.
        words = unicodedata.normalize("NFKC", shown).translate(_LOOKALIKES)
        for token in words.split():
            named = _WORDS_ADDRESS.match(token.strip(_AROUND_ADDRESS))
            if named is None or not (named["scheme"] or named["www"] or named["user"] or named["path"]
                                     or named["tld"].lower() in _COMMON_TLDS):
                continue
            if target.scheme == "mailto":  # the whole mailbox: "ada@" shown for "bob@" misleads too
                same = named.group().lower().removeprefix("mailto:") == goes_to.lower()
            else:
                same = _host(named["host"]) == _host(goes_to)
            if not same:
                misleading.append(f"The link “{shown}” leads to {goes_to or address}, not to the address its "
                                  "words show. Make its words the address itself, or words that are not an "
                                  "address.")
                break
    return misleading


def note_html(note: str) -> str:
    """The editor's note, Markdown to HTML, sanitised (an editor's account is not
    trusted to put scripts or tracking pixels in every reader's inbox)."""
    if not note.strip():
        return ""
    html = markdown.markdown(note, extensions=["sane_lists"])
    return nh3.clean(
        html, tags=NOTE_TAGS, attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"}, link_rel="noopener",
    )
