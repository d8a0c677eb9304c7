"""Bad input is rejected with file, row/feature and field named — and the database is unchanged,
catalogue and data version included."""
from __future__ import annotations

import zipfile

import openpyxl
import pytest

from queries.ingest import IngestError, ingest_file
from tests.queries.test_ingest_formats import CITY, DISTRICTS, INCIDENT_ROWS, feature, load_city, run_cli, snapshot, write_csv, write_geojson


@pytest.fixture
def loaded(engine, tmp_path):
    """A database with a city and some incidents already in it, and its snapshot."""
    load_city(engine, tmp_path)
    ingest_file(engine, "incidents", write_csv(tmp_path / "seed.csv", INCIDENT_ROWS))
    return engine


def assert_rejected_unchanged(engine, kind, path, match, **options):
    before = snapshot(engine)
    with pytest.raises(IngestError, match=match) as caught:
        ingest_file(engine, kind, path, **options)
    assert snapshot(engine) == before
    return caught.value


def with_row(row_changes: dict, row: int = 1):
    rows = [list(r) for r in INCIDENT_ROWS]
    for column, value in row_changes.items():
        rows[row][INCIDENT_ROWS[0].index(column)] = value
    return rows


def test_bad_vocabulary_value_names_file_row_field(loaded, tmp_path):
    rows = with_row({"等级": "五级"}, row=3)
    error = assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "incidents.csv", rows), "五级")
    assert error.problems[0].startswith("incidents.csv row 4, field severity: '五级' is not a severity (I–IV / 特别重大…一般 / 1–4")


def test_all_problems_collected_with_a_count(loaded, tmp_path):
    rows = [INCIDENT_ROWS[0]] + [("B%d" % i, "事故灾难", "九级", "昨天", "119.1", "34.5", "", "", "") for i in range(60)]
    error = assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "many.csv", rows), "九级")
    assert error.total == 120
    text = error.render()
    assert "… and 70 more problems (120 in all); nothing was imported." in text
    assert "many.csv row 2, field reported_at: '昨天' is not a valid time" in text


def test_bad_dates(loaded, tmp_path):
    for value in ("2026-02-30 08:00", "2099-01-01 00:00", "明天"):
        path = write_csv(tmp_path / "d.csv", with_row({"上报时间": value}))
        assert_rejected_unchanged(loaded, "incidents", path, f"row 2, field reported_at: '{value}'")
    rows = [INCIDENT_ROWS[0] + ("办结时间",), INCIDENT_ROWS[1] + ("2026-11-20 08:00",)]
    assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "order.csv", rows), "resolved_at: '2026-11-20 08:00' is before reported_at")


def test_coordinates_outside_china_or_city(loaded, tmp_path):
    assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "a.csv", with_row({"经度": "2.35", "纬度": "48.85"})), "is outside China")
    assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "b.csv", with_row({"经度": "34.45", "纬度": "119.05"})), "lon and lat look swapped")
    assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "c.csv", with_row({"经度": "121.47", "纬度": "31.23"})), r"is outside the city \(loaded areas span lon 118.90–119.70")


def test_huge_or_negative_values(loaded, tmp_path):
    rows = [INCIDENT_ROWS[0] + ("伤亡人数",), INCIDENT_ROWS[1] + ("-3",), INCIDENT_ROWS[2] + ("1e9",)]
    error = assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "v.csv", rows), "casualties")
    assert "row 2, field casualties: -3 is out of range (0 to 100000)" in error.render()
    readings = [("station_code", "time_point", "aqi", "pm2_5"), ("1001A", "2026-11-21 08:00", "40", "-5"), ("1001A", "2026-11-21 09:00", "9999", "10")]
    assert_rejected_unchanged(loaded, "readings", write_csv(tmp_path / "aq.csv", readings), "pm2_5: -5 is out of range", reading_type="aq")


def test_wrong_columns_lists_present_and_missing(loaded, tmp_path):
    rows = [("编号", "名字", "备注"), ("1", "x", "y")]
    error = assert_rejected_unchanged(loaded, "incidents", write_csv(tmp_path / "w.csv", rows), "required field")
    assert "severity, reported_at" in error.problems[0] and "Columns in the file: 编号, 名字, 备注" in error.problems[0]


