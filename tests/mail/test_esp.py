"""The ESP's limits shared through the real Redis (mail/esp.py): the rate is never
exceeded in any second, the in-flight cap holds across threads, and a 429 halves
the rate once however many calls met it."""

import threading
import time
from collections import Counter

import pytest

from mail import esp
from tests.chaos.fake_esp import SERVER_TOKEN


@pytest.fixture
def limits(settings):
    settings.ESP_MAX_PER_SECOND = 0
    settings.ESP_MAX_IN_FLIGHT = 0
    esp.esp_throttle_reset()
    yield settings
    esp.esp_throttle_reset()


def _take_in_threads(count: int, threads: int, hold: float = 0.0) -> tuple[list[float], int]:
    """`count` slots taken by `threads` threads; when each was granted, and the most
    held at once."""
    granted: list[float] = []
    holding, most = [0], [0]
    lock = threading.Lock()
    left = [count]

    def run():
        while True:
            with lock:
                if not left[0]:
                    return
                left[0] -= 1
            slot = esp.esp_slot_take()
            with lock:
                granted.append(time.time())
                holding[0] += 1
                most[0] = max(most[0], holding[0])
            time.sleep(hold)
            with lock:
                holding[0] -= 1
            esp.esp_slot_release(slot)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return granted, most[0]


def test_the_shared_rate_is_never_exceeded_in_any_second(limits):
    limits.ESP_MAX_PER_SECOND = 40
    started = time.monotonic()
    granted, _ = _take_in_threads(100, threads=16)
    per_second = Counter(int(t) for t in granted)
    assert max(per_second.values()) <= 40
    # Spaced over the whole time, not a burst at the top of each second.
    assert time.monotonic() - started >= 99 / 40


def test_calls_a_little_closer_than_the_rate_are_not_held_back(limits, monkeypatch):
    """The rate is a per-second limit, not a minimum gap: five digests made within a
    few milliseconds at 600/s (one interval is 1.75 ms) go at once, each asking Redis
    once, as the burst tolerance allows (beyond it calls are spaced: the per-second
    test above). Without it the second and later callers were refused and asked
    again: 0.9 refusals per message of a worker at 250/s."""
    limits.ESP_MAX_PER_SECOND = 600
    asks = Counter()
    ask = esp._slot_ask

    def counted(*args):
        asks["asks"] += 1
        return ask(*args)

    monkeypatch.setattr(esp, "_slot_ask", counted)
    slots = [esp.esp_slot_take() for _ in range(5)]
    assert asks["asks"] == 5
    for slot in slots:
        esp.esp_slot_release(slot)


def test_calls_in_flight_are_capped_across_threads(limits):
    limits.ESP_MAX_IN_FLIGHT = 3
    _, most = _take_in_threads(30, threads=10, hold=0.02)
    assert most == 3


def test_a_slot_of_a_caller_that_died_frees_itself(limits, monkeypatch):
    limits.ESP_MAX_IN_FLIGHT = 1
    monkeypatch.setattr(esp, "SLOT_DEADLINE_SECONDS", 0.2)
    esp.esp_slot_take()  # never released: its caller "died"
    started = time.monotonic()
    esp.esp_slot_release(esp.esp_slot_take())
    assert time.monotonic() - started >= 0.15


def test_a_record_is_written_with_the_slot_and_a_refused_one_takes_no_slot(limits):
    """The caller's entry (the ledger's journal) goes with the slot: `before` as it is
    granted, `after` + the message id as it is given back; an entry that holds
    `refused` gets no slot, atomically (ledger rule 3's fence)."""
    import redis
    from django.conf import settings

    limits.ESP_MAX_IN_FLIGHT = 1
    client = redis.Redis.from_url(settings.REDIS_URL)
    record = esp.EspRecord(key="test:esp:record", before="attempting", refused="revoked", after="sent:", ttl=60)
    client.delete(record.key)
    slot = esp.esp_slot_take(record=record)
    assert client.get(record.key) == b"attempting"
    esp.esp_slot_release(slot, record=record, message_id="pm-1")
    assert client.get(record.key) == b"sent:pm-1"
    esp.esp_slot_release(esp.esp_slot_take(record=record))  # a call that failed: no "after"
    assert client.get(record.key) == b"attempting"
    client.set(record.key, "revoked")
    with pytest.raises(esp.EspRecordRefused):
        esp.esp_slot_take(record=record)
    assert client.get(record.key) == b"revoked"
    esp.esp_slot_release(esp.esp_slot_take())  # the refused caller held no slot (the cap is 1)
    client.delete(record.key)


