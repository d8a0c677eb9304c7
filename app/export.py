"""Exports rendered on the server by headless chromium: the briefing as a PDF, one briefing
section or one video-wall panel as a PNG. Nothing leaves the machine.

Routes (``register_export``)::

    GET /export/briefing/<briefing_id>.pdf[?lang=zh|en]             A4 portrait, every page numbered and dated
    GET /export/briefing/<briefing_id>/<section>.png[?lang=zh|en]   one section (attention, indicators, map, …)
    GET /export/wall/<wall_id>/<scene>/<panel>.png[?lang=zh|en]     one wall panel at the wall's canvas size

How: the route checks its ids (400 for a malformed one, 404 for an unknown briefing, section,
wall, scene or panel — from the effective spec, before any browser starts), then drives Debian's
chromium (``CITYOPS_CHROMIUM_PATH``) through Playwright's sync API to the app's own page on
loopback (``CITYOPS_EXPORT_BASE_URL``, else the address the request arrived on): the briefing's
print layout (``/briefing/<id>?print=1``) until ``#briefing-root[data-ready="1"]``, or the wall
with the wanted scene held on screen until the panel has its data. Every request of that browser
to another host is aborted (``context.route``) and counted (header ``X-Export-Blocked``, a
warning in the log): an export never fetches anything from outside. The map layers are drawn with
software WebGL (swiftshader), as in the tests. The PDF's ToUnicode maps are then corrected so that
its Chinese text can be searched and copied (``searchable_cjk_text``).

Bounds: one export at a time per process (a semaphore; a second request waits up to
``QUEUE_WAIT_S``, then 503 with ``Retry-After``; more than ``MAX_WAITING`` waiting get that 503 at
once, as each holds a server thread), the page must be ready within
``READY_TIMEOUT_S`` (else 504), a missing chromium is a 503 naming the setting. Errors are JSON
``{"error", "message"}`` like ``/api/v1`` — never a stack trace. Playwright's sync API needs a
thread without a running asyncio loop: werkzeug's and gunicorn's (gthread) request threads have
none; a chromium is launched per export and closed after it (1–3 s; nothing resident between
exports).

Who is looking, and the audit trail
-----------------------------------
The browser that renders an export is not the viewer, so the viewer travels with it: the route
signs a short-lived token (itsdangerous with the app's secret key, salt ``EXPORT_TOKEN_SALT``,
valid ``TOKEN_MAX_AGE_S``) carrying ``{"purpose": "export", "lang", "user", "role", "areas",
"target"}`` of the requester (``requesting_viewer()``: ``app.security.identity.current_identity()``,
all None for nobody logged in) and sets it as the cookie ``EXPORT_COOKIE`` (HttpOnly,
SameSite=Strict, for the app's origin only) in the export browser, so it reaches the page *and*
every request the page makes (the wall's Dash callbacks). A ``before_request`` hook verifies it and
leaves the claims in ``flask.g`` (``export_claims()``; None without a valid, unexpired token).

Every export request past its id checks is written to the audit log (``record_export`` →
``app.security.audit.audit("export", …)``: who, the target, the outcome ``ok``/``failed``, kind,
language, size, duration, blocked requests); when that write fails the file is not sent (503).
Malformed and unknown ids (400/404) are only logged.

What the access-control work still has to plug in (``app.security``):

1. The route table: ``/export/…`` needs the capability ``export`` (refused in its ``before_request``
   hook, before any browser starts; the routes here check nothing themselves).
2. ``current_identity()``: for a request carrying valid ``export_claims()`` (the export browser has
   no session of its own), the identity is ``identity_for(claims["user"], claims["role"],
   claims["areas"], via="export")`` — so pages mask personal data and restrict areas exactly as for
   the requester: masked data stays masked in the PDF and PNG. Such an identity may only read
   (never ``POST /api/v1/walls/…``) and its page views need no audit entries of their own (the
   export has one). A request with an export cookie but no valid claims is anonymous.
"""
from __future__ import annotations

import datetime as dt
import io
import ipaddress
import logging
import os
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import flask
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.context import current_context

log = logging.getLogger(__name__)

