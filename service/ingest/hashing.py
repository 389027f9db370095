"""Hash uploads as their parts arrive, so completing a large upload need not read it back.

Docks send parts mostly in order, a few in flight. Each process keeps, per upload, a SHA-256 over the
contiguous prefix of parts it has seen, holding early arrivals in memory until the gap fills. The
state is only an optimisation: at completion it is used only when the part versions it hashed are
exactly the parts recorded in the database; otherwise the stored bytes are read back and hashed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class _State:
    next_n: int = 1
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    versions: list[str] = field(default_factory=list)
    pending: dict[int, tuple[str, list[bytes], int]] = field(default_factory=dict)
    pending_bytes: int = 0
    broken: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RunningHashes:
    def __init__(self, max_uploads: int = 256, max_pending_bytes: int = 40 * 1024 * 1024):
        self._states: OrderedDict[str, _State] = OrderedDict()
        self._max_uploads = max_uploads
        self._max_pending = max_pending_bytes
        self._pending_total = 0

    def _break(self, st: _State) -> None:
        self._pending_total -= st.pending_bytes
        st.pending.clear()
        st.pending_bytes = 0
        st.broken = True

    async def offer(self, upload_id: str, n: int, version: str, chunks: list[bytes] | None) -> None:
        """Record that part ``n`` (``version``) now holds ``chunks``; None = not available to hash."""
        st = self._states.get(upload_id)
        if st is None:
            st = self._states[upload_id] = _State()
            while len(self._states) > self._max_uploads:
                _, old = self._states.popitem(last=False)
                self._break(old)
        self._states.move_to_end(upload_id)
        async with st.lock:
            if st.broken:
                return
            size = sum(len(c) for c in chunks) if chunks is not None else 0
            if chunks is None or n < st.next_n or self._pending_total + size > self._max_pending:
                self._break(st)  # a re-sent hashed part, an unbuffered part, or no memory to wait
                return
            if n in st.pending:
                old_size = st.pending.pop(n)[2]
                st.pending_bytes -= old_size
                self._pending_total -= old_size
            st.pending[n] = (version, chunks, size)
            st.pending_bytes += size
            self._pending_total += size
            while st.next_n in st.pending:
                v, data, sz = st.pending.pop(st.next_n)
                await asyncio.to_thread(_feed, st.hasher, data)
                st.pending_bytes -= sz
                self._pending_total -= sz
                st.versions.append(v)
                st.next_n += 1

    def take(self, upload_id: str, versions: list[str]) -> str | None:
        """The hex digest when this process hashed exactly ``versions`` in order, else None."""
        st = self._states.get(upload_id)
        if st is None or st.broken or st.pending or st.versions != versions:
            return None
        return st.hasher.copy().hexdigest()

    def prefix(self, upload_id: str, versions: list[str]) -> tuple[hashlib._Hash, int]:
        """The hash of the longest run of leading parts this process hashed that are still exactly the
        recorded ones, and how many parts it covers (0: none). A part that stalled while later ones
        piled up past the memory cap stops the running hash, but what was hashed before it still
        counts: completion then reads back only the rest, not the whole file."""
        st = self._states.get(upload_id)
        if st is None or len(st.versions) > len(versions) or st.versions != versions[:len(st.versions)]:
            return hashlib.sha256(), 0
        return st.hasher.copy(), len(st.versions)

    def forget(self, upload_id: str) -> None:
        st = self._states.pop(upload_id, None)
        if st is not None:
            self._break(st)


def _feed(hasher: hashlib._Hash, chunks: list[bytes]) -> None:
    for c in chunks:
        hasher.update(c)
