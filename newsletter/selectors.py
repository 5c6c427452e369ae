"""Reads for the public pages (STYLE.md §2: selectors read, services write).

Every selector returns everything its template touches, so a page costs a fixed,
small number of queries however many papers it lists (pinned in
tests/newsletter/test_views.py)."""

import datetime as dt

from django.db import connection
from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet, Subquery

from .models import Delivery, OutboxEmail, Paper, PaperFetch, PaperTopic, Topic
from .relevance import topic_match_reason


def paper_visible_q(path: str = "") -> Q:
    """The one rule of a paper a reader may see: not hidden by an editor, not
    withdrawn by its authors. `path` leads to the paper from another model's query
    ("paper__", "entries__paper__"). Every page, digest, feed and count reads it
    (tests/architecture/test_visibility_rule.py: no module spells it out again)."""
    return Q(**{f"{path}hidden": False, f"{path}withdrawn_at__isnull": True})


PAPER_VISIBLE = paper_visible_q()


def topic_rows_prefetch(lookup: str = "topic_scores") -> Prefetch:
    """The active topics a paper passes for, most relevant first, as `paper.topic_rows`
    (a list of PaperTopic with .topic loaded), from which `paper.topic_chips` are
    the ones it is about. A score of 0 is no match, or an editor removing the topic
    (newsletter/relevance.py). `lookup`: the path to the papers' rows ("paper__topic_scores"
    from an edition's entries)."""
    return Prefetch(
        lookup,
        queryset=PaperTopic.objects.filter(score__gt=0, topic__is_active=True)
        .select_related("topic")
        # Only what a chip shows: a day's page builds a few hundred of these.
        .only("paper_id", "score", "source", "matched_terms", "near_examples", "topic__name", "topic__slug")
        .order_by("-score", "topic__position", "topic__name"),
        to_attr="topic_rows",
    )


def paper_list_trending(*, date: dt.date | None = None) -> QuerySet[Paper]:
    """Visible papers of one Daily Papers date (the newest date that has any when
    `date` is None), editors' picks first, then by upvotes, as on huggingface.co/papers.

    Two queries when evaluated: the papers (served by the partial index
    paper_day_trend_idx) and their topic chips."""
    visible = Paper.objects.filter(PAPER_VISIBLE)
    if date is None:
        newest = visible.order_by("-trending_date").values("trending_date")[:1]
        papers = visible.filter(trending_date=Subquery(newest))
    else:
        papers = visible.filter(trending_date=date)
    # The embedding (a few KB a paper) is for ranking, never shown on a page.
    return papers.order_by("-pinned", "-upvotes", "id").defer("embedding").prefetch_related(
        topic_rows_prefetch()
    )


def paper_texts_newest(*, limit: int) -> list[tuple[str, str]]:
    """The titles and abstracts of the `limit` newest papers a reader may see, newest
    trending date first."""
    return list(Paper.objects.filter(PAPER_VISIBLE).order_by("-trending_date", "-pk")
                .values_list("title", "abstract")[:limit])


def paper_get_visible(*, arxiv_id: str | None = None, pk: int | None = None) -> Paper | None:
    """One visible paper for its page, by arXiv id or primary key, with its topic
    chips: two queries."""
    lookup = {"arxiv_id": arxiv_id} if arxiv_id is not None else {"pk": pk}
    return Paper.objects.filter(PAPER_VISIBLE, **lookup).prefetch_related(topic_rows_prefetch()).first()


def paper_picture_get(*, pk: int) -> Paper | None:
    """A visible paper for its picture (newsletter/views.py, paper_picture): what
    Paper.picture_served_url and pictures.picture_get read, one query. A page of 70
    cards asks for 70 pictures; paper_get_visible read each one's topics too."""
    return (Paper.objects.filter(PAPER_VISIBLE, pk=pk)
            .only("pk", "thumbnail_url", "trending_date", "picture_missing_at").first())


def paper_topic_reasons(*, paper: Paper) -> list[tuple[str, str]]:
    """(topic name, why) for a paper's chips, in the words of the digest's "why" line
    (relevance.topic_match_reason), so the page of a pick says what the email said."""
    return [(chip.topic.name, topic_match_reason(terms=chip.matched_terms, near_examples=chip.near_examples,
                                                 by_editor=chip.source == PaperTopic.Source.EDITOR))
            for chip in paper.topic_chips]


def paper_date_newest(*, until: dt.date | None = None) -> dt.date | None:
    """The newest Daily Papers date with a visible paper (PAPER_VISIBLE), at most
    `until` when given. The one place this is read: the site's newest day, the
    editor's "today" and the dispatcher's edition all mean a day a reader can see."""
    visible = Paper.objects.filter(PAPER_VISIBLE)
    if until is not None:
        visible = visible.filter(trending_date__lte=until)
    return visible.order_by("-trending_date").values_list("trending_date", flat=True).first()


def topics_most_covered(*, limit: int) -> list[Topic]:
    """The active topics with the most relevant papers on the newest date (then by
    position): what a demo reader follows."""
    from .relevance import RELEVANCE_THRESHOLD

    newest = paper_date_newest()
    relevant = Q(
        paper_visible_q("paper_scores__paper__"),
        paper_scores__score__gte=RELEVANCE_THRESHOLD, paper_scores__paper__trending_date=newest,
    )
    return list(
        Topic.objects.filter(is_active=True)
        .annotate(covered=Count("paper_scores", filter=relevant))
        .order_by("-covered", "position", "name")[:limit]
    )


