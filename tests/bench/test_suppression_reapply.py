"""`python -m bench.suppression_reapply` at a tiny size on the test database: the list
it loads is one 0021 has work on, the first run suppresses the readers the rule
spreads to (not a tagged bounce's at a company, nor an erasure's), and the second
finds nothing to do. No timing is asserted: the figures are for docs/benchmarks.md."""

import pytest

from bench import suppression_reapply
from subscribers.models import Subscriber

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]


def test_the_reapply_benchmark_suppresses_what_the_rule_spreads_to_and_then_nothing():
    lines: list[str] = []

    first, second = suppression_reapply.run(readers=400, suppressions=100, write=lines.append)

    # Mailboxes 0, 5, 10, … have another spelling; of those, the complaints (i % 10 == 0)
    # spread, and the bounces (i % 10 == 5) but at a tagged spelling (i % 3 == 1).
    spread = [i for i in range(0, 100, 5) if i % 10 == 0 or i % 3 != 1]
    assert first["suppressed"] == len(spread) and second["rows_applied"] == second["suppressed"] == 0
    assert Subscriber.objects.filter(email__in=[suppression_reapply.spellings(i)[1] for i in spread],
                                     status=Subscriber.Status.SUPPRESSED).count() == len(spread)
    assert lines[0].startswith("Loaded 400 readers, 100 suppressions, 20 mailboxes")
    assert lines[-1].startswith("Second run: ") and "0 rows applied, 0 readers suppressed" in lines[-1]
