"""The dashboard's SVG charts (newsletter/dashboard.py) read as a person reads them:
whole labels, no text on top of other text, whole-number ticks for counts."""

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from newsletter.dashboard import Series, bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(str(svg)).iter(f"{SVG}text"))


def test_bar_labels_are_whole_however_long():
    labels = ["Language models & pre-training",
              ("Reinforcement learning from human feedback and "
               "preference optimisation for very large models"),
              "Vision"]
    svg = bar_chart(title="Readers per topic", labels=labels,
                    series=[Series("Readers", [3, 0, 12], "#000")])
    shown = [" ".join(t.itertext()) for t in _texts(svg) if t.get("text-anchor") == "end"]
    assert [" ".join(s.split()) for s in shown] == labels


def test_bar_values_never_overlap_even_at_zero():
    svg = bar_chart(title="Feedback per topic", labels=["Agents", "Robotics"],
                    series=[Series("More", [0, 4], "#0f0"), Series("Less", [0, 0], "#f00")])
    values = [t for t in _texts(svg) if t.get("text-anchor") is None and (t.text or "").isdigit()]
    assert len(values) == 4
    ys = sorted(float(t.get("y")) for t in values)
    # 11 px text: baselines at least a line apart.
    assert all(b - a >= 12 for a, b in itertools.pairwise(ys))


def test_count_axes_have_whole_number_ticks():
    for top in (1, 2, 3, 7, 26, 143):
        svg = line_chart(title="Digests", labels=["a", "b"], series=[Series("Sent", [0, top], "#000")])
        ticks = [t.text for t in _texts(svg) if t.get("text-anchor") == "end" and t.get("class") == "ax"]
        numbers = [float(x.replace(",", "")) for x in ticks if re.fullmatch(r"[\d,]+(\.\d+)?", x)]
        assert numbers and all(n == int(n) for n in numbers), (top, ticks)
        assert max(numbers) >= top


@pytest.mark.parametrize("rate", [0.0, 0.002, 0.05, 0.5])
def test_the_reference_lines_names_never_overlap_whatever_the_rates(rate):
    """A small list's first bounce (1 of 5 sends: 20 %) put the 0.1 % and 0.3 % lines
    a few pixels apart, and their names over each other."""
    from newsletter.dashboard import RATE_LIMIT, RATE_WARN

    for width in (460, 340):
        svg = line_chart(title="Rates", labels=["a", "b"], percent=True, width=width,
                         series=[Series("Bounce rate", [0, rate], "#000")],
                         references=[("0.1 % — keep under", RATE_WARN, "#16a34a"),
                                     ("0.3 % — Gmail limit", RATE_LIMIT, "#dc2626")])
        ys = sorted(float(t.get("y")) for t in _texts(svg) if (t.text or "").startswith(("0.1 % —", "0.3 % —")))
        assert len(ys) == 2 and ys[1] - ys[0] >= 12, (rate, width, ys)  # 11 px text: a line apart


def test_rate_axes_keep_percentages():
    svg = line_chart(title="Rates", labels=["a", "b"], percent=True,
                     series=[Series("Bounce rate", [0, 0.002], "#000")])
    assert any((t.text or "").endswith("%") for t in _texts(svg))


@pytest.mark.parametrize(("rate", "ticks"), [
    (0.00003, ["0 %", "0.001 %", "0.002 %", "0.003 %"]),
    (0.0038, ["0 %", "0.1 %", "0.2 %", "0.3 %", "0.4 %"]),
    (0.052, ["0 %", "2 %", "4 %", "6 %"]),
    (0.15, ["0 %", "5 %", "10 %", "15 %"]),
    (0.0, ["0 %", "0.5 %", "1 %"]),
])
def test_rate_axes_tick_round_percentages_that_cover_the_highest_rate(rate, ticks):
    """The rates chart's axis read "0 %, 0.19 %, 0.38 %" (its top, 1.25 times the
    Gmail limit, cut in halves): ticks a person reads at a glance, 1, 2 or 5 times a
    power of ten apart, up to the first at or over the highest rate, which is drawn
    to that scale."""
    for width in (460, 340):
        svg = line_chart(title="Rates", labels=["a", "b"], percent=True, width=width,
                         series=[Series("Bounce rate", [0, rate], "#000")])
        texts = _texts(svg)
        shown = [t.text for t in texts if t.get("text-anchor") == "end" and t.get("class") == "ax"]
        assert shown == ticks, (rate, width)
        # The line's highest point is where the axis puts its rate: the top tick's
        # height times the rate's share of it.
        tick_y = {t.text: float(t.get("y")) - 4 for t in texts if t.text in ticks}
        top = float(ticks[-1].removesuffix(" %")) / 100
        line = ET.fromstring(str(svg)).find(f"{SVG}polyline").get("points").split()
        peak = float(line[-1].split(",")[1])
        expected = tick_y["0 %"] - (tick_y["0 %"] - tick_y[ticks[-1]]) * rate / top
        assert abs(peak - expected) < 0.2, (rate, peak, expected)


