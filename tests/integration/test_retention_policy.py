"""Policies as data: a changed policy recomputes delete_after (a job, audited) and never shortens the
protection of flagged footage; an invalid policy stops start-up naming the file and line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from service.config import ConfigError
from service.policies import load_policies
from tests.fixtures.stack import ROOT, start_stack


def _policy_dir(tmp: Path, **changes) -> Path:
    d = tmp / "policies"
    shutil.copytree(ROOT / "policies", d)
    doc = yaml.safe_load((d / "retention.yaml").read_text())
    for cat, days in changes.items():
        doc["categories"][cat]["retain_days"] = days
    (d / "retention.yaml").write_text(yaml.safe_dump(doc))
    return d


async def test_policy_change_recomputes_and_never_shortens_flagged(tmp_path, sqlite_template):
    db = tmp_path / "bwv.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite+aiosqlite:///{db}"
    st = await start_stack("embedded", tmp_path / "a", database_url=url)
    try:
        plain = (await st.upload(b"plain" * 1000)).json()
        trained = (await st.upload(b"train" * 1000)).json()
        sup = st.auth("s", "supervisor")
        await st.client.post(f"/v1/recordings/{trained['id']}/flags",
                             json={"category": "training", "reference": "TR/1", "consent_reference": "CONSENT/5"},
                             headers=sup)
        before = {r: (await st.client.get(f"/v1/recordings/{r}", headers=sup)).json()["retention"]["delete_after"]
                  for r in (plain["id"], trained["id"])}
    finally:
        await st.stop()

    # The force shortens the default to 20 days and training to 100: the plain clip follows, the
    # flagged training clip keeps what it had.
    st = await start_stack("embedded", tmp_path / "b", database_url=url,
                           policy_dir=_policy_dir(tmp_path, default=20, training=100))
    try:
        await st.drain_jobs()
        sup = st.auth("s", "supervisor")
        after = {r: (await st.client.get(f"/v1/recordings/{r}", headers=sup)).json()["retention"]["delete_after"]
                 for r in (plain["id"], trained["id"])}
        from datetime import datetime

        shift = datetime.fromisoformat(before[plain["id"]]) - datetime.fromisoformat(after[plain["id"]])
        assert shift == timedelta(days=11)
        assert after[trained["id"]] == before[trained["id"]]
        events = (await st.client.get("/v1/audit?action=retention.recomputed", headers=st.auth("a", "auditor"))).json()
        assert events["items"] and events["items"][-1]["details"]["recordings"] == 2
    finally:
        await st.stop()


def test_invalid_policy_names_the_file_and_line(tmp_path):
    d = _policy_dir(tmp_path, default=-5)
    with pytest.raises(ConfigError) as e:
        load_policies(d)
    msg = str(e.value)
    lines = (d / "retention.yaml").read_text().splitlines()
    line_no = int(msg.split(" line ")[1].split(":")[0])
    assert "retention.yaml" in msg and "retain_days" in msg and "-5" in lines[line_no - 1]


async def test_replicas_starting_together_record_the_policy_once(stack):
    """Every replica records the running policy as it starts. Started together on a database that has not
    seen it, each used to find no row and insert one: the second stopped its start-up on the primary key."""
    import asyncio

    from sqlalchemy import delete, func, select

    from service.audit.models import AuditEvent
    from service.auth.schemas import system_principal
    from service.db import transaction
    from service.retention.models import PolicyVersion
    from service.retention.service import check_policy

    async with transaction(stack.ctx.sessions) as s:
        await s.execute(delete(PolicyVersion))  # as a database that has never run this policy
        loaded = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "retention.policy_loaded")
        before = (await s.execute(loaded)).scalar_one()

    async def start() -> bool:
        async with transaction(stack.ctx.sessions) as s:
            return await check_policy(s, system_principal("retention-policy"), stack.ctx)

    results = await asyncio.gather(*(start() for _ in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with stack.ctx.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(PolicyVersion))).scalar_one() == 1
        assert (await s.execute(loaded)).scalar_one() == before + 1
