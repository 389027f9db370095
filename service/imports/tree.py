"""Where the files of an import are: a local folder, or an S3 prefix read with the service's own S3
settings. Paths are relative to the root and never leave it (symlinks included)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from service.storage.base import ObjectStore, open_store

CHUNK = 1024 * 1024


class Tree(Protocol):
    label: str

    async def size(self, path: str) -> int | None:
        """The file's size, or None when there is no such file inside the root."""

    def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class LocalTree:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.label = str(self.root)

    def _path(self, path: str) -> Path | None:
        p = (self.root / path).resolve()
        # resolve() follows symlinks: a link that points out of the tree is as outside as "../x".
        if p != self.root and self.root not in p.parents:
            return None
        return p if p.is_file() else None

    async def size(self, path: str) -> int | None:
        p = self._path(path)
        return p.stat().st_size if p else None

    async def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        p = self._path(path)
        if p is None:
            raise FileNotFoundError(path)
        f = await asyncio.to_thread(open, p, "rb")
        try:
            await asyncio.to_thread(f.seek, start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = await asyncio.to_thread(f.read, CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def close(self) -> None:
        return None


class S3Tree:
    def __init__(self, url: str, *, endpoint_url: str | None, region: str) -> None:
        self.label = url
        self.store: ObjectStore = open_store(url, endpoint_url=endpoint_url, region=region)

    async def size(self, path: str) -> int | None:
        info = await self.store.head(path)
        return info.size if info else None

    def read(self, path: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        return self.store.read(path, start, end)

    async def close(self) -> None:
        await self.store.close()


def open_tree(where: str, *, endpoint_url: str | None = None, region: str = "us-east-1") -> Tree:
    if where.startswith("s3://"):
        return S3Tree(where, endpoint_url=endpoint_url, region=region)
    return LocalTree(where)
