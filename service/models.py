"""Imports every domain's models so Base.metadata is complete (Alembic, tests)."""

from service.alerts.models import Alert  # noqa: F401
from service.audit.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification  # noqa: F401
from service.auth.models import Dock  # noqa: F401
from service.db import Base  # noqa: F401
from service.devices.models import ClockCheck, Device  # noqa: F401
from service.disclosure.models import Bundle, Case, CaseItem, CaseOutcome, DoNotDisclose, Share, ShareReceipt  # noqa: F401
from service.ingest.models import Upload, UploadPart  # noqa: F401
from service.recordings.models import Recording, RecordingAccess  # noqa: F401
from service.retention.models import Flag, Hold, HoldRecording, PolicyVersion, Review, Sweep  # noqa: F401
from service.sar.models import Sar, SarFaceScan, SarFaceTrack, SarItem  # noqa: F401
