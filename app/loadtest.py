"""A bounded load generator: operations-centre sessions replayed over HTTP, as browsers make them.

Why aiohttp (asyncio) rather than locust or threads: every session holds a server-sent-events
stream open for its whole life and waits seconds between clicks, so 200 sessions are 200 mostly
idle sockets plus bursts of requests. One asyncio loop in one process carries that with a few
percent of one core; locust (gevent, a web UI, a master/worker split) or 200 threads would take
CPU from the server being measured on a 2-core machine, and locust would not give the Dash
request chaining (a response feeds the next request) any more simply.

Sessions (each its own cookie jar, up to six connections like a browser, its own log-in):

* **wall** — a video-wall device: opens ``/wall/ID?token=…`` (a device session), loads the
  page like Dash does (index, scripts once, layout, dependencies, the page router), then drives
  the refresh callback as ``assets/wall.js`` does (``WallPump``: the first refresh with the screen
  and the scenes, a beat every tick, the next scene refreshed ``soon`` before it shows, live events
  coalesced, one refresh in flight), and holds ``/api/v1/events``, whose events go into the live
  store as ``assets/cityops-live.js`` puts them.
* **commander** — logs in with the form (``/login``, CSRF token), opens ``/command``, holds the
  event stream (a new incident re-runs the render callback, as the page's clientside gate lets
  it), and drills: the
  state callback then the render callback for a child area (``command-area-item``), down to the
  unit grid, then an incident (``command-incident-item``), then back to the city by the
  breadcrumb; a few seconds of thinking between clicks.
* **leader** — logs in and opens the briefing (``/briefing``, one HTML page and its stylesheet)
  every 15–45 s.

``DashPage`` is the part of Dash's renderer this needs, without I/O: it keeps the components of
the page (from the layout and every response), builds ``/_dash-update-component`` bodies from
``/_dash-dependencies`` (pattern-matching ``ALL`` inputs and outputs included) and applies the
answers. ``app.bench`` uses it too, to measure page payloads in-process.

Every request is timed; an action (a drill step = its state and render callbacks) is timed as the user waits
for it. Errors are HTTP statuses ≥ 400, broken connections and timeouts. Nothing here asserts a
time: ``run_load`` returns the figures and ``format_load_table`` prints them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.command import LIVE_SLACK_MS

DASH_UPDATE = "/_dash-update-component"
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
LIVE_RECENT = 50  # assets/cityops-live.js keeps the 50 newest events in the store
LIVE_SLACK_S = LIVE_SLACK_MS / 1000
WALL_TICK_S = 5.0  # app/wall/view.py TICK_MS
BROWSER_CONNECTIONS = 6  # per host, like a browser
REQUEST_TIMEOUT_S = 60.0
KEEPALIVE_S = 1.0  # below gunicorn's keepalive (2 s)
ASSET_RE = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="(/(?:_dash-component-suites|assets)/[^"]+)"')
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def id_key(component_id) -> str:
    """Dash's string form of a component id (``stringifyId``: sorted keys, no spaces)."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(component_id)


def _is_component(value) -> bool:
    return isinstance(value, dict) and "props" in value and "type" in value and "namespace" in value


