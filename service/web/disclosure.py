"""Console pages: CPS cases, exhibits picked from a footage search, bundles with live progress, and
share links (create, copy, revoke, access log).

Each page calls the disclosure services as the signed-in person, in the request's one transaction: the
role checks, validation, audit and errors are the services' own; the console only turns forms into
request models and answers into pages.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.roles import DISCLOSURE_STAFF
from service.auth.schemas import Principal
from service.deps import ContextDep, SessionDep
from service.disclosure import bundles, listing, outcomes, service, shares
from service.disclosure.models import FINISHED, BundleStatus, CaseStatus
from service.disclosure.schemas import CaseIn, ItemIn, OutcomeIn, ReasonIn, ShareIn, ShareOut
from service.http_range import ranged_response
from service.paging import page_params
from service.recordings import service as recordings
from service.recordings.models import RecordingStatus
from service.timeutil import iso, parse_time
from service.web.deps import form_model, is_htmx, signed_in
from service.web.pageutil import utc_field, with_numbers
from service.web.render import console_router, done, fragment, render

router = console_router()
staff = signed_in(*DISCLOSURE_STAFF)
SEARCH_FIELDS = ("officer_id", "device_id", "from", "to")
SEARCH_LIMIT = 25


def _local(dt: datetime) -> str:
    """The value a ``datetime-local`` input shows for a UTC time."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# --- Cases ---

@router.get("/ui/disclosure/cases")
async def cases(request: Request, s: SessionDep, open_cursor: str | None = None, closed_cursor: str | None = None,
                me: Principal = Depends(staff)):
    opened = await listing.list_cases(s, me, page_params(cursor=open_cursor), status=CaseStatus.OPEN)
    closed = await listing.list_cases(s, me, page_params(limit=20, cursor=closed_cursor), status=CaseStatus.CLOSED)
    return render(request, "disclosure/cases.html", me, title="Cases", opened=opened, closed=closed,
                  open_cursor=open_cursor, closed_cursor=closed_cursor)


@router.post("/ui/disclosure/cases")
async def create_case(request: Request, s: SessionDep, ctx: ContextDep, me: Principal = Depends(staff)):
    body = form_model(CaseIn, dict(await request.form()))
    case = await service.create_case(s, me, ctx, body)
    return done(f"/ui/disclosure/cases/{case.id}", f"Case {case.urn} opened. Add its exhibits below.")


def _search_query(params) -> dict[str, str]:
    return {k: params[k].strip() for k in SEARCH_FIELDS if params.get(k, "").strip()}


async def _search(s: AsyncSession, me: Principal, query: dict[str, str]):
    """Footage matching the search, through the recordings service (so it is scoped and audited as a search)."""
    return await recordings.search(s, me, page_params(limit=SEARCH_LIMIT), status=RecordingStatus.ACTIVE,
                                   officer_id=query.get("officer_id"), device_id=query.get("device_id"),
                                   start=parse_time(utc_field(query.get("from")), "from"),
                                   end=parse_time(utc_field(query.get("to")), "to"))


@router.get("/ui/disclosure/cases/{case_id}")
async def case_page(request: Request, s: SessionDep, ctx: ContextDep, case_id: str, me: Principal = Depends(staff)):
    case = await listing.case_view(s, me, case_id, ctx)
    case_bundles = await listing.case_bundles(s, me, case_id, page_params(limit=20))
    # Without JavaScript the search form submits here; with htmx it loads the results in place.
    query = _search_query(request.query_params)
    results = await _search(s, me, query) if request.query_params.get("search") else None
    return render(request, "disclosure/case.html", me, title=f"Case {case.urn}", case=case, bundles=case_bundles,
                  query=query, results=results, search_limit=SEARCH_LIMIT, outcomes=OUTCOME_WORDS)


@router.get("/ui/disclosure/cases/{case_id}/search")
async def case_search(request: Request, s: SessionDep, case_id: str, me: Principal = Depends(staff)):
    case = await listing.case_view(s, me, case_id)
    query = _search_query(request.query_params)
    results = await _search(s, me, query)
    return fragment(request, "disclosure/_search_results.html", case=case, results=results, query=query,
                    search_limit=SEARCH_LIMIT)


@router.post("/ui/disclosure/cases/{case_id}/items")
async def add_exhibit(request: Request, s: SessionDep, ctx: ContextDep, case_id: str, me: Principal = Depends(staff)):
    body = form_model(ItemIn, with_numbers(dict(await request.form())))
    item, _ = await service.add_item(s, me, ctx, case_id, body)
    return done(f"/ui/disclosure/cases/{case_id}",
                f"Exhibit {item.exhibit_ref} added; the recording is flagged as evidence and held with the case.")


@router.post("/ui/disclosure/cases/{case_id}/bundles")
async def build_bundle(s: SessionDep, ctx: ContextDep, case_id: str, me: Principal = Depends(staff)):
    bundle = await bundles.request_bundle(s, me, ctx, case_id)
    return done(f"/ui/disclosure/bundles/{bundle.id}", "Bundle requested: it is being built.")


