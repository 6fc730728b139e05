"""Rate limits: fixed windows counted in Redis, shared by every gateway process.

| what | limit |
|---|---|
| logins from one IP address | 20 per 5 minutes |
| failed logins for one email | 10 per 15 minutes |
| widget sessions from one IP address | 60 per minute |
| messages from one widget visitor | 20 per 10 seconds |
| messages from one IP address (all its visitors) | 120 per minute |

Each count can be changed with an environment variable (`CROCEVIA_LIMIT_LOGIN_IP`,
`CROCEVIA_LIMIT_LOGIN_EMAIL`, `CROCEVIA_LIMIT_WIDGET_SESSION_IP`,
`CROCEVIA_LIMIT_VISITOR_MESSAGES`, `CROCEVIA_LIMIT_IP_MESSAGES`). Over a limit, HTTP answers 429 with Retry-After and a socket answers an error frame
`rate_limited`. If Redis is unreachable the limits are not enforced (logged): a
limiter must not take the inbox down with it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("crocevia.limits")


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    count: int
    window_s: int

    @classmethod
    def of(cls, name: str, count: int, window_s: int) -> Limit:
        """Counts can be changed with CROCEVIA_LIMIT_<NAME> (e.g. CROCEVIA_LIMIT_LOGIN_IP)."""
        env = "CROCEVIA_LIMIT_" + name.upper().replace("-", "_")
        return cls(name, int(os.environ.get(env, count)), window_s)


LOGIN_PER_IP = Limit.of("login-ip", 20, 300)
FAILED_LOGIN_PER_EMAIL = Limit.of("login-email", 10, 900)
WIDGET_SESSIONS_PER_IP = Limit.of("widget-session-ip", 60, 60)
MESSAGES_PER_VISITOR = Limit.of("visitor-messages", 20, 10)
MESSAGES_PER_IP = Limit.of("ip-messages", 120, 60)


class Limited(Exception):
    def __init__(self, limit: Limit, retry_after: int):
        super().__init__(f"rate limit {limit.name}: {limit.count} per {limit.window_s} s")
        self.limit = limit
        self.retry_after = retry_after


async def hit(redis: Redis, limit: Limit, subject: str, *, count_it: bool = True) -> None:
    """Count one use of `limit` by `subject`; raise Limited when over it."""
    await hit_all(redis, [(limit, subject)], count_it=count_it)


async def hit_all(redis: Redis, uses: list[tuple[Limit, str]], *, count_it: bool = True) -> None:
    """Count several limits in one round trip; raise Limited for the first one over."""
    now = int(time.time())
    keys = [(limit, now // limit.window_s) for limit, _ in uses]
    names = [
        f"crocevia:rl:{lim.name}:{subj}:{w}" for (lim, w), (_, subj) in zip(keys, uses, strict=True)
    ]
    try:
        pipe = redis.pipeline(transaction=False)
        for (limit, _window), name in zip(keys, names, strict=True):
            if count_it:
                pipe.incr(name)
                pipe.expire(name, limit.window_s + 1)
            else:
                pipe.get(name)
        replies = await pipe.execute()
    except RedisError as exc:
        log.warning("rate_limit_unavailable", extra={"error": str(exc)})
        return
    counts = replies[::2] if count_it else replies
    for (limit, window), used in zip(keys, counts, strict=True):
        if int(used or 0) > limit.count:
            raise Limited(limit, max((window + 1) * limit.window_s - now, 1))
