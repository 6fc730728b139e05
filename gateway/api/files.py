"""`/api/files/{id}` (download) and uploads by visitors and agents.

Uploads are multipart (`file` field). The type is sniffed from the bytes; the
widget accepts images and PDF up to CROCEVIA_MAX_UPLOAD bytes (10 MiB). Only raster
images are served inline; every other type is a download with a neutral type, so
an uploaded SVG or HTML can never run script on our origin (CVE-2021-3741).
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import Message

from gateway.api.agents_auth import require_agent
from gateway.api.errors import ApiError
from gateway.api.widget import require_visitor
from gateway.runtime import runtime
from inbox.files import INLINE_TYPES, FileRefused, FileStore
from inbox.model import StoredFile
from inbox.types import Attachment

MAX_UPLOAD = int(os.environ.get("CROCEVIA_MAX_UPLOAD", str(10 * 1024 * 1024)))
WIDGET_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})


def file_dict(row: StoredFile) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "content_type": row.content_type, "size": row.size,
            "url": f"/api/files/{row.id}"}  # fmt: skip


def attachment_of(row: StoredFile) -> Attachment:
    kind = "image" if row.content_type.startswith("image/") else "file"
    return Attachment(kind=kind, url=f"/api/files/{row.id}", name=row.name,
                      content_type=row.content_type, size=row.size)  # fmt: skip


async def _body_within_limit(request: Request) -> bytes:
    """The request body, read as it streams in and refused (413) as soon as it passes the
    limit: a chunked upload without Content-Length never reaches the disk or grows past it."""
    limit = MAX_UPLOAD + 64 * 1024  # the file, plus multipart's boundaries and headers
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise ApiError(413, "too_large", f"uploads are limited to {MAX_UPLOAD} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"uploads are limited to {MAX_UPLOAD} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "the upload was cut off") from None
    return b"".join(chunks)


async def _read_upload(request: Request) -> tuple[bytes, str]:
    body = await _body_within_limit(request)

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=1, max_fields=5, max_part_size=MAX_UPLOAD + 1
        )
    except Exception as exc:  # malformed multipart
        raise ApiError(
            400, "invalid_upload", f"expected multipart/form-data with a 'file' field: {exc}"
        ) from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "invalid_upload", "expected multipart/form-data with a 'file' field")
    data = await upload.read(MAX_UPLOAD + 1)
    await form.close()
    return data, upload.filename or "file"


async def _store(
    request: Request, inbox_id: int | None, allowed: frozenset[str] | None
) -> Response:
    data, name = await _read_upload(request)
    rt = runtime(request)
    store = FileStore(rt.settings.data_dir / "files")
    async with rt.sessions() as session, session.begin():
        try:
            row = await store.save(
                session, data, name, inbox_id=inbox_id, allowed=allowed, max_size=MAX_UPLOAD
            )
        except FileRefused as exc:
            code = 413 if "limit" in str(exc) else 415
            raise ApiError(code, "file_refused", str(exc)) from None
        body = file_dict(row)
    return JSONResponse(body, 201)


async def widget_upload(request: Request) -> Response:
    visitor = require_visitor(request)
    return await _store(request, visitor.inbox_id, WIDGET_TYPES)


async def agent_upload(request: Request) -> Response:
    await require_agent(request)
    return await _store(request, None, None)


async def download(request: Request) -> Response:
    rt = runtime(request)
    file_id = str(request.path_params["id"])
    if not file_id.isalnum() or len(file_id) > 64:  # ids are hex; NUL would be a DB error
        raise ApiError(404, "not_found", "no such file")
    async with rt.sessions() as session:
        row = await session.get(StoredFile, file_id)
    path = FileStore(rt.settings.data_dir / "files").path(row.sha256) if row else None
    if row is None or path is None or not path.exists():
        raise ApiError(404, "not_found", "no such file")
    inline = row.content_type in INLINE_TYPES
    return FileResponse(
        path,
        media_type=row.content_type if inline else "application/octet-stream",
        filename=row.name,
        content_disposition_type="inline" if inline else "attachment",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'",
                 "Cache-Control": "private, max-age=86400"},
    )  # fmt: skip


async def load_attachments(
    session: AsyncSession, ids: list[str], inbox_id: int | None
) -> list[Attachment]:
    """The stored files named by `ids` (uploaded into `inbox_id`, when given), in order."""
    if not ids:
        return []
    rows = {
        r.id: r
        for r in (await session.execute(select(StoredFile).where(StoredFile.id.in_(ids)))).scalars()
    }
    found = []
    for file_id in ids:
        row = rows.get(file_id)
        if row is None or (inbox_id is not None and row.inbox_id != inbox_id):
            raise LookupError(f"no uploaded file {file_id!r}")
        found.append(attachment_of(row))
    return found
