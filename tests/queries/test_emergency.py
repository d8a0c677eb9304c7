"""Emergency mode of the walls (queries.emergency) on SQLite and PostGIS."""
import datetime as dt

import pytest
from sqlalchemy import func, insert, select, update

from queries.emergency import (
    DATASET_CODE,
    DEFAULT_WINDOW,
    IncidentOver,
    UnknownIncident,
    acknowledge,
    active_emergency,
    raise_alert,
    wall_alerts,
)
from queries.schema import Area, ChangeLog, Dataset, Incident, WallAlert
from queries.settings import Settings
from queries.writes import data_version

NOW = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
MINUTE = dt.timedelta(minutes=1)
WALL = "main"
PERSONAL = {"reporter_name", "reporter_phone", "address", "description"}


def incident(id_, severity, minutes_ago, status="reported", **extra):
    return {
        "id": id_, "category": "accident", "subtype": "fire", "severity": severity, "status": status, "channel": "119",
        "title": f"火情 {id_}", "description": "现场浓烟", "address": "海州区建国路18号", "reporter_name": "张三",
        "reporter_phone": "13812345678", "lon": 119.2, "lat": 34.6, "reported_at": NOW - minutes_ago * MINUTE,
        "district_code": "320706", "street_code": "320706001", "community_code": None, "grid_code": None, **extra,
    }


@pytest.fixture
def db(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "name_en": "Lianyungang", "parent_code": None},
            {"code": "320706", "level": "district", "name": "海州区", "name_en": "Haizhou", "parent_code": "320700"},
            {"code": "320706001", "level": "street", "name": "新浦街道", "name_en": "Xinpu", "parent_code": "320706"},
        ])
    return engine


def add(engine, *incidents):
    with engine.begin() as conn:
        conn.execute(insert(Incident), list(incidents))


def active(engine, wall=WALL, now=NOW, window=DEFAULT_WINDOW):
    with engine.connect() as conn:
        return active_emergency(conn, wall, now, window)


def version(engine):
    with engine.connect() as conn:
        return data_version(conn)


def set_status(engine, incident_id, status):
    with engine.begin() as conn:
        conn.execute(update(Incident).where(Incident.id == incident_id).values(status=status))


def test_default_window_is_the_settings_default():
    assert DEFAULT_WINDOW == dt.timedelta(minutes=Settings.model_fields["wall_emergency_minutes"].default) == dt.timedelta(minutes=60)


def test_fresh_severity_one_incident_is_an_automatic_emergency(db):
    add(db, incident("I1", 1, 5, title="燃气爆炸 联系人13812345678"))
    shown = active(db)
    assert shown["id"] == "I1" and shown["source"] == "auto" and shown["pending"] == 0
    assert shown["raised_at"] == shown["reported_at"] == NOW - 5 * MINUTE
    assert shown["expires_at"] == NOW + 55 * MINUTE
    assert shown["severity"] == 1 and shown["category"] == "accident" and shown["subtype"] == "fire" and shown["status"] == "reported"
    assert (shown["lon"], shown["lat"]) == (119.2, 34.6)
    assert (shown["district_code"], shown["district_name"], shown["district_name_en"]) == ("320706", "海州区", "Haizhou")
    assert (shown["street_code"], shown["street_name"], shown["street_name_en"]) == ("320706001", "新浦街道", "Xinpu")
    assert shown["title"] == "燃气爆炸 联系人138********"  # numbers typed into titles are masked
    assert not PERSONAL & set(shown)
    assert active(db, wall="other")["id"] == "I1"  # every wall


def test_severity_three_and_four_are_not_emergencies(db):
    add(db, incident("III", 3, 1), incident("IV", 4, 1))
    assert active(db) is None