def test_the_dashboards_rate_axis_ticks_round_percentages_over_its_reference_lines():
    from newsletter.dashboard import RATE_LIMIT, RATE_WARN

    svg = line_chart(title="Rates", labels=["a", "b"], percent=True,
                     series=[Series("Bounce rate", [0, 0.0005], "#000")],
                     references=[("0.1 % — keep under", RATE_WARN, "#16a34a"),
                                 ("0.3 % — Gmail limit", RATE_LIMIT, "#dc2626")])
    shown = [t.text for t in _texts(svg) if t.get("text-anchor") == "end" and t.get("class") == "ax"
             and "—" not in t.text]
    assert shown == ["0 %", "0.1 %", "0.2 %", "0.3 %", "0.4 %"]


@pytest.mark.django_db
def test_feedback_per_topic_counts_votes_not_papers_opened_from_the_digest():
    from newsletter.dashboard import feedback_per_topic
    from newsletter.feedback import feedback_click_record, feedback_record
    from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

    agents = TopicFactory(name="Agents")
    paper = PaperFactory()
    PaperTopicFactory(paper=paper, topic=agents, score=0.9)
    feedback_record(subscriber=SubscriberFactory(), paper=paper, vote=1)
    feedback_click_record(subscriber=SubscriberFactory(), paper=paper)

    assert feedback_per_topic() == [("Agents", 1, 0)]


@pytest.mark.django_db
def test_feedback_per_topic_leaves_out_papers_that_did_not_pass_for_it_and_topics_without_votes():
    from newsletter.dashboard import feedback_per_topic
    from newsletter.feedback import feedback_record
    from newsletter.relevance import RELEVANCE_THRESHOLD
    from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

    agents, vision = TopicFactory(name="Agents"), TopicFactory(name="Vision")
    PaperTopicFactory(paper=PaperFactory(), topic=TopicFactory(name="Robotics"), score=0.9)  # no vote on it
    paper = PaperFactory()
    PaperTopicFactory(paper=paper, topic=agents, score=0.9)
    PaperTopicFactory(paper=paper, topic=vision, score=RELEVANCE_THRESHOLD - 0.05)
    feedback_record(subscriber=SubscriberFactory(), paper=paper, vote=-1)

    assert feedback_per_topic() == [("Agents", 0, 1)]


def test_readers_per_topic_count_the_receiving_readers_links_by_topic_with_no_join_of_the_topics(db):
    """Each active topic with its active or paused readers, most read first, a
    topic nobody reads too; the links are counted by topic in one query that joins
    only the readers (the topics left-joined to every link and reader took 107 ms
    at 300,000 links, this 44 ms: docs/benchmarks.md, third pass). Fails before on
    the join; the figures held."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from newsletter.dashboard import topic_popularity
    from newsletter.models import Topic
    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory, TopicFactory

    Topic.objects.update(is_active=False)  # the default topics (migrations) out of the way
    agents, vision, unread = (TopicFactory(name=n, position=p) for n, p in (("Alpha field", 2), ("Beta field", 1), ("Gamma field", 3)))
    # Read by nobody too: in the topics' own order, not by name.
    TopicFactory(name="Delta field", position=4)
    TopicFactory(name="Retired field", is_active=False).subscribers.add(SubscriberFactory())
    for status, topics in [(Subscriber.Status.ACTIVE, [agents, vision]), (Subscriber.Status.PAUSED, [agents]),
                           (Subscriber.Status.UNSUBSCRIBED, [vision, unread]), (Subscriber.Status.PENDING, [unread])]:
        SubscriberFactory(status=status).topics.add(*topics)

    with CaptureQueriesContext(connection) as queries:
        assert topic_popularity() == [("Alpha field", 2), ("Beta field", 1), ("Gamma field", 0), ("Delta field", 0)]
    links = [q["sql"] for q in queries.captured_queries if "subscribers_subscriber_topics" in q["sql"]]
    assert len(links) == 1 and "newsletter_topic" not in links[0] and "LEFT OUTER JOIN" not in links[0], links


def _charts(html: str) -> list[str]:
    """The dashboard's SVGs of one chart: the desktop's, then the phone's."""
    return re.findall(r"<svg.*?</svg>", str(html), re.DOTALL)


