"""The `crocevia` command: migrate, serve, worker, demo, seed-demo, create-agent, sentiment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

from gateway.settings import Settings
from inbox import logs
from inbox.migrate import upgrade


@contextlib.contextmanager
def redis_url(settings: Settings) -> Iterator[str]:
    """The configured Redis, or the data folder's embedded redis-server, shared with every
    other Crocevia process of that folder (gateway/shared_redis.py)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    from gateway.shared_redis import shared_redis

    with shared_redis(settings.data_dir / "redis") as url:
        print(f"embedded redis-server on {url}", file=sys.stderr)
        yield url


def cmd_migrate(_args: argparse.Namespace) -> int:
    upgrade(Settings.from_env().database_url)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    if args.migrate:
        upgrade(settings.database_url)
    with redis_url(settings) as url:
        os.environ["CROCEVIA_REDIS_URL"] = url
        uvicorn.run(
            "gateway.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            ws_max_size=64 * 1024,
            # permessage-deflate costs memory per socket (docs/benchmarks.md): off by default.
            ws_per_message_deflate=os.environ.get("CROCEVIA_WS_DEFLATE", "off").lower()
            in ("on", "1", "true", "yes"),
            log_config=None,
            access_log=False,
            # X-Forwarded-For is believed only from these proxies (docs/security.md).
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies or None,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    return 0


def _stop_gracefully(stop: Callable[[], None]) -> None:
    """The first SIGTERM or Ctrl-C calls `stop` (finish the work in hand); a second one
    cancels the current task, as Ctrl-C does under asyncio.run."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            stop()
        elif me is not None:
            me.cancel()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)


def cmd_worker(_args: argparse.Namespace) -> int:
    from gateway.channels import ConnectorCache
    from gateway.crm_webhook import CrmPusher
    from gateway.event_webhooks import EventWebhooks
    from gateway.router import Router
    from gateway.worker import OutboundWorker
    from inbox import background
    from inbox.db import create_engine, sessionmaker
    from inbox.files import FileStore
    from inbox.redis_client import open_redis
    from inbox.relay import Relay

    settings = Settings.from_env()

    async def main(url: str) -> None:
        engine = create_engine(settings.database_url)
        sessions = sessionmaker(engine)
        redis = open_redis(url, health_check_interval=10)
        relay = Relay(redis, sessions)
        files = FileStore(settings.data_dir / "files")
        connectors = ConnectorCache(keep_connections=True)  # one HTTP pool per inbox
        worker = OutboundWorker(
            redis, sessions, relay, connectors.get, claim_idle_ms=settings.claim_idle_ms,
            requeue_after_s=settings.requeue_after_s, files=files,
        )  # fmt: skip
        crm = CrmPusher.from_env(sessions, redis)
        router = Router(
            sessions, relay, redis, grace_s=settings.presence_grace_s, files=files, crm=crm
        )
        hooks = EventWebhooks(sessions, redis)
        _stop_gracefully(worker.stop)
        try:
            async with (
                relay.running(),
                background.running(lambda stop: router.run(stop, settings.timer_interval_s),
                                   "router"),
                background.running(hooks.run, "event-webhooks"),
            ):  # fmt: skip
                await worker.run(settings.worker_drain_s)
        finally:
            await connectors.aclose()
            await hooks.aclose()
            if crm is not None:
                await crm.aclose()
            await redis.aclose()
            await engine.dispose()

    with redis_url(settings) as url, contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(main(url))
    return 0


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    from gateway.seed import seed_demo

    settings = Settings.from_env()
    upgrade(settings.database_url)
    logins = asyncio.run(seed_demo(settings))
    for line in logins:
        print(line)
    return 0


def cmd_create_agent(args: argparse.Namespace) -> int:
    from gateway.seed import create_agent

    password = os.environ.get("CROCEVIA_AGENT_PASSWORD") or secrets.token_urlsafe(12)
    settings = Settings.from_env()
    asyncio.run(create_agent(settings, args.email, args.name, args.role, password))
    if "CROCEVIA_AGENT_PASSWORD" not in os.environ:
        print(f"password: {password}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    from gateway.seed import seed_demo

    logins = asyncio.run(seed_demo(settings))
    with redis_url(settings) as url:
        env = {**os.environ, "CROCEVIA_REDIS_URL": url}
        exe = [sys.executable, "-m", "gateway.cli"]
        procs = [
            subprocess.Popen(
                [*exe, "serve", "--host", args.host, "--port", str(args.port)], env=env
            ),
            subprocess.Popen([*exe, "worker"], env=env),
        ]
        base = f"http://{args.host}:{args.port}"
        token = next((ln.split(": ", 1)[1] for ln in logins if ln.startswith("website token")), "")
        print(
            "\nCrocevia is running.\n"
            f"  agent console:  {base}/console/\n"
            f"  team lead view: {base}/lead/\n"
            f"  marketing page: {base}/marketing/\n"
            f"  demo shop page: {base}/web/demo/shop.html#{token}\n"
            f"  API document:   {base}/api/openapi.json\n"
            f"  database:       {settings.database_url}\n"
            "Demo logins (also in "
            + str(settings.data_dir / "demo-logins.txt")
            + "):\n  "
            + "\n  ".join(logins)
            + "\nCtrl-C stops everything.\n",
            flush=True,
        )
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    return 0


def cmd_sentiment(_args: argparse.Namespace) -> int:
    from inbox.sentiment import main as sentiment_main

    return sentiment_main([])


def cmd_email(args: argparse.Namespace) -> int:
    """`crocevia email fetch INBOX_ID` / `crocevia email smtp-server --port N`."""
    from gateway.app import _tagger
    from receivers.email_service import EmailService

    settings = Settings.from_env()
    with redis_url(settings) as url, contextlib.suppress(KeyboardInterrupt):
        service = EmailService(settings.database_url, url, settings.data_dir / "files", _tagger())
        if args.email_command == "fetch":
            asyncio.run(service.fetch(args.inbox_id, once=args.once))
        else:
            asyncio.run(service.smtp_server(args.host, args.port))
    return 0


def cmd_telegram(args: argparse.Namespace) -> int:
    """`crocevia telegram set-webhook|poll|link INBOX_ID` (see docs/telegram.md)."""
    from inbox.files import FileStore
    from receivers import telegram_polling as tg

    settings = Settings.from_env()
    if args.telegram_command == "set-webhook":
        url = asyncio.run(tg.set_webhook_command(settings.database_url, args.inbox_id,
                                                 settings.public_url))  # fmt: skip
        print(f"webhook set: {url}")
    elif args.telegram_command == "link":
        print(asyncio.run(tg.link_command(settings.database_url, settings.secret_key,
                                          args.inbox_id, args.contact_id)))  # fmt: skip
    else:
        from gateway.app import _tagger

        files = FileStore(settings.data_dir / "files")
        with redis_url(settings) as url:
            asyncio.run(tg.poll_command(settings.database_url, url, files, settings.secret_key,
                                        args.inbox_id, _tagger()))  # fmt: skip
    return 0


def cmd_x(args: argparse.Namespace) -> int:
    """`crocevia x poll INBOX_ID [--once]`: mentions and DMs from the X API (docs/social.md)."""
    from gateway.app import _tagger
    from receivers.x_polling import poll_command

    settings = Settings.from_env()
    with redis_url(settings) as url, contextlib.suppress(KeyboardInterrupt):
        stored = asyncio.run(poll_command(settings.database_url, url, args.inbox_id, _tagger(),
                                          once=args.once))  # fmt: skip
        if args.once:
            print(f"stored {stored} new messages")
    return 0


def cmd_signals(args: argparse.Namespace) -> int:
    """`crocevia signals export --format csv|ndjson [--segment NAME] [--output FILE]`."""
    from gateway.signals_cli import run

    return run(Settings.from_env().database_url, args.format, args.segment, args.output)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crocevia", description="Omnichannel social inbox")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(
        func=cmd_migrate
    )
    serve = sub.add_parser("serve", help="run the gateway (HTTP API, webhooks, WebSockets)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="migrate the database first")
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run an outbound worker").set_defaults(func=cmd_worker)
    demo = sub.add_parser("demo", help="seed demo data and run gateway, worker and Redis")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.set_defaults(func=cmd_demo)
    sub.add_parser("seed-demo", help="create the demo inbox and agents").set_defaults(
        func=cmd_seed_demo
    )
    agent = sub.add_parser(
        "create-agent", help="add an agent (password from CROCEVIA_AGENT_PASSWORD or generated)"
    )
    agent.add_argument("--email", required=True)
    agent.add_argument("--name", required=True)
    agent.add_argument("--role", default="agent", choices=["agent", "lead", "admin", "marketing"])
    agent.set_defaults(func=cmd_create_agent)
    email = sub.add_parser("email", help="email inbound: IMAP fetch or an SMTP server")
    email_sub = email.add_subparsers(dest="email_command", required=True)
    fetch = email_sub.add_parser("fetch", help="read an email inbox's IMAP mailbox (IDLE/poll)")
    fetch.add_argument("inbox_id", type=int)
    fetch.add_argument("--once", action="store_true", help="take what is new, then exit")
    smtpd = email_sub.add_parser("smtp-server", help="receive mail for email inboxes (MX)")
    smtpd.add_argument("--host", default="0.0.0.0")
    smtpd.add_argument("--port", type=int, default=25)
    email.set_defaults(func=cmd_email)
    telegram = sub.add_parser("telegram", help="Telegram bots: webhook, polling, /start links")
    tg_sub = telegram.add_subparsers(dest="telegram_command", required=True)
    tg_sub.add_parser("set-webhook", help="point the bot's webhook at this gateway").add_argument(
        "inbox_id", type=int
    )
    tg_sub.add_parser("poll", help="fetch updates with getUpdates (no public URL)").add_argument(
        "inbox_id", type=int
    )
    tg_link = tg_sub.add_parser("link", help="print a t.me deep link that links a contact")
    tg_link.add_argument("inbox_id", type=int)
    tg_link.add_argument("contact_id", type=int)
    telegram.set_defaults(func=cmd_telegram)
    x = sub.add_parser("x", help="X (Twitter): poll mentions and DMs without a webhook")
    x_poll = x.add_subparsers(dest="x_command", required=True).add_parser(
        "poll", help="poll the X API for mentions and DMs (the cursor survives restarts)"
    )
    x_poll.add_argument("inbox_id", type=int)
    x_poll.add_argument("--once", action="store_true", help="one round, then exit")
    x.set_defaults(func=cmd_x)
    signals_cmd = sub.add_parser("signals", help="contacts' Social CRM signals")
    export = signals_cmd.add_subparsers(dest="signals_command", required=True).add_parser(
        "export", help="stream every contact's signals (or a segment's) as CSV or NDJSON"
    )
    export.add_argument("--format", choices=["csv", "ndjson"], default="csv")
    export.add_argument("--segment", help="only the members of this saved segment")
    export.add_argument("--output", help="write to this file instead of stdout")
    signals_cmd.set_defaults(func=cmd_signals)
    sub.add_parser(
        "sentiment", help="read messages on stdin, print language and sentiment as JSON lines"
    ).set_defaults(func=cmd_sentiment)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command != "sentiment":
        logs.configure(os.environ.get("CROCEVIA_LOG_LEVEL", "INFO"))
    # SIGTERM (docker stop, systemctl stop, kill) stops us like Ctrl-C: every `finally`
    # runs, children and the embedded redis-server are stopped, nothing is left behind.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