def test_severity_two_counts_and_the_window_bounds_it(db):
    add(db, incident("II", 2, 59), incident("OLD", 1, 61), incident("FUTURE", 1, -5))
    assert active(db)["id"] == "II"
    assert active(db, window=dt.timedelta(minutes=30)) is None
    assert active(db, window=dt.timedelta(minutes=120))["id"] == "OLD"  # the more severe one
    # An incident that arrived while the wall was off counts as long as it is recent.
    assert active(db, now=NOW + 5 * MINUTE)["id"] == "FUTURE"


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_resolved_or_closed_incidents_stop_being_emergencies(db, status):
    add(db, incident("A", 1, 5), incident("M", 3, 500))
    with db.begin() as conn:
        raise_alert(conn, WALL, "M", by="commander", now=NOW - MINUTE)
    assert active(db)["id"] == "M"
    set_status(db, "M", status)
    assert active(db)["id"] == "A"
    set_status(db, "A", status)
    assert active(db) is None


def test_manual_beats_auto_whatever_the_severity_and_age(db):
    add(db, incident("AUTO", 1, 1), incident("MAN", 4, 600))
    with db.begin() as conn:
        alert = raise_alert(conn, WALL, "MAN", by="commander", now=NOW - 2 * MINUTE)
    assert alert["source"] == "manual" and alert["raised_by"] == "commander" and alert["acked_at"] is None
    shown = active(db)
    assert shown["id"] == "MAN" and shown["source"] == "manual" and shown["raised_at"] == NOW - 2 * MINUTE
    assert shown["expires_at"] is None
    assert shown["pending"] == 1
    assert active(db, wall="other")["id"] == "AUTO"  # a manual switch is per wall


def test_ordering_most_severe_then_newest(db):
    add(db, incident("II-new", 2, 1), incident("I-old", 1, 50), incident("I-new", 1, 10), incident("I-mid", 1, 30))
    order = []
    now = NOW
    while (shown := active(db, now=now)) is not None:
        order.append((shown["id"], shown["pending"]))
        with db.begin() as conn:
            assert acknowledge(conn, WALL, by="duty", now=now)["incident_id"] == shown["id"]
    assert order == [("I-new", 3), ("I-mid", 2), ("I-old", 1), ("II-new", 0)]


def test_manual_ones_among_themselves_most_severe_then_newest(db):
    add(db, incident("M3", 3, 100), incident("M2a", 2, 900), incident("M2b", 2, 800))
    with db.begin() as conn:
        raise_alert(conn, WALL, "M2a", by="a", now=NOW - 3 * MINUTE)
        raise_alert(conn, WALL, "M3", by="a", now=NOW - MINUTE)
        raise_alert(conn, WALL, "M2b", by="a", now=NOW - 5 * MINUTE)
    assert active(db)["id"] == "M2a"  # severity II before III; of the two IIs the newer switch


def test_acknowledging_hides_an_automatic_emergency_and_inserts_its_row(db):
    add(db, incident("A", 2, 5), incident("B", 2, 20))
    with db.connect() as conn:
        assert wall_alerts(conn, WALL) == []  # reads never write
    with db.begin() as conn:
        acked = acknowledge(conn, WALL, by="duty", now=NOW)
    assert acked["incident_id"] == "A" and acked["source"] == "auto" and acked["raised_at"] == NOW - 5 * MINUTE
    assert acked["acked_at"] == NOW and acked["acked_by"] == "duty" and acked["raised_by"] is None
    assert active(db)["id"] == "B"
    assert active(db, wall="other")["id"] == "A"  # acknowledged for this wall only
    with db.begin() as conn:
        assert acknowledge(conn, WALL, "B", by="duty", now=NOW)["incident_id"] == "B"
        assert acknowledge(conn, WALL, by="duty", now=NOW) is None  # nothing left
    assert active(db) is None


def test_acknowledging_hides_a_manual_emergency_and_keeps_who_raised_it(db):
    add(db, incident("M", 3, 100))
    with db.begin() as conn:
        raise_alert(conn, WALL, "M", by="commander", now=NOW - MINUTE)
    with db.begin() as conn:
        acked = acknowledge(conn, WALL, "M", by="duty", now=NOW)
    assert (acked["source"], acked["raised_by"], acked["acked_by"], acked["acked_at"]) == ("manual", "commander", "duty", NOW)
    assert active(db) is None
    with db.connect() as conn:
        listing = wall_alerts(conn, WALL)
    assert [(a["incident_id"], a["state"], a["severity"]) for a in listing] == [("M", "acknowledged", 3)]


