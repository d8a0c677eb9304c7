"""Time the demo-city build at each requested scale (figures only, no assertions on time).

    python bench/bench_demo.py --scale small city [large] [--db sqlite|postgres] [--seed N]

SQLite builds into a fresh file under a temporary directory (its size is reported); PostgreSQL
builds into a fresh database on CITYOPS_BENCH_PG_URL's server (default postgres@127.0.0.1:5432),
dropped afterwards.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from queries.db import make_engine
from queries.demo import SCALES, build_demo_city
from queries.migrate import ensure_schema

PG_ADMIN_URL = os.environ.get("CITYOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _bench_sqlite(scale: str, seed: int, now: dt.datetime) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(prefix="cityops-bench-") as folder:
        path = Path(folder) / "demo.db"
        engine = make_engine(f"sqlite:///{path}")
        ensure_schema(engine)
        steps = _Steps()
        summary = build_demo_city(engine, scale, seed, now=now, progress=steps)
        engine.dispose()
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        return summary, {"db_bytes": size, "steps": steps.durations()}


def _bench_postgres(scale: str, seed: int, now: dt.datetime) -> tuple[dict, dict]:
    name = f"cityops_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        ensure_schema(engine)
        steps = _Steps()
        summary = build_demo_city(engine, scale, seed, now=now, progress=steps)
        with engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        engine.dispose()
        return summary, {"db_bytes": size, "steps": steps.durations()}
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Steps:
    """Progress callback that records when each step started."""

    def __init__(self):
        self.start = time.perf_counter()
        self.marks: list[tuple[str, float]] = []

    def __call__(self, label: str, fraction: float) -> None:
        if not self.marks or self.marks[-1][0] != label:
            self.marks.append((label, time.perf_counter() - self.start))

    def durations(self) -> list[tuple[str, float]]:
        ends = [t for _, t in self.marks[1:]] + [time.perf_counter() - self.start]
        return [(label, end - begin) for (label, begin), end in zip(self.marks, ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", nargs="+", choices=list(SCALES), default=["small"])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    now = dt.datetime(2026, 11, 21, 8, tzinfo=dt.timezone.utc)
    for scale in args.scale:
        summary, extra = (_bench_sqlite if args.db == "sqlite" else _bench_postgres)(scale, args.seed, now)
        seconds = summary["seconds"]
        print(f"\n== demo city, scale={scale}, db={args.db}: {seconds:.1f} s, {summary['rows']:,} rows, {summary['rows'] / seconds:,.0f} rows/s, database {extra['db_bytes'] / 1e6:,.1f} MB")
        for table, rows in summary["tables"].items():
            print(f"   {table:<22}{rows:>12,}")
        print("   steps:")
        for label, duration in extra["steps"]:
            print(f"   {duration:8.1f} s  {label}")


if __name__ == "__main__":
    main()
