"""The hot path's insert sentinels and rate-limit entries: unique, short, per process."""

from __future__ import annotations

import os

from inbox.unique_keys import unique_key


def test_keys_are_unique_and_fit_the_sentinel_column() -> None:
    keys = [unique_key() for _ in range(100_000)]
    assert len(set(keys)) == len(keys)
    assert max(len(k) for k in keys) <= 32  # insert_key is String(32)


def test_a_forked_child_draws_keys_of_its_own() -> None:
    read, write = os.pipe()
    parent_before = unique_key()
    pid = os.fork()
    if pid == 0:  # the child: send one key to the parent, then leave at once
        os.write(write, unique_key().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    # Same counter position, but not the same prefix: the two processes never collide.
    assert child[:16] != parent_before[:16]
    assert child != unique_key()
