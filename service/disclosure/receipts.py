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

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.disclosure import repository as repo
from service.disclosure.models import ShareReceipt
from service.disclosure.shares import find_by_token
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