def _split_output(output: str) -> list[tuple[str, str]]:
    """``..a.children...b.data..`` / ``a.children`` → [(id, property)] (ids may be JSON with dots)."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(part.rsplit(".", 1)) for part in parts]


def _pattern(key: str):
    """A declared pattern id (``{"key":["ALL"],"type":"wall-body"}``) as a dict, else None."""
    return json.loads(key) if key.startswith("{") else None


def _matches(pattern: dict, component_id) -> bool:
    if not isinstance(component_id, dict) or set(component_id) != set(pattern):
        return False
    return all(isinstance(value, list) or component_id[name] == value for name, value in pattern.items())


class DashPage:
    """The components of one Dash page and its callbacks: request bodies in, answers applied.

    ``load(layout, dependencies)`` with the JSON of ``/_dash-layout`` and ``/_dash-dependencies``;
    ``body(output, changed)`` is the request of the server callback whose output string is
    ``output`` with ``changed`` (``"id.prop"`` strings) as ``changedPropIds``; ``apply(answer)``
    merges a response. ``set_prop`` is what a clientside ``set_props`` or a click does.
    """

    def __init__(self):
        self.props: dict[str, dict] = {}  # id key → the component's props (shared with the tree)
        self.ids: dict[str, object] = {}  # id key → the id itself (dict ids stay dicts)
        self.owner: dict[str, tuple[str, str] | None] = {}  # id key → (parent id key, property) it lives in
        self.callbacks: dict[str, dict] = {}  # output string → dependency (server callbacks only)

    # -- the tree -------------------------------------------------------------------------------

    def load(self, layout, dependencies: list[dict]) -> None:
        self.callbacks = {dep["output"]: dep for dep in dependencies if not dep.get("clientside_function")}
        self._add(layout, None)

    def _add(self, value, owner: tuple[str, str] | None) -> list[str]:
        """Index every component with an id inside ``value``; returns their keys."""
        added: list[str] = []
        stack = [(value, owner)]
        while stack:
            node, current = stack.pop()
            if isinstance(node, list):
                stack.extend((item, current) for item in reversed(node))
            elif _is_component(node):
                props = node["props"]
                key = id_key(props["id"]) if props.get("id") is not None else None
                if key is not None:
                    self.props[key], self.ids[key], self.owner[key] = props, props["id"], current
                    added.append(key)
                child = props.get("children")  # components live in children here (never in data, layers…)
                if isinstance(child, (dict, list)):
                    stack.append((child, (key, "children") if key is not None else current))
        return added

    def _remove_under(self, key: str, prop: str) -> None:
        """Forget the components that lived in ``key``'s ``prop`` (replaced by an answer), and theirs."""
        removed: set[str] = set()
        changed = True
        while changed:
            changed = False
            for child, owner in list(self.owner.items()):
                if owner is not None and (owner == (key, prop) or owner[0] in removed):
                    removed.add(child)
                    del self.props[child], self.ids[child], self.owner[child]
                    changed = True

    def apply(self, answer: dict | None) -> list[str]:
        """Merge a callback's ``response``; returns the keys of components it added."""
        added: list[str] = []
        for key, values in ((answer or {}).get("response") or {}).items():
            props = self.props.get(key)
            if props is None:
                continue
            for prop, value in values.items():
                if prop == "children":
                    self._remove_under(key, prop)
                props[prop] = value
                if prop == "children" and isinstance(value, (dict, list)):
                    added.extend(self._add(value, (key, prop)))
        return added

    def set_prop(self, component_id, prop: str, value) -> None:
        self.props[id_key(component_id)][prop] = value

    def get(self, component_id, prop: str, default=None):
        return self.props.get(id_key(component_id), {}).get(prop, default)

    def find(self, **pattern) -> list[object]:
        """Ids of the components whose dict id has these values (e.g. ``type="command-area-item"``)."""
        return [self.ids[key] for key in self.props if isinstance(self.ids[key], dict)
                and all(self.ids[key].get(name) == value for name, value in pattern.items())]

    def has(self, component_id) -> bool:
        return id_key(component_id) in self.props

    # -- requests -------------------------------------------------------------------------------

    def _items(self, declared: dict, with_value: bool):
        pattern = _pattern(declared["id"])
        if pattern is None:
            item = {"id": declared["id"], "property": declared["property"]}
            if with_value:
                item["value"] = self.props.get(declared["id"], {}).get(declared["property"])
            return item
        matched = []
        for key, props in self.props.items():
            if _matches(pattern, self.ids[key]):
                item = {"id": self.ids[key], "property": declared["property"]}
                if with_value:
                    item["value"] = props.get(declared["property"])
                matched.append(item)
        return matched

    def callback_for(self, fragment: str) -> str:
        """The output string of the server callback whose output contains ``fragment``."""
        for output in self.callbacks:
            if fragment in output:
                return output
        raise KeyError(f"no server callback with an output like {fragment!r}")

    def body(self, output: str, changed: Iterable[str] = ()) -> dict:
        dep = self.callbacks[output]
        declared_outputs = [{"id": component, "property": prop} for component, prop in _split_output(output)]
        outputs = [self._items(item, False) for item in declared_outputs]
        return {
            "output": output,
            "outputs": outputs if output.startswith("..") else outputs[0],
            "inputs": [self._items(item, True) for item in dep["inputs"]],
            "state": [self._items(item, True) for item in dep.get("state", [])],
            "changedPropIds": list(changed),
        }

    def initial_callbacks(self, added: Iterable[str]) -> list[str]:
        """Server callbacks Dash runs when components appear: not ``prevent_initial_call``, every
        input present, and at least one input or output among the ``added`` components."""
        fresh = set(added)
        due = []
        for output, dep in self.callbacks.items():
            if dep.get("prevent_initial_call"):
                continue
            inputs = [item["id"] for item in dep["inputs"]]
            if not all(_pattern(i) is not None or i in self.props for i in inputs):
                continue
            touched = {i for i in inputs if i in fresh} | {component for component, _ in _split_output(output) if component in fresh}
            if touched:
                due.append(output)
        return due