EXTENSION_KEY = "cityops.export"
EXPORT_COOKIE = "cityops_export"
EXPORT_TOKEN_SALT = "cityops.export"
EXPORT_PURPOSE = "export"
NAVIGATION_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 45.0
# The export browser's page and its callbacks are made within the navigation and ready bounds.
TOKEN_MAX_AGE_S = 75
QUEUE_WAIT_S = 20.0
# Requests waiting for the slot beyond this are refused at once: each holds a server thread.
MAX_WAITING = 2
RETRY_AFTER_S = 30
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # queries.specs.model.ID_PATTERN, wall ids
LANGS = ("zh", "en")
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
)
# The briefing is tablet-first; a section PNG is taken at iPad width, at twice its pixels.
BRIEFING_VIEWPORT = {"width": 1024, "height": 1366}
BRIEFING_SCALE = 2
# Room for the page-margin boxes (data time, page numbers); the @page margin of assets/briefing.css wins when set.
PDF_OPTIONS = {"format": "A4", "landscape": False, "print_background": True, "prefer_css_page_size": False,
               "margin": {"top": "14mm", "bottom": "18mm", "left": "12mm", "right": "12mm"}}
BRIEFING_READY = '#briefing-root[data-ready="1"]'
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
ERROR_CACHE_CONTROL = "no-store"

# The wall's panel is ready when its refresh filled its footer (data time, sources); a map panel
# also when its canvas has the panel's size. Then two animation frames for deck.gl to draw.
WALL_STARTED = "() => !!(window.cityopsWall && window.cityopsWall.state && window.cityopsWall.state.config)"
WALL_HOLD_SCENE = """(scene) => {
  const wall = window.cityopsWall;
  clearTimeout(wall.state.timer);
  clearTimeout(wall.state.prerollTimer);
  wall.emergency = function () {};  // the carousel and the emergency switch stop here: this scene stays
  for (const node of document.querySelectorAll('.wall-scene')) {
    const shown = node.dataset.scene === scene;
    node.classList.toggle('is-active', shown);
    node.setAttribute('aria-hidden', shown ? 'false' : 'true');
  }
  wall.state.shown = scene;
  // Sent by the wall's own request pump (one refresh in flight at a time), like a scene change.
  wall.state.active = {scene: scene, next: scene, soon: false};
  window.dash_clientside.set_props('wall-active', {data: {scene: scene, next: scene}});
}"""
WALL_PANEL_READY = """(key) => {
  const panel = document.querySelector(`.wall-panel[data-panel="${key}"]`);
  if (!panel || !panel.closest('.wall-scene.is-active')) { return false; }
  const meta = panel.querySelector('.wall-meta');
  if (!meta || meta.childElementCount === 0) { return false; }
  const map = panel.querySelector('.wall-map');
  if (!map) { return true; }
  const canvas = map.querySelector('canvas');
  return !!canvas && Math.abs(canvas.clientWidth - map.clientWidth) <= 1 && Math.abs(canvas.clientHeight - map.clientHeight) <= 1;
}"""
TWO_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"


class ExportError(Exception):
    """An export that cannot be made, answered as JSON with ``status``."""

    CODES = {400: "bad_parameter", 404: "not_found", 503: "unavailable", 504: "timeout"}

    def __init__(self, status: int, message: str, *, parameter: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.parameter, self.retry_after = status, message, parameter, retry_after

    def response(self) -> flask.Response:
        body = {"error": self.CODES.get(self.status, "error"), "message": self.message}
        if self.parameter is not None:
            body["parameter"] = self.parameter
        response = flask.jsonify(body)
        response.status_code = self.status
        response.headers["Cache-Control"] = ERROR_CACHE_CONTROL
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


@dataclass
class Exporter:
    """Per-app export state, kept in ``server.extensions`` (no module-level state)."""

    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(1))
    waiting: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # font family -> {radical: ideograph} read from the font's cmap (``radical_equivalents``), once per process.
    radicals: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """What the browser must produce."""

    kind: str  # "pdf" | "png"
    path: str  # the page, e.g. /briefing/city
    query: dict
    viewport: dict
    scale: float
    target: str  # for the token and the audit record, e.g. "briefing/city/indicators"


@dataclass
class Rendered:
    body: bytes
    blocked: list[str]
    data_time: str | None = None


# --- the viewer and the token -------------------------------------------------------------------


