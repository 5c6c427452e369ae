"""The benchmark's data: one day of papers and a varied audience, in the
benchmark's own database (bench/digests.py creates it; these run in its child
processes). Never used by the tests: they have their own factories
(tests/factories.py).

The audience is synthetic and varied: 15 time zones, each reader's hour the local
hour at BENCH_NOW (so all are due), weekly readers, own keywords, exclusions,
code-only, skip-empty, readers with no topics, feedback votes, suppressed
addresses; the shares are below. docs/benchmarks.md describes it."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
SAMPLE_FILE = PROJECT_DIR / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
DEFAULT_PAPERS = 73

# The benchmark's day: the sample's date, a Monday. At 12:00 UTC every zone below is
# on Monday or Tuesday, so daily readers are due everywhere.
BENCH_DAY = dt.date(2025, 11, 24)
BENCH_NOW = dt.datetime(2025, 11, 24, 12, 0, tzinfo=dt.UTC)
BENCH_NOTE = (
    "A big day for **agents**: three papers on tool use made the top ten. "
    "See also the [reading list](https://example.com/reading-list) of this week."
)
# Readers across the world, weighted roughly like an English-language AI audience.
TIME_ZONES = {
    "America/Los_Angeles": 14, "America/New_York": 16, "America/Sao_Paulo": 4,
    "Europe/London": 10, "Europe/Paris": 10, "Europe/Berlin": 8, "Europe/Moscow": 2,
    "Asia/Kolkata": 10, "Asia/Shanghai": 8, "Asia/Seoul": 4, "Asia/Tokyo": 5,
    "Asia/Singapore": 3, "Australia/Sydney": 3, "Pacific/Auckland": 1, "UTC": 2,
}
KEYWORDS = [
    "diffusion", "reinforcement learning", "LLM agents", "retrieval", "video generation",
    "robotics", "quantization", "mixture of experts", "3D", "speech", "reasoning",
    "multimodal", "benchmark", "tokenizer", "alignment", "RLHF", "vision-language",
]
EXCLUDES = ["survey", "medical", "benchmark", "Gaussian splatting", "finance"]
PAPERS_PER_DIGEST = [3, 5, 5, 5, 5, 8, 10]
# Shares of the audience with each kind of preference.
SHARE_WEEKLY = 0.2
SHARE_KEYWORDS = 0.35
SHARE_EXCLUDES = 0.1
SHARE_ONLY_CODE = 0.08
SHARE_SKIP_EMPTY = 0.15
SHARE_NO_TOPICS = 0.08  # "everything": trend decides
SHARE_FEEDBACK = 0.05
SHARE_SUPPRESSED = 0.005
# Rows per INSERT when building the audience.
INSERT_CHUNK = 5_000


def sample_items(*, count: int, seed: int = 6) -> list[dict]:
    """`count` items in the Daily Papers API's shape: the 73 sample papers, then
    copies with another title and other upvotes and comments when more are asked."""
    base = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    rng = random.Random(seed)
    items = []
    for n in range(count):
        item = copy.deepcopy(base[n % len(base)])
        round_ = n // len(base)
        paper = item["paper"]
        if round_:
            paper["title"] = f"{paper['title']} (variant {round_})"
            if "id" in paper:
                paper["id"] = f"{paper['id']}.{round_}"
            item["title"] = paper["title"]
        paper["upvotes"] = int(paper.get("upvotes") or rng.randint(1, 120)) * rng.randint(1, 3) // (round_ + 1) + 1
        item["numComments"] = rng.randint(0, 12)
        if rng.random() < 0.4:
            paper["githubRepo"] = f"https://github.com/bench/paper-{n}"
        items.append(item)
    return items


def bench_papers_create(*, count: int) -> dict:
    from newsletter.curation import edition_note_set
    from newsletter.editions import edition_assemble
    from newsletter.ingest import papers_import
    from newsletter.models import EditionPaper

    result = papers_import(items=sample_items(count=count), trending_date=BENCH_DAY, source="bench")
    edition = edition_assemble(date=BENCH_DAY)
    # Editors usually write a line or two: it is rendered in every digest.
    edition_note_set(edition=edition, note=BENCH_NOTE)
    return {"papers": result.created + result.updated,
            "edition_papers": EditionPaper.objects.filter(edition=edition).count()}


def tables_empty(models: Sequence) -> None:
    """DELETE every row: the ORM's delete() would load 100,000 readers to cascade."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


