"""ObjectStore on the S3 API (AWS, MinIO, moto) via boto3.

boto3 is blocking, so every call runs in a worker thread. Uploads stream through 8 MiB parts with
one part uploading while the next fills: memory stays at about two parts whatever the object size.
"""

from __future__ import annotations

import asyncio
import bisect
import io
import itertools
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.storage.base import (
    CHUNK,
    AssemblyPart,
    AssemblyRejected,
    ObjectInfo,
    ObjectNotFound,
    StorageError,
)

PART = 8 * 1024 * 1024
MIN_PART = 5 * 1024 * 1024  # S3's floor for every part but the last
MAX_COPY = 5 * 1024 ** 3  # largest CopyObject / UploadPartCopy source range
COPY_CONCURRENCY = 8
# Parts uploading while the next one fills: memory is (UPLOAD_CONCURRENCY + 1) parts per upload.
UPLOAD_CONCURRENCY = 1
DELETE_BATCH = 1000
READ_TIMEOUT_S = 300
_MISSING = {"NoSuchKey", "404", "NotFound"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


SSE_MODES = ("AES256", "aws:kms")


def sse_args(sse: str | None, kms_key_id: str | None) -> dict[str, str]:
    """BWV_S3_SSE as boto3 arguments; ValueError with an operator's sentence for a bad combination."""
    if not sse:
        if kms_key_id:
            raise ValueError("BWV_S3_SSE_KMS_KEY_ID is set but BWV_S3_SSE is not 'aws:kms'")
        return {}
    if sse not in SSE_MODES:
        raise ValueError(f"BWV_S3_SSE {sse!r} is not one of {', '.join(SSE_MODES)}")
    if sse == "AES256":
        if kms_key_id:
            raise ValueError("BWV_S3_SSE_KMS_KEY_ID needs BWV_S3_SSE=aws:kms, not AES256")
        return {"ServerSideEncryption": "AES256"}
    # Without a key id, aws:kms uses the account's default S3 key.
    return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": kms_key_id} if kms_key_id else {})}


class ChunksBody(io.RawIOBase):
    """A part's chunks as one seekable file for botocore, which reads it to checksum and send and rewinds
    it to retry, without joining them into a second copy of the part."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        super().__init__()
        self._chunks = [memoryview(c) for c in chunks if c]
        self._starts = list(itertools.accumulate((len(c) for c in self._chunks), initial=0))
        self._size = self._starts[-1]
        self._pos = 0

    def __len__(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(0, base + offset), self._size)
        return self._pos

    def readinto(self, buffer) -> int:
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            chunk = self._chunks[i][self._pos - self._starts[i]:]
            n = min(len(chunk), len(out) - done)
            out[done:done + n] = chunk[:n]
            done += n
            self._pos += n
        return done


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str = "us-east-1", *, upload_concurrency: int = UPLOAD_CONCURRENCY,
                 sse: str | None = None, sse_kms_key_id: str | None = None) -> None:
        self.bucket = bucket
        self._sse = sse_args(sse, sse_kms_key_id)
        self.upload_concurrency = max(1, upload_concurrency)
        self.prefix = prefix.strip("/")
        self.region = region
        config = Config(
            region_name=region,
            max_pool_connections=32,
            # A part is up to 64 MiB: botocore's default 60 s read timeout is short for a store loaded by a
            # shift change, and a timed-out part is sent again whole.
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": 5, "mode": "standard"},
            # Self-hosted servers (MinIO, moto) are addressed by path, not by bucket sub-domain.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # A private session: boto3's default session is not thread-safe to create clients from.
        self._client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self._versioned: bool | None = None
        self._locked: bool | None = None

    # ---- plumbing --------------------------------------------------------------------------

    def _write_args(self, content_type: str | None) -> dict[str, Any]:
        """Arguments for every call that creates an object (PutObject, CreateMultipartUpload, CopyObject):
        its type and the server-side encryption. Parts inherit the encryption of their multipart upload."""
        return {**({"ContentType": content_type} if content_type else {}), **self._sse}

    def _full(self, key: str) -> str:
        if not key:
            raise StorageError("empty object key")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    async def _call(self, op: str, key: str | None = None, **kwargs: Any) -> Any:
        """Run one client call in a thread, turning botocore failures into StorageError."""
        return await self._in_thread(op, key, lambda: getattr(self._client, op)(Bucket=self.bucket, **kwargs))

    async def _in_thread(self, op: str, key: str | None, fn: Callable[[], Any]) -> Any:
        """Run blocking boto3 work (one call, or a paginator's many) with the same error translation."""
        try:
            return await asyncio.to_thread(fn)
        except ClientError as exc:
            raise self._wrap(exc, op, key) from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {op} on bucket {self.bucket!r} failed: {exc}") from exc

    def _wrap(self, exc: ClientError, op: str, key: str | None) -> StorageError:
        err = exc.response.get("Error", {})
        where = f"s3://{self.bucket}/{self._full(key)}" if key else f"bucket {self.bucket!r}"
        msg = f"S3 {op} on {where} failed: {err.get('Code')}: {err.get('Message', '')}"
        return ObjectNotFound(msg) if _code(exc) in _MISSING else StorageError(msg)

    # ---- streaming multipart upload --------------------------------------------------------

    async def _upload(self, key: str, chunks: AsyncIterable[bytes], content_type: str | None) -> int:
        full = self._full(key)
        extra = self._write_args(content_type)
        buf = bytearray()
        total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        inflight: set[asyncio.Task[None]] = set()
        number = 0

        async def send(number: int, body: bytes) -> None:
            resp = await self._call("upload_part", key, Key=full, UploadId=upload_id, PartNumber=number,
                                    Body=body)
            parts.append({"PartNumber": number, "ETag": resp["ETag"]})

        async def flush(body: bytes) -> None:
            nonlocal upload_id, number
            if upload_id is None:
                resp = await self._call("create_multipart_upload", key, Key=full, **extra)
                upload_id = resp["UploadId"]
            while len(inflight) >= self.upload_concurrency:
                done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                inflight.difference_update(done)
                for t in done:
                    t.result()  # surface a failed part now, not after the whole stream
            number += 1
            inflight.add(asyncio.create_task(send(number, body)))

        try:
            async for chunk in chunks:
                buf += chunk
                total += len(chunk)
                # Flush only when strictly over a part, so an object of exactly one part (and the
                # final part) is never empty and small objects take the single-request path.
                while len(buf) > PART:
                    body = bytes(memoryview(buf)[:PART])  # one copy, not slice-then-copy
                    del buf[:PART]
                    await flush(body)
            if upload_id is None:
                await self._call("put_object", key, Key=full, Body=bytes(buf), **extra)
                return total
            await flush(bytes(buf))
            for t in list(inflight):
                inflight.discard(t)
                await t
            parts.sort(key=lambda p: p["PartNumber"])
            await self._call("complete_multipart_upload", key, Key=full, UploadId=upload_id,
                             MultipartUpload={"Parts": parts})
            return total
        except BaseException:
            if inflight:
                # Let parts in flight finish (and retrieve their errors) before aborting the upload.
                await asyncio.gather(*(asyncio.shield(t) for t in inflight), return_exceptions=True)
            if upload_id is not None:
                await self._abort(key, full, upload_id)
            raise

    async def _abort(self, key: str, full: str, upload_id: str) -> None:
        try:
            await asyncio.shield(self._call("abort_multipart_upload", key, Key=full, UploadId=upload_id))
        except (StorageError, asyncio.CancelledError):
            pass  # best effort; a bucket lifecycle rule reaps what is left

    async def put(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        return await self._upload(key, chunks, content_type)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        extra = self._write_args(content_type)
        await self._call("put_object", key, Key=self._full(key), Body=data, **extra)

    # ---- assemblies: a dock's parts go straight into one multipart upload --------------------

    async def begin_assembly(self, key: str, *, content_type: str | None = None, size: int | None = None,
                             part_size: int | None = None) -> str | None:
        extra = self._write_args(content_type)
        resp = await self._call("create_multipart_upload", key, Key=self._full(key), **extra)
        return resp["UploadId"]

    async def put_assembly_part(self, key: str, assembly_id: str, number: int,
                                data: bytes | Sequence[bytes]) -> str:
        body = data if isinstance(data, bytes) else ChunksBody(data)
        try:
            resp = await self._call("upload_part", key, Key=self._full(key), UploadId=assembly_id,
                                    PartNumber=number, Body=body)
        except StorageError as exc:
            if await self._assembly_gone(key, assembly_id, exc):
                raise AssemblyRejected(f"the assembly is gone (finished or aborted): {exc}") from exc
            raise
        return resp["ETag"]

    async def _assembly_gone(self, key: str, assembly_id: str, exc: StorageError) -> bool:
        """Whether a failed call failed because the multipart upload no longer exists. S3 says NoSuchUpload;
        some servers (moto's upload_part_copy) answer 500 instead, so ask S3 about the upload itself."""
        cause = exc.__cause__
        if isinstance(cause, ClientError) and _code(cause) == "NoSuchUpload":
            return True
        try:
            await self._call("list_parts", key, Key=self._full(key), UploadId=assembly_id, MaxParts=1)
        except StorageError as probe:
            return isinstance(probe.__cause__, ClientError) and _code(probe.__cause__) in ("NoSuchUpload", "404")
        return False

    async def finish_assembly(self, key: str, assembly_id: str, parts: list[AssemblyPart]) -> int:
        full = self._full(key)
        done = []
        try:
            for p in parts:
                if p.etag is not None:
                    done.append({"PartNumber": p.number, "ETag": p.etag})
                    continue
                r = await self._call("upload_part_copy", p.source.key, Key=full, UploadId=assembly_id,
                                     PartNumber=p.number,
                                     CopySource={"Bucket": self.bucket, "Key": self._full(p.source.key)})
                done.append({"PartNumber": p.number, "ETag": r["CopyPartResult"]["ETag"]})
            await self._call("complete_multipart_upload", key, Key=full, UploadId=assembly_id,
                             MultipartUpload={"Parts": done})
        except StorageError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and _code(cause) in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
                raise AssemblyRejected(str(exc)) from exc
            if await self._assembly_gone(key, assembly_id, exc):
                raise AssemblyRejected(f"the assembly is gone (finished or aborted): {exc}") from exc
            raise
        return await self._size(key)

    # ---- compose ---------------------------------------------------------------------------

    async def compose(self, key: str, sources: list[ObjectInfo], *, content_type: str | None = None,
                      on_chunk: Callable[[bytes], None] | None = None) -> int:
        nonempty = [s for s in sources if s.size > 0]
        if on_chunk is None and nonempty and all(s.size >= MIN_PART for s in nonempty[:-1]):
            return await self._compose_server_side(key, nonempty, content_type)

        async def stream() -> AsyncIterator[bytes]:
            for src in sources:
                async for chunk in self._read(src.key, 0, None, on_chunk):
                    yield chunk

        return await self._upload(key, stream(), content_type)

    async def _compose_server_side(self, key: str, sources: list[ObjectInfo],
                                   content_type: str | None) -> int:
        full = self._full(key)
        extra = self._write_args(content_type)
        if len(sources) == 1 and sources[0].size <= MAX_COPY:
            src = sources[0]
            if content_type:
                extra["MetadataDirective"] = "REPLACE"
            await self._call("copy_object", src.key, Key=full,
                             CopySource={"Bucket": self.bucket, "Key": self._full(src.key)}, **extra)
            return await self._size(key)

        # Over-size sources split evenly so every piece but the last stays above MIN_PART.
        pieces: list[tuple[ObjectInfo, str | None]] = []
        for src in sources:
            n = math.ceil(src.size / MAX_COPY)
            if n <= 1:
                pieces.append((src, None))
                continue
            step = math.ceil(src.size / n)
            pieces += [(src, f"bytes={a}-{min(a + step, src.size) - 1}") for a in range(0, src.size, step)]

        resp = await self._call("create_multipart_upload", key, Key=full, **extra)
        upload_id = resp["UploadId"]
        gate = asyncio.Semaphore(COPY_CONCURRENCY)

        async def copy(number: int, src: ObjectInfo, rng: str | None) -> dict[str, Any]:
            kw = {"CopySourceRange": rng} if rng else {}
            async with gate:
                r = await self._call("upload_part_copy", src.key, Key=full, UploadId=upload_id,
                                     PartNumber=number,
                                     CopySource={"Bucket": self.bucket, "Key": self._full(src.key)}, **kw)
            return {"PartNumber": number, "ETag": r["CopyPartResult"]["ETag"]}

        try:
            tasks = [asyncio.create_task(copy(i, s, r)) for i, (s, r) in enumerate(pieces, start=1)]
            try:
                parts = await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            await self._call("complete_multipart_upload", key, Key=full, UploadId=upload_id,
                             MultipartUpload={"Parts": list(parts)})
        except BaseException:
            await self._abort(key, full, upload_id)
            raise
        return await self._size(key)

    async def _size(self, key: str) -> int:
        info = await self.head(key)
        if info is None:
            raise StorageError(f"s3://{self.bucket}/{self._full(key)} vanished right after it was written")
        return info.size

    # ---- reads -----------------------------------------------------------------------------

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async for chunk in self._read(key, start, end, None):
            yield chunk

    async def _read(self, key: str, start: int, end: int | None,
                    on_chunk: Callable[[bytes], None] | None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < 0):
            raise StorageError(f"invalid range [{start}, {end}) for {key!r}")
        if end is not None and end <= start:
            return
        kw: dict[str, Any] = {}
        if start or end is not None:
            kw["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            resp = await self._call("get_object", key, Key=self._full(key), **kw)
        except StorageError as exc:
            if isinstance(exc.__cause__, ClientError) and _code(exc.__cause__) == "InvalidRange":
                return  # start at or past the end: the range is empty
            raise
        body = resp["Body"]
        it = body.iter_chunks(CHUNK)

        def pull(it: Iterator[bytes]) -> bytes | None:
            # on_chunk runs in the same worker thread so hashing never blocks the event loop.
            chunk = next(it, None)
            if chunk and on_chunk is not None:
                on_chunk(chunk)
            return chunk

        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(pull, it)
                except (BotoCoreError, OSError) as exc:
                    where = f"s3://{self.bucket}/{self._full(key)}"
                    raise StorageError(f"S3 read of {where} failed: {exc}") from exc
                if chunk is None:
                    break
                if chunk:
                    yield chunk
        finally:
            body.close()

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            resp = await self._call("head_object", key, Key=self._full(key))
        except ObjectNotFound:
            return None
        return ObjectInfo(key=key, size=int(resp["ContentLength"]), version=resp.get("VersionId"))

    async def list(self, prefix: str) -> list[ObjectInfo]:
        full = self._full(prefix) if prefix else (self.prefix + "/" if self.prefix else "")

        def run() -> list[ObjectInfo]:
            out: list[ObjectInfo] = []
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
            for page in pages:
                out += [ObjectInfo(self._rel(o["Key"]), int(o["Size"])) for o in page.get("Contents", [])]
            return out

        return await self._in_thread("list_objects_v2", None, run)

    # ---- deletes ---------------------------------------------------------------------------

    async def _is_versioned(self) -> bool:
        if self._versioned is None:
            resp = await self._call("get_bucket_versioning")
            # A suspended bucket still holds the versions written while it was enabled.
            self._versioned = resp.get("Status") in ("Enabled", "Suspended")
        return self._versioned

    async def _versions(self, key: str) -> list[dict[str, str]]:
        full = self._full(key)

        def run() -> list[dict[str, str]]:
            found: list[dict[str, str]] = []
            paginator = self._client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if v["Key"] == full:  # Prefix also matches longer keys
                        found.append({"Key": full, "VersionId": v["VersionId"]})
            return found

        return await self._in_thread("list_object_versions", key, run)

    async def _versions_in_one_listing(self, keys: list[str]) -> list[dict[str, str]] | None:
        """Every version of ``keys`` from one listing of their common prefix (a sweep's batch shares a
        long one: ids are time-ordered). None when that prefix holds too much else to be worth it."""
        fulls = {self._full(k) for k in keys}
        common = os.path.commonprefix(sorted(fulls))
        budget = max(10 * len(keys), 10_000)

        def run() -> list[dict[str, str]] | None:
            found: list[dict[str, str]] = []
            seen = 0
            for page in self._client.get_paginator("list_object_versions").paginate(Bucket=self.bucket,
                                                                                   Prefix=common):
                entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
                seen += len(entries)
                if seen > budget:
                    return None
                found += [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in entries if v["Key"] in fulls]
            return found

        return await self._in_thread("list_object_versions", None, run)

    async def delete(self, keys: list[str], versions: dict[str, str] | None = None) -> list[str]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return []
        if await self._is_versioned():
            # Deleting without a VersionId only stacks a delete marker; every version must go.
            wanted = set(keys)
            known = {k: v for k, v in (versions or {}).items() if k in wanted and v and v != "null"}
            objects = [{"Key": self._full(k), "VersionId": v} for k, v in known.items()]
            unknown = [k for k in keys if k not in known]
            listed = await self._versions_in_one_listing(unknown) if len(unknown) > 1 else None
            if listed is not None:
                objects += listed
            elif unknown:
                gate = asyncio.Semaphore(COPY_CONCURRENCY)

                async def of(k: str) -> list[dict[str, str]]:
                    async with gate:
                        return await self._versions(k)

                objects += [o for vs in await asyncio.gather(*(of(k) for k in unknown)) for o in vs]
        else:
            objects = [{"Key": self._full(k)} for k in keys]
        failed: set[str] = set()
        for i in range(0, len(objects), DELETE_BATCH):
            batch = objects[i:i + DELETE_BATCH]
            resp = await self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})
            failed.update(self._rel(e["Key"]) for e in resp.get("Errors", []))
        return [k for k in keys if k in failed]

    # ---- the rest --------------------------------------------------------------------------

    async def discard(self, prefix: str) -> list[str]:
        full = self._full(prefix)

        def open_uploads() -> list[tuple[str, str]]:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full)
            return [(u["Key"], u["UploadId"]) for page in pages for u in page.get("Uploads", [])]

        uploads = await self._in_thread("list_multipart_uploads", prefix, open_uploads)
        for full_key, upload_id in uploads:
            await self._abort(self._rel(full_key), full_key, upload_id)
        return await self.delete([o.key for o in await self.list(prefix)])

    async def local_path(self, key: str) -> str | None:
        # Never a presigned URL: it would sit, credentials and all, on an ffmpeg command line that
        # every local user can read with ps (service.media.source serves ffmpeg over loopback).
        return None

    async def _has_object_lock(self) -> bool:
        if self._locked is None:
            try:
                resp = await self._call("get_object_lock_configuration")
                self._locked = resp.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except ObjectNotFound:
                self._locked = False
            except StorageError as exc:
                if not isinstance(exc.__cause__, ClientError):
                    raise  # the server could not be reached: do not cache a guess
                self._locked = False  # ObjectLockConfigurationNotFoundError, or a server without it
        return self._locked

    async def set_legal_hold(self, key: str, on: bool) -> bool:
        if not await self._has_object_lock():
            return False
        await self._call("put_object_legal_hold", key, Key=self._full(key),
                         LegalHold={"Status": "ON" if on else "OFF"})
        return True

    async def _retained_until(self, key: str) -> datetime | None:
        # From HeadObject: it needs only s3:GetObject, and moto has no GetObjectRetention.
        resp = await self._call("head_object", key, Key=self._full(key))
        return resp.get("ObjectLockRetainUntilDate") if resp.get("ObjectLockMode") == "COMPLIANCE" else None

    async def extend_retention(self, key: str, until: datetime) -> bool:
        """COMPLIANCE retention, which nobody (root included) can shorten or remove before it ends: the
        legal hold alone can be lifted by whoever holds the app's key. Never shortens: AWS and MinIO
        refuse that for COMPLIANCE anyway, moto does not, and a stale caller must not try."""
        if not await self._has_object_lock():
            return False
        current = await self._retained_until(key)
        if current is not None and current >= until:
            return True
        try:
            await self._call("put_object_retention", key, Key=self._full(key),
                             Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})
        except StorageError:
            # Another process may have rolled it further meanwhile; storage refuses to go back.
            current = await self._retained_until(key)
            if current is None or current < until:
                raise
        return True

    async def ping(self) -> None:
        try:
            await self._call("head_bucket")
        except StorageError as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is not usable: {exc}") from exc

    async def ensure_bucket(self, object_lock: bool = False) -> None:
        """Create the bucket if it does not exist (tests, ``bwv demo``, docker-compose setups).

        Object Lock can only be switched on at creation; an existing bucket is left as it is.
        """
        kw: dict[str, Any] = {}
        if self.region != "us-east-1":
            kw["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        if object_lock:
            kw["ObjectLockEnabledForBucket"] = True
        try:
            await self._call("create_bucket", **kw)
        except StorageError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, ClientError) and _code(cause) in ("BucketAlreadyOwnedByYou",
                                                                        "BucketAlreadyExists")):
                raise
            # BucketAlreadyExists may mean someone else's bucket: usable only if we can reach it.
            await self.ping()
        self._versioned = None
        self._locked = None
        # A crashed writer's multipart upload holds storage until aborted; S3 reaps them after a week.
        try:
            await self._call("put_bucket_lifecycle_configuration", LifecycleConfiguration={"Rules": [
                {"ID": "bwv-abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]})
        except StorageError:
            pass  # not every S3 implementation has lifecycle rules; the janitor still discards leftovers

    async def close(self) -> None:
        self._client.close()
