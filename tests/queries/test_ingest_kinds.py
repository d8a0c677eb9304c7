"""Work orders, readings (aq / traffic / sensors), indicators, resources and roads."""
from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import mapping
from sqlalchemy import func, select

from queries.ingest import IngestError, ingest_file
from queries.schema import AirQualityReading, Dataset, Indicator, IndicatorValue, Resource, RoadSegment, Sensor, SensorReading, TrafficReading, WorkOrder
from tests.queries.test_ingest_formats import load_city, run_cli, snapshot, write_csv


def rows_of(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(model)).all()


def test_work_orders_12345_fields(engine, tmp_path):
    load_city(engine, tmp_path)
    rows = [
        ("orderNum", "callTime", "sourceType", "callerPhone", "majorContent", "诉求类型", "经度", "纬度", "orderState", "completeTime", "isSupervise", "finalVisitIsSatisfaction"),
        ("W1", "2026-11-21 08:00:00", "电话", "13900000000", "噪音扰民", "投诉", "119.05", "34.45", "", "2026-11-21 10:00:00", "是", "满意"),
        ("W2", "2026-11-21 09:00:00", "微信", "", "咨询社保", "咨询", "119.4", "34.6", "已派单", "", "否", ""),
    ]
    report = ingest_file(engine, "workorders", write_csv(tmp_path / "orders.csv", rows))
    orders = {r.order_num: r for r in rows_of(engine, WorkOrder)}
    assert report.inserted == 2
    assert orders["W1"].state == "completed" and orders["W2"].state == "dispatched"
    assert orders["W1"].is_supervised is True and orders["W2"].is_supervised is False and orders["W1"].is_secret is False
    assert orders["W1"].community_code == "320706001002" and orders["W2"].district_code == "320707"
    assert orders["W1"].content == "噪音扰民" and orders["W1"].satisfaction == "满意"


def test_aq_national_feed_fields_and_station_creation(engine, tmp_path):
    load_city(engine, tmp_path)
    rows = [
        ("area", "position_name", "station_code", "time_point", "aqi", "quality", "primary_pollutant", "pm2_5", "pm2_5_24h", "pm10", "co", "o3_8h", "lon", "lat"),
        ("连云港", "洪门派出所", "1001A", "2026-11-21T08:00:00Z", "58", "良", "颗粒物(PM10)", "30", "35", "66", "0.6", "80", "119.2", "34.6"),
        ("连云港", "洪门派出所", "1001A", "2026-11-21T09:00:00Z", "42", "优", "—", "20", "33", "40", "0.5", "82", "119.2", "34.6"),
    ]
    report = ingest_file(engine, "readings", write_csv(tmp_path / "aq.csv", rows), z_is_local=True)
    assert "aq" in report.kind and report.extra["sensors created"] == 1
    readings = sorted(rows_of(engine, AirQualityReading), key=lambda r: r.ts)
    assert [r.aqi for r in readings] == [58, 42] and readings[1].primary_pollutant is None
    assert readings[0].ts.isoformat() == "2026-11-21T00:00:00+00:00"  # 'Z' read as Beijing time as asked
    station = rows_of(engine, Sensor)[0]
    assert (station.id, station.kind, station.name, station.district_code) == ("1001A", "air_quality", "洪门派出所", "320706")
    # The upper-case CNEMC variant and Chinese headers map to the same fields; the station now exists.
    upper = [("StationCode", "TimePointStr", "AQI", "PM2_5", "PM2_5_24h", "O3_8h_24h"), ("1001A", "2026-11-21 10:00:00", "45", "21", "30", "90")]
    ingest_file(engine, "readings", write_csv(tmp_path / "upper.csv", upper), reading_type="aq")
    chinese = [("监测点编码", "监测时间", "空气质量指数", "细颗粒物", "二氧化硫"), ("1001A", "2026-11-21 11:00", "47", "22", "9")]
    ingest_file(engine, "readings", write_csv(tmp_path / "zh.csv", chinese))
    assert len(rows_of(engine, AirQualityReading)) == 4
    with engine.connect() as conn:
        dataset = conn.execute(select(Dataset).where(Dataset.code == "environment.aq_readings")).one()
    assert dataset.row_count == 4 and dataset.version == 3 and dataset.provider == "生态环境局"


def test_unknown_station_without_coordinates_is_rejected_with_row(engine, tmp_path):
    rows = [("station_code", "time_point", "aqi"), ("1001A", "2026-11-21 08:00", "50"), ("9999Z", "2026-11-21 08:00", "50")]
    before = snapshot(engine)
    with pytest.raises(IngestError, match=r"aq.csv row 2, field station_id: unknown sensor/station '1001A'"):
        ingest_file(engine, "readings", write_csv(tmp_path / "aq.csv", rows))
    assert snapshot(engine) == before