def test_unknown_codes(loaded, tmp_path):
    values = [("indicator_code", "area_code", "ts", "value"), ("hotline.calls", "320799", "2026-11-21", "5")]
    definitions = [("code", "name_zh", "domain"), ("hotline.calls", "热线来电量", "hotline")]
    error = assert_rejected_unchanged(
        loaded, "indicators", write_csv(tmp_path / "v.csv", values), "unknown area code '320799'",
        definitions=write_csv(tmp_path / "d.csv", definitions),
    )
    assert error.problems[0].startswith("v.csv row 2, field area_code")
    assert_rejected_unchanged(loaded, "indicators", write_csv(tmp_path / "v.csv", values[:1] + [("nope", "320706", "2026-11-21", "5")]), "unknown indicator 'nope'")
    street = [feature("320799001", "无父", DISTRICTS[0][2])]
    assert_rejected_unchanged(loaded, "boundaries", write_geojson(tmp_path / "s.geojson", street), "does not exist", level="street", parent="320799")


def test_truncated_files(loaded, tmp_path):
    csv_text = (tmp_path / "seed.csv").read_text(encoding="utf-8")
    (tmp_path / "cut.csv").write_text(csv_text[: csv_text.rindex(",") - 3], encoding="utf-8")
    assert_rejected_unchanged(loaded, "incidents", str(tmp_path / "cut.csv"), "looks truncated")

    geojson = write_geojson(tmp_path / "full.geojson", [feature(*CITY), feature(*DISTRICTS[0])])
    text = open(geojson, encoding="utf-8").read()
    (tmp_path / "cut.geojson").write_text(text[: len(text) // 2], encoding="utf-8")
    assert_rejected_unchanged(loaded, "boundaries", str(tmp_path / "cut.geojson"), "truncated")

    workbook = openpyxl.Workbook()
    for row in INCIDENT_ROWS:
        workbook.active.append(list(row))
    workbook.save(tmp_path / "full.xlsx")
    data = (tmp_path / "full.xlsx").read_bytes()
    (tmp_path / "cut.xlsx").write_bytes(data[: len(data) // 2])
    assert_rejected_unchanged(loaded, "incidents", str(tmp_path / "cut.xlsx"), "damaged or truncated")

    import geopandas as gpd

    gpd.GeoDataFrame({"代码": ["320706"], "名称": ["海州区"]}, geometry=[DISTRICTS[0][2]], crs=4326).to_file(tmp_path / "d.shp")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            archive.write(tmp_path / f"d{suffix}", f"d{suffix}")
    data = (tmp_path / "d.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) - 40])
    assert_rejected_unchanged(loaded, "boundaries", str(tmp_path / "cut.zip"), "zip")
    shp = (tmp_path / "d.shp").read_bytes()
    (tmp_path / "d.shp").write_bytes(shp[: len(shp) - 20])
    assert_rejected_unchanged(loaded, "boundaries", str(tmp_path / "d.shp"), "truncated")


def test_wrong_encoding_is_a_clear_error_not_mojibake(loaded, tmp_path):
    gbk = write_csv(tmp_path / "gbk.csv", with_row({"事发地址": "新地址"}), encoding="gbk")
    assert_rejected_unchanged(loaded, "incidents", gbk, "not valid utf-8", encoding="utf-8")
    utf8 = write_csv(tmp_path / "utf8.csv", with_row({"事发地址": "新地址"}))
    assert_rejected_unchanged(loaded, "incidents", utf8, "the file is UTF-8, not gbk", encoding="gbk")
    assert_rejected_unchanged(loaded, "incidents", utf8, "unknown encoding", encoding="klingon")


def test_cli_rejection_leaves_database_unchanged(loaded, tmp_path):
    before = snapshot(loaded)
    result = run_cli(loaded, "ingest", "incidents", write_csv(tmp_path / "x.csv", with_row({"等级": "五级"})))
    assert result.exit_code == 1 and "field severity" in result.stderr
    result = run_cli(loaded, "ingest", "incidents", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1 and "no such file" in result.stderr
    assert snapshot(loaded) == before


def test_failure_during_write_rolls_back_everything(loaded, tmp_path, monkeypatch):
    import queries.ingest.common as common

    def broken_record_change(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(common, "record_change", broken_record_change)
    before = snapshot(loaded)
    with pytest.raises(RuntimeError):
        ingest_file(loaded, "incidents", write_csv(tmp_path / "n.csv", with_row({"事件编号": "NEW"})))
    assert snapshot(loaded) == before