def test_acknowledging_something_that_is_not_pending_changes_nothing(db):
    add(db, incident("III", 3, 5), incident("OLD", 1, 120), incident("DONE", 1, 5, status="resolved"))
    before = version(db)
    with db.begin() as conn:
        for incident_id in ("III", "OLD", "DONE"):
            assert acknowledge(conn, WALL, incident_id, by="duty", now=NOW) is None
        with pytest.raises(UnknownIncident, match="no incident with id 'NOPE'"):
            acknowledge(conn, WALL, "NOPE", by="duty", now=NOW)
    assert version(db) == before
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WallAlert)).scalar() == 0


def test_re_raising_after_acknowledgement_clears_it(db):
    add(db, incident("A", 1, 5))
    with db.begin() as conn:
        acknowledge(conn, WALL, by="duty", now=NOW)
    assert active(db) is None
    with db.begin() as conn:
        alert = raise_alert(conn, WALL, "A", by="commander", now=NOW + MINUTE)
    assert (alert["source"], alert["raised_at"], alert["raised_by"], alert["acked_at"], alert["acked_by"]) == ("manual", NOW + MINUTE, "commander", None, None)
    shown = active(db, now=NOW + MINUTE)
    assert shown["id"] == "A" and shown["source"] == "manual"
    # Manual emergencies outlive the window.
    assert active(db, now=NOW + 10 * DEFAULT_WINDOW)["id"] == "A"


def test_raising_is_idempotent_and_refuses_unknown_or_finished_incidents(db):
    add(db, incident("M", 4, 5), incident("DONE", 1, 5, status="closed"))
    with db.begin() as conn:
        first = raise_alert(conn, WALL, "M", by="commander", now=NOW)
    with db.begin() as conn:
        again = raise_alert(conn, WALL, "M", by="someone else", now=NOW + MINUTE)
    assert first["data_version"] is not None and again["data_version"] is None
    assert {k: v for k, v in again.items() if k != "data_version"} == {k: v for k, v in first.items() if k != "data_version"}
    with db.begin() as conn:
        with pytest.raises(UnknownIncident) as caught:
            raise_alert(conn, WALL, "NOPE", by="commander")
        assert isinstance(caught.value, LookupError)
        with pytest.raises(IncidentOver, match="closed"):
            raise_alert(conn, WALL, "DONE", by="commander")


def test_writes_bump_the_data_version_and_log_outside_the_catalogue(db):
    add(db, incident("A", 1, 5), incident("M", 3, 5))
    v0 = version(db)
    with db.begin() as conn:
        raised = raise_alert(conn, WALL, "M", by="commander", now=NOW)
    assert raised["data_version"] == version(db) == v0 + 1
    with db.begin() as conn:
        acked = acknowledge(conn, WALL, by="duty", now=NOW)
    assert acked["incident_id"] == "M" and acked["data_version"] == version(db) == v0 + 2
    with db.begin() as conn:
        acknowledge(conn, WALL, by="duty", now=NOW)  # the automatic one
    assert version(db) == v0 + 3
    with db.connect() as conn:
        log = conn.execute(select(ChangeLog.dataset_code, ChangeLog.action, ChangeLog.rows, ChangeLog.detail).order_by(ChangeLog.id)).all()
        assert conn.execute(select(Dataset.code).where(Dataset.code == DATASET_CODE)).first() is None
    assert [(r.dataset_code, r.action, r.rows) for r in log] == [(DATASET_CODE, "wall_raise", 1), (DATASET_CODE, "wall_ack", 1), (DATASET_CODE, "wall_ack", 1)]
    assert log[0].detail == {"wall_id": WALL, "incident_id": "M", "by": "commander"}


def test_reading_writes_nothing(db):
    add(db, incident("A", 1, 5))
    before = version(db)
    assert active(db)["id"] == "A"
    assert version(db) == before
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WallAlert)).scalar() == 0


