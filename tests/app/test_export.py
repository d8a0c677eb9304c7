"""Exports (app.export): the briefing as a PDF, a briefing section and a wall panel as PNG, made by
Debian's chromium on the server.

The PDF is read back with pypdf: A4 pages, at least two, the Chinese indicator names of the shipped
``specs/briefings/city.yaml`` (looked up in the database's catalogue), the data time and the page
number on every page, the CJK font embedded, personal numbers still masked. PNGs are decoded with
zlib (no imaging library needed) and their size compared with the element in the page. Every
export must have aborted no request (``X-Export-Blocked: 0``): the pages it prints fetch nothing
from another host. Without a browser: malformed ids (400), unknown ones (404), a missing chromium
and a busy exporter (503) — always JSON, never a traceback — and the export token.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import insert, select

from app.command.panels import local_time
from app.export import (
    BRIEFING_SCALE,
    BRIEFING_VIEWPORT,
    EXPORT_COOKIE,
    EXTENSION_KEY,
    Job,
    export_claims,
    make_export_token,
    read_export_token,
    render,
)
from app.i18n import t
from app.server import create_app
from queries.db import make_engine
from queries.demo.catalogue import INDICATORS
from queries.schema import Incident, Indicator, IndicatorValue
from queries.specs.files import shipped_specs
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import CHROMIUM, free_port, make_settings

A4_POINTS = (595.3, 841.9)
TIMEOUT_S = 150  # an export under load on two cores: chromium start, page, print
INCIDENTS_DATASET = "emergency.incidents"
PHONE = "13812345678"  # written into an incident title: must reach no export in clear
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- data ---------------------------------------------------------------------------------------


def city_indicator_codes() -> list[str]:
    """The indicators the shipped city briefing shows (its indicators and government-service sections)."""
    spec = shipped_specs("briefing")["city"]
    codes: list[str] = []
    for section in spec.sections:
        for code in getattr(section, "indicators", None) or ():
            if code not in codes:
                codes.append(code)
    return codes


def seed_briefing(url: str) -> None:
    """The catalogue and a week of daily values of every indicator of the city briefing, and a few
    incidents in 海州区 (one with a phone number in its title)."""
    now = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    specs = {spec.code: spec for spec in INDICATORS}
    codes = city_indicator_codes()
    engine = make_engine(url)
    with engine.begin() as conn:
        for dataset in {specs[code].dataset_code for code in codes}:
            ensure_dataset(conn, dataset, name=dataset, provider="市数据局", update_cycle="daily")
        conn.execute(insert(Indicator), [
            {"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en, "unit": s.unit, "domain": s.domain, "good_direction": s.good_direction,
             "warn_threshold": s.warn, "alarm_threshold": s.alarm, "dataset_code": s.dataset_code, "aggregation": s.aggregation}
            for s in (specs[code] for code in codes)
        ])
        conn.execute(insert(IndicatorValue), [
            {"indicator_code": code, "area_code": "320700", "ts": now - dt.timedelta(days=day), "value": 40.0 + 3 * position + day}
            for position, code in enumerate(codes) for day in range(8)
        ])
        for dataset in {specs[code].dataset_code for code in codes}:
            record_change(conn, dataset, "ingest", 1, tables=["indicators", "indicator_values"], at=now)
        ensure_dataset(conn, INCIDENTS_DATASET, name="突发事件信息", name_en="Emergency incidents", provider="市应急管理局",
                       provider_en="Emergency Management Bureau", update_cycle="realtime")
        conn.execute(insert(Incident), [{
            "id": f"EXP{n}", "category": "accident", "subtype": "fire", "severity": severity, "status": "dispatched", "channel": "119",
            "title": title, "lon": 119.2215, "lat": 34.5967, "reported_at": now - dt.timedelta(minutes=5 + n), "updated_at": now,
            "district_code": "320706", "street_code": None, "community_code": None, "grid_code": None,
        } for n, (severity, title) in enumerate([(2, f"化工园区储罐泄漏 报警人电话{PHONE}"), (3, "港口作业区集装箱倒塌"), (3, "主干道路面塌陷")])])
        record_change(conn, INCIDENTS_DATASET, "ingest", 3, tables=["incidents"], at=now, detail={"incidents_new": ["EXP0", "EXP1", "EXP2"]})
    engine.dispose()


def indicator_names(url: str, codes: list[str], lang: str = "zh") -> list[str]:
    engine = make_engine(url)
    column = Indicator.name_en if lang == "en" else Indicator.name_zh
    with engine.connect() as conn:
        names = list(conn.scalars(select(column).where(Indicator.code.in_(codes))))
    engine.dispose()
    assert len(names) == len(codes)
    return names


# --- reading what came back ----------------------------------------------------------------------


def squeeze(text: str) -> str:
    """Text without whitespace: extracted CJK text breaks lines and spaces glyphs freely."""
    return re.sub(r"\s+", "", text)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG after checking it decodes: signature, IHDR, CRCs, IDAT inflating
    to exactly the rows the header announces (8-bit RGB/RGBA, not interlaced, as chromium writes)."""
    assert data[:8] == PNG_SIGNATURE, data[:16]
    offset, chunks = 8, []
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in (2, 6) and interlace == 0, chunks[0][1]
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + width * (3 if colour == 2 else 4))
    return width, height


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    body = response.get_json()
    assert body["error"] and body["message"]
    return body