def _text_boxes(svg: str) -> list[tuple[float, float, float, str]]:
    """Each text's horizontal extent and baseline, from the charts' own font metrics
    (dashboard.CHAR_W, the widest glyphs' average advance): (left, right, y, text)."""
    from newsletter.dashboard import CHAR_W

    boxes = []
    for text in _texts(svg):
        lines = [t for t in text.iter(f"{SVG}tspan")] or [text]
        for line in lines:
            words = "".join(line.itertext()) if line is not text else (text.text or "")
            x = float(line.get("x", text.get("x")))
            y = float(text.get("y")) + sum(float(t.get("dy", 0)) for t in lines[:lines.index(line) + 1])
            width = CHAR_W * len(words)
            left = {"end": x - width, "middle": x - width / 2}.get(text.get("text-anchor"), x)
            boxes.append((left, left + width, y, words))
    return boxes


@pytest.mark.django_db
def test_on_a_phone_the_charts_are_drawn_for_its_width_and_every_text_fits():
    """The desktop's 640-wide charts, scaled into a phone's column, had text of 6 px.
    Each chart is also drawn 340 wide (shown below 768 px, admin.css): its text stays
    inside the chart and no two texts on a line overlap, a wrapped legend included."""
    from newsletter.dashboard import NARROW_WIDTH, dashboard_charts
    from tests.factories import SubscriberFactory, TopicFactory

    reader = SubscriberFactory()
    reader.topics.add(TopicFactory(name="Efficient training & compression of very large models"))
    charts = dashboard_charts()
    for name in ("subscribers", "sends", "rates", "popularity"):
        wide, narrow = _charts(charts[name])
        assert 'class="chart chart--wide"' in wide and 'class="chart chart--narrow"' in narrow, name
        assert ET.fromstring(narrow).get("viewBox").split()[2] == str(NARROW_WIDTH)
        boxes = _text_boxes(narrow)
        assert boxes, name
        for left, right, _, words in boxes:
            assert -0.5 <= left and right <= NARROW_WIDTH + 0.5, (name, words, left, right)
        for (l1, r1, y1, w1), (l2, r2, y2, w2) in itertools.combinations(boxes, 2):
            if abs(y1 - y2) < 11:
                assert r1 <= l2 or r2 <= l1, (name, w1, w2)
    # The readers' legend does not fit on one line at 340: it wraps, and today's date is shown.
    legend_ys = {y for _, _, y, words in _text_boxes(_charts(charts["subscribers"])[1])
                 if words.startswith(("Active", "Suppressed"))}
    assert len(legend_ys) == 2
    from django.utils import formats, timezone
    today = formats.date_format(timezone.localdate(), "MONTH_DAY_FORMAT")  # "Mon 24 Nov"
    assert any(words == today for *_, words in _text_boxes(_charts(charts["sends"])[1]))


def _band_heights_at_the_end(svg: str) -> dict[str, float]:
    """Each stacked band's height (px) at the chart's last day, by series name."""
    heights = {}
    for band in ET.fromstring(str(svg)).iter(f"{SVG}polygon"):
        points = [tuple(map(float, p.split(","))) for p in band.get("points").split()]
        last_x = max(x for x, _ in points)
        ys = [y for x, y in points if x == last_x]
        heights[band.find(f"{SVG}title").text] = max(ys) - min(ys)
    return heights