def requesting_viewer() -> dict:
    """Who asks for the export: ``{"user", "role", "areas"}`` of the current identity (None, None, []
    for nobody logged in). Whether that caller may export is the access table's decision."""
    from app.security.identity import current_identity

    identity = current_identity()
    if identity is None:
        return {"user": None, "role": None, "areas": []}
    return {"user": identity.user, "role": identity.role, "areas": list(identity.areas)}


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=EXPORT_TOKEN_SALT)


def make_export_token(secret_key: str, *, lang: str, viewer: dict, target: str) -> str:
    claims = {"purpose": EXPORT_PURPOSE, "lang": lang, "user": viewer.get("user"), "role": viewer.get("role"),
              "areas": list(viewer.get("areas") or ()), "target": target}
    return _serializer(secret_key).dumps(claims)


def read_export_token(secret_key: str, token: str, max_age: float = TOKEN_MAX_AGE_S) -> dict | None:
    """The claims of a valid, unexpired export token, else None."""
    try:
        claims = _serializer(secret_key).loads(token, max_age=max_age)
    except BadSignature:  # SignatureExpired is a BadSignature
        return None
    if not isinstance(claims, dict) or claims.get("purpose") != EXPORT_PURPOSE:
        return None
    return claims


def export_claims() -> dict | None:
    """The export token's claims when this request comes from an export browser, else None."""
    return flask.g.get("cityops_export")


def _load_export_claims() -> None:
    token = flask.request.cookies.get(EXPORT_COOKIE)
    if token:
        flask.g.cityops_export = read_export_token(flask.current_app.secret_key, token)


def record_export(*, viewer: dict, target: str, kind: str, lang: str, status: int, size: int = 0, seconds: float = 0.0,
                  blocked: int = 0) -> None:
    """One export request in the log and, once it reached the browser (200, 503, 504), in the audit
    log; raises when the audit log cannot be written."""
    log.info("export %s %r lang=%r user=%s role=%s status=%s bytes=%s seconds=%.1f blocked=%s",
             kind, target, lang, viewer.get("user"), viewer.get("role"), status, size, seconds, blocked)
    if status in (400, 404):
        return
    from app.security.audit import audit

    audit("export", target=target, outcome="ok" if status == 200 else "failed",
          detail={"kind": kind, "lang": lang, "status": status, "bytes": size, "seconds": round(seconds, 1), "blocked": blocked})


# --- checks -------------------------------------------------------------------------------------


def _check_id(value: str, parameter: str) -> str:
    if not ID_PATTERN.fullmatch(value or ""):
        raise ExportError(400, f"{value!r} is not a valid {parameter} (1–64 characters: a–z, 0–9, '-' and '_', starting with a letter or digit)",
                          parameter=parameter)
    return value


def _check_query(args) -> str:
    unknown = sorted(set(args) - {"lang"})
    if unknown:
        raise ExportError(400, f"unknown parameter {unknown[0]!r}; only 'lang' is accepted", parameter=unknown[0])
    lang = args.get("lang")
    if lang is None:
        return current_context().settings.locale
    if lang not in LANGS:
        raise ExportError(400, f"lang must be one of {', '.join(LANGS)}, not {lang!r}", parameter="lang")
    return lang


def _effective(kind: str, spec_id: str):
    from queries.specs.store import (
        UnknownBriefing,
        UnknownWall,
        effective_briefing,
        effective_wall,
    )

    context = current_context()
    try:
        with context.read_engine.connect() as conn:
            find = effective_briefing if kind == "briefing" else effective_wall
            return find(conn, spec_id, context.settings).spec
    except (UnknownBriefing, UnknownWall) as exc:
        raise ExportError(404, str(exc), parameter=f"{kind}_id") from None
    except Exception:  # noqa: BLE001 - the database is away
        log.warning("export: cannot read the %s spec %r", kind, spec_id, exc_info=True)
        raise ExportError(503, "the database does not answer; try again later", retry_after=RETRY_AFTER_S) from None


def _chromium_path() -> str:
    path = Path(current_context().settings.chromium_path)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ExportError(503, f"exports need chromium: {path} is not installed or not executable "
                               "(apt-get install chromium, or set CITYOPS_CHROMIUM_PATH)", retry_after=RETRY_AFTER_S)
    return str(path)