def test_traffic_readings(engine, tmp_path):
    rows = [("检测器编号", "时间", "流量", "平均速度", "占有率", "经度", "纬度"), ("D1", "2026-11-21 08:00", "1200", "35.5", "22", "119.1", "34.5"), ("D1", "2026-11-21 08:05", "1100", "38", "20", "119.1", "34.5")]
    report = ingest_file(engine, "readings", write_csv(tmp_path / "t.csv", rows))
    assert "traffic" in report.kind and report.rows_written == 2
    assert rows_of(engine, Sensor)[0].kind == "traffic_detector"
    assert {r.flow for r in rows_of(engine, TrafficReading)} == {1200.0, 1100.0}
    bad = rows[:2] + [("D1", "2026-11-21 08:10", "1000", "38", "140", "119.1", "34.5")]
    with pytest.raises(IngestError, match="occupancy: 140 is out of range"):
        ingest_file(engine, "readings", write_csv(tmp_path / "t2.csv", bad))


def test_sensor_readings_wide_and_long(engine, tmp_path):
    wide = [("测站编码", "测站名称", "监测时间", "水位", "经度", "纬度"), ("WL1", "新沭河闸", "2026-11-21 08:00", "3.21", "119.1", "34.5"), ("WL1", "新沭河闸", "2026-11-21 09:00", "3.35", "119.1", "34.5")]
    report = ingest_file(engine, "readings", write_csv(tmp_path / "wl.csv", wide))
    assert "water_level" in report.kind
    long = [("设备编号", "时间", "监测项目", "监测值"), ("WL1", "2026-11-21 10:00", "水位", "3.4"), ("WL1", "2026-11-21 10:00", "pH", "7.2")]
    ingest_file(engine, "readings", write_csv(tmp_path / "long.csv", long), reading_type="sensor")
    readings = {(r.metric, r.ts.hour): r.value for r in rows_of(engine, SensorReading)}
    assert readings[("water_level", 0)] == 3.21 and readings[("water_level", 2)] == 3.4 and readings[("ph", 2)] == 7.2
    absurd = [("设备编号", "时间", "监测项目", "监测值"), ("WL1", "2026-11-21 11:00", "pH", "19")]
    with pytest.raises(IngestError, match="ph 19 is out of range"):
        ingest_file(engine, "readings", write_csv(tmp_path / "absurd.csv", absurd), reading_type="sensor")


def test_indicators_definitions_and_values_in_one_transaction(engine, tmp_path):
    load_city(engine, tmp_path)
    definitions = [("指标编码", "指标名称", "英文名称", "单位", "领域", "方向", "汇总方式"), ("hotline.calls", "热线来电量", "Hotline calls", "件", "12345热线", "越小越好", "求和")]
    values = [("指标编码", "区划代码", "统计时间", "指标值"), ("hotline.calls", "320706", "2026-11-21", "120"), ("hotline.calls", "320707", "2026-11-21", "80")]
    report = ingest_file(engine, "indicators", write_csv(tmp_path / "v.csv", values), definitions=write_csv(tmp_path / "d.csv", definitions))
    assert report.extra["indicator definitions"] == 1
    indicator = rows_of(engine, Indicator)[0]
    assert (indicator.domain, indicator.good_direction, indicator.aggregation, indicator.dataset_code) == ("hotline", "down", "sum", "stats.indicator_values")
    assert {r.area_code: r.value for r in rows_of(engine, IndicatorValue)} == {"320706": 120.0, "320707": 80.0}
    again = ingest_file(engine, "indicators", write_csv(tmp_path / "v.csv", values[:2] + [("hotline.calls", "320707", "2026-11-21", "90")]))
    assert again.updated == 2 and {r.area_code: r.value for r in rows_of(engine, IndicatorValue)}["320707"] == 90.0


def test_resources_with_and_without_ids(engine, tmp_path):
    load_city(engine, tmp_path)
    rows = [("名称", "资源类型", "容纳人数", "单位", "经度", "纬度"), ("海州公园避难场所", "应急避难场所", "5000", "人", "119.05", "34.45"), ("海州消防站", "消防站", "", "", "119.2", "34.6")]
    first = ingest_file(engine, "resources", write_csv(tmp_path / "r.csv", rows))
    second = ingest_file(engine, "resources", write_csv(tmp_path / "r.csv", rows))
    assert (first.inserted, second.inserted, second.updated) == (2, 0, 2)
    resources = {r.name: r for r in rows_of(engine, Resource)}
    assert resources["海州公园避难场所"].kind == "shelter" and resources["海州公园避难场所"].capacity == 5000
    assert resources["海州公园避难场所"].grid_code is None and resources["海州公园避难场所"].community_code == "320706001002"
    with pytest.raises(IngestError, match="no coordinates"):
        ingest_file(engine, "resources", write_csv(tmp_path / "n.csv", [rows[0], ("无坐标", "消防站", "", "", "", "")]))


