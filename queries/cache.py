"""Cache backend selection.

For now only the probe that ``/healthz`` reports: Redis when ``CITYOPS_REDIS_URL`` is set and
answers, otherwise the in-process cache. The cache itself comes later in this module.
"""
from __future__ import annotations

from dataclasses import dataclass

# A health check must answer quickly even when Redis is a black hole.
PROBE_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class CacheProbe:
    backend: str  # "redis" or "memory"
    error: str | None = None  # why Redis was configured but is not used


def cache_backend(settings) -> CacheProbe:
    """Which cache the app would use right now, pinging Redis when one is configured."""
    if not settings.redis_url:
        return CacheProbe("memory")
    import redis  # only needed when configured

    client = None
    try:
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=PROBE_TIMEOUT_SECONDS, socket_timeout=PROBE_TIMEOUT_SECONDS
        )
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "fall back to memory"
        return CacheProbe("memory", f"{type(exc).__name__}: {exc}")
    finally:
        if client is not None:
            client.close()
    return CacheProbe("redis")
