"""`python -m bench.due` at a tiny size on the test database: on what bench.admin_scale
loads, readers spread over the world's zones, each scenario of runs missed finds the
readers those runs owed, and nothing a scenario makes is kept. No timing is asserted:
the figures are for docs/benchmarks.md, not for tests."""

import pytest

from bench import admin_scale, due
from newsletter.models import Edition
from subscribers.models import Subscriber


@pytest.mark.postgresql
@pytest.mark.django_db
def test_the_due_benchmark_finds_more_readers_the_longer_beat_was_down_and_keeps_nothing():
    admin_scale.run(readers=700, editions=3, load=True, repeat=1, only="no page", write=lambda line: None)
    editions = Edition.objects.count()
    lines: list[str] = []

    rows = due.run(repeat=1, zones=40, write=lines.append)  # a Tuesday's run, a week after the ledger

    assert Subscriber.objects.values("time_zone").distinct().count() == 40
    assert [row["scenario"] for row in rows] == [label for label, _ in due.SCENARIOS]
    found = {row["scenario"]: row["readers"] for row in rows}
    ordinary, hours, two_days, week = found.values()
    # Readers of the hours missed, then of a whole day (daily), then weekly readers of
    # the days before: each outage owes what the shorter one did and more.
    assert 0 < ordinary < hours < two_days < week, found
    assert week <= Subscriber.objects.filter(status__in=["active", "paused"]).count()
    assert Edition.objects.count() == editions  # each scenario's edition rolled back
    assert lines[0] == "Spreading the readers over 40 time zones: 700 readers"
    assert any(line.startswith("  beat down 2 days (weekly catch-up): ") for line in lines)
