"""What an inbox's settings may hold, checked before an admin's change is stored.

An inbox's `settings` (a JSON object) carry the channel's account and where its secrets
live, and what every channel shares: language, business hours, auto-reply and CSAT
texts, SLA targets. `clean(channel, timezone, settings)` returns the settings with
unknown keys refused and every value checked, or raises `InvalidConfig` naming the key.

Secrets are never stored in the settings: only where they live, `{name}_env` (an
environment variable) or `{name}_file` (a file). Set from the API, a file must lie in one
of the secret folders (`CROCEVIA_SECRET_DIRS`, by default `/run/secrets` and the data
folder's `secrets/`), a variable must not be one of Crocevia's own (`CROCEVIA_*`, except
`CROCEVIA_INBOX_*`), and `api_base_url` (a stand-in for the platform's API, for tests) is
refused unless `CROCEVIA_ALLOW_API_BASE_URL=1`: an admin's form must not be a way to send
the server's own keys or files to a host of their choosing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from inbox.hours import InvalidSchedule, Schedule
from inbox.types import Channel

LANGUAGES = ("it", "en")
PRIORITIES = ("urgent", "high", "normal", "low")
SECRETS: dict[str, tuple[str, ...]] = {
    Channel.TELEGRAM: ("bot_token", "webhook_secret"),
    Channel.EMAIL: ("smtp_password", "imap_password"),
    Channel.X: ("consumer_key", "consumer_secret", "access_token", "access_token_secret",
                "bearer_token"),
    Channel.MESSENGER: ("app_secret", "verify_token", "access_token"),
    Channel.INSTAGRAM: ("app_secret", "verify_token", "access_token"),
    Channel.WHATSAPP: ("app_secret", "verify_token", "access_token"),
    Channel.API: ("api_token",),
}  # fmt: skip
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,100}")
_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:\d{1,5})?")
_EMAIL = re.compile(r"[^@\s]{1,64}@[a-z0-9.-]{1,253}\.[a-z]{2,63}")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,252}[a-z0-9])?")


class InvalidConfig(ValueError):
    pass


Check = Callable[[str, Any], Any]


def _text(limit: int) -> Check:
    def check(key: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidConfig(f"{key}: a text of at most {limit} characters")
        return value.strip()

    return check


def _int(low: int, high: int) -> Check:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidConfig(f"{key}: a whole number from {low} to {high}")
        return value

    return check


def _choice(*options: str) -> Check:
    def check(key: str, value: Any) -> str:
        if value not in options:
            raise InvalidConfig(f"{key}: one of {', '.join(options)}")
        return str(value)

    return check


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidConfig(f"{key}: true or false")
    return value


def _per_language(key: str, value: Any) -> dict[str, str]:
    """Texts keyed by language: {"it": "...", "en": "..."}."""
    if not isinstance(value, dict) or not set(value) <= set(LANGUAGES):
        raise InvalidConfig(f"{key}: an object of texts keyed by {', '.join(LANGUAGES)}")
    out = {lang: _text(2000)(f"{key}.{lang}", text) for lang, text in value.items()}
    return {lang: text for lang, text in out.items() if text}


def _greeting(key: str, value: Any) -> str | dict[str, str]:
    """One text, or texts keyed by language (the widget shows the visitor's)."""
    return _per_language(key, value) if isinstance(value, dict) else _text(300)(key, value)


def _sla(key: str, value: Any) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict) or not set(value) <= set(PRIORITIES):
        raise InvalidConfig(f"{key}: an object keyed by priority ({', '.join(PRIORITIES)})")
    out: dict[str, dict[str, int]] = {}
    for priority, targets in value.items():
        kinds = ("first_response_minutes", "next_response_minutes")
        if not isinstance(targets, dict) or not set(targets) <= set(kinds):
            raise InvalidConfig(f"{key}.{priority}: {' and/or '.join(kinds)}")
        out[priority] = {k: _int(1, 60 * 24 * 30)(f"{key}.{priority}.{k}", v)
                         for k, v in targets.items()}  # fmt: skip
    return out


def _origins(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidConfig(f"{key}: a list of at most 50 origins")
    out = []
    for origin in value:
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin.strip().lower()):
            raise InvalidConfig(f"{key}: origins look like https://shop.example.it")
        out.append(origin.strip().lower())
    return out