def get_export(base: str, path: str) -> requests.Response:
    response = requests.get(base + path, timeout=TIMEOUT_S)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    assert response.headers["X-Export-Blocked"] == "0", "the export aborted requests to another host"
    assert response.headers["Cache-Control"] == "no-store"
    return response


def needs_chromium():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


# --- the PDF -------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_briefing_pdf_is_a4_numbered_dated_and_names_every_indicator(live_server, seeded_sqlite_url, artifacts_dir):
    from pypdf import PdfReader

    needs_chromium()
    seed_briefing(seeded_sqlite_url)
    response = get_export(live_server, "/export/briefing/city.pdf")
    artifacts_dir.joinpath("export-briefing-city.pdf").write_bytes(response.content)

    assert response.headers["Content-Type"] == "application/pdf"
    data_time = dt.datetime.fromisoformat(response.headers["X-Data-Time"])
    day = data_time.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y%m%d")
    assert response.headers["Content-Disposition"] == f'attachment; filename="briefing-city-{day}.pdf"'
    assert response.content.startswith(b"%PDF-")

    reader = PdfReader(io.BytesIO(response.content))
    pages = [squeeze(page.extract_text() or "") for page in reader.pages]
    assert len(pages) >= 2, f"{len(pages)} page(s)"
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2, (width, height)

    # Every indicator of the shipped briefing, by its Chinese name in the database's catalogue.
    everything = "".join(pages)
    names = indicator_names(seeded_sqlite_url, city_indicator_codes())
    missing = [name for name in names if squeeze(name) not in everything]
    assert not missing, f"indicator names missing from the PDF: {missing}"

    # The data time and "page i of n" on every page.
    stamp = squeeze(local_time(data_time, "zh"))
    for number, text in enumerate(pages, start=1):
        assert stamp in text, f"page {number} lacks the data time {stamp}"
        marker = squeeze(t("briefing.print.page", "zh", page=number, pages=len(pages)))
        assert marker in text, f"page {number} lacks its page number {marker!r}"

    # The glyphs of every font are in the file (the reader needs no font), Chinese from Noto Sans CJK.
    fonts = pdf_fonts(reader)
    assert fonts and all(fonts.values()), f"fonts not embedded: {[name for name, embedded in fonts.items() if not embedded]}"
    assert any("NotoSansCJK" in name for name in fonts), sorted(fonts)

    [entry] = audit_entries(seeded_sqlite_url)
    assert entry["target"] == "briefing/city" and entry["outcome"] == "ok" and entry["detail"]["blocked"] == 0


