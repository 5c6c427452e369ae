"""Calls to the ESP: many at once, within the limits the ESP sets.

A provider call takes 50-300 ms, nearly all of it waiting. `esp_send` makes one
call from a pool of up to ESP_SEND_THREADS threads per worker process (`esp_pool`),
each with its own anymail connection kept open across batches (HTTP keep-alive), so
a worker has many calls in flight while it goes on making digests; a thread is woken
only when the calls queued need one (`SendingPool`: with a provider that answers at
once, one or two threads send everything). What the calls
mean for the ledger (journal, outcomes) stays with the caller,
newsletter/sending.py; a caller's own Redis entry for a message (`EspRecord`: the
ledger's journal) is written in the same round trips as the call's slot, one
before the call and one after, instead of two more; and a sending thread gives one
call's slot back, with its record, in the same script as it takes the next call's
(`_Release`): one Redis round trip a message while calls follow one another.

The ESP's limits are shared by every worker: a rate (calls per second) and a cap
on calls in flight, kept in Redis so two workers, or twenty, stay under them
together.

`esp_slot_take` waits for a slot (a refused caller waits in its process's queue,
so one thread per process asks again) and returns its token; `esp_slot_release` gives it
back after the provider call; `esp_slow_down` is what a 429 does: the shared rate
halves (once per second at most, however many calls met the same 429) and every
worker pauses for a moment, then the rate climbs back to the configured one over
about RECOVERY_SECONDS. A 429 therefore slows the send down instead of failing it
(newsletter/sending.py retries the refused call after its next slot).

The rate is a GCRA (generic cell rate algorithm) schedule: each call is given the
next free instant ("theoretical arrival time", one interval after the previous
one), so calls are spaced evenly instead of bursting at the top of each second and
callers sleep until their instant instead of polling; a call a little ahead of its
instant goes at once (the burst tolerance, BURST_SHARE_OF_SPARE), so digests made
a few milliseconds apart under the rate are not held back. Both the schedule and the
in-flight set are updated by one Lua script per call (Redis runs a script
atomically, and its clock, TIME, is the same for every worker). A slot held by a
process that died is freed when its deadline passes.

Settings: ESP_MAX_PER_SECOND (0 = no rate), ESP_MAX_IN_FLIGHT (0 = no cap)."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial

import redis
import requests
from anymail.exceptions import AnymailAPIError
from django.conf import settings
from django.core.mail import get_connection

from .errors import api_error_status

logger = logging.getLogger(__name__)

# Calls are spaced this much wider than 1/rate: the moment a slot is taken and the
# moment the call reaches the ESP differ by a few milliseconds of thread scheduling
# and network (tens on a real network), and that jitter must not put rate + 1 calls
# into one of the ESP's seconds. 5 % of a second is 50 ms of slack.
RATE_HEADROOM = 1.05
# After a 429: everybody pauses this long, and the rate is at most halved this often.
SLOW_DOWN_PAUSE_SECONDS = 1.0
# From the lowest rate back to the configured one, linearly, in about this long.
RECOVERY_SECONDS = 30.0
# Never slower than this many calls per second, however many 429s.
MIN_RATE = 1.0
# A slot is given back by the caller; a caller that died frees it after this long
# (longer than any provider call: anymail's request timeout is far shorter).
SLOT_DEADLINE_SECONDS = 120.0
# A call refused with 429 is tried again (after esp_slow_down and the next slot) for
# this long; after that the 429 is the caller's transient error (delivery.py rule 4).
THROTTLED_RETRY_SECONDS = 60.0
# A caller told to wait for a free in-flight slot asks again after this long.
IN_FLIGHT_POLL_SECONDS = 0.005
# A slot is handed out only when its instant has come, or nearly (below), so the
# call follows its grant at once: a slot granted ahead and slept on let a starved
# machine's late threads reach the ESP together (measured: 70 calls in one second at
# a rate of 50 under a load of 27 on 2 cores).
# Nearly: a call may go before its instant by this share of the second that
# RATE_HEADROOM leaves spare (HEADROOM - 1 - one interval: 48 ms at 600/s, 29 ms at
# 50/s): the GCRA's burst tolerance, 16 ms at 600/s, 9.7 ms at 50/s. With none, two
# digests made less than one interval apart (1.75 ms at 600/s) had the second
# refused and its thread asking again: 0.9 refusals per message at 250 calls/s, far
# under the rate, and a third of a worker's throughput with a fast ESP
# (docs/benchmarks.md). The rest of the spare time is for the calls' lateness
# between a grant and the ESP: rate + 1 grants span `rate` intervals (1.05 s) less
# the tolerance, so the ESP counts more than the rate in one second only when the
# lateness of the calls in it differs by over 34 ms at 600/s, 40 ms at 50/s (50 ms
# with no tolerance). Measured: a call leaves its thread 4.4 ms (p99) after its
# grant on a loaded machine (docs/benchmarks.md, "The rate's headroom under load").
BURST_SHARE_OF_SPARE = 1 / 3

# The take. KEYS: the rate, the in-flight set, the caller's record ('' for none) and,
# when the thread's previous call is released with it (`_Release`), that call's
# record ('' for none); ARGV[11..13]: the previous call's token ('' for none), its
# record's `after` and TTL. The release goes first, whatever the take then decides.
_TAKE = """
if ARGV[11] and ARGV[11] ~= '' then redis.call('ZREM', KEYS[2], ARGV[11]) end
if KEYS[4] and KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[12], 'EX', ARGV[13]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_rate = tonumber(ARGV[1])
local max_in_flight = tonumber(ARGV[2])
local token, deadline = ARGV[3], tonumber(ARGV[4])
local headroom, recovery, burst_share = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local record = KEYS[3]
if record == '' then record = nil end
if record and redis.call('GET', record) == ARGV[9] then return {'2', '0'} end
if max_in_flight > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max_in_flight then return {'0', '-1'} end
end
if max_rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'changed')
  local tat = tonumber(state[1]) or now
  local rate = tonumber(state[2]) or max_rate
  local changed = tonumber(state[3]) or now
  -- A 429's pause (esp_slow_down) is kept in full, burst tolerance or not.
  if changed > now then return {'0', tostring(changed - now)} end
  if rate > max_rate then rate = max_rate end
  if rate < max_rate and now > changed then
    rate = math.min(max_rate, rate + (now - changed) * max_rate / recovery)
  end
  local interval = headroom / rate
  local tolerance = math.max(0, (headroom - 1 - interval) * burst_share)
  local start = math.max(tat, now)
  if start - now > tolerance then return {'0', tostring(start - now - tolerance)} end
  redis.call('HSET', KEYS[1], 'tat', tostring(start + interval), 'rate', tostring(rate),
             'changed', tostring(math.max(changed, now)))
  redis.call('EXPIRE', KEYS[1], 3600)
