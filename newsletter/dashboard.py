"""The editors' dashboard: figures of the last weeks as charts.

Charts are drawn here as SVG (a few dozen lines, no dependency, no CDN): they
render offline, inline in the admin page, and print. Each figure is one
aggregate query; the page makes a fixed handful whatever the number of readers."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections import Counter
from dataclasses import dataclass

from django.db.models import Case, Count, DateField, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from subscribers.models import LeftReadersErased, Subscriber
from subscribers.services import EMAIL_NAMES

from .digest import DIGEST_TAG
from .models import Delivery, DeliveryEvent, Feedback, PaperTopic, SentDay, Topic

DASHBOARD_DAYS = 30
# The spam-complaint and bounce lines Gmail's bulk-sender guidelines watch: stay
# under 0.1 %, never reach 0.3 %.
RATE_WARN = 0.001
RATE_LIMIT = 0.003
# Each at least 3:1 against white (WCAG's minimum for graphics): the amber was 2.2:1.
AMBER = "#b45309"
BLUE, RED = "#2563eb", "#dc2626"
PALETTE = [BLUE, "#16a34a", AMBER, RED, "#7c3aed", "#0891b2", "#64748b"]
# One colour for each thing on every chart it is on: the sends' and the rates'.
BOUNCE_COLOUR, COMPLAINT_COLOUR = AMBER, RED
STATUS_COLOURS = {
    Subscriber.Status.ACTIVE: "#15803d",
    Subscriber.Status.PENDING: AMBER,
    Subscriber.Status.PAUSED: "#0891b2",
    Subscriber.Status.UNSUBSCRIBED: "#64748b",
    Subscriber.Status.SUPPRESSED: RED,
}

# Drawn about as wide as a chart's column at 1280 px (two columns of about 440 px),
# so 11 px text stays about 11 px there (at 640 wide it was 7).
WIDTH, HEIGHT = 460, 240
# The same charts drawn for a phone's column (about 330 px at 375): the wide ones,
# scaled down to it, had text of 6 px. The page shows one or the other (admin.css).
NARROW_WIDTH = 340
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 28, 16, 48
# Text metrics of the 11 px system font the charts use: the widest glyphs' average
# advance (a label measured with it never runs into what is beside it) and a line.
CHAR_W, LINE_H = 6.6, 13
# Bar charts: one bar per series, tall enough for its value's text beside it.
BAR_H, GROUP_GAP = 14, 8
# A bar chart's label column takes at most this share of the width; longer labels
# wrap onto more lines (never cut).
LABEL_MAX_SHARE = 0.42


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    colour: str
    # A dash pattern (SVG stroke-dasharray) for a line told apart by more than colour.
    dash: str = ""


# A rate is written to this many significant figures: "12.5 %", "0.38 %".
RATE_FIGURES = 3


def rate_text(rate: float) -> str:
    """A rate (a share of 1) as a percentage a person reads: "100 %", "12.5 %",
    "0.38 %", "0 %", never "1e+02 %" (what ".2g" made of 100 %) nor "12 %" for
    12.5 %: RATE_FIGURES significant figures and no trailing zero. Every rate the
    dashboard writes: the totals above the charts, the rate axis' ticks, its
    reference lines and the figures' table."""
    if not rate:
        return "0 %"
    percent = rate * 100
    decimals = max(0, RATE_FIGURES - 1 - math.floor(math.log10(abs(percent))))
    text = f"{percent:.{decimals}f}"
    return f"{text.rstrip('0').rstrip('.') if '.' in text else text} %"


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return rate_text(value)
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


# An axis has about this many steps: few enough to read, enough to place a line.
AXIS_STEPS = 4


def _axis(top: float, *, percent: bool) -> tuple[float, list[tuple[float, str]]]:
    """An axis a person reads at a glance, by the "nice numbers" rule: about
    AXIS_STEPS ticks, 1, 2 or 5 times a power of ten apart (whole numbers for
    counts: at least 1), from 0 up to the first at or over `top`, which becomes the
    axis' top (the data is drawn to it). Each tick with its label: "0.1 %", not the
    "0.19 %" of a top cut in halves. A `top` of 0 gets the axis of 1 (1 %)."""
    top = top or (0.01 if percent else 1)
    raw = top / AXIS_STEPS
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if not percent:
        step = max(step, 1)
    # round(): 0.004 / 0.001 is 4.000000000000001, one tick too many.
    count = math.ceil(round(top / step, 9)) or 1
    ticks = [round(i * step, 12) for i in range(count + 1)]
    # A tick is at most AXIS_STEPS steps of 1, 2 or 5 times a power of ten: two
    # significant figures at most, which rate_text writes exactly ("0.15 %", "1 %").
    return ticks[-1], [(t, _fmt(t, percent)) for t in ticks]


