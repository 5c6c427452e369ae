"""`python -m bench.ranking` at small N: it ranks readers with and without feedback
over the benchmark's day, prints a line per N and the verdict, and keeps nothing.
No timing is asserted: the figures are for docs/relevance.md, not for tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ranking
from newsletter.models import Paper

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_ranking_benchmark_prints_ms_per_digest_and_keeps_nothing():
    lines: list[str] = []

    rows = ranking.run(sizes=[40, 80], feedback_share=0.25, votes=(1, 3), seed=3, write=lines.append)

    assert [r["readers"] for r in rows] == [40, 80]
    assert all(r["with_votes"] > 0 and r["plain"] > 0 for r in rows)
    assert any("N=     40" in line and "ms CPU per digest" in line for line in lines)
    assert any(line.startswith("target <= 0.5 ms per digest for ranking") for line in lines)
    assert not Paper.objects.exists()


def test_the_ranking_benchmark_runs_on_a_new_empty_database(tmp_path):
    """README: the scale scripts run by hand on a database of their own. `python -m
    bench.ranking` on a new one stopped at once: "no such table: newsletter_paper"."""
    env = {**os.environ, "DEBUG": "true", "ENV_FILE": "", "VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run([sys.executable, "-m", "bench.ranking", "--readers", "20"], cwd=BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "N=     20:" in result.stdout
