"""The house style of dates and times (settings.FORMAT_MODULE_PATH): the one place
that says how a date reads, on the pages, in the emails, in the admin and on the
dashboard's charts. Templates name these formats, never a pattern of their own:
`{{ day|date }}` (long), `{{ day|date:"SHORT_DATE_FORMAT" }}`,
`{{ day|date:"MONTH_DAY_FORMAT" }}`, `{{ at|date:"SHORT_DATETIME_FORMAT" }}`; Python
calls `django.utils.formats.date_format(day, "SHORT_DATE_FORMAT")`.
tests/config/test_formats.py renders the main surfaces and refuses a template's own pattern.

Machine formats stay as they are: ISO dates in URLs, `datetime` attributes
(`|date:"Y-m-d"`, `|date:"c"`), CSV and JSON. A weekday's name alone
(`|date:"l"`: "Friday's list") is a name, not a date.

Every time is written with its zone's abbreviation, so a time in the admin (UTC,
the server's zone) is never read as someone's local time."""

# Monday 24 November 2025: headings, emails, page titles.
DATE_FORMAT = "l j F Y"
# 24 Nov 2025: columns and lines where space is tight.
SHORT_DATE_FORMAT = "j M Y"
# Mon 24 Nov: where the year goes without saying (a subject line, the day before and
# after, a chart's axis). A day link of another year than its page's is written short
# instead ("29 Nov 2026" from 24 November 2025: home.html, edition_detail.html).
MONTH_DAY_FORMAT = "D j M"
YEAR_MONTH_FORMAT = "F Y"
# 24 Nov 2025, 07:05 UTC
DATETIME_FORMAT = "j M Y, H:i T"
# 24 Nov, 07:05 UTC: a send's time in a list; with its year (DATETIME_FORMAT) when
# that is not its edition's (newsletter/editions.py, edition_send_time).
SHORT_DATETIME_FORMAT = "j M, H:i T"
TIME_FORMAT = "H:i T"
