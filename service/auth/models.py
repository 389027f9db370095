from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, UTCDateTime


class Dock(Base):
    """A registered docking station. Only the newest token (``token_jti``) of an active dock is accepted."""

    __tablename__ = "docks"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    site: Mapped[str | None] = mapped_column(String(200))
    token_jti: Mapped[str] = mapped_column(String(64), nullable=False)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
