"""The benchmark's measured steps, each run in a child process of its own
(`python -m bench.digests --phase PHASE`, started by bench/digests.py with
DATABASE_URL pointing at the benchmark's database): the settings pick that
database up, and peak memory is that of the step alone, not of building the
audience. A child prints its result as one JSON line.

- send: the real path for everyone due, batch after batch, in this process, with
  the render floor measured on the digests it sent;
- celery: dispatch through the beat task's body and wait for the last ledger row
  (the workers are `--phase worker`);
- papers, audience, reset: the data (bench/data.py).

Measurements only, never a change of behaviour: per-digest times come from what
each batch returns (`BatchOutcome.made_seconds`), statements are counted with
`connection.execute_wrapper`, nothing of the apps is patched."""

from __future__ import annotations

import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from .data import (
    BENCH_DAY,
    BENCH_NOW,
    DEFAULT_PAPERS,
    bench_audience_create,
    bench_papers_create,
    deliveries_reset,
)
from .report import percentile

BENCH_EMAIL_BACKEND = "bench.phases.BenchEmailBackend"
# How many emails the render floor is timed over (its median is reported).
FLOOR_REPEATS = 200
# How many readers' digests the floor is the median of.
FLOOR_SAMPLE = 25
# The Celery run gives up after this long (the target is 100,000 digests in 3 minutes).
CELERY_TIMEOUT_SECONDS = 900

# --- Measuring: the email backend, the garbage collector, statements -----------------

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


def _per_digest_times(outcome, batch_seconds: float) -> list[float]:
    """Each sent digest's share of its batch: the time to make it (the batch's
    BatchOutcome.made_seconds), plus an equal share of the rest of the batch (claim,
    loads, the sends that overlap the making, waiting for the last ones, the ledger
    writes) and of the readers skipped."""
    made, sent = outcome.made_seconds, len(outcome.sent)
    if not made or len(made) != sent:
        return [batch_seconds / max(sent, 1)] * sent  # something failed: the batch's mean
    shared = batch_seconds - sum(made)
    return [m + shared / len(made) for m in made]


def _bench_backend_class():
    from anymail.backends.test import EmailBackend as AnymailTestBackend

    class BenchEmailBackend(AnymailTestBackend):
        """anymail's test backend (it builds the ESP payload from the message like a
        real ESP backend) that forgets each message once handed over, instead of
        keeping all of them in mail.outbox and finding each one's id by a linear
        search there."""

        counter = 0

        def get_esp_message_id(self, message):
            BenchEmailBackend.counter += 1
            return f"bench-{os.getpid()}-{BenchEmailBackend.counter}"

        def post_to_esp(self, payload, message):
            from django.core import mail

            response = super().post_to_esp(payload, message)
            mail.outbox.clear()
            return response

    return BenchEmailBackend