@pytest.mark.browser
@pytest.mark.slow
def test_briefing_pdf_keeps_personal_numbers_masked(live_server, seeded_sqlite_url):
    from pypdf import PdfReader

    needs_chromium()
    seed_briefing(seeded_sqlite_url)
    page_text = requests.get(f"{live_server}/briefing/city?print=1", timeout=60).text
    assert "化工园区储罐泄漏" in page_text, "the incident is on the page"
    response = get_export(live_server, "/export/briefing/city.pdf")
    text = squeeze("".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(response.content)).pages))
    assert "化工园区储罐泄漏" in text
    assert PHONE not in text, "a phone number reached the PDF in clear"


def pdf_fonts(reader) -> dict[str, bool]:
    """Font name -> whether its glyphs are in the PDF: a font program (FontFile*) or, for the Type 3
    fonts Chromium writes for CFF-outline fonts such as Noto Sans CJK, the glyph procedures (CharProcs)."""
    fonts: dict[str, bool] = {}
    for page in reader.pages:
        for ref in ((page.get("/Resources") or {}).get("/Font") or {}).values():
            font = ref.get_object()
            for candidate in [font, *[d.get_object() for d in font.get("/DescendantFonts") or []]]:
                if candidate is not font and "/FontDescriptor" not in candidate:
                    continue
                descriptor = candidate.get("/FontDescriptor")
                descriptor = descriptor.get_object() if descriptor is not None else {}
                name = str(descriptor.get("/FontName") or candidate.get("/BaseFont"))
                embedded = "/CharProcs" in candidate or any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
                fonts[name] = fonts.get(name, True) and embedded
    return fonts


# --- PNGs ----------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_briefing_section_png_is_the_section_at_twice_its_pixels(live_server, seeded_sqlite_url, chromium_browser, artifacts_dir):
    seed_briefing(seeded_sqlite_url)
    response = get_export(live_server, "/export/briefing/city/indicators.png?lang=en")
    artifacts_dir.joinpath("export-briefing-city-indicators.png").write_bytes(response.content)
    assert response.headers["Content-Type"] == "image/png"
    assert re.fullmatch(r'attachment; filename="briefing-city-indicators-\d{8}\.png"', response.headers["Content-Disposition"])
    width, height = png_size(response.content)

    # The same section in a browser of our own at the exporter's viewport.
    context = chromium_browser.new_context(viewport=BRIEFING_VIEWPORT)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/briefing/city?lang=en&print=1")
        box = page.locator('section.briefing-section[data-section="indicators"]').bounding_box()
        english = page.locator('section.briefing-section[data-section="indicators"]').inner_text()
    finally:
        context.close()
    assert abs(width - box["width"] * BRIEFING_SCALE) <= 2 * BRIEFING_SCALE, (width, box)
    assert abs(height - box["height"] * BRIEFING_SCALE) <= 2 * BRIEFING_SCALE, (height, box)
    assert indicator_names(seeded_sqlite_url, ["incidents_today"], "en")[0] in english  # the language asked for


@pytest.mark.browser
@pytest.mark.slow
def test_wall_panel_png_holds_its_scene_and_has_the_panel_size(live_server, seeded_sqlite_url, artifacts_dir):
    seed_briefing(seeded_sqlite_url)
    spec = shipped_specs("wall")["default"]
    scene = spec.scenes[1]  # not the first: the export must hold the carousel on it
    panel = next(p for p in scene.panels if p.type == "ticker")
    response = get_export(live_server, f"/export/wall/default/{scene.id}/{panel.id}.png")
    artifacts_dir.joinpath(f"export-wall-{scene.id}-{panel.id}.png").write_bytes(response.content)
    assert response.headers["Content-Type"] == "image/png"
    assert re.fullmatch(rf'attachment; filename="wall-default-{scene.id}-{panel.id}-\d{{8}}\.png"', response.headers["Content-Disposition"])
    width, height = png_size(response.content)
    cell_w = spec.canvas.width / spec.grid.columns
    cell_h = spec.canvas.height / spec.grid.rows
    # At the canvas size (one canvas pixel a pixel): the panel's cells less the gaps around them.
    slack = 2 * spec.grid.gap + 4
    assert abs(width - cell_w * panel.at.col_span) <= slack, (width, cell_w * panel.at.col_span)
    assert abs(height - cell_h * panel.at.row_span) <= slack * 3, (height, cell_h * panel.at.row_span)  # the bottom bar takes a share