def edition_dates_recent(*, limit: int, until: dt.date | None = None) -> list[dt.date]:
    """The newest `limit` Daily Papers dates that have visible papers (at most
    `until` when given), newest first.

    Read from the papers, not from Edition rows: an edition is only assembled on
    the morning its digest goes out, while the site shows every date ingested."""
    visible = Paper.objects.filter(PAPER_VISIBLE)
    if until is not None:
        visible = visible.filter(trending_date__lte=until)
    return list(visible.order_by("-trending_date").values_list("trending_date", flat=True).distinct()[:limit])


def edition_dates_adjacent(*, date: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The dates with visible papers just before and just after `date`, in one query."""
    around = Paper.objects.filter(PAPER_VISIBLE).aggregate(
        previous=Max("trending_date", filter=Q(trending_date__lt=date)),
        next=Min("trending_date", filter=Q(trending_date__gt=date)),
    )
    return around["previous"], around["next"]


def _outbox_emails(to: str) -> QuerySet[OutboxEmail]:
    """Every email in the local outbox, or ("to" given) those sent to that address alone."""
    emails = OutboxEmail.objects.all()
    return emails.filter(to__iexact=to) if to else emails


def outbox_email_list(*, to: str = "") -> QuerySet[OutboxEmail]:
    """The local outbox, newest first, without the bodies the list does not show."""
    return _outbox_emails(to).only("id", "to", "subject", "tags", "created_at").order_by(
        "-created_at", "-id"
    )


def outbox_email_get(*, email_id: int, to: str = "") -> OutboxEmail | None:
    return _outbox_emails(to).filter(pk=email_id).first()


def deliveries_carrying(*, paper: Paper) -> QuerySet[Delivery]:
    """The digests sent with this paper in them (Delivery.paper_ids): who already got
    a paper an editor hides. Only the editions that can carry it: its date's and the
    days after it within a weekly digest's window and a late listing's. PostgreSQL
    finds the rows by JSON containment over delivery_paper_ids_gin (newsletter 0040);
    SQLite (development) has neither, so the rows of those editions are read here."""
    from .editions import LATE_WITHIN_DAYS
    from .ranking import WEEKLY_WINDOW_DAYS

    last = paper.trending_date + dt.timedelta(days=WEEKLY_WINDOW_DAYS + LATE_WITHIN_DAYS)
    sent = Delivery.objects.filter(status=Delivery.Status.SENT,
                                   edition__date__range=(paper.trending_date, last))
    if connection.vendor == "postgresql":
        return sent.filter(paper_ids__contains=[paper.pk])
    ids = [pk for pk, carried in sent.values_list("pk", "paper_ids").iterator() if paper.pk in (carried or [])]
    return Delivery.objects.filter(pk__in=ids)


def paper_fetch_of(*, date: dt.date) -> PaperFetch | None:
    """The morning fetch of a Daily Papers date as its last attempt left it, or None
    when it has not run for that date (ingest.paper_fetch_record writes it)."""
    return PaperFetch.objects.filter(date=date).first()


def paper_fetch_missing(*, date: dt.date) -> PaperFetch | None:
    """The fetch of a date that has no papers: why it has none. None when it has
    some: a failure then is one an editor or a later run made good (fetch_papers
    --date, a paste), not to be told as if it stood."""
    if Paper.objects.filter(trending_date=date).exists():
        return None
    return paper_fetch_of(date=date)


def paper_fetch_told(*, date: dt.date) -> PaperFetch | None:
    """The fetch of a date as its edition page tells it, with `papers_in` set: a date
    without papers, whatever its last attempt did; one with papers, only what still
    stands: fields left out, or the second fetch (the next morning's,
    ingest.papers_fetch_morning) failed, which leaves out papers listed late and the
    final votes. A failure made good by hand is not told (paper_fetch_missing)."""
    fetch = paper_fetch_of(date=date)
    if fetch is None:
        return None
    fetch.papers_in = Paper.objects.filter(trending_date=date).exists()
    if not fetch.papers_in or fetch.problems_count or (fetch.failed and fetch.kind == PaperFetch.Kind.SECOND):
        return fetch
    return None


def paper_refresh_to_show(*, date: dt.date, today: dt.date) -> PaperFetch | None:
    """The second fetch of `date` (the list before today's) made this morning, when
    an editor should know of it on the dashboard: it failed or left fields out of
    papers in. A date with no papers is not told here, where today's fetch matters:
    on a first deploy, or after a day the fetch missed, its edition page says why."""
    fetch = paper_fetch_told(date=date)
    if fetch and fetch.papers_in and fetch.attempted_at.astimezone(dt.UTC).date() == today:
        return fetch
    return None


def paper_fetch_no_papers(*, today: dt.date) -> PaperFetch | None:
    """Today's fetch while the site has no papers at all (a first deploy whose fetch
    failed): "Today's edition" then has nothing to open and sends the editor to the
    editions' list, which says why. None once any paper is in."""
    return None if Paper.objects.exists() else paper_fetch_of(date=today)


def paper_fetch_to_show(*, today: dt.date) -> PaperFetch | None:
    """Today's fetch when an editor should know of it: it failed (unavailable,
    refused) and today has no papers, or it left fields out of papers; None when it
    went well or has not run."""
    fetch = paper_fetch_of(date=today)
    if fetch and fetch.failed and not fetch.problems_count:
        return paper_fetch_missing(date=today)
    return fetch if fetch and fetch.problems_count else None
