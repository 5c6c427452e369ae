"""manage.py build_sample_fixture --page PATH --out PATH [--date YYYY-MM-DD]

Regenerates newsletter/fixtures/daily_papers_2025-11-24.json from a Daily Papers
page saved as text (tests/data/sample/daily-papers-page.txt, a copy of
../shared/seed/daily-papers-page.txt), in the API's JSON shape
so newsletter/ingest.py loads it like a response. tests/newsletter/
test_sample_fixture.py re-parses the page and compares it with the shipped file.

The page, after a header that ends with the page date ("Nov 24"), lists papers as
non-blank lines:

    Title
    Abstract (one line)
      • 9 authors          or   nvidia NVIDIA   (organisation: slug, display name)
    ·
    Mar 14 [upvotes]       or   Nov 1, 2022 [upvotes]

The last three lines are missing on some entries. The page gives no arXiv ids,
author names, comment counts or links, and none are made up here.
"""

import datetime as dt
import json
import re
from pathlib import Path

from django.core.management import BaseCommand, CommandError

SAMPLE_DATE = dt.date(2025, 11, 24)

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTH = "|".join(_MONTHS)
_PAGE_DATE = re.compile(rf"^({_MONTH}) (\d{{1,2}})$")
# "Mar 14", "Mar 14 3", "Nov 1, 2022", "Nov 29, 2024 2": the trailing number is upvotes.
_PUBLISHED = re.compile(rf"^({_MONTH}) (\d{{1,2}})(?:, (\d{{4}}))?(?: (\d+))?$")
_AUTHOR_COUNT = re.compile(r"^•\s*(\d+) authors?$")
_SEPARATOR = "·"


class PageFormatError(ValueError):
    pass


def _iso_midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00.000Z"


def _published_parse(line: str, *, page_date: dt.date, line_number: int) -> tuple[dt.date, int | None]:
    match = _PUBLISHED.match(line)
    if not match:
        raise PageFormatError(f"line {line_number}: expected a date like 'Mar 14' or 'Nov 1, 2022', got {line!r}")
    month, day, year, upvotes = match.groups()
    month_number = _MONTHS.index(month) + 1
    if year:
        published = dt.date(int(year), month_number, int(day))
    else:
        # The page leaves out the year of dates in its own year. A yearless date
        # after the page date cannot be in the future: it is last year's.
        published = dt.date(page_date.year, month_number, int(day))
        if published > page_date:
            published = published.replace(year=page_date.year - 1)
    return published, int(upvotes) if upvotes else None


def daily_papers_page_parse(*, text: str, date: dt.date) -> list[dict]:
    """The papers of a Daily Papers page saved as text, as API items."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line]

    start = next((i for i, (_, line) in enumerate(lines) if _PAGE_DATE.match(line)), None)
    if start is None:
        raise PageFormatError("no page date line (like 'Nov 24') before the papers")
    number, line = lines[start]
    expected = f"{_MONTHS[date.month - 1]} {date.day}"
    if line != expected:
        raise PageFormatError(f"line {number}: the page is dated {line!r}, not {expected!r} ({date})")

    on_daily = _iso_midnight(date)
    items = []
    i = start + 1
    while i < len(lines):
        if i + 1 >= len(lines):
            raise PageFormatError(f"line {lines[i][0]}: a title without an abstract: {lines[i][1]!r}")
        (_, title), (_, abstract) = lines[i], lines[i + 1]
        i += 2
        paper: dict = {"title": title, "summary": abstract, "authors": []}
        item: dict = {"paper": paper, "title": title, "publishedAt": on_daily}
        # The meta block is the line before a "·", the "·", then the date line.
        if i + 1 < len(lines) and lines[i + 1][1] == _SEPARATOR:
            if i + 2 >= len(lines):
                raise PageFormatError(f"line {lines[i + 1][0]}: the page ends before the date line")
            (meta_number, meta), (date_number, published_line) = lines[i], lines[i + 2]
            i += 3
            count = _AUTHOR_COUNT.match(meta)
            if count:
                paper["numAuthors"] = int(count.group(1))
            else:
                slug, _, name = meta.partition(" ")
                if not name or not re.fullmatch(r"[\w.-]+", slug):
                    raise PageFormatError(
                        f"line {meta_number}: expected '• N authors' or 'org-slug Org Name', got {meta!r}"
                    )
                item["organization"] = {"name": slug, "fullname": name.strip()}
            published, upvotes = _published_parse(
                published_line, page_date=date, line_number=date_number
            )
            paper["publishedAt"] = _iso_midnight(published)
            if upvotes is not None:
                paper["upvotes"] = upvotes
        paper["submittedOnDailyAt"] = on_daily
        items.append(item)
    return items


class Command(BaseCommand):
    help = "Convert a Daily Papers page saved as text into the sample fixture (API JSON shape)."

    def add_arguments(self, parser):
        parser.add_argument("--page", required=True, help="The page as text.")
        parser.add_argument("--out", required=True, help="Where to write the JSON fixture.")
        parser.add_argument(
            "--date",
            default=SAMPLE_DATE.isoformat(),
            help="The page's date, YYYY-MM-DD (the page shows it without its year).",
        )

    def handle(self, *args, page: str, out: str, date: str, **options):
        try:
            day = dt.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD, got {date!r}") from exc
        try:
            items = daily_papers_page_parse(text=Path(page).read_text(encoding="utf-8"), date=day)
        except OSError as exc:
            raise CommandError(f"{page}: cannot read: {exc.strerror or exc}") from exc
        except PageFormatError as exc:
            raise CommandError(f"{page}: {exc}") from exc
        Path(out).write_text(fixture_dumps(items), encoding="utf-8")
        self.stdout.write(f"Wrote {len(items)} papers of {day.isoformat()} to {out}")


def fixture_dumps(items: list[dict]) -> str:
    """The fixture file's exact text, so a regenerated file diffs cleanly."""
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
