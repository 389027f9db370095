"""Staff upload footage no dock brings (seized CCTV exports, control-room audio) from the browser: the
page's script hashes the file, then sends it in parts through the same ingest services a dock's
``/v1/uploads`` calls reach, as the signed-in person, so it is resumable (choosing the same file again
carries on with the parts that are missing) and the server hashes what it stored. The JSON routes answer
problems as the API does; every unsafe request carries the console's CSRF token in its header."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from service.auth.roles import STAFF_UPLOADERS
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.errors import Invalid
from service.ingest import service as ingest
from service.ingest.schemas import PartOut, UploadCreate, created_answer
from service.web.deps import csrf_guard, signed_in
from service.web.render import console_router, render

page_router = console_router()
router = APIRouter(prefix="/ui/upload/uploads", dependencies=[Depends(csrf_guard)], include_in_schema=False)
uploader = signed_in(*STAFF_UPLOADERS)


@page_router.get("/ui/upload")
async def upload_page(request: Request, me: Principal = Depends(uploader)):
    return render(request, "upload.html", me, title="Upload footage")


@router.post("")
async def create(body: UploadCreate, s: SessionDep, ctx: ContextDep, me: Principal = Depends(uploader)):
    res = await ingest.create_upload(s, me, ctx, body)
    body, status = created_answer(res)
    return JSONResponse(body, status_code=status)


@router.put("/{upload_id}/parts/{n}")
async def put_part(request: Request, upload_id: str, n: int = Path(...), me: Principal = Depends(uploader)):
    length = request.headers.get("content-length")
    try:
        content_length = int(length) if length is not None else None
    except ValueError as e:
        raise Invalid("Content-Length is not a number.", slug="invalid-content-length") from e
    part = await ingest.put_part(request.app.state.ctx, me, upload_id, n, request.stream(), content_length)
    return PartOut(n=part.n, size=part.size)


@router.post("/{upload_id}/complete")
async def complete(request: Request, upload_id: str, me: Principal = Depends(uploader)):
    rec, created, duplicate = await ingest.complete(request.app.state.ctx, me, upload_id)
    return JSONResponse({"recording_id": rec.id, "duplicate": duplicate, "url": f"/ui/recordings/{rec.id}"},
                        status_code=201 if created else 200)