end
if max_in_flight > 0 then
  redis.call('ZADD', KEYS[2], now + deadline, token)
  redis.call('EXPIRE', KEYS[2], 3600)
end
if record then redis.call('SET', record, ARGV[8], 'EX', ARGV[10]) end
return {'1', '0'}
"""

_SLOW_DOWN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max_rate, pause, min_rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'slowed')
local tat = tonumber(state[1]) or now
local rate = tonumber(state[2]) or max_rate
local slowed = tonumber(state[3]) or 0
if now - slowed < pause then return tostring(rate) end
rate = math.max(min_rate, rate / 2)
redis.call('HSET', KEYS[1], 'rate', tostring(rate), 'changed', tostring(now + pause),
           'slowed', tostring(now), 'tat', tostring(math.max(tat, now + pause)))
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(rate)
"""

# The release: the slot given back and, after a call the ESP took, the caller's record
# written, in one script call (as the take is). It was a two-command pipeline: the
# same one round trip, but redis-py's pipeline machinery cost ~30 us more of the
# sending thread's CPU per message (docs/benchmarks.md).
_RELEASE = """
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
return 1
"""

_client: redis.Redis | None = None
_scripts: dict[str, object] = {}


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        _scripts["take"] = _client.register_script(_TAKE)
        _scripts["slow"] = _client.register_script(_SLOW_DOWN)
        _scripts["release"] = _client.register_script(_RELEASE)
    return _client


def _keys() -> list[str]:
    # One schedule per ESP account, i.e. per deployment and its Redis database.
    return ["digest:esp:rate", "digest:esp:in-flight"]


@dataclass(frozen=True)
class EspRecord:
    """The caller's own Redis entry for one message, written in the same round trips
    as the call's slot: `before` as the slot is granted, right before the call,
    unless the entry holds `refused` (then no slot is taken and EspRecordRefused is
    raised: the call must not be made; the check and the write are one atomic
    step); `after` + the provider's message id as the slot is given back after a
    call the ESP took. The ledger's journal entries are these (newsletter/journal.py)."""

    key: str
    before: str
    refused: str
    after: str
    ttl: int


