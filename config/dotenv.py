"""The development `.env`: the file `make run` writes (DEBUG=true, the port it
serves on) and the settings read, so `python manage.py ...` in another shell works
with no variable to export. Variables set in the real environment always win.

Also the development SECRET_KEY: random, made on first use, kept under var/."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

HEADER = (
    "# Local development settings, written by `make run` and read by config/settings.py.\n"
    "# Variables set in the environment win over these. Every setting is described in\n"
    "# .env.example; docker compose's containers set their own (DEBUG=false).\n"
)


def dotenv_read(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped, one pair of quotes removed."""
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key, value = key.strip().removeprefix("export ").strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def dotenv_load(path: Path) -> None:
    """Put the file's variables into os.environ, unless the environment has them."""
    for key, value in dotenv_read(path).items():
        os.environ.setdefault(key, value)


def dotenv_set(path: Path, values: dict[str, str]) -> None:
    """Set these keys in the file (created if missing), keeping every other line."""
    lines = path.read_text().splitlines() if path.exists() else HEADER.splitlines()
    pending = dict(values)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in pending:
            out.append(f"{key}={pending.pop(key)}")
        else:
            out.append(line)
    out.extend(f"{key}={value}" for key, value in pending.items())
    path.write_text("\n".join(out) + "\n")


def development_secret_key(var_dir: Path) -> str:
    """The key of a development install: made once, random, in var/secret-key (mode
    600), the same for web, worker and beat and from one run to the next."""
    path = var_dir / "secret-key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
