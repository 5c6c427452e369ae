"""The ESP's tracking webhook on the morning's burst: SendGrid's posts of 768 KB.

    python -m bench.webhook --database postgres://postgres@127.0.0.1:5432/bench_webhook [--repeat 3]

SendGrid posts its events "within approximately 30 seconds or when the batch size
reaches 768 kilobytes"; in the hour after the morning's send, every post is that
size. Each post here is such a batch for its own readers' digests, as SendGrid writes
them: each digest delivered and opened, one in 20 clicked, one in 100 deferred, one
in 200 bounced for good. It goes through the real view (Django's test client: the
credentials, the ESP's parser, the checks, the recording), in a transaction rolled
back at its end so every run records new events. Printed: the median seconds of
--repeat posts, their queries, the events and how many per second. The settings are
production's (bench.admin_scale.django_setup); the database is migrated first.
docs/benchmarks.md, "The ESP's webhook on the morning's burst", quotes it.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from .admin_scale import machine_line, postgres_setup

SENDGRID_BATCH_BYTES = 768 * 1000
# The webhook's credentials in the benchmark's own settings (WEBHOOK_SECRET).
BENCH_SECRET = "bench-webhook:correct-horse-battery"


def _event(kind: str, *, email: str, delivery_id: int, n: int, at: int) -> dict:
    """One SendGrid event as its Event Webhook writes it (docs.sendgrid.com,
    "Event Webhook reference"), with the digest's custom args."""
    event = {"email": email, "timestamp": at, "smtp-id": f"<bench{n}.{delivery_id}@example.com>",
             "sg_event_id": f"bench-{kind}-{delivery_id}-{n:07}", "category": ["digest"],
             "sg_message_id": f"bench{delivery_id}.filter0425p1mdw1.13037.{n}", "delivery_id": str(delivery_id),
             "event": kind}
    extra = {
        "delivered": {"response": "250 2.0.0 OK  1763967600 x1si1234567qkb.12 - gsmtp", "ip": "149.72.1.1", "tls": 1},
        "open": {"useragent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "ip": "203.0.113.7",
                 "sg_machine_open": False},
        "click": {"useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)", "ip": "203.0.113.7",
                  "url": "https://example.com/p/2511.00001/", "url_offset": {"index": 0, "type": "html"}},
        "deferred": {"response": "450 4.2.0 Greylisted, try again later", "attempt": "1"},
        "bounce": {"type": "bounce", "status": "5.1.1", "reason": "550 5.1.1 The account does not exist."},
    }[kind]
    return event | extra


def morning_post(readers: list[tuple[int, str]], *, limit: int = SENDGRID_BATCH_BYTES) -> list[dict]:
    """SendGrid's post for these (delivery id, address) pairs, cut after the event
    that reaches `limit` bytes, as SendGrid cuts its batches."""
    events, size, at = [], 2, 1763967600
    for n, (delivery_id, email) in enumerate(readers):
        kinds = ["delivered", "open"]
        if n % 20 == 7:
            kinds.append("click")
        if n % 100 == 42:
            kinds = ["deferred", "delivered"]
        if n % 200 == 99:
            kinds = ["bounce"]
        for kind in kinds:
            event = _event(kind, email=email, delivery_id=delivery_id, n=n, at=at + n)
            events.append(event)
            size += len(json.dumps(event)) + 2
            if size >= limit:
                return events
    return events


def post_time(*, readers: int, limit: int, secret: str, repeat: int) -> dict:
    """`repeat` posts of up to `limit` bytes for `readers` new readers' digests, each
    in a transaction rolled back: the median seconds, the queries of one, its events."""
    from django.db import connection, transaction
    from django.test import Client
    from django.urls import reverse

    from newsletter.models import Delivery, DeliveryEvent, Edition
    from subscribers.models import Subscriber

    client = Client()
    auth = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}
    url = reverse("tracking_webhook")
    timings, queries, events, stored = [], 0, 0, 0
    for _ in range(repeat):
        with transaction.atomic():
            edition = Edition.objects.create(date=dt.date(2000, 1, 3))
            made = Subscriber.objects.bulk_create(
                Subscriber(email=f"bench-webhook-{n}@d{n % 97}.example.org", status=Subscriber.Status.ACTIVE)
                for n in range(readers))
            deliveries = Delivery.objects.bulk_create(
                Delivery(subscriber=s, edition=edition, status=Delivery.Status.SENT, sent_at=edition.created_at)
                for s in made)
            body = json.dumps(morning_post([(d.pk, s.email) for d, s in zip(deliveries, made, strict=True)],
                                           limit=limit))
            # Counted as they run: Django's own log of queries keeps the last 9,000.
            counted: list[str] = []
            with connection.execute_wrapper(lambda execute, sql, *args, counted=counted: (
                    counted.append(sql), execute(sql, *args))[1]):
                started = time.perf_counter()
                response = client.post(url, body, content_type="application/json", **auth)
                timings.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"The webhook answered {response.status_code}: {response.content[:300]!r}")
            queries, events = len(counted), len(json.loads(body))
            stored = DeliveryEvent.objects.filter(delivery__edition=edition).count()
            transaction.set_rollback(True)
    seconds = statistics.median(timings)
    return {"seconds": seconds, "queries": queries, "events": events, "stored": stored, "bytes": len(body),
            "per_second": events / seconds if seconds else 0.0}


def run(*, readers: int = 1_500, limit: int = SENDGRID_BATCH_BYTES, secret: str, repeat: int = 3,
        write: Callable[[str], None] = print) -> dict:
    """Time SendGrid's morning post through the webhook; one row of figures."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    row = post_time(readers=readers, limit=limit, secret=secret, repeat=repeat)
    write(f"SendGrid's post of {row['bytes']:,} bytes: {row['events']:,} events, median of {repeat}")
    write(f"  answered in {row['seconds']:.2f} s, {row['queries']:,} queries, "
          f"{row['per_second']:,.0f} events a second; {row['stored']:,} stored")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="PostgreSQL URL of a database to time on (migrated first).")
    parser.add_argument("--readers", type=int, default=1_500, help="Readers whose digests the post reports on.")
    parser.add_argument("--repeat", type=int, default=3, help="Posts; the median is shown.")
    os.environ.update({"WEBHOOK_ESP": "sendgrid", "WEBHOOK_SECRET": BENCH_SECRET})
    args = postgres_setup(parser, argv)
    import warnings

    warnings.filterwarnings("ignore", message=".*dropped official support for SendGrid")
    run(readers=args.readers, secret=BENCH_SECRET, repeat=args.repeat, write=lambda line: print(line, flush=True))
    print(machine_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
