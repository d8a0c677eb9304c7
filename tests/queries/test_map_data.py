import pytest
import shapely
from sqlalchemy import insert

from queries.map_data import area_frame_bounds
from queries.schema import Area

MAINLAND = shapely.box(120.0, 30.0, 120.2, 30.1)
ISLET = shapely.box(121.5, 30.5, 121.51, 30.51)  # a tiny island far out: not framed


@pytest.fixture
def areas_db(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "市", "parent_code": None, "geom": shapely.MultiPolygon([MAINLAND, ISLET])},
            {"code": "320706", "level": "district", "name": "海区", "parent_code": "320700", "geom": shapely.MultiPolygon([MAINLAND, ISLET])},
            {"code": "320704", "level": "district", "name": "无形区", "parent_code": "320700", "geom": None},  # boundaries not imported
        ])
    return engine


def test_bounds_frame_the_main_land_not_far_islets(areas_db):
    with areas_db.connect() as conn:
        for code in ("320700", "320706"):
            assert area_frame_bounds(conn, code) == [[120.0, 30.0], [120.2, 30.1]]


def test_no_bounds_for_an_area_without_a_shape_or_an_unknown_code(areas_db):
    with areas_db.connect() as conn:
        assert area_frame_bounds(conn, "320704") is None
        assert area_frame_bounds(conn, "999999") is None
