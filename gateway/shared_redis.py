"""One embedded redis-server shared by every Crocevia process of a data folder.

`crocevia serve`, `worker`, `demo`, `email`, `telegram poll` and `x poll` run without
`CROCEVIA_REDIS_URL` on a one-machine install. They must all talk to one Redis, or a
reply stored by the gateway would never reach the worker. The folder `DATA/redis` holds:

- `address`: the URL of the running server, written by whichever process started it;
- `start.lock`: taken (exclusively) while a process starts, adopts or stops the server;
- `users.lock`: held shared by every process that uses the server, for as long as it runs.

The first process starts redis-server in a session of its own (a Ctrl-C in its terminal
does not reach the server). Later processes find the address, check that it answers PING
(a record left by a crashed server is ignored) and use it. On exit each process drops
its shared hold; the one that can then take `users.lock` exclusively was the last user
and shuts the server down. A process killed with SIGKILL leaves the server running for
the next one to adopt. The kernel releases the locks of dead processes, so nothing is
ever counted wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from gateway.embedded_redis import EmbeddedRedis


def _answering(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _shutdown(url: str, timeout: float = 10.0) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    with contextlib.suppress(redis.RedisError):
        client.shutdown(nosave=True)
    client.close()
    deadline = time.monotonic() + timeout
    while _answering(url) and time.monotonic() < deadline:
        time.sleep(0.05)


@contextlib.contextmanager
def shared_redis(folder: Path) -> Iterator[str]:
    """The URL of the folder's redis-server (started if none answers), for as long as we run."""
    folder.mkdir(parents=True, exist_ok=True)
    address = folder / "address"
    started: EmbeddedRedis | None = None
    with (folder / "users.lock").open("a+") as users:
        with (folder / "start.lock").open("a+") as start:
            fcntl.flock(start, fcntl.LOCK_EX)
            url = address.read_text().strip() if address.exists() else ""
            if not url or not _answering(url):
                started = EmbeddedRedis(folder).start(detached=True)
                url = started.url
                address.write_text(url + "\n")
            fcntl.flock(users, fcntl.LOCK_SH)
        try:
            yield url
        finally:
            with (folder / "start.lock").open("a+") as start:
                fcntl.flock(start, fcntl.LOCK_EX)
                fcntl.flock(users, fcntl.LOCK_UN)
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another process still uses the server: it stays
                else:
                    _shutdown(url)
                    address.unlink(missing_ok=True)
                    fcntl.flock(users, fcntl.LOCK_UN)
            if started is not None:
                started.reap()
