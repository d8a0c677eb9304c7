"""Every layer renders from small hand-made frames: colours, binary packing, aggregation, datum shift, texts."""
from __future__ import annotations

import base64
import json
import re

import h3
import numpy as np
import pytest

import layers
from layers.base import decode_binary_block, shift_to
from queries.coords import wgs84_to_gcj02
from queries.vocab import SEVERITY_RGB
from tests.layers.conftest import NOW, incident_frame, sample_inputs, translator

EXPECTED_NAMES = {"basemap", "boundaries", "grid_choropleth", "h3", "incidents", "incident_heatmap", "traffic", "air_stations",
                  "aqi_surface", "resources", "sensors", "route"}
URL = re.compile(r"https?://", re.IGNORECASE)
CJK = re.compile(r"[\u4e00-\u9fff]")


def render(name: str, lang: str = "zh", **extra):
    data, options = sample_inputs()[name]
    return layers.get_layer(name).render(data, t=translator(lang), **{**options, **extra})


def coordinates(spec: dict) -> np.ndarray:
    """Every lon/lat pair in a spec: JSON positions, paths, polygons, and binary getPosition."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            if "@@binary" in value:
                arrays = decode_binary_block(value)
                if "getPosition" in arrays:
                    found.extend(arrays["getPosition"].astype("float64").tolist())
                return
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            if len(value) == 2 and all(isinstance(v, float) for v in value) and 70 < value[0] < 140 and 0 < value[1] < 60:
                found.append(value)
            else:
                for item in value:
                    walk(item)

    walk(spec.get("data"))
    return np.array(found, dtype="float64").reshape(-1, 2)


def test_registry_lists_every_layer_and_rejects_unknown_names():
    assert set(layers.layer_names()) == EXPECTED_NAMES
    assert len(layers.layer_names()) == len(EXPECTED_NAMES)
    for name in EXPECTED_NAMES:
        layer = layers.get_layer(name)
        assert isinstance(layer, layers.MapLayer) and layer.name == name
    with pytest.raises(KeyError, match="incidents"):
        layers.get_layer("volcanoes")


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_each_layer_renders_with_legend_and_tooltip_in_both_languages(name):
    texts = {}
    for lang in ("zh", "en"):
        rendered = render(name, lang)
        assert rendered and all(isinstance(r, layers.RenderedLayer) for r in rendered)
        for r in rendered:
            assert r.spec["id"] == r.id and r.spec["@@type"].endswith("Layer")
            assert r.payload_bytes == len(json.dumps(r.spec))
        legends = [r.legend for r in rendered if r.legend is not None]
        assert legends and legends[0].title and legends[0].items
        assert all(item.shape in ("fill", "line", "point", "icon") for legend in legends for item in legend.items)
        tips = []
        for r in rendered:
            data = r.spec["data"]
            if isinstance(data, dict) and "@@binary" in data:
                tips += data["@@binary"].get("tooltips", [])
            elif isinstance(data, list):
                tips += [row["tooltip"] for row in data if "tooltip" in row]
        if name not in ("basemap", "incident_heatmap"):  # not pickable: nothing to hover
            assert tips, f"{name}: no tooltip in {lang}"
        texts[lang] = " ".join([legends[0].title, *(i.label for i in legends[0].items), *tips])
    assert CJK.search(texts["zh"]), name
    if name != "boundaries":  # boundaries' legend is Chinese in zh; English names come from name_en
        assert texts["zh"] != texts["en"]
    assert not CJK.search(render(name, "en")[0].legend.title), name


def test_render_deck_keeps_order_and_refuses_duplicate_ids():
    rendered = render("basemap") + render("incidents")
    specs = layers.render_deck(rendered)
    assert [s["id"] for s in specs] == [r.id for r in rendered]
    with pytest.raises(ValueError):
        layers.render_deck(rendered + rendered[:1])


def test_severity_colours_are_the_national_four():
    assert SEVERITY_RGB == {1: (230, 0, 18), 2: (255, 128, 0), 3: (255, 214, 0), 4: (0, 112, 255)}
    red, orange, yellow, blue = (SEVERITY_RGB[s] for s in (1, 2, 3, 4))
    assert red[0] > 200 and red[1] < 50 and red[2] < 50
    assert orange[0] == 255 and 100 < orange[1] < 170 and orange[2] < 50
    assert yellow[0] == 255 and yellow[1] > 200 and yellow[2] < 50
    assert blue[2] == 255 and blue[0] < 50
    frame = incident_frame()
    colours = {}
    for r in render("incidents"):
        if r.id.startswith("incidents-points-"):
            arrays = decode_binary_block(r.spec["data"])
            category = r.id.removeprefix("incidents-points-")
            expected = frame[frame["category"] == category]
            assert arrays["getColor"].shape == (len(expected), 4)
            for severity, colour in zip(expected["severity"], arrays["getColor"].tolist()):
                colours[severity] = tuple(colour[:3])
    assert colours == SEVERITY_RGB
    legend = render("incidents")[0].legend
    assert [item.rgb for item in legend.items if item.shape == "point"] == [SEVERITY_RGB[s] for s in (1, 2, 3, 4)]


def test_binary_points_round_trip_in_at_most_16_bytes_a_point():
    frame = incident_frame()
    rendered = render("incidents")
    total_points = 0
    for r in rendered:
        if not r.id.startswith("incidents-points-"):
            continue
        assert r.spec["@@type"] == "IconLayer" and r.spec["getIcon"] == r.id.removeprefix("incidents-points-")
        block = r.spec["data"]["@@binary"]
        raw = base64.b64decode(block["buffer"])
        expected = frame[frame["category"] == r.spec["getIcon"]]
        assert block["length"] == len(expected)
        assert len(raw) <= 16 * max(len(expected), 1)
        positions = np.frombuffer(raw, dtype="float32", count=2 * len(expected), offset=block["attributes"]["getPosition"]["offset"]).reshape(-1, 2)
        np.testing.assert_allclose(positions, expected[["lon", "lat"]].to_numpy(), atol=1e-5)
        total_points += len(expected)
    assert total_points == len(frame)
    assert rendered[0].spec["iconAtlas"].startswith("data:image/svg+xml;base64,")


def test_many_points_skip_per_point_texts_but_stay_within_16_bytes():
    rng = np.random.default_rng(1)
    n = 5000
    frame = incident_frame().sample(n, replace=True, random_state=1).reset_index(drop=True)
    frame["lon"] += rng.normal(0, 0.01, n)
    rendered = layers.get_layer("incidents").render(frame, t=translator("zh"), zoom=14)
    points = [r for r in rendered if r.id.startswith("incidents-points-")]
    assert sum(r.spec["data"]["@@binary"]["length"] for r in points) == n
    assert all("tooltips" not in r.spec["data"]["@@binary"] for r in points)
    buffer_bytes = sum(len(base64.b64decode(r.spec["data"]["@@binary"]["buffer"])) for r in points)
    assert buffer_bytes <= 12 * n
    assert sum(r.payload_bytes for r in points) < 16 * n + 20_000  # base64 of 12 bytes is 16 characters, plus 4 atlases


def test_aggregation_below_the_zoom_threshold():
    zoomed_out = render("incidents", zoom=11.9)
    assert [r.id for r in zoomed_out] == ["incidents-cells"]
    spec = zoomed_out[0].spec
    assert spec["@@type"] == "H3HexagonLayer"
    frame = incident_frame()
    assert sum(int(re.search(r"\d+", row["tooltip"]).group()) for row in spec["data"]) == len(frame)
    zoomed_in = render("incidents", zoom=12)
    assert {r.id for r in zoomed_in} >= {"incidents-points-accident", "incidents-new"}
    assert render("incidents", zoom=14, aggregate_below_zoom=15)[0].id == "incidents-cells"


def test_new_incidents_get_a_pulsing_ring():
    ring = next(r for r in render("incidents") if r.id == "incidents-new")
    assert len(ring.spec["data"]) == 2  # reported 5 and 20 minutes before NOW
    assert "transitions" not in ring.spec  # a ring nobody pulses: no transition redraws at each update
    phase = next(r for r in render("incidents", pulse_phase=0) if r.id == "incidents-new")
    other_phase = next(r for r in render("incidents", pulse_phase=1) if r.id == "incidents-new")
    assert phase.spec["transitions"]["getRadius"] > 0
    assert [row["r"] for row in phase.spec["data"]] != [row["r"] for row in other_phase.spec["data"]]
    without_now = next(r for r in render("incidents", now=None) if r.id == "incidents-new")
    assert without_now.spec["data"] == []


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES - {"basemap"}) + ["basemap"])
def test_gcj02_shift_applies_to_every_coordinate_and_only_when_asked(name):
    plain = render(name, crs="wgs84")
    default = render(name)
    shifted = render(name, crs="gcj02")
    assert [r.spec for r in plain] == [r.spec for r in default]
    assert [r.id for r in plain] == [r.id for r in shifted]
    for before, after in zip(plain, shifted):
        xy, moved = coordinates(before.spec), coordinates(after.spec)
        if before.spec["@@type"] == "H3HexagonLayer":  # ids on WGS84; on GCJ-02 shifted polygons instead
            assert after.spec["@@type"] == "PolygonLayer"
            cell = before.spec["data"][0]["hex"]
            boundary = np.array([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
            expected = np.column_stack(wgs84_to_gcj02(boundary[:, 0], boundary[:, 1]))
            np.testing.assert_allclose(np.array(after.spec["data"][0]["polygon"][0][:-1]), expected, atol=2e-5)
            continue
        assert xy.shape == moved.shape, after.id
        if len(xy):
            expected = np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))
            np.testing.assert_allclose(moved, expected, atol=2e-5, err_msg=after.id)
            assert np.abs(moved - xy).max() > 1e-3  # hundreds of metres in China
    bd09 = render(name, crs="bd09")
    assert [r.id for r in bd09] == [r.id for r in plain]


def test_shift_to_is_identity_for_wgs84_and_rejects_unknown_datums():
    lon, lat = np.array([119.2]), np.array([34.6])
    assert shift_to("wgs84")(lon, lat)[0][0] == 119.2
    assert shift_to("gcj02")(lon, lat)[0][0] != 119.2
    with pytest.raises(ValueError):
        shift_to("epsg3857")


def test_no_url_in_any_spec_unless_a_tile_url_is_configured():
    for name in EXPECTED_NAMES:
        for lang in ("zh", "en"):
            for r in render(name, lang, crs="gcj02"):
                assert not URL.search(json.dumps(r.spec)), r.id
    tile_url = "http://tiles.extranet.example/{z}/{x}/{y}.png"
    tiles = render("basemap", tile_url=tile_url, crs="gcj02")
    assert [r.id for r in tiles] == ["basemap-tiles"]
    assert tiles[0].spec["@@type"] == "TileLayer" and tiles[0].spec["data"] == tile_url
    assert tiles[0].legend is not None


def test_drawn_basemap_has_sea_land_coastline_and_roads_by_class():
    rendered = render("basemap", zoom=14)
    assert [r.id for r in rendered] == ["basemap-sea", "basemap-land", "basemap-coastline", "basemap-roads"]
    roads = rendered[-1].spec["data"]
    widths = [row["w"] for row in roads]
    assert len(roads) == 3 and widths == sorted(widths)  # branch first, expressway on top
    zoomed_out = render("basemap", zoom=9)[-1].spec["data"]
    assert len(zoomed_out) == 2  # branch roads are hidden when zoomed out


def test_boundaries_highlight_the_selected_area_and_label_in_cjk():
    rendered = {r.id: r for r in render("boundaries")}
    assert len(rendered["boundaries-selected"].spec["data"]) == 1
    labels = rendered["boundaries-labels"].spec
    assert labels["characterSet"] == "auto" and "Noto Sans CJK SC" in labels["fontFamily"]
    assert [row["text"] for row in labels["data"]] == ["海州区", "赣榆区"]
    assert [row["text"] for row in next(r for r in render("boundaries", "en") if r.id == "boundaries-labels").spec["data"]] == ["Haizhou", "Ganyu"]
    assert {r.id for r in render("boundaries", selected=None)} == {"boundaries-areas", "boundaries-selected", "boundaries-labels"}


def test_choropleth_colours_follow_the_quantile_classes_and_zero_is_none():
    from layers.choropleth import ZERO_ALPHA
    from layers.classify import ramp
    from layers.palette import ZERO_RGB

    rendered = render("grid_choropleth")[0]
    values = np.array([0, 1, 2, 3, 5, 8, 13, 40], dtype=float)
    positive = values[values > 0]
    breaks = sorted(set(np.quantile(positive, [0.2, 0.4, 0.6, 0.8, 1.0]).tolist()))
    colours = ramp(len(breaks))
    for row, value in zip(rendered.spec["data"], values):
        if value == 0:  # no incidents: a faint dark neutral, not the ramp's pale yellow
            assert row["c"] == [*ZERO_RGB, ZERO_ALPHA]
            continue
        klass = next(i for i, b in enumerate(breaks) if value <= b)
        assert row["c"][:3] == list(colours[klass])
    items = rendered.legend.items
    assert len(items) == len(breaks) + 1 and items[0].rgb == ZERO_RGB and items[0].label == "0（无）"
    assert items[1].label.startswith("1 ")  # the first class starts at the smallest non-zero count
    english = render("grid_choropleth", "en")[0].legend.items[0].label
    assert english == "0 (none)"


def test_zero_has_no_class_of_its_own_when_nothing_is_zero_or_the_value_is_not_a_count():
    from layers.choropleth import classed_colours

    t = translator("zh")
    _, legend = classed_colours([1, 2, 3, 4, 5], t, method="quantile", classes=5, value_label="x", title="x", zero_is_none=True)
    assert all(item.label != "0（无）" for item in legend.items)
    fills, legend = classed_colours([0, 1, 2, 3, 4], t, method="quantile", classes=5, value_label="x", title="x")
    assert fills[0][:3] == [255, 255, 178] and all(item.label != "0（无）" for item in legend.items)


def test_route_labels_of_close_resources_do_not_overlap():
    from layers.route import LABEL_HEIGHT_PX, _world_px, fit_zoom, label_width_px, place_labels

    origin = [119.2, 34.6]
    # Four resources a few dozen metres apart, 2 km away: their midpoints fall on one spot.
    ends = [[119.22 + i * 0.0003, 34.6 + i * 0.0002] for i in range(4)]
    texts = ["2.0 km · 约 4 分钟"] * 4
    zoom = fit_zoom([origin, *ends])
    boxes = []
    for (position, offset), text in zip(place_labels(origin, ends, texts), texts):
        x, y = _world_px(position[0], position[1], zoom)
        x, y = x + offset[0], y + offset[1]
        boxes.append((x - label_width_px(text) / 2, y - LABEL_HEIGHT_PX / 2, x + label_width_px(text) / 2, y + LABEL_HEIGHT_PX / 2))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    # A lone label stays at its line's midpoint, on the line.
    [(position, offset)] = place_labels(origin, ends[:1], texts[:1])
    assert offset == [0, 0] and position == [round((origin[0] + ends[0][0]) / 2, 6), round((origin[1] + ends[0][1]) / 2, 6)]
    for lang in ("zh", "en"):
        spec = next(r for r in render("route", lang) if r.id == "route-labels").spec
        assert spec["getPixelOffset"] == "@@=o" and all(len(row["o"]) == 2 for row in spec["data"])
        # A fixed glyph set holding every label character: the atlas is built once, with the page.
        assert all(set(row["text"]) <= set(spec["characterSet"]) for row in spec["data"]) and spec["data"]


def test_air_stations_use_the_hj633_colours_and_the_surface_interpolates():
    from queries.airquality import level_of, load_standard

    standard = load_standard()
    stations = sample_inputs()["air_stations"][0]
    rendered = render("air_stations")[0]
    for row, value in zip(rendered.spec["data"], stations["aqi"]):
        assert row["c"][:3] == list(level_of(standard, value).rgb)
    assert [item.rgb for item in rendered.legend.items[:6]] == [tuple(level.rgb) for level in standard.levels]
    surface = render("aqi_surface")[0]
    assert surface.spec["@@type"] == "PolygonLayer" and len(surface.spec["data"]) == 8


def test_idw_takes_the_station_value_on_a_station_and_stays_within_range():
    from layers.air import idw

    lon, lat, values = np.array([119.0, 119.2]), np.array([34.5, 34.5]), np.array([10.0, 30.0])
    result = idw(lon, lat, values, np.array([119.0, 119.1, 119.15]), np.array([34.5, 34.5, 34.5]))
    assert result[0] == pytest.approx(10.0) and result[1] == pytest.approx(20.0)
    assert 20.0 < result[2] < 30.0
    assert np.isnan(idw(lon, lat, np.array([np.nan, np.nan]), np.array([119.1]), np.array([34.5]))).all()


def test_route_labels_distance_and_time():
    rendered = {r.id: r for r in render("route", "en")}
    texts = [row["text"] for row in rendered["route-labels"].spec["data"]]
    assert texts == ["1.8 km · about 5 min", "650 m · about 2 min"]
    assert len(rendered["route-lines"].spec["data"]) == 2


def test_tooltip_texts_are_escaped_html():
    frame = sample_inputs()["resources"][0]
    frame.loc[0, "name"] = "<script>x</script>"
    rendered = layers.get_layer("route").render({"incident": {"lon": 119.2, "lat": 34.6}, "resources": sample_inputs()["route"][0]["resources"].assign(name=frame["name"])}, t=translator("zh"))
    assert "<script>" not in json.dumps(rendered[0].spec) and "&lt;script&gt;" in json.dumps(rendered[0].spec)


def test_deck_tooltip_reads_the_tooltip_field():
    assert layers.deck_tooltip()["html"] == "{tooltip}"
    assert NOW.tzinfo is not None


@pytest.mark.parametrize("name", ["incidents", "incident_heatmap", "boundaries", "grid_choropleth", "h3", "traffic", "resources", "sensors", "air_stations"])
def test_empty_frames_render_empty_layers_with_stable_ids(name):
    data, options = sample_inputs()[name]
    empty = data.iloc[0:0]
    rendered = layers.get_layer(name).render(empty, t=translator("zh"), **options)
    assert [r.id for r in rendered] == [r.id for r in render(name)]
    for r in rendered:
        payload = r.spec["data"]
        assert (payload["@@binary"]["length"] == 0) if isinstance(payload, dict) else payload == []