class EspRecordRefused(Exception):
    """The caller's entry held EspRecord.refused: no slot was taken, no call made."""


@dataclass(frozen=True)
class EspSlot:
    token: str
    waited: float  # seconds spent waiting for it


# A caller refused a slot waits behind this lock, so only one thread per process asks
# Redis again: when every refused thread slept until the instant it was told and
# asked again, they all asked at once and all but one were refused again, every
# time (measured: 18 scripts per call granted at 220 calls/s under a rate of 600,
# ~1.7 ms of a sending worker's CPU per digest, and as much again in Redis).
_slot_queue = threading.Lock()


def esp_slot_take(*, record: EspRecord | None = None) -> EspSlot:
    """Wait until the shared rate and the in-flight cap allow one more provider call,
    and write `record`'s `before` with the slot (EspRecordRefused if the record
    refuses it); the caller must call esp_slot_release(slot) after the call,
    whatever happened. A caller asks once; if refused while no other thread of the
    process waits, it waits in the process's queue (`_slot_queue`) and asks again
    when told. A sending thread's release of its previous call, if it holds one
    (`_Release`), goes in the same script as the first ask."""
    release, _local.release = getattr(_local, "release", None), None
    token = uuid.uuid4().hex
    if record is None and float(settings.ESP_MAX_PER_SECOND) <= 0 and int(settings.ESP_MAX_IN_FLIGHT) <= 0:
        if release is not None:
            _release_run(release)
        return EspSlot(token, 0.0)
    started = due = time.monotonic()
    if not _slot_queue.locked():
        wait = _slot_ask(token, record, release)
        if wait is None:
            return EspSlot(token, time.monotonic() - started)
        due += wait
    elif release is not None:  # not held while this thread waits its turn
        _release_run(release)
    with _slot_queue:
        while True:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            wait = _slot_ask(token, record)
            if wait is None:
                return EspSlot(token, time.monotonic() - started)
            due = time.monotonic() + wait


def _slot_ask(token: str, record: EspRecord | None, release: _Release | None = None) -> float | None:
    """One look at the shared limits, after `release` (if any; done whatever the
    answer): None if the slot is granted (its instant has come; `record` written),
    else how long to wait before asking again."""
    _redis()
    keys = _keys()
    args = [float(settings.ESP_MAX_PER_SECOND), int(settings.ESP_MAX_IN_FLIGHT), token,
            SLOT_DEADLINE_SECONDS, RATE_HEADROOM, RECOVERY_SECONDS, BURST_SHARE_OF_SPARE]
    if record is not None or release is not None:
        keys.append(record.key if record is not None else "")
        args += [record.before, record.refused, record.ttl] if record is not None else ["", "", 0]
    if release is not None:
        keys.append(release.record_key)
        args += [release.token, release.after, release.ttl]
    try:
        granted, wait = _scripts["take"](keys=keys, args=args)
    except redis.RedisError:
        if release is not None:
            release.settle(written=False)
        raise
    if release is not None:
        release.settle(written=True)
    wait = float(wait)
    if granted == b"2":
        raise EspRecordRefused(record.key)
    if granted == b"1":
        return None
    return IN_FLIGHT_POLL_SECONDS if wait < 0 else wait


@dataclass
class _Release:
    """A provider call's slot given back and, after a call the ESP took, its record's
    `after` written. A sending thread holds its last one until it takes the slot of
    its next call, and both go to Redis in one script (`_TAKE`): one round trip a
    message instead of two (docs/benchmarks.md, "The release goes with the next
    take"). A thread with no next call in its pool's queue writes it at once
    (`_release_flush`), and the call's future completes only once it is written
    (`SendingPool._work`), so a caller never sees a call done before its record."""

    token: str  # '' with no in-flight cap
    record_key: str  # '' with nothing to write
    after: str
    ttl: int
    # The caller's call completed (its future's result set) once this is settled.
    on_settled: Callable[[], None] | None = None

    def settle(self, *, written: bool) -> None:
        """Called once the release's script ran (or, inside its except block, failed)."""
        if not written and self.record_key:
            logger.exception("message sent, but its record %s could not be written (%s)",
                             self.record_key, self.after)
        if self.on_settled is not None:
            self.on_settled()


