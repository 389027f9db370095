"""Object storage: one protocol, two backends (S3 API via boto3, local disk)."""

from service.storage.base import ObjectNotFound, ObjectStore, StorageError, open_store

__all__ = ["ObjectNotFound", "ObjectStore", "StorageError", "open_store"]
