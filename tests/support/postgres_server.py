"""A real, temporary PostgreSQL server for the tests (initdb + pg_ctl on a private socket).

Run as root (as CI does), the server runs as the `postgres` system user, since
PostgreSQL refuses to run as root. When `CI=true`, a missing PostgreSQL is a
failure, never a silent skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """Start a throw-away server; yield a URL for the database `ledger`."""
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed, and CI=true requires the PostgreSQL tests to run")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="exposure-pg-"))
    data, sock = folder / "data", folder / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(sock, "postgres")
        folder.chmod(0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True, env=env)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "exposure", "--no-sync", "-E", "UTF8")
    run(
        str(binaries / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "server.log"),
        "-w",
        "-o",
        f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=100",
        "start",
    )
    try:
        run(str(binaries / "createdb"), "-h", str(sock), "-p", str(port), "-U", "exposure", "ledger")
        yield f"postgresql://exposure@/ledger?host={sock}&port={port}"
    finally:
        subprocess.run(
            [*prefix, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the same server; its URL."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/ledger?", f"/{name}?")


class Cluster:
    """A real primary and a real streaming hot standby (pg_basebackup -R), on local sockets."""

    def __init__(self, binaries: Path, folder: Path, prefix: list[str], env: dict[str, str]) -> None:
        self.binaries, self.folder, self.prefix, self.env = binaries, folder, prefix, env
        self.ports: dict[str, int] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.prefix, *args], check=True, capture_output=True, env=self.env)

    def start(self, name: str) -> None:
        port = self.ports.setdefault(name, _free_port())
        sock = self.folder / "sock"
        self.run(
            str(self.binaries / "pg_ctl"),
            "-D",
            str(self.folder / name),
            "-l",
            str(self.folder / f"{name}.log"),
            "-w",
            "-o",
            f"-k {sock} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=60",
            "start",
        )

    def stop(self, name: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.binaries / "pg_ctl"), "-D", str(self.folder / name), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )

    def url(self, name: str, database: str = "ledger") -> str:
        return f"postgresql://exposure@/{database}?host={self.folder / 'sock'}&port={self.ports[name]}"


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A primary with the database `ledger`, and a standby streaming from it (hot standby)."""
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed, and CI=true requires the PostgreSQL tests to run")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="exposure-pgc-"))
    (folder / "sock").mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(folder / "sock", "postgres")
        folder.chmod(0o755)
        prefix = ["runuser", "-u", "postgres", "--"]
    cluster = Cluster(binaries, folder, prefix, {**os.environ, "LC_ALL": "C"})
    try:
        cluster.run(
            str(binaries / "initdb"),
            "-D",
            str(folder / "primary"),
            "-A",
            "trust",
            "-U",
            "exposure",
            "--no-sync",
            "-E",
            "UTF8",
        )
        cluster.start("primary")
        sock, port = str(folder / "sock"), str(cluster.ports["primary"])
        cluster.run(str(binaries / "createdb"), "-h", sock, "-p", port, "-U", "exposure", "ledger")
        cluster.run(
            str(binaries / "pg_basebackup"),
            *(
                "-D",
                str(folder / "standby"),
                "-h",
                sock,
                "-p",
                port,
                "-U",
                "exposure",
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ),
        )
        cluster.start("standby")
        yield cluster
    finally:
        cluster.stop("standby")
        cluster.stop("primary")
        shutil.rmtree(folder, ignore_errors=True)
