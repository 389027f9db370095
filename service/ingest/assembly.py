"""Where a dock's part bytes go, and how a completed upload becomes one object.

A part of at least 5 MiB goes straight into the upload's "assembly", so completing copies nothing: on
S3 one multipart upload per upload (completing is one CompleteMultipartUpload), on local disk one
pre-allocated file with each part written at its offset (storage/local_slots.py; completing syncs and
renames it). Smaller parts, parts too big to buffer, and on disk a second send of a part whose slot was
written already, are staged as objects of their own and copied in at completion.

The SHA-256 is taken over the bytes as they are stored (the running hash) when this process saw
every part in order; otherwise the assembled object is read back and hashed before it can become a
recording (rule 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from service.context import Context
from service.db import transaction
from service.errors import TooLarge
from service.ids import new_id
from service.ingest import repository as repo
from service.ingest.models import Upload, UploadPart, UploadStatus
from service.storage.base import ASSEMBLY_MIN_PART, AssemblyPart, AssemblyRejected, ObjectInfo, SlotTaken

HASH_BUFFER_MAX = 16 * 1024 * 1024  # parts up to this size are kept in memory for the running hash


@dataclass
class StoredPart:
    size: int
    key: str
    etag: str | None  # set when the part went into the assembly, not to a staged object
    kept: list[bytes] | None  # the bytes, for the running hash (None: too big to buffer)


@dataclass
class Built:
    key: str
    size: int
    digest: str
    method: str  # streamed | re-read
    consumed_assembly: bool  # the direct parts now live only in ``key``


async def _assembly(ctx: Context, upload: Upload) -> tuple[str, str] | None:
    """The upload's assembly (key, id), opened on first use; None when the store has none."""
    async with transaction(ctx.sessions) as s:
        upload = await repo.get_upload(s, upload.id, for_update=True)
        if upload.assembly_id:
            return upload.assembly_key, upload.assembly_id
        key = f"recordings/{new_id('rec')}"
        assembly_id = await ctx.store.begin_assembly(key, content_type=upload.content_type, size=upload.size_bytes,
                                                     part_size=upload.part_size)
        if assembly_id is None:
            return None
        upload.assembly_key, upload.assembly_id = key, assembly_id
        return key, assembly_id


async def reset_assembly(ctx: Context, upload_id: str, assembly_id: str) -> bool:
    """The store refused the upload's assembly (finished by a complete that died before it committed, or
    aborted by a bucket rule): forget it and the parts that lived only in it, so the dock's re-sent parts
    go into a fresh one instead of failing against it for ever. True when this call reset it.

    A complete running now that built from it refuses at its commit (the upload's assembly changed), so
    removing what is left of it never removes a recording's bytes."""
    async with transaction(ctx.sessions) as s:
        upload = await repo.get_upload(s, upload_id, for_update=True)
        if upload is None or upload.status != UploadStatus.OPEN or upload.assembly_id != assembly_id:
            return False
        key = upload.assembly_key
        await repo.delete_direct_parts(s, upload_id)
        upload.assembly_key = upload.assembly_id = None
    if key:
        await ctx.store.discard(key)
    return True


