"""Errors as JSON (`{"error": {"code", "message"}}`) and request bodies read safely."""

from __future__ import annotations

import logging
from typing import Any

from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from gateway import strict_json

log = logging.getLogger("crocevia.api")

MAX_BODY = 256 * 1024
# Integers the id columns hold (INTEGER on PostgreSQL): a larger id is not an id, it is
# a 400 or 404 rather than a database error.
INT64 = range(-(2**31), 2**31)
BIG_INT = range(-(2**63), 2**63)  # message and event ids (BIGINT)


def no_nul(request: Request) -> None:
    """Query parameters with a NUL character: 400 (PostgreSQL text cannot hold one)."""
    if any("\x00" in v for v in request.query_params.values()):
        raise ApiError(400, "invalid_field", "query parameters must not contain NUL characters")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    body = b""
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, "too_large", f"request body over {limit} bytes")
    except ClientDisconnect:  # the client went away mid-body: nothing to do, nothing to log
        raise ApiError(400, "client_disconnected", "the request body was cut off") from None
    return body


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413 that says what was wrong."""
    body = await read_body(request)
    try:
        data = strict_json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", f"expected a JSON object, got {type(data).__name__}")
    return data


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True,
          default: Any = None) -> Any:  # fmt: skip
    if name not in data or data[name] is None:
        if required:
            raise ApiError(400, "invalid_field", f"{name!r} is required")
        return default
    value = data[name]
    if isinstance(value, bool) and kind is not bool:
        raise ApiError(400, "invalid_field", f"{name!r} must be {_kind(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ApiError(
            400, "invalid_field", f"{name!r} must be {_kind(kind)}, got {type(value).__name__}"
        )
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        raise ApiError(400, "invalid_field", f"{name!r} is out of range")
    if isinstance(value, str) and "\x00" in value:  # PostgreSQL text cannot hold NUL
        raise ApiError(400, "invalid_field", f"{name!r} contains a NUL character")
    return value


def short_text(value: Any, name: str, limit: int = 200) -> str | None:
    """An optional one-line text (a description): None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise ApiError(400, "invalid_field", f"{name}: text of up to {limit} characters")
    return value.strip() or None


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "a boolean",
        dict: "an object",
        list: "a list",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


async def limited_handler(_request: Request, exc: Exception) -> JSONResponse:
    from gateway.limits import Limited

    assert isinstance(exc, Limited)
    return error_response(
        429, "rate_limited", f"too many requests: {exc}; retry in {exc.retry_after} s",
        {"Retry-After": str(exc.retry_after)},
    )  # fmt: skip


#: A backend that cannot answer right now (the database down or restarting, every pooled
#: connection busy, Redis away): the request did nothing and may be sent again.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
    sa_exc.DisconnectionError, redis_exc.ConnectionError, redis_exc.TimeoutError,
    ConnectionError,
)  # fmt: skip


_TRANSIENT = (
    "locked",
    "busy",
    "connect",
    "closed",
    "terminat",
    "shut",
    "timeout",
    "timed out",
    "recovery",
    "starting up",
    "too many",
)


def transient(exc: BaseException) -> bool:
    """Whether a database error is the database being away or busy, not a bug: SQLite
    reports "no such column" and "database is locked" alike as OperationalError."""
    if not isinstance(exc, sa_exc.OperationalError):
        return True
    return bool(exc.connection_invalidated) or any(w in str(exc).lower() for w in _TRANSIENT)


async def unavailable_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 with Retry-After, logged as a warning: a client sends again later. An
    OperationalError that is a bug is a 500, logged as an error."""
    if not transient(exc):
        log.error("request_failed", exc_info=exc, extra={"path": request.url.path})
        return error_response(500, "internal_error", "Internal Server Error")
    log.warning("request_backend_unavailable", extra={
        "path": request.url.path, "method": request.method, "error": repr(exc)[:300]})  # fmt: skip
    return error_response(
        503,
        "unavailable",
        "the database or Redis is unavailable right now; send again",
        {"Retry-After": "2"},
    )