@pytest.mark.django_db
def test_readers_of_two_statuses_with_the_same_count_both_show_on_the_dashboard():
    """One active and one pending reader: drawn as lines, the pending one lay exactly
    on the active one, and the chart read as no active reader at all."""
    from newsletter.dashboard import dashboard_charts
    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory

    SubscriberFactory(status=Subscriber.Status.ACTIVE)
    SubscriberFactory(status=Subscriber.Status.PENDING, confirmed_at=None)

    wide, narrow = _charts(dashboard_charts()["subscribers"])
    svg = wide
    assert _band_heights_at_the_end(narrow) == pytest.approx(_band_heights_at_the_end(wide))

    heights = _band_heights_at_the_end(svg)
    assert heights["Active or paused"] > 10 and heights["Pending"] > 10
    assert heights["Active or paused"] == pytest.approx(heights["Pending"])
    assert heights["Unsubscribed"] == 0 and heights["Suppressed"] == 0
    # No line drawn for a status at 0 (it would lie on the total, in its colour).
    assert not list(ET.fromstring(str(svg)).iter(f"{SVG}polyline"))
    legend = [t.text for t in _texts(svg) if t.get("class") == "lg"]
    assert legend == ["Active or paused 1", "Pending 1", "Unsubscribed 0", "Suppressed 0"]


@pytest.mark.django_db
def test_each_chart_has_its_figures_as_a_table_and_tells_series_apart_by_more_than_colour():
    """A screen reader got only each chart's title; "more" and "less" were green and
    red bars, the bounce and complaint lines lay on each other at 0 in one colour each,
    the amber was 2.2:1 against white."""
    from newsletter.dashboard import dashboard_charts
    from newsletter.models import Feedback
    from tests.factories import PaperFactory, PaperTopicFactory, SubscriberFactory, TopicFactory

    topic = TopicFactory(name="Agents")
    reader = SubscriberFactory()
    reader.topics.add(topic)
    paper = PaperFactory()
    PaperTopicFactory(paper=paper, topic=topic)
    Feedback.objects.create(subscriber=reader, paper=paper, vote=1)
    charts = dashboard_charts()

    table = re.search(r'<details class="chart-figures">.*?</details>', str(charts["popularity"])).group(0)
    assert '<th scope="col">Readers</th>' in table and '<th scope="row">Agents</th><td>1</td>' in table
    subscribers = str(charts["subscribers"])
    assert subscribers.count('<tr><th scope="row">') == 30  # a row per day
    assert "its figures are in the table under it" in subscribers
    assert "#16a34a" not in str(charts["feedback"])  # blue and red
    assert 'stroke-dasharray="2 3"' in str(charts["rates"])  # the complaint line is dashed
    assert "#f59e0b" not in "".join(str(charts[n]) for n in ("subscribers", "sends", "rates"))


def test_the_dashboard_writes_each_rate_as_a_percentage_a_person_reads(admin_client, monkeypatch):
    """The rates' table said "1e+02 %" for a day whose one digest bounced and "12 %"
    for 1 of 8 (".2g"), the totals above the charts "0.00 %". Every rate on the page
    is written alike, to three figures: "100 %", "12.5 %", "0.38 %", "0 %"."""
    from django.urls import reverse

    from newsletter import dashboard

    def sends(*, days):
        quiet = [0] * (len(days) - 3)
        return {"Sent": [*quiet, 263, 8, 1], "Bounced": [*quiet, 1, 1, 1], "Complained": [*quiet, 0, 1, 0]}

    monkeypatch.setattr(dashboard, "sends_per_day", sends)
    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()

    rates = html.split("<h2>Bounce and complaint rates</h2>", 1)[1].split("</details>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">[^<]*</th><td>([^<]*)</td><td>([^<]*)</td></tr>', rates)
    assert rows[-4:] == [("0 %", "0 %"), ("0.38 %", "0 %"), ("12.5 %", "12.5 %"), ("100 %", "0 %")]
    totals = dict(re.findall(r"<dt>(Bounce rate|Complaint rate)</dt><dd>([^< ]+ %)", html))
    assert totals == {"Bounce rate": "1.1 %", "Complaint rate": "0.368 %"}  # 3 and 1 of 272


def _by_status_counted_day_by_day(days):
    """The readers by status as the dashboard defined them until 5 December: 4 counts
    a day over every reader (what subscribers_by_status must still give)."""
    import datetime as dt

    from django.db.models import Count, Q
    from django.utils import timezone

    from subscribers.models import Subscriber

    figures = {"Active or paused": [], "Pending": [], "Unsubscribed": [], "Suppressed": []}
    for day in days:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=timezone.get_current_timezone())
        existed = Q(created_at__lt=end)
        gone = Q(status=Subscriber.Status.UNSUBSCRIBED, unsubscribed_at__lt=end)
        suppressed = Q(status=Subscriber.Status.SUPPRESSED, status_changed_at__lt=end)
        confirmed = Q(confirmed_at__lt=end) | Q(
            confirmed_at__isnull=True, status__in=[Subscriber.Status.ACTIVE, Subscriber.Status.PAUSED])
        row = Subscriber.objects.aggregate(
            a=Count("id", filter=existed & confirmed & ~gone & ~suppressed),
            p=Count("id", filter=existed & ~confirmed & ~gone & ~suppressed),
            u=Count("id", filter=existed & gone), s=Count("id", filter=existed & suppressed))
        for name, key in zip(figures, "apus", strict=True):
            figures[name].append(row[key])
    return figures


