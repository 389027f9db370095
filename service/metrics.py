"""Prometheus metrics (prometheus-client). Names are referenced by infra/alerts.yml: keep them stable."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

UPLOADS_CREATED = Counter("bwv_uploads_created_total", "Upload sessions opened by docks")
UPLOADS_COMPLETED = Counter("bwv_uploads_completed_total", "Uploads that became recordings")
UPLOAD_DUPLICATES = Counter("bwv_upload_duplicates_total", "Uploads recognised as already-stored recordings")
UPLOAD_BYTES = Counter("bwv_upload_bytes_total", "Bytes received in upload parts")
HASH_MISMATCHES = Counter("bwv_hash_mismatches_total", "Completed uploads whose size or SHA-256 did not match")
CLOCK_FAULTS = Counter("bwv_clock_faults_total", "Dock-time clock checks that found a faulty camera clock")
UPLOADS_ABANDONED = Counter("bwv_uploads_abandoned_total", "Abandoned uploads cleaned up by the janitor")
MEDIA_UNREADABLE = Counter("bwv_media_unreadable_total", "Recordings ffprobe could not read")
JOBS = Counter("bwv_jobs_total", "Background jobs run", ["job", "outcome"])
REQUEST_LATENCY = Histogram("bwv_http_request_duration_seconds", "HTTP request latency",
                            ["method", "route", "status"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RETENTION_DELETED = Counter("bwv_retention_deleted_total", "Recordings deleted by retention sweeps")
RETENTION_SWEEP_PROGRESS = Gauge("bwv_retention_sweep_progress", "Recordings processed in the running sweep")
RETENTION_SWEEP_LAST_SUCCESS = Gauge("bwv_retention_sweep_last_success_timestamp_seconds",
                                     "Unix time the last retention sweep finished")
SARS_OVERDUE = Gauge("bwv_sars_overdue", "Open subject access requests past their due day (a count, no personal data)")


class ObserveRequests:
    """Pure ASGI middleware timing every HTTP request into :data:`REQUEST_LATENCY`, from the first byte of the
    request to the last of the answer, labelled by the route template. Not ``@app.middleware("http")``:
    Starlette's BaseHTTPMiddleware pumps every body chunk through a task and a memory stream, which cost the
    S3 ingest path a quarter of its CPU (bench/ingest.py --profile)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], route, str(status)).observe(time.perf_counter() - started)
