"""`python -m bench.ranking` at small N: it ranks readers with and without feedback
over the benchmark's day, prints a line per N and the verdict, and keeps nothing.
No timing is asserted: the figures are for docs/relevance.md, not for tests."""

import pytest

from bench import ranking
from newsletter.models import Paper


@pytest.mark.django_db
def test_the_ranking_benchmark_prints_ms_per_digest_and_keeps_nothing():
    lines: list[str] = []

    rows = ranking.run(sizes=[40, 80], feedback_share=0.25, votes=(1, 3), seed=3, write=lines.append)

    assert [r["readers"] for r in rows] == [40, 80]
    assert all(r["with_votes"] > 0 and r["plain"] > 0 for r in rows)
    assert any("N=     40" in line and "ms CPU per digest" in line for line in lines)
    assert any(line.startswith("target <= 0.5 ms per digest for ranking") for line in lines)
    assert not Paper.objects.exists()