def test_wall_alerts_lists_states_newest_first(db):
    add(db, incident("A", 1, 5), incident("B", 3, 5), incident("C", 4, 5))
    with db.begin() as conn:
        raise_alert(conn, WALL, "B", by="commander", now=NOW - 2 * MINUTE)
        raise_alert(conn, WALL, "C", by="commander", now=NOW - MINUTE)
        acknowledge(conn, WALL, "A", by="duty", now=NOW)
    set_status(db, "C", "resolved")
    with db.connect() as conn:
        listing = wall_alerts(conn, WALL)
        assert wall_alerts(conn, "other") == []
    assert [(a["incident_id"], a["source"], a["state"]) for a in listing] == [("C", "manual", "over"), ("B", "manual", "pending"), ("A", "auto", "acknowledged")]
    assert not PERSONAL & set(listing[0])


@pytest.mark.parametrize("wall_id", ["", "Main", "-main", "a" * 65, "wall/1", "wall 1", None, 7])
def test_wall_ids_are_checked(db, wall_id):
    with db.connect() as conn:
        with pytest.raises(ValueError, match="wall id"):
            active_emergency(conn, wall_id, NOW)
        with pytest.raises(ValueError, match="wall id"):
            wall_alerts(conn, wall_id)


def test_times_and_actors_are_checked(db):
    add(db, incident("A", 1, 5))
    with db.begin() as conn:
        with pytest.raises(ValueError, match="aware"):
            active_emergency(conn, WALL, NOW.replace(tzinfo=None))
        with pytest.raises(ValueError, match="window"):
            active_emergency(conn, WALL, NOW, dt.timedelta(0))
        with pytest.raises(ValueError, match="'by'"):
            raise_alert(conn, WALL, "A", by="x" * 65)
        with pytest.raises(ValueError, match="'by'"):
            acknowledge(conn, WALL, by=" ", now=NOW)


# --- areas: a viewer limited to areas sees and acknowledges only theirs -----------------------------------


def ganyu(id_, severity, minutes_ago, **extra):
    return incident(id_, severity, minutes_ago, district_code="320707", street_code="320707002", **extra)


def test_a_viewer_limited_to_areas_gets_the_best_emergency_among_theirs(db):
    add(db, ganyu("G1", 1, 1), incident("H2", 2, 10), incident("H1-old", 1, 50, street_code="320706003"))
    assert active(db)["id"] == "G1"  # the whole city: the newest severity I
    with db.connect() as conn:
        haizhou = active_emergency(conn, WALL, NOW, areas=["320706"])
        street = active_emergency(conn, WALL, NOW, areas=["320706003"])
        both = active_emergency(conn, WALL, NOW, areas=["320706003", "320707"])
        elsewhere = active_emergency(conn, WALL, NOW, areas=["320722"])
    assert (haizhou["id"], haizhou["pending"]) == ("H1-old", 1)  # Ganyu's never hides Haizhou's, nor counts as pending
    assert street["id"] == "H1-old" and street["pending"] == 0
    assert (both["id"], both["pending"]) == ("G1", 1)  # several areas: the union
    assert elsewhere is None


def test_a_viewer_limited_to_areas_acknowledges_only_theirs(db):
    add(db, ganyu("G1", 1, 1), incident("H1", 1, 10))
    with db.begin() as conn:
        acked = acknowledge(conn, WALL, by="haizhou-duty", now=NOW, areas=["320706"])
        assert acked["incident_id"] == "H1"  # the one shown to them, not Ganyu's at the top of the wall
        assert acknowledge(conn, WALL, "G1", by="haizhou-duty", now=NOW, areas=["320706"]) is None  # not theirs
    assert active(db)["id"] == "G1"
    with db.connect() as conn:
        assert active_emergency(conn, WALL, NOW, areas=["320706"]) is None


def test_manual_switches_are_limited_to_the_viewers_areas_too(db):
    add(db, ganyu("G-man", 4, 300), incident("H-auto", 2, 5))
    with db.begin() as conn:
        raise_alert(conn, WALL, "G-man", by="city-commander", now=NOW - MINUTE)
    assert active(db)["id"] == "G-man"
    with db.connect() as conn:
        assert active_emergency(conn, WALL, NOW, areas=["320706"])["id"] == "H-auto"
        assert active_emergency(conn, WALL, NOW, areas=["3207070"])["id"] == "G-man"  # a prefix between levels


def test_area_prefixes_are_checked(db):
    with db.connect() as conn:
        with pytest.raises(ValueError, match="not an area code"):
            active_emergency(conn, WALL, NOW, areas=["haizhou"])
