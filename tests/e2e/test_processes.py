"""The `crocevia` processes as an operator runs them: no CROCEVIA_REDIS_URL, one data
folder, stopped with SIGTERM like Docker and systemd do.

Each test has its own data folder, SQLite file and embedded redis-server, apart from the
session's services.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from crocevia_clients import Clients

from gateway.embedded_redis import free_port

pytestmark = pytest.mark.timeout(90)


class Install:
    """A one-machine install in a folder of its own."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CROCEVIA_")}
        self.env |= {"CROCEVIA_DATA_DIR": str(folder), "CROCEVIA_LOG_LEVEL": "INFO",
                     "CROCEVIA_SECRET_KEY": "test-secret-key-for-processes-0123456789"}  # fmt: skip

    def run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "gateway.cli", *args], env=self.env,
                              capture_output=True, timeout=60, check=True)  # fmt: skip
        return done.stdout.decode()

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{args[0]}-{len(self.procs)}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", *args], env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.folder / f"{proc.args[3]}-{self.procs.index(proc)}.log").read_text()  # type: ignore[index]

    def wait_ready(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            assert proc.poll() is None, self.output(proc)
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not ready:\n{self.output(proc)}")

    def redis_url_in(self, proc: subprocess.Popen[bytes]) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = re.search(r"embedded redis-server on (\S+)", self.output(proc))
            if found:
                return found.group(1)
            time.sleep(0.05)
        raise AssertionError(self.output(proc))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    made = Install(tmp_path)
    yield made
    made.stop_all()
    for pid in redis_servers_of(tmp_path):  # never leave a server behind, even on failure
        os.kill(pid, signal.SIGKILL)


def redis_servers_of(folder: Path) -> list[int]:
    """The pids of redis-server processes working in `folder` (their --dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if (
            name.startswith("redis-server")
            and cwd.startswith(str(folder))
            and alive(int(entry.name))
        ):
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().split(")")[-1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def wait_gone(pids: list[int], timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


async def test_serve_and_worker_share_one_embedded_redis_and_replies_arrive(
    install: Install,
) -> None:
    logins = install.run("seed-demo")
    token = re.search(r"website token: (\S+)", logins).group(1)  # type: ignore[union-attr]
    admin_password = re.search(r"admin@crocevia.local  password: (\S+)", logins).group(1)  # type: ignore[union-attr]
    port = free_port()
    gateway = install.spawn("serve", "--port", str(port))
    install.wait_ready(port, gateway)
    worker = install.spawn("worker")
    assert install.redis_url_in(worker) == install.redis_url_in(gateway)
    assert len(redis_servers_of(install.folder)) == 1

    clients = Clients(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    try:
        agent = await clients.agent("admin@crocevia.local", admin_password)
        await agent.connect()
        visitor = await clients.visitor(token, name="Giulia", email="giulia@example.it")
        await visitor.connect()
        ack = await visitor.say("Buongiorno, dov'è il mio ordine?")
        created = await agent.wait_for(
            lambda f: (
                f.get("event") == "message.created"
                and f["data"]["message"]["id"] == ack["message"]["id"]
            )
        )
        conversation_id = created["data"]["conversation"]["id"]
        reply = await agent.reply(conversation_id, "Arriva domani, grazie per l'attesa")
        assert reply["type"] == "ack"
        # The worker marks it sent, and the visitor receives it, through the one Redis.
        await agent.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == reply["message"]["id"]
                and f["data"]["message"]["status"] == "sent"
            )
        )
        seen = await visitor.wait_for(
            lambda f: (
                f.get("event") == "message.updated"
                and f["data"]["message"]["id"] == reply["message"]["id"]
            )
        )
        assert seen["data"]["message"]["text"] == "Arriva domani, grazie per l'attesa"
    finally:
        await clients.close_all()

    # The gateway stops first: the worker still uses the server, so it stays...
    gateway.send_signal(signal.SIGTERM)
    assert gateway.wait(20) == 0
    assert len(redis_servers_of(install.folder)) == 1
    # ...and the last user to leave shuts it down.
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert wait_gone(redis_servers_of(install.folder)) == []
    for proc in (gateway, worker):
        assert "Traceback" not in install.output(proc), install.output(proc)


def test_a_stale_address_from_a_killed_server_is_not_used(install: Install) -> None:
    install.run("migrate")
    port = free_port()
    first = install.spawn("serve", "--port", str(port))
    install.wait_ready(port, first)
    first_url = install.redis_url_in(first)
    first.kill()
    first.wait()
    for pid in redis_servers_of(install.folder):
        os.kill(pid, signal.SIGKILL)
    wait_gone(redis_servers_of(install.folder))
    assert (install.folder / "redis" / "address").read_text().strip() == first_url

    second = install.spawn("serve", "--port", str(port))
    install.wait_ready(port, second)
    assert install.redis_url_in(second) != first_url
    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0


@pytest.mark.parametrize("command", ["serve", "worker", "demo"])
def test_sigterm_stops_everything_without_a_traceback(install: Install, command: str) -> None:
    install.run("migrate")
    port = free_port()
    args = {"serve": ["--port", str(port)], "worker": [], "demo": ["--port", str(port)]}[command]
    proc = install.spawn(command, *args)
    if command == "worker":
        install.redis_url_in(proc)
        time.sleep(1.5)  # into its loop
    else:
        install.wait_ready(port, proc)
    family = [proc.pid, *children_of(proc.pid)]
    for child in list(family[1:]):
        family += children_of(child)
    servers = redis_servers_of(install.folder)
    assert len(servers) == 1

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, install.output(proc)
    assert wait_gone([*family, *servers]) == []
    assert "Traceback" not in install.output(proc), install.output(proc)


def failed_logins(port: int, forwarded_for: list[str]) -> list[int]:
    codes = []
    for ip in forwarded_for:
        r = httpx.post(f"http://127.0.0.1:{port}/api/auth/login",
                       json={"email": "nobody@crocevia.local", "password": "wrong"},
                       headers={"X-Forwarded-For": ip}, timeout=10)  # fmt: skip
        codes.append(r.status_code)
    return codes


@pytest.mark.parametrize("trusted", ["127.0.0.1", ""])
def test_per_ip_limits_see_the_client_behind_a_trusted_proxy_only(
    install: Install, trusted: str
) -> None:
    install.env |= {"CROCEVIA_TRUSTED_PROXIES": trusted, "CROCEVIA_LIMIT_LOGIN_IP": "3",
                    "CROCEVIA_LIMIT_LOGIN_EMAIL": "1000"}  # fmt: skip
    install.run("migrate")
    port = free_port()
    gateway = install.spawn("serve", "--port", str(port))
    install.wait_ready(port, gateway)
    attacker = failed_logins(port, ["203.0.113.7"] * 4)
    assert attacker == [401, 401, 401, 429]
    others = failed_logins(port, ["198.51.100.9", "198.51.100.10"])
    if trusted:
        # Behind the proxy: the attacker is locked out, the agents are not.
        assert others == [401, 401]
    else:
        # A peer that is not a trusted proxy cannot pick its address with a header.
        assert others == [429, 429]
