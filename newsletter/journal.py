"""The delivery journal in Redis (rules 2 and 3 of newsletter/delivery.py): each send
is recorded as it happens, "attempting" right before the provider call and
"sent:<what the reader got><message id>" right after it, so a row a dead worker
left in `sending` can be settled from what really happened, papers and all. mail/esp.py writes both with the call's slot
(`journal_record`: one Redis round trip before the call and one after, not two
more; on a sending thread the one after goes with its next call's, mail/esp.py
`_Release`, and the call is not reported done until it is written); "attempting" is written only if the sweep has not revoked the entry, in
the same atomic step. A batch that stops (rule 4) while a thread takes its slot
may leave "attempting" on a row whose call was not made: the sweep re-sends such
a row, as it would one with no entry."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection as db_connection

from mail.esp import EspRecord

from .models import Delivery

logger = logging.getLogger(__name__)

# How long a journal entry lives: longer than any claim can stay unresolved.
JOURNAL_TTL_SECONDS = 3 * 24 * 3600
ATTEMPTING = "attempting"
SENT_PREFIX = "sent:"
# Written by the sweep over an entry it settled (rule 3): its worker lost the lease.
REVOKED = "revoked"

# Every entry read and, unless "sent:...", revoked in one atomic step: a worker
# either wrote "attempting" before (the row is re-sent, at-least-once) or finds its
# entry revoked and does not call the provider.
_REVOKE_SCRIPT = """
local found = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if (not value) or string.sub(value, 1, 5) ~= ARGV[3] then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  end
  found[i] = value or ''
end
return found
"""


class LeaseLost(Exception):
    """The sweep settled this row: its worker had stopped renewing the lease."""

_redis_client: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis_client
    if _redis_client is None:
        _redis_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _redis_client


def journal_key(delivery: Delivery) -> str:
    # The claim time is part of the key: a row claimed again (after a retry) starts
    # a fresh entry, and ids reused by another database never collide.
    db = db_connection.settings_dict["NAME"]
    return f"digest:journal:{db}:{delivery.pk}:{delivery.claimed_at.timestamp():.6f}"


def journal_record(key: str, *, paper_ids: Sequence[int] = (), picked: int | None = None,
                   reasons: Sequence[str] = (), weekly: bool | None = None,
                   chips: Sequence[Sequence[str]] = ()) -> EspRecord:
    """One row's entry as mail/esp.py writes it with each provider call's slot:
    "attempting" right before the call unless the sweep revoked the entry (then
    the call is not made: esp.EspRecordRefused, i.e. the lease was lost), and
    "sent:" right after a call the ESP took, with what the reader got (the message's
    `paper_ids`, how many were `picked`, the picks' `reasons`, whether it was
    `weekly` and the topics beside each paper, `chips`: Delivery's fields, as JSON) and the provider's message id. Without
    them, a row the sweep settled as sent had no papers: its reader's web copy was
    empty and the next digests could repeat them; without the reasons and the
    frequency, its web copy had no "why" lines and read as a daily's."""
    got = json.dumps({"papers": list(paper_ids), "picked": picked, "reasons": list(reasons), "weekly": weekly,
                      "chips": [list(c) for c in chips]}, separators=(",", ":"))
    return EspRecord(key=key, before=ATTEMPTING, refused=REVOKED, after=f"{SENT_PREFIX}{got}",
                     ttl=JOURNAL_TTL_SECONDS)


@dataclass(frozen=True)
class JournalSent:
    """A "sent:" entry read back: what the ESP took, for whom the row was made."""
    message_id: str
    paper_ids: list[int] | None  # None: an entry written before the papers were journalled
    picked: int | None
    reasons: list[str] = ()  # empty: an entry written before the reasons were journalled
    weekly: bool | None = None
    chips: list[list[str]] = ()  # empty: an entry written before the chips were journalled


def journal_sent(entry: str | None) -> JournalSent | None:
    """What a "sent:" entry says (None for any other entry). An entry of a worker
    from before the papers were journalled ("sent:<message id>") reads with none."""
    if not entry or not entry.startswith(SENT_PREFIX):
        return None
    rest = entry.removeprefix(SENT_PREFIX)
    if rest.startswith("{"):
        try:
            got, end = json.JSONDecoder().raw_decode(rest)
        except ValueError:
            got, end = None, 0
        if isinstance(got, dict) and isinstance(got.get("papers"), list):
            picked, reasons, weekly, chips = got.get("picked"), got.get("reasons"), got.get("weekly"), got.get("chips")
            return JournalSent(message_id=rest[end:], paper_ids=[int(i) for i in got["papers"]],
                               picked=picked if isinstance(picked, int) else None,
                               reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
                               weekly=weekly if isinstance(weekly, bool) else None,
                               chips=[[str(t) for t in c] if isinstance(c, list) else [] for c in chips]
                               if isinstance(chips, list) else [])
    return JournalSent(message_id=rest, paper_ids=None, picked=None)


def journal_revoke(deliveries: Sequence[Delivery]) -> list[str | None]:
    """The entry of each claimed row (None: never attempted, or revoked before), in
    order; each is now revoked unless it says sent (the sweep's read, rule 3)."""
    if not deliveries:
        return []
    keys = [journal_key(d) for d in deliveries]
    found = _client().eval(_REVOKE_SCRIPT, len(keys), *keys, REVOKED, JOURNAL_TTL_SECONDS, SENT_PREFIX)
    entries = [value.decode() if value else None for value in found]
    return [None if entry == REVOKED else entry for entry in entries]


def journal_forget(keys: Sequence[str]) -> None:
    """Drop the entries of settled rows (their keys, taken while the rows still had
    their claim time); they expire by themselves if Redis is away."""
    if not keys:
        return
    try:
        _client().delete(*keys)
    except redis.RedisError:
        pass
