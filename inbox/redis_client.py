"""The one place a Redis client is made from `CROCEVIA_REDIS_URL`.

`redis://…` (or `rediss://…`) is one server; `redis+cluster://host:port` (or
`rediss+cluster://…`) is a Redis Cluster reached through any of its nodes, the others
found from it. Nothing Crocevia does spans two keys in one command or script (the
streams, the rate-limit windows, presence and the pub/sub channel are each one key; the
pipelines are not transactions), so no key needs a hash tag and the cluster client
routes each command to the node that owns its key.

The cluster client offers the same commands under the same names, so the code is typed
against `Redis` and the tests run the scale-out test on both (tests/faults).
"""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def open_redis(url: str, **options: Any) -> Redis:
    """A client for `url`: one server, or a cluster by its `+cluster` scheme."""
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        cluster = RedisCluster.from_url(f"{CLUSTER_SCHEMES[scheme]}://{rest}", **options)
        return cast(Redis, cluster)
    return Redis.from_url(url, **options)
