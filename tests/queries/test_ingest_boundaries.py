"""Boundary files as departments really send them: repaired where possible, reported per feature."""
from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import select

from queries.ingest import IngestError, ingest_file
from queries.schema import Area
from tests.queries.test_ingest_formats import CITY, DISTRICTS, COMMUNITY, STREET, feature, load_city, snapshot, write_geojson


def areas(engine):
    with engine.connect() as conn:
        return {r.code: r for r in conn.execute(select(Area)).all()}


def test_repairs_are_made_and_reported_per_feature(engine, tmp_path):
    load_city(engine, tmp_path, streets=False)
    bowtie = shapely.Polygon([(119.0, 34.4), (119.1, 34.5), (119.1, 34.4), (119.0, 34.5)])
    with_hole = shapely.Polygon(box(119.15, 34.4, 119.3, 34.6).exterior.coords, [box(119.2, 34.45, 119.25, 34.5).exterior.coords])
    islands = shapely.MultiPolygon([box(119.0, 34.6, 119.1, 34.7), box(119.12, 34.6, 119.14, 34.62)])
    three_d = shapely.Polygon([(119.2, 34.6, 12.5), (119.3, 34.6, 12.5), (119.3, 34.7, 12.5), (119.2, 34.7, 12.5)])
    features = [
        feature("320706001", "新南街道", bowtie),
        feature("320706002", "浦东街道", with_hole),
        feature("320706003", "岛屿街道", islands),
        {"type": "Feature", "properties": {"代码": "320706004", "名称": "立体街道"}, "geometry": mapping(three_d)},
    ]
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "streets.geojson", features), level="street")
    repairs = "\n".join(report.repairs)
    assert "streets.geojson feature 1 (320706001): made valid: Self-intersection" in repairs
    assert "feature 4 (320706004): dropped Z coordinates" in repairs
    assert any("stored as MultiPolygon" in n for n in report.notes)
    stored = areas(engine)
    assert all(stored[c].geom.geom_type == "MultiPolygon" and stored[c].geom.is_valid for c in ("320706001", "320706002", "320706003", "320706004"))
    assert not stored["320706004"].geom.has_z
    assert len(stored["320706003"].geom.geoms) == 2  # the island is kept
    assert stored["320706002"].geom.area == pytest.approx(with_hole.area)  # the hole is kept
    assert stored["320706001"].geom.area == pytest.approx(0.005, rel=1e-6)  # both bow-tie triangles kept
    assert stored["320706001"].parent_code == "320706"  # derived from the code prefix


def test_invalid_hole_outside_shell_is_repaired(engine, tmp_path):
    broken = shapely.Polygon(box(119.0, 34.4, 119.1, 34.5).exterior.coords, [box(119.2, 34.4, 119.25, 34.45).exterior.coords])
    assert not broken.is_valid
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "h.geojson", [feature("320706", "海州区", broken)]))
    assert "made valid" in report.repairs[0]
    assert areas(engine)["320706"].geom.is_valid


def test_duplicate_codes(engine, tmp_path):
    first, second = box(119.0, 34.4, 119.1, 34.5), box(119.2, 34.4, 119.3, 34.5)
    features = [feature("320706", "海州区", first), feature("320706", "海州区", first), feature("320707", "赣榆区", first), feature("320707", "赣榆区", second)]
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "dup.geojson", features))
    repairs = "\n".join(report.repairs)
    assert "code 320706: features 1, 2 have the same geometry; kept one" in repairs
    assert "code 320707: features 3, 4 have the same name '赣榆区' and different parts; merged" in repairs
    stored = areas(engine)
    assert len(stored) == 2 and len(stored["320707"].geom.geoms) == 2
    before = snapshot(engine)
    clash = [feature("320708", "甲区", first), feature("320708", "乙区", second)]
    with pytest.raises(IngestError, match="320708 appears in features 1, 2 with different names"):
        ingest_file(engine, "boundaries", write_geojson(tmp_path / "clash.geojson", clash))
    assert snapshot(engine) == before


def test_missing_names_rejected_or_filled_from_mapped_field(engine, tmp_path):
    features = [feature("320706", None, DISTRICTS[0][2], 简称="海州"), feature("320707", "赣榆区", DISTRICTS[1][2], 简称="赣榆")]
    path = write_geojson(tmp_path / "n.geojson", features)
    with pytest.raises(IngestError, match=r"n.geojson feature 1, field name: empty, but required \(map another column"):
        ingest_file(engine, "boundaries", path)
    report = ingest_file(engine, "boundaries", path, mapping={"name_fallback": "简称"})
    assert "n.geojson feature 1: empty name filled from column '简称' ('海州')" in report.repairs
    assert areas(engine)["320706"].name == "海州"