async def store_part(ctx: Context, upload: Upload, n: int, staged_key: str, body: AsyncIterator[bytes],
                     allowance: int) -> StoredPart:
    """Take one part's bytes. A part up to HASH_BUFFER_MAX is held once in memory and that same buffer
    is stored and fed to the running hash; a larger one streams to a staged object."""
    chunks: list[bytes] = []
    received = 0
    it = aiter(body)

    def count(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        if received > allowance:
            raise TooLarge(f"Part {n} is larger than the {allowance} bytes left in the declared size.",
                           slug="part-too-large")

    async for chunk in it:
        if chunk:
            count(chunk)
            chunks.append(chunk)
            if received > HASH_BUFFER_MAX:
                break
    else:
        # The chunks as they arrived go to storage and to the running hash: never joined into a second copy.
        if received >= ASSEMBLY_MIN_PART:
            for attempt in range(2):
                assembly = await _assembly(ctx, upload)
                if assembly is None:
                    break
                key, assembly_id = assembly
                try:
                    etag = await ctx.store.put_assembly_part(key, assembly_id, n, chunks)
                except SlotTaken:
                    break  # on disk: this part's slot was written before, so this send is staged (rule 4)
                except AssemblyRejected:
                    if attempt:
                        raise
                    await reset_assembly(ctx, upload.id, assembly_id)  # then into a fresh one
                    continue
                return StoredPart(received, key, etag, chunks)
        data = b"".join(chunks)
        if data:
            await ctx.store.put_bytes(staged_key, data, content_type="application/octet-stream")
        return StoredPart(len(data), staged_key, None, [data])

    async def rest() -> AsyncIterator[bytes]:
        for c in chunks:
            yield c
        chunks.clear()
        async for c in it:
            if c:
                count(c)
                yield c

    size = await ctx.store.put(staged_key, rest(), content_type="application/octet-stream")
    return StoredPart(size, staged_key, None, None)


async def _hash_of(ctx: Context, key: str, resume: tuple[hashlib._Hash, int] | None = None) -> tuple[str, str]:
    """(digest, method) of the stored object: read back whole, or only past the prefix the running hash
    already covers (``resume``: the hash so far and the byte offset where it stopped)."""
    h, start = resume if resume and resume[1] else (hashlib.sha256(), 0)
    async for chunk in ctx.store.read(key, start):
        h.update(chunk)
    return h.hexdigest(), ("streamed+re-read" if start else "re-read")


async def build(ctx: Context, upload: Upload, parts: list[UploadPart], digest: str | None, new_key: str,
                prefix: tuple[hashlib._Hash, int] | None = None) -> Built:
    """Make the recording's object. ``digest`` is the running hash, when this process has one;
    ``prefix`` the running hash of the first parts only (a hash and how many parts it covers)."""
    resume = (prefix[0], sum(p.size for p in parts[:prefix[1]])) if prefix and prefix[1] else None
    direct = [p for p in parts if p.etag]
    if upload.assembly_id and direct and all(p.etag for p in parts[:-1]):
        key = upload.assembly_key
        if digest is not None and digest != upload.sha256:
            # Refuse before finishing, so every part stays in place for the dock to fix.
            return Built(key="", size=upload.size_bytes, digest=digest, method="streamed", consumed_assembly=False)
        existing = await ctx.store.head(key)
        if existing is None:  # (a complete killed after finishing leaves the object: reuse it)
            plan = [AssemblyPart(p.n, etag=p.etag) if p.etag else AssemblyPart(p.n, source=ObjectInfo(p.key, p.size))
                    for p in parts]
            size = await ctx.store.finish_assembly(key, upload.assembly_id, plan)
        else:
            size, digest = existing.size, None
        method = "streamed"
        if digest is None:
            digest, method = await _hash_of(ctx, key, resume)
        return Built(key, size, digest, method, consumed_assembly=True)

    if direct:
        # Small parts between big ones: S3 cannot finish that as one multipart upload. Finish the
        # big parts as a temporary object and stream everything, in order, into the recording.
        tmp = upload.assembly_key
        if await ctx.store.head(tmp) is None:
            await ctx.store.finish_assembly(tmp, upload.assembly_id, [AssemblyPart(p.n, etag=p.etag) for p in direct])
        h = hashlib.sha256()

        async def ordered() -> AsyncIterator[bytes]:
            offset = 0
            for p in parts:
                src = ctx.store.read(tmp, offset, offset + p.size) if p.etag else ctx.store.read(p.key)
                if p.etag:
                    offset += p.size
                async for chunk in src:
                    h.update(chunk)
                    yield chunk

        size = await ctx.store.put(new_key, ordered(), content_type=upload.content_type)
        await ctx.store.discard(tmp)
        return Built(new_key, size, h.hexdigest(), "re-read", consumed_assembly=True)

    sources = [ObjectInfo(p.key, p.size) for p in parts]
    if digest is not None:
        size = await ctx.store.compose(new_key, sources, content_type=upload.content_type)
        return Built(new_key, size, digest, "streamed", consumed_assembly=False)
    h = hashlib.sha256()
    size = await ctx.store.compose(new_key, sources, content_type=upload.content_type, on_chunk=h.update)
    return Built(new_key, size, h.hexdigest(), "re-read", consumed_assembly=False)
