"""Console pages: CPS cases, exhibits picked from a footage search, bundles with live progress, and
share links (create, copy, revoke, access log).

Every read and action is the disclosure API's own endpoint function (via ``call_api``); the console
only turns forms into request models and API answers into pages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, Request

from service.auth.schemas import Principal
from service.disclosure import endpoints as api
from service.disclosure.schemas import CaseIn, ItemIn, ReasonIn, ShareIn
from service.recordings import endpoints as recordings_api
from service.web.deps import call_api, form_model, is_htmx, signed_in
from service.web.pageutil import utc_field
from service.web.render import console_router, done, fragment, render

router = console_router()
staff = signed_in(*api.disclosure.roles)
SEARCH_FIELDS = ("officer_id", "device_id", "from", "to")
SEARCH_LIMIT = 25
FINISHED = ("ready", "failed")


def _local(dt: datetime) -> str:
    """The value a ``datetime-local`` input shows for a UTC time."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# --- Cases ---

@router.get("/ui/disclosure/cases")
async def cases(request: Request, open_cursor: str | None = None, closed_cursor: str | None = None,
                me: Principal = Depends(staff)):
    opened = await call_api(api.list_cases, request, me, status="open", cursor=open_cursor)
    closed = await call_api(api.list_cases, request, me, status="closed", cursor=closed_cursor, limit=20)
    return render(request, "disclosure/cases.html", me, title="Cases", opened=opened, closed=closed,
                  open_cursor=open_cursor, closed_cursor=closed_cursor)


@router.post("/ui/disclosure/cases")
async def create_case(request: Request, me: Principal = Depends(staff)):
    body = form_model(CaseIn, dict(await request.form()))
    case = await call_api(api.create_case, request, me, body=body)
    return done(f"/ui/disclosure/cases/{case.id}", f"Case {case.urn} opened. Add its exhibits below.")


def _search_query(params) -> dict[str, str]:
    return {k: params[k].strip() for k in SEARCH_FIELDS if params.get(k, "").strip()}


async def _search(request: Request, me: Principal, query: dict[str, str]):
    """Footage matching the search, through the recordings API (so it is scoped and audited as a search)."""
    return await call_api(recordings_api.list_recordings, request, me, limit=SEARCH_LIMIT, status="active",
                          officer_id=query.get("officer_id"), device_id=query.get("device_id"),
                          from_=utc_field(query.get("from")), to=utc_field(query.get("to")))


@router.get("/ui/disclosure/cases/{case_id}")
async def case_page(request: Request, case_id: str, me: Principal = Depends(staff)):
    case = await call_api(api.get_case, request, me, case_id=case_id)
    bundles = await call_api(api.list_case_bundles, request, me, case_id=case_id, limit=20)
    # Without JavaScript the search form submits here; with htmx it loads the results in place.
    query = _search_query(request.query_params)
    results = await _search(request, me, query) if request.query_params.get("search") else None
    return render(request, "disclosure/case.html", me, title=f"Case {case.urn}", case=case, bundles=bundles,
                  query=query, results=results, search_limit=SEARCH_LIMIT)


@router.get("/ui/disclosure/cases/{case_id}/search")
async def case_search(request: Request, case_id: str, me: Principal = Depends(staff)):
    case = await call_api(api.get_case, request, me, case_id=case_id)
    query = _search_query(request.query_params)
    results = await _search(request, me, query)
    return fragment(request, "disclosure/_search_results.html", case=case, results=results, query=query,
                    search_limit=SEARCH_LIMIT)


@router.post("/ui/disclosure/cases/{case_id}/items")
async def add_exhibit(request: Request, case_id: str, me: Principal = Depends(staff)):
    body = form_model(ItemIn, dict(await request.form()))
    item = await call_api(api.add_item, request, me, case_id=case_id, body=body)
    return done(f"/ui/disclosure/cases/{case_id}",
                f"Exhibit {item.exhibit_ref} added; the recording is flagged as evidence and held with the case.")


