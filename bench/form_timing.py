"""Do the public forms answer in the same time whatever the address? `python -m
bench.form_timing` (docs/benchmarks.md, "The public forms' timing").

A form that does more work for a reader than for a stranger tells anyone who can
time it who reads the digest (an account-enumeration oracle through timing). This
posts "subscribe" and "email me my link" for addresses in every state a reader can
be in, over HTTP to gunicorn as docker-compose.yml serves it (DEBUG=false,
PostgreSQL, Redis, no Celery worker consuming: the request alone is timed, as an
outsider sees it), interleaved round by round so that drift of the machine falls
on every state alike, and prints per form and state the median and the middle half
of the wall times, how often a post for that address was slower than one for an
address nobody subscribed (50 %: the clock cannot tell them apart), then the widest
gap between two states' medians beside the spread of one state.

The rate limits are raised for the run (each address is posted --rounds times from
one IP). "Pending, mailed just now" is an address whose confirmation went out a
minute ago: the worker would not mail it again so soon, and the request must not
show that either.

Needs DATABASE_URL (PostgreSQL) and REDIS_URL, each a database of its own, as
`make loadtest` does: the first is migrated and filled, the second gets the queued
tasks (purged at the end).

    python -m bench.form_timing [--rounds 200] [--port 8766] [--skip-prepare]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import re
import statistics
import sys
import time
import urllib.parse

from bench.loadtest import gunicorn_start, gunicorn_stop, production_site

STATES = {
    "unknown": "nobody-{n}@example.com",
    "active": "ada-{n}@example.com",
    "paused": "pia-{n}@example.com",
    "unsubscribed": "bea-{n}@example.com",
    "pending": "cy-{n}@example.com",
    "pending, mailed just now": "di-{n}@example.com",
    "suppressed (complaint)": "eve-{n}@example.com",
}
FORMS = {"subscribe": "/subscribe/", "email me my link": "/subscription/"}


def readers_create(run: str) -> dict[str, str]:
    """One address per state, named for this run (a rerun on the same database
    makes its own)."""
    from django.utils import timezone

    from newsletter.models import Topic
    from subscribers.models import Subscriber, Suppression
    from subscribers.suppression import address_suppress

    addresses = {state: pattern.format(n=run) for state, pattern in STATES.items()}
    topic = Topic.objects.filter(is_active=True).first()
    if topic is None:
        sys.exit("No active topic: the subscribe form needs one (`manage.py bootstrap` makes the defaults).")
    made = {
        "active": {"status": Subscriber.Status.ACTIVE},
        "paused": {"status": Subscriber.Status.PAUSED, "paused_until": (timezone.now() + dt.timedelta(days=30)).date()},
        "unsubscribed": {"status": Subscriber.Status.UNSUBSCRIBED},
        "pending": {"status": Subscriber.Status.PENDING},
        "pending, mailed just now": {"status": Subscriber.Status.PENDING, "confirmation_sent_at": timezone.now()},
        "suppressed (complaint)": {"status": Subscriber.Status.ACTIVE},
    }
    for state, fields in made.items():
        reader = Subscriber.objects.create(email=addresses[state], **fields)
        reader.topics.add(topic)
    address_suppress(email=addresses["suppressed (complaint)"], reason=Suppression.Reason.COMPLAINT)
    return addresses


class Browser:
    """One visitor with its cookies, over one keep-alive connection when gunicorn
    allows it (a new one when it closed it)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Host": f"127.0.0.1:{self.port}", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
            self.connection = None
        return response.status, data

    def form_token(self, path: str) -> str:
        status, page = self._request("GET", path)
        if status != 200:
            sys.exit(f"GET {path} answered {status}: nothing to measure.")
        return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()

    def post(self, path: str, fields: dict) -> tuple[float, int]:
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        started = time.perf_counter()
        status, _ = self._request("POST", path, body)
        return (time.perf_counter() - started) * 1000, status


