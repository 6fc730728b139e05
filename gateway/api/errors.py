"""Errors as JSON (`{"error": {"code", "message"}}`) and request bodies read safely."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

MAX_BODY = 256 * 1024


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
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused with 413 as soon as it passes `limit` bytes."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
    return body


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413 that says what was wrong."""
    body = await read_body(request)
    try:
        data = json.loads(body or b"{}")
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
    return value


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
