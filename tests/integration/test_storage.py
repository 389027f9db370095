"""Both ObjectStore backends against the same contract: local disk and S3 (moto's real HTTP server)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# tests/ is not an installed package and tests/integration has no __init__.py.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from service.storage.base import (  # noqa: E402
    CHUNK,
    AssemblyPart,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
)
from service.storage.local import TMP_MARK, LocalStore  # noqa: E402
from service.storage.s3 import S3Store  # noqa: E402
from tests.fixtures import s3 as s3_fixtures  # noqa: E402
from tests.fixtures.s3 import make_bucket, s3_client  # noqa: E402

# Fixtures used here; tests/conftest.py may also register tests.fixtures.s3 as a plugin, which is harmless.
s3_endpoint = s3_fixtures.s3_endpoint
s3_bucket = s3_fixtures.s3_bucket

MiB = 1024 * 1024


def pattern(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


async def stream(data: bytes, step: int = MiB + 7) -> AsyncIterator[bytes]:
    # An odd chunk size so backends must re-chunk rather than rely on aligned input.
    for i in range(0, len(data), step):
        yield data[i:i + step]


async def read_all(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    out = bytearray()
    async for chunk in store.read(key, start, end):
        assert 0 < len(chunk) <= CHUNK
        out += chunk
    return bytes(out)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        s: ObjectStore = LocalStore(str(tmp_path / "objects"))
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        # A key prefix, so the mapping to and from bucket keys is exercised too.
        s = S3Store(request.getfixturevalue("s3_bucket"), prefix="bwv", endpoint_url=endpoint)
    assert isinstance(s, ObjectStore)
    yield s
    await s.close()


class CopySpy:
    """Counts server-side part copies, to tell which compose path an S3 store took."""

    def __init__(self, store: ObjectStore) -> None:
        self.calls = 0
        if isinstance(store, S3Store):
            real = store._client.upload_part_copy

            def spy(**kw):
                self.calls += 1
                return real(**kw)

            store._client.upload_part_copy = spy


# ---- put / read ------------------------------------------------------------------------------

async def test_round_trip_and_ranges(store: ObjectStore) -> None:
    await store.put_bytes("small/one", b"hello world", content_type="text/plain")
    assert await read_all(store, "small/one") == b"hello world"
    assert await read_all(store, "small/one", 6) == b"world"
    assert await read_all(store, "small/one", 2, 5) == b"llo"

    data = pattern(3 * MiB + 11, seed=1)
    assert await store.put("rec/a", stream(data), content_type="video/mp4") == len(data)
    assert await store.head("rec/a") == ObjectInfo("rec/a", len(data))
    assert await read_all(store, "rec/a") == data
    for start, end in [(0, None), (5, 17), (MiB - 3, MiB + 5), (MiB, 2 * MiB + 1), (len(data) - 4, None),
                       (10, len(data)), (7, len(data) + 100), (len(data), None), (4, 4)]:
        assert await read_all(store, "rec/a", start, end) == data[start:end], (start, end)

    with pytest.raises(ObjectNotFound):
        await read_all(store, "rec/missing")
    assert await store.head("rec/missing") is None


async def test_put_overwrites(store: ObjectStore) -> None:
    await store.put("k", stream(b"first version, longer"))
    await store.put("k", stream(b"second"))
    assert await read_all(store, "k") == b"second"


async def test_empty_object(store: ObjectStore) -> None:
    assert await store.put("empty", stream(b"")) == 0
    assert await store.head("empty") == ObjectInfo("empty", 0)
    assert await read_all(store, "empty") == b""


async def test_put_stream_larger_than_a_part(store: ObjectStore) -> None:
    data = pattern(20 * MiB + 123, seed=2)
    assert await store.put("big/20m", stream(data)) == len(data)
    assert (await store.head("big/20m")).size == len(data)
    got = hashlib.sha256()
    async for chunk in store.read("big/20m"):
        got.update(chunk)
    assert got.hexdigest() == sha(data)
    # Across the 8 MiB part boundary of a multipart upload.
    assert await read_all(store, "big/20m", 8 * MiB - 10, 8 * MiB + 10) == data[8 * MiB - 10:8 * MiB + 10]


async def test_failed_put_leaves_nothing(store: ObjectStore, tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield pattern(10 * MiB, seed=3)  # enough to have started a multipart upload on S3
        raise RuntimeError("dock went away")

    with pytest.raises(RuntimeError, match="dock went away"):
        await store.put("up/broken", broken())
    assert await store.head("up/broken") is None
    assert await store.list("up/") == []
    if isinstance(store, S3Store):
        uploads = store._client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []
    else:
        assert not [p for p in (tmp_path / "objects").rglob("*") if p.name.startswith(TMP_MARK)]


# ---- compose ---------------------------------------------------------------------------------

async def _compose_and_check(store: ObjectStore, sizes: list[int], with_hook: bool) -> int:
    parts = [pattern(n, seed=10 + i) for i, n in enumerate(sizes)]
    for i, p in enumerate(parts):
        await store.put(f"up/x/{i}.v1", stream(p))
    sources = [ObjectInfo(f"up/x/{i}.v1", len(p)) for i, p in enumerate(parts)]
    whole = b"".join(parts)
    seen = hashlib.sha256()
    seen_len = 0

    def hook(chunk: bytes) -> None:
        nonlocal seen_len
        seen.update(chunk)
        seen_len += len(chunk)

    spy = CopySpy(store)
    size = await store.compose("rec/composed", sources, content_type="video/mp4",
                               on_chunk=hook if with_hook else None)
    assert size == len(whole)
    if with_hook:
        assert (seen_len, seen.hexdigest()) == (len(whole), sha(whole))
    else:
        assert seen_len == 0
    assert sha(await read_all(store, "rec/composed")) == sha(whole)
    assert await store.head("rec/composed") == ObjectInfo("rec/composed", len(whole))
    return spy.calls


@pytest.mark.parametrize("with_hook", [False, True], ids=["server-side", "on_chunk"])
async def test_compose_big_parts(store: ObjectStore, with_hook: bool) -> None:
    copies = await _compose_and_check(store, [5 * MiB, 5 * MiB + 1, 300 * 1024], with_hook)
    if isinstance(store, S3Store):
        # Without a hook S3 must copy server-side; a hook forces the data through us.
        assert copies == (0 if with_hook else 3)


@pytest.mark.parametrize("with_hook", [False, True], ids=["no-hook", "on_chunk"])
@pytest.mark.parametrize("sizes", [[MiB, 3 * MiB, 2 * MiB + 5, 9 * MiB], [10, 0, 2000, 1]],
                         ids=["multipart", "tiny"])
async def test_compose_small_parts_streams(store: ObjectStore, sizes: list[int], with_hook: bool) -> None:
    assert await _compose_and_check(store, sizes, with_hook) == 0


async def test_compose_single_source_and_missing_source(store: ObjectStore) -> None:
    await _compose_and_check(store, [6 * MiB], with_hook=False)
    with pytest.raises(ObjectNotFound):
        await store.compose("rec/bad", [ObjectInfo("up/none", 10)], on_chunk=lambda c: None)
    assert await store.head("rec/bad") is None


# ---- head / list / delete --------------------------------------------------------------------

async def test_head_list_delete(store: ObjectStore) -> None:
    for key in ["a/1", "a/2", "a/b/3", "ab/4", "c"]:
        await store.put_bytes(key, key.encode())
    assert [o.key for o in await store.list("a/")] == ["a/1", "a/2", "a/b/3"]
    assert sorted(o.key for o in await store.list("a")) == ["a/1", "a/2", "a/b/3", "ab/4"]
    assert sorted(o.key for o in await store.list("")) == ["a/1", "a/2", "a/b/3", "ab/4", "c"]
    assert await store.list("a/b/") == [ObjectInfo("a/b/3", 5)]
    assert await store.list("zzz/") == []

    assert await store.delete(["a/1", "a/b/3", "never/was"]) == []
    assert await store.head("a/1") is None
    assert sorted(o.key for o in await store.list("")) == ["a/2", "ab/4", "c"]
    assert await store.delete([]) == []
    # A deleted directory can be written again (local prunes empty parents).
    await store.put_bytes("a/b/3", b"again")
    assert await read_all(store, "a/b/3") == b"again"


async def test_delete_many_keys(store: ObjectStore) -> None:
    keys = [f"recordings/rec_{i:05d}" for i in range(2500)]
    gate = asyncio.Semaphore(32)

    async def put(k: str) -> None:
        async with gate:
            await store.put_bytes(k, b"x")

    await asyncio.gather(*(put(k) for k in keys))
    assert len(await store.list("recordings/")) == 2500
    assert await store.delete(keys + ["recordings/missing"]) == []
    assert await store.list("recordings/") == []


async def test_local_path(store: ObjectStore) -> None:
    await store.put_bytes("media/clip", b"frames")
    where = await store.local_path("media/clip")
    if isinstance(store, S3Store):
        # Never a presigned URL (issue 12): ffmpeg reads S3 objects through service.media.source.
        assert where is None
    else:
        assert os.path.isabs(where) and await asyncio.to_thread(Path(where).read_bytes) == b"frames"
    assert await store.local_path("media/none") is None


async def test_no_legal_hold_without_object_lock(store: ObjectStore) -> None:
    await store.put_bytes("held", b"x")
    assert await store.set_legal_hold("held", True) is False
    assert await store.delete(["held"]) == []


# ---- local-only ------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a\x00b", "", "a//b", "./a",
                                 f"a/{TMP_MARK}x"])
async def test_local_rejects_bad_keys(tmp_path: Path, key: str) -> None:
    store = LocalStore(str(tmp_path / "objects"))
    with pytest.raises(StorageError):
        await store.put_bytes(key, b"x")
    with pytest.raises(StorageError):
        await store.put(key, stream(b"x"))
    with pytest.raises(StorageError):
        await store.head(key)
    with pytest.raises(StorageError):
        await read_all(store, key)
    with pytest.raises(StorageError):
        await store.delete([key])
    assert not (tmp_path / "x").exists()


async def test_local_ping(tmp_path: Path) -> None:
    await LocalStore(str(tmp_path / "new" / "root")).ping()
    assert (tmp_path / "new" / "root").is_dir()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageError, match="not writable"):
        await LocalStore(str(tmp_path / "file" / "root")).ping()


# ---- S3-only ---------------------------------------------------------------------------------

def _versions(client, bucket: str) -> list[str]:
    resp = client.list_object_versions(Bucket=bucket)
    return [v["Key"] for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]


async def test_s3_legal_hold_blocks_delete(s3_endpoint: str) -> None:
    bucket = make_bucket(s3_endpoint)
    store = S3Store(bucket, endpoint_url=s3_endpoint)
    # ensure_bucket on an existing bucket is a no-op; this one is new and gets Object Lock.
    await store.ensure_bucket()
    locked = S3Store(f"{bucket}-lock", endpoint_url=s3_endpoint)
    await locked.ensure_bucket(object_lock=True)
    await locked.ping()
    await locked.put_bytes("evidence/rec_1", b"exhibit JS/1")
    await locked.put_bytes("routine/rec_2", b"nothing")

    assert await locked.set_legal_hold("evidence/rec_1", True) is True
    assert await locked.delete(["evidence/rec_1", "routine/rec_2"]) == ["evidence/rec_1"]
    assert await read_all(locked, "evidence/rec_1") == b"exhibit JS/1"
    assert await locked.head("routine/rec_2") is None

    assert await locked.set_legal_hold("evidence/rec_1", False) is True
    assert await locked.delete(["evidence/rec_1"]) == []
    assert await locked.head("evidence/rec_1") is None
    client = s3_client(s3_endpoint)
    assert _versions(client, f"{bucket}-lock") == []  # every version gone, no delete markers left
    client.close()
    # AWS answers NoSuchKey (ObjectNotFound); moto answers 500 (StorageError). Either way it raises.
    with pytest.raises(StorageError):
        await locked.set_legal_hold("evidence/none", True)
    await locked.close()
    await store.close()


async def test_s3_versioned_delete_removes_every_version(s3_endpoint: str) -> None:
    bucket = make_bucket(s3_endpoint, versioned=True)
    store = S3Store(bucket, prefix="p", endpoint_url=s3_endpoint)
    await store.put_bytes("rec", b"v1")
    await store.put_bytes("rec", b"v2")
    await store.put_bytes("record", b"other key sharing the prefix")
    assert await store.delete(["rec", "missing"]) == []
    client = s3_client(s3_endpoint)
    assert _versions(client, bucket) == ["p/record"]
    client.close()
    await store.close()


async def test_s3_ping_reports_missing_bucket(s3_endpoint: str) -> None:
    store = S3Store("no-such-bucket-here", endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        await store.ping()
    unreachable = S3Store("b", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageError):
        await unreachable.ping()
    await store.close()
    await unreachable.close()


# ---- at rest: owner-only files (local), server-side encryption (S3) ----------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o000])
async def test_local_objects_are_owner_only_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        store = LocalStore(str(tmp_path / "a" / "objects"))
        await store.ping()
        await store.put("rec/deep/one", stream(pattern(2 * MiB, seed=7)))
        await store.put_bytes("small/two", b"two")
        await store.compose("bundles/x/three", [ObjectInfo("rec/deep/one", 2 * MiB), ObjectInfo("small/two", 3)])
    finally:
        os.umask(old)
    paths = [tmp_path / "a", *(tmp_path / "a").rglob("*")]
    assert len(paths) >= 9
    assert [f"{p} {oct(p.stat().st_mode & 0o777)}" for p in paths if p.stat().st_mode & 0o077] == []


async def test_s3_encrypts_every_write_path(s3_endpoint: str) -> None:
    bucket = make_bucket(s3_endpoint)
    store = S3Store(bucket, prefix="p", endpoint_url=s3_endpoint, sse="aws:kms", sse_kms_key_id="k-1")
    big = pattern(11 * MiB, seed=8)
    await store.put("put/small", stream(b"small"))                      # PutObject
    await store.put("put/big", stream(big))                             # CreateMultipartUpload + parts
    await store.put_bytes("put/bytes", b"bytes")                        # PutObject
    await store.put_bytes("src/a", big[:6 * MiB])
    await store.put_bytes("src/b", big[6 * MiB:])
    a, b = ObjectInfo("src/a", 6 * MiB), ObjectInfo("src/b", len(big) - 6 * MiB)
    await store.compose("compose/copy", [a])                            # CopyObject
    await store.compose("compose/parts", [a, b])                        # multipart of UploadPartCopy
    await store.compose("compose/streamed", [b, a], on_chunk=lambda _: None)  # streamed re-upload
    assembly = await store.begin_assembly("assembled", content_type="video/mp4")  # a dock's direct parts
    etag = await store.put_assembly_part("assembled", assembly, 1, big[:6 * MiB])
    await store.finish_assembly("assembled", assembly, [AssemblyPart(1, etag=etag), AssemblyPart(2, source=b)])
    client = s3_client(s3_endpoint)
    try:
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
        heads = {k: client.head_object(Bucket=bucket, Key=k) for k in keys}
    finally:
        client.close()
        await store.close()
    assert len(heads) == 9
    assert {k: (h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")) for k, h in heads.items()} == \
        {k: ("aws:kms", "k-1") for k in heads}
