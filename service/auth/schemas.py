from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

ROLES = ("dock", "officer", "supervisor", "disclosure", "sar_handler", "auditor", "admin")
# Roles that may see every recording (an officer alone sees only their own footage).
SEE_ALL = frozenset({"supervisor", "disclosure", "admin"})
# Actors the service itself writes into the audit (``system:sweep``, ``cli:root``, ``anonymous``).
RESERVED_PREFIXES = ("system:", "cli:")


def reserved_id(person_id: str) -> bool:
    """Ids that name the service itself in the audit; no person, token or provider identity may take one."""
    return person_id.startswith(RESERVED_PREFIXES) or person_id == "anonymous"


@dataclass(frozen=True)
class Principal:
    """Who is acting. ``sub`` is what the audit records: nobody acts on behalf of another."""

    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    jti: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def sees_all(self) -> bool:
        return bool(self.roles & SEE_ALL)


def system_principal(name: str) -> Principal:
    """The actor for scheduled work (sweeps, janitors): named, so the audit says which job did it."""
    return Principal(sub=f"system:{name}", roles=frozenset({"system"}))


class TokenOut(BaseModel):
    token: str
    sub: str
    roles: list[str]
    expires_at: str
