"""The cost of ranking alone: ms per digest for N readers over one day of papers.

    DATABASE_URL=postgres://... python -m bench.ranking [--readers 1000,10000,100000]
        [--feedback-share 0.05] [--votes 1-3] [--seed 1]

The database is migrated first (a new one works as is). Imports the benchmark's
day (bench/data.py: the 73 sample papers with upvotes and comments; embedded and
scored as at ingest) and assembles its edition inside a transaction that is rolled
back, loads the batch's shared data once (`ranking_data_load`), then times
`digest_select` for N readers with varied profiles held in memory: 1 to 4 of the
active topics (a few popular), own keywords,
exclusions, code-only, daily or weekly, in the shares of the send benchmark's
audience (bench/data.py). A share of them (--feedback-share) have "more" / "less" votes
(and clicks) on papers of the day: they cannot share a ranking with anyone. Nothing
is mailed or rendered, and no query runs while timing: this is the ranking step of
every digest, not the send.

It prints, per N, wall-clock and CPU (`time.process_time`) milliseconds per digest,
for all readers and split by readers without and with feedback. The machine may be
shared: CPU time is the steadier figure, and a run on a loaded machine says so in
its load-average line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.data import (
    BENCH_DAY,
    DEFAULT_PAPERS,
    EXCLUDES,
    KEYWORDS,
    PAPERS_PER_DIGEST,
    SHARE_EXCLUDES,
    SHARE_FEEDBACK,
    SHARE_KEYWORDS,
    SHARE_NO_TOPICS,
    SHARE_ONLY_CODE,
    SHARE_SKIP_EMPTY,
    SHARE_WEEKLY,
    sample_items,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_READERS = (1_000, 10_000, 100_000)
# Of the readers with feedback, the share of signals that are clicks, not votes.
SHARE_CLICKS = 0.5
TARGET_MS = 0.5


@dataclass
class _Topics:
    ids: list[int]

    def all(self):
        return [_TopicRef(i) for i in self.ids]


@dataclass(frozen=True)
class _TopicRef:
    id: int


@dataclass
class BenchReader:
    """Quacks like a Subscriber for digest_select, without a database row."""

    id: int
    topics: _Topics
    keywords: str = ""
    exclude_keywords: str = ""
    only_with_code: bool = False
    frequency: str = "daily"
    papers_per_digest: int = 5
    skip_empty: bool = False
    votes: list[tuple[int, float]] = field(default_factory=list)

    @property
    def pk(self) -> int:
        return self.id


def readers_make(*, count: int, topic_ids: list[int], paper_ids: list[int], feedback_share: float,
                 votes: tuple[int, int], seed: int) -> list[BenchReader]:
    from newsletter.preferences import CLICK_WEIGHT

    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(topic_ids))]
    readers = []
    for n in range(count):
        picked = (sorted(set(rng.choices(topic_ids, weights, k=rng.randint(1, 4))))
                  if rng.random() >= SHARE_NO_TOPICS else [])
        reader = BenchReader(
            id=10_000_000 + n, topics=_Topics(picked),
            keywords=", ".join(rng.sample(KEYWORDS, rng.randint(1, 3))) if rng.random() < SHARE_KEYWORDS else "",
            exclude_keywords=rng.choice(EXCLUDES) if rng.random() < SHARE_EXCLUDES else "",
            only_with_code=rng.random() < SHARE_ONLY_CODE,
            frequency="weekly" if rng.random() < SHARE_WEEKLY else "daily",
            papers_per_digest=rng.choice(PAPERS_PER_DIGEST),
            skip_empty=rng.random() < SHARE_SKIP_EMPTY,
        )
        if rng.random() < feedback_share:
            for paper_id in rng.sample(paper_ids, min(len(paper_ids), rng.randint(*votes))):
                kind = rng.random()
                reader.votes.append((paper_id, CLICK_WEIGHT if kind < SHARE_CLICKS else rng.choice([1.0, 1.0, -1.0])))
        readers.append(reader)
    return readers


def _time(readers: list[BenchReader], loaded, date: dt.date) -> tuple[float, float]:
    """Rank `readers` as the send does: in batches of BATCH_SIZE, each with its own
    RankingData (so what a batch works out once, its content digest and vectors, is
    counted), from data loaded once here (the queries are not ranking)."""
    from newsletter.delivery import BATCH_SIZE
    from newsletter.ranking import RankingData, digest_select

    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(readers), BATCH_SIZE):
        batch = readers[start:start + BATCH_SIZE]
        data = RankingData(
            papers_by_date=loaded.papers_by_date, topic_hits=loaded.topic_hits,
            feedback={r.id: r.votes for r in batch if r.votes}, sent_paper_ids={},
            trend_max=loaded.trend_max, voted_papers=loaded.voted_papers, topics=loaded.topics,
        )
        for reader in batch:
            digest_select(subscriber=reader, date=date, data=data)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def run(*, sizes: list[int], feedback_share: float, votes: tuple[int, int], seed: int,
        papers: int = DEFAULT_PAPERS, write=print) -> list[dict]:
    from django.db import transaction

    from newsletter import ranking
    from newsletter.editions import edition_assemble
    from newsletter.ingest import papers_import
    from newsletter.models import Paper, Topic

    rows = []
    with transaction.atomic():
        papers_import(items=sample_items(count=papers), trending_date=BENCH_DAY, source="bench.ranking")
        edition_assemble(date=BENCH_DAY)
        topic_ids = list(Topic.objects.filter(is_active=True).order_by("position", "id").values_list("id", flat=True))
        paper_ids = list(Paper.objects.filter(trending_date=BENCH_DAY).values_list("id", flat=True))
        write(f"{len(paper_ids)} papers, {len(topic_ids)} active topics; "
              f"{feedback_share:.0%} of readers with {votes[0]}-{votes[1]} votes or clicks")
        for size in sizes:
            readers = readers_make(count=size, topic_ids=topic_ids, paper_ids=paper_ids,
                                   feedback_share=feedback_share, votes=votes, seed=seed)
            data = ranking.ranking_data_load(date=BENCH_DAY, subscriber_ids=[])
            voted = {pid for r in readers for pid, _ in r.votes}
            titles = dict(Paper.objects.filter(id__in=voted).values_list("id", "title"))
            vectors = dict(Paper.objects.filter(id__in=voted).values_list("id", "embedding"))
            data.voted_papers = {pid: (titles[pid], vectors[pid]) for pid in voted}
            ranking._rankings.clear()  # a cold start: the first reader of each profile ranks it
            plain = [r for r in readers if not r.votes]
            with_votes = [r for r in readers if r.votes]
            load = os.getloadavg()[0]
            plain_ms = _time(plain, data, BENCH_DAY)
            votes_ms = _time(with_votes, data, BENCH_DAY)
            row = {
                "readers": size, "load": load, "plain": len(plain), "with_votes": len(with_votes),
                "wall_ms": (plain_ms[0] + votes_ms[0]) / size, "cpu_ms": (plain_ms[1] + votes_ms[1]) / size,
                "plain_cpu_ms": plain_ms[1] / max(1, len(plain)),
                "votes_cpu_ms": votes_ms[1] / max(1, len(with_votes)),
            }
            rows.append(row)
            write(f"N={size:>7,}: {row['wall_ms']:.3f} ms wall, {row['cpu_ms']:.3f} ms CPU per digest "
                  f"(no feedback {row['plain_cpu_ms']:.3f} ms CPU x {len(plain):,}; "
                  f"with feedback {row['votes_cpu_ms']:.3f} ms CPU x {len(with_votes):,}); "
                  f"load average {load:.1f} at start")
        transaction.set_rollback(True)
    worst = max(r["cpu_ms"] for r in rows)
    write(f"target <= {TARGET_MS} ms per digest for ranking: "
          f"{'met' if worst <= TARGET_MS else 'NOT met'} (worst {worst:.3f} ms CPU)")
    if os.cpu_count() and max(r["load"] for r in rows) > os.cpu_count() / 2:
        write(f"NOTE: measured on a loaded machine (load average above {os.cpu_count() / 2:.0f} "
              f"on {os.cpu_count()} cores): wall times include waiting for a core.")
    return rows


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", default=",".join(str(n) for n in DEFAULT_READERS),
                        help="comma-separated audience sizes (default: 1000,10000,100000)")
    parser.add_argument("--feedback-share", type=float, default=SHARE_FEEDBACK,
                        help="share of readers with votes or clicks (default: 0.05)")
    parser.add_argument("--votes", type=_range, default=(1, 3), help="votes per such reader, e.g. 1-3 or 20-50")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--papers", type=int, default=DEFAULT_PAPERS, help="papers on the day (default: 73)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()
    from django.core.management import call_command

    # A database of its own, as the docstring's DATABASE_URL says, is empty at first:
    # migrated here (as bench.imports does), not a "no such table" traceback.
    call_command("migrate", "--noinput", verbosity=0)
    run(sizes=[int(n) for n in args.readers.split(",")], feedback_share=args.feedback_share,
        votes=args.votes, seed=args.seed, papers=args.papers)


if __name__ == "__main__":
    main()