@router.post("/ui/disclosure/cases/{case_id}/close")
async def close_case(request: Request, s: SessionDep, ctx: ContextDep, case_id: str, me: Principal = Depends(staff)):
    body = form_model(ReasonIn, dict(await request.form()))
    case = await service.close_case(s, me, ctx, case_id, body.reason)
    return done(f"/ui/disclosure/cases/{case_id}",
                f"Case {case.urn} closed; its hold is released (the evidence flags stay).")


OUTCOME_WORDS = {"convicted": "Convicted", "acquitted": "Acquitted", "no_further_action": "No further action",
                 "discontinued": "Discontinued", "other": "Other"}


@router.post("/ui/disclosure/cases/{case_id}/outcome")
async def record_outcome(request: Request, s: SessionDep, ctx: ContextDep, case_id: str,
                         me: Principal = Depends(staff)):
    form = dict(await request.form())
    data = {"outcome": form.get("outcome", ""), "decided_at": utc_field(form.get("decided_at"))}
    for k in ("custody_release_at", "appeal_until"):
        if form.get(k):
            data[k] = utc_field(form.get(k))
    if (form.get("reason") or "").strip():
        data["reason"] = form["reason"]
    row = await outcomes.record_outcome(s, me, ctx, case_id, form_model(OutcomeIn, data))
    _, ret = await outcomes.outcome_view(s, ctx, case_id)
    until = f"kept until {iso(ret['retain_until'])}, " if ret["retain_until"] else ""
    return done(f"/ui/disclosure/cases/{case_id}",
                f"Outcome recorded: {OUTCOME_WORDS.get(row.outcome, row.outcome)}. The exhibits are {until}"
                f"reviewed {iso(ret['review_at'])}.")


# --- Bundles and their shares ---

async def _bundle_view(s: AsyncSession, me: Principal, bundle_id: str) -> dict[str, Any]:
    bundle = await listing.get_bundle(s, me, bundle_id)
    view: dict[str, Any] = {"bundle": bundle, "finished": bundle.status in FINISHED, "shares": [],
                            "shares_more": None, "case": None}
    if bundle.case_id:
        view["case"] = await listing.case_view(s, me, bundle.case_id)
    if bundle.status == BundleStatus.READY:
        listed = await listing.bundle_shares(s, me, bundle_id, page_params())
        # Each share with its access log (the audit's record of every use of the link).
        view["shares"] = [await listing.share_detail(s, me, sh.share_id) for sh in listed.items]
        view["shares_more"] = listed.next_cursor
    view["default_expiry"] = _local(datetime.now(UTC) + timedelta(days=28))
    view["min_expiry"] = _local(datetime.now(UTC))
    return view


@router.get("/ui/disclosure/bundles/{bundle_id}")
async def bundle_page(request: Request, s: SessionDep, bundle_id: str, me: Principal = Depends(staff)):
    view = await _bundle_view(s, me, bundle_id)
    return render(request, "disclosure/bundle.html", me, title=f"Bundle {bundle_id}", **view)


@router.get("/ui/disclosure/bundles/{bundle_id}/panel")
async def bundle_panel(request: Request, s: SessionDep, bundle_id: str, me: Principal = Depends(staff)):
    """What the bundle page polls while the bundle is queued or building."""
    return fragment(request, "disclosure/_bundle_panel.html", **await _bundle_view(s, me, bundle_id))


@router.get("/ui/disclosure/bundles/{bundle_id}/download")
async def download(request: Request, s: SessionDep, ctx: ContextDep, bundle_id: str, me: Principal = Depends(staff)):
    b, rng = await bundles.download(s, me, bundle_id, request.headers.get("range"))
    return ranged_response(ctx.store.read(b.storage_key, rng.start, rng.end), rng, b.size_bytes,
                           "application/zip", etag=b.sha256, filename=f"{b.id}.zip")


@router.post("/ui/disclosure/bundles/{bundle_id}/shares")
async def create_share(request: Request, s: SessionDep, ctx: ContextDep, bundle_id: str,
                       me: Principal = Depends(staff)):
    form = dict(await request.form())
    form["expires_at"] = utc_field(form.get("expires_at"))
    body = form_model(ShareIn, form)
    share, token = await shares.create_share(s, me, bundle_id, body.recipient, body.expires_at, body.max_downloads)
    new_share = ShareOut.of(share, shares.link_url(ctx.settings.public_base_url, token))
    # The link exists only in this answer (the server keeps a hash of its token), so this is rendered
    # straight from the POST rather than redirected: a redirect would have to store the link somewhere.
    view = await _bundle_view(s, me, bundle_id)
    if is_htmx(request):
        return fragment(request, "disclosure/_share_list.html", new_share=new_share, **view)
    return render(request, "disclosure/bundle.html", me, title=f"Bundle {bundle_id}", new_share=new_share, **view)


@router.post("/ui/disclosure/shares/{share_id}/revoke")
async def revoke_share(s: SessionDep, share_id: str, me: Principal = Depends(staff)):
    share = await shares.revoke(s, me, share_id)
    return done(f"/ui/disclosure/bundles/{share.bundle_id}",
                f"The link for {share.recipient} is revoked: it now answers 410 Gone.")
