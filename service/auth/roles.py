"""Roles, and who may do what, defined once: services check these sets (``require``) and the console's
page guards and navigation read the same ones, so a page can never offer what its service refuses."""

from __future__ import annotations

from enum import StrEnum

from service.auth.schemas import Principal
from service.errors import Forbidden


class Role(StrEnum):
    DOCK = "dock"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    DISCLOSURE = "disclosure"
    SAR_HANDLER = "sar_handler"
    AUDITOR = "auditor"
    ADMIN = "admin"


Roles = tuple[Role, ...]

DOCKS: Roles = (Role.DOCK,)
# Staff who upload footage that no dock brings: seized CCTV exports, 999 call audio (the actor is the person).
STAFF_UPLOADERS: Roles = (Role.OFFICER, Role.SUPERVISOR, Role.DISCLOSURE)
# `bwv import` runs as an operator (the person named by --as), through the same ingest rules.
IMPORTERS: Roles = (Role.ADMIN,)
# Whoever may have an upload of their own to send parts to and complete.
UPLOADERS: Roles = DOCKS + STAFF_UPLOADERS + IMPORTERS
# CPS cases, bundles and share links.
DISCLOSURE_STAFF: Roles = (Role.DISCLOSURE, Role.ADMIN)
# Recording a case's outcome (which decides how long its exhibits are kept), and reading a case.
CASE_OUTCOME_RECORDERS: Roles = (Role.DISCLOSURE, Role.SUPERVISOR, Role.ADMIN)
CASE_READERS: Roles = (Role.DISCLOSURE, Role.SUPERVISOR, Role.ADMIN)
# Marking footage do-not-disclose (and lifting the mark).
SUPERVISORS: Roles = (Role.SUPERVISOR, Role.ADMIN)
# Acting on subject access requests; auditors may read them, no other role sees a requester's data.
SAR_HANDLERS: Roles = (Role.SAR_HANDLER,)
SAR_READERS: Roles = (Role.SAR_HANDLER, Role.AUDITOR)


def require(principal: Principal, roles: Roles) -> Principal:
    """The service's own check: *principal* holds one of *roles* (403 otherwise)."""
    if not principal.has(*roles):
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.", slug="wrong-role")
    return principal
