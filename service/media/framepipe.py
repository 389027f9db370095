"""Raw frames through Python between two ffmpeg processes: one decoding to its stdout, one encoding
from its stdin. A reader and a writer thread let both processes run while Python works on a frame;
a timer kills both when the time is up, and nothing here ever blocks on a process that has died.
"""

from __future__ import annotations

import queue
import subprocess
import tempfile
import threading
from collections.abc import Iterator

import numpy as np

from service.media._ffmpeg import first_useful_line
from service.media.source import ffmpeg_env

_QUEUE_BYTES = 64 * 1024 * 1024  # of frames waiting on each side


class PipeError(Exception):
    """A process failed, stopped reading, or ran out of time; the message says which, briefly."""


class FramePipe:
    """The two ffmpeg processes, the threads feeding them, and one way to stop all of it."""

    def __init__(self, decode: list[str], encode: list[str] | None, frame_bytes: int, timeout_s: float) -> None:
        """``encode=None``: frames are only read (a scan), nothing is written."""
        self.frame_bytes = frame_bytes
        self.stop = threading.Event()
        self.timed_out = False
        self.errors = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]  # stderr: no pipe to drain
        depth = max(2, _QUEUE_BYTES // frame_bytes)
        self.frames_in: queue.Queue = queue.Queue(depth)
        self.frames_out: queue.Queue = queue.Queue(depth)
        env = ffmpeg_env()
        self.dec = subprocess.Popen(decode, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=self.errors[0], env=env)
        try:
            # A scan has no encoder: a process that exits at once stands in, so stopping, waiting and
            # reporting stay one code path.
            self.enc = subprocess.Popen(encode or ["true"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=self.errors[1], env=env)
        except BaseException:
            self._kill(self.dec)
            raise
        self.writing = encode is not None
        self.broken_pipe = False
        self.timer = threading.Timer(timeout_s, self._time_out)
        self.threads = [threading.Thread(target=self._read, daemon=True, name="redact-read"),
                        threading.Thread(target=self._write, daemon=True, name="redact-write")][:1 + self.writing]
        self.timer.start()
        for t in self.threads:
            t.start()

    def _put(self, q: queue.Queue, item: object) -> None:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _read(self) -> None:
        src = self.dec.stdout
        try:
            while not self.stop.is_set():
                buf = np.empty(self.frame_bytes, np.uint8)
                view, got = memoryview(buf), 0
                while got < self.frame_bytes:
                    n = src.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < self.frame_bytes:  # end of stream (a torn last frame is dropped)
                    break
                self._put(self.frames_in, buf)
        except (OSError, ValueError):
            pass  # the process was killed: the return code tells the story
        finally:
            self._put(self.frames_in, None)

    def _write(self) -> None:
        sink = self.enc.stdin
        while True:
            try:
                buf = self.frames_out.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():
                    break
                continue
            if buf is None:
                break
            if self.broken_pipe:
                continue  # keep draining so the producer never blocks on a dead encoder
            try:
                sink.write(memoryview(buf))
            except (BrokenPipeError, OSError, ValueError):
                self.broken_pipe = True
        try:
            sink.close()
        except OSError:
            self.broken_pipe = True

    def frames(self) -> Iterator[np.ndarray]:
        while True:
            try:
                buf = self.frames_in.get(timeout=0.2)
            except queue.Empty:
                if self.stop.is_set():  # timed out: the reader may never hand over its end marker
                    raise PipeError(self.failure()) from None
                continue
            if buf is None:
                return
            if self.broken_pipe:
                raise PipeError(self.failure())
            yield buf

    def emit(self, buf: np.ndarray) -> None:
        self._put(self.frames_out, buf)

    def finish(self) -> None:
        if self.writing:
            self._put(self.frames_out, None)
        for t in self.threads:
            t.join()
        self.dec.wait()
        self.enc.wait()
        if self.timed_out or self.dec.returncode or self.enc.returncode or self.broken_pipe:
            raise PipeError(self.failure())

    def failure(self) -> str:
        if self.timed_out:
            return f"ffmpeg timed out after {self.timer.interval:g} s"
        for name, proc, err in (("decode", self.dec, self.errors[0]), ("encode", self.enc, self.errors[1])):
            err.seek(0)
            text = err.read(64 * 1024).decode("utf-8", "replace")
            if proc.poll() or text.strip():
                detail = first_useful_line(text) or f"ffmpeg exited with {proc.returncode}"
                return f"{name} failed: {detail}"
        return "ffmpeg stopped reading frames"

    def _time_out(self) -> None:
        self.timed_out = True
        self.close()

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()

    def close(self) -> None:
        """Kill whatever still runs; safe to call twice and from the timer thread."""
        self.stop.set()
        self._kill(self.dec)
        self._kill(self.enc)

    def cleanup(self) -> None:
        self.timer.cancel()
        self.close()
        for t in self.threads:
            t.join(5)
        for proc in (self.dec, self.enc):
            proc.wait()
            for f in (proc.stdin, proc.stdout):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass
        for f in self.errors:
            f.close()