@pytest.mark.browser
@pytest.mark.slow
def test_the_export_browser_reaches_no_other_host(live_server):
    """The route gate aborts anything not addressed to the app's own host:port, and counts it —
    another port on loopback and another name for the same server alike (no packet leaves)."""
    needs_chromium()
    other = f"http://127.0.0.1:{free_port()}/elsewhere.js"
    alias = f"http://localhost:{urlsplit(live_server).port}/healthz"
    def prepare(page):
        # Navigations: the page's CSP (connect-src 'self') already refuses cross-origin fetches in the
        # browser, so only a navigation reaches the route gate, which must abort it.
        # In a second tab of the same context (same route gate): an aborted navigation has Chromium
        # commit its error page a moment later, which would destroy the page render() goes on with.
        probe = page.context.new_page()
        for url in (other, alias):
            try:
                probe.goto(url)
            except Exception:  # aborted by the gate: what this test expects
                pass
        # Left open: closing a tab with an error page still committing can hang; the context closes it.

    # In a thread of its own, as in a request: this one may run the session's Playwright already.
    with ThreadPoolExecutor(1) as pool:
        rendered = pool.submit(render, Job("png", "/healthz", {}, {"width": 400, "height": 300}, 1, "test"), base=live_server,
                               executable=CHROMIUM, token="unused", prepare=prepare,
                               produce=lambda page: page.screenshot(type="png")).result(timeout=TIMEOUT_S)
    assert sorted(rendered.blocked) == sorted([other, alias])
    assert png_size(rendered.body) == (400, 300)


@pytest.mark.browser
@pytest.mark.slow
def test_two_exports_at_once_run_one_after_the_other(live_server, seeded_sqlite_url):
    needs_chromium()
    seed_briefing(seeded_sqlite_url)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(get_export, live_server, f"/export/briefing/city/{section}.png") for section in ("indicators", "incidents")]
        responses = [future.result(timeout=2 * TIMEOUT_S) for future in futures]
    for response in responses:
        png_size(response.content)


@pytest.mark.browser
@pytest.mark.slow
def test_a_page_that_is_not_ready_in_time_is_504(live_server, monkeypatch):
    import app.export as export

    needs_chromium()
    monkeypatch.setattr(export, "READY_TIMEOUT_S", 0.001)  # the wall's first refresh takes longer than this
    response = requests.get(f"{live_server}/export/wall/default/overview/ticker.png", timeout=TIMEOUT_S)
    assert response.status_code == 504, response.text[:300]
    assert response.json()["error"] == "timeout" and "Traceback" not in response.text


# --- without a browser ---------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path, seeded_sqlite_url):
    return create_app(make_settings(tmp_path, seeded_sqlite_url)).server.test_client()


@pytest.mark.parametrize("path, parameter", [
    ("/export/briefing/City.pdf", "briefing_id"),
    ("/export/briefing/-city.pdf", "briefing_id"),
    ("/export/briefing/" + "c" * 65 + ".pdf", "briefing_id"),
    ("/export/briefing/city/Indicators.png", "section"),
    ("/export/briefing/city/ind%20icators.png", "section"),
    ("/export/wall/de.fault/overview/ticker.png", "wall_id"),
    ("/export/wall/default/over%0Aview/ticker.png", "scene"),
    ("/export/wall/default/overview/ti'cker.png", "panel"),
    ("/export/briefing/city.pdf?lang=fr", "lang"),
    ("/export/briefing/city.pdf?role=admin", "role"),
])
def test_malformed_requests_are_400(client, path, parameter):
    body = assert_json_error(client.get(path), 400)
    assert body["parameter"] == parameter