def bench_audience_create(*, count: int, seed: int = 1, progress: Callable[[str], None] = print) -> dict:
    """`count` active readers with varied preferences, all due at BENCH_NOW in their
    own time zone (their delivery hour is the local hour then); earlier readers,
    their ledger rows and feedback are deleted first."""
    from zoneinfo import ZoneInfo

    from newsletter.models import Delivery, DeliveryEvent, Feedback, Paper, Topic
    from subscribers.models import ConsentRecord, Subscriber, Suppression
    from subscribers.suppression import email_hash, mailbox_hash

    tables_empty([DeliveryEvent, Delivery, Feedback, Subscriber.topics.through, ConsentRecord,
                   Suppression, Subscriber])
    edition_unsent()
    rng = random.Random(seed)
    topic_ids = list(Topic.objects.filter(is_active=True).order_by("position", "id").values_list("id", flat=True))
    # A few topics are popular, the rest have their followers.
    topic_weights = [1 / (rank + 1) ** 0.7 for rank in range(len(topic_ids))]
    paper_ids = list(Paper.objects.filter(trending_date=BENCH_DAY).values_list("id", flat=True))
    zones, zone_weights = list(TIME_ZONES), list(TIME_ZONES.values())
    local = {z: BENCH_NOW.astimezone(ZoneInfo(z)) for z in zones}
    token = 0
    created = 0
    suppressed: list[Suppression] = []
    while created < count:
        chunk = min(INSERT_CHUNK, count - created)
        readers = []
        for n in range(created, created + chunk):
            zone = rng.choices(zones, zone_weights)[0]
            weekly = rng.random() < SHARE_WEEKLY
            token += 1
            readers.append(Subscriber(
                email=f"reader{n}@bench{n % 97}.example",
                status=Subscriber.Status.ACTIVE,
                time_zone=zone,
                delivery_hour=local[zone].hour,
                frequency=Subscriber.Frequency.WEEKLY if weekly else Subscriber.Frequency.DAILY,
                weekday=local[zone].weekday() if weekly else rng.randint(0, 6),
                keywords=", ".join(rng.sample(KEYWORDS, rng.randint(1, 3)))
                if rng.random() < SHARE_KEYWORDS else "",
                exclude_keywords=rng.choice(EXCLUDES) if rng.random() < SHARE_EXCLUDES else "",
                only_with_code=rng.random() < SHARE_ONLY_CODE,
                skip_empty=rng.random() < SHARE_SKIP_EMPTY,
                papers_per_digest=rng.choice(PAPERS_PER_DIGEST),
                token=f"bench-{seed}-{token}-{rng.getrandbits(64):x}",
            ))
        Subscriber.objects.bulk_create(readers, batch_size=INSERT_CHUNK)
        links, votes = [], []
        for reader in readers:
            if topic_ids and rng.random() >= SHARE_NO_TOPICS:
                picked = set(rng.choices(topic_ids, topic_weights, k=rng.randint(1, 4)))
                links += [Subscriber.topics.through(subscriber_id=reader.pk, topic_id=t) for t in picked]
            if paper_ids and rng.random() < SHARE_FEEDBACK:
                for paper_id in rng.sample(paper_ids, min(len(paper_ids), rng.randint(1, 3))):
                    votes.append(Feedback(subscriber_id=reader.pk, paper_id=paper_id,
                                          vote=rng.choice([1, 1, -1])))
            if rng.random() < SHARE_SUPPRESSED:
                suppressed.append(Suppression(email_hash=email_hash(reader.email),
                                              mailbox_hash=mailbox_hash(reader.email), reason="bounced"))
        Subscriber.topics.through.objects.bulk_create(links, batch_size=INSERT_CHUNK)
        Feedback.objects.bulk_create(votes, batch_size=INSERT_CHUNK)
        created += chunk
        progress(f"  audience: {created:,}/{count:,} readers")
    Suppression.objects.bulk_create(suppressed, batch_size=INSERT_CHUNK)
    return {"subscribers": created, "suppressed": len(suppressed)}


def deliveries_reset() -> None:
    """Forget the day's sends (ledger rows), so the same audience is due again."""
    from newsletter.models import Delivery

    tables_empty([Delivery])
    edition_unsent()


def edition_unsent() -> None:
    """The day's edition as before its first send, at an ordinary run: not frozen, and
    the dispatcher's run before BENCH_NOW made (Edition.dispatched_at), so who is due
    is the readers of BENCH_NOW's hour, not a catch-up of the morning's runs."""
    from newsletter.due import DISPATCH_EVERY
    from newsletter.models import Edition

    Edition.objects.filter(date=BENCH_DAY).update(frozen_at=None, dispatched_at=BENCH_NOW - DISPATCH_EVERY)
