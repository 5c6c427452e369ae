"""Date and time formats for English (settings.FORMAT_MODULE_PATH): Django's own,
with the time zone's abbreviation after every time, so a time in the admin (UTC,
the server's zone) is never read as someone's local time."""

DATETIME_FORMAT = "N j, Y, H:i T"
SHORTDATETIME_FORMAT = "m/d/Y H:i T"
TIME_FORMAT = "H:i T"