def test_with_no_limits_configured_a_refused_record_still_stops_the_call(limits):
    """ESP_MAX_PER_SECOND and ESP_MAX_IN_FLIGHT both 0 (the default): no slot to
    wait for, but the caller's entry is still written before the call and still
    refuses it once revoked; skipped, a revoked digest went out all the same."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    record = esp.EspRecord(key="test:esp:record", before="attempting", refused="revoked", after="sent:", ttl=60)
    client.delete(record.key)
    esp.esp_slot_release(esp.esp_slot_take(record=record))
    assert client.get(record.key) == b"attempting"
    client.set(record.key, "revoked")
    with pytest.raises(esp.EspRecordRefused):
        esp.esp_slot_take(record=record)
    client.delete(record.key)


def test_a_slot_held_through_a_slow_call_stays_taken_until_its_deadline(limits):
    """A provider call may take seconds; its slot counts against the in-flight cap
    until it is given back (or SLOT_DEADLINE_SECONDS pass), not for a second only."""
    limits.ESP_MAX_IN_FLIGHT = 1
    slot = esp.esp_slot_take()
    time.sleep(1.2)
    assert esp._slot_ask("another-call", None) is not None  # told to wait
    esp.esp_slot_release(slot)
    assert esp._slot_ask("another-call", None) is None
    esp.esp_slot_release(esp.EspSlot("another-call", 0.0))


def test_without_a_configured_rate_a_429_still_pauses_the_caller(limits, monkeypatch):
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.2)
    started = time.monotonic()
    assert esp.esp_slow_down() == 0.0
    assert time.monotonic() - started >= 0.2


def test_a_429_halves_the_rate_once_and_the_rate_comes_back(limits, monkeypatch, caplog):
    limits.ESP_MAX_PER_SECOND = 100
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.2)
    monkeypatch.setattr(esp, "RECOVERY_SECONDS", 1.0)
    monkeypatch.setattr(esp, "_slow_down_logged_at", [float("-inf")])
    # Fifty calls met the same 429: one halving, not fifty.
    started = time.monotonic()
    rates = [esp.esp_slow_down() for _ in range(50)]
    assert rates == [50.0] * 50
    # And one log line, as it happens (a storm was silent until its batch ended).
    lines = [r.getMessage() for r in caplog.records if r.name == "mail.esp"]
    assert lines == ["the ESP answered 429 (too many requests): sending slowed to 50 calls per second across the workers"]
    esp.esp_slot_release(esp.esp_slot_take())
    assert time.monotonic() - started >= 0.2  # everybody paused
    time.sleep(1.0)
    esp.esp_slot_release(esp.esp_slot_take())
    assert esp.esp_slow_down() == 50.0  # from 100 again: it had recovered


def test_the_429_line_gives_the_slowed_rate_to_one_decimal(limits, monkeypatch, caplog):
    """A 429 during the recovery halves whatever fraction the rate has climbed back
    to; an operator read "sending slowed to 18.5955 calls per second". The same
    halving from a configured 37.191 a second."""
    limits.ESP_MAX_PER_SECOND = 37.191
    monkeypatch.setattr(esp, "_slow_down_logged_at", [float("-inf")])
    assert esp.esp_slow_down() == pytest.approx(18.5955)
    lines = [r.getMessage() for r in caplog.records if r.name == "mail.esp"]
    said = "the ESP answered 429 (too many requests): sending slowed to 18.6 calls per second across the workers"
    assert lines == [said]


def test_a_rate_the_operator_lowers_holds_from_the_next_call(limits):
    """The shared schedule kept the old, higher rate (for the hour its key lives):
    lowered from 100 to 5 calls a second mid-send, the next calls still went out
    at 100 a second, into the ESP's 429s."""
    limits.ESP_MAX_PER_SECOND = 100
    esp.esp_slot_release(esp.esp_slot_take())
    limits.ESP_MAX_PER_SECOND = 5
    started = time.monotonic()
    for _ in range(3):
        esp.esp_slot_release(esp.esp_slot_take())
    assert time.monotonic() - started >= 2 * esp.RATE_HEADROOM / 5 - 0.02


