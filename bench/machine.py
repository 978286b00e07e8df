"""The machine a run happened on: CPUs, CPU model, Python, SQLite, OS, temp filesystem."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Machine:
    nproc: int
    cpu_model: str
    python: str
    sqlite: str
    os: str
    temp_dir: str
    temp_filesystem: str
    load: str = ""

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("CPUs (nproc)", str(self.nproc)),
            ("CPU model", self.cpu_model),
            ("Python", self.python),
            ("SQLite", self.sqlite),
            ("OS", self.os),
            ("Temp directory", f"{self.temp_dir} ({self.temp_filesystem})"),
            ("Load average (1 min)", self.load or "unknown"),
        ]


def nproc() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "Model", "cpu model", "Processor"):
            model = value.strip()
            if model:
                return model
    return platform.processor() or platform.machine() or "unknown"


def filesystem_of(path: Path, mounts: Path = Path("/proc/mounts")) -> str:
    """The type and device of the mount holding `path`, e.g. 'ext4 on /dev/vda'."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return "filesystem unknown"
    target = str(path.resolve())
    best: tuple[int, str] = (-1, "filesystem unknown")
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount_point, fs_type = parts[0], parts[1], parts[2]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > best[0]:
            best = (len(mount_point), f"{fs_type} on {device}")
    return best[1]


def load_average() -> float | None:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def describe(load_before: float | None = None) -> Machine:
    """The machine now; `load_before` is the load average when the run started."""
    load_after = load_average()
    load = ""
    if load_before is not None and load_after is not None:
        load = f"{load_before:.2f} at the start, {load_after:.2f} at the end of the run"
    temp = Path(tempfile.gettempdir())
    return Machine(
        nproc=nproc(),
        cpu_model=cpu_model(),
        python=f"{platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable})",
        sqlite=f"{sqlite3.sqlite_version} (library linked into the sqlite3 module)",
        os=platform.platform(),
        temp_dir=str(temp),
        temp_filesystem=filesystem_of(temp),
        load=load,
    )


# --- CPU of the machine and of other processes (Linux /proc; None where unreadable) -------


def _stat(pid: int, proc: Path) -> list[str] | None:
    """Fields of /proc/PID/stat after "pid (comm)": [0] is the state, [1] the parent."""
    try:
        return (proc / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _cpu_s(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def process_cpu_s(pid: int, proc: Path = Path("/proc")) -> float | None:
    """User plus system CPU seconds process `pid` has used so far."""
    fields = _stat(pid, proc)
    return _cpu_s(fields) if fields else None


def family_cpu_s(parent: int, proc: Path = Path("/proc")) -> dict[int, float]:
    """CPU seconds used so far by `parent` and by each of its children (a PostgreSQL
    postmaster and its backends and workers), each /proc entry read once."""
    found: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat(pid, proc)
        if fields and (pid == parent or int(fields[1]) == parent):
            found[pid] = _cpu_s(fields)
    return found


def machine_cpu_s(proc: Path = Path("/proc")) -> tuple[float, float] | None:
    """(busy, total) CPU seconds of every CPU since boot, from /proc/stat's `cpu` line."""
    try:
        first = (proc / "stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(value) for value in first[1:9]]  # user … steal; guest time is inside user
    idle = ticks[3] + ticks[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz
