"""Controlled vocabularies of the platform, with the Chinese and English names departments use.

These are domain data (national plan categories, severity levels, update cycles…), not UI text:
ingest parses them from the forms departments send, layers colour by them. Sources:
国家突发公共事件总体应急预案 (categories, levels, colours), ../shared/DOMAIN.md, and
../shared/reference/grid_and_12345_notes.md (12345 demand types).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Term:
    code: str
    zh: str
    en: str
    aliases: tuple[str, ...] = field(default=())


AREA_LEVELS: tuple[Term, ...] = (
    Term("city", "市", "city", ("地级市", "市级")),
    Term("district", "区县", "district/county", ("区", "县", "县区", "区县级", "county")),
    Term("street", "街道/乡镇", "street/township", ("街道", "乡镇", "镇", "乡", "township", "town")),
    Term("community", "社区/村", "community", ("社区", "村", "居委会", "村委会", "village")),
    Term("grid", "单元网格", "unit grid", ("网格", "单元网格", "cell")),
)
AREA_LEVEL_CODES = tuple(t.code for t in AREA_LEVELS)
# Digits of a level's code: GB/T 2260 (6), + GB/T 10114 street (9), + community (12), + grid seq (15).
AREA_CODE_LENGTH = {"city": 6, "district": 6, "street": 9, "community": 12, "grid": 15}
LEGACY_GRID_CODE_LENGTH = 14

INCIDENT_CATEGORIES: tuple[Term, ...] = (
    Term("natural_disaster", "自然灾害", "natural disaster", ("自然灾害类", "natural")),
    Term("accident", "事故灾难", "accident/disaster", ("事故灾难类", "事故", "accidents")),
    Term("public_health", "公共卫生事件", "public health", ("公共卫生", "公共卫生类", "health")),
    Term("social_security", "社会安全事件", "social security", ("社会安全", "社会安全类", "security")),
)

# Sub-types seen in municipal emergency plans, per category.
INCIDENT_SUBTYPES: dict[str, tuple[Term, ...]] = {
    "natural_disaster": (
        Term("flood", "洪涝", "flood"), Term("waterlogging", "城市内涝", "urban waterlogging"),
        Term("typhoon", "台风", "typhoon"), Term("storm_surge", "风暴潮", "storm surge"),
        Term("geological", "地质灾害", "geological hazard"), Term("earthquake", "地震", "earthquake"),
        Term("extreme_heat", "高温", "extreme heat"), Term("fog", "大雾", "dense fog"),
    ),
    "accident": (
        Term("traffic_accident", "交通事故", "traffic accident"), Term("fire", "火灾", "fire"),
        Term("hazchem", "危险化学品事故", "hazardous chemicals"), Term("production_safety", "安全生产事故", "workplace accident"),
        Term("gas_leak", "燃气泄漏", "gas leak"), Term("utility_failure", "供水供电故障", "utility failure"),
        Term("environmental", "环境污染事故", "environmental accident"), Term("building", "建筑安全", "building safety"),
    ),
    "public_health": (
        Term("infectious_disease", "传染病疫情", "infectious disease"), Term("food_poisoning", "食物中毒", "food poisoning"),
        Term("occupational", "职业中毒", "occupational poisoning"), Term("medical_emergency", "急救", "medical emergency"),
    ),
    "social_security": (
        Term("mass_gathering", "群体性事件", "mass gathering"), Term("public_order", "治安事件", "public order"),
        Term("dispute", "矛盾纠纷", "dispute"), Term("crowd_safety", "人员密集场所安全", "crowd safety"),
    ),
}

SEVERITIES: tuple[Term, ...] = (
    Term("1", "特别重大", "I — particularly serious", ("I", "Ⅰ", "I级", "Ⅰ级", "一级", "1级", "红", "红色", "red")),
    Term("2", "重大", "II — serious", ("II", "Ⅱ", "II级", "Ⅱ级", "二级", "2级", "橙", "橙色", "orange")),
    Term("3", "较大", "III — major", ("III", "Ⅲ", "III级", "Ⅲ级", "三级", "3级", "黄", "黄色", "yellow")),
    Term("4", "一般", "IV — general", ("IV", "Ⅳ", "IV级", "Ⅳ级", "四级", "4级", "蓝", "蓝色", "blue")),
)
SEVERITY_RGB = {1: (230, 0, 18), 2: (255, 128, 0), 3: (255, 214, 0), 4: (0, 112, 255)}

INCIDENT_STATUSES: tuple[Term, ...] = (
    Term("reported", "已上报", "reported", ("上报", "待受理", "new")),
    Term("accepted", "已受理", "accepted", ("受理",)),
    Term("dispatched", "已派遣", "dispatched", ("派遣", "已派单", "派单")),
    Term("on_scene", "已到场", "on scene", ("到场", "处置中", "arrived")),
    Term("resolved", "已处置", "resolved", ("处置完毕", "已办结", "办结", "done")),
    Term("closed", "已结案", "closed", ("结案", "归档")),
)
INCIDENT_STATUS_CODES = tuple(t.code for t in INCIDENT_STATUSES)

CHANNELS: tuple[Term, ...] = (
    Term("12345", "12345热线", "12345 hotline", ("12345", "市民热线")),
    Term("110", "110报警", "110 police", ("110",)),
    Term("119", "119火警", "119 fire", ("119",)),
    Term("120", "120急救", "120 ambulance", ("120",)),
    Term("iot", "物联感知", "IoT sensor", ("物联网", "传感器", "感知设备", "IoT")),
    Term("grid_officer", "网格员上报", "grid officer", ("网格员", "巡查", "grid")),
)

DEMAND_TYPES: tuple[Term, ...] = (
    Term("consult", "咨询", "enquiry"), Term("help", "求助", "request for help"),
    Term("complaint", "投诉", "complaint"), Term("report", "举报", "report"),
    Term("suggestion", "建议", "suggestion"), Term("praise", "表扬", "praise"),
)

WORK_ORDER_STATES: tuple[Term, ...] = (
    Term("accepted", "已受理", "accepted", ("受理", "待派单")),
    Term("dispatched", "已派单", "dispatched", ("派单", "办理中", "处理中")),
    Term("returned", "已退回", "returned", ("退回",)),
    Term("delayed", "已延期", "extended", ("延期",)),
    Term("completed", "已办结", "completed", ("办结", "已完成")),
    Term("visited", "已回访", "followed up", ("回访", "已归档")),
)

SHARING_TYPES: tuple[Term, ...] = (
    Term("unconditional", "无条件共享", "unconditional"),
    Term("conditional", "有条件共享", "conditional"),
    Term("none", "不予共享", "not shared"),
)

# Update cycles of the resource catalogue and how long one lasts, in seconds.
UPDATE_CYCLES: tuple[Term, ...] = (
    Term("realtime", "实时", "real-time", ("实时更新",)),
    Term("minute", "每分钟", "every minute"),
    Term("hourly", "每小时", "hourly", ("小时",)),
    Term("daily", "每日", "daily", ("每天", "日")),
    Term("weekly", "每周", "weekly", ("周",)),
    Term("monthly", "每月", "monthly", ("月",)),
    Term("quarterly", "每季度", "quarterly", ("季度",)),
    Term("yearly", "每年", "yearly", ("年",)),
    Term("on_demand", "不定期", "irregular", ("按需",)),
)
UPDATE_CYCLE_SECONDS = {
    "realtime": 5 * 60, "minute": 5 * 60, "hourly": 3600, "daily": 86400, "weekly": 7 * 86400,
    "monthly": 31 * 86400, "quarterly": 92 * 86400, "yearly": 366 * 86400, "on_demand": None,
}

SENSOR_KINDS: tuple[Term, ...] = (
    Term("air_quality", "空气质量监测站", "air-quality station"),
    Term("water_level", "水位监测", "water level"),
    Term("water_quality", "水质监测", "water quality"),
    Term("traffic_detector", "交通检测器", "traffic detector"),
    Term("smoke", "烟感", "smoke detector"),
    Term("manhole", "智能井盖", "manhole cover"),
    Term("hydrant", "智能消火栓", "fire hydrant"),
    Term("gas", "燃气监测", "gas monitor"),
)
SENSOR_STATUSES: tuple[Term, ...] = (
    Term("online", "在线", "online"), Term("offline", "离线", "offline"), Term("alarm", "告警", "alarm"),
)

RESOURCE_KINDS: tuple[Term, ...] = (
    Term("fire_station", "消防站", "fire station"), Term("hospital", "医院", "hospital"),
    Term("shelter", "应急避难场所", "emergency shelter"), Term("supply_depot", "应急物资储备库", "supply depot"),
    Term("police_station", "派出所", "police station"), Term("rescue_team", "救援队伍", "rescue team"),
)

ROAD_CLASSES: tuple[Term, ...] = (
    Term("expressway", "高速/快速路", "expressway", ("高速", "快速路", "motorway")),
    Term("arterial", "主干路", "arterial", ("主干道", "primary")),
    Term("secondary", "次干路", "secondary", ("次干道",)),
    Term("branch", "支路", "branch", ("支路", "tertiary", "residential")),
)

# 交通拥堵指数 bands (0–10), upper bounds inclusive of the lower band's end.
CONGESTION_BANDS: tuple[tuple[float, float, Term], ...] = (
    (0, 2, Term("free", "畅通", "free flow")),
    (2, 4, Term("basically_free", "基本畅通", "basically free")),
    (4, 6, Term("light", "轻度拥堵", "light congestion")),
    (6, 8, Term("moderate", "中度拥堵", "moderate congestion")),
    (8, 10, Term("severe", "严重拥堵", "severe congestion")),
)

INDICATOR_DOMAINS: tuple[Term, ...] = (
    Term("emergency", "应急管理", "emergency"), Term("traffic", "交通运行", "traffic"),
    Term("environment", "生态环境", "environment"), Term("hotline", "12345热线", "12345 hotline"),
    Term("government_service", "政务服务", "government services"), Term("iot", "城市感知", "IoT"),
    Term("economy", "经济运行", "economy"), Term("population", "人口", "population"),
)
AGGREGATIONS = ("sum", "mean", "max", "min", "last", "weighted_mean")
GOOD_DIRECTIONS = ("up", "down", "neutral")


def lookup(terms: tuple[Term, ...], value) -> Term | None:
    """The term whose code, Chinese or English name, or an alias matches ``value`` (case-insensitive)."""
    if value is None:
        return None
    key = str(value).strip().lower()
    if not key:
        return None
    for term in terms:
        if key in (term.code.lower(), term.zh.lower(), term.en.lower(), *(a.lower() for a in term.aliases)):
            return term
    return None


def codes(terms: tuple[Term, ...]) -> tuple[str, ...]:
    return tuple(t.code for t in terms)
