"""Time ``cityops ingest`` of a generated 100k-row incidents CSV (and optionally readings).

    .venv/bin/python bench/bench_ingest.py --db both [--rows 100000] [--readings]

Each run: a fresh database (a temporary SQLite file, or a temporary PostgreSQL database next to
CITYOPS_BENCH_PG_URL, default postgres@127.0.0.1:5432), a small city of districts/streets loaded
first so area assignment is part of the measurement, then the import through the real command
line. Prints rows/s; makes no assertion on time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

PG_ADMIN_URL = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bench import city_geojson, incidents_csv  # noqa: E402 - shared with `cityops bench`


def readings_csv(path: Path, rows: int, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    stations = max(1, rows // 720)
    hours = rows // stations
    codes = np.repeat([f"{1001 + s}A" for s in range(stations)], hours)
    times = np.tile(pd.date_range("2026-10-01", periods=hours, freq="h").strftime("%Y-%m-%dT%H:%M:%S+08:00"), stations)
    n = len(codes)
    pd.DataFrame({
        "station_code": codes, "time_point": times, "aqi": rng.integers(10, 300, n), "pm2_5": rng.uniform(5, 200, n).round(1),
        "pm10": rng.uniform(10, 300, n).round(1), "so2": rng.uniform(1, 30, n).round(1), "no2": rng.uniform(5, 80, n).round(1),
        "co": rng.uniform(0.2, 2, n).round(2), "o3": rng.uniform(10, 200, n).round(1),
        "lon": np.repeat(rng.uniform(119.05, 119.55, stations), hours).round(5), "lat": np.repeat(rng.uniform(34.45, 34.75, stations), hours).round(5),
    }).to_csv(path, index=False)


def cityops(url: str, *args: str) -> tuple[float, str]:
    executable = Path(sys.executable).with_name("cityops")
    command = [str(executable), *args] if executable.exists() else [sys.executable, "-m", "app.cli", *args]
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, "CITYOPS_DATABASE_URL": url}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"cityops {' '.join(args)} failed:\n{done.stderr}")
    return elapsed, done.stdout


def run(url: str, label: str, work: Path, rows: int, with_readings: bool) -> None:
    cityops(url, "ingest", "boundaries", str(work / "city.geojson"))
    elapsed, _ = cityops(url, "ingest", "incidents", str(work / "incidents.csv"))
    print(f"{label:<10} incidents {rows:>7} rows  {elapsed:6.1f} s  {rows / elapsed:8.0f} rows/s (first import, CLI incl. start-up)")
    elapsed, _ = cityops(url, "ingest", "incidents", str(work / "incidents.csv"))
    print(f"{label:<10} incidents {rows:>7} rows  {elapsed:6.1f} s  {rows / elapsed:8.0f} rows/s (re-import: all updates)")
    if with_readings:
        elapsed, _ = cityops(url, "ingest", "readings", str(work / "aq.csv"), "--type", "aq")
        print(f"{label:<10} aq readings {rows:>5} rows  {elapsed:6.1f} s  {rows / elapsed:8.0f} rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--readings", action="store_true", help="also time an air-quality readings file of the same size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cityops-bench-") as tmp:
        work = Path(tmp)
        city_geojson(work / "city.geojson")
        incidents_csv(work / "incidents.csv", args.rows)
        if args.readings:
            readings_csv(work / "aq.csv", args.rows)
        if args.db in ("sqlite", "both"):
            run(f"sqlite:///{work / 'bench.db'}", "sqlite", work, args.rows, args.readings)
        if args.db in ("postgres", "both"):
            from sqlalchemy import create_engine, text

            name = f"cityops_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # identifier, not a value: bound parameters cannot name databases
            try:
                run(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, "postgres", work, args.rows, args.readings)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
