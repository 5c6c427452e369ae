"""`python -m bench.imports` at a tiny size on the test database: each case imports
the file's new readers (or, checked, would), with a number of queries that does not
grow with the file, and nothing it makes is kept. No timing is asserted: the figures
are for docs/benchmarks.md, not for tests."""

import pytest

from bench import imports
from subscribers.models import ConsentRecord, Subscriber


@pytest.mark.django_db
def test_the_import_benchmark_times_each_case_on_the_whole_file_and_keeps_nothing(default_topics):
    lines: list[str] = []
    small = imports.run(rows=30, repeat=1, write=lines.append)
    large = imports.run(rows=300, repeat=1, write=lines.append)

    assert [row["case"] for row in large] == [label for label, _, _ in imports.CASES]
    assert [row["readers"] for row in small] == [30] * 3 and [row["readers"] for row in large] == [300] * 3
    # A file ten times longer costs no query a row (8,999 for 10,000 rows until 6 December).
    for little, big in zip(small, large, strict=True):
        assert big["queries"] - little["queries"] <= 2, (little, big)
    assert not Subscriber.objects.exists() and not ConsentRecord.objects.exists()
    assert lines[0] == "A file of 30 new addresses, median of 1"
    assert any(line.startswith("  import, a confirmation email each: ") for line in lines)