def slower_share(sample: list[float], other: list[float]) -> float:
    """How often a post of `sample` took longer than one of `other`, over every pair
    (ties count half): 50 % when timing cannot tell the two apart, towards 0 or
    100 % the more often one look at the clock can."""
    pairs = [(a > b) + (a == b) / 2 for a in sample for b in other]
    return sum(pairs) / len(pairs)


def form_fields(form: str, email: str, token: str, topic_id: int) -> dict:
    fields = {"csrfmiddlewaretoken": token, "email": email, "website": ""}
    if form == "subscribe":
        fields |= {"topics": [topic_id], "keywords": "", "exclude_keywords": "", "frequency": "daily",
                   "weekday": "0", "delivery_hour": "7", "time_zone": "Europe/Berlin", "consent": "on"}
    return fields


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="posts per form and state")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--skip-prepare", action="store_true",
                        help="the database is already filled (an earlier run from this checkout)")
    args = parser.parse_args()

    # Every state posted --rounds times from one address and one IP.
    limits_off = {"SUBSCRIBE_RATE_LIMIT_PER_IP": str(10**7), "SUBSCRIBE_RATE_LIMIT_PER_ADDRESS": str(10**7)}
    env = production_site("form_timing", prepare=not args.skip_prepare, extra=limits_off)
    import django

    django.setup()
    from newsletter.models import Topic

    addresses = readers_create(run=env["CACHE_KEY_PREFIX"].rsplit("-", 1)[1])
    topic_id = Topic.objects.filter(is_active=True).values_list("pk", flat=True).first()
    server = gunicorn_start(env, port=args.port, workers=1, threads=1)
    try:
        browser = Browser(args.port)
        tokens = {form: browser.form_token(path) for form, path in FORMS.items()}
        times: dict[tuple[str, str], list[float]] = {(f, s): [] for f in FORMS for s in addresses}
        statuses: set[int] = set()
        for _ in range(5):  # warm: every code path once before timing
            for form, path in FORMS.items():
                for email in addresses.values():
                    browser.post(path, form_fields(form, email, tokens[form], topic_id))
        total = args.rounds * len(times)
        done = 0
        for round_ in range(args.rounds):
            # The order of the states turns each round: no state always follows another.
            order = list(addresses.items())
            shift = round_ % len(order)
            order = order[shift:] + order[:shift]
            for form, path in FORMS.items():
                for state, email in order:
                    elapsed, status = browser.post(path, form_fields(form, email, tokens[form], topic_id))
                    statuses.add(status)
                    times[form, state].append(elapsed)
                    done += 1
            if (round_ + 1) % max(1, args.rounds // 10) == 0:
                print(f"  {done:,} of {total:,} posts", flush=True)
    finally:
        gunicorn_stop(server)
        import redis

        redis.Redis.from_url(env["REDIS_URL"]).delete("celery")  # the run's queued tasks
    if statuses != {303}:
        sys.exit(f"The forms answered {sorted(statuses)}, not only 303: fix that before timing them.")

    print()
    print(f"Wall time per POST over HTTP to gunicorn (1 worker, 1 thread, production settings, "
          f"no Celery worker), {args.rounds} per form and state, interleaved")
    for form, path in FORMS.items():
        print(f"\n{form} ({path})")
        print("| address | median | middle half | slower than an unknown address's |")
        print("|---|---|---|---|")
        medians = {}
        spreads = []
        for state in addresses:
            sample = times[form, state]
            q1, median, q3 = statistics.quantiles(sample, n=4)
            medians[state] = median
            spreads.append(q3 - q1)
            tell = slower_share(sample, times[form, "unknown"])
            print(f"| {state} | {median:.2f} ms | {q1:.2f}–{q3:.2f} ms | {tell:.0%} |")
        fastest = min(medians, key=medians.get)
        slowest = max(medians, key=medians.get)
        print(f"widest gap between medians: {medians[slowest] - medians[fastest]:.2f} ms "
              f"({slowest} against {fastest}); middle half of one state: "
              f"{statistics.median(spreads):.2f} ms wide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