def router_body(pathname: str, search: str = "") -> dict:
    """The Dash pages router's request for ``pathname`` (what the renderer sends on a page load)."""
    return {"output": ROUTER_OUTPUT, "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"]}


class LiveStore:
    """The ``live-events`` store as assets/cityops-live.js fills it: newest first, 50 at most."""

    def __init__(self):
        self.recent: list[dict] = []
        self.seq = 0

    def push(self, event: dict) -> bool:
        if any(known.get("id") == event.get("id") for known in self.recent):
            return False
        event = {**event, "received_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        self.recent.insert(0, event)
        del self.recent[LIVE_RECENT:]
        self.seq += 1
        return True

    def value(self) -> dict:
        return {"last": self.recent[0] if self.recent else None, "recent": list(self.recent), "seq": self.seq}


class LiveGate:
    """The console's live gate (the clientside callback before ``command-live`` in
    app/pages/command.py), as the browser runs it: a new incident in the console's area
    (``command-render.scope``), passing its filters, received since the console last drew."""

    def __init__(self, slack_s: float):
        self.slack_s = slack_s
        self.since = time.time() - slack_s
        self.last_id: str | None = None

    def drew(self) -> None:
        self.since = time.time() - self.slack_s

    def admit(self, live: LiveStore, state: dict | None, render: dict | None) -> dict | None:
        """The ``command-live`` value to set, or None when the console does not redraw."""
        scope, state, since = (render or {}).get("scope"), state or {}, self.since
        self.since = time.time()

        def shown(event: dict) -> bool:
            incident = event.get("payload") or {}
            return (event.get("type") == "incident.new" and dt.datetime.fromisoformat(event["received_at"]).timestamp() > since
                    and (not scope or incident.get(f"{scope['level']}_code") == scope["code"])
                    and all(not state.get(name) or incident.get(name) in state[name] for name in ("severity", "category", "status", "channel")))

        fresh = [event for event in live.recent if shown(event)]
        if not fresh or fresh[0].get("id") == self.last_id:
            return None
        self.last_id = fresh[0].get("id")
        return {"seq": live.seq, "recent": fresh, "last": fresh[0]}


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Latencies per action and per request kind, errors, bytes; one per load phase."""

    started: float = field(default_factory=time.monotonic)
    actions: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    bytes_in: int = 0
    retries: int = 0  # requests sent again after a kept-alive connection closed under them (as browsers do)
    events: list[float] = field(default_factory=list)  # SSE: event time → receipt, seconds
    sse: dict[str, int] = field(default_factory=lambda: {"opened": 0, "refused": 0, "dropped": 0, "events": 0})
    stopping: bool = False
    action_ends: dict[str, list[float]] = field(default_factory=dict)  # when each action ended, seconds into the phase
    sessions: int = 0  # how many the phase starts
    open_sessions: int = 0  # how many have logged in and opened their page
    all_open_at: float | None = None  # seconds into the phase when the last one had

    def action(self, name: str, seconds: float) -> None:
        self.actions.setdefault(name, []).append(seconds)
        self.action_ends.setdefault(name, []).append(time.monotonic() - self.started)

    def opened(self) -> None:
        """A session has logged in and opened its page: the log-in storm is over when all have."""
        self.open_sessions += 1
        if self.open_sessions == self.sessions:
            self.all_open_at = time.monotonic() - self.started

    def steady(self) -> dict[str, list[float]]:
        """The actions that began after every session was open (none before that is known)."""
        if self.all_open_at is None:
            return {}
        return {name: [seconds for seconds, end in zip(values, self.action_ends[name]) if end - seconds >= self.all_open_at]
                for name, values in self.actions.items()}

    def request(self, kind: str, seconds: float, size: int) -> None:
        self.requests.setdefault(kind, []).append(seconds)
        self.bytes_in += size

    def error(self, where: str, message: str) -> None:
        if self.stopping:
            return  # a request cut by the end of the phase is not the server's fault
        self.errors[where] = self.errors.get(where, 0) + 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{where}: {message}"[:300])


class RequestFailed(RuntimeError):
    pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(samples: list[float], seconds: float) -> dict:
    ms = [value * 1000 for value in samples]
    return {"n": len(ms), "per_s": round(len(ms) / seconds, 2) if seconds else None,
            "p50_ms": round(_percentile(ms, 50), 1) if ms else None, "p95_ms": round(_percentile(ms, 95), 1) if ms else None,
            "p99_ms": round(_percentile(ms, 99), 1) if ms else None, "max_ms": round(max(ms), 1) if ms else None}


# --- one browser ----------------------------------------------------------------------------------


class Browser:
    """A session's HTTP side: cookie jar, six connections, timed requests, scripts cached once."""

    def __init__(self, base: str, recorder: Recorder, *, fetch_assets: bool):
        import aiohttp

        self.base = base
        self.recorder = recorder
        self.fetch_assets = fetch_assets
        self.cached: set[str] = set()
        self.http = aiohttp.ClientSession(
            base, cookie_jar=aiohttp.CookieJar(unsafe=True),  # unsafe: keep cookies of an IP address (127.0.0.1)
            # An idle connection is dropped before gunicorn's keep-alive (2 s) closes it under us: a
            # browser retries a request reset on a stale connection; aiohttp does not for a POST.
            connector=aiohttp.TCPConnector(limit=BROWSER_CONNECTIONS, keepalive_timeout=KEEPALIVE_S),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S, sock_connect=10),
            headers={"Origin": base, "Accept-Encoding": "gzip, deflate"},
        )

    async def close(self) -> None:
        await self.http.close()

    async def request(self, kind: str, method: str, path: str, *, ok=(200, 204), **options) -> tuple[int, bytes, dict]:
        import aiohttp

        began = time.monotonic()
        for attempt in (1, 2):
            try:
                async with self.http.request(method, path, allow_redirects=False, **options) as response:
                    data = await response.read()
                    status, headers = response.status, dict(response.headers)
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                # A kept-alive connection the server closed as the request went out: a browser sends
                # the request again on a new connection (no answer came); counted, not an error.
                if attempt == 1 and not isinstance(exc, aiohttp.ClientConnectorError):
                    self.recorder.retries += 1
                    continue
                self.recorder.error(kind, f"{type(exc).__name__}: {exc}")
                raise RequestFailed(f"{kind}: {type(exc).__name__}") from exc
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                self.recorder.error(kind, f"{type(exc).__name__}: {exc}")
                raise RequestFailed(f"{kind}: {type(exc).__name__}") from exc
        self.recorder.request(kind, time.monotonic() - began, len(data))
        if status not in ok:
            self.recorder.error(kind, f"HTTP {status} {method} {path[:80]}: {data[:160]!r}")
            raise RequestFailed(f"{kind}: HTTP {status}")
        return status, data, headers

    async def get_json(self, kind: str, path: str):
        _, data, _ = await self.request(kind, "GET", path)
        return json.loads(data)

    async def assets(self, html: str) -> None:
        """The page's scripts and stylesheets, once per session (then the browser cache has them)."""
        if not self.fetch_assets:
            return
        wanted = [url for url in dict.fromkeys(ASSET_RE.findall(html)) if url not in self.cached]
        if wanted:
            done = await asyncio.gather(*(self.request("asset", "GET", url) for url in wanted), return_exceptions=True)
            failed = [result for result in done if isinstance(result, BaseException)]
            if failed:
                raise failed[0]
            self.cached.update(wanted)

    async def callback(self, page: DashPage, output: str, changed: Iterable[str] = (), kind: str = "callback") -> list[str]:
        status, data, _ = await self.request(kind, "POST", DASH_UPDATE, json=page.body(output, changed))
        return page.apply(json.loads(data)) if status == 200 and data else []

    async def dash_page(self, path: str, search: str = "") -> tuple[DashPage, str]:
        """A Dash page as the browser opens it; returns the page with its initial callbacks run."""
        _, data, _ = await self.request("page", "GET", path + search)
        html = data.decode("utf-8", "replace")
        await self.assets(html)
        layout, dependencies = await asyncio.gather(self.get_json("dash-layout", "/_dash-layout"), self.get_json("dash-deps", "/_dash-dependencies"))
        page = DashPage()
        page.load(layout, dependencies)
        page.set_prop("shell-url", "pathname", path)
        page.set_prop("shell-url", "search", search)
        shell = [output for output in page.initial_callbacks(list(page.props))]
        status, data, _ = await self.request("dash-router", "POST", DASH_UPDATE, json=router_body(path, search))
        added = page.apply(json.loads(data)) if data else []
        due = [output for output in page.initial_callbacks(added) if output not in shell]
        done = await asyncio.gather(*(self.callback(page, output, (), "callback") for output in shell + due), return_exceptions=True)
        failed = [result for result in done if isinstance(result, BaseException)]
        if failed:
            raise failed[0]
        return page, html

    async def login(self, user: str, password: str) -> None:
        began = time.monotonic()
        _, data, _ = await self.request("login-form", "GET", "/login")
        match = CSRF_RE.search(data.decode("utf-8", "replace"))
        if not match:
            raise RequestFailed("login: no CSRF token in the form")
        await self.request("login", "POST", "/login", ok=(303, 302), data={"user": user, "password": password, "csrf": match.group(1), "next": "/"})
        self.recorder.action("login", time.monotonic() - began)

    async def events(self, on_event: Callable[[dict], None], stop: asyncio.Event) -> None:
        """Hold /api/v1/events until ``stop``; reconnect (after the last id) when the server ends it."""
        import aiohttp

        last_id = None
        backoff = 1.0
        while not stop.is_set():
            path = "/api/v1/events" + (f"?lastEventId={last_id}" if last_id else "")
            try:
                async with self.http.get(path, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)) as response:
                    if response.status != 200:
                        self.recorder.sse["refused"] += 1
                        self.recorder.error("sse", f"HTTP {response.status}")
                        await asyncio.wait_for(stop.wait(), backoff) if not stop.is_set() else None
                        backoff = min(30.0, backoff * 2)
                        continue
                    self.recorder.sse["opened"] += 1
                    backoff = 1.0
                    fields: dict[str, str] = {}
                    async for raw in response.content:
                        line = raw.decode("utf-8", "replace").rstrip("\r\n")
                        if line:
                            name, _, value = line.partition(":")
                            fields[name] = value[1:] if value.startswith(" ") else value
                            continue
                        if fields.get("id"):
                            last_id = fields["id"]
                        if fields.get("event") == "stream-end":
                            break
                        if "data" in fields:
                            try:
                                event = json.loads(fields["data"])
                            except ValueError:
                                event = None
                            if isinstance(event, dict) and event.get("type"):
                                self.recorder.sse["events"] += 1
                                if event.get("at"):
                                    try:
                                        self.recorder.events.append(time.time() - dt.datetime.fromisoformat(event["at"]).timestamp())
                                    except ValueError:
                                        pass
                                on_event(event)
                        fields = {}
            except asyncio.TimeoutError:
                continue  # no heartbeat within a minute: reconnect
            except (aiohttp.ClientError, OSError) as exc:
                if stop.is_set():
                    return
                self.recorder.sse["dropped"] += 1
                self.recorder.error("sse", f"{type(exc).__name__}: {exc}")
                try:
                    await asyncio.wait_for(stop.wait(), backoff)
                except asyncio.TimeoutError:
                    pass