def base_url() -> str:
    """How the export browser reaches this app: ``CITYOPS_EXPORT_BASE_URL``, else the local
    address of the connection this request came in on (the listener itself, so no proxy and no
    public host name in between), with a wildcard listener reached on loopback."""
    configured = current_context().settings.export_base_url
    if configured:
        return configured.rstrip("/")
    environ = flask.request.environ
    address = None
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    # The listener's own scheme: behind a TLS proxy the request says https, the socket speaks http.
    scheme = flask.request.scheme
    if sock is not None:
        scheme = "https" if isinstance(sock, ssl.SSLSocket) else "http"
        try:
            address = sock.getsockname()
        except OSError:
            address = None
    if not (isinstance(address, tuple) and len(address) >= 2):
        host, port = environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
        if not host or not port or not str(port).isdigit():
            raise ExportError(503, "cannot tell this server's own address (a unix socket?): set CITYOPS_EXPORT_BASE_URL")
        address = (host, int(port))
    host, port = address[0], address[1]
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        ip = None
    if ip is not None and ip.is_unspecified:
        host = "127.0.0.1" if ip.version == 4 else "::1"
        ip = ipaddress.ip_address(host)
    if ip is not None and ip.version == 6:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


# --- searchable Chinese text in the PDF ---------------------------------------------------------
#
# Chromium (Skia) writes a CFF-outline font such as Noto Sans CJK as Type 3 fonts: every glyph is
# embedded as its outline (the PDF shows the same glyphs on any machine, no font needed), and each
# font has a ToUnicode map for search and copy. Skia builds that map from the font's cmap taking the
# lowest code point of a glyph, and Noto CJK maps e.g. ⽇ (U+2F47, KANGXI RADICAL SUN) and 日
# (U+65E5) to one glyph: the PDF's text then reads "今⽇事件数", "第 1 ⻚", which no search for
# 今日 or 页 finds. ``searchable_cjk_text`` rewrites those maps to the ideograph sharing the glyph,
# found in the font's own cmap (NFKC for the Kangxi radicals when the font cannot be read), and
# Latin ligature glyphs ("ﬁ" in "brieﬁng") to their letters, as an incremental update of the PDF:
# nothing Chrome wrote is touched but the ToUnicode streams.

RADICAL_BLOCKS = (0x2E80, 0x2FDF)  # CJK Radicals Supplement, Kangxi Radicals
IDEOGRAPHS_FROM = 0x3400
LATIN_LIGATURES = range(0xFB00, 0xFB07)  # ﬀ ﬁ ﬂ ﬃ ﬄ ﬅ ﬆ: Skia maps a ligature glyph to these too
_BF_BLOCK = re.compile(rb"\d+\s+begin(bfchar|bfrange)\s(.*?)end\1\s*", re.S)
_BF_CHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_BF_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])")


def radical_equivalents(font_path: str, index: int = 0) -> dict[str, str]:
    """{radical: ideograph} for every CJK radical that the font's cmap (format 12) maps to the same
    glyph as an ideograph, the CJK Unified Ideographs block preferred."""
    import struct

    data = Path(font_path).read_bytes()
    base = struct.unpack(">I", data[12 + 4 * index:16 + 4 * index])[0] if data[:4] == b"ttcf" else 0
    (count,) = struct.unpack(">H", data[base + 4:base + 6])
    tables = {}
    for i in range(count):
        tag, _, offset, _ = struct.unpack(">4sIII", data[base + 12 + 16 * i:base + 28 + 16 * i])
        tables[tag] = offset
    cmap = tables[b"cmap"]
    subtable = None
    for i in range(struct.unpack(">H", data[cmap + 2:cmap + 4])[0]):
        _, _, offset = struct.unpack(">HHI", data[cmap + 4 + 8 * i:cmap + 12 + 8 * i])
        if struct.unpack(">H", data[cmap + offset:cmap + offset + 2])[0] == 12:
            subtable = cmap + offset
    if subtable is None:
        return {}
    (groups,) = struct.unpack(">I", data[subtable + 12:subtable + 16])
    ranges = [struct.unpack(">III", data[subtable + 16 + 12 * g:subtable + 28 + 12 * g]) for g in range(groups)]
    radical_glyphs = {}
    for start, end, glyph in ranges:
        for code in range(max(start, RADICAL_BLOCKS[0]), min(end, RADICAL_BLOCKS[1]) + 1):
            radical_glyphs[code] = glyph + code - start
    wanted = set(radical_glyphs.values())
    ideograph: dict[int, int] = {}
    for start, end, glyph in ranges:
        if end < IDEOGRAPHS_FROM:
            continue
        for target in wanted:
            if glyph <= target <= glyph + end - start:
                code = start + target - glyph
                unified = 0x4E00 <= code <= 0x9FFF
                if code >= IDEOGRAPHS_FROM and (target not in ideograph or (unified and not 0x4E00 <= ideograph[target] <= 0x9FFF)):
                    ideograph[target] = code
    return {chr(code): chr(ideograph[glyph]) for code, glyph in radical_glyphs.items() if glyph in ideograph}