def test_a_storm_of_429s_never_slows_sending_below_one_call_a_second(limits, monkeypatch):
    """Each 429 a pause apart halves the rate again, down to MIN_RATE and no
    further: a long storm must not leave the digests crawling out at one call
    every ten seconds."""
    limits.ESP_MAX_PER_SECOND = 8
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.0)
    assert [esp.esp_slow_down() for _ in range(6)] == [4.0, 2.0, 1.0, 1.0, 1.0, 1.0]


def _postmark_connection(settings, fake):
    from django.core.mail import get_connection

    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": SERVER_TOKEN, "POSTMARK_API_URL": fake.url}
    connection = get_connection("anymail.backends.postmark.EmailBackend")
    connection.open()
    esp._environment_read_once(connection)
    return connection


def _postmark_send(connection) -> None:
    from anymail.message import AnymailMessage

    AnymailMessage(subject="Your digest", body="Hello", from_email="digest@example.com",
                   to=["reader@example.com"], connection=connection).send()


def test_a_proxy_in_the_environment_still_carries_the_esp_calls(settings, postmark, monkeypatch):
    # The environment is read once per sending connection, not per call: a proxy set
    # there still applies (here one that is down, so the call fails to connect)...
    from anymail.exceptions import AnymailRequestsAPIError

    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    connection = _postmark_connection(settings, postmark)
    with pytest.raises(AnymailRequestsAPIError):
        _postmark_send(connection)
    assert postmark.total_accepted() == 0


def test_no_proxy_in_the_environment_still_bypasses_the_proxy(settings, postmark, monkeypatch):
    # ... and NO_PROXY still takes the ESP's host out of it.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    connection = _postmark_connection(settings, postmark)
    _postmark_send(connection)
    assert postmark.total_accepted() == 1


def test_without_an_in_flight_cap_the_release_still_writes_the_record(limits):
    """The release is one script whatever it has to do: with no cap on calls in
    flight (no slot to give back) the record's `after` is still written, with its TTL."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    record = esp.EspRecord(key="test:esp:record-nocap", before="attempting", refused="revoked", after="sent:",
                           ttl=60)
    client.delete(record.key)
    slot = esp.esp_slot_take(record=record)
    esp.esp_slot_release(slot, record=record, message_id="pm-2")
    assert client.get(record.key) == b"sent:pm-2"
    assert 0 < client.ttl(record.key) <= 60
    esp.esp_slot_release(esp.esp_slot_take())  # nothing to give back, nothing written
    client.delete(record.key)


# --- The sending threads ------------------------------------------------------------


class _Calls:
    """Provider calls for the pool: each notes the thread that made it and how many
    were in flight at once; `seconds` is the provider's answer time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.threads: Counter[str] = Counter()

    def call(self, seconds: float, result: int) -> int:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.threads[threading.current_thread().name] += 1
        time.sleep(seconds)
        with self.lock:
            self.in_flight -= 1
        return result

    def reset(self) -> None:
        self.most_in_flight, self.threads = 0, Counter()


@pytest.fixture
def pool():
    pool = esp.SendingPool(8)
    yield pool
    pool.shutdown()


def _all_results(futures) -> list:
    return [future.result(timeout=10) for future in futures]


def test_a_slow_provider_gets_a_thread_per_message_up_to_the_pools_size(pool):
    calls = _Calls()
    futures = [pool.submit(calls.call, 0.2, n) for n in range(16)]
    assert _all_results(futures) == list(range(16))
    assert calls.most_in_flight == 8  # every thread in a call at once, none more
    assert pool.threads == 8