# --- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """Who the sessions are: wall devices' ``/wall/ID?token=…`` paths, and (user, password) pairs."""

    walls: list[str]
    commanders: list[tuple[str, str]]
    leaders: list[tuple[str, str]]


class Replacing:
    """Dash's handling of one callback: a newer request goes out while one is in flight and
    replaces it (the older answer is dropped when it comes; the server still computes it)."""

    def __init__(self):
        self.generation = 0

    async def run(self, browser: Browser, page: DashPage, output: str, changed: list[str], kind: str) -> tuple[float, bool]:
        self.generation += 1
        mine = self.generation
        began = time.monotonic()
        status, data, _ = await browser.request(kind, "POST", DASH_UPDATE, json=page.body(output, changed))
        current = mine == self.generation
        if current and status == 200 and data:
            page.apply(json.loads(data))
        return time.monotonic() - began, current


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except asyncio.TimeoutError:
        pass


class WallPump:
    """What assets/wall.js does between the page and the refresh callback: the stores that
    trigger a refresh (the beat every tick, live events, the scene shown and the one coming
    ``soon``, the screen) are set together, ONE refresh is in flight at a time, and a refresh for
    live events alone goes at most every ``coalesce`` seconds. (A page of the previous wall.js,
    with ``wall-tick``/``live-events`` as inputs, is driven the same way.)"""

    def __init__(self, page: DashPage, browser: Browser, recorder: Recorder, coalesce: float = 2.0):
        self.page, self.browser, self.recorder, self.coalesce = page, browser, recorder, coalesce
        self.output = page.callback_for("wall-panels.data")
        inputs = {item["id"] for item in page.callbacks[self.output]["inputs"]}
        self.beat_input = ("wall-beat", "data") if "wall-beat" in inputs else ("wall-tick", "n_intervals")
        self.live_input = ("wall-live", "data") if "wall-live" in inputs else ("live-events", "data")
        self.beats = 0
        self.pending: dict[tuple[str, str], object] = {}
        self.live: LiveStore | None = None
        self.live_sent: int | None = None
        self.last_sent = 0.0
        self.in_flight = False
        self.wake = asyncio.Event()

    def beat(self) -> None:
        self.beats += 1
        self.pending[self.beat_input] = self.beats
        self.wake.set()

    def set(self, component: str, prop: str, value) -> None:
        self.pending[(component, prop)] = value
        self.wake.set()

    def event(self, live: LiveStore) -> None:
        self.live = live
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.wake.wait()
            self.wake.clear()
            if stop.is_set():
                break
            live_due = self.live is not None and self.live.seq != self.live_sent
            if not self.pending and not live_due:
                continue
            if not self.pending:
                wait = self.last_sent + self.coalesce - time.monotonic()
                if wait > 0:  # the trailing edge of this window
                    await _pause(stop, wait)
                    self.wake.set()
                    continue
            changed = []
            for (component, prop), value in self.pending.items():
                if self.page.has(component):
                    self.page.set_prop(component, prop, value)
                    changed.append(f"{component}.{prop}")
            self.pending.clear()
            if live_due and self.page.has(self.live_input[0]):
                self.live_sent = self.live.seq
                self.page.set_prop(*self.live_input, self.live.value())
                changed.append(".".join(self.live_input))
            self.last_sent = time.monotonic()
            try:
                status, data, _ = await self.browser.request("wall-refresh", "POST", DASH_UPDATE, json=self.page.body(self.output, changed))
                if status == 200 and data:
                    self.page.apply(json.loads(data))
                self.recorder.action("wall.refresh", time.monotonic() - self.last_sent)
            except RequestFailed:
                pass


