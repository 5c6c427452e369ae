"""`python -m bench.esp_send` at small N: it sends through the real slot and journal
path, prints the CPU per message and the split, and leaves nothing in Redis. No
timing is asserted: the figures are for docs/benchmarks.md, not for tests."""

import redis

from bench import esp_send


def test_the_send_benchmark_prints_cpu_per_message_and_leaves_no_record(settings):
    settings.ESP_MAX_PER_SECOND = 0
    lines: list[str] = []

    figures = esp_send.run(messages=30, write=lines.append)

    assert figures["cpu_us"] > 0
    assert lines[0].startswith("30 messages through esp_send:") and "us of CPU per message" in lines[0]
    shares = [line for line in lines[2:] if "%" in line]
    assert len(shares) == 3 and any("Redis script calls" in line for line in shares)
    # Queued on a sending thread, each message's release goes with the next one's take
    # (mail/esp.py, _Release): one script a message, and one more for the last release.
    assert lines[-1].startswith("queued on a sending pool of one thread:")
    assert figures["pool_scripts"] <= 1.1, figures
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert list(client.scan_iter(f"{esp_send.KEY_PREFIX}*")) == []