@pytest.mark.django_db
def test_readers_by_status_are_grouped_in_one_pass_and_count_as_the_day_by_day_definition(
    django_assert_num_queries,
):
    """The readers by status on each of 30 days come from one grouped pass over the
    readers, not 120 filtered counts of all of them (390 ms at 100,000 readers,
    docs/benchmarks.md), and give the same figures: readers made, confirmed,
    unsubscribed and suppressed before, inside and at the edges of the window."""
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from newsletter.dashboard import subscribers_by_status
    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory

    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in range(29, -1, -1)]
    zone = timezone.get_current_timezone()

    def at(days_ago: int, hour: int = 12) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour), tzinfo=zone)

    status = Subscriber.Status
    for n, (made, confirmed, state, left) in enumerate(itertools.product(
        [200, 30, 29, 10, 0], [None, 100, 29, 5, 0], list(status), [None, 40, 29, 3, 0],
    )):
        if confirmed is not None and confirmed > made:
            continue
        reader = SubscriberFactory(email=f"r{n}@example.com", status=state)
        Subscriber.objects.filter(pk=reader.pk).update(
            created_at=at(made, 0 if n % 3 == 0 else 23), confirmed_at=at(confirmed) if confirmed is not None else None,
            unsubscribed_at=at(left) if left is not None and state == status.UNSUBSCRIBED else None,
            status_changed_at=at(left if left is not None else made))

    with CaptureQueriesContext(connection) as queries:
        grouped = subscribers_by_status(days=days)
    assert len(queries) == 1
    assert queries[0]["sql"].count("COUNT(") == 1, queries[0]["sql"]
    assert grouped == _by_status_counted_day_by_day(days)
    assert sum(v[-1] for v in grouped.values()) == Subscriber.objects.count()


@pytest.mark.django_db
def test_the_sends_of_days_over_for_good_are_counted_once_and_kept():
    """The dashboard's digests sent per day: a day over for good (before yesterday)
    is counted from the ledger once and kept (SentDay); each load after that counts
    only yesterday's and today's sends. It counted the whole month's ledger at each
    load (0.4 to 0.8 s at 2 million rows, docs/benchmarks.md)."""
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from newsletter.dashboard import sends_counted
    from newsletter.models import Delivery, Edition, SentDay
    from tests.factories import SubscriberFactory

    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in range(9, -1, -1)]
    edition = Edition.objects.create(date=today)
    noon = dt.time(12, tzinfo=timezone.get_current_timezone())
    for back, count in ((8, 2), (3, 1), (1, 4), (0, 3)):
        for _ in range(count):
            Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT,
                                    sent_at=dt.datetime.combine(today - dt.timedelta(days=back), noon))

    expected = {day: 0 for day in days} | {today - dt.timedelta(days=8): 2, today - dt.timedelta(days=3): 1,
                                           today - dt.timedelta(days=1): 4, today: 3}
    assert sends_counted(days=days) == expected
    assert set(SentDay.objects.values_list("day", flat=True)) == set(days[:-2])  # not yesterday's, not today's

    # A send today and one settled late, stamped yesterday: counted; the kept days are not read again.
    for when in (today, today - dt.timedelta(days=1)):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=Delivery.Status.SENT,
                                sent_at=dt.datetime.combine(when, noon))
    with CaptureQueriesContext(connection) as queries:
        again = sends_counted(days=days)
    assert again == expected | {today: 4, today - dt.timedelta(days=1): 5}
    ledger = [q["sql"] for q in queries if 'FROM "newsletter_delivery"' in q["sql"]]
    assert len(ledger) == 1 and str(today - dt.timedelta(days=1)) in ledger[0], ledger