@router.post("/ui/disclosure/cases/{case_id}/bundles")
async def build_bundle(request: Request, case_id: str, me: Principal = Depends(staff)):
    bundle = await call_api(api.request_bundle, request, me, case_id=case_id)
    return done(f"/ui/disclosure/bundles/{bundle.bundle_id}", "Bundle requested: it is being built.")


@router.post("/ui/disclosure/cases/{case_id}/close")
async def close_case(request: Request, case_id: str, me: Principal = Depends(staff)):
    body = form_model(ReasonIn, dict(await request.form()))
    case = await call_api(api.close_case, request, me, case_id=case_id, body=body)
    return done(f"/ui/disclosure/cases/{case_id}",
                f"Case {case.urn} closed; its hold is released (the evidence flags stay).")


# --- Bundles and their shares ---

async def _bundle_view(request: Request, me: Principal, bundle_id: str) -> dict[str, Any]:
    bundle = await call_api(api.get_bundle, request, me, bundle_id=bundle_id)
    view: dict[str, Any] = {"bundle": bundle, "finished": bundle.status in FINISHED, "shares": [],
                            "shares_more": None, "case": None}
    if bundle.case_id:
        view["case"] = await call_api(api.get_case, request, me, case_id=bundle.case_id)
    if bundle.status == "ready":
        listed = await call_api(api.list_shares, request, me, bundle_id=bundle_id)
        # Each share with its access log (the audit's record of every use of the link).
        view["shares"] = [await call_api(api.get_share, request, me, share_id=s.share_id) for s in listed.items]
        view["shares_more"] = listed.next_cursor
    view["default_expiry"] = _local(datetime.now(UTC) + timedelta(days=28))
    view["min_expiry"] = _local(datetime.now(UTC))
    return view


@router.get("/ui/disclosure/bundles/{bundle_id}")
async def bundle_page(request: Request, bundle_id: str, me: Principal = Depends(staff)):
    view = await _bundle_view(request, me, bundle_id)
    return render(request, "disclosure/bundle.html", me, title=f"Bundle {bundle_id}", **view)


@router.get("/ui/disclosure/bundles/{bundle_id}/panel")
async def bundle_panel(request: Request, bundle_id: str, me: Principal = Depends(staff)):
    """What the bundle page polls while the bundle is queued or building."""
    return fragment(request, "disclosure/_bundle_panel.html", **await _bundle_view(request, me, bundle_id))


@router.get("/ui/disclosure/bundles/{bundle_id}/download")
async def download(request: Request, bundle_id: str, me: Principal = Depends(staff)):
    return await call_api(api.download_bundle, request, me, bundle_id=bundle_id)


@router.post("/ui/disclosure/bundles/{bundle_id}/shares")
async def create_share(request: Request, bundle_id: str, me: Principal = Depends(staff)):
    form = dict(await request.form())
    form["expires_at"] = utc_field(form.get("expires_at"))
    body = form_model(ShareIn, form)
    new_share = await call_api(api.create_share, request, me, bundle_id=bundle_id, body=body)
    # The link exists only in this answer (the server keeps a hash of its token), so this is rendered
    # straight from the POST rather than redirected: a redirect would have to store the link somewhere.
    view = await _bundle_view(request, me, bundle_id)
    if is_htmx(request):
        return fragment(request, "disclosure/_share_list.html", new_share=new_share, **view)
    return render(request, "disclosure/bundle.html", me, title=f"Bundle {bundle_id}", new_share=new_share, **view)


@router.post("/ui/disclosure/shares/{share_id}/revoke")
async def revoke_share(request: Request, share_id: str, me: Principal = Depends(staff)):
    share = await call_api(api.get_share, request, me, share_id=share_id)
    await call_api(api.revoke_share, request, me, share_id=share_id)
    return done(f"/ui/disclosure/bundles/{share.bundle_id}",
                f"The link for {share.recipient} is revoked: it now answers 410 Gone.")
