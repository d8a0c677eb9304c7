"""Ingest from every file format and coordinate system, through the Python API and the CLI.

Input files are generated in tmp_path (no binary fixtures). Helpers here are reused by the other
test_ingest_* modules.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from app.cli import main
from queries import coords
from queries.ingest import IngestError, ingest_file
from queries.schema import Area, Base, Dataset, Incident
from queries.writes import data_version

# A small city: 320700 (Lianyungang-like) split into two districts, one street, one community.
CITY = ("320700", "连云港市", box(119.0, 34.4, 119.6, 34.8))
DISTRICTS = (("320706", "海州区", box(119.0, 34.4, 119.3, 34.8)), ("320707", "赣榆区", box(119.3, 34.4, 119.6, 34.8)))
STREET = ("320706001", "新南街道", box(119.0, 34.4, 119.15, 34.6))
COMMUNITY = ("320706001002", "朐阳社区", box(119.0, 34.4, 119.1, 34.5))


def feature(code, name, geometry, **extra) -> dict:
    return {"type": "Feature", "properties": {"代码": code, "名称": name, **extra}, "geometry": mapping(geometry)}


def write_geojson(path, features) -> str:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    return str(path)


def write_csv(path, rows, encoding="utf-8") -> str:
    with open(path, "w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return str(path)


def load_city(engine, tmp_path, *, streets=True) -> None:
    features = [feature(*CITY)] + [feature(*d) for d in DISTRICTS]
    if streets:
        features += [feature(*STREET), feature(*COMMUNITY)]
    ingest_file(engine, "boundaries", write_geojson(tmp_path / "city.geojson", features))


def snapshot(engine) -> str:
    """A hash of every row of every table plus the data version: equal means nothing changed."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            key = [c for c in table.primary_key.columns] or list(table.columns)
            for row in conn.execute(select(table).order_by(*key)):
                digest.update(repr(tuple(row)).encode())
        digest.update(str(data_version(conn)).encode())
    return digest.hexdigest()


def engine_url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run_cli(engine, *args):
    runner = CliRunner()
    return runner.invoke(main, list(args), env={"CITYOPS_DATABASE_URL": engine_url(engine)}, catch_exceptions=False)


INCIDENT_ROWS = (
    ("事件编号", "事件类型", "等级", "上报时间", "经度", "纬度", "事发地址", "联系电话", "来源"),
    ("E1", "火灾", "II级", "2026-11-21 08:30:00", "119.05", "34.45", "朝阳路1号", "13800000000", "12345"),
    ("E2", "自然灾害", "重大", "2026/11/21 8:30", "119.4", "34.6", "", "", "119"),
    ("E3", "事故灾难", "2", "2026-11-21T00:30:00Z", "119.2", "34.7", "", "", "网格员"),
    ("E4", "社会安全事件", "IV", "2026-11-21T08:30:00+08:00", "119.5", "34.5", "", "", "110"),
)


def incidents(engine):
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(Incident)).all()}


def test_incidents_csv_utf8_auto_matched_forms(engine, tmp_path):
    load_city(engine, tmp_path)
    report = ingest_file(engine, "incidents", write_csv(tmp_path / "inc.csv", INCIDENT_ROWS))
    assert report.columns["severity"] == "等级" and report.columns["lon"] == "经度"
    rows = incidents(engine)
    assert {k: r.severity for k, r in rows.items()} == {"E1": 2, "E2": 2, "E3": 2, "E4": 4}
    assert rows["E1"].category == "accident" and rows["E1"].subtype == "fire"
    # every time form is 08:30 Beijing = 00:30 UTC
    assert {r.reported_at.isoformat() for r in rows.values()} == {"2026-11-21T00:30:00+00:00"}
    assert rows["E1"].grid_code is None and rows["E1"].community_code == "320706001002"
    assert rows["E1"].street_code == "320706001" and rows["E1"].district_code == "320706"
    assert rows["E2"].district_code == "320707" and rows["E2"].street_code is None
    assert rows["E1"].channel == "12345" and rows["E3"].channel == "grid_officer"
    assert rows["E1"].geom.equals(shapely.Point(119.05, 34.45))


