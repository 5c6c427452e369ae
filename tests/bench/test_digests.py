"""`make bench` (`python -m bench.digests`) end to end at N = 20: it builds its own
database, sends through the real path in child processes, prints the table, writes
the report and drops the database. No timing is asserted: the figures are for
docs/benchmarks.md, not for tests."""

import io
import json
import os
import re

import dj_database_url
import pytest
from django.conf import settings

from bench import digests


def _own_database_url() -> str | None:
    """On PostgreSQL a bench database of this test's own (another run may be using
    bench_digests); on SQLite the command's default, a temporary file."""
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        return None
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/bench_digests_test_{os.getpid()}"


def _pg_database_exists(url: str) -> bool:
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(host=config["HOST"], port=config["PORT"], user=config["USER"],
                         dbname="postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone() is not None


def test_bench_digests_prints_the_table_and_cleans_up(tmp_path):
    url = _own_database_url()
    out = io.StringIO()
    args = ["--subscribers", "20", "--papers", "80", "--skip-celery", "--skip-django-newsletter",
            "--out", str(tmp_path)]
    if url:
        args += ["--database", url]
    assert digests.main(args, stdout=out) == 0
    printed = out.getvalue()

    assert "Benchmark database:" in printed and "Benchmark database dropped:" in printed
    assert "| N | sent | digests/s | ms/digest p50 | p95 |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| 20 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    sent = int(cells[1])
    assert 15 <= sent <= 20  # a reader may skip an empty day or be suppressed
    assert cells[6] and cells[9]  # SQL per batch, render floor
    assert "One day of 80 papers loaded." in printed

    results = json.loads((tmp_path / "results.json").read_text())
    path = results["sizes"]["20"]["path"]
    assert path["sent"] == sent and path["queries_per_batch_min"] == path["queries_per_batch_max"]
    assert path["not_sent"] == 0
    # Counted, not timed: the CPU and context switches per digest, this process's and
    # the Redis server's, printed and kept.
    assert "Counted per digest" in printed and "context switches" in printed
    assert 0 < path["user_seconds_per_digest"] < 1 and path["system_seconds_per_digest"] >= 0
    assert path["voluntary_switches_per_digest"] >= 0 and path["redis_seconds_per_digest"] >= 0
    written = (tmp_path / "results.md").read_text().splitlines()
    assert sum(line.startswith("| 20 |") for line in written) == 1  # one row per size
    try:
        import matplotlib  # noqa: F401 - the plot needs the `bench` extra
    except ImportError:
        assert "no plot" in printed
    else:
        assert (tmp_path / "bench.png").read_bytes().startswith(b"\x89PNG")
    if url:
        assert not _pg_database_exists(url)


def test_bench_digests_refuses_a_bad_size(capsys):
    with pytest.raises(SystemExit) as exited:
        digests.main(["--subscribers", "ten"], stdout=io.StringIO())
    assert exited.value.code == 2
    assert "--subscribers: takes numbers separated by commas, got 'ten'" in capsys.readouterr().err


def test_make_bench_on_a_bare_machine_starts_a_redis_of_its_own_and_stops_it(tmp_path):
    """No DATABASE_URL, no REDIS_URL: `make bench` measures on a temporary SQLite file
    and a real Redis it starts (as `make run` and `make test` do), then stops it.
    Until 4 December the first send step stopped on a Redis that was not there."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CI", "DJANGO_SETTINGS_MODULE"}}
    env |= {"DEBUG": "true", "EMBEDDED_REDIS_BENCH_PORT": str(port), "VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.digests", "--subscribers", "20", "--skip-celery",
         "--skip-django-newsletter", "--out", str(tmp_path / "out")],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Redis: embedded server on 127.0.0.1:{port}" in result.stdout
    row = re.search(r"^\| 20 \| (\d+) \|", result.stdout, re.MULTILINE)
    assert row and int(row.group(1)) > 15  # the table's row: digests sent (a few readers skip empty days)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # stopped
