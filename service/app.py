"""The FastAPI application: routers, problem+json errors, metrics, health and readiness."""

from __future__ import annotations

from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service import __version__, errors, metrics
from service.alerts.endpoints import router as alerts_router
from service.audit.endpoints import public as audit_public_router
from service.audit.endpoints import router as audit_router
from service.auth.endpoints import check_guards
from service.auth.schemas import system_principal
from service.bodylimit import BodyLimit
from service.coldtier.endpoints import router as coldtier_router
from service.config import Settings
from service.context import Context, build_context
from service.db import transaction
from service.devices.endpoints import router as devices_router
from service.disclosure.endpoints import router as disclosure_router
from service.ingest.endpoints import router as ingest_router
from service.jobs import InProcessJobs, resume_unfinished, start_jobs
from service.recordings.endpoints import router as recordings_router
from service.retention import repository as retention_repo
from service.retention.endpoints import router as retention_router
from service.retention.service import check_policy
from service.sar import repository as sar_repo
from service.sar.endpoints import router as sar_router
from service.signing.endpoints import router as keys_router
from service.stats.endpoints import router as stats_router
from service.timeutil import utcnow

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None, ctx: Context | None = None) -> FastAPI:
    """Build the app. Configuration is validated here, so a bad setting fails before serving."""
    ctx = ctx or build_context(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if ctx.jobs is None:
            await start_jobs(ctx)
        async with transaction(ctx.sessions) as s:
            await check_policy(s, system_principal("retention-policy"), ctx)
        if isinstance(ctx.jobs, InProcessJobs):
            await resume_unfinished(ctx)
        log.info("started", version=__version__, database=ctx.engine.dialect.name,
                 storage=ctx.settings.object_store_url.split("://")[0],
                 jobs="arq" if ctx.settings.redis_url else "in-process")
        yield
        await ctx.close()

    app = FastAPI(title="bodycam", version=__version__, lifespan=lifespan,
                  description="Keep, delete and disclose body-worn video. Contract: API.md v1.")
    app.state.ctx = ctx
    app.state.sessions = ctx.sessions
    app.state.tokens = ctx.tokens
    errors.install(app, guard=check_guards)

    app.add_middleware(metrics.ObserveRequests)

    from service import web

    web.install(app)

    for router in (ingest_router, recordings_router, retention_router, disclosure_router, sar_router, devices_router,
                   alerts_router, audit_public_router, audit_router, stats_router, keys_router,
                   coldtier_router):
        app.include_router(router)

    @app.get("/healthz", tags=["operations"])
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "A dependency is unreachable"}})
    async def readyz():
        checks: dict[str, str] = {}
        try:
            async with ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as e:  # readiness reports, it does not raise
            checks["database"] = f"error: {type(e).__name__}"
        try:
            await ctx.store.ping()
            checks["storage"] = "ok"
        except Exception as e:
            checks["storage"] = f"error: {e}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def prometheus():
        # The sweep may run in a worker process: take its last success from the database.
        async with ctx.sessions() as s:
            last = await retention_repo.last_successful_sweep(s)
            overdue = await sar_repo.count_overdue(s, utcnow())
        if last is not None and last.finished_at is not None:
            metrics.RETENTION_SWEEP_LAST_SUCCESS.set(last.finished_at.timestamp())
        metrics.SARS_OVERDUE.set(overdue)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # Added last, so it wraps every other middleware: no body is read, authenticated or parsed before it.
    app.add_middleware(BodyLimit, part_limit=ctx.settings.max_part_size)
    return app
