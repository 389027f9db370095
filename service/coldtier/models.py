"""The cold tier keeps its state on the recording (service.recordings.models): ``storage_tier``,
``other_key``/``other_version`` (a second copy to account for) and the restore columns. Re-exported here so
the domain has the same shape as the others."""

from service.recordings.models import RestoreStatus, StorageTier

__all__ = ["RestoreStatus", "StorageTier"]
