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


@pytest.mark.postgresql
@pytest.mark.django_db
@pytest.mark.parametrize("residue", range(5))
def test_an_ordinary_run_finds_readers_wherever_the_id_sequence_stands(residue):
    """The readers' zones follow their place in id order, not the ids: spread by id,
    which zone got which delivery hour turned on where the sequence stood, and with
    the next id at one residue of five no reader was due at an ordinary run (the test
    above failed one run in several, after other tests had made readers)."""
    from tests.factories import SubscriberFactory

    while True:  # the sequence moves on; the reader goes (the benchmark loads an empty list)
        made = SubscriberFactory()
        made_pk = made.pk
        made.delete()
        if (made_pk + 1) % 5 == residue:
            break
    admin_scale.run(readers=700, editions=3, load=True, repeat=1, only="no page", write=lambda line: None)

    ordinary, *_ = (row["readers"] for row in due.run(repeat=1, zones=40, write=lambda line: None))
    assert ordinary > 0
