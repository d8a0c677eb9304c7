"""Scale-out: two ``cityops serve`` processes on one PostgreSQL and one Redis behave as one app.

Two real servers on two ports (one gunicorn with two workers, one built-in server), the same
database, the same Redis, the same secret key, and a read replica URL that logs in as a role
with SELECT only (``CITYOPS_DATABASE_READ_URL``). Checked:

* a session made by logging in on one server is accepted by the other, and a wall device's
  session too (sessions are signed cookies checked against the database, nothing per process);
* an incident written by a third process reaches the event streams of both (Redis pub/sub);
* a wall spec published (store + bus, what the API does) is live on both: the refresh callback of
  a wall page opened before the publish answers with the new layout, and both streams hear it;
* pages and callbacks read through the replica role (its connections are there, named per
  server) and work although that role cannot write: every write (log-in, audit log, token use)
  goes through the primary.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from sqlalchemy import create_engine, text

from app.loadtest import DashPage, router_body
from queries.db import make_engine
from queries.migrate import ensure_schema
from tests.app.conftest import REPO_ROOT, TEST_PASSWORD, TEST_SECRET, ensure_test_users, free_port, user_of
from tests.conftest import PG_ADMIN_URL, _unavailable

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

WAIT_SECONDS = 60.0
START_SECONDS = 180.0
READER_PASSWORD = "reader-" + "x" * 12


def wait_for(predicate, timeout: float = WAIT_SECONDS, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _with_user(url: str, user: str, password: str, database: str, application: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=user, password=password, database=database, query={"application_name": application}).render_as_string(hide_password=False)


@pytest.fixture
def platform():
    """A database of its own with the small demo city and the test users, and a role that may
    only SELECT from it; yields (primary URL, reader URL factory, reader role name)."""
    from queries.demo import build_demo_city

    tag = uuid.uuid4().hex[:8]
    name, reader = f"cityops_scaleout_{tag}", f"cityops_reader_{tag}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))  # identifiers of our own making: bound parameters cannot name them
    except Exception as exc:  # noqa: BLE001 - no usable server
        admin.dispose()
        _unavailable("PostgreSQL/PostGIS", str(exc).splitlines()[0])
    primary = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = make_engine(primary)
        ensure_schema(engine)
        build_demo_city(engine, "small", 20261121)
        ensure_test_users(engine)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE ROLE \"{reader}\" LOGIN PASSWORD '{READER_PASSWORD}'"))
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{name}" TO "{reader}"'))
            conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{reader}"'))
            conn.execute(text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"'))
        engine.dispose()

        def reader_url(application: str) -> str:
            return _with_user(primary, reader, READER_PASSWORD, name, application)

        yield primary, reader_url, reader
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{reader}"'))
        admin.dispose()


class Server:
    def __init__(self, name: str, workers: int, env: dict, folder: Path):
        self.name, self.port = name, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"server-{name}.log"
        self._out = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(self.port), "--workers", str(workers)],
                                        cwd=REPO_ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server {self.name} exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return requests.get(f"{self.base}/healthz", timeout=2, cookies={}).status_code == 200
        except requests.RequestException:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._out.close()


class Stream:
    """``/api/v1/events`` read on a thread with a given session cookie."""

    def __init__(self, server: Server, cookies: dict):
        self.response = requests.get(f"{server.base}/api/v1/events", cookies=cookies, stream=True, timeout=(5, 60),
                                     headers={"Accept": "text/event-stream"})
        self.events: list[dict] = []
        self.comments = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        data = []
        try:
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line is None:
                    continue
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and data:
                    self.events.append(json.loads("\n".join(data)))
                    data = []
        except (requests.RequestException, AttributeError, ValueError):
            pass

    def close(self) -> None:
        fp = getattr(getattr(self.response.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.response.close()


def log_in(server: Server, role: str) -> dict:
    """The session cookie of a real log-in through the form (CSRF token included)."""
    browser = requests.Session()
    form = browser.get(f"{server.base}/login", cookies={}, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{server.base}/login", data={"user": user_of(role), "password": TEST_PASSWORD, "csrf": csrf, "next": "/"},
                          headers={"Origin": server.base}, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text[:300]
    return {"session": browser.cookies["session"]}


def wall_device(server: Server, token: str) -> dict:
    answer = requests.get(f"{server.base}/wall/default?token={token}", cookies={}, allow_redirects=False, timeout=60)
    assert answer.status_code == 303, answer.text[:300]
    return {"session": answer.cookies["session"]}


def open_wall(server: Server, cookies: dict) -> DashPage:
    """The default wall as a browser opens it (layout, dependencies, the page router)."""
    headers = {"Origin": server.base}
    page = DashPage()
    page.load(requests.get(f"{server.base}/_dash-layout", cookies=cookies, timeout=60).json(),
              requests.get(f"{server.base}/_dash-dependencies", cookies=cookies, timeout=60).json())
    routed = requests.post(f"{server.base}/_dash-update-component", json=router_body("/wall/default"), cookies=cookies, headers=headers, timeout=60)
    assert routed.status_code == 200, routed.text[:300]
    page.apply(routed.json())
    assert page.has("wall-config"), "the router did not answer with the wall"
    return page


def refresh_wall(server: Server, page: DashPage, cookies: dict) -> dict:
    """One refresh as wall.js sends its first (the screen and the scenes shown)."""
    config = page.get("wall-config", "data")
    scenes = config["scenes"]
    page.set_prop("wall-viewport", "data", {"u": 0.5, "w": 1920, "h": 540})
    page.set_prop("wall-active", "data", {"scene": scenes[0]["id"], "next": scenes[1]["id"] if len(scenes) > 1 else scenes[0]["id"]})
    output = page.callback_for("wall-panels.data")
    answer = requests.post(f"{server.base}/_dash-update-component", json=page.body(output, ["wall-viewport.data", "wall-active.data"]),
                           cookies=cookies, headers={"Origin": server.base}, timeout=120)
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()


def layout_config(answer: dict) -> dict | None:
    """The ``wall-config`` data inside a refresh answer that re-laid the wall out, else None."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and props.get("id") == "wall-config":
                found.append(props.get("data"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(((answer.get("response") or {}).get("wall-page") or {}).get("children"))
    return found[0] if found else None


def publish_wall_title(primary: str, redis_url: str, title: str) -> int:
    """A new version of the default wall with another title, published, and its data version on
    the bus (what the spec API does); returns the version."""
    import datetime as dt

    from queries.bus import RedisBus, bus_channel, data_version_event
    from queries.settings import Settings
    from queries.specs.store import SPECS_DATASET, publish, save_version

    body = yaml.safe_load((REPO_ROOT / "specs" / "walls" / "default.yaml").read_text(encoding="utf-8"))
    body["title"] = {"zh": title, "en": title}
    engine = make_engine(primary)
    try:
        with engine.begin() as conn:
            version = save_version(conn, body, author="test-scaleout")
            data_version = publish(conn, "wall", "default", version, by="test-scaleout")
    finally:
        engine.dispose()
    bus = RedisBus(redis_url, bus_channel(Settings(database_url=primary)))
    try:
        bus.publish(data_version_event(data_version, dt.datetime.now(dt.timezone.utc), SPECS_DATASET, "publish", 1))
    finally:
        bus.close()
    return version


def write_incident(primary: str, redis_url: str, incident_id: str) -> None:
    """An incident through the ingest path in another process, published on the bus."""
    from tests.app.test_live import write_incident_in_another_process

    write_incident_in_another_process(primary, incident_id, redis_url)


def test_two_servers_share_sessions_pushes_specs_and_read_through_the_replica(platform, private_redis, tmp_path):
    primary, reader_url, reader = platform
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    base_env.update(CITYOPS_DATABASE_URL=primary, CITYOPS_REDIS_URL=private_redis.url, CITYOPS_SECRET_KEY=TEST_SECRET, PYTHONUNBUFFERED="1")
    servers = [
        Server("a", 2, {**base_env, "CITYOPS_DATA_DIR": str(tmp_path / "a"), "CITYOPS_DATABASE_READ_URL": reader_url("cityops-read-a")}, tmp_path),
        Server("b", 1, {**base_env, "CITYOPS_DATA_DIR": str(tmp_path / "b"), "CITYOPS_DATABASE_READ_URL": reader_url("cityops-read-b")}, tmp_path),
    ]
    streams: list[Stream] = []
    try:
        for server in servers:
            assert wait_for(server.healthy, timeout=START_SECONDS), f"server {server.name} did not come up: {server.output()[-2000:]}"
        a, b = servers

        # The replica role really cannot write: whatever works below wrote through the primary.
        probe = create_engine(reader_url("cityops-probe"))
        try:
            with pytest.raises(Exception, match="permission denied"), probe.begin() as conn:
                conn.execute(text("INSERT INTO meta (key, value) VALUES ('replica-write', 'x')"))
        finally:
            probe.dispose()

        # Sessions: a log-in on A is a session on B; a wall device's session from B works on A.
        commander = log_in(a, "commander")
        for server in servers:
            page = requests.get(f"{server.base}/command", cookies=commander, allow_redirects=False, timeout=120)
            assert page.status_code == 200, (server.name, page.status_code, page.headers.get("Location"))
        from queries.auth import issue_token

        engine = make_engine(primary)
        with engine.begin() as conn:
            token = issue_token(conn, user_of("wall"))
        device = wall_device(b, token)

        # Both servers cache in the one Redis and read through the replica.
        for server in servers:
            health = requests.get(f"{server.base}/healthz", cookies=commander, timeout=30).json()
            assert (health["status"], health["database"], health["cache"]) == ("ok", "ok", "redis"), (server.name, health)

        # Wall pages opened before anything changes, on both.
        walls = {server.name: open_wall(server, device) for server in servers}
        before = {server.name: refresh_wall(server, walls[server.name], device) for server in servers}
        for name, answer in before.items():
            assert layout_config(answer) is None, f"{name}: re-laid out before any publish"
            assert "wall-panels" in answer["response"], name

        # Pushes: an incident written by a third process reaches a stream on each server.
        streams = [Stream(server, device) for server in servers]
        for stream, server in zip(streams, servers):
            assert stream.response.status_code == 200, (server.name, stream.response.status_code)
            assert wait_for(lambda stream=stream: stream.comments > 0), f"no stream prelude from {server.name}"
        time.sleep(1.0)  # the subscribers and watchers take their starting position
        incident_id = f"SCALE-{uuid.uuid4().hex[:6]}"
        write_incident(primary, private_redis.url, incident_id)
        for stream, server in zip(streams, servers):
            assert wait_for(lambda stream=stream: any(e["payload"].get("incident_id") == incident_id for e in stream.events if e["type"] == "incident.new")), \
                f"{server.name} never pushed {incident_id}: {stream.events[-5:]}"
            pushed = [e for e in stream.events if e["type"] == "incident.new" and e["payload"].get("incident_id") == incident_id]
            assert len(pushed) == 1, f"{server.name} pushed it {len(pushed)} times"
        ids = {next(e["id"] for e in stream.events if e["type"] == "incident.new" and e["payload"].get("incident_id") == incident_id) for stream in streams}
        assert len(ids) == 1, f"the same event has different ids on the two servers: {ids}"
        for server in servers:  # and the new incident is read back (through the replica) on both
            answer = requests.get(f"{server.base}/api/v1/incidents/{incident_id}", cookies=commander, timeout=60)
            assert answer.status_code == 200 and answer.json()["id"] == incident_id, (server.name, answer.status_code, answer.text[:300])

        # A spec published once is live on both: both streams hear it, both refreshes re-lay the wall out.
        heard = {id(stream): len(stream.events) for stream in streams}
        version = publish_wall_title(primary, private_redis.url, "扩容测试大屏")
        for stream, server in zip(streams, servers):
            assert wait_for(lambda stream=stream: any(e["type"] == "data_version" and (e.get("payload") or {}).get("dataset_code") == "specs"
                                                      for e in stream.events[heard[id(stream)]:])), \
                f"{server.name} did not push the publish: {stream.events[heard[id(stream)]:]}"
        for server in servers:
            answer = refresh_wall(server, walls[server.name], device)
            config = layout_config(answer)
            assert config is not None, f"{server.name} still shows the old wall: {sorted(answer['response'])}"
            assert (config["version"], config["source"]) == (version, "database"), (server.name, config)
            assert "扩容测试大屏" in json.dumps(answer, ensure_ascii=False), server.name

        # Reads went through the replica role, one pool per server; writes (log-in, audit) through the primary.
        with engine.connect() as conn:
            readers = set(conn.execute(text("SELECT application_name FROM pg_stat_activity WHERE usename = :role AND datname = current_database()"),
                                       {"role": reader}).scalars())
            logins = conn.execute(text("SELECT count(*) FROM audit_log WHERE action = 'login' AND user_name = :user"), {"user": user_of("commander")}).scalar_one()
        engine.dispose()
        assert {"cityops-read-a", "cityops-read-b"} <= readers, readers
        assert logins >= 1
    finally:
        for stream in streams:
            stream.close()
        outputs = {}
        for server in servers:
            server.stop()
            outputs[server.name] = server.output()
    for name, output in outputs.items():
        assert "permission denied" not in output, f"server {name} tried to write through the replica:\n{output[-3000:]}"
        assert "Traceback" not in output, f"server {name} logged an error:\n{output[-3000:]}"