# A legend's lines are this far apart when its entries do not fit on one.
LEGEND_LINE = 16


def _legend(items: list[tuple[str, str]], y: float, width: int) -> tuple[list[str], int]:
    """The legend's SVG from `y` down, its entries wrapped onto more lines where the
    chart is too narrow for them; and the number of lines."""
    parts, x, lines = [], PAD_LEFT, 1
    for name, colour in items:
        entry = 24 + 7 * len(name)
        if x > PAD_LEFT and x + entry - 10 > width:
            x, y, lines = PAD_LEFT, y + LEGEND_LINE, lines + 1
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" class="lg">{escape(name)}</text>')
        x += entry
    return parts, lines


def line_chart(*, title: str, labels: list[str], series: list[Series],
               references: list[tuple[str, float, str]] = (), percent: bool = False,
               stacked: bool = False, legend_values: list[str] | None = None,
               width: int = WIDTH) -> SafeString:
    """A line chart with optional horizontal reference lines (label, value, colour).

    `stacked`: the series are parts of one whole (readers by status), drawn as bands
    on top of each other, so the top edge is the total and no series hides under
    another with the same values (as lines do: two statuses of 1 reader each drew one
    line). `legend_values`: a figure beside each series' name in the legend (its
    latest value, or its total), which a person reads even where lines coincide."""
    bases, running = [], [0.0] * len(labels)
    for s in series:
        bases.append(running)
        if stacked:
            running = [r + v for r, v in zip(running, s.values, strict=True)]
    tops = [[b + v for b, v in zip(base, s.values, strict=True)] for base, s in zip(bases, series, strict=True)]
    top = max([v for t in tops for v in t] + [r[1] * 1.25 for r in references] + [0])
    top, ticks = _axis(top, percent=percent)
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(1, len(labels) - 1)
    # Every nth day's date counted back from the last (today's is always there), n
    # as small as lets them stand apart (every day up to 10).
    label_w = CHAR_W * max([len(label) for label in labels] + [1]) + 10
    every = 1 if len(labels) <= 10 else max(len(labels) // 6, math.ceil(label_w / step))

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD_LEFT + i * step, PAD_TOP + plot_h - v / top * plot_h

    names = [s.name if legend_values is None else f"{s.name} {value}"
             for s, value in zip(series, legend_values or [None] * len(series), strict=True)]
    legend, legend_lines = _legend([(name, s.colour) for name, s in zip(names, series, strict=True)],
                                   HEIGHT - 10, width)
    parts = [_svg_open(title, width=width, height=HEIGHT + LEGEND_LINE * (legend_lines - 1))]
    for tick, tick_label in ticks:
        y = PAD_TOP + plot_h - tick / top * plot_h
        parts.append(f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" class="ax" text-anchor="end">'
                     f'{escape(tick_label)}</text>')
    # Each reference's name just above its line, and at least a line above the name
    # of the one below it: with a rate far over both (a small list's first bounces)
    # the lines are a few pixels apart, and "0.1 %" and "0.3 %" were written over
    # each other.
    label_floor = math.inf
    for label, value, colour in sorted(references, key=lambda r: r[1]):
        y = xy(0, value)[1]
        label_y = min(y - 4, label_floor - LINE_H)
        label_floor = label_y
        parts.append(f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{width - PAD_RIGHT}" y="{label_y:.1f}" class="ax" text-anchor="end" '
                     f'fill="{colour}">{escape(label)}</text>')
    last = len(labels) - 1
    for i, label in enumerate(labels):
        if (last - i) % every == 0:
            # Inside the chart: today's date ("Mon 24 Nov", the house's short day) is
            # wider than the right padding past its point.
            x = min(xy(i, 0)[0], width - CHAR_W * len(label) / 2)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" class="ax" '
                         f'text-anchor="middle">{escape(label)}</text>')
    for s, base, upper in zip(series, bases, tops, strict=True):
        line = [xy(i, v) for i, v in enumerate(upper)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
        if stacked:  # a band only: a series at 0 has none, where a line would lie on the total
            floor = [xy(i, v) for i, v in enumerate(base)][::-1]
            band = " ".join(f"{x:.1f},{y:.1f}" for x, y in line + floor)
            parts.append(f'<polygon points="{band}" fill="{s.colour}" fill-opacity="0.85" stroke="none" '
                         f'class="band"><title>{escape(s.name)}</title></polygon>')
            continue
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        parts.append(f'<polyline points="{points}" fill="none" stroke="{s.colour}" stroke-width="2"{dash}>'
                     f'<title>{escape(s.name)}</title></polyline>')
    parts += legend
    parts.append("</svg>")
    return mark_safe("".join(parts))


def bar_chart(*, title: str, labels: list[str], series: list[Series], width: int = WIDTH) -> SafeString:
    """Horizontal bars, one group per label. Labels (topic names: long) are shown
    whole, wrapped onto several lines when they do not fit; every bar has its own
    row, so its value's text never overlaps another bar or value."""
    max_chars = int(width * LABEL_MAX_SHARE / CHAR_W)
    wrapped = [textwrap.wrap(label, max_chars, break_long_words=True, break_on_hyphens=False) or [""]
               for label in labels]
    longest = max([len(line) for lines in wrapped for line in lines] + [4])
    label_w = int(longest * CHAR_W) + 16
    value_w = int(len(f"{max([v for s in series for v in s.values] + [0]):g}") * CHAR_W) + 12
    plot_w = width - label_w - PAD_RIGHT - value_w
    top = max([v for s in series for v in s.values] + [1])
    rows = [max(len(series) * BAR_H, len(lines) * LINE_H) + GROUP_GAP for lines in wrapped]
    legend_y = PAD_TOP + sum(rows) + 18
    legend, legend_lines = _legend([(s.name, s.colour) for s in series], legend_y, width)
    height = legend_y + 10 + LEGEND_LINE * (legend_lines - 1) if len(series) > 1 else legend_y - 10
    parts = [_svg_open(title, width=width, height=height)]
    y0 = PAD_TOP
    for gi, lines in enumerate(wrapped):
        row = rows[gi] - GROUP_GAP
        first = y0 + (row - len(lines) * LINE_H) / 2 + LINE_H - 3
        parts.append(f'<text x="{label_w - 8}" y="{first:.1f}" class="ax" text-anchor="end">'
                     + "".join(f'<tspan x="{label_w - 8}" dy="{0 if i == 0 else LINE_H}">{escape(line)}</tspan>'
                               for i, line in enumerate(lines))
                     + "</text>")
        bars_top = y0 + (row - len(series) * BAR_H) / 2
        for si, s in enumerate(series):
            value = s.values[gi]
            w = value / top * plot_w
            y = bars_top + si * BAR_H
            parts.append(f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{BAR_H - 2}" '
                         f'fill="{s.colour}"><title>{escape(s.name)}: {value:g}</title></rect>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + BAR_H - 4:.1f}" class="ax">{value:g}</text>')
        y0 += rows[gi]
    if len(series) > 1:
        parts += legend
    parts.append("</svg>")
    return mark_safe("".join(parts))


def _wide_and_narrow(draw, **kwargs) -> SafeString:
    """A chart drawn for the desktop's width and for a phone's, one after the other;
    admin.css shows the one that fits. Then its figures as a table (folded): what a
    screen reader reads, and a person who wants the numbers."""
    return mark_safe(draw(**kwargs) + draw(**kwargs, width=NARROW_WIDTH)
                     + _figures_table(kwargs["labels"], kwargs["series"], percent=kwargs.get("percent", False)))


def _figures_table(labels: list[str], series: list[Series], *, percent: bool) -> str:
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in series)
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th>'
        + "".join(f"<td>{escape(_fmt(s.values[i], percent))}</td>" for s in series)
        + "</tr>"
        for i, label in enumerate(labels)
    )
    return (f'<details class="chart-figures"><summary>The figures</summary><div class="table-scroll">'
            f'<table><thead><tr><td></td>{head}</tr></thead><tbody>{rows}</tbody></table></div></details>')


