from django.core.cache import cache


def test_every_cache_call_of_a_process_goes_through_one_redis_client():
    """Django's backend made a `redis.Redis` per get, set or incr: a quarter of the
    CPU of serving a stored page (docs/benchmarks.md). Reads and writes share the
    one server's pool, so they share its client, made once."""
    cache.set("one-client", 1)
    client = cache._cache.get_client(write=True)

    assert cache.get("one-client") == 1
    assert cache._cache.get_client() is client
    assert cache._cache.get_client(write=True) is client
