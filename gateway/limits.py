"""Rate limits: sliding windows kept in Redis, shared by every gateway process.

| what | limit |
|---|---|
| logins from one IP address | 20 per 5 minutes |
| failed logins for one email | 10 per 15 minutes |
| widget sessions from one IP address | 60 per minute |
| messages from one widget visitor | 20 per 10 seconds |
| messages from one IP address (all its visitors) | 120 per minute |

Each count can be changed with an environment variable (`CROCEVIA_LIMIT_LOGIN_IP`,
`CROCEVIA_LIMIT_LOGIN_EMAIL`, `CROCEVIA_LIMIT_WIDGET_SESSION_IP`,
`CROCEVIA_LIMIT_VISITOR_MESSAGES`, `CROCEVIA_LIMIT_IP_MESSAGES`). Over a limit, HTTP
answers 429 with Retry-After and a socket answers an error frame `rate_limited`.

A window slides: each limit keeps the times of the uses it allowed (a sorted set per
subject, at most `count` entries, Redis's own clock), so "20 per 10 seconds" holds over
any 10 seconds. (Fixed windows let a burst straddling two of them through twice.) A
refused use is not recorded, so a client that stops when refused gets in again as soon
as its oldest use leaves the window; Retry-After says when. If Redis is unreachable the
limits are not enforced (logged): a limiter must not take the inbox down with it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.redis_batches import script_batches_of
from inbox.unique_keys import unique_key

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


# KEYS: the subjects' sorted sets of allowed uses, each checked alone. ARGV[i], for
# KEYS[i]: "window_ms count record member" (record: 1 to record this use when allowed;
# member: unique). Returns per key 0 when allowed, else the milliseconds until its oldest
# recorded use leaves the window. Concurrent messages' checks go in one call (one key
# per call on a Redis Cluster): gateway/redis_batches.py.
_SLIDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local waits = {}
for i, key in ipairs(KEYS) do
  local window, count, record, member = string.match(ARGV[i], '^(%d+) (%d+) (%d) (.+)$')
  window = tonumber(window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(count) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    waits[i] = math.max(tonumber(oldest[2]) + window - now, 1)
  else
    if record == '1' then
      redis.call('ZADD', key, now, member)
      redis.call('PEXPIRE', key, window)
    end
    waits[i] = 0
  end
end
return waits
"""


async def hit(redis: Redis, limit: Limit, subject: str, *, count_it: bool = True) -> None:
    """Count one use of `limit` by `subject`; raise Limited when over it. With
    count_it=False only check that one more use would be allowed."""
    await hit_all(redis, [(limit, subject)], count_it=count_it)


async def hit_all(
    redis: Redis,
    uses: list[tuple[Limit, str]],
    *,
    count_it: bool = True,
    within_s: float | None = None,
) -> None:
    """Count several limits at once; raise Limited for the first one over. The windows
    are checked in one round trip, in the script call that carries every concurrent
    caller's (gateway/redis_batches.py); when one refuses, the uses counted after it are
    taken back, so the uses before it stay counted and a refused use is recorded
    nowhere. With `within_s`, a Redis that has not answered by then counts as
    unreachable (a stalled server, not only a dead one)."""
    members = [unique_key() for _ in uses]
    keys = [f"crocevia:rl:{limit.name}:{subject}" for limit, subject in uses]
    args = [
        f"{limit.window_s * 1000} {limit.count} {int(count_it)} {member}"
        for (limit, _subject), member in zip(uses, members, strict=True)
    ]
    try:
        async with asyncio.timeout(within_s):
            waits = await script_batches_of(redis, _SLIDE).call(keys, args)
        failed = next((w for w in waits if isinstance(w, Exception)), None)
        if failed is not None:
            raise failed
    except (RedisError, TimeoutError) as exc:
        log.warning("rate_limit_unavailable", extra={"error": repr(exc)})
        return
    for n, wait_ms in enumerate(waits):
        if int(wait_ms) > 0:
            if count_it and n + 1 < len(uses):
                await _take_back(redis, keys[n + 1 :], members[n + 1 :])
            raise Limited(uses[n][0], max(math.ceil(int(wait_ms) / 1000), 1))


async def _take_back(redis: Redis, keys: list[str], members: list[str]) -> None:
    pipe = redis.pipeline(transaction=False)
    for key, member in zip(keys, members, strict=True):
        pipe.zrem(key, member)
    try:
        await pipe.execute()
    except RedisError as exc:
        log.warning("rate_limit_take_back_failed", extra={"error": str(exc)})
