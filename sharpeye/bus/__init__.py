"""The message bus between a node's processes: Redis (embedded on one node, external at scale)."""

from sharpeye.bus.connect import (
    RedisUnavailableError,
    connect,
    connect_sync,
    redact_url,
    resolve_redis_url,
)
from sharpeye.bus.embedded import EmbeddedRedis, EmbeddedRedisError, running_url
from sharpeye.bus.health import (
    HEALTH_CHANNEL,
    HEALTH_KEY,
    effective_state,
    publish_health,
    read_health,
    read_health_sync,
    remove_health,
)

__all__ = [
    "HEALTH_CHANNEL",
    "HEALTH_KEY",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "RedisUnavailableError",
    "connect",
    "connect_sync",
    "effective_state",
    "publish_health",
    "read_health",
    "read_health_sync",
    "redact_url",
    "remove_health",
    "resolve_redis_url",
    "running_url",
]
