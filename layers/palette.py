"""Colours and widths of the map, tuned for a dark operations-centre screen.

Standard colours (incident severity, AQI levels) are domain data and come from ``queries``; the
rest are chosen here so that every layer reads on the dark sea/land of the drawn basemap.
"""
from __future__ import annotations

from types import MappingProxyType

from layers.base import RGB

SEA_RGB: RGB = (8, 20, 38)
LAND_RGB: RGB = (24, 36, 52)
COASTLINE_RGB: RGB = (70, 130, 180)
BOUNDARY_RGB: RGB = (120, 170, 220)
SELECTED_RGB: RGB = (0, 229, 255)
LABEL_RGB: RGB = (225, 235, 245)
NO_DATA_RGB: RGB = (110, 118, 128)
ZERO_RGB: RGB = (70, 84, 102)  # a count of zero in a choropleth: dark neutral (drawn faint), not the ramp's pale yellow

# Drawn basemap roads: brighter and wider for bigger roads; drawn from small to big.
ROAD_RGB = MappingProxyType({"expressway": (150, 132, 92), "arterial": (96, 108, 124), "secondary": (70, 82, 98), "branch": (54, 64, 78)})
ROAD_WIDTH_PX = MappingProxyType({"expressway": 3.0, "arterial": 2.0, "secondary": 1.2, "branch": 0.8})
ROAD_DRAW_ORDER = ("branch", "secondary", "arterial", "expressway")
# Below this zoom a road class is left out of the drawn basemap (it would be a grey smear).
ROAD_MIN_ZOOM = MappingProxyType({"expressway": 0, "arterial": 9, "secondary": 11, "branch": 13})

# 交通拥堵指数 bands: green (畅通) to dark red (严重拥堵), as on traffic control-room walls.
CONGESTION_RGB = MappingProxyType({
    "free": (0, 176, 80), "basically_free": (146, 208, 80), "light": (255, 192, 0), "moderate": (255, 102, 0), "severe": (192, 0, 0),
})
TRAFFIC_WIDTH_PX = MappingProxyType({"expressway": 6.0, "arterial": 4.0, "secondary": 3.0, "branch": 2.0})

RESOURCE_RGB = MappingProxyType({
    "fire_station": (255, 69, 58), "hospital": (255, 255, 255), "shelter": (52, 199, 89),
    "supply_depot": (191, 90, 242), "police_station": (10, 132, 255), "rescue_team": (255, 159, 10),
})
SENSOR_STATUS_RGB = MappingProxyType({"online": (48, 209, 88), "offline": (142, 142, 147), "alarm": (255, 45, 85)})

# HeatmapLayer colour range (light to intense), readable on dark land.
HEAT_RGB: tuple[RGB, ...] = ((255, 255, 178), (254, 217, 118), (254, 178, 76), (253, 141, 60), (240, 59, 32), (189, 0, 38))
