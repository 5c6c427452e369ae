"""The benchmark of the whole digest path (issue #6): `manage.py bench_digests`.

For each audience size N it builds, in a database of its own (created here and
dropped at the end), N subscribers with varied preferences and one day of P papers,
then runs the real path — who is due (`subscribers_due`), the ledger rows
(`deliveries_create`), and `digest_send_batch` batch after batch: rank, render
HTML and text, build the message with its headers, hand it to anymail's test
backend, record the outcomes — and reports digests per second, ms per digest
(p50/p95), SQL queries per batch, peak memory and wall time. Beside it, in the
same run: the render floor (mjml2html alone on one finished digest), django-newsletter
sending one newsletter to the same N (newsletter/benchmark_dnl/run.py) and the
same path through 2 real Celery worker processes.

Every measured step runs in a fresh child process (`manage.py bench_digests
--phase ...` with DATABASE_URL pointing at the benchmark's database), so that
the settings pick that database up, and so that peak memory is that of the step
alone, not of building the audience. Children print their result as one JSON line.
docs/benchmarks.md records the figures."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import math
import os
import random
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
SAMPLE_FILE = PROJECT_DIR / "newsletter" / "fixtures" / "daily_papers_2025-11-24.json"
DNL_RUNNER = PROJECT_DIR / "newsletter" / "benchmark_dnl" / "run.py"
# Where `make bench` installs django-newsletter (pip install --target): it cannot
# share the virtualenv, its package is called `newsletter` too (benchmark_dnl/run.py).
DNL_TARGET = PROJECT_DIR / "var" / "bench" / "django-newsletter"
DEFAULT_SIZES = (1_000, 10_000, 100_000)
DEFAULT_PAPERS = 73
DEFAULT_DATABASE_NAME = "bench_digests"

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
# How many emails the render floor is timed over (its median is reported).
FLOOR_REPEATS = 200
# How many readers' digests the floor is the median of.
FLOOR_SAMPLE = 25
# Rows per INSERT when building the audience.
INSERT_CHUNK = 5_000
BENCH_EMAIL_BACKEND = "newsletter.benchmark.BenchEmailBackend"
# The Celery run gives up after this long (the target is 3 minutes).
CELERY_TIMEOUT_SECONDS = 900
# Against a latent ESP (--esp-latency): anymail's real Postmark backend talking HTTP
# to the fake Postmark of tests/chaos, served by this (parent) process.
ESP_BACKEND = "anymail.backends.postmark.EmailBackend"
ESP_DEFAULT_SUBSCRIBERS = 5_000
# The rate-limited run (--esp-rate): its audience and latency.
ESP_RATE_SUBSCRIBERS = 1_000
ESP_RATE_LATENCY_MS = 100
# Where the workers report each provider call's duration (a Redis list).
ESP_CALLS_KEY = "bench:esp-calls"
# Worker processes of the Celery runs, and batches at once in each (threads pool).
CELERY_PROCESSES = 2
CELERY_THREADS = 4


# --- The email backend: anymail's test backend, without keeping every message -------

_send_times: list[float] = []
# Per batch: how long each reader's digest took to make (delivery._prepare_one): see
# _per_digest_times.
_prepare_times: list[tuple[float, bool]] = []


def _instrument_delivery() -> None:
    """Time the making of each digest by wrapping it in this process (a measurement,
    not a change of behaviour)."""
    from . import delivery

    if getattr(delivery._prepare_one, "bench_timed", False):
        return
    prepare = delivery._prepare_one

    def timed_prepare(*args, **kwargs):
        started = time.perf_counter()
        prepared = prepare(*args, **kwargs)
        _prepare_times.append((time.perf_counter() - started, prepared is not None))
        return prepared

    timed_prepare.bench_timed = True
    delivery._prepare_one = timed_prepare


def _gc_timer() -> Callable[[], float]:
    """The time the garbage collector runs during the send, for the report."""
    import gc

    spent, started = [0.0], [0.0]

    def callback(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]

    gc.callbacks.append(callback)

    def stop() -> float:
        gc.callbacks.remove(callback)
        return spent[0]

    return stop


def _query_counter(counted: list[int]):
    """Counts the statements a batch runs (connection.execute_wrapper): unlike
    CaptureQueriesContext it does not turn on the debug cursor, whose SQL formatting
    of the ledger's one big UPDATE cost more than the UPDATE."""

    def wrapper(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    return wrapper


def _per_digest_times(batch_started: float, batch_ended: float) -> list[float]:
    """Each sent digest's share of its batch: the time to make it, plus an equal
    share of the rest of the batch (claim, loads, the sends that overlap the making,
    waiting for the last ones, the ledger write) and of the readers skipped."""
    made = [seconds for seconds, prepared in _prepare_times if prepared]
    if not _send_times or len(made) != len(_send_times):
        n = max(len(_send_times), 1)  # something failed: fall back to the batch's mean
        return [(batch_ended - batch_started) / n] * len(_send_times)
    shared = (batch_ended - batch_started) - sum(s for s, _ in _prepare_times)
    return [m + shared / len(made) for m in made]


def _bench_backend_class():
    from anymail.backends.test import EmailBackend as AnymailTestBackend

    class BenchEmailBackend(AnymailTestBackend):
        """anymail's test backend (it builds the ESP payload from the message like a
        real ESP backend) that forgets each message once handed over, instead of
        keeping all of them in mail.outbox and finding each one's id by a linear
        search there; it notes when each send finished."""

        counter = 0

        def get_esp_message_id(self, message):
            BenchEmailBackend.counter += 1
            return f"bench-{os.getpid()}-{BenchEmailBackend.counter}"

        def post_to_esp(self, payload, message):
            from django.core import mail

            response = super().post_to_esp(payload, message)
            mail.outbox.clear()
            _send_times.append(time.perf_counter())
            return response

    return BenchEmailBackend


def __getattr__(name: str):
    # Built on first use: importing anymail's backend needs Django set up.
    if name == "BenchEmailBackend":
        cls = _bench_backend_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


# --- Data: the papers and the audience (run in child processes) ---------------------


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
    from .editions import edition_assemble
    from .ingest import papers_import
    from .models import EditionPaper

    result = papers_import(items=sample_items(count=count), trending_date=BENCH_DAY, source="bench")
    edition = edition_assemble(date=BENCH_DAY)
    # Editors usually write a line or two: it is rendered in every digest.
    edition.note = BENCH_NOTE
    edition.save(update_fields=["note"])
    return {"papers": result.created + result.updated,
            "edition_papers": EditionPaper.objects.filter(edition=edition).count()}


def _tables_empty(models: Sequence) -> None:
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

    from subscribers.models import ConsentRecord, Subscriber, Suppression
    from subscribers.suppression import email_hash

    from .models import Delivery, DeliveryEvent, Edition, Feedback, Paper, Topic

    _tables_empty([DeliveryEvent, Delivery, Feedback, Subscriber.topics.through, ConsentRecord,
                   Suppression, Subscriber])
    Edition.objects.filter(date=BENCH_DAY).update(frozen_at=None)
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
                suppressed.append(Suppression(email_hash=email_hash(reader.email), reason="bounced"))
        Subscriber.topics.through.objects.bulk_create(links, batch_size=INSERT_CHUNK)
        Feedback.objects.bulk_create(votes, batch_size=INSERT_CHUNK)
        created += chunk
        progress(f"  audience: {created:,}/{count:,} readers")
    Suppression.objects.bulk_create(suppressed, batch_size=INSERT_CHUNK)
    return {"subscribers": created, "suppressed": len(suppressed)}


def deliveries_reset() -> None:
    """Forget the day's sends (ledger rows), so the same audience is due again."""
    from .models import Delivery, Edition

    _tables_empty([Delivery])
    Edition.objects.filter(date=BENCH_DAY).update(frozen_at=None)


# --- The measured path (a child process) ----------------------------------------------


def _percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def render_floor_ms(*, repeats: int = FLOOR_REPEATS, sample: int = FLOOR_SAMPLE) -> dict:
    """mjml2html alone on finished digests, per email: the median over the first
    `sample` readers' digests (each timed `repeats` times, its median kept), so the
    floor does not hang on one digest's size. The other render steps are timed alike
    on the digest whose floor is that median, to explain the whole path's cost."""
    from django.template.loader import get_template

    from mail.rendering import css_inline, email_base_context, email_render, mjml_compile
    from subscribers.tokens import subscriber_unsubscribe_url

    from .digest import digest_context, digest_proof_context
    from .digest_render import digest_proof
    from .models import Delivery
    from .ranking import digest_select, ranking_data_load

    def timed(fn, times: int = repeats) -> float:
        spent = []
        for _ in range(times):
            started = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - started)
        return 1000 * statistics.median(spent)

    def floor(source: str) -> str:
        return mjml_compile(source)

    digests = []
    for delivery in (Delivery.objects.filter(status=Delivery.Status.SENT)
                     .select_related("subscriber", "edition").order_by("id")[:sample]):
        subscriber, edition = delivery.subscriber, delivery.edition
        data = ranking_data_load(date=edition.date, subscriber_ids=[subscriber.pk])
        selection = digest_select(subscriber=subscriber, date=edition.date, data=data)
        context = {
            **email_base_context(),
            **digest_context(edition=edition, selection=selection, subscriber=subscriber),
            "unsubscribe_url": subscriber_unsubscribe_url(subscriber=subscriber),
        }
        source = get_template("emails/digest.mjml", using="django").render(context)
        digests.append({
            "floor_ms": timed(lambda source=source: floor(source), max(repeats // 5, 20)),
            "source": source, "context": context, "edition": edition, "data": data,
            "papers": len(selection.papers) + len(selection.also_trending),
        })
    digests.sort(key=lambda d: d["floor_ms"])
    typical = digests[len(digests) // 2]
    context, source = typical["context"], typical["source"]
    html = floor(source)
    proof = digest_proof(context=digest_proof_context(
        edition=typical["edition"], weekly=context["weekly"], data=typical["data"]))
    return {
        "floor_ms": statistics.median(d["floor_ms"] for d in digests),
        "floor_digests": len(digests),
        "floor_papers_min": min(d["papers"] for d in digests),
        "floor_papers_max": max(d["papers"] for d in digests),
        # What the path does per reader instead: assemble the digest from the proof.
        "assemble_ms": timed(lambda: proof.render(context)),
        "css_inline_ms": timed(lambda: css_inline(html)),
        "mjml_template_ms": timed(lambda: get_template("emails/digest.mjml", using="django").render(context)),
        "email_render_ms": timed(lambda: email_render(template="digest", context=context)),
        "papers_in_digest": typical["papers"],
        "html_kb": len(html) / 1024,
        "typical_floor_ms": typical["floor_ms"],
    }


def bench_send(*, progress: Callable[[str], None] = print, profile: Path | None = None) -> dict:
    """The real path for everyone due at BENCH_NOW, batch by batch, in this process."""
    from django.db import connection, transaction

    from .delivery import chunked, deliveries_create, digest_send_batch
    from .due import subscribers_due
    from .models import Delivery, Edition

    settings.EMAIL_BACKEND = BENCH_EMAIL_BACKEND
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    started = time.perf_counter()
    edition = Edition.objects.get(date=BENCH_DAY)
    due_ids = list(subscribers_due(now=BENCH_NOW, edition=edition).values_list("id", flat=True))
    with transaction.atomic():
        delivery_ids = deliveries_create(edition=edition, subscriber_ids=due_ids, now=BENCH_NOW)
    dispatch_seconds = time.perf_counter() - started
    per_digest: list[float] = []
    queries: list[int] = []
    total, done, last_report = len(delivery_ids), 0, 0.0
    _instrument_delivery()
    # As every Celery worker process does when it starts (config/celery.py).
    from config.celery import gc_tune

    gc_tune()
    gc_time = _gc_timer()
    for batch in chunked(delivery_ids):
        _send_times.clear()
        _prepare_times.clear()
        batch_started = time.perf_counter()
        counted = [0]
        with connection.execute_wrapper(_query_counter(counted)):
            digest_send_batch(delivery_ids=batch, now=BENCH_NOW)
        batch_ended = time.perf_counter()
        queries.append(counted[0])
        per_digest.extend(_per_digest_times(batch_started, batch_ended))
        done += len(batch)
        if batch_ended - last_report > 2 or done == total:
            last_report = batch_ended
            rate = done / (batch_ended - started)
            progress(f"  sent {done:,}/{total:,} ({rate:,.0f} digests/s)")
    wall = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        profile.with_suffix(".html").write_text(profiler.output_html())
    counts = {
        status: Delivery.objects.filter(status=status).count()
        for status in (Delivery.Status.SENT, Delivery.Status.SKIPPED, Delivery.Status.FAILED,
                       Delivery.Status.PENDING, Delivery.Status.SENDING)
    }
    sent = counts[Delivery.Status.SENT]
    result = {
        "due": len(due_ids),
        "sent": sent,
        "skipped": counts[Delivery.Status.SKIPPED],
        "not_sent": counts[Delivery.Status.FAILED] + counts[Delivery.Status.PENDING]
        + counts[Delivery.Status.SENDING],
        "wall_seconds": wall,
        "dispatch_seconds": dispatch_seconds,
        "digests_per_second": sent / wall if wall else 0.0,
        "ms_mean": 1000 * (wall - dispatch_seconds) / max(sent, 1),
        "ms_p50": 1000 * _percentile(per_digest, 0.5),
        "ms_p95": 1000 * _percentile(per_digest, 0.95),
        "queries_per_batch_min": min(queries, default=0),
        "queries_per_batch_max": max(queries, default=0),
        "batches": len(queries),
        "peak_rss_mb": peak_rss_mb(),
        "gc_seconds": gc_time(),
    }
    result.update(render_floor_ms())
    return result


def celery_dispatch_and_wait(*, expected: int, progress: Callable[[str], None] = print) -> dict:
    """Dispatch through the real beat-task body (digests_dispatch, which queues the
    batches on the broker) and wait for the last ledger row to be settled."""
    from .delivery import digests_dispatch
    from .models import Delivery

    started = time.perf_counter()
    queued = digests_dispatch(now=BENCH_NOW)
    dispatched = time.perf_counter() - started
    progress(f"  queued {queued:,} deliveries in {dispatched:.1f} s")
    open_statuses = [Delivery.Status.PENDING, Delivery.Status.SENDING]
    last_report = 0.0
    while True:
        remaining = Delivery.objects.filter(status__in=open_statuses).count()
        now = time.perf_counter()
        if remaining == 0:
            break
        if now - started > CELERY_TIMEOUT_SECONDS:
            raise RuntimeError(f"Celery run timed out with {remaining:,} deliveries open")
        if now - last_report > 5:
            last_report = now
            done = queued - remaining
            progress(f"  celery: {done:,}/{queued:,} settled ({done / (now - started):,.0f}/s)")
        time.sleep(0.25)
    wall = time.perf_counter() - started
    sent = Delivery.objects.filter(status=Delivery.Status.SENT).count()
    failed = Delivery.objects.filter(status=Delivery.Status.FAILED)
    errors = sorted({e[:200] for e in failed.values_list("error", flat=True)[:20]})
    for error in errors:
        progress(f"  failed: {error}")
    return {"queued": queued, "sent": sent, "failed": failed.count(), "errors": errors,
            "wall_seconds": wall, "dispatch_seconds": dispatched,
            "digests_per_second": sent / wall if wall else 0.0}


def _record_esp_calls() -> None:
    """In a benchmark worker: each provider call's duration goes to a Redis list the
    parent reads (mail.esp.esp_send wrapped in this process: a measurement only)."""
    import threading

    import redis

    from mail import esp

    send = esp.esp_send
    durations: list[float] = []
    client = redis.Redis.from_url(settings.REDIS_URL)

    def timed_send(message, **kwargs):
        call = send(message, **kwargs)
        durations.append(call.seconds)
        return call

    def flush() -> None:
        while True:
            time.sleep(0.5)
            taken = [durations.pop() for _ in range(len(durations))]
            if taken:
                client.rpush(ESP_CALLS_KEY, *(f"{d:.6f}" for d in taken))

    esp.esp_send = timed_send
    threading.Thread(target=flush, daemon=True).start()


def worker_main(*, pool: str, concurrency: int) -> None:
    """A Celery worker for the benchmark (`--phase worker`): the project's app, the
    given pool, provider calls timed."""
    from config.celery import app

    _record_esp_calls()
    logging.getLogger("newsletter.delivery").setLevel(logging.WARNING)
    app.worker_main([
        "worker", "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"bench-{os.getpid()}@%h",
    ])


def child_main(*, phase: str, count: int = 0, papers: int = DEFAULT_PAPERS,
               profile: str = "", pool: str = "threads", stderr=sys.stderr) -> dict:
    """What `bench_digests --phase PHASE` runs in a child process."""

    def progress(line: str) -> None:
        print(line, file=stderr, flush=True)

    if phase == "papers":
        return bench_papers_create(count=papers)
    if phase == "audience":
        return bench_audience_create(count=count, progress=progress)
    if phase == "send":
        # One runbook line per batch (delivery._batch_log) would bury the progress.
        logging.getLogger("newsletter.delivery").setLevel(logging.WARNING)
        return bench_send(progress=progress, profile=Path(profile) if profile else None)
    if phase == "reset":
        deliveries_reset()
        return {}
    if phase == "celery":
        return celery_dispatch_and_wait(expected=count, progress=progress)
    if phase == "worker":
        worker_main(pool=pool, concurrency=count)
        return {}
    raise ValueError(f"unknown phase {phase!r}")


# --- The parent: the benchmark's database, the children, the report ------------------


@dataclass
class BenchDatabase:
    """A database of the benchmark's own: a PostgreSQL database created on the
    server of DATABASE_URL (or of --database) and dropped at the end, or a
    temporary SQLite file."""

    url: str
    label: str
    drop: Callable[[], None] = field(repr=False, default=lambda: None)

    @classmethod
    def create(cls, *, url: str | None, suffix: str = "") -> BenchDatabase:
        import dj_database_url

        base = url or os.environ.get("DATABASE_URL") or ""
        config = dj_database_url.parse(base) if base else {"ENGINE": "sqlite3"}
        if "postgresql" in config["ENGINE"]:
            name = (config["NAME"] if url else DEFAULT_DATABASE_NAME) + suffix
            server = {"host": config.get("HOST") or "127.0.0.1", "port": config.get("PORT") or 5432,
                      "user": config.get("USER") or "postgres", "password": config.get("PASSWORD") or None}
            _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', guard=name)
            _pg_admin(server, f'CREATE DATABASE "{name}"', guard=name)
            auth = server["user"] + (f":{server['password']}" if server["password"] else "")
            db_url = f"postgres://{auth}@{server['host']}:{server['port']}/{name}"
            return cls(url=db_url, label=f"PostgreSQL {name} on {server['host']}:{server['port']}",
                       drop=lambda: _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                                              guard=name))
        folder = Path(tempfile.mkdtemp(prefix="bench_digests_"))
        path = folder / f"bench{suffix}.sqlite3"
        return cls(url=f"sqlite:///{path}", label=f"SQLite {path}",
                   drop=lambda: shutil.rmtree(folder, ignore_errors=True))


def _pg_admin(server: dict, sql: str, *, guard: str) -> None:
    import psycopg

    # Only databases made for the benchmark are ever dropped.
    if not guard.startswith("bench"):
        raise ValueError(f"refusing to create or drop {guard!r}: its name must start with 'bench'")
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **server) as conn:
        conn.execute(sql)


@dataclass
class BenchOptions:
    sizes: Sequence[int] = DEFAULT_SIZES
    papers: int = DEFAULT_PAPERS
    database: str | None = None
    redis: str | None = None
    skip_celery: bool = False
    esp_latencies: list[int] | None = None  # --esp-latency: ms of each fake-ESP run
    esp_subscribers: int = ESP_DEFAULT_SUBSCRIBERS
    esp_rate: int | None = None  # --esp-rate: ESP_MAX_PER_SECOND of one more run
    worker_pool: str = "threads"
    skip_django_newsletter: bool = False
    celery_subscribers: int | None = None  # default: the largest of `sizes`
    dnl_max: int | None = None  # largest N for django-newsletter (default: all)
    profile: bool = False
    out_dir: Path = PROJECT_DIR / "var" / "bench"


class Bench:
    def __init__(self, options: BenchOptions, write: Callable[[str], None]):
        self.options = options
        self.write = write
        self.results: dict = {"sizes": {}, "celery": None, "machine": machine_describe()}
        self.secret_key = "bench-" + secrets.token_urlsafe(48)

    # Children ------------------------------------------------------------------------
    def _env(self, db: BenchDatabase) -> dict:
        env = dict(os.environ)
        env["DATABASE_URL"] = db.url
        env["REDIS_URL"] = self.options.redis or settings.REDIS_URL
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"))
        # config.settings_test picks the backend from TEST_EMAIL_BACKEND, config.settings
        # from EMAIL_BACKEND: set both for the Celery workers.
        env["EMAIL_BACKEND"] = env["TEST_EMAIL_BACKEND"] = BENCH_EMAIL_BACKEND
        env["CELERY_EAGER"] = "0"
        # Measured as in production: DEBUG off (template debug info, query logging).
        env["DEBUG"] = "false"
        env.setdefault("SECRET_KEY", self.secret_key)
        env.setdefault("SUPPRESSION_HASH_KEY", self.secret_key)
        env.setdefault("SECURE_SSL_REDIRECT", "false")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def child(self, db: BenchDatabase, phase: str, **kwargs) -> dict:
        args = [sys.executable, str(PROJECT_DIR / "manage.py"), "bench_digests", "--phase", phase]
        for key, value in kwargs.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        done = subprocess.run(args, env=self._env(db), cwd=PROJECT_DIR, stdout=subprocess.PIPE,
                              stderr=None, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"benchmark step {phase} failed (exit {done.returncode})")
        return json.loads(done.stdout.strip().splitlines()[-1])

    # The run -------------------------------------------------------------------------
    def run(self) -> dict:
        opts = self.options
        db = BenchDatabase.create(url=opts.database)
        self.results["database"] = db.label
        self.write(f"Benchmark database: {db.label} (created for this run, dropped at the end)")
        try:
            self.write("Migrating the benchmark database…")
            subprocess.run([sys.executable, str(PROJECT_DIR / "manage.py"), "migrate", "--noinput",
                            "-v", "0"], env=self._env(db), cwd=PROJECT_DIR, check=True)
            made = self.child(db, "papers", papers=opts.papers)
            self.results["papers"] = made["edition_papers"]
            self.write(f"One day of {made['edition_papers']} papers loaded.")
            if opts.esp_latencies is not None:
                self.esp_runs(db)
                return self.results
            celery_n = opts.celery_subscribers or max(opts.sizes)
            for n in sorted(opts.sizes):
                self.write(f"N = {n:,}: building the audience…")
                self.child(db, "audience", count=n)
                self.write(f"N = {n:,}: sending through the real path…")
                extra = {}
                if opts.profile:
                    extra["profile_path"] = opts.out_dir / f"profile-{n}.txt"
                row = self.child(db, "send", **extra)
                self.results["sizes"][n] = {"path": row}
                self.write(f"  {row['sent']:,} sent, {row['skipped']:,} skipped, "
                           f"{row['digests_per_second']:,.0f} digests/s, peak {row['peak_rss_mb']:.0f} MB, "
                           f"garbage collector {row.get('gc_seconds', 0):.1f} s")
                if not opts.skip_django_newsletter and (opts.dnl_max is None or n <= opts.dnl_max):
                    self.write(f"N = {n:,}: django-newsletter…")
                    self.results["sizes"][n]["django_newsletter"] = self.dnl_run(n)
                if not opts.skip_celery and n == celery_n:
                    self.results["celery"] = self.celery_run(db, n)
            if not opts.skip_celery and celery_n not in opts.sizes:
                self.write(f"Celery, N = {celery_n:,}: building the audience…")
                self.child(db, "audience", count=celery_n)
                self.results["celery"] = self.celery_run(db, celery_n, reset=False)
        finally:
            db.drop()
            self.write(f"Benchmark database dropped: {db.label}")
        return self.results

    def dnl_run(self, n: int) -> dict | None:
        if not (DNL_TARGET / "newsletter").exists():
            self.write(f"  django-newsletter is not installed in {DNL_TARGET}: run `make bench` "
                       "(or --skip-django-newsletter)")
            return None
        db = BenchDatabase.create(url=self.options.database, suffix="_dnl")
        try:
            env = dict(os.environ)
            env["PYTHONPATH"] = str(DNL_TARGET)
            env.pop("DJANGO_SETTINGS_MODULE", None)
            done = subprocess.run(
                [sys.executable, str(DNL_RUNNER), "--subscribers", str(n), "--database", db.url,
                 "--sample", str(SAMPLE_FILE)],
                env=env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, text=True, check=True,
            )
            row = json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            db.drop()
        self.write(f"  django-newsletter: {row['sent']:,} sent, {row['ms_per_email']:.2f} ms per email")
        return row

    def _workers_start(self, env: dict, log: Path) -> tuple[list[subprocess.Popen], Callable[[], list[int]]]:
        """CELERY_PROCESSES worker processes: separate workers with the threads pool
        (CELERY_THREADS batches at once in each), or one prefork worker with as many
        children. Returns the workers and a function listing the processes that run
        batches."""
        pool = self.options.worker_pool
        out = log.open("a")
        command = [sys.executable, str(PROJECT_DIR / "manage.py"), "bench_digests", "--phase", "worker",
                   "--pool", pool]
        if pool == "prefork":
            workers = [subprocess.Popen(command + ["--count", str(CELERY_PROCESSES)], env=env,
                                        cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)]
            return workers, lambda: _children(workers[0].pid)
        workers = [subprocess.Popen(command + ["--count", str(CELERY_THREADS)], env=env, cwd=PROJECT_DIR,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                   for _ in range(CELERY_PROCESSES)]
        return workers, lambda: [w.pid for w in workers if w.poll() is None]

    def celery_run(self, db: BenchDatabase, n: int, *, reset: bool = True, env_extra: dict | None = None) -> dict:
        """CELERY_PROCESSES worker processes on the real broker, from the dispatch to
        the last ledger row."""
        if reset:
            self.child(db, "reset")
        self.write(f"Celery, N = {n:,}: starting {CELERY_PROCESSES} worker processes "
                   f"({self.options.worker_pool} pool)…")
        log = self.options.out_dir / "celery-worker.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        env = {**self._env(db), **(env_extra or {})}
        workers, processes = self._workers_start(env, log)
        peak = {"rss_mb": 0.0}
        try:
            time.sleep(1)
            deadline = time.monotonic() + 60
            while len(processes()) < CELERY_PROCESSES and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # the workers connect to the broker
            if any(w.poll() is not None for w in workers):
                raise RuntimeError(f"a Celery worker exited: see {log}")
            self.write(f"  workers up (pids {', '.join(map(str, processes()))}); dispatching")
            args = [sys.executable, str(PROJECT_DIR / "manage.py"), "bench_digests", "--phase",
                    "celery", "--count", str(n)]
            child = subprocess.Popen(args, env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
            while child.poll() is None:
                for pid in processes():
                    peak["rss_mb"] = max(peak["rss_mb"], _rss_mb(pid, "VmHWM"))
                time.sleep(1)
            out = child.stdout.read()
            if child.returncode != 0:
                raise RuntimeError("the Celery dispatch step failed")
            row = json.loads(out.strip().splitlines()[-1])
            for pid in processes():
                peak["rss_mb"] = max(peak["rss_mb"], _rss_mb(pid, "VmHWM"))
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
        row["worker_peak_rss_mb"] = peak["rss_mb"]
        row["subscribers"] = n
        row["pool"] = self.options.worker_pool
        self.write(f"  celery: {row['sent']:,} sent in {row['wall_seconds']:.1f} s "
                   f"({row['digests_per_second']:,.0f} digests/s), worker peak {peak['rss_mb']:.0f} MB")
        return row

    def esp_runs(self, db: BenchDatabase) -> None:
        """The same audience through Celery: with anymail's test backend, then through
        anymail's Postmark backend against the fake Postmark at each latency (1 % of
        calls 5x slower), then once more with the ESP's rate limited (--esp-rate)."""
        import redis

        sys.path.insert(0, str(PROJECT_DIR))
        from tests.chaos.fake_postmark import SERVER_TOKEN, FakePostmark

        opts = self.options
        n = opts.esp_subscribers
        self.write(f"ESP runs, N = {n:,}: building the audience…")
        self.child(db, "audience", count=n)
        calls = redis.Redis.from_url(opts.redis or settings.REDIS_URL)
        fake = FakePostmark().start()
        rows = []
        try:
            anymail = {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_API_URL": fake.url}

            def run(label: str, latency_ms: float | None, count: int, rate: int = 0) -> None:
                env = {"ESP_MAX_PER_SECOND": str(rate)}
                if latency_ms is not None:
                    env.update({"EMAIL_BACKEND": ESP_BACKEND, "TEST_EMAIL_BACKEND": ESP_BACKEND,
                                "ANYMAIL": json.dumps(anymail)})
                    fake.reset()
                    fake.latency = latency_ms / 1000
                calls.delete(ESP_CALLS_KEY)
                self.write(f"{label}:")
                row = self.celery_run(db, count, env_extra=env)
                time.sleep(1)  # the workers' last call durations
                durations = sorted(float(d) for d in calls.lrange(ESP_CALLS_KEY, 0, -1))
                row.update({
                    "label": label, "latency_ms": latency_ms, "rate": rate,
                    "call_p50_ms": 1000 * _percentile(durations, 0.5) if durations else None,
                    "call_p99_ms": 1000 * _percentile(durations, 0.99) if durations else None,
                    "esp_max_per_second": fake.max_per_second() if latency_ms is not None else None,
                    "esp_throttled": fake.throttled if latency_ms is not None else None,
                    "esp_max_in_flight": fake.max_in_transit if latency_ms is not None else None,
                })
                rows.append(row)
                self.write(f"  p99 provider call {row['call_p99_ms'] or 0:.0f} ms; ESP saw at most "
                           f"{row['esp_max_per_second'] or 0} calls in a second, "
                           f"{row['esp_max_in_flight'] or 0} at once")

            run("anymail test backend (no HTTP)", None, n)
            for latency in opts.esp_latencies:
                run(f"fake Postmark, {latency} ms", latency, n)
            if opts.esp_rate:
                run(f"fake Postmark, {ESP_RATE_LATENCY_MS} ms, ESP_MAX_PER_SECOND={opts.esp_rate}",
                    ESP_RATE_LATENCY_MS, min(n, ESP_RATE_SUBSCRIBERS), rate=opts.esp_rate)
        finally:
            fake.stop()
        self.results["esp"] = {"subscribers": n, "pool": opts.worker_pool,
                               "processes": CELERY_PROCESSES, "rows": rows}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine_describe() -> str:
    cores = os.cpu_count() or 0
    try:
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:"))
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown memory"
    return f"{cores} cores, {memory}, Python {sys.version.split()[0]}"


# --- The report -----------------------------------------------------------------------


def report_table(results: dict) -> str:
    """The Markdown table printed and written to var/bench/results.md."""
    lines = [
        (f"Database: {results.get('database', '?')} · machine: {results['machine']} · "
         f"papers: {results.get('papers', '?')}"),
        "",
        ("| N | sent | digests/s | ms/digest p50 | p95 | mean | SQL/batch | peak RSS MB | wall s "
         "| render floor ms | path / floor | django-newsletter ms/email | path / d-n |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, row in sorted(results["sizes"].items(), key=lambda kv: int(kv[0])):
        path = row["path"]
        dnl = row.get("django_newsletter")
        queries = (str(path["queries_per_batch_max"]) if path["queries_per_batch_min"] == path["queries_per_batch_max"]
                   else f"{path['queries_per_batch_min']}–{path['queries_per_batch_max']}")
        dnl_ms = f"{dnl['ms_per_email']:.2f}" if dnl else "—"
        ratio_dnl = f"{path['ms_mean'] / dnl['ms_per_email']:.2f}×" if dnl else "—"
        lines.append(
            f"| {int(n):,} | {path['sent']:,} | {path['digests_per_second']:,.0f} | {path['ms_p50']:.2f} "
            f"| {path['ms_p95']:.2f} | {path['ms_mean']:.2f} | {queries} | {path['peak_rss_mb']:.0f} "
            f"| {path['wall_seconds']:.1f} | {path['floor_ms']:.2f} "
            f"| {path['ms_mean'] / path['floor_ms']:.2f}× | {dnl_ms} | {ratio_dnl} |"
        )
    celery = results.get("celery")
    if celery:
        lines += [
            "",
            (f"Celery, 2 worker processes: {celery['sent']:,} of {celery['subscribers']:,} readers' "
             f"digests sent in {celery['wall_seconds']:.1f} s from dispatch to the last ledger row "
             f"({celery['digests_per_second']:,.0f} digests/s; dispatch {celery['dispatch_seconds']:.1f} s); "
             f"worker peak RSS {celery['worker_peak_rss_mb']:.0f} MB."),
        ]
    esp = results.get("esp")
    if esp:
        lines += ["", esp_table(esp)]
    first = next(iter(results["sizes"].values()), None)
    if first:
        p = first["path"]
        lines += [
            "",
            (f"Render floor: the median of {p.get('floor_digests', 1)} readers' digests "
             f"({p.get('floor_papers_min', p['papers_in_digest'])}–"
             f"{p.get('floor_papers_max', p['papers_in_digest'])} papers each). "
             f"Render steps of the median one ({p['papers_in_digest']} papers, {p['html_kb']:.0f} KB HTML), "
             f"median ms: Django template → MJML {p['mjml_template_ms']:.2f}, mjml2html "
             f"{p.get('typical_floor_ms', p['floor_ms']):.2f}, CSS inlining {p['css_inline_ms']:.2f}; email_render "
             f"(3 templates + both) {p['email_render_ms']:.2f}; assembled from the edition's "
             f"proof (what the path does) {p.get('assemble_ms', 0):.2f}."),
        ]
    return "\n".join(lines) + "\n"


def _fmt(value, spec: str = ".0f") -> str:
    return "—" if value is None else format(value, spec)


def esp_table(esp: dict) -> str:
    rows = esp["rows"]
    base = next((r for r in rows if r["latency_ms"] == 0 and not r["rate"]), None)
    lines = [
        (f"Against a latent ESP: {esp['subscribers']:,} readers through {esp['processes']} Celery "
         f"worker processes ({esp['pool']} pool), dispatch to the last ledger row; anymail's real "
         "Postmark backend against the fake Postmark (1 % of calls 5× slower)."),
        "",
        ("| ESP | sent | wall s | digests/s | × 0 ms | provider call p50 ms | p99 ms "
         "| ESP max calls/s | ESP max in flight | 429s | worker peak RSS MB |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = (f"{r['digests_per_second'] / base['digests_per_second']:.2f}×"
                 if base and r["latency_ms"] is not None and not r["rate"] else "—")
        lines.append(
            f"| {r['label']} | {r['sent']:,} | {r['wall_seconds']:.1f} | {r['digests_per_second']:,.0f} "
            f"| {ratio} | {_fmt(r['call_p50_ms'])} | {_fmt(r['call_p99_ms'])} "
            f"| {_fmt(r['esp_max_per_second'], 'd')} | {_fmt(r['esp_max_in_flight'], 'd')} "
            f"| {_fmt(r['esp_throttled'], 'd')} "
            f"| {r['worker_peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def esp_plot(esp: dict, path: Path) -> Path | None:
    """Digests per second and p99 provider call against the ESP's latency."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in esp["rows"] if r["latency_ms"] is not None and not r["rate"]]
    test = next((r for r in esp["rows"] if r["latency_ms"] is None), None)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    latencies = [r["latency_ms"] for r in rows]
    ax.plot(latencies, [r["digests_per_second"] for r in rows], "o-", label="digests/s (fake Postmark)")
    base = rows[0]["digests_per_second"] if rows[0]["latency_ms"] == 0 else None
    if base:
        ax.axhline(0.8 * base, color="gray", linestyle=":", label="0.8 × the 0 ms figure")
    if test:
        ax.axhline(test["digests_per_second"], color="green", linestyle="--",
                   label="anymail test backend (no HTTP)")
    ax.set_xlabel("ESP latency (ms; 1 % of calls 5× slower)")
    ax.set_ylabel("digests per second")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(latencies, [r["call_p99_ms"] or 0 for r in rows], "s--", color="tab:red",
             label="p99 provider call (ms)")
    ax2.set_ylabel("p99 provider call (ms)", color="tab:red")
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(handles, labels, loc="lower left", fontsize=8)
    ax.set_title(f"{esp['subscribers']:,} digests, {esp['processes']} Celery worker processes")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report_plot(results: dict, path: Path) -> Path | None:
    """Time against N for each contender, log axes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    sizes = sorted(int(n) for n in results["sizes"])
    rows = [results["sizes"][n] if n in results["sizes"] else results["sizes"][str(n)] for n in sizes]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(sizes, [r["path"]["wall_seconds"] for r in rows], "o-", label="digest path, 1 process")
    ax.plot(sizes, [n * r["path"]["floor_ms"] / 1000 for n, r in zip(sizes, rows, strict=True)],
            "s--", label="render floor (mjml2html × N)")
    dnl = [(n, r["django_newsletter"]) for n, r in zip(sizes, rows, strict=True) if r.get("django_newsletter")]
    if dnl:
        ax.plot([n for n, _ in dnl], [d["seconds"] for _, d in dnl], "^-", label="django-newsletter, 1 process")
    celery = results.get("celery")
    if celery:
        ax.plot([celery["subscribers"]], [celery["wall_seconds"]], "D", markersize=9,
                label="digest path, Celery (2 workers)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers (N)")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Sending one day's digest")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def bench_main(*, options: BenchOptions, write: Callable[[str], None]) -> dict:
    """Run everything, print the table, write var/bench/results.{md,json} and the plot."""
    results = Bench(options, write).run()
    table = report_table(results)
    out = options.out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    plot = report_plot(results, out / "bench.png") if results["sizes"] else None
    if results.get("esp"):
        esp_plot(results["esp"], out / "bench-esp.png")
    write("")
    write(table)
    write(f"Written: {out / 'results.md'}, {out / 'results.json'}"
          + (f", {plot}" if plot else " (no plot: pip install -e '.[bench]' for matplotlib)"))
    return results
