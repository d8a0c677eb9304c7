"""The leaders' briefing (/briefing, /briefing/<id>) through Flask's test client, on SQLite and PostGIS.

A small platform is seeded below (a city, two districts with streets, indicators, incidents, 12345
orders, air-quality stations, roads, a catalogue) at a fixed moment, and the page's clock is pinned
to that moment; every expectation is computed here from the seeded rows.
"""
from __future__ import annotations

import datetime as dt
import gzip
import re
import types
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from sqlalchemy import insert

from app.i18n import CATALOGUE, t
from app.server import create_app
from queries.schema import (
    AirQualityReading,
    Area,
    Incident,
    Indicator,
    IndicatorValue,
    RoadSegment,
    RoadSpeed,
    Sensor,
    WorkOrder,
)
from queries.settings import Settings
from queries.specs.files import shipped_specs
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import make_settings, url_of

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 21, 2, 30, tzinfo=UTC)  # 10:30 in Beijing: "today" began 8.5 hours earlier
TODAY = dt.datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # Beijing midnight
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
CITY, HAIZHOU, GANYU = "320700", "320706", "320707"
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


def area(code, level, name, name_en, parent, box):
    minx, miny, maxx, maxy = box
    return {"code": code, "level": level, "name": name, "name_en": name_en, "parent_code": parent,
            "geom": shapely.MultiPolygon([shapely.box(*box)]), "label_lon": (minx + maxx) / 2, "label_lat": (miny + maxy) / 2,
            "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy}


AREAS = [
    area(CITY, "city", "连云港市", "Lianyungang", None, (119.0, 34.5, 119.4, 34.7)),
    area(HAIZHOU, "district", "海州区", "Haizhou", CITY, (119.0, 34.5, 119.2, 34.7)),
    area(GANYU, "district", "赣榆区", "Ganyu", CITY, (119.2, 34.5, 119.4, 34.7)),
    area("320706001", "street", "新浦街道", "Xinpu", HAIZHOU, (119.0, 34.5, 119.1, 34.7)),
    area("320706002", "street", "浦西街道", "Puxi", HAIZHOU, (119.1, 34.5, 119.2, 34.7)),
    area("320707001", "street", "青口镇", "Qingkou", GANYU, (119.2, 34.5, 119.4, 34.7)),
]


def codes(street: str) -> dict:
    return {"district_code": street[:6], "street_code": street, "community_code": None, "grid_code": None}


def incident(id_, street, severity, status, hours_ago, title):
    return {"id": id_, "category": "accident", "severity": severity, "status": status, "title": title, "channel": "110",
            "lon": 119.05, "lat": 34.55, "reported_at": NOW - hours_ago * HOUR, **codes(street)}


INCIDENTS = [
    incident("INC-H1", "320706001", 1, "dispatched", 2, "新浦化工仓库起火"),
    incident("INC-G2", "320707001", 2, "on_scene", 3, "青口港船舶碰撞"),
    incident("INC-H3", "320706002", 3, "reported", 1, "浦西路段塌陷 <b>注意</b>"),  # markup in data must be escaped
    incident("INC-G3", "320707001", 3, "accepted", 5, "沿海公路落石"),
    incident("INC-H4", "320706001", 2, "closed", 0.5, "已结案的碰撞"),
    incident("INC-H5", "320706002", 4, "reported", 0.2, "轻微剐蹭"),
]


def order(num, street, hours_ago, topic, overdue=False):
    return {"order_num": num, "call_time": NOW - hours_ago * HOUR, "question_name": topic, "state": "dispatched",
            "deadline": NOW - HOUR if overdue else NOW + DAY, "complete_time": None, **codes(street)}


ORDERS = [
    order("W1", "320706001", 1, "城乡建设/路灯", overdue=True),
    order("W2", "320706002", 2, "城乡建设/路灯"),
    order("W3", "320707001", 3, "公安/户籍"),
    order("W4", "320706001", 4, "环境保护/噪声"),
    order("W5", "320707001", 20, "公安/户籍", overdue=True),  # yesterday: not in today's volume, still overdue
]

INDICATORS = [  # code, zh, en, unit, good direction, warn, alarm, {area: value now}
    ("aqi", "空气质量指数", "Air quality index", None, "down", 100.0, 150.0, {CITY: 160.0, HAIZHOU: 120.0, GANYU: 60.0}),
    ("hotline_volume", "12345工单量", "12345 work orders", "件", "neutral", None, None, {CITY: 4.0, HAIZHOU: 3.0, GANYU: 1.0}),
    ("gov_online_rate", "一网通办网上办理率", "Online handling rate", "%", "up", 85.0, 80.0, {CITY: 84.0}),
    ("congestion_index", "交通拥堵指数", "Congestion index", None, "down", 6.0, 8.0, {CITY: 3.2, HAIZHOU: 3.5}),
]
ZERO = {f: 0.0 for f in ("pm2_5", "pm10", "pm10_24h", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h")}
STATIONS = [("1001A", "新浦站", "320706001", 115.0), ("1002A", "青口站", "320707001", 35.0)]  # PM2.5 24 h → AQI 150 and 50
SEGMENTS = [
    {"id": "s1", "name": "海宁大道", "road_class": "arterial", "length_m": 3000.0, **codes("320706001"), "geom": shapely.LineString([(119.02, 34.55), (119.08, 34.55)])},
    {"id": "s2", "name": "沈海高速", "road_class": "expressway", "length_m": 1000.0, **codes("320707001"), "geom": shapely.LineString([(119.25, 34.6), (119.35, 34.6)])},
]
DATASETS = [  # code, cycle, age: one stale, one late, one fresh
    ("env.aq", "hourly", 5 * HOUR, "空气质量小时数据", "Hourly air quality"),
    ("traffic.speeds", "hourly", 2 * HOUR, "路段车速", "Road speeds"),
    ("base.areas", "yearly", DAY, "行政区划", "Administrative areas"),
]


def seed(engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Area), AREAS)
        for code, cycle, age, name, name_en in DATASETS:
            ensure_dataset(conn, code, name=name, name_en=name_en, provider="市大数据局", provider_en="Big Data Bureau", update_cycle=cycle)
            record_change(conn, code, "ingest", 1, row_count=1, at=NOW - age)
        conn.execute(insert(Incident), INCIDENTS)
        conn.execute(insert(WorkOrder), ORDERS)
        conn.execute(insert(Indicator), [{"code": c, "name_zh": zh, "name_en": en, "unit": unit, "domain": "test", "good_direction": good,
                                          "warn_threshold": warn, "alarm_threshold": alarm} for c, zh, en, unit, good, warn, alarm, _ in INDICATORS])
        values = []
        for code, *_, now_values in INDICATORS:
            for area_code, value in now_values.items():
                values += [{"indicator_code": code, "area_code": area_code, "ts": NOW - HOUR - d * DAY, "value": value * (1 + d / 20)} for d in range(8)]
        conn.execute(insert(IndicatorValue), values)
        conn.execute(insert(Sensor), [{"id": sid, "kind": "air_quality", "name": name, "status": "online", **codes(street)} for sid, name, street, _ in STATIONS])
        conn.execute(insert(AirQualityReading), [{"station_id": sid, "ts": NOW - HOUR, **ZERO, "pm2_5_24h": pm} for sid, _, _, pm in STATIONS])
        conn.execute(insert(RoadSegment), SEGMENTS)
        speeds = [{"segment_id": s, "ts": NOW.replace(minute=0) - d * DAY, "speed_kmh": 30.0, "congestion_index": value}
                  for d in range(8) for s, value in (("s1", 5.0 if d else 7.0), ("s2", 2.0))]
        conn.execute(insert(RoadSpeed), speeds)


def pin_clock(monkeypatch, when: dt.datetime = NOW) -> None:
    """The page's "now" (app.briefing.page reads dt.datetime.now) pinned to ``when``."""
    from app.briefing import page

    class Pinned(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return when.astimezone(tz) if tz else when.replace(tzinfo=None)

    monkeypatch.setattr(page, "dt", types.SimpleNamespace(datetime=Pinned, timezone=dt.timezone, timedelta=dt.timedelta))


def make_client(engine, tmp_path, **overrides):
    server = create_app(make_settings(tmp_path, url_of(engine), **overrides)).server
    return server


@pytest.fixture
def server(engine, tmp_path, monkeypatch):
    seed(engine)
    pin_clock(monkeypatch)
    server = make_client(engine, tmp_path)
    yield server
    context = server.extensions["cityops"]  # the app's own pools: PostgreSQL has few connections to spare
    context.read_engine.dispose()
    context.engine.dispose()


@pytest.fixture
def client(server):
    return server.test_client()


# --- a small HTML reader --------------------------------------------------------------------------


class Page(HTMLParser):
    """Sections in order, every link with its section and class, the text, and the <style> blocks."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.links: list[dict] = []
        self.styles: list[str] = []
        self.texts: list[str] = []
        self.section_text: dict[str, list[str]] = {}
        self.notes: dict[str, list[str]] = {}
        self._section: str | None = None
        self._in_style = False
        self._link: dict | None = None
        self._note: str | None = None
        self.html_lang = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.html_lang = attrs.get("lang")
        if tag == "section" and "data-section" in attrs:
            self._section = attrs["data-section"]
            self.sections.append(self._section)
            self.section_text[self._section] = []
        if tag == "style":
            self._in_style = True
            self.styles.append("")
        if tag == "a":
            self._link = {"href": attrs.get("href"), "class": (attrs.get("class") or "").split(), "section": self._section, "text": ""}
            self.links.append(self._link)
        if tag == "p" and "b-note" in (attrs.get("class") or "").split():
            self._note = " ".join((attrs.get("class") or "").split())
            self.notes.setdefault(self._section, [])

    def handle_endtag(self, tag):
        if tag == "section":
            self._section = None
        if tag == "style":
            self._in_style = False
        if tag == "a":
            self._link = None
        if tag == "p":
            self._note = None

    def handle_data(self, data):
        if self._in_style:
            self.styles[-1] += data
            return
        self.texts.append(data)
        if self._section:
            self.section_text[self._section].append(data)
        if self._link is not None:  # the text of each element apart: "3" and "orders today", not "3orders today"
            self._link["text"] = " ".join(f"{self._link['text']} {data}".split())
        if self._note is not None:
            self.notes[self._section].append(f"{self._note}: {data.strip()}")

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.texts).split())

    def links_in(self, section: str, css_class: str | None = None) -> list[dict]:
        return [link for link in self.links if link["section"] == section and (css_class is None or css_class in link["class"])]


def get_page(client, path: str, status: int = 200, **headers) -> tuple[Page, str]:
    response = client.get(path, headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:2000]
    assert response.mimetype == "text/html"
    return Page(body), body


def query_of(href: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(href)
    return parts.path, {key: values[-1] for key, values in parse_qs(parts.query).items()}


def spec_sections(briefing_id: str) -> list[str]:
    spec = shipped_specs("briefing", Settings(specs_dir=None))[briefing_id]
    types_ = [s.type for s in spec.sections]
    return ["attention"] + [kind for kind in types_ if kind != "attention"]


# --- sections and their order ---------------------------------------------------------------------


def test_city_briefing_has_every_section_in_spec_order(client):
    page, html = get_page(client, "/briefing")
    assert page.html_lang == "zh-CN"
    expected = spec_sections("city")
    assert page.sections == expected
    assert set(expected) == {"attention", "indicators", "map", "incidents", "air_quality", "traffic", "hotline", "gov_services"}
    assert "今日城市运行简报" in page.text and "连云港市" in page.text
    assert t("briefing.as_of", "zh", time="11-21 10:30") in page.text
    assert "b-note--bad" not in html  # no section failed
    # Every section says the time of its data.
    assert html.count('class="b-time"') == len(expected)


def test_district_briefing_has_its_sections_attention_first(client):
    page, _ = get_page(client, "/briefing/haizhou")
    assert page.sections == spec_sections("haizhou")
    assert page.sections[0] == "attention"
    assert "海州区运行简报" in page.text and "海州区" in page.text


def test_attention_comes_first_whatever_the_spec_order(engine, tmp_path, monkeypatch):
    seed(engine)
    pin_clock(monkeypatch)
    specs = tmp_path / "specs"
    (specs / "briefings").mkdir(parents=True)
    (specs / "briefings" / "late.yaml").write_text(
        "kind: briefing\nid: late\ntitle: 末尾关注\nsections:\n  - {type: hotline}\n  - {type: incidents}\n  - {type: attention, limit: 2}\n",
        encoding="utf-8")
    server = make_client(engine, tmp_path, specs_dir=specs)
    try:
        page, _ = get_page(server.test_client(), "/briefing/late")
        assert page.sections == ["attention", "hotline", "incidents"]
        assert len(page.links_in("attention", "b-row")) == 2  # the spec's limit
    finally:
        server.extensions["cityops"].read_engine.dispose()
        server.extensions["cityops"].engine.dispose()


# --- missing briefings ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/briefing/nowhere", "/briefing/Bad.Id", "/briefing/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
                                  "/briefing/" + "x" * 65, "/briefing/..%2F..%2Fetc", "/briefing/-dash"])
def test_unknown_or_malformed_id_is_a_404_page(client, path):
    page, html = get_page(client, path, status=404)
    assert page.sections == []
    assert t("briefing.missing.title", "zh") in page.text
    assert "Traceback" not in html and "<script>" not in html
    assert 'id="briefing-missing"' in html


def test_the_404_page_lists_the_known_briefings(client):
    page, _ = get_page(client, "/briefing/nowhere?lang=en", status=404)
    assert page.html_lang == "en"
    assert t("briefing.missing.body", "en", briefing="nowhere") in page.text
    assert [link["href"] for link in page.links] == ["/briefing/city?lang=en", "/briefing/haizhou?lang=en"]


# --- language ---------------------------------------------------------------------------------------


def chinese_ui_fragments() -> set[str]:
    """Every run of Chinese of the UI catalogue (between placeholders), and the Chinese names of the
    vocabularies the briefing shows; the language switcher's own name (中文) excepted."""
    from queries.vocab import (
        CONGESTION_BANDS,
        INCIDENT_CATEGORIES,
        INCIDENT_STATUSES,
        UPDATE_CYCLES,
    )

    texts = [message.zh for key, message in CATALOGUE.items() if not key.startswith("lang.")]
    texts += [term.zh for terms in (INCIDENT_CATEGORIES, INCIDENT_STATUSES, UPDATE_CYCLES) for term in terms]
    texts += [term.zh for _low, _high, term in CONGESTION_BANDS]
    fragments = set()
    for text in texts:
        for part in re.split(r"\{[^}]*\}", text):
            for run in re.findall(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]+", part):
                fragments.add(run)
    return fragments


def test_english_briefing_has_no_chinese_ui_words(client):
    page, _ = get_page(client, "/briefing?lang=en")
    assert page.html_lang == "en"
    assert "Today's city briefing" in page.text and "Lianyungang" in page.text
    for key in ("briefing.section.attention", "briefing.section.incidents", "briefing.section.air_quality", "briefing.section.traffic",
                "briefing.section.hotline", "briefing.hotline.volume", "briefing.air.worst", "briefing.traffic.worst", "briefing.export.pdf"):
        assert t(key, "en") in page.text, key
    # The data may be Chinese (incident titles, station and road names, 12345 topics): take it out first.
    # Indicator units are catalogue data too (the indicators table has no English unit: 件 stays 件).
    data = [i["title"] for i in INCIDENTS] + [s[1] for s in STATIONS] + [s["name"] for s in SEGMENTS] + [o["question_name"] for o in ORDERS]
    data += [unit for _, _, _, unit, *_ in INDICATORS if unit and CJK.search(unit)]
    # The districts' names of the incident rows are checked on their own (test_english_incident_rows_name_districts_in_english).
    data += [f"· {a['name']} ·" for a in AREAS if a["level"] == "district"]
    text = page.text
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(" ".join(value.split()), " ")
    found = sorted(fragment for fragment in chinese_ui_fragments() if fragment in text)
    assert found in ([], ["中文"]), found  # 中文 is the language switcher's own name
    assert CJK.findall(text.replace("中文", "")) == [], text
    # Every link stays in English.
    for link in page.links:
        if link["href"].startswith("/") and not link["href"].startswith("/briefing?lang=zh"):
            assert query_of(link["href"])[1].get("lang") == "en", link


def test_english_incident_rows_name_districts_in_english(client):
    page, _ = get_page(client, "/briefing?lang=en")
    details = " ".join(page.section_text["incidents"])
    assert "Haizhou" in details and "Ganyu" in details
    assert "海州区" not in details and "赣榆区" not in details


def test_chinese_is_the_default_and_links_keep_it(client):
    page, _ = get_page(client, "/briefing")
    assert t("briefing.section.attention", "zh") in page.text
    assert all(query_of(link["href"])[1].get("lang") in ("zh", "en") for link in page.links if link["href"].startswith("/"))
    assert query_of(page.links_in("incidents", "b-row")[0]["href"])[1]["lang"] == "zh"


# --- transport -------------------------------------------------------------------------------------


def test_gzip_when_the_client_accepts_it(client):
    plain = client.get("/briefing")
    assert "Content-Encoding" not in plain.headers
    zipped = client.get("/briefing", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert zipped.headers["Cache-Control"] == "no-store"
    body = gzip.decompress(zipped.get_data())
    assert body == plain.get_data()
    assert len(zipped.get_data()) < len(body) / 3
    assert int(zipped.headers["Content-Length"]) == len(zipped.get_data())


def test_the_page_loads_nothing_from_another_host(client):
    _, html = get_page(client, "/briefing")
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html, re.IGNORECASE)
    assert "<script" not in html.lower()  # a plain document: no script at all
    assert 'href="/assets/briefing.css"' in html
    css = client.get("/assets/briefing.css").get_data(as_text=True)
    assert "@import" not in css and "url(" not in css


# --- the CSS strings of the printed page margins ------------------------------------------------------


def css_unescape(quoted: str) -> str:
    assert quoted[0] == quoted[-1] == '"'
    return re.sub(r"\\([0-9A-Fa-f]{1,6}) ?", lambda m: chr(int(m.group(1), 16)), quoted[1:-1])


def test_css_string_escapes_what_could_break_out():
    from app.briefing.page import css_string, page_counter_css

    for text in ['"</style><script>alert(1)</script>', "back\\slash", "line\nbreak\r", "a\\\"b<c>d", "\\3C then hex: 3C abc", "简报 · 11-21"]:
        quoted = str(css_string(text))
        inner = quoted[1:-1]
        assert not re.search(r'["<>\n\r]', inner), quoted
        assert not re.search(r"\\(?![0-9A-F]{1,6} )", inner), quoted  # every backslash starts an escape
        assert css_unescape(quoted) == text
    assert str(page_counter_css("en")) == '"Page " counter(page) " of " counter(pages)'
    assert str(page_counter_css("zh")) == '"第 " counter(page) " 页 / 共 " counter(pages) " 页"'


def test_a_hostile_title_stays_inside_its_css_string(engine, tmp_path, monkeypatch):
    seed(engine)
    pin_clock(monkeypatch)
    title = '"</style><script>alert(1)</script>\\'
    specs = tmp_path / "specs"
    (specs / "briefings").mkdir(parents=True)
    (specs / "briefings" / "evil.yaml").write_text(
        "kind: briefing\nid: evil\ntitle: {zh: '" + title.replace("'", "''") + "', en: '" + title.replace("'", "''") + "'}\n"
        "sections:\n  - {type: attention}\n  - {type: hotline}\n", encoding="utf-8")
    server = make_client(engine, tmp_path, specs_dir=specs)
    try:
        for lang in ("zh", "en"):
            page, html = get_page(server.test_client(), f"/briefing/evil?lang={lang}")
            assert "<script" not in html.lower()
            assert html.count("</style>") == 1
            [style] = page.styles
            footer = re.fullmatch(r'@page \{ @bottom-left \{ content: ("(?:[^"\\<>]|\\[0-9A-F]{1,6} )*"); \} '
                                  r'@bottom-right \{ content: (.*); \} \}', style)
            assert footer, style
            expected = t("briefing.print.footer", lang, title=title, time="11-21 10:30")
            assert css_unescape(footer.group(1)) == expected
            assert title in page.text  # shown as text in the heading, escaped by the template
            assert page.sections == ["attention", "hotline"]
    finally:
        server.extensions["cityops"].read_engine.dispose()
        server.extensions["cityops"].engine.dispose()


# --- one failing section ----------------------------------------------------------------------------


def test_a_failing_section_shows_a_note_and_the_rest_renders(client, monkeypatch, caplog):
    from app.briefing import sections

    def broken(section, ctx):
        raise RuntimeError("the traffic feed is down")

    monkeypatch.setitem(sections.SECTION_BUILDERS, "traffic", broken)
    with caplog.at_level("ERROR", logger="app.briefing.page"):
        page, html = get_page(client, "/briefing")
    assert page.sections == spec_sections("city")
    assert page.notes["traffic"] == [f"b-note b-note--bad: {t('briefing.section_failed', 'zh')}"]
    assert t("briefing.section.traffic", "zh") in " ".join(page.section_text["traffic"])
    assert html.count("b-note--bad") == 1
    assert "the traffic feed is down" not in html and "Traceback" not in html
    assert any("section traffic failed" in record.getMessage() for record in caplog.records)
    # The others have their content.
    assert len(page.links_in("incidents", "b-row")) == len(open_incidents(None)) == 4
    assert len(page.links_in("air_quality", "b-row")) == len(STATIONS)
    assert len(page.links_in("hotline", "b-figure")) == 2


# --- contents and links -----------------------------------------------------------------------------


def open_incidents(district: str | None, severities=(1, 2, 3)) -> list[dict]:
    rows = [i for i in INCIDENTS if i["status"] not in ("resolved", "closed") and i["severity"] in severities
            and (district is None or i["district_code"] == district)]
    return sorted(rows, key=lambda i: (i["severity"], -i["reported_at"].timestamp()))


def test_district_briefing_lists_only_its_incidents(client):
    page, _ = get_page(client, "/briefing/haizhou")
    rows = page.links_in("incidents", "b-row")
    assert [query_of(link["href"])[1]["incident"] for link in rows] == [i["id"] for i in open_incidents(HAIZHOU)] == ["INC-H1", "INC-H3"]
    assert t("briefing.incidents.total", "zh", total=2) in page.text
    attention = [query_of(link["href"])[1].get("incident") for link in page.links_in("attention", "b-row")]
    assert [i for i in attention if i] == [i["id"] for i in open_incidents(HAIZHOU, (1, 2))] == ["INC-H1"]
    text = " ".join(page.section_text["incidents"])
    assert "青口港船舶碰撞" not in text and "沿海公路落石" not in text
    city, _ = get_page(client, "/briefing")
    assert [query_of(link["href"])[1]["incident"] for link in city.links_in("incidents", "b-row")] == [i["id"] for i in open_incidents(None)]


def test_incident_titles_are_escaped(client):
    _, html = get_page(client, "/briefing")
    assert "浦西路段塌陷 &lt;b&gt;注意&lt;/b&gt;" in html and "<b>注意" not in html


def expected_attention(area_code: str) -> list[tuple[str, str]]:
    """(title, href) of the attention rows, by the rules: open I/II incidents (most severe, newest first),
    indicators in alarm then warning, stale then late datasets."""
    district = None if area_code == CITY else area_code
    rows = [(i["title"], f"/command?incident={i['id']}&lang=zh") for i in open_incidents(district, (1, 2))]
    statuses = []
    for code, zh, _en, _unit, good, warn, alarm, values in INDICATORS:
        value = values.get(area_code)
        if value is None or warn is None:
            continue
        worse = (lambda v, limit: v <= limit) if good == "up" else (lambda v, limit: v >= limit)
        status = "alarm" if worse(value, alarm) else "warn" if worse(value, warn) else None
        if status:
            statuses.append((status != "alarm", code, zh))
    rows += [(zh, f"/command?area={area_code}&lang=zh") for _, _, zh in sorted(statuses)]
    cycle = {"hourly": HOUR, "yearly": 366 * DAY}
    ages = [(age / cycle[c], code, name) for code, c, age, name, _ in DATASETS]
    rows += [(name, "/?lang=zh") for ratio, _, name in sorted(ages) if ratio > 3]  # stale: beyond three cycles
    rows += [(name, "/?lang=zh") for ratio, _, name in sorted(ages) if 1.5 < ratio <= 3]  # late
    return rows


def assert_command(href: str, **expected) -> dict:
    path, params = query_of(href)
    assert path == "/command", href
    for key, value in expected.items():
        assert params.get(key) == value, (href, key)
    assert params.get("lang") == "zh"
    return params


@pytest.mark.parametrize(("briefing_id", "area_code"), [("city", CITY), ("haizhou", HAIZHOU)])
def test_every_item_links_to_the_command_view_at_its_place(client, briefing_id, area_code):
    page, _ = get_page(client, f"/briefing/{briefing_id}")
    district = None if area_code == CITY else area_code
    known_incidents = {i["id"] for i in INCIDENTS}
    children = [a["code"] for a in AREAS if a["parent_code"] == area_code]

    # Needs attention: severity I/II incidents → the incident; indicators → the area; datasets → the catalogue (overview).
    rows = page.links_in("attention", "b-row")
    assert [(r["text"].split()[1], r["href"]) for r in rows] == expected_attention(area_code)
    for row in rows:
        path, params = query_of(row["href"])
        if path == "/command":
            assert ("incident" in params) != ("area" in params)
            assert params.get("incident", "INC-H1") in known_incidents and params.get("area", area_code) == area_code

    # Indicator cards → the area.
    cards = page.links_in("indicators", "b-card")
    assert cards and all(assert_command(card["href"], area=area_code) for card in cards)

    # The map: one link per child area.
    map_links = page.links_in("map")
    assert sorted(query_of(link["href"])[1]["area"] for link in map_links) == children
    for link in map_links:
        assert_command(link["href"])

    # Open incidents → each incident.
    incidents = page.links_in("incidents", "b-row")
    assert [assert_command(link["href"])["incident"] for link in incidents] == [i["id"] for i in open_incidents(district)]

    # Air quality: the area with the air layers; each station → its district.
    hero = page.links_in("air_quality", "b-hero")
    assert len(hero) == 1 and assert_command(hero[0]["href"], area=area_code)["layers"] == "boundaries,air_stations,aqi_surface"
    stations = page.links_in("air_quality", "b-row")
    in_area = [s for s in STATIONS if district is None or s[2].startswith(district)]
    assert [r["text"].split()[1] for r in stations] == [s[1] for s in sorted(in_area, key=lambda s: -s[3])]
    assert [query_of(r["href"])[1]["area"] for r in stations] == [s[2][:6] for s in sorted(in_area, key=lambda s: -s[3])]

    # Traffic: the area with the traffic layer.
    for link in page.links_in("traffic"):
        assert assert_command(link["href"], area=area_code)["layers"] == "boundaries,traffic"
    assert len(page.links_in("traffic", "b-row")) == len([s for s in SEGMENTS if district is None or s["district_code"] == district])

    # 12345: the area.
    figures = page.links_in("hotline", "b-figure")
    assert len(figures) == 2 and all(assert_command(f["href"], area=area_code) for f in figures)

    # Nothing else in the main part links anywhere but the command view, the overview or the briefing's own exports.
    for link in page.links:
        if link["section"] is not None:
            assert query_of(link["href"])[0] in ("/command", "/"), link


def test_the_numbers_match_the_seed(client):
    page, _ = get_page(client, "/briefing/haizhou")
    # 12345 today (since Beijing midnight): Haizhou's orders W1, W2, W4; overdue: W1.
    today = [o for o in ORDERS if o["district_code"] == HAIZHOU and TODAY <= o["call_time"] < NOW]
    volume, overdue = [link["text"].split()[0] for link in page.links_in("hotline", "b-figure")]
    assert int(volume) == len(today) == 3
    assert int(overdue) == sum(1 for o in ORDERS if o["district_code"] == HAIZHOU and o["deadline"] < NOW and o["complete_time"] is None) == 1
    text = " ".join(" ".join(page.section_text["hotline"]).split())
    assert "城乡建设/路灯 2" in text and "环境保护/噪声 1" in text
    # Air: the one Haizhou station, AQI 150 by hand (PM2.5 24 h 115 µg/m³).
    assert page.links_in("air_quality", "b-hero")[0]["text"].split()[0] == "150"
    # Traffic: now s1 at 7.0; usual = s1's 5.0 over the previous seven days at this hour.
    hero = " ".join(page.links_in("traffic", "b-hero")[0]["text"].split())
    assert hero.startswith("7.00 ") and t("briefing.traffic.usual", "zh", usual="5.00") in hero and "▲ 2.00" in hero
    # Indicator cards in the spec's order, with the seeded values.
    cards = page.links_in("indicators", "b-card")
    assert [c["text"].split()[0] for c in cards] == ["12345工单量", "空气质量指数", "交通拥堵指数"]  # incidents_today is not in the catalogue
    assert "120" in cards[1]["text"] and "b-card--warn" in cards[1]["class"]


def test_the_header_links_every_page_and_both_languages(client):
    page, _ = get_page(client, "/briefing/haizhou?lang=en")
    header = [link for link in page.links if link["section"] is None and "b-nav-link" in link["class"]]
    assert {"/", "/command", "/wall", "/briefing"} <= {query_of(link["href"])[0] for link in header}
    assert all(query_of(link["href"])[1] == {"lang": "en"} for link in header)
    assert [query_of(link["href"])[0] for link in header if "is-active" in link["class"]] == ["/briefing"]
    switches = [link["href"] for link in page.links if "b-lang-option" in link["class"]]
    assert switches == ["/briefing/haizhou?lang=zh", "/briefing/haizhou?lang=en"]
    exports = [link["href"] for link in page.links if "b-button" in link["class"]]
    assert exports == ["/export/briefing/haizhou.pdf?lang=en", "/briefing/haizhou?lang=en&print=1"]


def test_print_layout_has_no_navigation(client):
    page, html = get_page(client, "/briefing?print=1")
    assert "is-print" in html and 'class="b-header"' not in html and "b-actions" not in html
    assert page.sections == spec_sections("city")


def test_shipped_templates_are_package_data():
    """The templates ship with the package (pyproject's package-data includes *.html)."""
    import app

    folder = Path(app.__file__).parent / "templates"
    assert {p.name for p in folder.glob("briefing*.html")} == {"briefing.html", "briefing_sections.html", "briefing_missing.html"}


# --- one build of the sections for many readers ---------------------------------------------------


def test_readers_share_one_build_per_language_and_masking_class(server, engine, monkeypatch):
    """Leaders opening the briefing in the same minute get one build of its sections (shared
    through the query cache); another language or a reader who sees personal data in clear gets
    its own, and a title's phone number stays masked for those who may not see it."""
    from sqlalchemy import update

    from app.briefing import page as briefing_page
    from tests.app.conftest import signed_in_client

    with engine.begin() as conn:
        conn.execute(update(Incident).where(Incident.id == "INC-H1").values(title="新浦化工仓库起火 报警人13812345678"))
    builds = []
    build = briefing_page.build_sections_html
    monkeypatch.setattr(briefing_page, "build_sections_html", lambda *args: builds.append(args[3]) or build(*args))

    first_leader, second_leader = signed_in_client(server, "leader"), signed_in_client(server, "leader")
    first, first_html = get_page(first_leader, "/briefing")
    second, _ = get_page(second_leader, "/briefing")
    assert builds == ["zh"]
    assert second.section_text == first.section_text and first.sections == spec_sections("city")
    assert "13812345678" not in first_html and "报警人" in first_html

    get_page(second_leader, "/briefing?lang=en")
    assert builds == ["zh", "en"]
    _, commander_html = get_page(signed_in_client(server, "commander"), "/briefing")
    assert builds == ["zh", "en", "zh"]
    assert "13812345678" in commander_html


def test_a_briefing_with_a_failed_section_is_not_shared(server, monkeypatch):
    """A section whose data did not answer is shown as failed to that reader only: the next one
    gets a new build, with the section back once it answers."""
    from app.briefing import sections
    from tests.app.conftest import signed_in_client

    healthy = sections.SECTION_BUILDERS["traffic"]
    monkeypatch.setitem(sections.SECTION_BUILDERS, "traffic", lambda section, ctx: (_ for _ in ()).throw(RuntimeError("down")))
    reader = signed_in_client(server, "leader")
    _, html = get_page(reader, "/briefing")
    assert html.count("b-note--bad") == 1
    monkeypatch.setitem(sections.SECTION_BUILDERS, "traffic", healthy)
    page, html = get_page(reader, "/briefing")
    assert "b-note--bad" not in html and page.sections == spec_sections("city")