def _nfkc_radicals() -> dict[str, str]:
    """Kangxi radicals to ideographs, and the Latin ligatures (ﬁ, ﬂ… of "briefing") to their letters."""
    import unicodedata

    codes = [*range(RADICAL_BLOCKS[0], RADICAL_BLOCKS[1] + 1), *LATIN_LIGATURES]
    pairs = ((chr(code), unicodedata.normalize("NFKC", chr(code))) for code in codes)
    return {radical: ideograph for radical, ideograph in pairs if ideograph != radical}


def _radicals_of(exporter: Exporter, family: str) -> dict[str, str]:
    """The radical map of a font family (fc-match finds its file), NFKC when it cannot be read."""
    if family not in exporter.radicals:
        import subprocess

        mapping: dict[str, str] = {}
        try:
            found = subprocess.run(["fc-match", "-f", "%{file}|%{index}", family], capture_output=True, text=True, timeout=10, check=True).stdout
            path, _, index = found.partition("|")
            mapping = radical_equivalents(path, int(index or 0))
        except Exception:  # noqa: BLE001 - no fontconfig, an unexpected font file: the Unicode fallback
            log.warning("export: cannot read the cmap of %r; Kangxi radicals only", family, exc_info=True)
        exporter.radicals[family] = {**_nfkc_radicals(), **mapping}
    return exporter.radicals[family]


def _to_unicode_entries(cmap: bytes) -> dict[bytes, str] | None:
    """code (hex digits as written) -> text of a ToUnicode CMap, None for a form not understood."""
    entries: dict[bytes, str] = {}
    for block in _BF_BLOCK.finditer(cmap):
        kind, body = block.group(1), block.group(2)
        if kind == b"bfchar":
            for code, text in _BF_CHAR.findall(body):
                entries[code] = bytes.fromhex(text.decode()).decode("utf-16-be", "replace")
            continue
        for low, high, target in _BF_RANGE.findall(body):
            if not target.startswith(b"<"):
                return None  # the array form: never written by Skia
            first, last, width = int(low, 16), int(high, 16), len(low)
            text = bytes.fromhex(target[1:-1].decode()).decode("utf-16-be", "replace")
            if last - first > 0xFFFF or not text:
                return None
            for offset in range(last - first + 1):
                entries[f"{first + offset:0{width}X}".encode()] = text[:-1] + chr(ord(text[-1]) + offset)
    return entries


def _rewrite_to_unicode(cmap: bytes, radicals: dict[str, str]) -> bytes | None:
    """The CMap with radicals replaced (all entries as bfchar), None when nothing changes."""
    entries = _to_unicode_entries(cmap)
    if not entries or b"endcmap" not in cmap:
        return None
    fixed = {code: "".join(radicals.get(ch, ch) for ch in text) for code, text in entries.items()}
    if fixed == entries:
        return None
    items = sorted(fixed.items(), key=lambda item: int(item[0], 16))
    blocks = []
    for start in range(0, len(items), 100):  # at most 100 entries a block (PDF reference, 5.9.2)
        chunk = items[start:start + 100]
        lines = b"".join(b"<" + code + b"> <" + text.encode("utf-16-be").hex().upper().encode() + b">\n" for code, text in chunk)
        blocks.append(f"{len(chunk)} beginbfchar\n".encode() + lines + b"endbfchar\n")
    kept = _BF_BLOCK.sub(b"", cmap)
    head, _, tail = kept.partition(b"endcmap")
    return head + b"".join(blocks) + b"endcmap" + tail


