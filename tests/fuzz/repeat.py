"""Run the fuzz suite (tests/fuzz) several times in a row, each run on a new random
seed, and stop at the first failure (`make fuzz RUNS=20`).

    python -m tests.fuzz.repeat --runs 20 [pytest args]
    python -m tests.fuzz.repeat --seed 1234567 [pytest args]   # replay one run

Each run is `make test`'s command (config/devrun.py: the same DATABASE_URL and
REDIS_URL) on tests/fuzz with the "fuzz-local" profile (tests/fuzz/strategies.py:
1,000 examples per endpoint, not derandomized) and `--hypothesis-seed`, so 20 runs
try 20 different sets of inputs, and a failing run is replayed exactly by its seed
(with a seed given, Hypothesis reads and writes no example database: the seed is
the replay).
A failure prints Hypothesis' falsifying example, then the seed and how to replay
it; the last line says how many runs passed."""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

FUZZ_PATH = "tests/fuzz"
PROFILE = "fuzz-local"


def run_once(*, seed: int, pytest_args: list[str], env: dict) -> int:
    command = [
        sys.executable, "-m", "config.devrun", "test", FUZZ_PATH, "-x", "-q",
        "-p", "no:cacheprovider", f"--hypothesis-seed={seed}", *pytest_args,
    ]
    return subprocess.call(command, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="runs in a row (default 1)")
    parser.add_argument("--seed", type=int, help="replay the run of this seed (once)")
    args, pytest_args = parser.parse_known_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    runs = 1 if args.seed is not None else args.runs
    env = {**os.environ, "FUZZ_PROFILE": os.environ.get("FUZZ_PROFILE") or PROFILE}
    seeds = random.SystemRandom()
    started = time.monotonic()
    for n in range(1, runs + 1):
        seed = args.seed if args.seed is not None else seeds.randrange(2**32)
        print(f"--- fuzz run {n} of {runs}: profile {env['FUZZ_PROFILE']}, seed {seed}", flush=True)
        run_started = time.monotonic()
        code = run_once(seed=seed, pytest_args=pytest_args, env=env)
        print(f"--- fuzz run {n} of {runs}: exit {code} in {time.monotonic() - run_started:.0f} s",
              flush=True)
        if code != 0:
            print(
                f"Run {n} failed (exit {code}) with seed {seed}; replay it with "
                f"`make fuzz SEED={seed}`.\n{n - 1} of {runs} runs passed "
                f"({time.monotonic() - started:.0f} s).",
                flush=True,
            )
            return code or 1
    print(f"{runs} of {runs} runs passed ({time.monotonic() - started:.0f} s).", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