@pytest.mark.parametrize("path, parameter", [
    ("/export/briefing/nowhere.pdf", "briefing_id"),
    ("/export/briefing/nowhere/indicators.png", "briefing_id"),
    ("/export/briefing/haizhou/gov_services.png", "section"),  # a section this briefing does not have
    ("/export/wall/nowhere/overview/ticker.png", "wall_id"),
    ("/export/wall/default/nowhere/ticker.png", "scene"),
    ("/export/wall/default/overview/nowhere.png", "panel"),
])
def test_unknown_briefings_walls_sections_and_panels_are_404(client, path, parameter):
    body = assert_json_error(client.get(path), 404)
    assert body["parameter"] == parameter


def test_unknown_export_paths_are_404_json(client):
    assert_json_error(client.get("/export/briefing/city.docx"), 404)
    assert_json_error(client.get("/export/anything/else"), 404)


def test_missing_chromium_is_503_naming_the_setting(tmp_path, seeded_sqlite_url):
    server = create_app(make_settings(tmp_path, seeded_sqlite_url, chromium_path=tmp_path / "no-chromium")).server
    body = assert_json_error(server.test_client().get("/export/briefing/city.pdf"), 503)
    assert "CITYOPS_CHROMIUM_PATH" in body["message"]
    [entry] = audit_entries(seeded_sqlite_url)
    assert entry["outcome"] == "failed" and entry["detail"]["status"] == 503


