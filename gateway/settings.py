"""Configuration, read once from the environment. Secrets come from the environment or a file."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


def _secret(name: str, data_dir: Path) -> str:
    """`NAME`, else the file named by `NAME_FILE`, else a file generated in the data folder."""
    value = _optional_secret(name)
    if value:
        return value
    path = data_dir / name.lower().removeprefix("crocevia_")
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _optional_secret(name: str) -> str | None:
    """`NAME`, else the contents of the file named by `NAME_FILE`, else None."""
    value = os.environ.get(name)
    if value:
        return value
    file = os.environ.get(f"{name}_FILE")
    return Path(file).read_text().strip() if file else None


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: start an embedded redis-server
    secret_key: str
    max_text: int
    session_hours: int
    public_url: str
    claim_idle_ms: int
    requeue_after_s: float
    worker_drain_s: float  # on SIGTERM, how long a worker waits for the replies it is sending
    timer_interval_s: float
    presence_grace_s: float
    log_level: str
    trusted_proxies: str  # comma-separated IPs/CIDRs whose X-Forwarded-For is believed

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(os.environ.get("CROCEVIA_DATA_DIR", "var")).resolve()
        return cls(
            data_dir=data_dir,
            database_url=_optional_secret("CROCEVIA_DATABASE_URL")
            or f"sqlite:///{data_dir / 'crocevia.sqlite3'}",
            redis_url=_optional_secret("CROCEVIA_REDIS_URL"),
            secret_key=_secret("CROCEVIA_SECRET_KEY", data_dir),
            max_text=int(os.environ.get("CROCEVIA_MAX_TEXT", "10000")),
            session_hours=int(os.environ.get("CROCEVIA_SESSION_HOURS", "12")),
            public_url=os.environ.get("CROCEVIA_PUBLIC_URL", "http://127.0.0.1:8000"),
            claim_idle_ms=int(os.environ.get("CROCEVIA_CLAIM_IDLE_MS", "30000")),
            requeue_after_s=float(os.environ.get("CROCEVIA_REQUEUE_AFTER_S", "120")),
            worker_drain_s=float(os.environ.get("CROCEVIA_WORKER_DRAIN_S", "8")),
            timer_interval_s=float(os.environ.get("CROCEVIA_TIMER_INTERVAL_S", "2")),
            presence_grace_s=float(os.environ.get("CROCEVIA_PRESENCE_GRACE_S", "60")),
            log_level=os.environ.get("CROCEVIA_LOG_LEVEL", "INFO"),
            trusted_proxies=os.environ.get("CROCEVIA_TRUSTED_PROXIES", "").strip(),
        )
