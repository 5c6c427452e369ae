"""The dependency locks (config/requirements.lock for the image, requirements-dev.lock
for make install and CI): what CI tests is what production runs. pyproject.toml gave
lower bounds only, so an image rebuilt later, or a rollback's, installed whatever
was newest that day (an operator's upgrade walkthrough)."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BASE = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((BASE / "pyproject.toml").read_text())["project"]


def _pins(name: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    pins = {}
    for block in re.split(r"\n(?=\S)", (BASE / "config" / name).read_text()):
        if match := re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block):
            pins[canonicalize_name(match.group(1))] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_every_dependency_is_pinned_with_hashes_in_a_version_pyproject_allows():
    """A dependency added to pyproject.toml without `make lock` fails here, not at
    the first import on a server."""
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    for lock, requirements in ((runtime, PYPROJECT["dependencies"]),
                               (dev, PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"])):
        for line in requirements:
            wanted = Requirement(line)
            version, _ = lock[canonicalize_name(wanted.name)]
            assert wanted.specifier.contains(version, prereleases=True), (wanted, version)
        assert all(hashes for _, hashes in lock.values())
    # The image runs exactly the versions CI tested.
    assert {name: pin for name, pin in dev.items() if name in runtime} == runtime


def test_the_image_and_make_install_install_from_the_locks_with_their_hashes():
    compose = (BASE / "docker-compose.yml").read_text()
    assert "RUN pip install --no-cache-dir --require-hashes -r config/requirements.lock" in compose
    assert "RUN pip install --no-cache-dir --no-deps . &&" in compose
    makefile = (BASE / "Makefile").read_text()
    assert "pip install --quiet --require-hashes -r config/requirements-dev.lock" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
