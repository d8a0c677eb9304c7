"""Private PostgreSQL + PostGIS and Redis servers for outage tests.

The machine's own servers (PostgreSQL on 5432, Redis on 6379) are shared by every test and must
stay up, so a test that wants to stop and restart a service starts one of its own, on a free port,
in a temporary directory, and throws it away afterwards::

    with PrivatePostgres() as pg, PrivateRedis() as rd:
        engine = make_engine(pg.url)
        pg.stop()      # the server goes away (clients see refused connections)
        pg.start()     # same port, same data: pooled connections are stale, the data is there

``ServiceUnavailable`` is raised when the binaries are missing or the server does not come up;
the fixtures in ``tests/conftest.py`` turn it into a skip (a failure under ``CI=true``).

PostgreSQL: ``initdb`` refuses to run as root, so as root every server command runs as the
``postgres`` OS user (``runuser -u postgres --``) on a directory it owns. The directory is made
with ``tempfile.mkdtemp`` under the system temp dir, not under pytest's ``tmp_path`` (root-only,
mode 700, which ``postgres`` could not enter). The server listens on 127.0.0.1 only and keeps its
unix socket inside that directory; fsync is off (tests do not need durability).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("CITYOPS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_DATABASE = "cityops"
START_TIMEOUT_SECONDS = 60.0


class ServiceUnavailable(RuntimeError):
    """The binaries are missing or the private server did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class _ThrowAwayServer:
    """A server of the test's own in a temporary directory: ``with`` starts it, leaving stops it
    (``_halt``) and removes the directory, also when the start itself failed half-way."""

    directory: Path | None = None

    def start(self):
        raise NotImplementedError

    def _halt(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        try:
            self._halt()
        finally:
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.directory = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()


class PrivatePostgres(_ThrowAwayServer):
    """A throw-away PostgreSQL 15 cluster with PostGIS in database ``cityops``.

    ``start()`` (also on ``__enter__``) runs initdb the first time; ``stop(mode)`` stops it with
    ``pg_ctl stop -m fast`` (clients are disconnected, like a restart) or ``immediate`` (a crash);
    ``start()`` again brings it back on the same port with the same data; ``close()`` stops it
    and removes the directory.
    """

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.directory: Path | None = None
        self._running = False

    # -- paths and commands -------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def url(self) -> str:
        """A ``postgresql+psycopg`` URL, the form ``queries.db.normalise_url`` produces."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def running(self) -> bool:
        return self._running

    def _as_owner(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def _run(self, args: list[str], timeout: float = START_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
        result = subprocess.run(self._as_owner(args), capture_output=True, text=True, timeout=timeout, cwd=self.directory)
        if result.returncode != 0:
            raise ServiceUnavailable(f"{Path(args[0]).name} failed ({result.returncode}): {(result.stderr or result.stdout).strip()[-2000:]}\n{self._log_tail()}")
        return result

    def _log_tail(self) -> str:
        try:
            return "server log: " + self.log_file.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    # -- lifecycle -----------------------------------------------------------------------------

    def _initdb(self) -> None:
        for binary in ("initdb", "pg_ctl", "postgres"):
            if not (PG_BIN / binary).exists():
                raise ServiceUnavailable(f"{PG_BIN / binary} not found (apt-get install postgresql-15-postgis-3)")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise ServiceUnavailable("running as root and runuser is missing: initdb refuses to run as root")
        self.directory = Path(tempfile.mkdtemp(prefix="cityops-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.directory, user="postgres", group="postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
        }
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# cityops tests\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))

    def start(self) -> PrivatePostgres:
        if self._running:
            return self
        first = self.directory is None
        if first:
            self._initdb()
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(int(START_TIMEOUT_SECONDS)), "start"])
        self._running = True
        if not _wait(lambda: _port_open(self.port), 10):
            raise ServiceUnavailable(f"PostgreSQL started but does not listen on 127.0.0.1:{self.port}\n{self._log_tail()}")
        if first:
            self._create_database()
        return self

    def _create_database(self) -> None:
        psql = str(PG_BIN / "psql")
        common = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        self._run([psql, *common, "-d", "postgres", "-c", "CREATE DATABASE cityops"])
        try:
            self._run([psql, *common, "-d", PG_DATABASE, "-c", "CREATE EXTENSION IF NOT EXISTS postgis"])
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(f"PostGIS is not installed for PostgreSQL 15 (apt-get install postgresql-15-postgis-3): {exc}") from None

    def stop(self, mode: str = "fast") -> None:
        """``fast``: disconnect clients and shut down cleanly; ``immediate``: like a crash."""
        if not self._running:
            return
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"pg_ctl stop mode {mode!r}")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop"])
        self._running = False

    def _halt(self) -> None:
        if self._running:
            self.stop("immediate")


class PrivateRedis(_ThrowAwayServer):
    """A throw-away ``redis-server`` (no persistence) on its own port; restartable on that port."""

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.directory: Path | None = None
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> PrivateRedis:
        if self.running:
            return self
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed (apt-get install redis-server)")
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="cityops-redis-"))
        log_file = self.directory / "redis.log"
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", str(self.directory), "--logfile", str(log_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if not _wait(self._ping, START_TIMEOUT_SECONDS / 2):
            self.stop()
            tail = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
            raise ServiceUnavailable(f"redis-server did not answer on 127.0.0.1:{self.port}: {tail}")
        return self

    def stop(self) -> None:
        """Kill the server (SIGKILL: connections drop at once, as when Redis crashes)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)

    def _halt(self) -> None:
        self.stop()


class BlackHole:
    """A TCP port that accepts connections and never answers: a hung server or a dropped network.

    ``url`` in the form of a PostgreSQL URL; clients must give up by their own timeouts.
    """

    def __init__(self):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)  # the kernel completes handshakes; nobody ever reads
        self.port = self._socket.getsockname()[1]

    @property
    def pg_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