def test_incidents_csv_gbk_detected_and_explicit(engine, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", INCIDENT_ROWS, encoding="gbk")
    report = ingest_file(engine, "incidents", path)
    assert any("gb18030" in n for n in report.notes)
    assert incidents(engine)["E1"].address == "朝阳路1号"
    ingest_file(engine, "incidents", path, encoding="gbk")
    assert incidents(engine)["E1"].address == "朝阳路1号"


def test_utf8_sig_csv(engine, tmp_path):
    path = write_csv(tmp_path / "bom.csv", INCIDENT_ROWS, encoding="utf-8-sig")
    ingest_file(engine, "incidents", path)
    assert len(incidents(engine)) == 4


def test_xlsx_with_excel_dates_and_sheet(engine, tmp_path):
    import datetime as dt

    workbook = openpyxl.Workbook()
    workbook.active.title = "说明"
    workbook.active.append(["this sheet is notes"])
    sheet = workbook.create_sheet("事件")
    sheet.append(["事件编号", "事件类别", "级别", "上报时间", "经度", "纬度"])
    sheet.append(["X1", "事故灾难", "Ⅲ级", dt.datetime(2026, 11, 21, 8, 30), 119.1, 34.5])
    sheet.append(["X2", "公共卫生", 1, 46347.354166666664, 119.2, 34.5])  # a serial in a General cell
    sheet.append(["X3", "事故灾难", "较大", "2026-11-21 08:30", 119.2, 34.5])
    path = tmp_path / "events.xlsx"
    workbook.save(path)
    with pytest.raises(IngestError, match="no data rows"):
        ingest_file(engine, "incidents", str(path))  # the first sheet holds only a note
    with pytest.raises(IngestError, match="no sheet"):
        ingest_file(engine, "incidents", str(path), sheet="nope")
    ingest_file(engine, "incidents", str(path), sheet="事件")
    rows = incidents(engine)
    assert rows["X1"].severity == 3 and rows["X2"].severity == 1
    assert {r.reported_at.isoformat() for r in rows.values()} == {"2026-11-21T00:30:00+00:00"}


def test_geojson_points_and_gpkg_layer(engine, tmp_path):
    frame = gpd.GeoDataFrame(
        {"id": ["G1", "G2"], "category": ["accident", "accident"], "severity": ["I", "一般"], "time": ["2026-11-21 08:30", "2026-11-21 09:30"]},
        geometry=[shapely.Point(119.1, 34.5), shapely.Point(119.2, 34.6)], crs="EPSG:4326",
    )
    frame.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    ingest_file(engine, "incidents", str(tmp_path / "p.geojson"))
    assert incidents(engine)["G1"].lon == pytest.approx(119.1)
    frame["id"] = ["P1", "P2"]
    pyogrio.write_dataframe(frame, tmp_path / "p.gpkg", layer="events")
    pyogrio.write_dataframe(frame.assign(id=["Q1", "Q2"]), tmp_path / "p.gpkg", layer="other", append=False)
    with pytest.raises(IngestError, match="choose one with --layer"):
        ingest_file(engine, "incidents", str(tmp_path / "p.gpkg"))
    ingest_file(engine, "incidents", str(tmp_path / "p.gpkg"), layer="events")
    assert {"P1", "P2"} <= set(incidents(engine))


def test_shapefile_and_zip_with_gbk_attributes_and_no_cpg(engine, tmp_path):
    frame = gpd.GeoDataFrame(
        {"代码": ["320706", "320707"], "名称": ["海州区", "赣榆区"]},
        geometry=[d[2] for d in DISTRICTS], crs="EPSG:4326",
    )
    pyogrio.write_dataframe(frame, tmp_path / "d.shp", encoding="GBK")
    (tmp_path / "d.cpg").unlink(missing_ok=True)
    report = ingest_file(engine, "boundaries", str(tmp_path / "d.shp"), level="district")
    assert report.rows_written == 2
    with engine.connect() as conn:
        assert conn.execute(select(Area.name).where(Area.code == "320706")).scalar_one() == "海州区"
    import zipfile

    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            archive.write(tmp_path / f"d{suffix}", f"d{suffix}")
    report = ingest_file(engine, "boundaries", str(tmp_path / "d.zip"), level="district")
    assert report.updated == 2 and report.inserted == 0


def test_crs_gcj02_point_lands_on_its_wgs84_truth(engine, tmp_path):
    wgs_lat, wgs_lon, gcj_lat, gcj_lon = 31.1774276, 121.5272106, 31.17530398364597, 121.531541859215  # published pair
    rows = [("id", "category", "severity", "reported_at", "lng", "lat"), ("S1", "accident", "3", "2026-11-21 08:00", gcj_lon, gcj_lat)]
    report = ingest_file(engine, "incidents", write_csv(tmp_path / "gcj.csv", rows), crs="gcj02")
    assert any("gcj02" in n for n in report.notes)
    row = incidents(engine)["S1"]
    dx = (row.lon - wgs_lon) * 111_320 * math.cos(math.radians(wgs_lat))
    dy = (row.lat - wgs_lat) * 111_320
    assert math.hypot(dx, dy) < 3


def test_crs_bd09_3857_and_4490(engine, tmp_path):
    lon, lat = 119.2, 34.6
    bd_lon, bd_lat = coords.wgs84_to_bd09(lon, lat)
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    header = ("id", "category", "severity", "reported_at", "x", "y")
    ingest_file(engine, "incidents", write_csv(tmp_path / "bd.csv", [header, ("B", "accident", "3", "2026-11-21 08:00", bd_lon, bd_lat)]), crs="bd09")
    ingest_file(engine, "incidents", write_csv(tmp_path / "m.csv", [header, ("M", "accident", "3", "2026-11-21 08:00", x, y)]), crs="EPSG:3857")
    ingest_file(engine, "incidents", write_csv(tmp_path / "c.csv", [header, ("C", "accident", "3", "2026-11-21 08:00", lon, lat)]), crs="EPSG:4490")
    rows = incidents(engine)
    for key in ("B", "M", "C"):
        assert rows[key].lon == pytest.approx(lon, abs=2e-5) and rows[key].lat == pytest.approx(lat, abs=2e-5)


def test_projected_coordinates_without_crs_are_refused(engine, tmp_path):
    rows = [("id", "category", "severity", "reported_at", "x", "y"), ("M", "accident", "3", "2026-11-21 08:00", 13269000.0, 4108000.0)]
    with pytest.raises(IngestError, match="look projected"):
        ingest_file(engine, "incidents", write_csv(tmp_path / "m.csv", rows))


def test_explicit_map_wins_over_automatic_matching(engine, tmp_path):
    rows = [
        ("编号", "等级", "紧急等级", "时间", "经度", "纬度", "类别"),
        ("M1", "一般", "特别重大", "2026-11-21 08:00", "119.1", "34.5", "事故灾难"),
    ]
    path = write_csv(tmp_path / "map.csv", rows)
    report = ingest_file(engine, "incidents", path, mapping={"severity": "紧急等级"})
    assert report.columns["severity"] == "紧急等级"
    assert incidents(engine)["M1"].severity == 1
    with pytest.raises(IngestError, match="no column 'nope'"):
        ingest_file(engine, "incidents", path, mapping={"severity": "nope"})
    with pytest.raises(IngestError, match="unknown target"):
        ingest_file(engine, "incidents", path, mapping={"sevrity": "等级"})


def test_idempotent_reimport_updates_values(engine, tmp_path):
    load_city(engine, tmp_path)
    path = write_csv(tmp_path / "inc.csv", INCIDENT_ROWS)
    first = ingest_file(engine, "incidents", path)
    changed = [list(r) for r in INCIDENT_ROWS]
    changed[1][2] = "I级"
    second = ingest_file(engine, "incidents", write_csv(tmp_path / "inc.csv", changed))
    assert (first.inserted, second.inserted, second.updated) == (4, 0, 4)
    rows = incidents(engine)
    assert len(rows) == 4 and rows["E1"].severity == 1
    assert second.data_version == first.data_version + 1


def test_catalogue_and_data_version_after_good_import(engine, tmp_path):
    with engine.connect() as conn:
        before = data_version(conn)
    report = ingest_file(engine, "incidents", write_csv(tmp_path / "inc.csv", INCIDENT_ROWS), dataset="city.events", provider="市应急局")
    with engine.connect() as conn:
        dataset = conn.execute(select(Dataset).where(Dataset.code == "city.events")).one()
        assert data_version(conn) == before + 1 == report.data_version
        assert conn.execute(select(func.count()).select_from(Incident).where(Incident.dataset_code == "city.events")).scalar_one() == 4
    assert dataset.provider == "市应急局" and dataset.row_count == 4 and dataset.version == 1
    assert dataset.last_update_at.isoformat() == "2026-11-21T00:30:00+00:00"  # newest time in the data


def test_default_dataset_per_kind(engine, tmp_path):
    ingest_file(engine, "incidents", write_csv(tmp_path / "inc.csv", INCIDENT_ROWS))
    with engine.connect() as conn:
        dataset = conn.execute(select(Dataset).where(Dataset.code == "emergency.incidents")).one()
    assert dataset.provider == "应急管理局" and dataset.update_cycle == "realtime"


def test_cli_ingest_areas_json_and_help(engine, tmp_path):
    features = [feature(*CITY)] + [feature(*d) for d in DISTRICTS] + [feature(*STREET)]
    path = write_geojson(tmp_path / "b.geojson", features)
    result = run_cli(engine, "ingest", "boundaries", path)
    assert result.exit_code == 0, result.output
    assert "wrote 4 rows" in result.output
    result = run_cli(engine, "areas", "--json")
    listed = json.loads(result.output)
    assert [a["code"] for a in listed] == ["320700", "320706", "320707", "320706001"]
    assert set(listed[0]) == {"code", "name", "level", "parent", "area_km2"}
    assert listed[0]["parent"] is None and listed[3]["parent"] == "320706" and listed[3]["level"] == "street"
    assert listed[1]["area_km2"] == pytest.approx(0.3 * 0.4 * 111.32**2 * math.cos(math.radians(34.6)), rel=0.01)
    result = run_cli(engine, "areas", "--json", "--level", "district", "--parent", "320700")
    assert [a["code"] for a in json.loads(result.output)] == ["320706", "320707"]
    help_text = run_cli(engine, "ingest", "incidents", "--help").output
    for target in ("id", "category", "subtype", "severity", "status", "reported_at", "lon", "lat", "address", "description", "reporter_phone", "channel"):
        assert f"\n    {target} " in help_text
    assert "II级" in help_text and "required" in help_text
    assert "--level" in run_cli(engine, "ingest", "boundaries", "--help").output


def test_cli_errors_go_to_stderr_with_nonzero_exit(engine, tmp_path):
    rows = [list(INCIDENT_ROWS[0]), list(INCIDENT_ROWS[1])]
    rows[1][2] = "五级"
    result = run_cli(engine, "ingest", "incidents", write_csv(tmp_path / "incidents.csv", rows))
    assert result.exit_code == 1
    assert "incidents.csv row 2, field severity: '五级' is not a severity (I–IV / 特别重大…一般 / 1–4" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_cli_json_report_and_dry_run(engine, tmp_path):
    path = write_csv(tmp_path / "inc.csv", INCIDENT_ROWS)
    before = snapshot(engine)
    result = run_cli(engine, "ingest", "incidents", path, "--dry-run", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["dry_run"] is True
    assert snapshot(engine) == before
    result = run_cli(engine, "ingest", "incidents", path, "--json", "--map", "severity=等级")
    assert json.loads(result.stdout)["inserted"] == 4


def test_tsv_and_semicolon_separated(engine, tmp_path):
    text = "\n".join(";".join(r) for r in INCIDENT_ROWS) + "\n"
    (tmp_path / "semi.csv").write_text(text, encoding="utf-8")
    ingest_file(engine, "incidents", str(tmp_path / "semi.csv"))
    assert len(incidents(engine)) == 4


def test_lon_lat_from_single_point_column(engine, tmp_path):
    rows = [("工单编号", "来电时间", "addressPoints", "诉求类型"), ("W1", "2026-11-21 08:00", "119.1,34.5", "投诉")]
    ingest_file(engine, "workorders", write_csv(tmp_path / "w.csv", rows))
    from queries.schema import WorkOrder

    with engine.connect() as conn:
        order = conn.execute(select(WorkOrder)).one()
    assert (order.lon, order.lat, order.demand_type, order.state) == (119.1, 34.5, "complaint", "accepted")


def test_dry_run_validates_without_writing(engine, tmp_path):
    before = snapshot(engine)
    report = ingest_file(engine, "incidents", write_csv(tmp_path / "inc.csv", INCIDENT_ROWS), dry_run=True)
    assert report.dry_run and report.rows_written == 4 and report.data_version is None
    assert snapshot(engine) == before