def _svg_open(title: str, *, width: int, height: int) -> str:
    size = "wide" if width == WIDTH else "narrow"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)} (its figures are in the table under it)" class="chart chart--{size}">'
        f'<title>{escape(title)}</title>'
        "<style>.grid{stroke:#e5e7eb}.ax,.lg{font:11px system-ui,sans-serif;fill:#475569}</style>"
    )


def _days(today: dt.date, days: int) -> list[dt.date]:
    return [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]


def subscribers_by_status(*, days: list[dt.date]) -> dict[str, list[int]]:
    """Readers on each day by status, reconstructed from the lifecycle timestamps
    (created, confirmed, unsubscribed, status changed).

    One pass over the readers, grouped by the day of each timestamp that matters
    (the days before the window are one day: they count alike for every day shown),
    then each day's figures are added up here from those few thousand groups at
    most. A reader is active or paused on a day if they existed by its end and were
    confirmed (or made active without a confirmation: imported with prior consent
    before confirmed_at was kept) and had neither unsubscribed nor been suppressed;
    pending if not yet confirmed. It was one aggregate of 4 counts a day, 120
    filtered counts over every reader (390 ms at 100,000, docs/benchmarks.md)."""
    status = Subscriber.Status
    before = days[0] - dt.timedelta(days=1)

    def day_of(field: str, state: str | None = None) -> Case:
        # The reader's day of `field` (in the current time zone, as the chart's days
        # are), any day before the window as the one before it; None if unset, or if
        # the reader is not in `state` (given).
        unset = Q(**{f"{field}__isnull": True})
        if state:
            unset |= ~Q(status=state)
        return Case(When(unset, then=None), When(Q(**{f"{field}__date__lt": days[0]}), then=Value(before)),
                    default=TruncDate(field), output_field=DateField())

    rows = (
        Subscriber.objects.annotate(created=day_of("created_at"), confirmed=day_of("confirmed_at"),
                                    gone=day_of("unsubscribed_at", status.UNSUBSCRIBED),
                                    suppressed=day_of("status_changed_at", status.SUPPRESSED))
        .values_list("status", "created", "confirmed", "gone", "suppressed")
        .annotate(n=Count("id")).order_by()
    )
    figures = {name: [0] * len(days) for name in ("Active or paused", "Pending", "Unsubscribed", "Suppressed")}
    for state, created, confirmed, gone, suppressed, n in rows:
        for i, day in enumerate(days):
            if created > day:
                continue
            if gone is not None and gone <= day:
                figures["Unsubscribed"][i] += n
            elif suppressed is not None and suppressed <= day:
                figures["Suppressed"][i] += n
            elif (confirmed <= day if confirmed is not None else state in (status.ACTIVE, status.PAUSED)):
                figures["Active or paused"][i] += n
            else:
                figures["Pending"][i] += n
    return figures