def _release_run(release: _Release) -> None:
    _redis()
    keys, args = [_keys()[1]], [release.token]
    if release.record_key:
        keys.append(release.record_key)
        args += [release.after, release.ttl]
    try:
        _scripts["release"](keys=keys, args=args)
    except redis.RedisError:
        release.settle(written=False)
    else:
        release.settle(written=True)


def _release_flush() -> None:
    """Write this thread's held release now (it has no next call to go with)."""
    release, _local.release = getattr(_local, "release", None), None
    if release is not None:
        _release_run(release)


def esp_slot_release(slot: EspSlot, *, record: EspRecord | None = None, message_id: str | None = None) -> None:
    """Give the slot back; with `message_id` (the ESP took the message), write
    `record`'s `after` in the same round trip. On a sending thread of the pool it is
    held and goes with the thread's next take (`_Release`). Never raises: a slot not
    given back frees itself at its deadline, and a record that cannot be written is
    logged (the message went out all the same)."""
    in_flight = int(settings.ESP_MAX_IN_FLIGHT) > 0
    write = record is not None and message_id is not None
    if not in_flight and not write:
        return
    release = _Release(
        token=slot.token if in_flight else "", record_key=record.key if write else "",
        after=f"{record.after}{message_id}" if write else "", ttl=record.ttl if write else 0,
    )
    if getattr(_local, "folding", False):
        _release_flush()  # one that no take went with (its thread's call took no slot)
        _local.release = release
        return
    _release_run(release)


# A 429 storm is a line every this many seconds per process, not silence until a
# batch ends (an operator saw nothing for its first minute) nor a line per call.
SLOW_DOWN_LOG_SECONDS = 10.0
_slow_down_logged_at = [float("-inf")]


def _slow_down_log(rate: float) -> None:
    now = time.monotonic()
    if now - _slow_down_logged_at[0] < SLOW_DOWN_LOG_SECONDS:
        return
    _slow_down_logged_at[0] = now
    # One decimal: halved during the recovery the rate is any fraction ("18.5955").
    logger.warning("the ESP answered 429 (too many requests): sending slowed to %s",
                   f"{round(rate, 1):g} calls per second across the workers" if rate
                   else "a pause before each call")


def esp_slow_down() -> float:
    """The ESP answered 429: halve the shared rate (at most once per pause) and make
    every worker wait a moment. Returns the new rate."""
    max_rate = float(settings.ESP_MAX_PER_SECOND)
    if max_rate <= 0:
        # No configured rate: a 429 still pauses the callers.
        _slow_down_log(0.0)
        time.sleep(SLOW_DOWN_PAUSE_SECONDS)
        return 0.0
    _redis()
    rate = float(_scripts["slow"](keys=_keys()[:1], args=[max_rate, SLOW_DOWN_PAUSE_SECONDS, MIN_RATE]))
    _slow_down_log(rate)
    return rate


def esp_throttle_reset() -> None:
    """Forget the shared state (tests, benchmarks)."""
    _redis().delete(*_keys())


# --- The sending threads ------------------------------------------------------------

# A call that takes longer than this is the provider's time, not the interpreter's:
# with a provider that answers at once, a sending thread's call takes 0.5-26 ms
# (median ~5 ms: its waits for the interpreter lock while the batch makes digests),
# and a real ESP answers in 50-300 ms.
QUICK_CALL_SECONDS = 0.025
# How much each finished call moves the pool's typical call time (an exponentially
# weighted mean): a provider that turns slow is seen as such after about 3 calls.
TYPICAL_CALL_WEIGHT = 0.3


