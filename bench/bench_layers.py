"""Payload of the incidents map layer vs naive pydeck JSON (figures only, no assertions on time).

    python bench/bench_layers.py [--scale small|city] [--synthetic 200000] [--seed N]

Builds the demo city into a temporary SQLite file, reads all its incidents, and reports bytes and
build time of our binary and aggregated incident layers against
``pydeck.Deck(layers=[pydeck.Layer("ScatterplotLayer", data=frame)]).to_json()``; then the same
for a synthetic set of points spread over the city.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bench import synthetic_points  # shared with `cityops bench`
from layers.payload import payload_report
from queries.db import make_engine
from queries.demo import build_demo_city
from queries.map_data import incident_points
from queries.migrate import ensure_schema

NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.UTC)


def print_table(label: str, report: dict) -> None:
    print(f"\n{label}: {report['points']:,} points")
    print(f"  {'variant':<14}{'bytes':>14}{'bytes/point':>14}{'build s':>10}{'layers':>8}")
    for variant in ("binary", "aggregated", "pydeck_json"):
        row = report[variant]
        per_point = "—" if row["bytes_per_point"] is None else f"{row['bytes_per_point']:.1f}"
        print(f"  {variant:<14}{row['bytes']:>14,}{per_point:>14}{row['seconds']:>10.3f}{row['layers']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small", choices=("small", "city"))
    parser.add_argument("--synthetic", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityops-bench-layers-") as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'demo.db'}")
        ensure_schema(engine)
        build_demo_city(engine, args.scale, args.seed, now=NOW)
        with engine.connect() as conn:
            incidents = incident_points(conn, None, None, None)
        engine.dispose()
    print_table(f"demo city ({args.scale}) incidents", payload_report(incidents))
    if args.synthetic:
        print_table("synthetic", payload_report(synthetic_points(args.synthetic, incidents, args.seed)))


if __name__ == "__main__":
    main()
