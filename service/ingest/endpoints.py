"""Docks upload recordings in parts. Creating an upload and reading its state run in the request's one
transaction; a part and the completion stream bytes to object storage between short transactions of
their own (held open, one transaction would hold the database for as long as a part streams)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from service.deps import ContextDep, PrincipalDep, SessionDep
from service.errors import Invalid, problems
from service.ingest import service
from service.ingest.schemas import (
    DuplicateOut,
    PartOut,
    UploadCreate,
    UploadCreated,
    UploadStatus,
    created_answer,
)
from service.recordings.schemas import CreatedRecordingOut, RecordingOut

router = APIRouter(prefix="/v1/uploads", tags=["ingest"], responses=problems(401, 403, 422))


@router.post("", status_code=201, response_model=UploadCreated | DuplicateOut,
             responses={200: {"model": UploadCreated | DuplicateOut,
                              "description": "Already stored (DuplicateOut), or an upload resumed (UploadCreated)"},
                        **problems(413, 415)})
async def create_upload(body: UploadCreate, actor: PrincipalDep, s: SessionDep, ctx: ContextDep):
    res = await service.create_upload(s, actor, ctx, body)
    body, status = created_answer(res)
    return JSONResponse(body, status_code=status)


@router.put("/{upload_id}/parts/{n}", responses=problems(404, 409, 410), response_model=PartOut)
async def put_part(request: Request, upload_id: str, actor: PrincipalDep,
                   n: int = Path(..., description="1-based part number")):
    length = request.headers.get("content-length")
    try:
        content_length = int(length) if length is not None else None
    except ValueError as e:
        raise Invalid("Content-Length is not a number.", slug="invalid-content-length") from e
    part = await service.put_part(request.app.state.ctx, actor, upload_id, n, request.stream(), content_length)
    return PartOut(n=part.n, size=part.size)


@router.get("/{upload_id}", responses=problems(404, 410), response_model=UploadStatus)
async def get_upload(upload_id: str, actor: PrincipalDep, s: SessionDep):
    upload, parts = await service.upload_status(s, actor, upload_id)
    return UploadStatus(upload_id=upload.id, status=upload.status, size_bytes=upload.size_bytes,
                        part_size=upload.part_size, parts=[PartOut(n=p.n, size=p.size) for p in parts],
                        received_bytes=sum(p.size for p in parts), recording_id=upload.recording_id,
                        created_at=upload.created_at, updated_at=upload.updated_at)


@router.post("/{upload_id}/complete", status_code=201, response_model=CreatedRecordingOut,
             responses={200: {"model": CreatedRecordingOut, "description": "Completed before (a retry)"},
                        **problems(404, 409, 410)})
async def complete(request: Request, upload_id: str, actor: PrincipalDep):
    rec, created, duplicate = await service.complete(request.app.state.ctx, actor, upload_id)
    body = CreatedRecordingOut(**RecordingOut.of(rec).model_dump(), recording_id=rec.id, duplicate=duplicate)
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if created else 200)
