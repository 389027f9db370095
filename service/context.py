"""Everything a request, a job or a CLI command needs, built once per process from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.auth.service import TokenService
from service.config import Settings
from service.db import engine_options, make_engine, make_sessionmaker
from service.ingest.hashing import RunningHashes
from service.notify import mailer
from service.policies import Policies, load_policies
from service.signing.keys import Signer, load_signer
from service.storage import ObjectStore, open_store
from service.storage.cold import ColdStorage, open_cold

if TYPE_CHECKING:
    from service.jobs import Jobs


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    policies: Policies
    tokens: TokenService
    signer: Signer
    hashes: RunningHashes = field(default_factory=RunningHashes)
    jobs: Jobs | None = None
    cold: ColdStorage | None = None  # the cold tier's store (service/coldtier); built with the context

    async def close(self) -> None:
        if self.jobs is not None:
            await self.jobs.close()
        if self.cold is not None and self.cold.store is not self.store:
            await self.cold.store.close()
        await self.store.close()
        await self.engine.dispose()


def build_context(settings: Settings) -> Context:
    """Validate configuration and policies and open the database and store (no network I/O yet)."""
    settings.validate_startup()
    mailer.check(settings)
    policies = load_policies(settings.policy_dir)
    engine = make_engine(settings.db_url, **engine_options(settings))
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.object_store_url, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region, sse=settings.s3_sse, sse_kms_key_id=settings.s3_sse_kms_key_id)
    return Context(settings=settings, engine=engine, sessions=make_sessionmaker(engine), store=store,
                   policies=policies, tokens=TokenService(settings),
                   signer=load_signer(settings.signing_key_file, settings.data_dir, settings.signing_keyring_dir),
                   cold=open_cold(store, settings.cold_store_url, settings.s3_cold_storage_class))