def test_english_property_names_and_numeric_codes(engine, tmp_path):
    features = [{"type": "Feature", "properties": {"ADCODE": 320706, "NAME": "Haizhou"}, "geometry": mapping(DISTRICTS[0][2])}]
    ingest_file(engine, "boundaries", write_geojson(tmp_path / "en.geojson", features))
    assert areas(engine)["320706"].name == "Haizhou"


def test_legacy_14_digit_grid_code(engine, tmp_path):
    load_city(engine, tmp_path)
    grids = [feature("32070600100201", "网格01", box(119.0, 34.4, 119.05, 34.45)), feature("320706001002002", "网格02", box(119.05, 34.4, 119.1, 34.45))]
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "grids.geojson", grids), level="grid")
    assert any("14-digit legacy" in r for r in report.repairs)
    stored = areas(engine)
    assert stored["320706001002001"].legacy_code == "32070600100201"
    assert stored["320706001002001"].parent_code == "320706001002"
    assert stored["320706001002002"].legacy_code is None


def test_code_rules(engine, tmp_path):
    load_city(engine, tmp_path, streets=False)
    before = snapshot(engine)
    cases = (
        ([feature("990706", "无省", box(119, 34.4, 119.1, 34.5))], {"level": "district"}, "does not start with a GB/T 2260 province code"),
        ([feature("3207061", "七位", box(119, 34.4, 119.1, 34.5))], {"level": "street"}, "has 7 digits; a street code has 9"),
        ([feature("32A706", "字母", box(119, 34.4, 119.1, 34.5))], {}, "is not a numeric area code"),
        ([feature("320707001", "错父", box(119, 34.4, 119.1, 34.5))], {"level": "street", "parent": "320706"}, "street code 320707001 does not start with its parent district code 320706"),
        ([feature("320799001", "无父", box(119, 34.4, 119.1, 34.5))], {"level": "street", "parent": "320799"}, "parent '320799' does not exist"),
        ([feature("320700", "市", box(119, 34.4, 119.1, 34.5))], {"level": "district"}, "ends in 00"),
    )
    for features, options, message in cases:
        with pytest.raises(IngestError, match=message):
            ingest_file(engine, "boundaries", write_geojson(tmp_path / "c.geojson", features), **options)
    assert snapshot(engine) == before


def test_parents_linked_later_when_loaded_out_of_order(engine, tmp_path):
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "s.geojson", [feature(*STREET)]))
    assert any("no loaded parent district" in n for n in report.notes)
    assert areas(engine)["320706001"].parent_code is None
    report = ingest_file(engine, "boundaries", write_geojson(tmp_path / "d.geojson", [feature(*CITY), feature(*DISTRICTS[0])]))
    stored = areas(engine)
    assert stored["320706001"].parent_code == "320706" and stored["320706"].parent_code == "320700"
    assert any("linked to their parents" in n for n in report.notes)


def test_boundaries_in_gcj02_are_converted(engine, tmp_path):
    from queries import coords

    gcj = coords.transform_geometry(DISTRICTS[0][2], coords.wgs84_to_gcj02)
    ingest_file(engine, "boundaries", write_geojson(tmp_path / "g.geojson", [feature("320706", "海州区", gcj)]), crs="gcj02")
    stored = areas(engine)["320706"].geom
    assert shapely.hausdorff_distance(stored, DISTRICTS[0][2]) < 1e-6


def test_non_polygon_rejected(engine, tmp_path):
    with pytest.raises(IngestError, match="p.geojson feature 1, field geometry: a Point, not a polygon"):
        ingest_file(engine, "boundaries", write_geojson(tmp_path / "p.geojson", [feature("320706", "海州区", shapely.Point(119, 34.5))]))


def test_reimport_is_idempotent(engine, tmp_path):
    load_city(engine, tmp_path)
    first = areas(engine)
    load_city(engine, tmp_path)
    second = areas(engine)
    assert set(first) == set(second) and all(first[c].geom.equals(second[c].geom) for c in first)
    assert COMMUNITY[0] in second
