"""``bwv demo``: sample footage (made with ffmpeg) docked through the real ingest path, plus tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from service.auth import service as auth
from service.auth.schemas import Principal
from service.context import Context
from service.db import transaction
from service.ingest import service as ingest
from service.ingest.schemas import UploadCreate
from service.media.synth import make_clip
from service.timeutil import utcnow

DEMO_ADMIN = Principal(sub="demo-loader", roles=frozenset({"admin"}))
DEMO_PASSWORD = "bodycam-demo"  # demo data only: printed by bwv demo for anyone to use
PEOPLE = [("pc-101", ["officer"]), ("pc-102", ["officer"]), ("sgt-1", ["supervisor"]),
          ("disclosure-1", ["disclosure"]), ("sar-1", ["sar_handler"]), ("auditor-1", ["auditor"]),
          ("admin-1", ["admin"])]


@dataclass
class DemoResult:
    dock_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    recordings: list[tuple[str, str]] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD

    def lines(self, base: str) -> list[str]:
        out = [f"  dock 'demo-dock' token: {self.dock_token}", ""]
        for sub, tok in self.tokens.items():
            out.append(f"  {sub:<13} export TOKEN_{sub.replace('-', '_').upper()}={tok}")
        out.append("")
        for rid, what in self.recordings:
            out.append(f"  {what}: {base}/v1/recordings/{rid}")
        out += ["", f'  curl -H "Authorization: Bearer $TOKEN_SGT_1" {base}/v1/alerts?open=true',
                f'  curl -H "Authorization: Bearer $TOKEN_PC_101" {base}/v1/recordings',
                f"  API docs: {base}/docs"]
        return out


async def _dock_file(ctx: Context, actor: Principal, path, *, device: str, officer: str, clock_offset: timedelta,
                     start_ago: timedelta, seconds: int) -> str:
    data = path.read_bytes()
    now = utcnow()
    body = UploadCreate(device_id=device, officer_id=officer, filename=path.name, content_type="video/mp4",
                        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        recorded_start=now - start_ago + clock_offset,
                        recorded_end=now - start_ago + timedelta(seconds=seconds) + clock_offset,
                        device_clock_at_dock=now + clock_offset)
    async with transaction(ctx.sessions) as s:
        res = await ingest.create_upload(s, actor, ctx, body)
    if res.duplicate_of:
        return res.duplicate_of
    part = ctx.settings.part_size

    async def body_of(chunk: bytes):
        yield chunk

    for i in range(0, len(data), part):
        await ingest.put_part(ctx, actor, res.upload.id, i // part + 1, body_of(data[i:i + part]), None)
    rec, _, _ = await ingest.complete(ctx, actor, res.upload.id)
    return rec.id


async def load_demo(ctx: Context) -> DemoResult:
    from service.jobs import InProcessJobs

    if ctx.jobs is None:
        ctx.jobs = InProcessJobs(ctx, cron=False) if ctx.settings.embedded_jobs else None
    async with transaction(ctx.sessions) as s:
        dock_token = await auth.register_dock(s, ctx.tokens, DEMO_ADMIN, "demo-dock", "Demo station")
    claims = ctx.tokens.decode(dock_token)
    dock = Principal(sub="demo-dock", roles=frozenset({"dock"}), jti=claims["jti"])
    folder = ctx.settings.data_dir / "demo"
    result = DemoResult(dock_token=dock_token)
    specs = [("street-stop.mp4", "cam-0101", "pc-101", timedelta(0), "street stop (camera clock fine)"),
             ("arrest.mp4", "cam-0102", "pc-102", timedelta(0), "arrest (camera clock fine)"),
             ("flat-battery.mp4", "cam-0199", "pc-101", None, "flat battery: camera clock read 1970")]
    for i, (name, device, officer, offset, what) in enumerate(specs):
        path = folder / name
        if not path.exists():
            make_clip(path, seconds=10, width=640, height=360, tone_hz=440 + 110 * i)
        now = utcnow()
        if offset is None:  # the clock reset to 1970 when the battery died
            offset = -(now - now.replace(year=1970, month=1, day=1, hour=0, minute=0)) + timedelta(hours=9)
        rid = await _dock_file(ctx, dock, path, device=device, officer=officer, clock_offset=offset,
                               start_ago=timedelta(hours=3 - i), seconds=10)
        result.recordings.append((rid, what))
    if hasattr(ctx.jobs, "drain"):
        await ctx.jobs.drain()
    for sub, roles in PEOPLE:
        result.tokens[sub] = ctx.tokens.issue(sub, roles, 12 * 3600)[0]
    await _demo_accounts(ctx)
    result.accounts = [sub for sub, _ in PEOPLE]
    return result


async def _demo_accounts(ctx: Context) -> None:
    """Console accounts for each demo person (kept as they are when the demo is loaded again)."""
    from service.auth import accounts
    from service.auth import repository as auth_repo

    async with transaction(ctx.sessions) as s:
        for sub, roles in PEOPLE:
            if await auth_repo.get_user(s, sub) is None:
                await accounts.add_user(s, DEMO_ADMIN, sub, roles, DEMO_PASSWORD)