def test_quick_calls_stay_on_the_thread_awake_instead_of_waking_the_others(pool):
    """With a provider that answers at once, each message waking one of the idle
    threads cost ~20 context switches per digest for nothing (docs/benchmarks.md)."""
    calls = _Calls()
    _all_results([pool.submit(calls.call, 0.05, n) for n in range(8)])  # 8 threads started
    for n in range(10):  # the provider turns quick
        pool.submit(calls.call, 0, n).result(timeout=10)
    calls.reset()
    futures = [pool.submit(calls.call, 0, n) for n in range(300)]
    assert _all_results(futures) == list(range(300))
    made = calls.threads.most_common(1)[0][1]
    # All of them on one thread but for a stall of the machine; ThreadPoolExecutor
    # spread them over its 8 idle threads.
    assert made >= 270, calls.threads
    assert len(calls.threads) <= 3, calls.threads


def test_a_quick_provider_that_turns_slow_gets_its_threads_back(pool):
    calls = _Calls()
    _all_results([pool.submit(calls.call, 0, n) for n in range(20)])
    calls.reset()
    started = time.monotonic()
    futures = [pool.submit(calls.call, 0.2, n) for n in range(24)]
    assert _all_results(futures) == list(range(24))
    # The first slow call is seen as such when it ends; then the queue gets every
    # thread: 8 in flight at once, 24 calls in about 4 rounds, not 24.
    assert calls.most_in_flight == 8
    assert time.monotonic() - started < 2.4


def test_a_failed_call_reaches_its_caller_and_the_pool_goes_on(pool):
    def refuse():
        raise ValueError("refused")

    failed = pool.submit(refuse)
    with pytest.raises(ValueError, match="refused"):
        failed.result(timeout=10)
    assert pool.submit(lambda: "sent").result(timeout=10) == "sent"


def test_shutdown_lets_the_queued_calls_finish_and_refuses_new_ones(pool):
    calls = _Calls()
    futures = [pool.submit(calls.call, 0.05, n) for n in range(20)]
    pool.shutdown()
    assert all(future.done() for future in futures)
    assert [future.result() for future in futures] == list(range(20))
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(calls.call, 0, 0)


def test_a_forked_child_sends_on_threads_of_its_own():
    """A process forked after its parent sent (a Celery prefork child of a parent
    that used the pool) must not queue its calls on the parent's threads, which the
    child does not have: they would wait forever."""
    import os

    parent = esp.esp_pool()
    assert parent.submit(lambda: "parent").result(timeout=10) == "parent"
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its call is made
        code = 1
        try:
            code = 0 if esp.esp_pool().submit(lambda: "child").result(timeout=10) == "child" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert esp.esp_pool() is parent  # the parent's pool is untouched


def test_a_nudge_frees_the_messages_queued_behind_a_quick_providers_call_that_turned_slow(pool):
    """While calls are quick a thread is woken at a submit or at a call's end; a
    batch waiting for its last calls nudges the pool (BatchSender.wait) so that one
    call that hangs does not hold the messages behind it."""
    calls = _Calls()
    _all_results([pool.submit(calls.call, 0, n) for n in range(20)])
    time.sleep(0.05)  # every thread back asleep
    assert pool.quick
    hanging = pool.submit(calls.call, 2.0, "slow")
    behind = [pool.submit(calls.call, 0, n) for n in range(3)]
    time.sleep(0.1)  # the hanging call is past QUICK_CALL_SECONDS now
    assert not any(future.done() for future in behind)  # nobody was woken for them
    pool.nudge()
    assert _all_results_within(behind, 1.0) == [0, 1, 2]
    assert not hanging.done()
    assert hanging.result(timeout=10) == "slow"


def _all_results_within(futures, seconds: float) -> list:
    return [future.result(timeout=seconds) for future in futures]