def test_the_dashboard_counts_todays_sends_bounces_and_complaints_and_the_readers_pending_now(admin_client):
    """Today's row of the sends' figures counts the digests sent (not a failed one),
    the bounces and the complaints each as themselves; the legend gives the month's
    totals; "Pending confirmation" is the readers pending today."""
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from newsletter.models import Delivery, DeliveryEvent, Edition
    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory

    today = timezone.localdate()
    edition = Edition.objects.create(date=today)
    noon = dt.time(12, tzinfo=timezone.get_current_timezone())
    at = {back: dt.datetime.combine(today - dt.timedelta(days=back), noon) for back in (0, 1)}
    for back, status in ((0, "sent"), (0, "sent"), (0, "sent"), (0, "failed"), (1, "sent"), (1, "sent")):
        Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status=status, sent_at=at[back])
    for n, kind in enumerate(("bounced", "bounced", "complained", "delivered")):
        DeliveryEvent.objects.create(event_id=f"e{n}", event_type=kind, occurred_at=at[0])
    SubscriberFactory(status=Subscriber.Status.PENDING, confirmed_at=None)

    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()

    sends = html.split("<h2>Digests sent, bounces and complaints per day</h2>", 1)[1].split("</details>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">[^<]*</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', sends)
    assert rows[-2:] == [("2", "0", "0"), ("3", "2", "1")]
    assert "Sent 5 in 30 days" in sends and "Bounced 2 in 30 days" in sends
    assert re.search(r"<dt>Pending confirmation</dt><dd>1</dd>", html)


def test_active_readers_counts_those_active_today_and_a_reader_who_came_back_after_leaving(admin_client):
    """"Active readers" is today's figure: a reader who left three days ago is not
    counted though they were active before; one who unsubscribed and came back is."""
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from subscribers.models import Subscriber
    from tests.factories import SubscriberFactory

    now = timezone.now()
    came_back = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    left = SubscriberFactory(status=Subscriber.Status.UNSUBSCRIBED)
    Subscriber.objects.filter(pk__in=[came_back.pk, left.pk]).update(
        created_at=now - dt.timedelta(days=10), confirmed_at=now - dt.timedelta(days=10),
        unsubscribed_at=now - dt.timedelta(days=3),
    )

    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()

    assert re.search(r"<dt>Active readers</dt><dd>1</dd>", html)


def test_readers_who_left_today_and_were_erased_count_as_unsubscribed_from_today(admin_client):
    from django.urls import reverse
    from django.utils import timezone

    from subscribers.models import LeftReadersErased

    LeftReadersErased.objects.create(left_on=timezone.localdate(), status="unsubscribed", erased=2)

    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()

    readers = html.split("<h2>Subscribers by status</h2>", 1)[1].split("</details>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">[^<]*</th>' + "<td>([^<]*)</td>" * 4 + "</tr>", readers)
    assert rows[-2:] == [("0", "0", "0", "0"), ("0", "0", "2", "0")]


def _legend_colours(svg: str) -> dict[str, str]:
    """Each legend entry's words and the colour of the square before it."""
    elements = list(ET.fromstring(svg).iter())
    return {"".join(e.itertext()): prev.get("fill") for prev, e in itertools.pairwise(elements)
            if e.tag == f"{SVG}text" and e.get("class") == "lg" and prev.tag == f"{SVG}rect"}


@pytest.mark.django_db
def test_bounces_and_complaints_have_the_same_colour_on_the_sends_chart_as_on_the_rates_chart():
    """An editor reads the two charts one above the other: amber for bounces and red
    for complaints on one, the other way round on the next, reads one for the other."""
    from newsletter.dashboard import dashboard_charts

    charts = dashboard_charts()
    for width in (0, 1):  # the desktop's and the phone's
        sends = _legend_colours(_charts(charts["sends"])[width])
        rates = _legend_colours(_charts(charts["rates"])[width])
        [bounced] = [c for name, c in sends.items() if name.startswith("Bounced")]
        [complained] = [c for name, c in sends.items() if name.startswith("Complained")]
        assert (bounced, complained) == (rates["Bounce rate"], rates["Complaint rate"])
        assert bounced != complained


@pytest.mark.django_db
def test_a_digest_reported_twice_counts_once_as_on_its_editions_page():
    """An editor's walkthrough: a second spam complaint about one digest (another
    event id; an ESP may report one message more than once) made the dashboard say
    "Complained 2" and a complaint rate of 50 % of 4 digests, while the edition's
    page said "Complaints 1" (its figures count digests, curation.edition_figures).
    A digest counts once per kind, on the day it was first reported; an event the
    ledger could not match to a digest still counts as itself."""
    import datetime as dt

    from django.utils import timezone

    from newsletter.dashboard import sends_per_day
    from newsletter.models import Delivery, DeliveryEvent, Edition
    from tests.factories import SubscriberFactory

    today = timezone.localdate()
    edition = Edition.objects.create(date=today)
    noon = dt.time(12, tzinfo=timezone.get_current_timezone())
    at = {back: dt.datetime.combine(today - dt.timedelta(days=back), noon) for back in (0, 1)}
    digest = Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status="sent", sent_at=at[1])
    for n, (back, kind, delivery) in enumerate(((1, "complained", digest), (0, "complained", digest),
                                                (0, "complained", digest), (0, "bounced", None), (0, "bounced", None))):
        DeliveryEvent.objects.create(event_id=f"e{n}", event_type=kind, occurred_at=at[back], delivery=delivery)

    sends = sends_per_day(days=[today - dt.timedelta(days=1), today])
    assert (sends["Complained"], sends["Bounced"]) == ([1, 0], [0, 2])


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["bounced", "complained"])
def test_a_bounce_or_complaint_of_a_test_send_counts_in_no_readers_figures(settings, kind):
    """"Send a test to me" mails the edition to an editor, not to a reader: it is in
    no ledger row, so its bounce or complaint was matched to no digest and counted
    as one of its own in the dashboard's sends and rates (a 100 % complaint rate on
    a day with no digest sent). The address is still suppressed, as for any mail."""
    from django.utils import timezone

    from newsletter import curation
    from newsletter.dashboard import sends_per_day
    from newsletter.editions import edition_assemble
    from newsletter.models import DeliveryEvent, OutboxEmail
    from newsletter.outbox import outbox_event_record
    from subscribers.suppression import email_is_suppressed
    from tests.factories import PaperFactory

    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    today = timezone.localdate()
    PaperFactory(trending_date=today)
    edition = edition_assemble(date=today)
    curation.edition_test_send(edition=edition, to="editor@example.org")

    assert outbox_event_record(email=OutboxEmail.objects.get(), kind=kind) is not None

    assert DeliveryEvent.objects.filter(event_type=kind).count() == 1
    sends = sends_per_day(days=[today])
    assert (sends["Sent"], sends["Bounced"], sends["Complained"]) == ([0], [0], [0])
    figures = curation.edition_figures(edition=edition)
    assert (figures.bounced, figures.complained) == (0, 0)
    assert email_is_suppressed("editor@example.org")