async def wall_session(base: str, device_path: str, recorder: Recorder, stop: asyncio.Event, rng: random.Random, *, fetch_assets: bool,
                       preroll: float = 10.0) -> None:
    browser = Browser(base, recorder, fetch_assets=fetch_assets)
    tasks: list[asyncio.Task] = []
    try:
        began = time.monotonic()
        path = device_path.split("?", 1)[0]
        await browser.request("wall-token", "GET", device_path, ok=(303,))  # the token becomes a device session
        page, _ = await browser.dash_page(path)
        config = page.get("wall-config", "data") or {}
        scenes = config.get("scenes") or [{"id": (page.get("wall-active", "data") or {}).get("scene"), "dwell": 60}]
        pump = WallPump(page, browser, recorder)

        def active(index: int, soon: bool) -> dict:
            return {"scene": scenes[index]["id"], "next": scenes[(index + 1) % len(scenes)]["id"], "soon": soon}

        # configure(): the screen and the scenes go in the first refresh; the page is open when it answers.
        pump.set("wall-viewport", "data", {"u": 0.5, "w": 1920, "h": 540})
        pump.set("wall-active", "data", active(0, False))
        first = recorder.actions.get("wall.refresh", [])
        before = len(first)
        tasks.append(asyncio.ensure_future(pump.run(stop)))
        while len(recorder.actions.get("wall.refresh", [])) == before and not stop.is_set() and not tasks[0].done():
            await asyncio.sleep(0.05)
        if len(recorder.actions.get("wall.refresh", [])) > before:
            recorder.action("wall.open", time.monotonic() - began)
            recorder.opened()
        live = LiveStore()

        def on_event(event: dict) -> None:
            if live.push(event):
                pump.event(live)

        tasks.append(asyncio.ensure_future(browser.events(on_event, stop)))

        async def beats() -> None:
            while not stop.is_set():
                await _pause(stop, WALL_TICK_S)
                if not stop.is_set():
                    pump.beat()

        async def carousel() -> None:
            index = 0
            while not stop.is_set() and len(scenes) > 1:
                dwell = float(scenes[index].get("dwell") or 60)
                await _pause(stop, max(0.0, dwell - preroll))
                pump.set("wall-active", "data", active(index, True))  # the next scene is due soon: refresh it now
                await _pause(stop, min(preroll, dwell))
                index = (index + 1) % len(scenes)
                pump.set("wall-active", "data", active(index, False))

        tasks += [asyncio.ensure_future(beats()), asyncio.ensure_future(carousel())]
        await stop.wait()
    except RequestFailed:
        pass
    finally:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await browser.close()


