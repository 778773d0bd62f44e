"""System checks for deployments (``manage.py check --deploy``)."""

from __future__ import annotations

from scheduling import checks

LOCAL = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit"}
REDIS = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://r:6379/1"}


def test_rate_limits_counted_per_process_are_a_deploy_warning(settings) -> None:
    # As on RabbitMQ (or the filesystem broker) without RATE_LIMIT_REDIS_URL.
    settings.CACHES = {**settings.CACHES, "ratelimit": LOCAL}

    [warning] = checks.rate_limits_are_shared()

    assert warning.id == "scheduling.W002"
    assert "RATE_LIMIT_REDIS_URL" in warning.hint


def test_rate_limits_counted_in_redis_are_fine(settings) -> None:
    settings.CACHES = {**settings.CACHES, "ratelimit": REDIS}

    assert checks.rate_limits_are_shared() == []