@pytest.mark.django_db
def test_a_confirmations_bounce_is_no_digests_and_is_shown_apart(admin_client, settings):
    """A confirmation mailed to an address mistyped on the form bounces, and a
    goodbye is reported as spam: neither is a digest. Until 7 December both were
    matched to no ledger row and counted as digests' (a 100 % bounce rate and a
    50 % complaint rate of two digests, one of which bounced). They are now in their own table, named
    as an editor knows them, and the digests' figures count the digests' events
    (one bounce of a digest, matched by its ledger row, still counts)."""
    from django.urls import reverse
    from django.utils import timezone

    from newsletter.models import Delivery, DeliveryEvent, Edition, OutboxEmail
    from newsletter.outbox import outbox_event_record
    from subscribers.models import Subscriber
    from subscribers.services import EMAIL_CONFIRM, EMAIL_GOODBYE, subscriber_journey_email_send
    from tests.factories import SubscriberFactory

    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    edition = Edition.objects.create(date=timezone.localdate())
    digests = [Delivery.objects.create(subscriber=SubscriberFactory(), edition=edition, status="sent",
                                       sent_at=timezone.now()) for _ in range(2)]
    typo = SubscriberFactory(email="ada@gmial.com", status=Subscriber.Status.PENDING, confirmed_at=None)
    left = SubscriberFactory(email="bob@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    subscriber_journey_email_send(subscriber_id=typo.pk, kind=EMAIL_CONFIRM)
    subscriber_journey_email_send(subscriber_id=left.pk, kind=EMAIL_GOODBYE)
    confirmation, goodbye = OutboxEmail.objects.order_by("pk")
    assert outbox_event_record(email=confirmation, kind="bounced") is not None
    assert outbox_event_record(email=goodbye, kind="complained") is not None
    DeliveryEvent.objects.create(event_id="digest-bounce", event_type="bounced", occurred_at=timezone.now(),
                                 delivery=digests[0])

    assert sorted(DeliveryEvent.objects.filter(delivery=None).values_list("email", flat=True)) == ["confirm", "goodbye"]
    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()

    assert re.search(r"<dt>Bounce rate</dt><dd>50 % <span", html), "one digest of two bounced"
    assert re.search(r"<dt>Complaint rate</dt><dd>0 %</dd>", html)
    sends = html.split("<h2>Digests sent, bounces and complaints per day</h2>", 1)[1].split("</details>", 1)[0]
    assert "Bounced 1 in 30 days" in sends and "Complained 0 in 30 days" in sends
    others = html.split("Other emails’ bounces and complaints (30 days)</h2>", 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td>(\d+)</td><td>(\d+)</td></tr>', others)
    assert rows == [("Confirmation", "1", "0"), ("Goodbye", "0", "1")]


@pytest.mark.django_db
def test_the_dashboard_has_no_other_emails_table_when_only_digests_bounced(admin_client):
    """The table is for what is there: none when every bounce is a digest's, or an
    event no tag and no ledger row tells (counted as a digest's, as before)."""
    from django.urls import reverse
    from django.utils import timezone

    from newsletter.models import DeliveryEvent

    DeliveryEvent.objects.create(event_id="untagged", event_type="bounced", occurred_at=timezone.now())
    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    assert "Other emails’ bounces" not in html
    sends = html.split("<h2>Digests sent, bounces and complaints per day</h2>", 1)[1].split("</details>", 1)[0]
    assert "Bounced 1 in 30 days" in sends


@pytest.mark.django_db
def test_the_other_emails_table_counts_each_event_most_first_naming_a_tag_it_does_not_know(admin_client):
    """Three confirmations bounced, one goodbye complained of, two emails of a kind
    the site has no name for (a tag another sender on the ESP account uses): each
    counted, the most first, the unknown one by its tag in words."""
    from django.urls import reverse
    from django.utils import timezone

    from newsletter.models import DeliveryEvent

    events = [("confirm", "bounced")] * 3 + [("goodbye", "complained")] + [("weekly_recap", "bounced")] * 2
    for n, (email, kind) in enumerate(events):
        DeliveryEvent.objects.create(event_id=f"e{n}", event_type=kind, occurred_at=timezone.now(), email=email)

    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    others = html.split("Other emails’ bounces and complaints (30 days)</h2>", 1)[1].split("</section>", 1)[0]
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td>(\d+)</td><td>(\d+)</td></tr>', others)
    assert rows == [("Confirmation", "3", "0"), ("Weekly recap", "2", "0"), ("Goodbye", "0", "1")]


@pytest.mark.django_db
def test_an_editors_test_send_that_bounced_is_not_among_the_other_emails(admin_client, settings):
    """"Send a test to me" is an edition, to an editor: its bounce is in no reader's
    figure and in no row of the other emails' table either."""
    from django.urls import reverse
    from django.utils import timezone

    from newsletter import curation
    from newsletter.editions import edition_assemble
    from newsletter.models import DeliveryEvent, OutboxEmail
    from newsletter.outbox import outbox_event_record
    from tests.factories import PaperFactory

    settings.EMAIL_BACKEND = "newsletter.outbox.OutboxEmailBackend"
    PaperFactory(trending_date=timezone.localdate())
    curation.edition_test_send(edition=edition_assemble(date=timezone.localdate()), to="editor@example.org")
    assert outbox_event_record(email=OutboxEmail.objects.get(), kind="bounced") is not None
    assert DeliveryEvent.objects.get().of_test_send

    html = admin_client.get(reverse("admin:newsletter_dashboard")).content.decode()
    assert "Other emails’ bounces" not in html
