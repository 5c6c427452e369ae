"""`manage.py bench_digests`: the benchmark of the whole digest path (issue #6).
The logic is newsletter/benchmark.py; docs/benchmarks.md has the figures.

    python manage.py bench_digests                      # N = 1,000, 10,000, 100,000
    python manage.py bench_digests --subscribers 1000 --skip-celery
    python manage.py bench_digests --esp-latency 0,50,100,300 --esp-rate 50

--phase is internal: the benchmark runs each measured step in a child process of
this command (newsletter/benchmark.py explains why)."""

import json
import sys
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from newsletter import benchmark


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(f"--subscribers takes numbers separated by commas, got {value!r}") from exc
    if not sizes or min(sizes) < 1:
        raise CommandError("--subscribers needs at least one positive number")
    return sizes


def _latencies(value: str) -> list[int]:
    try:
        latencies = [int(part) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise CommandError(f"--esp-latency takes milliseconds separated by commas, got {value!r}") from exc
    if not latencies or min(latencies) < 0:
        raise CommandError("--esp-latency needs at least one latency, none negative")
    return latencies


class Command(BaseCommand):
    help = "Benchmark the digest path against the render floor, django-newsletter and Celery."

    def add_arguments(self, parser):
        parser.add_argument("--subscribers", default="1000,10000,100000",
                            help="Audience sizes N, comma separated (default 1000,10000,100000).")
        parser.add_argument("--papers", type=int, default=benchmark.DEFAULT_PAPERS,
                            help="Papers of the day (the 73 sample papers, varied beyond that).")
        parser.add_argument("--database", help="Database URL for the benchmark's own database "
                            "(created and dropped; a PostgreSQL name must start with 'bench'). "
                            "Default: bench_digests on DATABASE_URL's server, else a temp SQLite file.")
        parser.add_argument("--redis", help="Redis URL of the Celery broker and the journal "
                            "(default: REDIS_URL).")
        parser.add_argument("--skip-celery", action="store_true")
        parser.add_argument("--skip-django-newsletter", action="store_true")
        parser.add_argument("--celery-subscribers", type=int,
                            help="N for the Celery run (default: the largest --subscribers).")
        parser.add_argument("--django-newsletter-max", type=int,
                            help="Run django-newsletter only for N up to this.")
        parser.add_argument("--profile", action="store_true",
                            help="Profile each send with pyinstrument (var/bench/profile-N.txt).")
        parser.add_argument("--out", default=str(benchmark.PROJECT_DIR / "var" / "bench"),
                            help="Folder for results.md, results.json and bench.png.")
        parser.add_argument("--esp-latency", type=_latencies, metavar="MS[,MS...]",
                            help="Instead of the sizes: the same audience through Celery with "
                            "anymail's test backend, then anymail's Postmark backend against a "
                            "local fake Postmark answering in MS ms (1 %% of calls 5x slower).")
        parser.add_argument("--esp-subscribers", type=int, default=benchmark.ESP_DEFAULT_SUBSCRIBERS,
                            help="Audience of the --esp-latency runs.")
        parser.add_argument("--esp-rate", type=int,
                            help="One more run with ESP_MAX_PER_SECOND set to this.")
        parser.add_argument("--pool", choices=["threads", "prefork"], default="threads",
                            help="Celery pool of the benchmark's worker processes.")
        # Internal: one measured step, in a child process.
        parser.add_argument("--phase", help="(internal)")
        parser.add_argument("--count", type=int, default=0, help="(internal)")
        parser.add_argument("--profile-path", help="(internal)")

    def handle(self, *args, **opts):
        if opts["phase"]:
            result = benchmark.child_main(
                phase=opts["phase"], count=opts["count"], papers=opts["papers"],
                profile=opts.get("profile_path") or "", pool=opts["pool"], stderr=sys.stderr,
            )
            self.stdout.write(json.dumps(result, default=str))
            return
        options = benchmark.BenchOptions(
            sizes=_sizes(opts["subscribers"]),
            papers=opts["papers"],
            database=opts["database"],
            redis=opts["redis"],
            skip_celery=opts["skip_celery"],
            skip_django_newsletter=opts["skip_django_newsletter"],
            celery_subscribers=opts["celery_subscribers"],
            dnl_max=opts["django_newsletter_max"],
            profile=opts["profile"],
            out_dir=Path(opts["out"]),
            esp_latencies=opts["esp_latency"],
            esp_subscribers=opts["esp_subscribers"],
            esp_rate=opts["esp_rate"],
            worker_pool=opts["pool"],
        )
        benchmark.bench_main(options=options, write=lambda line: self.stdout.write(line))