def _prechat(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not set(value) <= {"name", "email"}:
        raise InvalidConfig(f"{key}: name and/or email")
    return {f: _choice("off", "optional", "required")(f"{key}.{f}", v) for f, v in value.items()}


def _email(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip().lower()):
        raise InvalidConfig(f"{key}: an email address")
    return value.strip().lower()


def _emails(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 20:
        raise InvalidConfig(f"{key}: a list of at most 20 addresses")
    return [_email(key, v) for v in value]


def _colour(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", value.strip()):
        raise InvalidConfig(f"{key}: a colour as #rrggbb")
    return value.strip().lower()


def _host(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _HOST.fullmatch(value.strip().lower()):
        raise InvalidConfig(f"{key}: a host name or IP address")
    return value.strip().lower()


def _url(key: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
        raise InvalidConfig(f"{key}: an http(s) URL")
    return value.rstrip("/")


def _api_base_url(key: str, value: Any) -> str:
    if os.environ.get("CROCEVIA_ALLOW_API_BASE_URL") != "1":
        raise InvalidConfig(f"{key} is for tests only (CROCEVIA_ALLOW_API_BASE_URL=1)")
    return _url(key, value)


def _schedule(key: str, value: Any) -> Any:
    try:
        Schedule.parse("Europe/Rome", value)
    except (InvalidSchedule, TypeError, ValueError, AttributeError) as exc:
        raise InvalidConfig(f"{key}: {exc}") from None
    return value


COMMON: dict[str, Check] = {
    "language": _choice(*LANGUAGES),
    "business_hours": _schedule,
    "auto_reply": _per_language,
    "csat": _flag,
    "csat_question": _per_language,
    "sla": _sla,
    "pending_resolve_after_hours": _int(1, 24 * 365),
    "retention_days": _int(1, 3650),
}
CHANNEL_KEYS: dict[str, dict[str, Check]] = {
    Channel.WEBSITE: {
        "greeting": _greeting, "locale": _choice(*LANGUAGES), "prechat": _prechat,
        "allowed_origins": _origins, "identity_max_age_s": _int(60, 366 * 86400),
        "privacy_url": _url, "email_fallback_inbox_id": _int(1, 2**31 - 1), "colour": _colour,
    },
    Channel.TELEGRAM: {
        "public_url": _url, "poll_timeout": _int(1, 50), "api_base_url": _api_base_url,
    },
    Channel.EMAIL: {
        "address": _email, "from_name": _text(200), "aliases": _emails,
        "smtp_host": _host, "smtp_port": _int(1, 65535),
        "smtp_security": _choice("starttls", "tls", "none"), "smtp_username": _text(320),
        "imap_host": _host, "imap_port": _int(1, 65535), "imap_security": _choice("tls", "none"),
        "imap_username": _text(320), "imap_mailbox": _text(200), "poll_interval": _int(5, 3600),
    },
    Channel.X: {
        "account_id": _text(40), "account_handle": _text(40), "poll_interval": _int(15, 3600),
        "api_base_url": _api_base_url,
    },
}  # fmt: skip
_META: dict[str, Check] = {"api_base_url": _api_base_url, "api_version": _text(10)}
CHANNEL_KEYS[Channel.MESSENGER] = {**_META, "page_id": _text(40)}
CHANNEL_KEYS[Channel.INSTAGRAM] = {**_META, "instagram_account_id": _text(40)}
CHANNEL_KEYS[Channel.WHATSAPP] = {**_META, "phone_number_id": _text(40)}
CHANNEL_KEYS[Channel.API] = {"reply_url": _url}
FILE_KEYS: dict[str, tuple[str, ...]] = {Channel.EMAIL: ("smtp_ca_file",)}  # in a secret folder
REQUIRED: dict[str, tuple[str, ...]] = {
    Channel.EMAIL: ("address",),
    Channel.X: ("account_id",),
    Channel.MESSENGER: ("page_id",),
    Channel.INSTAGRAM: ("instagram_account_id",),
    Channel.WHATSAPP: ("phone_number_id",),
    Channel.API: ("reply_url",),
}


def secret_dirs(data_dir: Path) -> list[Path]:
    raw = os.environ.get("CROCEVIA_SECRET_DIRS")
    dirs = raw.split(os.pathsep) if raw else ["/run/secrets", str(data_dir / "secrets")]
    return [Path(d).resolve() for d in dirs if d]


def _secret_ref(key: str, value: Any, data_dir: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidConfig(f"{key}: a name")
    name = str(value).strip()
    if key.endswith("_env"):
        if not _ENV_NAME.fullmatch(name):
            raise InvalidConfig(f"{key}: an environment variable's name (A-Z, 0-9, _)")
        if name.startswith("CROCEVIA_") and not name.startswith("CROCEVIA_INBOX_"):
            raise InvalidConfig(f"{key}: Crocevia's own variables cannot be an inbox's secret")
        return name
    path = Path(name).resolve()
    if not any(path.is_relative_to(d) for d in secret_dirs(data_dir)):
        folders = ", ".join(str(d) for d in secret_dirs(data_dir))
        raise InvalidConfig(f"{key}: the file must be in a secret folder ({folders})")
    return str(path)


def _secret_of(key: str) -> str | None:
    """`bot_token_env` and `bot_token_file` name where `bot_token` lives."""
    for suffix in ("_env", "_file"):
        if key.endswith(suffix):
            return key.removesuffix(suffix)
    return None


def clean(channel: str, settings: Any, data_dir: Path) -> dict[str, Any]:
    """The settings, checked; InvalidConfig names the first key that is wrong."""
    if channel not in CHANNEL_KEYS:
        raise InvalidConfig(f"channel: one of {', '.join(sorted(CHANNEL_KEYS))}")
    if not isinstance(settings, Mapping):
        raise InvalidConfig("settings: an object")
    checks = {**COMMON, **CHANNEL_KEYS[channel]}
    secrets = SECRETS.get(channel, ())
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if value is None:
            continue  # null removes a key
        if key in secrets:
            raise InvalidConfig(
                f"{key} is a secret: send it in `secrets` (stored as a file) or name "
                f"{key}_env or {key}_file"
            )
        if _secret_of(key) in secrets or key in FILE_KEYS.get(channel, ()):
            out[key] = _secret_ref(key, value, data_dir)
        elif key in checks:
            out[key] = checks[key](key, value)
        else:
            raise InvalidConfig(f"{key}: not a setting of a {channel} inbox")
    for key in REQUIRED.get(channel, ()):
        if key not in out:
            raise InvalidConfig(f"{key}: required for a {channel} inbox")
    return out
