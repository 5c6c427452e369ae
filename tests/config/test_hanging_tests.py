"""A test that hangs (a Celery worker, the broker or a browser waited on for ever)
fails with its stack after the suite's timeout, and the tests after it still run:
before, one hang held `make test` and CI until something outside killed them, with
no word of which test it was. The suite's own settings (pyproject.toml), with the
timeout shortened to a second so this takes a few."""

import subprocess
import sys
import tomllib
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]


def test_a_hanging_test_fails_with_its_stack_and_the_suite_runs_on(tmp_path):
    ini = tomllib.loads((BASE / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(ini["timeout"]) <= 600  # minutes, not the CI job's hours
    (tmp_path / "test_hang.py").write_text(
        "import threading\n\n"
        "def test_waits_for_a_worker_that_never_answers():\n"
        "    threading.Event().wait()\n\n"
        "def test_after_it():\n"
        "    assert True\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(BASE / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:django", "-p", "no:cacheprovider", "-o", "timeout=1", "-o", "addopts=", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "Timeout (0:00:01)!" in out or "Failed: Timeout" in out, out
    assert "test_waits_for_a_worker_that_never_answers" in out and "threading.Event().wait()" in out
    assert "1 failed, 1 passed" in out