async def commander_session(base: str, user: tuple[str, str], recorder: Recorder, stop: asyncio.Event, rng: random.Random, *,
                            fetch_assets: bool, think: tuple[float, float] = (2.0, 6.0)) -> None:
    browser = Browser(base, recorder, fetch_assets=fetch_assets)
    tasks: list[asyncio.Task] = []
    pending: set[asyncio.Task] = set()  # live renders in flight
    try:
        await browser.login(*user)
        began = time.monotonic()
        page, _ = await browser.dash_page("/command")
        recorder.action("command.open", time.monotonic() - began)
        recorder.opened()
        state_output = page.callback_for("command-state.data")
        render_output = page.callback_for("command-render.data")
        city = page.find(type="command-area-item")
        renderer = Replacing()
        live = LiveStore()

        # The page's own gate (app/pages/command.py): a clientside callback copies the shell's
        # live store into "command-live" only for a new incident the console shows.
        gate = LiveGate(LIVE_SLACK_S)

        def on_event(event: dict) -> None:
            if not live.push(event):
                return
            value = gate.admit(live, page.get("command-state", "data"), page.get("command-render", "data"))
            if value is None:
                return
            page.set_prop("command-live", "data", value)

            async def go():
                try:
                    seconds, drawn = await renderer.run(browser, page, render_output, ["command-live.data"], "command-render")
                    if drawn:
                        gate.drew()
                    recorder.action("command.live", seconds)
                except (RequestFailed, RuntimeError):  # RuntimeError: the session closed under it at the end
                    pass
            task = asyncio.ensure_future(go())
            pending.add(task)
            task.add_done_callback(pending.discard)

        tasks.append(asyncio.ensure_future(browser.events(on_event, stop)))

        async def click(component_id: dict, action: str) -> None:
            """A click: n_clicks + 1, then the state callback and the render of the new state (one
            request when the page computes both in one callback, two when they are separate)."""
            clicks = (page.get(component_id, "n_clicks") or 0) + 1
            page.set_prop(component_id, "n_clicks", clicks)
            started = time.monotonic()
            changed = [f"{id_key(component_id)}.n_clicks"]
            if state_output == render_output:
                _, drawn = await renderer.run(browser, page, render_output, changed, "command-step")
            else:
                _, data, _ = await browser.request("command-state", "POST", DASH_UPDATE, json=page.body(state_output, changed))
                if data:
                    page.apply(json.loads(data))
                _, drawn = await renderer.run(browser, page, render_output, ["command-state.data"], "command-render")
            if drawn:
                gate.drew()
            recorder.action(action, time.monotonic() - started)

        while not stop.is_set():
            await _pause(stop, rng.uniform(*think))
            if stop.is_set():
                break
            children = page.find(type="command-area-item")
            incidents = page.find(type="command-incident-item")
            crumbs = page.find(type="command-crumb")
            if children and rng.random() < 0.85:
                await click(rng.choice(children), "drill")
            elif incidents and rng.random() < 0.7:
                await click(rng.choice(incidents), "incident")
            elif crumbs:
                await click(crumbs[0], "drill")  # back to the city by the breadcrumb
            elif city:
                await click(rng.choice(city), "drill")
        if pending:
            await asyncio.wait(pending, timeout=REQUEST_TIMEOUT_S)
    except RequestFailed:
        pass
    finally:
        tasks += list(pending)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await browser.close()


