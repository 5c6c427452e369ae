"""A paper's picture, served from this site instead of Hugging Face's CDN.

The API gives each paper a thumbnail on cdn-thumbnails.huggingface.co. Linked from
a digest, every reader's mail client asked that host for it when the email was
opened (Gmail's image proxy aside): Hugging Face saw who opened which digest, when
and from which address, and so did a visitor's browser on the public pages. Now
the digest and the pages link `/pictures/<paper>-<version>.<type>` on this site
(Paper.picture_url), and this site fetches the picture from the allowed host
(settings.THUMBNAIL_HOSTS, `thumbnail_url_allowed`) once, keeps it on disk
(settings.PICTURE_DIR) and serves it from there: the reader's address goes nowhere
else. The version is a digest of the source address, so the answer can be cached
for good (Cache-Control immutable) and a picture an editor changes is a new URL.

What is fetched is checked: at most PICTURE_MAX_BYTES, and a PNG, JPEG, GIF or WebP
by its first bytes (not by what the server's Content-Type claims). A picture that
cannot be had (the CDN away, a 404, something else than a picture, a PICTURE_DIR
that cannot take it) is a 404 here, cacheable for a few minutes only; nothing else
fails. picture_get, the one place that learns whether a picture can be had, writes it
on the paper (Paper.picture_missing_at: set when a fetch fails, cleared when one
succeeds), and a paper so marked shows no picture (Paper.picture_url): no <img> in a
digest (emails run no script), no frame on the pages with or without JavaScript, and
the admin says why. Until the server has learnt it, static newsletter/pictures.js takes
a broken picture's frame away in the browser.
So the server learns it before the first digest goes out, an import fetches its new
and changed papers' pictures in the background (pictures_fetch_later, the
papers_pictures_fetch task): an import does not wait on the CDN. The broker away at
that moment, the edition's first dispatch tries them (delivery.digests_dispatch, while
the edition is not frozen: a picture on disk costs a file open). A failure may be the
CDN away for a minute, so a paper marked missing is asked again, not hidden for good:
every 30 minutes by the beat task papers_pictures_missing_fetch while the
paper is of the last PICTURE_RETRY_DAYS days (pictures_missing_fetch), at every import
that lists it again (the next morning's refresh of the day before), and at its
/pictures/ address, which still fetches (after PICTURE_MISSING_SECONDS, as any failed
picture) though no page links it. The first fetch that succeeds shows it again
everywhere; an older paper's picture that never came is taken as gone.
The first readers of a digest open it at once: one request fetches a picture the
disk has not got, the others wait up to PICTURE_FETCH_WAIT_SECONDS for its copy.
The disk copies are a cache: any may be deleted at any time; copies not read for
PICTURE_KEEP_DAYS are deleted as new ones are written (at most once an hour)."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError
from redis import RedisError

from .models import Paper, picture_version, thumbnail_url_allowed
from .page_cache import pages_changed
from .selectors import PAPER_VISIBLE

logger = logging.getLogger(__name__)

PICTURE_MAX_BYTES = 3 * 1024 * 1024
PICTURE_TIMEOUT_SECONDS = (3.05, 10)
PICTURE_KEEP_DAYS = 30
# A picture that could not be had is not fetched again for this long (and its 404
# is cacheable as long: newsletter/views.py).
PICTURE_MISSING_SECONDS = 300
# A picture that could not be had is fetched again every 30 minutes (newsletter/
# schedules.py), for the papers of this many days (the weekly digest's): a failure may
# be the CDN away for a while. At most PICTURE_RETRY_BATCH a run, the longest untried
# first: each fetch that hangs takes up to 13 s (PICTURE_TIMEOUT_SECONDS), so a run
# stays within its task's time limit.
PICTURE_RETRY_DAYS = 7
PICTURE_RETRY_BATCH = 30
# How long a request waits for another's fetch of the same picture before fetching it
# itself (the fetch's connect and first read take at most 3 s and 10 s).
PICTURE_FETCH_WAIT_SECONDS = 5
_PRUNE_EVERY_SECONDS = 3600
# A picture's type by its first bytes (WebP's, in two parts, below).
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class PictureUnavailable(Exception):
    """The picture could not be fetched, or what came is not a picture."""


@dataclass(frozen=True)
class Picture:
    path: Path
    content_type: str


def picture_get(paper: Paper) -> Picture:
    """`paper`'s picture as a file on this machine: the copy on disk, else fetched
    from its source (or decoded, for a data: URL) and kept. PictureUnavailable when
    it has none or it cannot be had. Either is written on the paper when it changes
    what readers see (_missing_note)."""
    source = paper.thumbnail_url
    if not source or not thumbnail_url_allowed(source):
        raise PictureUnavailable(f"paper {paper.pk} has no picture from an allowed host")
    folder = Path(settings.PICTURE_DIR)
    path = folder / f"{picture_version(source)}"
    if (kept := _copy(path, source)) is not None:
        _missing_note(paper, missing=False)
        return kept
    missing = f"picture-missing:{picture_version(source)}"
    if _cache_get(missing):
        raise PictureUnavailable(f"{source}: could not be had a moment ago (asked again after "
                                 f"{PICTURE_MISSING_SECONDS} s)")
    # The first readers of a digest open it at the same moment: one request fetches,
    # the others wait for its copy (up to PICTURE_FETCH_WAIT_SECONDS) instead of each
    # asking the CDN.
    if not _cache_add(f"picture-fetching:{picture_version(source)}", PICTURE_FETCH_WAIT_SECONDS):
        deadline = time.monotonic() + PICTURE_FETCH_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if (kept := _copy(path, source)) is not None:
                _missing_note(paper, missing=False)
                return kept
            if _cache_get(missing):
                raise PictureUnavailable(f"{source}: could not be had just now")
    try:
        content = _source_read(source)
        content_type = _content_type(content[:12], source)
    except PictureUnavailable:
        # Not asked again for a while: a page of 70 cards whose pictures are away
        # (the CDN down, no network) is not 70 fetches for each visitor.
        _cache_set(missing)
        _missing_note(paper, missing=True)
        raise
    try:
        _keep(folder, path, content)
    except OSError as exc:
        # PICTURE_DIR full, read-only or not writable: the picture is one that could
        # not be had (a 404, asked again after a while). Each ask was a 500 and a new
        # fetch from the CDN, for every card of every page.
        logger.error("picture of paper %s not kept in %s: %s", paper.pk, folder, exc)
        _cache_set(missing)
        _missing_note(paper, missing=True)
        raise PictureUnavailable(f"{source}: could not be kept ({exc})") from exc
    _missing_note(paper, missing=False)
    return Picture(path=path, content_type=content_type)


def _missing_note(paper: Paper, *, missing: bool) -> None:
    """Write on `paper` that its picture could not be had just now (`missing`: the
    time of this try) or that it could (cleared). A picture served from the disk, as
    almost every one is, writes nothing; a change of what readers see refreshes the
    cached pages that show the paper."""
    if not missing and paper.picture_missing_at is None:
        return
    was_missing = paper.picture_missing_at is not None
    paper.picture_missing_at = timezone.now() if missing else None
    Paper.objects.filter(pk=paper.pk).update(picture_missing_at=paper.picture_missing_at)
    if missing != was_missing:
        pages_changed(dates=[paper.trending_date], papers=[paper.pk])


def pictures_fetch(*, paper_ids: list[int]) -> dict[str, int]:
    """Fetch (or find on disk) these papers' pictures, one after another: what the
    papers_pictures_fetch task runs after an import. Each outcome is written on its
    paper by picture_get. Returns how many were had and how many were not."""
    outcome = {"had": 0, "missing": 0}
    for paper in Paper.objects.filter(pk__in=paper_ids).only("pk", "thumbnail_url", "trending_date",
                                                             "picture_missing_at"):
        if not paper.picture_served_url:
            continue
        try:
            picture_get(paper)
        except PictureUnavailable as exc:
            logger.info("picture of paper %s not had: %s", paper.pk, exc)
            outcome["missing"] += 1
        else:
            outcome["had"] += 1
    return outcome


def pictures_missing_fetch() -> dict[str, int]:
    """Fetch again the pictures that could not be had, of the visible papers of the
    last PICTURE_RETRY_DAYS days not tried for PICTURE_MISSING_SECONDS: what the beat
    task papers_pictures_missing_fetch runs (every 30 minutes by default)."""
    now = timezone.now()
    ids = list(Paper.objects.filter(
        PAPER_VISIBLE, trending_date__gte=now.date() - dt.timedelta(days=PICTURE_RETRY_DAYS),
        picture_missing_at__lt=now - dt.timedelta(seconds=PICTURE_MISSING_SECONDS),
    ).order_by("picture_missing_at").values_list("pk", flat=True)[:PICTURE_RETRY_BATCH])
    return pictures_fetch(paper_ids=ids)


def pictures_fetch_later(*, paper_ids: list[int]) -> None:
    """Queue the fetch of these papers' pictures once the transaction commits (the
    papers are then there for the worker). A broker that cannot take it costs
    nothing but the early fetch: the first reader to ask fetches the picture."""
    from .tasks import papers_pictures_fetch

    ids = sorted(set(paper_ids))
    if not ids:
        return

    def queue() -> None:
        try:
            papers_pictures_fetch.delay(ids)
        except KombuOperationalError as exc:
            logger.warning("pictures of %d papers not queued for fetching: %s", len(ids), exc)

    transaction.on_commit(queue)


def _copy(path: Path, source: str) -> Picture | None:
    """The copy on disk, None when there is none (or PICTURE_DIR is unusable: then
    nothing is kept either)."""
    try:
        with path.open("rb") as copy:
            head = copy.read(12)
    except OSError:
        return None
    with contextlib.suppress(OSError):  # a read-only disk still serves its copies
        os.utime(path)  # read now: kept PICTURE_KEEP_DAYS more
    return Picture(path=path, content_type=_content_type(head, source))


def _keep(folder: Path, path: Path, content: bytes) -> None:
    """Write `content` to `path`, whole or not at all: a second process fetching the
    same picture at the same moment writes the same bytes, and a reader never sees
    half a file. A write that fails leaves no part behind."""
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, part = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with open(descriptor, "wb") as file:
            file.write(content)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    _prune(folder)


def _cache_get(key: str) -> bool:
    try:
        return bool(cache.get(key))
    except RedisError:  # Redis away: fetch, as without the note
        return False


def _cache_add(key: str, seconds: int) -> bool:
    """Claim `key` for `seconds`: False when someone holds it (Redis away: True, as
    without the claim)."""
    try:
        return cache.add(key, 1, timeout=seconds)
    except RedisError:
        return True


def _cache_set(key: str) -> None:
    try:
        cache.set(key, 1, timeout=PICTURE_MISSING_SECONDS)
    except RedisError:
        pass


def _content_type(head: bytes, source: str) -> str:
    for signature, content_type in _SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    raise PictureUnavailable(f"not a PNG, JPEG, GIF or WebP picture: {source[:100]!r}")


def _source_read(source: str) -> bytes:
    if source.startswith("data:image/"):
        try:
            return base64.b64decode(source.split(",", 1)[1], validate=True)
        except (IndexError, ValueError) as exc:
            raise PictureUnavailable("a data: picture that is not base64") from exc
    try:
        with requests.get(source, timeout=PICTURE_TIMEOUT_SECONDS, stream=True,
                          headers={"User-Agent": "DailyPapersDigest/1 (picture cache)"},
                          allow_redirects=False) as response:
            if response.status_code != 200:
                raise PictureUnavailable(f"{source}: HTTP {response.status_code}")
            content = b""
            for chunk in response.iter_content(64 * 1024):
                content += chunk
                if len(content) > PICTURE_MAX_BYTES:
                    raise PictureUnavailable(f"{source}: over {PICTURE_MAX_BYTES} bytes")
            return content
    except requests.RequestException as exc:
        raise PictureUnavailable(f"{source}: {exc}") from exc


def _prune(folder: Path) -> None:
    """Delete the copies not read for PICTURE_KEEP_DAYS, at most once an hour."""
    marker = folder / ".pruned"
    now = time.time()
    try:
        if now - marker.stat().st_mtime < _PRUNE_EVERY_SECONDS:
            return
    except FileNotFoundError:
        pass
    marker.touch()
    oldest = now - PICTURE_KEEP_DAYS * 86400
    for entry in os.scandir(folder):
        try:
            if entry.is_file() and entry.stat().st_mtime < oldest:
                os.unlink(entry.path)
        except FileNotFoundError:  # another process pruned it first
            continue
