"""All layers from the small demo city: everything renders and payloads stay bounded."""
from __future__ import annotations

import datetime as dt
import json

import pytest

import layers
from layers.base import decode_binary_block
from layers.payload import payload_report
from queries.db import make_engine
from queries.demo import build_demo_city
from queries.environment import station_air_quality
from queries.grid import h3_aggregate
from queries.map_data import (
    area_shapes,
    grid_values,
    incident_points,
    land_and_roads,
    resource_points,
    road_congestion_lines,
    sensor_points,
    surface_cells,
    tolerance_for_zoom,
)
from queries.migrate import ensure_schema
from queries.response import nearest_resources
from tests.layers.conftest import translator

pytestmark = pytest.mark.slow
NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.UTC)
CITY_ZOOM = 10
KB = 1024


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('layers-demo') / 'demo.db'}")
    ensure_schema(engine)
    build_demo_city(engine, "small", 11, now=NOW)
    simplify = tolerance_for_zoom(CITY_ZOOM)
    with engine.connect() as conn:
        incidents = incident_points(conn, None, NOW - dt.timedelta(days=30), NOW)
        first = incidents.iloc[-1]
        inputs = {
            "basemap": (land_and_roads(conn, simplify), {"zoom": CITY_ZOOM}),
            "boundaries": (area_shapes(conn, None, "district", simplify), {}),
            "grid_choropleth": (grid_values(conn, "incidents", None, simplify), {"method": "natural", "classes": 6}),
            "h3": (h3_aggregate(conn, "incidents"), {}),
            "incidents": (incidents, {"zoom": CITY_ZOOM, "now": NOW}),
            "incident_heatmap": (incidents, {"zoom": CITY_ZOOM}),
            "traffic": (road_congestion_lines(conn, None, NOW), {}),
            "air_stations": (station_air_quality(conn, NOW), {}),
            "aqi_surface": ({"stations": station_air_quality(conn, NOW), "cells": surface_cells(conn, None, simplify)}, {}),
            "resources": (resource_points(conn), {}),
            "sensors": (sensor_points(conn), {}),
            "route": ({"incident": {"lon": first["lon"], "lat": first["lat"]},
                       "resources": nearest_resources(conn, float(first["lon"]), float(first["lat"]), at=NOW)}, {}),
        }
    engine.dispose()
    return inputs


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_layer_renders_from_the_demo_city_within_bounds(demo, lang):
    rendered = []
    for name in layers.layer_names():
        data, options = demo[name]
        rendered += layers.get_layer(name).render(data, t=translator(lang), **options)
    specs = layers.render_deck(rendered)
    assert len(specs) == len(rendered) and all(spec["data"] is not None for spec in specs)
    sizes = {r.id: r.payload_bytes for r in rendered}
    assert sizes["incidents-cells"] <= 150 * KB  # 2,000 incidents at city zoom
    assert sum(sizes.values()) <= 1500 * KB  # every layer of the whole city at once
    assert max(sizes.values()) <= 300 * KB
    assert "http" not in json.dumps(specs)


def test_incidents_at_street_zoom_cost_16_bytes_a_point(demo):
    frame, _ = demo["incidents"]
    rendered = layers.get_layer("incidents").render(frame, t=translator("zh"), zoom=14, tooltip_limit=0)
    points = [r for r in rendered if r.id.startswith("incidents-points-")]
    assert sum(len(decode_binary_block(r.spec["data"])["getPosition"]) for r in points) == len(frame)
    assert sum(r.payload_bytes for r in points) <= 16 * len(frame) + 4 * 2 * KB


def test_payload_report_compares_with_the_pydeck_baseline(demo):
    frame, _ = demo["incidents"]
    report = payload_report(frame)
    assert report["points"] == len(frame)
    assert report["binary"]["bytes"] < report["pydeck_json"]["bytes"] / 5
    assert report["aggregated"]["bytes"] < report["pydeck_json"]["bytes"] / 2
    assert set(report["binary"]) == {"bytes", "seconds", "bytes_per_point", "layers"}