def readers_left_erased_add(*, figures: dict[str, list[int]], days: list[dt.date]) -> None:
    """Add to `figures` (subscribers_by_status) the readers who left the list and were
    erased since by the retention (LeftReadersErased): unsubscribed or suppressed
    from the day they left, as they were counted before their erasure. One query."""
    bands = {Subscriber.Status.UNSUBSCRIBED: "Unsubscribed", Subscriber.Status.SUPPRESSED: "Suppressed"}
    for left_on, state, n in LeftReadersErased.objects.filter(left_on__lte=days[-1]).values_list(
            "left_on", "status", "erased"):
        band = figures[bands.get(state, "Unsubscribed")]
        for i, day in enumerate(days):
            if left_on <= day:
                band[i] += n


# A day's sends are counted for good only once it is this long over: the lease
# sweep settles a digest claimed before midnight as sent after it, stamped with its
# claim's time (delivery.py), minutes later at most.
SENDS_SETTLED_AFTER = dt.timedelta(days=1)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def sends_counted(*, days: list[dt.date]) -> dict[dt.date, int]:
    """Digests sent on each of `days` (in the current time zone): the days over for
    good from their SentDay rows, the others (today, yesterday, a day not counted
    yet) from the ledger by delivery_sent_idx, and those of them now over for good
    kept as SentDay rows. The month's first load counts its days once."""
    zone = str(timezone.get_current_timezone())
    kept = dict(SentDay.objects.filter(zone=zone, day__in=days).values_list("day", "sent"))
    missing = [day for day in days if day not in kept]
    if not missing:
        return kept
    counted = dict(
        Delivery.objects.filter(status=Delivery.Status.SENT, sent_at__gte=_midnight(missing[0]),
                                sent_at__lt=_midnight(missing[-1] + dt.timedelta(days=1)))
        .annotate(day=TruncDate("sent_at")).values_list("day").annotate(n=Count("*")).order_by()
    )
    over = timezone.localtime(timezone.now() - SENDS_SETTLED_AFTER).date()
    SentDay.objects.bulk_create([SentDay(day=day, zone=zone, sent=counted.get(day, 0))
                                 for day in missing if day < over], ignore_conflicts=True)
    return kept | {day: counted.get(day, 0) for day in missing}


