"""`bwv import`: legacy footage, a row at a time, through the dock's own ingest rules.

Each file is uploaded with the same service calls a dock makes (the server hashes what it stored; a
sha256 the manifest gives must match; clock rules apply to the given times; device + sha256 already in
is skipped), as the person running the import. The row's flag is applied in the transaction that creates
the recording, so an imported recording never exists without it. Killed at any point, running the same
manifest again carries on: finished rows are duplicates (skipped), an unfinished upload resumes with the
parts it already has. This module is an edge: like a dock's requests, each row's upload commits in short
transactions around the streaming.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service.audit import service as audit
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.errors import Problem
from service.ids import new_id
from service.imports.manifest import Manifest, Refusal, Row
from service.imports.tree import Tree
from service.ingest import service as ingest
from service.ingest.schemas import UploadCreate
from service.recordings import repository as recordings_repo
from service.recordings.models import Recording, RecordingStatus
from service.retention import repository as retention_repo
from service.retention import service as retention
from service.retention.schemas import FlagIn
from service.timeutil import utcnow


@dataclass
class Report:
    import_id: str
    manifest_sha256: str
    imported: list[tuple[int, str]] = field(default_factory=list)  # (row, recording id)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # already in
    checked: list[int] = field(default_factory=list)  # a dry run's rows that would be imported
    refused: list[Refusal] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0


Progress = Callable[[Row, int], None]  # (row, bytes sent): called as bytes go


def _flag(row: Row, manifest_sha: str) -> FlagIn | None:
    if not row.category:
        return None
    return FlagIn(category=row.category, reference=row.reference or "",
                  reason=f"imported with manifest {manifest_sha[:16]} (row {row.number})")


async def _flag_once(s: AsyncSession, actor: Principal, ctx: Context, rec: Recording, flag: FlagIn | None,
                     manifest_sha: str) -> None:
    """The row's flag, unless the recording already has that one (re-runs add nothing)."""
    if flag is None:
        return
    have = await retention_repo.active_flags(s, [rec.id])
    if any(f.category == flag.category and f.reference == flag.reference for f in have):
        return
    await retention.add_flag(s, actor, ctx, rec.id, flag, source=f"import:{manifest_sha[:16]}")


async def _sha256(tree: Tree, path: str) -> str:
    h = hashlib.sha256()
    async for chunk in tree.read(path):
        h.update(chunk)
    return h.hexdigest()


async def _send(ctx: Context, actor: Principal, tree: Tree, row: Row, upload_id: str, size: int, part_size: int,
                have: dict[int, int], progress: Progress | None) -> None:
    for n, start in enumerate(range(0, size, part_size), start=1):
        end = min(size, start + part_size)
        if have.get(n) == end - start:  # a resumed upload keeps what it has
            if progress:
                progress(row, end - start)
            continue

        async def body(start=start, end=end) -> AsyncIterator[bytes]:
            async for chunk in tree.read(row.path, start, end):
                if progress:
                    progress(row, len(chunk))
                yield chunk

        await ingest.put_part(ctx, actor, upload_id, n, body(), end - start)


