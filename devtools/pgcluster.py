"""A throwaway PostgreSQL cluster for tests and benchmarks.

initdb into a fresh temporary directory, listen only on a unix socket in it (no
TCP port to collide on), and stop and delete it afterwards. PostgreSQL refuses to
run as root, so when we are root the server runs as the `postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path:
    """The directory holding initdb/pg_ctl/pgbench (PostgreSQL 15 preferred)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(
        "PostgreSQL server binaries not found: run scripts/ensure-postgres.sh "
        "(apt-get install postgresql-15)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    user: str | None  # OS user the server runs as (None: ourselves)

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://cpay@/{dbname}?host={self.socket_dir}&port={self.port}"

    def env(self) -> dict[str, str]:
        """Environment for libpq tools (pgbench, psql) pointed at this cluster."""
        return {
            **os.environ,
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": "cpay",
        }

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def _run(self, *args: str) -> None:
        subprocess.run(
            list(args), check=True, capture_output=True, user=self.user, cwd=str(self.root)
        )

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"
                )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(*, durable: bool = False, max_connections: int = 200) -> Cluster:
    """Start a new cluster. `durable=False` turns fsync off (tests); benchmarks keep it on."""
    bindir = find_bindir()
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="cpay-pg-"))
    (root / "sock").mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "sock"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(bindir, root, _free_port(), user)
    try:
        cluster._run(
            str(bindir / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            "cpay",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = [
            f"-p {cluster.port}",
            "-c listen_addresses=''",
            f"-k {cluster.socket_dir}",
            f"-c max_connections={max_connections}",
            "-c shared_buffers=128MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        cluster._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "server.log"),
            "-o",
            " ".join(options),
            "start",
        )
    except BaseException:
        log = root / "server.log"
        detail = log.read_text() if log.exists() else ""
        cluster.stop()
        if detail:
            raise RuntimeError(f"PostgreSQL did not start:\n{detail}") from None
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    cluster = start_cluster(durable=durable)
    try:
        yield cluster
    finally:
        cluster.stop()
