"""CPU per public page, hit and miss: `python -m bench.page_cpu` (docs/benchmarks.md).

Calls the site's WSGI application in this process with production settings
(DEBUG=false, PostgreSQL, Redis; the database filled and the sample day's edition
published as `make loadtest` does) and times each request with `time.process_time`:
the CPU this process spent, which other load on the machine disturbs much less than
wall time. It leaves out what gunicorn adds per request (parsing, the socket) and
the CPU Redis and PostgreSQL spend in their own processes.

    hit   the page asked again with nothing changed: the median of --hits requests
    miss  the first request after an editor pins or unpins a paper of the sample day
          (which changes the home, day and edition pages): the median of --misses

Needs DATABASE_URL (PostgreSQL) and REDIS_URL, each a database of its own, as
`make loadtest` does.

    python -m bench.page_cpu [--hits 500] [--misses 20] [--profile home-hit]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

from bench.loadtest import SAMPLE_DAY, production_site

PAGES = {
    "home": "/",
    "day": f"/papers/{SAMPLE_DAY}/",
    "edition": f"/editions/{SAMPLE_DAY}/",
}
BROWSER_HEADERS = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br", "HTTP_ACCEPT": "text/html,*/*"}
HOST = "127.0.0.1:8765"  # the site's (SITE_URL): the page cache stores that host's pages


def environ_for(path: str) -> dict:
    """The WSGI environ gunicorn would pass for an anonymous browser's GET."""
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8765", "HTTP_HOST": HOST,
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        **BROWSER_HEADERS,
    }


def request(application, path: str) -> tuple[float, str, int]:
    """One request through the WSGI application: (CPU ms, status, body bytes)."""
    status = []
    started = time.process_time()
    result = application(environ_for(path), lambda s, headers, exc_info=None: status.append(s))
    try:
        size = sum(len(chunk) for chunk in result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return (time.process_time() - started) * 1000, status[0], size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=500, help="hits timed per page")
    parser.add_argument("--misses", type=int, default=20, help="misses timed per page")
    parser.add_argument("--skip-prepare", action="store_true",
                        help="the database is already filled and the static files collected "
                             "(an earlier run from this checkout)")
    parser.add_argument("--profile", choices=[f"{p}-{k}" for p in PAGES for k in ("hit", "miss")],
                        help="print a cProfile of these requests instead of the table")
    args = parser.parse_args()

    production_site("page_cpu", prepare=not args.skip_prepare, extra={"SITE_URL": f"http://{HOST}"})

    import django

    django.setup()
    from config.wsgi import application  # as gunicorn serves it
    from newsletter.curation import papers_flag_set
    from newsletter.models import Paper

    paper = Paper.objects.filter(trending_date=SAMPLE_DAY).order_by("-upvotes").last()
    pinned = [False]

    def editor_change() -> None:
        pinned[0] = not pinned[0]
        papers_flag_set(papers=[paper], pinned=pinned[0])

    for path in PAGES.values():  # every page rendered once, the process warm
        for _ in range(3):
            request(application, path)

    if args.profile:
        import cProfile
        import pstats

        name, kind = args.profile.rsplit("-", 1)
        path = PAGES[name]
        profile = cProfile.Profile(time.process_time)  # CPU, not wall time
        for _ in range(args.misses if kind == "miss" else args.hits):
            if kind == "miss":
                editor_change()
            profile.enable()
            request(application, path)
            profile.disable()
        if pinned[0]:
            editor_change()
        pstats.Stats(profile).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
        return 0

    rows = []
    for name, path in PAGES.items():
        hits = [request(application, path) for _ in range(args.hits)]
        misses = []
        for _ in range(args.misses):
            editor_change()
            misses.append(request(application, path))
        statuses = {s for _, s, _ in hits + misses}
        if statuses != {"200 OK"}:
            sys.exit(f"{path} answered {', '.join(sorted(statuses))}: nothing to measure.")
        rows.append((name, path, statistics.median(c for c, _, _ in hits),
                     statistics.median(c for c, _, _ in misses), hits[-1][2]))
    if pinned[0]:
        editor_change()

    print()
    print(f"CPU per request in-process (time.process_time), production settings, "
          f"gzip accepted; hits: median of {args.hits}, misses: median of {args.misses}")
    print("| page | hit CPU | miss CPU | gzipped bytes |")
    print("|---|---|---|---|")
    for name, path, hit, miss, size in rows:
        print(f"| {name} `{path}` | {hit:.2f} ms | {miss:.1f} ms | {size:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