async def leader_session(base: str, user: tuple[str, str], recorder: Recorder, stop: asyncio.Event, rng: random.Random, *,
                         fetch_assets: bool, think: tuple[float, float] = (15.0, 45.0)) -> None:
    browser = Browser(base, recorder, fetch_assets=fetch_assets)
    try:
        await browser.login(*user)
        first = True
        while not stop.is_set():
            began = time.monotonic()
            _, data, _ = await browser.request("briefing", "GET", "/briefing")
            await browser.assets(data.decode("utf-8", "replace"))
            recorder.action("briefing.open", time.monotonic() - began)
            if first:
                recorder.opened()
                first = False
            await _pause(stop, rng.uniform(*think))
    except RequestFailed:
        pass
    finally:
        await browser.close()


def session_mix(sessions: int) -> dict[str, int]:
    """How many of each: a few walls (one per 15 sessions, at most 4), 40 % commanders, the rest leaders."""
    walls = min(4, max(1, sessions // 15))
    commanders = max(1, round(sessions * 0.4)) if sessions > 1 else 0
    return {"wall": walls, "commander": commanders, "leader": max(0, sessions - walls - commanders)}


async def run_phase(base: str, sessions: int, duration: float, credentials: Credentials, *, seed: int = 1, ramp: float | None = None,
                    fetch_assets: bool = True, mix: dict[str, int] | None = None) -> dict:
    """``sessions`` concurrent sessions for ``duration`` seconds (starting over ``ramp`` seconds);
    returns the figures of the phase."""
    mix = mix or session_mix(sessions)
    rng = random.Random(seed)
    recorder = Recorder(sessions=sum(mix.values()))
    stop = asyncio.Event()
    ramp = min(10.0, duration / 6) if ramp is None else ramp
    plan: list[tuple[str, object]] = []
    for index in range(mix["wall"]):
        plan.append(("wall", credentials.walls[index % len(credentials.walls)]))
    for index in range(mix["commander"]):
        plan.append(("commander", credentials.commanders[index % len(credentials.commanders)]))
    for index in range(mix["leader"]):
        plan.append(("leader", credentials.leaders[index % len(credentials.leaders)]))
    rng.shuffle(plan)

    async def start(index: int, kind: str, who) -> None:
        await _pause(stop, ramp * index / max(1, len(plan)))
        if stop.is_set():
            return
        own = random.Random(rng.random())
        if kind == "wall":
            await wall_session(base, who, recorder, stop, own, fetch_assets=fetch_assets)
        elif kind == "commander":
            await commander_session(base, who, recorder, stop, own, fetch_assets=fetch_assets)
        else:
            await leader_session(base, who, recorder, stop, own, fetch_assets=fetch_assets)

    began = time.monotonic()
    tasks = [asyncio.ensure_future(start(index, kind, who)) for index, (kind, who) in enumerate(plan)]
    await asyncio.sleep(duration)
    recorder.stopping = True
    stop.set()
    done, late = await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S + 5)
    for task in late:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            recorder.errors["session"] = recorder.errors.get("session", 0) + 1
            recorder.error_samples.append(f"session crashed: {task.exception()!r}"[:300])
    elapsed = time.monotonic() - began
    return phase_figures(recorder, sessions, mix, elapsed)


def phase_figures(recorder: Recorder, sessions: int, mix: dict, elapsed: float) -> dict:
    requests = [value for values in recorder.requests.values() for value in values]
    return {
        "sessions": sessions, "mix": mix, "seconds": round(elapsed, 1),
        "requests": len(requests), "requests_per_s": round(len(requests) / elapsed, 1) if elapsed else None,
        "bytes_in": recorder.bytes_in, "retried_on_closed_connection": recorder.retries,
        "errors": sum(recorder.errors.values()), "errors_by_kind": dict(recorder.errors), "error_samples": recorder.error_samples,
        "actions": {name: summarise(values, elapsed) for name, values in sorted(recorder.actions.items())},
        # The same after the log-in storm: from when the last session had its page open.
        "all_open_s": None if recorder.all_open_at is None else round(recorder.all_open_at, 1),
        "steady_actions": {name: summarise(values, elapsed - recorder.all_open_at) for name, values in sorted(recorder.steady().items()) if values},
        "request_kinds": {name: summarise(values, elapsed) for name, values in sorted(recorder.requests.items())},
        "sse": {**recorder.sse, "event_latency": summarise(recorder.events, elapsed)},
    }


def _action_rows(rows: list[tuple[str, dict]]) -> list[str]:
    lines = [f"  {'action':<16}{'n':>7}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for name, figures in rows:
        if figures["n"]:
            lines.append(f"  {name:<16}{figures['n']:>7}{figures['per_s']:>8}{figures['p50_ms']:>9}{figures['p95_ms']:>9}{figures['p99_ms']:>9}{figures['max_ms']:>9}")
    return lines


def format_load_table(phases: list[dict]) -> str:
    """One block per phase: throughput, errors, then p50/p95/p99 per action."""
    lines = []
    for phase in phases:
        mix = ", ".join(f"{count} {kind}{'s' if count != 1 else ''}" for kind, count in phase["mix"].items())
        lines.append(f"\n{phase['sessions']} sessions ({mix}), {phase['seconds']:.0f} s: {phase['requests']} requests, "
                     f"{phase['requests_per_s']} req/s, {phase['bytes_in'] / 1e6:.1f} MB in, {phase['retried_on_closed_connection']} retried, errors {phase['errors']}"
                     + (f" {phase['errors_by_kind']}" if phase["errors"] else ""))
        lines += _action_rows(list(phase["actions"].items()) + [("sse event→client", phase["sse"]["event_latency"])])
        if phase.get("steady_actions"):
            lines.append(f"  after every session had its page open ({phase['all_open_s']:.0f} s in): actions begun since")
            lines += _action_rows(list(phase["steady_actions"].items()))
        sse = phase["sse"]
        lines.append(f"  event streams: {sse['opened']} opened, {sse['refused']} refused, {sse['dropped']} dropped, {sse['events']} events received")
        for sample in phase["error_samples"][:5]:
            lines.append(f"  error: {sample}")
    return "\n".join(lines)