# The events the digest figures count: a digest's, and one of an email the ESP
# named no tag of (DeliveryEvent.email "", as every event before migration 0045).
DIGEST_EMAILS = (DIGEST_TAG, "")


def _bounces_and_complaints(*, days: list[dt.date]):
    """The bounces and complaints since the first of `days`, an editor's test sends'
    left out (DeliveryEvent.of_test_send: of no digest to a reader). Read by
    event_type_idx (event_type, occurred_at, delivery)."""
    return DeliveryEvent.objects.filter(
        # From an instant: `occurred_at__date__gte` asked each row's date.
        occurred_at__gte=_midnight(days[0]), event_type__in=["bounced", "complained"], of_test_send=False,
    ).order_by()


def sends_per_day(*, days: list[dt.date]) -> dict[str, list[int]]:
    """Digests sent, and digests bounced or complained about, per day: each on the
    day of its first such event, which may come days after the send. A digest
    reported twice (another event id) counts once, as the edition's figures count
    it (curation.edition_figures): it read "Complained 2", a 50 % rate of 4 digests,
    beside an edition's "Complaints 1". An event matched to no digest counts as
    itself, unless it is of another email (other_emails_events: a confirmation to a
    mistyped address counted as a digest's bounce until 7 December); one of an
    editor's test send counts nowhere."""
    sent = sends_counted(days=days)
    first: dict[tuple[int, str], dt.datetime] = {}
    unmatched: list[tuple[str, dt.datetime]] = []
    for delivery_id, kind, at, email in _bounces_and_complaints(days=days).values_list(
        "delivery_id", "event_type", "occurred_at", "email",
    ):
        if delivery_id is None:
            if email in DIGEST_EMAILS:
                unmatched.append((kind, at))
        elif (delivery_id, kind) not in first or at < first[delivery_id, kind]:
            first[delivery_id, kind] = at
    events = Counter((timezone.localtime(at).date(), kind)
                     for kind, at in [*unmatched, *((kind, at) for (_, kind), at in first.items())])
    return {
        "Sent": [sent.get(d, 0) for d in days],
        "Bounced": [events.get((d, "bounced"), 0) for d in days],
        "Complained": [events.get((d, "complained"), 0) for d in days],
    }


@dataclass(frozen=True)
class OtherEmailEvents:
    """Bounces and complaints of one email that is not a digest."""

    email: str  # as an editor reads it (subscribers.services.EMAIL_NAMES)
    bounced: int
    complained: int


def other_emails_events(*, days: list[dt.date]) -> list[OtherEmailEvents]:
    """The bounces and complaints over `days` of the emails that are not digests
    (their events' DeliveryEvent.email), most first: a confirmation's bounce is most
    often an address mistyped or made up on the form, which tells the editor about
    the form's visitors, not about the digests' reputation. One grouped query."""
    counts: dict[str, Counter] = {}
    for email, kind, n in (_bounces_and_complaints(days=days).exclude(email__in=DIGEST_EMAILS)
                           .values_list("email", "event_type").annotate(n=Count("id"))):
        counts.setdefault(email, Counter())[kind] = n
    rows = [OtherEmailEvents(email=EMAIL_NAMES.get(email, email.replace("_", " ").capitalize()),
                             bounced=c["bounced"], complained=c["complained"]) for email, c in counts.items()]
    return sorted(rows, key=lambda r: (-(r.bounced + r.complained), r.email))


def topic_popularity() -> list[tuple[str, int]]:
    """Receiving readers per active topic, most read first. The readers' links
    counted by topic, then put on the topics (two queries): the topics left-joined
    to every link and reader before counting took 107 ms at 300,000 links, this
    44 ms (in the admin, 116-124 ms then 64-86; docs/benchmarks.md, the admin at
    scale, third pass). The join of the links to the readers is the rest."""
    readers = dict(
        Subscriber.topics.through.objects
        .filter(subscriber__status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED])
        .values_list("topic_id").annotate(n=Count("*")).order_by()
    )
    topics = Topic.objects.filter(is_active=True).values_list("pk", "name", "position")
    ordered = sorted(topics, key=lambda t: (-readers.get(t[0], 0), t[2], t[1]))
    return [(name, readers.get(pk, 0)) for pk, name, _ in ordered]