def searchable_cjk_text(pdf: bytes, exporter: Exporter) -> bytes:
    """``pdf`` whose extracted text reads 日, 页… instead of radicals (see above); the PDF as it was
    when it cannot be rewritten."""
    from pypdf import PdfWriter

    try:
        writer = PdfWriter(io.BytesIO(pdf), incremental=True)
        seen: set[int] = set()
        changed = 0
        for page in writer.pages:
            resources = page.get("/Resources")
            fonts = resources.get_object().get("/Font") if resources is not None else None
            for reference in (fonts.get_object() if fonts is not None else {}).values():
                font = reference.get_object()
                to_unicode = font.get("/ToUnicode")
                if to_unicode is None or getattr(to_unicode, "idnum", None) in seen:
                    continue
                seen.add(getattr(to_unicode, "idnum", id(to_unicode)))
                descriptor = font.get("/FontDescriptor")
                family = str(descriptor.get_object().get("/FontFamily", "")) if descriptor is not None else ""
                stream = to_unicode.get_object()
                rewritten = _rewrite_to_unicode(stream.get_data(), _radicals_of(exporter, family or "sans-serif"))
                if rewritten is not None:
                    stream.set_data(rewritten)
                    changed += 1
        if not changed:
            return pdf
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
    except Exception:  # noqa: BLE001 - the PDF Chrome wrote is still a good PDF
        log.warning("export: could not make the PDF's Chinese text searchable; sending it as printed", exc_info=True)
        return pdf


# --- the browser ----------------------------------------------------------------------------------


def _launch(playwright, executable: str):
    return playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)


