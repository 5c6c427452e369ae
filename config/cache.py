"""Django's Redis cache backend, with one redis-py client per server instead of one
per cache call.

Django's `RedisCacheClient.get_client` makes a new `redis.Redis` for every get, set
or incr, and redis-py 8 fills a dict of some 170 response callbacks in each: about
a quarter of the CPU of serving a stored public page (bench/page_cpu.py,
docs/benchmarks.md). A `redis.Redis` is safe to share between threads (each command
takes a connection from the pool), so each pool gets one, made on first use."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ClientPerPool(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)  # kept for the process: its id is stable
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _ClientPerPool
