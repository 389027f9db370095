"""Helpers shared by the benchmarks in bench/ (ports, bwv server subprocesses, RSS sampling, reports).

Scripts run as ``.venv/bin/python bench/<name>.py`` from the repository root; ``ROOT`` is put on
sys.path here so they can import ``service`` and ``tests.fixtures``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
WORK = BENCH / "work"  # gitignored
REPORTS = BENCH / "reports"
VENV_BIN = Path(sys.executable).parent if (Path(sys.executable).parent / "bwv").exists() else ROOT / ".venv/bin"
BWV = str(VENV_BIN / "bwv")
MB = 1024 * 1024  # every "MB" in the reports is 2**20 bytes

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_HOST = os.environ.get("BWV_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BWV_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("BWV_TEST_PG_USER", "postgres")
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


# ---- small things ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds if seconds > 0 else float("inf")


def machine_info() -> dict[str, Any]:
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"host": platform.node(), "nproc": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
            "cpu": cpu, "python": platform.python_version(), "kernel": platform.release()}


def bwv_env(data_dir: Path | str, **settings: str | None) -> dict[str, str]:
    """A clean environment for a bwv subprocess: no BWV_*/AWS_* leaking in from the caller.

    ``settings`` are BWV_ variables without the prefix (``database_url="..."``); None leaves one unset.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BWV_", "AWS_"))}
    env.update({"BWV_DATA_DIR": str(data_dir), "BWV_POLICY_DIR": str(ROOT / "policies"),
                "BWV_SECRET_KEY": "bench", "BWV_LOG_LEVEL": "WARNING"})
    for k, v in settings.items():
        if v is not None:
            env[f"BWV_{k.upper()}"] = v
    return env


def run_bwv(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run a ``bwv`` command to completion; return its stdout, raise with its output on failure."""
    r = subprocess.run([BWV, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"bwv {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


# ---- bwv server subprocess ---------------------------------------------------------------------

def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except urllib.error.HTTPError:
        return False
    except OSError:
        return False


class BwvServer:
    """``bwv serve`` in a subprocess; its output goes to ``log_path`` (a file, never an undrained pipe)."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> BwvServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child holds it; closed after exit
        self.proc = subprocess.Popen([BWV, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bwv serve exited {self.proc.returncode}:\n{self.log_tail()}")
            if _answers(self.url + "/healthz"):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"bwv serve did not answer /healthz within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, grace: float = 15) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> BwvServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- memory ------------------------------------------------------------------------------------

def proc_status_kb(pid: int, field: str) -> int | None:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM, ...); None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class RssSampler(threading.Thread):
    """Polls VmRSS of ``pid`` every ``interval`` s; ``stop()`` returns (max VmRSS MB, VmHWM MB)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name=f"rss-{pid}")
        self.pid = pid
        self.interval = interval
        self.max_kb = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            kb = proc_status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.max_kb = max(self.max_kb, kb)
                self.samples += 1
            self._halt.wait(self.interval)

    def hwm_mb(self) -> float | None:
        kb = proc_status_kb(self.pid, "VmHWM")
        return None if kb is None else kb / 1024

    def stop(self) -> tuple[float, float | None]:
        """Stop polling; read VmHWM while the process still lives (call before stopping it)."""
        hwm = self.hwm_mb()
        self._halt.set()
        self.join()
        return self.max_kb / 1024, hwm


# ---- PostgreSQL ----------------------------------------------------------------------------------

def _psql(sql: str) -> None:
    r = subprocess.run(["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r} failed: {r.stderr.strip()}")


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "bench") -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL (asyncpg), drop it (forcing out clients)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _psql(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- reports -----------------------------------------------------------------------------------

def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    cells = [headers] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = ["  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells[1:]]
    return "\n".join(out)


def write_report(name: str, markdown: str, data: dict[str, Any]) -> tuple[Path, Path]:
    """Write bench/reports/<name>.md and <name>.json; return their paths."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    md, js = REPORTS / f"{name}.md", REPORTS / f"{name}.json"
    md.write_text(markdown.rstrip() + "\n")
    js.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return md, js


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
