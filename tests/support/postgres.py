"""A throwaway PostgreSQL cluster for the tests (initdb + pg_ctl in a temporary folder).

The real server from the distribution's packages (``.ci/run`` installs Debian's
``postgresql``), never a mock. ``initdb`` refuses to run as root, and CI runs as root, so
there the cluster runs as the unprivileged ``postgres`` user the package creates, in a
temporary folder owned by it. The server listens on a unix socket in that folder only (no
TCP), on a port number chosen free. Torn down at the end of the test session.

Fixtures
--------
``pg_cluster``
    The running cluster (session scope); skips with the reason where no server binaries
    are installed.
``pg_url``
    A fresh, empty database on it for one test (``postgresql://...`` URL).
``db_target``
    Parametrised over both backends: a file path (SQLite) or a fresh database URL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest


def find_bindir() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/<ver>/bin,
    else wherever ``initdb`` is on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running cluster: ``url(dbname)`` gives a connection URL for one of its databases."""

    bindir: Path
    folder: Path
    port: int
    user: str
    run_as: tuple[str, ...]

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    def url(self, dbname: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="")
        return f"postgresql://{self.user}@{host}:{self.port}/{dbname}"

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, *argv], capture_output=True, text=True, check=False, timeout=120
        )

    @classmethod
    def start(cls, bindir: Path) -> PgCluster:
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to run initdb as")
            run_as: tuple[str, ...] = ("runuser", "-u", "postgres", "--")
            user = "postgres"
        else:
            pw = pwd.getpwuid(os.geteuid())
            run_as = ()
            user = pw.pw_name
        folder = Path(tempfile.mkdtemp(prefix="biofeedback-pg-"))
        (folder / "sock").mkdir()
        for p in (folder, folder / "sock"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        cluster = cls(bindir, folder, _free_port(), user, run_as)
        data = folder / "data"
        init = cluster.run(
            str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"
        )
        if init.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        opts = (
            f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses='' "
            "-c fsync=on -c max_connections=50"
        )
        started = cluster.run(
            str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(folder / "log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if started.returncode != 0:
            log = (folder / "log").read_text(errors="replace") if (folder / "log").exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()} {log[-2000:]}")
        return cluster

    def stop(self) -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                 "-w", "stop")  # fmt: skip
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install '.[lab]')")
    cluster = PgCluster.start(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


_names = count()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    name = f"t{os.getpid()}_{next(_names)}_{int(time.time() * 1000) % 100000}"
    url = pg_cluster.create_database(name)
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            pg_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store target on each backend: ``str`` file path or a fresh database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def raw_connection(target: str | Path) -> Any:
    """A second, independent connection to ``target`` (``?`` placeholders, autocommit)."""
    from biofeedback.sessions.store import pg
    from biofeedback.sessions.store.backend import is_url

    if is_url(target):
        return pg.connect(str(target))
    return sqlite3.connect(target, isolation_level=None)
