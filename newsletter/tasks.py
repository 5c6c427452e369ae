"""Celery entry points. Thin: they take ids and ISO dates, call one function, and
own retries and time limits (STYLE.md §3)."""

import datetime as dt

from celery import shared_task
from django.utils import timezone


@shared_task(
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=60,
    retry_kwargs={"max_retries": 5},
)
def papers_fetch_today(date: str | None = None) -> int:
    """Fetch a Daily Papers date (default: today, UTC) and upsert it."""
    from .ingest import papers_fetch_and_import

    day = dt.date.fromisoformat(date) if date else timezone.now().date()
    return papers_fetch_and_import(date=day).total