def test_a_second_export_waits_then_gets_503_with_retry_after(tmp_path, seeded_sqlite_url, monkeypatch):
    import app.export as export

    monkeypatch.setattr(export, "QUEUE_WAIT_S", 0.2)
    server = create_app(make_settings(tmp_path, seeded_sqlite_url, chromium_path="/bin/sh")).server  # never launched
    exporter = server.extensions[EXTENSION_KEY]
    assert exporter.slots.acquire(timeout=1)  # an export in progress
    try:
        response = server.test_client().get("/export/wall/default/overview/ticker.png")
    finally:
        exporter.slots.release()
    body = assert_json_error(response, 503)
    assert "another export" in body["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert exporter.waiting == 0


def test_too_many_waiting_exports_are_refused_at_once(tmp_path, seeded_sqlite_url):
    import app.export as export

    server = create_app(make_settings(tmp_path, seeded_sqlite_url, chromium_path="/bin/sh")).server
    exporter = server.extensions[EXTENSION_KEY]
    exporter.waiting = export.MAX_WAITING  # as many requests already wait for the slot
    started = time.monotonic()
    response = server.test_client().get("/export/briefing/city.pdf")
    body = assert_json_error(response, 503)
    assert "other exports" in body["message"] and time.monotonic() - started < export.QUEUE_WAIT_S / 2
    assert exporter.waiting == export.MAX_WAITING


def audit_entries(url: str):
    from queries.auth import list_audit

    engine = make_engine(url)
    with engine.connect() as conn:
        entries = list_audit(conn, action="export")
    engine.dispose()
    return entries.to_dict("records")


@pytest.fixture
def fake_browser(monkeypatch):
    """render() without chromium: a fixed body, as if the page had been printed."""
    import app.export as export

    def render(job, **_):
        return export.Rendered(b"%PDF-1.4 fake" if job.kind == "pdf" else PNG_SIGNATURE, [], "2026-11-22T01:00:00+00:00")

    monkeypatch.setattr(export, "render", render)


def test_every_export_is_in_the_audit_log(tmp_path, seeded_sqlite_url, fake_browser):
    client = create_app(make_settings(tmp_path, seeded_sqlite_url, chromium_path="/bin/sh")).server.test_client()
    response = client.get("/export/briefing/city.pdf?lang=en")
    assert response.status_code == 200 and response.headers["Content-Disposition"] == 'attachment; filename="briefing-city-20261122.pdf"'
    client.get("/export/briefing/City.pdf")  # malformed: logged, not audited
    client.get("/export/wall/nowhere/overview/ticker.png")  # unknown: logged, not audited
    [entry] = audit_entries(seeded_sqlite_url)
    assert entry["target"] == "briefing/city" and entry["outcome"] == "ok" and entry["user_name"] == "test-admin"
    assert entry["detail"]["kind"] == "pdf" and entry["detail"]["lang"] == "en" and entry["detail"]["bytes"] == len(response.data)


def test_an_export_the_audit_log_cannot_record_is_not_sent(tmp_path, seeded_sqlite_url, fake_browser, monkeypatch):
    import app.security.audit as security_audit

    def broken(*_, **__):
        raise RuntimeError("audit table is read-only")

    monkeypatch.setattr(security_audit, "audit", broken)
    client = create_app(make_settings(tmp_path, seeded_sqlite_url, chromium_path="/bin/sh")).server.test_client()
    body = assert_json_error(client.get("/export/wall/default/overview/ticker.png"), 503)
    assert "audit log" in body["message"]


def test_export_token_carries_the_viewer_and_expires():
    viewer = {"user": "zhang.san", "role": "leader"}
    token = make_export_token("secret", lang="en", viewer=viewer, target="briefing/city")
    claims = read_export_token("secret", token)
    assert claims == {"purpose": "export", "lang": "en", "user": "zhang.san", "role": "leader", "areas": [], "target": "briefing/city"}
    assert read_export_token("another secret", token) is None
    assert read_export_token("secret", token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert read_export_token("secret", token, max_age=-1) is None  # expired


def test_the_export_cookie_reaches_every_request_as_claims(tmp_path, seeded_sqlite_url):
    server = create_app(make_settings(tmp_path, seeded_sqlite_url)).server
    token = make_export_token(server.secret_key, lang="zh", viewer={"user": None, "role": "duty"}, target="briefing/city")
    with server.test_request_context("/briefing/city", headers={"Cookie": f"{EXPORT_COOKIE}={token}"}):
        server.preprocess_request()
        assert export_claims()["role"] == "duty"
    with server.test_request_context("/briefing/city", headers={"Cookie": f"{EXPORT_COOKIE}=forged"}):
        server.preprocess_request()
        assert export_claims() is None
    with server.test_request_context("/briefing/city"):
        server.preprocess_request()
        assert export_claims() is None


def test_to_unicode_maps_read_ideographs_and_letters_not_radicals_and_ligatures():
    from app.export import _nfkc_radicals, _rewrite_to_unicode

    cmap = (b"/CIDInit /ProcSet findresource begin\nbegincmap\n1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
            b"2 beginbfchar\n<01> <2F47>\n<02> <FB01>\nendbfchar\n1 beginbfrange\n<03> <05> <2F46>\nendbfrange\n"
            b"1 beginbfchar\n<06> <0041>\nendbfchar\nendcmap\nend\n")
    radicals = {**_nfkc_radicals(), "\u2eda": "页"}
    rewritten = _rewrite_to_unicode(cmap, radicals).decode()
    entries = dict(re.findall(r"<([0-9A-F]+)> <([0-9A-F]+)>", rewritten.split("endcodespacerange")[1]))
    text = {code: bytes.fromhex(value).decode("utf-16-be") for code, value in entries.items()}
    assert text == {"01": "日", "02": "fi", "03": "无", "04": "日", "05": "曰", "06": "A"}  # the range ⽆⽇⽈, one entry each
    assert rewritten.startswith("/CIDInit") and "begincodespacerange\n<00> <FF>" in rewritten and rewritten.rstrip().endswith("end")
    assert _rewrite_to_unicode(b"1 beginbfchar\n<01> <0041>\nendbfchar\nendcmap\n", radicals) is None  # nothing to change


def test_the_cjk_font_says_which_ideograph_a_radical_glyph_is():
    import shutil
    import subprocess

    from app.export import radical_equivalents

    if shutil.which("fc-match") is None:
        pytest.skip("no fontconfig")
    found = subprocess.run(["fc-match", "-f", "%{file}|%{index}", "Noto Sans CJK SC"], capture_output=True, text=True).stdout
    path, _, index = found.partition("|")
    if "NotoSansCJK" not in path:
        pytest.skip("fonts-noto-cjk is not installed")
    mapping = radical_equivalents(path, int(index or 0))
    assert mapping["\u2f47"] == "日" and mapping["\u2eda"] == "页" and mapping["\u2f3e"] == "户"  # SC glyphs, not NFKC's 戶
