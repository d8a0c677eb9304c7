"""What a set of incident points costs on the wire: our layer (binary / aggregated) vs naive pydeck JSON.

``payload_report(points)`` is called by the /command benchmark and ``bench/bench_layers.py``.
Bytes are ``len(json.dumps(...))`` of what goes into the DeckGL ``layers`` prop (the baseline:
``pydeck.Deck(layers=[pydeck.Layer("ScatterplotLayer", data=frame)]).to_json()``).
"""
from __future__ import annotations

import json
import time

import pandas as pd

from layers.incidents import AGGREGATE_BELOW_ZOOM, IncidentsLayer

CITY_ZOOM = 10.0
STREET_ZOOM = AGGREGATE_BELOW_ZOOM + 1


def _plain_translator(key: str) -> str:
    """Stand-in for the app's translator: the byte counts do not depend on the words."""
    return "en" if key == "layers.language" else key


def _timed(build):
    started = time.perf_counter()
    value = build()
    return value, time.perf_counter() - started


def _variant(rendered, seconds: float, points: int) -> dict:
    total = sum(layer.payload_bytes for layer in rendered)
    return {"bytes": total, "seconds": round(seconds, 4), "bytes_per_point": round(total / points, 2) if points else None, "layers": len(rendered)}


def payload_report(points: pd.DataFrame) -> dict:
    """Bytes and build time for ``points`` (incident_points columns) in three forms:

    * ``binary`` — our incidents layer at street zoom (binary IconLayers, no per-point tooltips),
    * ``aggregated`` — our incidents layer at city zoom (H3 cells),
    * ``pydeck_json`` — the naive baseline, every row as a JSON object through pydeck.
    """
    import pydeck  # the baseline only: the app never builds pydeck decks

    layer = IncidentsLayer()
    n = len(points)
    binary, binary_s = _timed(lambda: layer.render(points, t=_plain_translator, zoom=STREET_ZOOM, tooltip_limit=0))
    aggregated, aggregated_s = _timed(lambda: layer.render(points, t=_plain_translator, zoom=CITY_ZOOM))
    baseline_frame = points.assign(reported_at=points["reported_at"].astype(str)) if "reported_at" in points else points

    def naive() -> str:
        scatter = pydeck.Layer("ScatterplotLayer", data=baseline_frame, get_position=["lon", "lat"], get_radius=30)
        return pydeck.Deck(layers=[scatter], map_style=None).to_json()

    baseline, baseline_s = _timed(naive)
    baseline_bytes = len(json.dumps(json.loads(baseline)["layers"]))
    return {
        "points": n,
        "binary": _variant(binary, binary_s, n),
        "aggregated": _variant(aggregated, aggregated_s, n),
        "pydeck_json": {"bytes": baseline_bytes, "seconds": round(baseline_s, 4), "bytes_per_point": round(baseline_bytes / n, 2) if n else None, "layers": 1},
    }