def __getattr__(name: str):
    # Built on first use: importing anymail's backend needs Django set up.
    if name == "BenchEmailBackend":
        cls = _bench_backend_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _costs_counter() -> Callable[[], dict]:
    """What this process and the Redis server spend from now until the returned
    function is called: CPU in user code and in the kernel, voluntary and involuntary
    context switches (getrusage; the first are waits: a socket read, a lock, a
    thread's sleep), and the Redis server's CPU (INFO cpu). Wall time moves by 25-40 %
    between runs of the same code on a shared machine; these move far less, and say
    where the time goes (docs/benchmarks.md, "Where the gap is")."""
    from .workers import redis_cpu_seconds

    before, redis_before = resource.getrusage(resource.RUSAGE_SELF), redis_cpu_seconds()

    def stop() -> dict:
        after = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "user_seconds": after.ru_utime - before.ru_utime,
            "system_seconds": after.ru_stime - before.ru_stime,
            "voluntary_switches": after.ru_nvcsw - before.ru_nvcsw,
            "involuntary_switches": after.ru_nivcsw - before.ru_nivcsw,
            "redis_seconds": redis_cpu_seconds() - redis_before,
        }

    return stop


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def render_floor_ms(*, repeats: int = FLOOR_REPEATS, sample: int = FLOOR_SAMPLE) -> dict:
    """mjml2html alone on finished digests, per email: the median over the first
    `sample` readers' digests (each timed `repeats` times, its median kept), so the
    floor does not hang on one digest's size. The other render steps are timed alike
    on the digest whose floor is that median, to explain the whole path's cost."""
    from django.template.loader import get_template

    from mail.rendering import css_inline, email_base_context, email_render, mjml_compile
    from newsletter.digest import digest_context, digest_proof_context
    from newsletter.digest_render import digest_proof
    from newsletter.models import Delivery
    from newsletter.ranking import digest_select, ranking_data_load
    from subscribers.tokens import subscriber_unsubscribe_url

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

    from newsletter.delivery import chunked, deliveries_create, digest_send_batch
    from newsletter.due import subscribers_due
    from newsletter.models import Delivery, Edition

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
    # As every Celery worker process does when it starts (config/celery.py).
    from config.celery import gc_tune

    gc_tune()
    gc_time = _gc_timer()
    costs = _costs_counter()
    for batch in chunked(delivery_ids):
        batch_started = time.perf_counter()
        counted = [0]
        with connection.execute_wrapper(_query_counter(counted)):
            outcome = digest_send_batch(delivery_ids=batch, now=BENCH_NOW)
        batch_ended = time.perf_counter()
        queries.append(counted[0])
        per_digest.extend(_per_digest_times(outcome, batch_ended - batch_started))
        done += len(batch)
        if batch_ended - last_report > 2 or done == total:
            last_report = batch_ended
            rate = done / (batch_ended - started)
            progress(f"  sent {done:,}/{total:,} ({rate:,.0f} digests/s)")
    wall = time.perf_counter() - started
    spent = costs()
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
        "ms_p50": 1000 * percentile(per_digest, 0.5),
        "ms_p95": 1000 * percentile(per_digest, 0.95),
        "queries_per_batch_min": min(queries, default=0),
        "queries_per_batch_max": max(queries, default=0),
        "batches": len(queries),
        "peak_rss_mb": peak_rss_mb(),
        "gc_seconds": gc_time(),
        # Per digest sent, over the batches (not the dispatch): bench/report.py.
        **{f"{name}_per_digest": value / max(sent, 1) for name, value in spent.items()},
    }
    result.update(render_floor_ms())
    return result


def celery_dispatch_and_wait(*, expected: int, progress: Callable[[str], None] = print) -> dict:
    """Dispatch through the real beat-task body (digests_dispatch, which queues the
    batches on the broker) and wait for the last ledger row to be settled."""
    from newsletter.delivery import digests_dispatch
    from newsletter.models import Delivery

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


def worker_main(*, pool: str, concurrency: int) -> None:
    """A Celery worker for the benchmark (`--phase worker`): the project's app, the
    given pool, provider calls timed."""
    from config.celery import app

    from .esp import esp_calls_record

    esp_calls_record()
    logging.getLogger("newsletter.delivery").setLevel(logging.WARNING)
    app.worker_main([
        "worker", "--pool", pool, "--concurrency", str(concurrency), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"bench-{os.getpid()}@%h",
    ])


def child_main(*, phase: str, count: int = 0, papers: int = DEFAULT_PAPERS,
               profile: str = "", pool: str = "threads", stderr=sys.stderr) -> dict:
    """What `python -m bench.digests --phase PHASE` runs in a child process."""

    def progress(line: str) -> None:
        print(line, file=stderr, flush=True)

    if phase == "papers":
        return bench_papers_create(count=papers)
    if phase == "audience":
        return bench_audience_create(count=count, progress=progress)
    if phase == "send":
        # The runbook's line per batch (newsletter.delivery's log) would bury the progress.
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