def feedback_per_topic() -> list[tuple[str, int, int]]:
    """(topic, "more" votes, "less" votes) on papers of each topic. Votes only: a
    paper opened from the digest (a click, Feedback.Source.CLICK) is not a vote."""
    from .relevance import RELEVANCE_THRESHOLD

    rows = (
        PaperTopic.objects.filter(score__gte=RELEVANCE_THRESHOLD, topic__is_active=True)
        .values_list("topic__name")
        .annotate(
            more=Count("paper__feedback", filter=Q(paper__feedback__vote=Feedback.Vote.MORE,
                                                   paper__feedback__source=Feedback.Source.VOTE)),
            less=Count("paper__feedback", filter=Q(paper__feedback__vote=Feedback.Vote.LESS)),
        )
        .order_by("topic__position", "topic__name")
    )
    return [(name, more, less) for name, more, less in rows if more or less]


def dashboard_charts(*, today: dt.date | None = None, days: int = DASHBOARD_DAYS) -> dict:
    """Every chart of the dashboard, plus the totals shown above them."""
    today = today or timezone.localdate()
    span = _days(today, days)
    labels = [formats.date_format(d, "MONTH_DAY_FORMAT") for d in span]
    by_status = subscribers_by_status(days=span)
    readers_left_erased_add(figures=by_status, days=span)
    sends = sends_per_day(days=span)
    bounce_rate = [b / s if s else 0.0 for b, s in zip(sends["Bounced"], sends["Sent"], strict=True)]
    complaint_rate = [c / s if s else 0.0 for c, s in zip(sends["Complained"], sends["Sent"], strict=True)]
    total_sent = sum(sends["Sent"])
    popularity = topic_popularity()
    feedback = feedback_per_topic()
    bounce_total = sum(sends["Bounced"]) / total_sent if total_sent else 0.0
    complaint_total = sum(sends["Complained"]) / total_sent if total_sent else 0.0
    status_colours = [STATUS_COLOURS[s] for s in ("active", "pending", "unsubscribed", "suppressed")]
    return {
        "days": days,
        "totals": {
            "active": by_status["Active or paused"][-1],
            "pending": by_status["Pending"][-1],
            "sent": total_sent,
            "bounce_rate": bounce_total,
            "complaint_rate": complaint_total,
            "bounce_text": rate_text(bounce_total),
            "complaint_text": rate_text(complaint_total),
        },
        "subscribers": _wide_and_narrow(
            line_chart, title="Subscribers by status", labels=labels, stacked=True,
            series=[Series(n, v, c) for (n, v), c in zip(by_status.items(), status_colours, strict=True)],
            legend_values=[f"{v[-1]:,}" for v in by_status.values()],
        ),
        "sends": _wide_and_narrow(
            line_chart, title="Digests sent, bounces and complaints per day", labels=labels,
            series=[Series(n, v, c) for (n, v), c in
                    zip(sends.items(), [BLUE, BOUNCE_COLOUR, COMPLAINT_COLOUR], strict=True)],
            legend_values=[f"{sum(v):,} in {days} days" for v in sends.values()],
        ),
        "rates": _wide_and_narrow(
            line_chart, title="Bounce and complaint rates", labels=labels, percent=True,
            series=[Series("Bounce rate", bounce_rate, BOUNCE_COLOUR),
                    Series("Complaint rate", complaint_rate, COMPLAINT_COLOUR, dash="2 3")],
            references=[(f"{rate_text(RATE_WARN)} — keep under", RATE_WARN, "#16a34a"),
                        (f"{rate_text(RATE_LIMIT)} — Gmail limit", RATE_LIMIT, RED)],
        ),
        "other_emails": other_emails_events(days=span),
        "popularity": _wide_and_narrow(
            bar_chart, title="Readers per topic", labels=[n for n, _ in popularity],
            series=[Series("Readers", [v for _, v in popularity], PALETTE[0])],
        ),
        "feedback": _wide_and_narrow(
            bar_chart, title="Feedback per topic", labels=[n for n, _, _ in feedback],
            # Blue and red, not green and red: told apart by people who cannot tell those two.
            series=[Series("More like this", [m for _, m, _ in feedback], BLUE),
                    Series("Less like this", [l for _, _, l in feedback], RED)],
        ) if feedback else None,
    }