def test_a_sending_threads_release_goes_with_its_next_take_and_a_call_is_done_only_once_its_record_is(
    settings, tmp_path, monkeypatch,
):
    """A thread sending messages one after another gives back each call's slot and
    writes its "sent" record in the same script as the next call's slot: one Redis
    script a message instead of two (docs/benchmarks.md). The caller still never
    sees a call done before its record says sent, the last call included (its
    release is written when the queue is empty)."""
    from django.core.mail import EmailMessage

    from tests.own_redis import OwnRedis

    server = OwnRedis(tmp_path)  # exact command counts: nobody else uses it
    server.start()
    try:
        settings.REDIS_URL = server.url
        settings.ESP_MAX_PER_SECOND, settings.ESP_MAX_IN_FLIGHT = 0, 128
        monkeypatch.setattr(esp, "_client", None)
        monkeypatch.setattr(esp, "_scripts", {})
        client = server.client()
        pool = esp.SendingPool(1)
        seen: dict[int, bytes | None] = {}

        def send(n: int) -> str:
            message = EmailMessage(f"Digest {n}", "papers", to=[f"reader{n}@example.com"])
            record = esp.EspRecord(key=f"test:fold:{n}", before="attempting", refused="revoked", after="sent:",
                                   ttl=60)
            return esp.esp_send(message, record=record).message_id

        def sends(numbers) -> list:
            gate = threading.Event()
            pool.submit(gate.wait, 10)  # the thread held until every message is queued
            futures = []
            for n in numbers:
                future = pool.submit(send, n)
                # Run by the thread that completes the future, the moment it does.
                future.add_done_callback(lambda f, n=n: seen.__setitem__(n, client.get(f"test:fold:{n}")))
                futures.append(future)
            gate.set()
            return _all_results(futures)

        sends(range(3))  # the scripts loaded, the connection open
        client.config_resetstat()
        ids = sends(range(3, 43))
        scripts = client.info("commandstats")["cmdstat_evalsha"]["calls"]
        pool.shutdown()
        # 40 takes, each with the previous call's release, and the last release alone;
        # it was 80 (a take and a release a message).
        assert scripts <= 42, scripts
        assert all(seen[n] == f"sent:{id_}".encode() for n, id_ in zip(range(3, 43), ids)), seen
        assert client.zcard("digest:esp:in-flight") == 0  # every slot given back
    finally:
        server.stop()


def test_a_held_release_is_not_kept_waiting_for_the_next_slot_under_the_rate(limits):
    """Under a rate, a sending thread's next slot may be minutes away; the release it
    holds (the last call's "sent" record, which completes that call for the batch)
    goes with the first ask, granted or not, never with the grant."""
    from django.core.mail import EmailMessage

    limits.ESP_MAX_PER_SECOND = 4  # a slot every ~260 ms (RATE_HEADROOM)
    limits.ESP_MAX_IN_FLIGHT = 128
    pool = esp.SendingPool(1)
    ended: dict[int, float] = {}
    done: dict[int, float] = {}

    def send(n: int) -> int:
        message = EmailMessage(f"Digest {n}", "papers", to=[f"reader{n}@example.com"])
        esp.esp_send(message, record=esp.EspRecord(key=f"test:held:{n}", before="attempting", refused="revoked",
                                                   after="sent:", ttl=60))
        ended[n] = time.monotonic()
        return n

    try:
        futures = [pool.submit(send, n) for n in range(4)]
        for n, future in enumerate(futures):
            future.add_done_callback(lambda f, n=n: done.__setitem__(n, time.monotonic()))
        assert _all_results(futures) == [0, 1, 2, 3]
    finally:
        pool.shutdown()
    assert ended[3] - ended[0] > 0.6  # the rate held the calls apart
    # Each call was done for its caller right after it ended, not a slot later.
    assert all(done[n] - ended[n] < 0.15 for n in range(4)), {n: done[n] - ended[n] for n in range(4)}


# --- Amazon SES: the same limits and ids through boto3 (docs/esp-switch.md) ---------------


