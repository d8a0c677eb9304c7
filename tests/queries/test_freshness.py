import datetime as dt

import pytest

from queries.freshness import dataset_freshness, freshness_of
from queries.writes import ensure_dataset, record_change

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "cycle, age, expected",
    [
        ("hourly", dt.timedelta(minutes=30), "fresh"), ("hourly", dt.timedelta(minutes=90), "fresh"),
        ("hourly", dt.timedelta(minutes=91), "late"), ("hourly", dt.timedelta(hours=3), "late"),
        ("hourly", dt.timedelta(hours=3, seconds=1), "stale"), ("daily", dt.timedelta(hours=30), "fresh"),
        ("daily", dt.timedelta(days=2), "late"), ("realtime", dt.timedelta(minutes=20), "stale"),
        ("on_demand", dt.timedelta(days=400), "unknown"),
    ],
)
def test_freshness_of(cycle, age, expected):
    assert freshness_of(cycle, NOW - age, NOW) == expected


def test_never_updated_is_unknown():
    assert freshness_of("hourly", None, NOW) == "unknown"


def test_dataset_freshness_reads_the_catalogue(engine):
    with engine.begin() as conn:
        ensure_dataset(conn, "aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
        ensure_dataset(conn, "water", name="水质", provider="市水利局", update_cycle="hourly")
        ensure_dataset(conn, "licences", name="电子证照", provider="市数据局", update_cycle="monthly")
        record_change(conn, "aq", "feed", 10, data_time=NOW - dt.timedelta(minutes=20))
        record_change(conn, "water", "feed", 10, data_time=NOW - dt.timedelta(days=3))
        frame = dataset_freshness(conn, now=NOW).set_index("code")
    assert frame.loc["aq", "freshness"] == "fresh" and frame.loc["aq", "age_s"] == 1200
    assert frame.loc["water", "freshness"] == "stale"
    assert frame.loc["licences", "freshness"] == "unknown"
