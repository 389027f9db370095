"""Receipts: the recipient of a share link acknowledges what arrived, and the force signs that
acknowledgement, closing continuity from its side (who received which bytes, when).

A receipt needs a download to have started (409 ``receipt-before-download`` before): acknowledging a
bundle nobody fetched would prove nothing. The signed bytes are the compact, key-sorted JSON of
``{bundle_id, bundle_sha256, key_id, name, organisation, received_at, receipt_id, share_id}`` (see
:func:`message`), verifiable with the force's published key and OpenSSL.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.disclosure import repository as repo
from service.disclosure.models import BundleStatus, ShareReceipt
from service.disclosure.shares import find_by_token, state
from service.errors import Conflict
from service.ids import new_id
from service.signing.keys import Signer
from service.timeutil import iso, utcnow


def message(r: ShareReceipt) -> bytes:
    doc = {"receipt_id": r.id, "share_id": r.share_id, "bundle_id": r.bundle_id, "bundle_sha256": r.bundle_sha256,
           "name": r.name, "organisation": r.organisation, "received_at": iso(r.received_at), "key_id": r.key_id}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def acknowledge(s: AsyncSession, signer: Signer, token: str, name: str, organisation: str,
                      ip: str | None, user_agent: str | None) -> ShareReceipt:
    """No login (the token is the capability): a signed receipt for the bundle behind *token*. Audited."""
    share = await find_by_token(s, token)
    if share.downloads == 0:
        raise Conflict("Download the bundle before acknowledging it.", slug="receipt-before-download")
    bundle = await repo.get_bundle(s, share.bundle_id)
    r = ShareReceipt(id=new_id("rct"), share_id=share.id, bundle_id=bundle.id, name=name.strip(),
                     organisation=organisation.strip(), bundle_sha256=bundle.sha256,
                     received_at=utcnow().replace(microsecond=0), key_id=signer.key_id, signature="")
    r.signature = base64.b64encode(signer.sign(message(r))).decode()
    await repo.add_receipt(s, r)
    who = Principal(sub="share-link", roles=frozenset(), ip=ip, user_agent=user_agent)
    await audit.record(s, who, "share.receipt", "bundle", bundle.id,
                       {"share_id": share.id, "receipt_id": r.id, "name": r.name, "organisation": r.organisation,
                        "bundle_sha256": r.bundle_sha256, "user_agent": user_agent})
    return r


@dataclass
class RecipientView:
    """What the recipient's page shows: never who else the force shares with, nor staff details."""

    recipient: str
    state: str
    downloads: int
    max_downloads: int
    expires_at: datetime
    size_bytes: int | None
    bundle_sha256: str | None
    ready: bool
    receipts: list[ShareReceipt]


async def recipient_view(s: AsyncSession, token: str, ip: str | None, user_agent: str | None) -> RecipientView:
    """The share behind *token*, for its recipient's page (404 for any other string). Audited as an access."""
    share = await find_by_token(s, token)
    bundle = await repo.get_bundle(s, share.bundle_id)
    who = Principal(sub="share-link", roles=frozenset(), ip=ip, user_agent=user_agent)
    await audit.record(s, who, "share.page_opened", "bundle", bundle.id,
                       {"share_id": share.id, "recipient": share.recipient, "user_agent": user_agent})
    return RecipientView(recipient=share.recipient, state=state(share, utcnow(), bundle.size_bytes),
                         downloads=share.downloads, max_downloads=share.max_downloads, expires_at=share.expires_at,
                         size_bytes=bundle.size_bytes, bundle_sha256=bundle.sha256,
                         ready=bundle.status == BundleStatus.READY, receipts=await repo.receipts_of(s, [share.id]))