def test_roads_split_multilines_and_length(engine, tmp_path):
    load_city(engine, tmp_path)
    line = shapely.LineString([(119.05, 34.45), (119.06, 34.45)])
    multi = shapely.MultiLineString([[(119.4, 34.6), (119.41, 34.6)], [(119.42, 34.6), (119.42, 34.61)]])
    features = [
        {"type": "Feature", "properties": {"osm_id": "r1", "name": "朝阳路", "fclass": "primary"}, "geometry": mapping(line)},
        {"type": "Feature", "properties": {"osm_id": "r2", "name": "海连路", "fclass": "主干路", "oneway": "是"}, "geometry": mapping(multi)},
    ]
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    report = ingest_file(engine, "roads", str(path))
    assert any("split into 2" in r for r in report.repairs)
    roads = {r.id: r for r in rows_of(engine, RoadSegment)}
    assert set(roads) == {"r1", "r2-1", "r2-2"}
    assert roads["r1"].road_class == "arterial" and roads["r1"].district_code == "320706"
    assert roads["r1"].length_m == pytest.approx(0.01 * 111_320 * 0.8226, rel=0.01)
    assert roads["r2-2"].length_m == pytest.approx(1109, rel=0.01)
    assert roads["r2-1"].geom.geom_type == "LineString" and roads["r2-1"].oneway is True
    bad = [{"type": "Feature", "properties": {"osm_id": "r3", "fclass": "footway"}, "geometry": mapping(line)}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": bad}), encoding="utf-8")
    with pytest.raises(IngestError, match="roads.geojson feature 1, field road_class: 'footway' is not a road class"):
        ingest_file(engine, "roads", str(path))


def test_cli_each_kind_has_help_with_targets(engine):
    for kind, target in (("workorders", "order_num"), ("readings", "station_id"), ("indicators", "indicator_code"), ("resources", "capacity"), ("roads", "road_class"), ("boundaries", "code")):
        result = run_cli(engine, "ingest", kind, "--help")
        assert result.exit_code == 0 and target in result.output, kind


def test_cli_readings_type_option(engine, tmp_path):
    rows = [("sensor_id", "ts", "metric", "value", "sensor_kind", "lon", "lat"), ("M1", "2026-11-21 08:00", "gas_lel", "3", "燃气监测", "119.1", "34.5")]
    result = run_cli(engine, "ingest", "readings", write_csv(tmp_path / "s.csv", rows), "--type", "sensor")
    assert result.exit_code == 0, result.output + result.stderr
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SensorReading)).scalar_one() == 1
        assert conn.execute(select(Sensor.kind)).scalar_one() == "gas"


def test_a_batch_bumps_the_districts_of_its_rows_and_of_the_rows_it_moves(engine, tmp_path, monkeypatch):
    import queries.ingest.common as common
    from queries.schema import ALL_PARTITIONS
    from tests.queries.test_writes import partition_versions

    load_city(engine, tmp_path)
    header = ("orderNum", "callTime", "majorContent", "经度", "纬度")

    def ingest(*rows):
        report = ingest_file(engine, "workorders", write_csv(tmp_path / "orders.csv", [header, *rows]))
        with engine.connect() as conn:
            return partition_versions(conn, report.dataset_code)

    assert ingest(("W1", "2026-11-21 08:00:00", "噪音扰民", "119.05", "34.45"), ("W2", "2026-11-21 09:00:00", "咨询社保", "119.4", "34.6")) == {"320706": 1, "320707": 1}
    assert ingest(("W3", "2026-11-21 10:00:00", "路灯不亮", "119.4", "34.6")) == {"320706": 1, "320707": 2}
    # W1 moves from 海州 to 赣榆: both districts' answers change.
    assert ingest(("W1", "2026-11-21 08:00:00", "噪音扰民", "119.4", "34.6")) == {"320706": 2, "320707": 3}
    # A bulk import does not look its rows up: every district counts as changed.
    monkeypatch.setattr(common, "PARTITION_LOOKUP_MAX_ROWS", 0)
    assert ingest(("W4", "2026-11-21 11:00:00", "占道经营", "119.05", "34.45")) == {"320706": 2, "320707": 3, ALL_PARTITIONS: 1}