async def import_row(ctx: Context, actor: Principal, tree: Tree, row: Row, manifest: Manifest, *,
                     dry_run: bool = False, progress: Progress | None = None) -> tuple[str, str, str]:
    """("imported" | "skipped" | "checked", recording id or note, sha256); a Problem or ValueError refuses
    the row."""
    size = await tree.size(row.path)
    if size is None:
        raise ValueError(f"no such file under {tree.label}")
    if size == 0:
        raise ValueError("the file is empty")
    flag = _flag(row, manifest.sha256)
    if flag is not None and (row.category not in ctx.policies.retention.categories
                             or row.category == ctx.policies.retention.default_category):
        raise ValueError(f"unknown category {row.category!r}")
    # With a sha256 given, the server's own hash of what it stored is the check (one read of the file).
    sha = row.sha256 or await _sha256(tree, row.path)
    body = UploadCreate(device_id=row.device_id, officer_id=row.officer_id, filename=row.filename,
                        content_type=row.content_type, size_bytes=size, sha256=sha,
                        recorded_start=row.recorded_start, recorded_end=row.recorded_end,
                        # Legacy systems keep no camera clock reading: the given times are judged as they
                        # are (before 2010 or in the future: untrusted, retention from receipt).
                        device_clock_at_dock=utcnow(), source=row.source, provenance=row.provenance)
    if dry_run:
        async with transaction(ctx.sessions) as s:
            existing = await recordings_repo.find_by_hash(s, row.device_id, sha)
        return ("skipped", existing.id, sha) if existing else ("checked", "", sha)
    async with transaction(ctx.sessions) as s:
        res = await ingest.create_upload(s, actor, ctx, body, importing=True)
        if res.duplicate_of:
            rec = await recordings_repo.get(s, res.duplicate_of)
            if rec is not None and rec.status == RecordingStatus.ACTIVE:
                await _flag_once(s, actor, ctx, rec, flag, manifest.sha256)
            return "skipped", res.duplicate_of, sha
        upload_id, part_size = res.upload.id, res.upload.part_size
        have = {p.n: p.size for p in res.parts or []}
    await _send(ctx, actor, tree, row, upload_id, size, part_size, have, progress)

    async def then(s: AsyncSession, rec: Recording) -> None:
        await _flag_once(s, actor, ctx, rec, flag, manifest.sha256)

    rec, created, duplicate = await ingest.complete(ctx, actor, upload_id, then=then)
    return ("skipped" if duplicate else "imported"), rec.id, sha


async def run(ctx: Context, actor: Principal, tree: Tree, manifest: Manifest, *, dry_run: bool = False,
              progress: Progress | None = None, on_row: Callable[[Row, str, str], None] | None = None) -> Report:
    """Import every row of *manifest*; audited as *actor*, naming the manifest's SHA-256."""
    report = Report(import_id=new_id("imp"), manifest_sha256=manifest.sha256, refused=list(manifest.refusals))
    began = time.monotonic()
    async with transaction(ctx.sessions) as s:
        await audit.record(s, actor, "import.started", "import", report.import_id,
                           {"manifest_sha256": manifest.sha256, "root": tree.label, "rows": len(manifest.rows)
                            + len(manifest.refusals), "dry_run": dry_run})
    seen: dict[tuple[str, str], int] = {}
    for row in manifest.rows:
        if row.sha256 and (row.device_id, row.sha256) in seen:
            key = (row.device_id, row.sha256)
            report.refused.append(Refusal(row.number, row.path, f"the same file as row {seen[key]}"))
            continue
        try:
            outcome, what, sha = await import_row(ctx, actor, tree, row, manifest, dry_run=dry_run,
                                                  progress=progress)
        except Problem as e:
            report.refused.append(Refusal(row.number, row.path, f"{e.slug}: {e.detail}"))
            outcome, what = "refused", e.slug
        except (ValueError, OSError) as e:
            report.refused.append(Refusal(row.number, row.path, str(e) or type(e).__name__))
            outcome, what = "refused", str(e)
        else:
            key = (row.device_id, sha)
            if key in seen:  # found by hashing: this run took the file for an earlier row
                report.refused.append(Refusal(row.number, row.path, f"the same file as row {seen[key]}"))
                outcome, what = "refused", "duplicate"
            elif outcome == "imported":
                seen[key] = row.number
                report.imported.append((row.number, what))
                report.bytes += (await tree.size(row.path)) or 0
            elif outcome == "checked":
                seen[key] = row.number
                report.checked.append(row.number)
            else:
                seen[key] = row.number
                report.skipped.append((row.number, what))
        if on_row:
            on_row(row, outcome, what)
    report.refused.sort(key=lambda r: r.number)
    report.seconds = time.monotonic() - began
    async with transaction(ctx.sessions) as s:
        await audit.record(s, actor, "import.finished", "import", report.import_id,
                           {"manifest_sha256": manifest.sha256, "imported": len(report.imported),
                            "skipped": len(report.skipped), "refused": len(report.refused),
                            "bytes": report.bytes, "dry_run": dry_run})
    return report
