"""The CPU one provider call costs the sending thread, and where it goes:
`python -m bench.esp_send` (docs/benchmarks.md).

Sends --messages digest-sized messages (a 30 KB HTML part, a text part, the list
headers) one after another through `mail.esp.esp_send`, as a sending thread does:
the shared slot with the message's journal record before the call, anymail's
backend, the release with "sent:<id>" after it. The backend is anymail's test
backend (no network), so what is measured is this process's own work per message,
which is the same behind a real ESP. Needs REDIS_URL (a database of its own: the
records are written under `bench:esp-send:` and deleted at the end).

It prints the CPU (`time.process_time`) per message, then the same messages under
cProfile split into the Redis calls (redis-py), anymail building its payload, and
the rest; then the same messages queued at once on a sending pool of one thread
(`mail.esp.SendingPool`, as a batch hands its digests over), with the Redis scripts
a message takes (the server's command counts: nothing else should use that Redis
server meanwhile), the process's CPU and the Redis server's CPU per message.

    REDIS_URL=redis://127.0.0.1:6379/9 python -m bench.esp_send [--messages 2000]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
KEY_PREFIX = "bench:esp-send:"
HTML = "<html><body>" + "<p>A paper's title, its abstract cut to two lines, its links.</p>" * 480 + "</body></html>"
# The parts of a call, each the cumulative time of the function that does it.
PARTS = (
    ("redis/commands/core.py", "__call__", "Redis script calls (the slot and \"attempting\", the release and \"sent\")"),
    ("anymail/backends/base.py", "__init__", "anymail building its payload (addresses parsed, headers, parts)"),
)


def _message(n: int):
    """A digest-sized message, built by the project's builder (mail/building.py)."""
    from mail.building import email_message
    from mail.rendering import RenderedEmail

    rendered = RenderedEmail(subject=f"Daily Papers Digest, Mon 24 Nov: paper {n}",
                             text="A paper, its link.\n" * 40, html=HTML)
    return email_message(to=f"reader{n}@example.com", rendered=rendered,
                         unsubscribe_url=f"https://example.com/unsubscribe/{n}/", tags=["digest"],
                         metadata={"delivery_id": n})


def _record(n: int):
    from mail.esp import EspRecord

    return EspRecord(key=f"{KEY_PREFIX}{n}", before="attempting", refused="revoked", after="sent:", ttl=600)


def _send(first: int, count: int) -> None:
    from mail.esp import esp_send

    messages = [_message(n) for n in range(first, first + count)]
    for n, message in enumerate(messages, first):
        esp_send(message, record=_record(n))


def _pool_send(first: int, count: int) -> None:
    from mail.esp import SendingPool, esp_send

    pool = SendingPool(1)
    try:
        messages = [_message(n) for n in range(first, first + count)]
        gate = threading.Event()
        pool.submit(gate.wait, 60)  # its thread held until every message is queued
        futures = [pool.submit(lambda message, record: esp_send(message, record=record), message, _record(n))
                   for n, message in enumerate(messages, first)]
        gate.set()
        for future in futures:
            future.result(timeout=60)
    finally:
        pool.shutdown()


def _pool_figures(client, *, first: int, messages: int) -> dict[str, float]:
    """Scripts, CPU and the Redis server's CPU per message through a sending pool."""
    def redis_cpu() -> float:
        cpu = client.info("cpu")
        return cpu["used_cpu_user"] + cpu["used_cpu_sys"]

    def scripts() -> int:
        return client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)

    _pool_send(first, 20)  # its thread's connection opened
    before = (scripts(), time.process_time(), redis_cpu())
    _pool_send(first + 20, messages)
    after = (scripts(), time.process_time(), redis_cpu())
    return {"pool_scripts": (after[0] - before[0]) / messages,
            "pool_cpu_us": (after[1] - before[1]) / messages * 1e6,
            "pool_redis_us": (after[2] - before[2]) / messages * 1e6}


def run(*, messages: int, write: Callable[[str], None] = print) -> dict[str, float]:
    import redis
    from django.conf import settings

    from mail.esp import esp_throttle_reset

    client = redis.Redis.from_url(settings.REDIS_URL)
    esp_throttle_reset()
    try:
        _send(0, 20)  # connections opened, scripts loaded
        started = time.process_time()
        _send(100, messages)
        cpu_us = (time.process_time() - started) / messages * 1e6
        write(f"{messages:,} messages through esp_send: {cpu_us:.0f} us of CPU per message "
              f"(ESP_MAX_PER_SECOND={settings.ESP_MAX_PER_SECOND}, "
              f"ESP_MAX_IN_FLIGHT={settings.ESP_MAX_IN_FLIGHT})")
        profile = cProfile.Profile()
        profile.enable()
        _send(100 + messages, messages)
        profile.disable()
        stats = pstats.Stats(profile).stats
        total = sum(cum for (filename, _, name), (_, _, _, cum, _) in stats.items()
                    if filename.endswith("mail/esp.py") and name == "esp_send")
        parts = {label: sum(cum for (filename, _, name), (_, _, _, cum, _) in stats.items()
                            if filename.endswith(path) and name == function)
                 for path, function, label in PARTS}
        parts["the rest (esp_send, the slot's bookkeeping, Django's message, the test backend)"] = (
            total - sum(parts.values()))
        write(f"under cProfile ({total / messages * 1e6:.0f} us per message with its overhead):")
        for name, seconds in parts.items():
            write(f"  {seconds / total:5.0%}  {name}")
        pool = _pool_figures(client, first=100 + 2 * messages, messages=messages)
        write(f"queued on a sending pool of one thread: {pool['pool_scripts']:.2f} Redis scripts per message "
              f"(the release goes with the next take), {pool['pool_cpu_us']:.0f} us of CPU per message, "
              f"Redis server {pool['pool_redis_us']:.0f} us")
        return {"cpu_us": cpu_us, **{name: seconds / total for name, seconds in parts.items()}, **pool}
    finally:
        keys = list(client.scan_iter(f"{KEY_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
        esp_throttle_reset()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ["EMAIL_BACKEND"] = "anymail.backends.test.EmailBackend"  # no network, no outbox rows
    import django

    django.setup()
    run(messages=args.messages)


if __name__ == "__main__":
    main()