def render(job: Job, *, base: str, executable: str, token: str, prepare, produce) -> Rendered:
    """Open ``job``'s page in a fresh chromium that can reach ``base`` only, then ``prepare(page)``
    (waits for the content; returns the data time or None) and ``produce(page)`` (the bytes)."""
    from playwright.sync_api import sync_playwright

    own = urlsplit(base)
    blocked: list[str] = []

    def gate(route):
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https") and url.netloc == own.netloc:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("blockedbyclient")

    url = f"{base}{job.path}" + (f"?{urlencode(job.query)}" if job.query else "")
    started = time.monotonic()
    phases: dict[str, float] = {}

    def lap(name: str) -> None:
        phases[name] = round(time.monotonic() - started - sum(phases.values()), 2)

    with sync_playwright() as playwright:
        browser = _launch(playwright, executable)
        lap("launch")
        try:
            # ignore_https_errors: a TLS listener's certificate names the public host, not the loopback address.
            context = browser.new_context(viewport=job.viewport, device_scale_factor=job.scale, locale="zh-CN",
                                          timezone_id="Asia/Shanghai", service_workers="block", accept_downloads=False,
                                          ignore_https_errors=own.scheme == "https")
            context.add_cookies([{"name": EXPORT_COOKIE, "value": token, "url": base, "httpOnly": True, "sameSite": "Strict"}])
            context.route("**/*", gate)
            page = context.new_page()
            page.set_default_timeout(READY_TIMEOUT_S * 1000)
            page.goto(url, wait_until="load", timeout=NAVIGATION_TIMEOUT_S * 1000)  # stylesheets applied
            lap("load")
            data_time = prepare(page)
            page.evaluate("() => document.fonts.ready.then(() => true)")
            lap("ready")
            body = produce(page)
            lap("render")
            context.close()
        finally:
            browser.close()
    lap("close")
    log.info("export %s: %s", job.target, " ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    if blocked:
        log.warning("export %s: blocked %d request(s) to other hosts: %s", job.target, len(blocked), blocked[:10])
    return Rendered(body, blocked, data_time)


def _run(job: Job, *, prepare, produce, lang: str, viewer: dict) -> Rendered:
    """The export under the per-process slot, with every failure mapped to a JSON answer."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    executable = _chromium_path()
    base = base_url()
    exporter: Exporter = flask.current_app.extensions[EXTENSION_KEY]
    with exporter.lock:
        if exporter.waiting >= MAX_WAITING:
            raise ExportError(503, "other exports are being made; try again shortly", retry_after=RETRY_AFTER_S)
        exporter.waiting += 1
    try:
        acquired = exporter.slots.acquire(timeout=QUEUE_WAIT_S)
    finally:
        with exporter.lock:
            exporter.waiting -= 1
    if not acquired:
        raise ExportError(503, "another export is being made; try again shortly", retry_after=RETRY_AFTER_S)
    try:
        token = make_export_token(flask.current_app.secret_key, lang=lang, viewer=viewer, target=job.target)
        return render(job, base=base, executable=executable, token=token, prepare=prepare, produce=produce)
    except ExportError:
        raise
    except PlaywrightTimeout:
        log.warning("export %s: the page was not ready within %.0f s", job.target, READY_TIMEOUT_S, exc_info=True)
        raise ExportError(504, f"the page was not ready within {READY_TIMEOUT_S:.0f} s; try again later") from None
    except PlaywrightError as exc:
        if "Executable doesn't exist" in str(exc) or "Failed to launch" in str(exc):
            log.error("export %s: chromium failed to start", job.target, exc_info=True)
            raise ExportError(503, "exports need chromium, which failed to start: check CITYOPS_CHROMIUM_PATH", retry_after=RETRY_AFTER_S) from None
        log.error("export %s failed", job.target, exc_info=True)
        raise ExportError(503, "the export failed; try again later", retry_after=RETRY_AFTER_S) from None
    finally:
        exporter.slots.release()


def _local_day(data_time: str | None) -> str:
    moment = None
    if data_time:
        try:
            moment = dt.datetime.fromisoformat(data_time.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None:
        moment = dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_ZONE)
    return moment.astimezone(LOCAL_ZONE).strftime("%Y%m%d")


def _file_response(rendered: Rendered, mimetype: str, stem: str, suffix: str) -> flask.Response:
    name = f"{stem}-{_local_day(rendered.data_time)}.{suffix}"
    response = flask.Response(rendered.body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Export-Blocked"] = str(len(rendered.blocked))
    if rendered.data_time:
        response.headers["X-Data-Time"] = rendered.data_time
    return response


# --- the exports ----------------------------------------------------------------------------------


def _briefing_ready(page) -> str | None:
    page.wait_for_selector(BRIEFING_READY, state="attached", timeout=READY_TIMEOUT_S * 1000)
    return page.get_attribute("#briefing-root", "data-time")


def _briefing_pdf(briefing_id: str, lang: str, viewer: dict) -> tuple[Rendered, str]:
    _effective("briefing", briefing_id)
    job = Job("pdf", f"/briefing/{briefing_id}", {"lang": lang, "print": "1"}, BRIEFING_VIEWPORT, 1, f"briefing/{briefing_id}")
    rendered = _run(job, prepare=_briefing_ready, produce=lambda page: page.pdf(**PDF_OPTIONS), lang=lang, viewer=viewer)
    rendered.body = searchable_cjk_text(rendered.body, flask.current_app.extensions[EXTENSION_KEY])
    return rendered, f"briefing-{briefing_id}"


def _briefing_png(briefing_id: str, section: str, lang: str, viewer: dict) -> tuple[Rendered, str]:
    spec = _effective("briefing", briefing_id)
    types = [item.type for item in spec.sections]
    if section not in types:
        raise ExportError(404, f"briefing {briefing_id!r} has no section {section!r}; it has {', '.join(types)}", parameter="section")
    selector = f'section.briefing-section[data-section="{section}"]'

    def produce(page) -> bytes:
        element = page.locator(selector).first
        element.scroll_into_view_if_needed()
        return element.screenshot(type="png", animations="disabled")

    job = Job("png", f"/briefing/{briefing_id}", {"lang": lang, "print": "1"}, BRIEFING_VIEWPORT, BRIEFING_SCALE,
              f"briefing/{briefing_id}/{section}")
    rendered = _run(job, prepare=_briefing_ready, produce=produce, lang=lang, viewer=viewer)
    return rendered, f"briefing-{briefing_id}-{section}"


def _wall_png(wall_id: str, scene_id: str, panel_id: str, lang: str, viewer: dict) -> tuple[Rendered, str]:
    spec = _effective("wall", wall_id)
    scenes = {scene.id: scene for scene in spec.scenes}
    if spec.emergency is not None:
        scenes[spec.emergency.id] = spec.emergency
    if scene_id not in scenes:
        raise ExportError(404, f"wall {wall_id!r} has no scene {scene_id!r}; it has {', '.join(scenes)}", parameter="scene")
    panels = [panel.id for panel in scenes[scene_id].panels]
    if panel_id not in panels:
        raise ExportError(404, f"scene {scene_id!r} of wall {wall_id!r} has no panel {panel_id!r}; it has {', '.join(panels)}",
                          parameter="panel")
    key = f"{scene_id}/{panel_id}"

    def prepare(page) -> None:
        page.wait_for_function(WALL_STARTED, timeout=READY_TIMEOUT_S * 1000)
        page.evaluate(WALL_HOLD_SCENE, scene_id)
        page.wait_for_function(WALL_PANEL_READY, arg=key, timeout=READY_TIMEOUT_S * 1000, polling=250)
        page.evaluate(TWO_FRAMES)
        return None

    def produce(page) -> bytes:
        return page.locator(f'.wall-panel[data-panel="{key}"]').screenshot(type="png", animations="disabled")

    viewport = {"width": spec.canvas.width, "height": spec.canvas.height}
    job = Job("png", f"/wall/{wall_id}", {"lang": lang}, viewport, 1, f"wall/{key}")
    rendered = _run(job, prepare=prepare, produce=produce, lang=lang, viewer=viewer)
    return rendered, f"wall-{wall_id}-{scene_id}-{panel_id}"


def _serve(kind: str, target: str, make) -> flask.Response:
    """Run one export route: checks, the render, the audit record, never a stack trace."""
    started = time.monotonic()
    viewer = requesting_viewer()
    lang = "?"
    failed = ExportError(503, "the export failed; try again later", retry_after=RETRY_AFTER_S)
    try:
        lang = _check_query(flask.request.args)
        rendered, stem = make(lang, viewer)
    except ExportError as error:
        failed = error
    except Exception:  # noqa: BLE001 - never a 500 page, never a stack trace to the client
        log.exception("export %s failed", target)
    else:
        try:
            record_export(viewer=viewer, target=target, kind=kind, lang=lang, status=200, size=len(rendered.body),
                          seconds=time.monotonic() - started, blocked=len(rendered.blocked))
        except Exception:  # noqa: BLE001 - logged by audit(); an export that cannot be traced is not sent
            return ExportError(503, "the export could not be recorded in the audit log; try again later", retry_after=RETRY_AFTER_S).response()
        return _file_response(rendered, "application/pdf" if kind == "pdf" else "image/png", stem, kind)
    try:
        record_export(viewer=viewer, target=target, kind=kind, lang=lang, status=failed.status, seconds=time.monotonic() - started)
    except Exception:  # noqa: BLE001 - logged by audit(); the answer is an error anyway
        pass
    return failed.response()


def register_export(server: flask.Flask) -> None:
    """Mount the ``/export/…`` routes and the export-token check on the Flask server."""
    server.extensions[EXTENSION_KEY] = Exporter()
    server.before_request(_load_export_claims)
    blueprint = flask.Blueprint("export", __name__, url_prefix="/export")

    @blueprint.get("/briefing/<briefing_id>.pdf")
    def briefing_pdf(briefing_id: str):
        return _serve("pdf", f"briefing/{briefing_id}", lambda lang, viewer: _briefing_pdf(_check_id(briefing_id, "briefing_id"), lang, viewer))

    @blueprint.get("/briefing/<briefing_id>/<section>.png")
    def briefing_png(briefing_id: str, section: str):
        def make(lang, viewer):
            return _briefing_png(_check_id(briefing_id, "briefing_id"), _check_id(section, "section"), lang, viewer)
        return _serve("png", f"briefing/{briefing_id}/{section}", make)

    @blueprint.get("/wall/<wall_id>/<scene>/<panel>.png")
    def wall_png(wall_id: str, scene: str, panel: str):
        def make(lang, viewer):
            return _wall_png(_check_id(wall_id, "wall_id"), _check_id(scene, "scene"), _check_id(panel, "panel"), lang, viewer)
        return _serve("png", f"wall/{wall_id}/{scene}/{panel}", make)

    @blueprint.route("/<path:unknown>")
    def no_such_export(unknown: str):
        return ExportError(404, f"no export at /export/{unknown}; see /export/briefing/<id>.pdf, "
                                "/export/briefing/<id>/<section>.png, /export/wall/<id>/<scene>/<panel>.png").response()

    server.register_blueprint(blueprint)
