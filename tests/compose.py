"""docker-compose.yml as the tests read it: the production configuration."""

import re
from pathlib import Path

COMPOSE = (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()


def compose_app_setting(name: str) -> str:
    """A quoted value of the app's environment (x-app's `environment:`)."""
    match = re.search(rf'^    {name}: "([^"]*)"$', COMPOSE, re.MULTILINE)
    assert match, f"docker-compose.yml sets no {name}"
    return match.group(1)