@pytest.fixture
def ses(limits):
    """EMAIL_BACKEND is anymail's Amazon SES backend; its boto3 client answers what
    each test queues (botocore's Stubber: SES's real error shapes, no network)."""
    from botocore.stub import Stubber

    limits.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    limits.ANYMAIL = {**limits.ANYMAIL, "AMAZON_SES_CLIENT_PARAMS": {
        "region_name": "us-east-1", "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}}
    esp.esp_connection_close()
    stubber = Stubber(esp._thread_connection().client)
    stubber.activate()
    yield stubber
    stubber.deactivate()
    esp.esp_connection_close()


def _message():
    from anymail.message import AnymailMessage

    return AnymailMessage(subject="Your digest", body="Hello", from_email="digest@example.com",
                          to=["reader@example.com"], metadata={"delivery_id": "7"})


def test_an_amazon_ses_429_slows_every_worker_down_and_the_call_goes_again(ses, limits, monkeypatch):
    """SES's TooManyRequestsException reached anymail as an error without a
    status_code (botocore's parsed response instead): it failed the message for good."""
    import redis
    from django.conf import settings

    limits.ESP_MAX_PER_SECOND = 100
    monkeypatch.setattr(esp, "SLOW_DOWN_PAUSE_SECONDS", 0.1)
    ses.add_client_error("send_email", service_error_code="TooManyRequestsException",
                         service_message="Maximum sending rate exceeded.", http_status_code=429)
    ses.add_response("send_email", {"MessageId": "0100019ab2c3d4e5-ses-message-id-000000"})

    call = esp.esp_send(_message())

    assert call.throttled == 1 and call.message_id == "0100019ab2c3d4e5-ses-message-id-000000"
    ses.assert_no_pending_responses()
    assert float(redis.Redis.from_url(settings.REDIS_URL).hget(esp._keys()[0], "rate")) < 100


@pytest.mark.parametrize(("code", "status", "transient"), [
    ("InternalFailure", 500, True), ("ServiceUnavailable", 503, True),
    ("MessageRejected", 400, False), ("MailFromDomainNotVerifiedException", 400, False),
])
def test_amazon_ses_errors_are_transient_exactly_as_the_same_http_answers_of_postmark(ses, code, status, transient):
    from anymail.exceptions import AnymailAPIError

    from mail.errors import error_is_transient

    ses.add_client_error("send_email", service_error_code=code, http_status_code=status)
    with pytest.raises(AnymailAPIError) as raised:
        esp.esp_send(_message())
    assert error_is_transient(raised.value) is transient


def test_a_send_that_failed_on_the_way_is_tried_again_and_one_the_esp_refused_is_not():
    """What the ledger and the email tasks do with an error: a network error from a
    backend that is not anymail's (Django's SMTP backend raises ConnectionRefusedError),
    an ESP answer of 408 or 429 that outlasted the pauses, and Redis away (the shared
    rate and the journal live there) mean later; an address the ESP refuses, or a
    request it rejects (4xx), does not."""
    import redis
    from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused

    from mail.errors import error_is_transient, send_error_is_transient

    later = [ConnectionRefusedError(111, "Connection refused"), TimeoutError(),
             AnymailAPIError("slow", status_code=408), AnymailAPIError("busy", status_code=429),
             AnymailAPIError("down", status_code=503), redis.ConnectionError("Redis away")]
    never = [AnymailInvalidAddress("bad address"), AnymailRecipientsRefused("refused"),
             AnymailAPIError("bad request", status_code=400), AnymailAPIError("forbidden", status_code=403),
             AnymailAPIError("unprocessable", status_code=422), ValueError("a bug")]
    assert [send_error_is_transient(e) for e in later] == [True] * len(later)
    assert [send_error_is_transient(e) for e in never] == [False] * len(never)
    # Redis is the sender's own store, not the ESP's answer: only the send path retries it.
    assert not error_is_transient(redis.ConnectionError("Redis away"))


def test_an_esps_error_page_is_kept_short_on_the_ledger():
    """An ESP down behind its proxy answers a whole HTML page: the ledger row keeps
    the error's kind and the page's first 2,000 characters."""
    from anymail.exceptions import AnymailAPIError

    from mail.errors import REASON_MAX_CHARS, error_describe

    said = error_describe(AnymailAPIError("<html>" + "Bad gateway. " * 2000))
    assert said.startswith("AnymailAPIError: <html>Bad gateway.") and len(said) == REASON_MAX_CHARS == 2000


def test_an_amazon_ses_call_that_never_got_an_answer_is_transient(ses, monkeypatch):
    from anymail.exceptions import AnymailAPIError
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ReadTimeoutError

    from mail.errors import error_is_transient

    client = esp._thread_connection().client
    for error, transient in ((EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com"), True),
                             (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), True),
                             (NoCredentialsError(), False)):  # configuration: trying again changes nothing
        monkeypatch.setattr(client, "send_email", lambda _error=error, **params: (_ for _ in ()).throw(_error))
        with pytest.raises(AnymailAPIError) as raised:
            esp.esp_send(_message())
        assert error_is_transient(raised.value) is transient, error
