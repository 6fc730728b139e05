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

import hashlib
import logging
import math
import os
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from gateway.redis_batches import batches_of
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


# KEYS[1]: the subject's sorted set of allowed uses. ARGV: window (ms), count, record
# (1 to record this use when allowed), member (unique). Returns 0 when allowed, else the
# milliseconds until the oldest recorded use leaves the window.
_SLIDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(tonumber(oldest[2]) + window - now, 1)
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
"""
_SLIDE_SHA = hashlib.sha1(_SLIDE.encode()).hexdigest()


async def hit(redis: Redis, limit: Limit, subject: str, *, count_it: bool = True) -> None:
    """Count one use of `limit` by `subject`; raise Limited when over it. With
    count_it=False only check that one more use would be allowed."""
    await hit_all(redis, [(limit, subject)], count_it=count_it)


async def hit_all(redis: Redis, uses: list[tuple[Limit, str]], *, count_it: bool = True) -> None:
    """Count several limits at once; raise Limited for the first one over. The windows
    are checked in one round trip (one-key scripts, so it also works on Redis Cluster,
    sent in the pipeline that carries every concurrent caller's: gateway/redis_batches.py);
    when one refuses, the uses counted after it are taken back, so the uses before it
    stay counted and a refused use is recorded nowhere."""
    members = [unique_key() for _ in uses]
    keys = [f"crocevia:rl:{limit.name}:{subject}" for limit, subject in uses]
    commands = [
        ("EVALSHA", _SLIDE_SHA, 1, key, limit.window_s * 1000, limit.count, int(count_it), member)
        for key, (limit, _subject), member in zip(keys, uses, members, strict=True)
    ]
    try:
        waits = await batches_of(redis).execute(commands)
        if any(isinstance(w, NoScriptError) for w in waits):  # a restarted (or another)
            await redis.script_load(_SLIDE)  # server: load it, once, and send them again
            waits = await batches_of(redis).execute(commands)
        failed = next((w for w in waits if isinstance(w, Exception)), None)
        if failed is not None:
            raise failed
    except RedisError as exc:
        log.warning("rate_limit_unavailable", extra={"error": str(exc)})
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