class SendingPool:
    """A process's sending threads: up to `max_threads`, started as they are needed,
    each taking queued calls one after another until the queue is empty; `submit`
    returns a concurrent.futures.Future, as ThreadPoolExecutor's does.

    What it does that ThreadPoolExecutor does not: it wakes a thread for a queued
    call only when no thread awake will get to it soon. The executor's every put
    woke an idle thread, so with a provider that answers at once each message cost
    a thread's wake-up, its waits for the interpreter lock and its sleep: 24
    voluntary context switches per digest with 32 threads against 4.6 with one, for
    the same throughput, and five times the kernel time (docs/benchmarks.md, "Where
    the gap is"). So the pool keeps the typical time of its calls:
    - while calls are quick (under QUICK_CALL_SECONDS), a thread inside one will
      take the next message in a moment, so another is woken only when every awake
      thread's current call has lasted longer than that (the provider slowed down);
    - while they are slow (a real ESP: 50-300 ms, nearly all of it waiting), every
      queued message that no free thread will take wakes or starts one, up to
      `max_threads`, so that many calls are in flight, as with the executor. The
      pool starts this way, and a quick pool turns slow after a few slow calls
      (TYPICAL_CALL_WEIGHT), waking threads for the queue as each of them ends. A
      caller waiting for its calls nudges it meanwhile (`nudge`), so that a call
      that hangs does not hold the messages behind it until it ends.

    The threads are daemons: at the interpreter's exit `esp_pool_shutdown` (atexit)
    lets the calls queued and in flight finish first, as the executor's exit hook did."""

    def __init__(self, max_threads: int, name: str = "esp-send") -> None:
        self.max_threads = max(1, max_threads)
        self.name = name
        self._condition = threading.Condition(threading.Lock())
        self._queue: deque[tuple[Future, Callable, tuple]] = deque()
        self._threads: list[threading.Thread] = []
        # When each thread's current call started (0: between calls or asleep).
        self._started: list[float] = []
        self._sleeping = 0  # threads waiting for a call and not yet told to wake
        self._typical: float | None = None  # seconds; None until a call has ended
        self._closed = False

    @property
    def threads(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable, /, *args) -> Future:
        future: Future = Future()
        with self._condition:
            if self._closed:
                raise RuntimeError("the sending pool is shut down")
            self._queue.append((future, fn, args))
            self._wake_if_needed()
        return future

    @property
    def quick(self) -> bool:
        """The provider answers quickly (its typical call is under QUICK_CALL_SECONDS)."""
        return self._typical is not None and self._typical < QUICK_CALL_SECONDS

    def nudge(self) -> None:
        """Look at the queue now: a caller waiting for its calls (the batch's end)
        calls it every QUICK_CALL_SECONDS, since while calls are quick a thread is
        woken only at a submit or at a call's end, and a call that turned slow holds
        the messages queued behind it until one of those."""
        with self._condition:
            self._wake_if_needed()

    def _wake_if_needed(self) -> None:
        """Under the condition's lock: wake (or start) the threads the queued calls
        need, if any."""
        awake = len(self._threads) - self._sleeping
        calling = [started for started in self._started if started]
        free = awake - len(calling)  # awake between calls, or woken and on their way
        if self.quick:
            now = time.monotonic()
            coming = free or any(now - started < QUICK_CALL_SECONDS for started in calling)
            wanted = 0 if coming or not self._queue else 1
        else:
            wanted = len(self._queue) - free
        for _ in range(wanted):
            if self._sleeping:
                self._sleeping -= 1  # counted awake from now: the next look knows it is coming
                self._condition.notify()
            elif len(self._threads) < self.max_threads:
                index = len(self._threads)
                self._started.append(0.0)
                thread = threading.Thread(target=self._work, args=(index,), name=f"{self.name}_{index}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                return

    def _work(self, index: int) -> None:
        # A call's release is held for the thread's next take (`_Release`), and
        # written before the thread sleeps or ends.
        _local.folding = True
        try:
            while True:
                with self._condition:
                    held = getattr(_local, "release", None) is not None
                    if held and not self._queue:
                        job = None
                    else:
                        while not self._queue:
                            if self._closed:
                                return
                            self._sleeping += 1  # uncounted by whoever wakes it
                            self._condition.wait()
                        job = self._queue.popleft()
                        if not job[0].set_running_or_notify_cancel():
                            continue
                        self._started[index] = started = time.monotonic()
                if job is None:
                    _release_flush()
                    continue
                self._call(job)
                del job
                with self._condition:
                    seconds = time.monotonic() - started
                    self._started[index] = 0.0
                    self._typical = seconds if self._typical is None else (
                        self._typical + TYPICAL_CALL_WEIGHT * (seconds - self._typical))
                    self._wake_if_needed()
        finally:
            _release_flush()
            _local.folding = False

    @staticmethod
    def _call(job: tuple[Future, Callable, tuple]) -> None:
        future, fn, args = job
        before = getattr(_local, "release", None)
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - the caller reads it from the future
            future.set_exception(exc)
            return
        release = getattr(_local, "release", None)
        if release is not None and release is not before:
            # Done for the caller once its record is written (with the next take).
            release.on_settled = partial(future.set_result, result)
        else:
            future.set_result(result)

    def shutdown(self) -> None:
        """Start no calls but those queued; return once they are done."""
        with self._condition:
            self._closed = True
            self._sleeping = 0
            self._condition.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()


_pool: SendingPool | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def esp_pool() -> SendingPool:
    """This process's sending threads (made on first use, so a forked Celery child
    makes its own)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = SendingPool(int(settings.ESP_SEND_THREADS))
        return _pool


def esp_pool_shutdown() -> None:
    """Stop this process's sending threads once their calls queued and in flight are
    done. The threads end, and with them what each kept: its anymail connection and,
    with a backend that writes to the database (the development outbox), its
    database connection. The next esp_pool() makes new ones. Called at the
    interpreter's exit, and by the test session before it drops the test database,
    which the outbox's threads otherwise hold open."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


def _pool_forget_in_child() -> None:
    """In a forked child: the parent's sending threads are not there, so its pool
    (and a lock a parent's thread might have held) is dropped, not waited on; the
    child's first esp_pool() makes its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


atexit.register(esp_pool_shutdown)
os.register_at_fork(after_in_child=_pool_forget_in_child)


def _thread_connection():
    """This thread's anymail connection, opened once and kept: one HTTP keep-alive
    connection per sending thread (a requests.Session is not shared between threads).
    A new one when EMAIL_BACKEND changed (tests switch it)."""
    backend = settings.EMAIL_BACKEND
    cached = getattr(_local, "connection", None)
    if cached is None or cached[0] != backend:
        if cached is not None:
            cached[1].close()
        connection = get_connection(backend)
        connection.open()
        _environment_read_once(connection)
        _local.connection = cached = (backend, connection)
    return cached[1]


def esp_connection_close() -> None:
    """Close this thread's anymail connection; its next call opens one with the
    settings as they are then (tests point the ESP's URL elsewhere)."""
    cached = getattr(_local, "connection", None)
    _local.connection = None
    if cached is not None:
        cached[1].close()


def _environment_read_once(connection) -> None:
    """requests reads the environment on every call of a session that trusts it
    (Session.merge_environment_settings: the proxy variables, NO_PROXY matched
    against the host, REQUESTS_CA_BUNDLE; ~/.netrc in prepare_request): measured at
    ~8 % of a sending worker's CPU at 100 ms. Read it once, when the thread's
    connection opens, for the backend's API URL, and keep the result on the session:
    HTTPS_PROXY, NO_PROXY and the CA bundle still apply, as they were at the start of
    the process. .netrc is not read (anymail's ESPs authenticate with their own
    header). Backends without a requests session are left as they are."""
    session = getattr(connection, "session", None)
    api_url = getattr(connection, "api_url", None)
    if not isinstance(session, requests.Session) or not session.trust_env or not api_url:
        return
    found = session.merge_environment_settings(api_url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    if found["cert"] is not None:
        session.cert = found["cert"]
    session.trust_env = False


@dataclass(frozen=True)
class EspCall:
    message_id: str
    seconds: float  # the provider call that took the message, from request to answer
    throttled: int  # 429 answers met before it


def esp_send(message, *, before_call: Callable[[], None] = lambda: None,
             record: EspRecord | None = None,
             throttled_for: float = THROTTLED_RETRY_SECONDS) -> EspCall:
    """Send one message on this thread's connection, under the shared limits: every
    provider call of the service goes through here (the digests' batches, and
    mail/building.py's message_send for the rest). `before_call` runs right before
    every provider call (it may raise to stop); `record` is written with each call's
    slot (EspRecord; EspRecordRefused: no call). A 429 slows every worker down and
    the call is made again after the next slot, for `throttled_for` seconds; any
    other error propagates."""
    message.connection = _thread_connection()
    started = time.monotonic()
    throttled = 0
    while True:
        slot = esp_slot_take(record=record)
        message_id = None
        try:
            before_call()
            called = time.monotonic()
            message.send()
            status = getattr(message, "anymail_status", None)
            message_id = "" if status is None or status.message_id is None else str(status.message_id)
        except AnymailAPIError as exc:
            if api_error_status(exc) != 429 or time.monotonic() - started > throttled_for:
                raise
            throttled += 1
            esp_slow_down()
            continue
        finally:
            esp_slot_release(slot, record=record, message_id=message_id)
        return EspCall(message_id, time.monotonic() - called, throttled)
