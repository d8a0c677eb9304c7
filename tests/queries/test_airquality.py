"""HJ 633-2012 edge cases; expected values worked out by hand from Table 1, not by the code under test."""
import math

import numpy as np
import pytest

from queries.airquality import aqi, available_standards, iaqi, level_of, load_standard, primary_label


@pytest.fixture(scope="module")
def hj633():
    return load_standard("HJ633-2012")


@pytest.mark.parametrize(
    "table, concentration, expected",
    [
        ("pm25_24h", 0, 0), ("pm25_24h", 35, 50), ("pm25_24h", 35.1, 51),  # 50 + 50/40*0.1 = 50.125 → 51
        ("pm25_24h", 75, 100), ("pm25_24h", 115, 150), ("pm25_24h", 500, 500), ("pm25_24h", 900, 500),
        ("pm10_24h", 151, 101),  # 100 + 50/100*1 = 100.5 → 101
        ("co_1h", 4.9, 49),  # 0 + 50/5*4.9 = 49
        ("o3_1h", 1100, 450), ("so2_1h", 800, 200), ("no2_1h", 3840, 500),
    ],
)
def test_iaqi_at_and_between_breakpoints(hj633, table, concentration, expected):
    assert iaqi(hj633, table, [concentration])[0] == expected


def test_so2_1h_above_800_is_rated_by_its_24h_value(hj633):
    value, primary = aqi(hj633, {"so2_1h": [900], "so2_24h": [1700]})
    assert value[0] == 320  # 300 + 100/500*100
    assert primary_label(primary[0]) == "二氧化硫"


def test_so2_1h_above_800_without_a_24h_value_is_not_rated(hj633):
    value, _ = aqi(hj633, {"so2_1h": [900]})
    assert math.isnan(value[0])


def test_o3_8h_above_800_falls_back_to_the_1h_value(hj633):
    value, primary = aqi(hj633, {"o3_8h": [900], "o3_1h": [1100]})
    assert value[0] == 450 and primary[0] == ["o3_1h"]


def test_o3_8h_at_800_still_uses_the_8h_table(hj633):
    assert iaqi(hj633, "o3_8h", [800])[0] == 300


def test_aqi_is_the_max_and_ties_list_every_primary_pollutant(hj633):
    value, primary = aqi(hj633, {"pm25_24h": [75, 20], "pm10_24h": [150, 30], "no2_1h": [50, 40]})
    assert value.tolist() == [100, 30]  # PM2.5 20 → 50/35*20 = 28.57 → 29; PM10 30 → 50/50*30 = 30; NO2 40 → 20
    assert primary[0] == ["pm25_24h", "pm10_24h"] and primary[1] == []  # no primary pollutant at AQI ≤ 50
    assert primary_label(primary[0], "en") == "PM2.5,PM10"


def test_missing_and_negative_values(hj633):
    value, _ = aqi(hj633, {"pm25_24h": [np.nan, -1, 10]})
    assert math.isnan(value[0]) and math.isnan(value[1]) and value[2] == 15  # 50/35*10 = 14.29 → 15


@pytest.mark.parametrize("value, category, rgb", [(0, "优", (0, 228, 0)), (50, "优", (0, 228, 0)), (51, "良", (255, 255, 0)), (201, "重度污染", (153, 0, 76)), (500, "严重污染", (126, 0, 35))])
def test_levels_and_colours(hj633, value, category, rgb):
    level = level_of(hj633, value)
    assert level.category == category and level.rgb == rgb


def test_the_standard_is_versioned_data():
    assert "HJ633-2012" in available_standards()
    with pytest.raises(KeyError, match="unknown AQI standard"):
        load_standard("HJ633-1999")
