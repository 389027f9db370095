"""Console pages: disclosure. (Being built.)"""

from __future__ import annotations

from service.web.render import console_router

router = console_router()
