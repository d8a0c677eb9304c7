"""Target fields of every import kind, the column names departments use for them, and matching.

Automatic matching compares normalised names (lower case, no spaces/underscores/punctuation), so
``PM2_5_24h``, ``pm2.5_24h`` and ``PM25 24h`` are the same column; an explicit ``--map`` always wins.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from queries import vocab
from queries.ingest.report import IngestError
from queries.vocab import Term


@dataclass(frozen=True)
class Field:
    name: str
    parser: str  # text, time, float, int, bool, term, lon, lat, point, geometry
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    terms: tuple[Term, ...] | None = None
    closed: bool = True  # unknown vocabulary values are rejected (else kept as given)
    what: str = ""  # "a severity", used in messages
    accepted: str = ""  # accepted forms, for --help and messages

    def describe(self) -> str:
        parts = [self.help] if self.help else []
        if self.accepted:
            parts.append(self.accepted)
        elif self.terms:
            shown = ", ".join(f"{t.code}/{t.zh}" for t in self.terms[:8])
            parts.append(shown + (" …" if len(self.terms) > 8 else "") + ("" if self.closed else " (others kept as given)"))
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"range {self.minimum if self.minimum is not None else '…'}–{self.maximum if self.maximum is not None else '…'}")
        return "; ".join(parts)


TIME_FORMS = "time: 2026-11-21 08:30:00, 2026/11/21 8:30, ISO with Z/+08:00, Excel dates; naive = Asia/Shanghai"
LON = Field("lon", "lon", aliases=("经度", "lon", "lng", "long", "longitude", "x", "东经", "坐标x", "x坐标", "gpsx", "jd"), help="longitude (converted from --crs)")
LAT = Field("lat", "lat", aliases=("纬度", "lat", "latitude", "y", "北纬", "坐标y", "y坐标", "gpsy", "wd"), help="latitude")
POINT = Field("point", "point", aliases=("坐标", "经纬度", "addresspoints", "地图关联", "location_point"), help="'lon,lat' in one column (alternative to lon+lat)")
WKT = Field("geometry", "geometry", aliases=("wkt", "geometry", "geom", "the_geom", "shape", "几何"), help="WKT geometry in CSV/XLSX (vector files use their own geometry)")
SEVERITY_FORMS = "I–IV / 特别重大…一般 / 1–4"

INCIDENT_FIELDS: tuple[Field, ...] = (
    Field("id", "text", True, ("事件编号", "事件id", "事件单号", "案件编号", "案件号", "编号", "incident_id", "event_id", "eventid", "id", "序号"), "incident id (natural key)", max_length=64),
    Field("category", "term", False, ("事件类别", "事件大类", "事件类型", "突发事件类别", "类别", "大类", "category", "type"), "category — required unless a subtype implies it; a subtype written here also sets the category", terms=vocab.INCIDENT_CATEGORIES, what="an incident category"),
    Field("subtype", "term", False, ("事件子类", "事件小类", "子类", "小类", "事件子类型", "subtype", "sub_type"), "subtype, e.g. 火灾 (category inferred from it)", terms=tuple(t for ts in vocab.INCIDENT_SUBTYPES.values() for t in ts), closed=False, max_length=32, what="a subtype"),
    Field("severity", "term", True, ("事件等级", "事件级别", "等级", "级别", "严重程度", "预警级别", "severity", "level", "grade"), "severity", terms=vocab.SEVERITIES, what="a severity", accepted=SEVERITY_FORMS + " (e.g. II级, 重大, 2, II)"),
    Field("status", "term", False, ("状态", "事件状态", "处置状态", "办理状态", "status", "state"), "status (default from lifecycle times, else reported)", terms=vocab.INCIDENT_STATUSES, what="an incident status"),
    Field("reported_at", "time", True, ("上报时间", "报警时间", "接报时间", "发生时间", "事发时间", "报告时间", "时间", "reported_at", "report_time", "reporttime", "occur_time", "time", "datetime"), TIME_FORMS),
    Field("accepted_at", "time", False, ("受理时间", "accepted_at", "accept_time"), "time"),
    Field("dispatched_at", "time", False, ("派遣时间", "派单时间", "调度时间", "dispatched_at", "dispatch_time"), "time"),
    Field("on_scene_at", "time", False, ("到场时间", "到达时间", "on_scene_at", "arrive_time"), "time"),
    Field("resolved_at", "time", False, ("处置时间", "处置完成时间", "办结时间", "resolved_at", "resolve_time", "finish_time"), "time"),
    Field("closed_at", "time", False, ("结案时间", "关闭时间", "归档时间", "closed_at", "close_time"), "time"),
    LON, LAT, POINT,
    Field("address", "text", False, ("事发地址", "事发地点", "地址", "地点", "位置", "详细地址", "address", "addr", "location"), "address (personal data)", max_length=256),
    Field("title", "text", False, ("标题", "事件标题", "事件名称", "名称", "title", "name"), max_length=256),
    Field("description", "text", False, ("事件描述", "描述", "事件内容", "内容", "详情", "情况描述", "description", "desc", "content", "detail"), "free text"),
    Field("reporter_name", "text", False, ("上报人", "报告人", "报警人", "联系人", "reporter", "reporter_name"), "personal data", max_length=64),
    Field("reporter_phone", "text", False, ("联系电话", "上报人电话", "报警电话", "电话", "手机", "reporter_phone", "phone", "tel", "mobile"), "personal data", max_length=32),
    Field("channel", "term", False, ("来源", "渠道", "上报渠道", "事件来源", "来源渠道", "channel", "source"), terms=vocab.CHANNELS, closed=False, max_length=16, what="a channel"),
    Field("casualties", "int", False, ("伤亡人数", "伤亡", "casualties"), minimum=0, maximum=100000),
)

WORK_ORDER_FIELDS: tuple[Field, ...] = (
    Field("order_num", "text", True, ("工单编号", "工单号", "ordernum", "order_num", "order_no", "编号", "id"), "work-order number (natural key)", max_length=64),
    Field("call_time", "time", True, ("来电时间", "calltime", "call_time", "受理时间", "时间", "reported_at"), TIME_FORMS),
    Field("source_type", "text", False, ("受理渠道", "来源渠道", "渠道", "sourcetype", "source_type", "来源"), max_length=32),
    Field("caller_type", "text", False, ("来电类别", "callertype", "caller_type"), max_length=32),
    Field("caller_name", "text", False, ("来电人", "来电人姓名", "姓名", "callername", "caller_name"), "personal data", max_length=64),
    Field("caller_sex", "text", False, ("性别", "来电人性别", "callersex", "caller_sex"), max_length=8),
    Field("caller_phone", "text", False, ("来电号码", "联系电话", "联系方式", "电话", "callerphone", "callercontact", "caller_phone"), "personal data", max_length=32),
    Field("is_secret", "bool", False, ("是否保密", "issecret", "is_secret"), accepted="是/否, 1/0, true/false"),
    Field("title", "text", False, ("工单标题", "标题", "title"), max_length=256),
    Field("content", "text", False, ("主要内容", "诉求内容", "内容", "majorcontent", "content")),
    Field("demand_type", "term", False, ("诉求类型", "诉求类别", "来电目的", "demandtype", "demand_type"), terms=vocab.DEMAND_TYPES, what="a demand type"),
    Field("question_code", "text", False, ("问题分类编码", "questioncode", "question_code"), max_length=32),
    Field("question_name", "text", False, ("问题分类名称", "问题分类", "questionname", "question_name"), max_length=128),
    Field("address", "text", False, ("事发地", "事发地址", "地址", "address"), "personal data", max_length=256),
    LON, LAT, POINT,
    Field("urgency", "text", False, ("紧急程度", "pilotlight", "urgency"), max_length=16),
    Field("organization_code", "text", False, ("承办单位编码", "organizationcode", "organization_code"), max_length=32),
    Field("organization_name", "text", False, ("承办单位", "承办单位名称", "organizationname", "organization_name"), max_length=128),
    Field("dispatch_time", "time", False, ("分派时间", "派单时间", "dispatchtime", "dispatch_time"), "time"),
    Field("handle_days", "float", False, ("处理时限", "办理时限", "handledays", "handle_days"), minimum=0, maximum=3650),
    Field("deadline", "time", False, ("办理截止时间", "截止时间", "deadlinedate", "deadline"), "time"),
    Field("state", "term", False, ("工单状态", "状态", "orderstate", "state", "status"), "state (default: completed if complete_time, else accepted)", terms=vocab.WORK_ORDER_STATES, what="a work-order state"),
    Field("back_num", "int", False, ("退回次数", "backnum", "back_num"), minimum=0, maximum=1000),
    Field("delay_days", "float", False, ("延期天数", "delaydays", "delay_days"), minimum=0, maximum=3650),
    Field("is_supervised", "bool", False, ("是否督办", "issupervise", "is_supervised")),
    Field("complete_time", "time", False, ("办结时间", "completetime", "complete_time"), "time"),
    Field("visit_time", "time", False, ("回访时间", "visittime", "visit_time"), "time"),
    Field("visit_solved", "bool", False, ("问题是否解决", "是否解决", "visitissolved", "visit_solved")),
    Field("satisfaction", "text", False, ("满意度", "是否满意", "finalvisitissatisfaction", "visitissatisfaction", "satisfaction"), max_length=16),
    Field("is_rehandle", "bool", False, ("重新办理", "isrehandle", "is_rehandle")),
    Field("is_hard", "bool", False, ("疑难工单", "ishardorder", "is_hard")),
    Field("incident_id", "text", False, ("关联事件编号", "incident_id"), max_length=64),
)

RESOURCE_FIELDS: tuple[Field, ...] = (
    Field("id", "text", False, ("资源编号", "编号", "编码", "id", "resource_id"), "natural key; default: kind + name", max_length=64),
    Field("kind", "term", True, ("资源类型", "类型", "类别", "种类", "kind", "type", "category"), terms=vocab.RESOURCE_KINDS, what="a resource kind"),
    Field("name", "text", True, ("名称", "资源名称", "单位名称", "name"), max_length=128),
    Field("capacity", "float", False, ("容量", "容纳人数", "床位数", "数量", "储备量", "capacity"), minimum=0, maximum=1e7),
    Field("capacity_unit", "text", False, ("单位", "容量单位", "计量单位", "unit", "capacity_unit"), max_length=32),
    Field("address", "text", False, ("地址", "详细地址", "address"), max_length=256),
    Field("phone", "text", False, ("值班电话", "联系电话", "电话", "phone", "tel"), max_length=32),
    LON, LAT, POINT,
)

ROAD_FIELDS: tuple[Field, ...] = (
    Field("id", "text", True, ("道路编号", "路段编号", "编号", "id", "road_id", "osm_id", "fid"), "segment id; parts of multi-lines get -1, -2 …", max_length=60),
    Field("name", "text", False, ("道路名称", "路名", "名称", "name"), max_length=128),
    Field("road_class", "term", True, ("道路等级", "道路类型", "等级", "类型", "fclass", "highway", "class", "road_class"), terms=vocab.ROAD_CLASSES, what="a road class"),
    Field("lanes", "int", False, ("车道数", "lanes"), minimum=1, maximum=20),
    Field("speed_limit_kmh", "float", False, ("限速", "设计速度", "maxspeed", "speed_limit", "speed_limit_kmh"), minimum=5, maximum=150),
    Field("oneway", "bool", False, ("单行", "是否单行", "oneway")),
    Field("from_node", "text", False, ("起点", "起点编号", "from_node", "source"), max_length=64),
    Field("to_node", "text", False, ("终点", "终点编号", "to_node", "target"), max_length=64),
    WKT,
)

BOUNDARY_FIELDS: tuple[Field, ...] = (
    Field("code", "text", True, ("区划代码", "行政区划代码", "区划编码", "网格编码", "网格代码", "单元网格代码", "代码", "编码", "bgcode", "adcode", "code", "xzqdm", "qhdm", "wgbm", "gb", "dm"), "GB/T 2260 6 digits; street 9, community 12, grid 15 (14 legacy)", max_length=20),
    Field("name", "text", True, ("名称", "区划名称", "网格名称", "街道名称", "社区名称", "name", "xzqmc", "qhmc", "wgmc", "mc"), max_length=128),
    Field("name_fallback", "text", False, (), "used where name is empty (the report lists those features)", max_length=128),
    Field("name_en", "text", False, ("英文名", "英文名称", "name_en", "ename"), max_length=128),
    Field("parent", "text", False, ("上级代码", "父级代码", "上级区划代码", "parent", "parent_code", "pcode"), "parent code (or --parent; else derived from the code prefix)", max_length=20),
    Field("level", "term", False, ("级别", "层级", "level"), "level per feature (or --level; else from code length)", terms=vocab.AREA_LEVELS, what="an area level"),
    Field("population", "int", False, ("人口", "常住人口", "户籍人口", "population", "pop"), minimum=0, maximum=50_000_000),
    WKT,
)

AQ_FIELDS: tuple[Field, ...] = (
    Field("station_id", "text", True, ("station_code", "stationcode", "监测点编码", "站点编码", "站点代码", "站点编号", "测站编码", "station_id", "station"), "station code, e.g. 1001A", max_length=64),
    Field("ts", "time", True, ("time_point", "timepoint", "timepointstr", "监测时间", "发布时间", "时间", "ts", "time", "datetime"), TIME_FORMS),
    Field("station_name", "text", False, ("position_name", "positionname", "监测点名称", "站点名称", "测站名称", "station_name"), "used when creating a station", max_length=128),
    Field("aqi", "int", False, ("aqi", "空气质量指数"), minimum=0, maximum=500),
    Field("primary_pollutant", "text", False, ("primary_pollutant", "primarypollutant", "main_pollutant", "首要污染物"), max_length=32),
    Field("pm2_5", "float", False, ("pm2_5", "pm25", "细颗粒物"), minimum=0, maximum=3000),
    Field("pm2_5_24h", "float", False, ("pm2_5_24h", "pm25_24h", "细颗粒物24小时"), minimum=0, maximum=3000),
    Field("pm10", "float", False, ("pm10", "可吸入颗粒物"), minimum=0, maximum=6000),
    Field("pm10_24h", "float", False, ("pm10_24h", "可吸入颗粒物24小时"), minimum=0, maximum=6000),
    Field("so2", "float", False, ("so2", "二氧化硫"), minimum=0, maximum=10000),
    Field("so2_24h", "float", False, ("so2_24h", "二氧化硫24小时"), minimum=0, maximum=10000),
    Field("no2", "float", False, ("no2", "二氧化氮"), minimum=0, maximum=5000),
    Field("no2_24h", "float", False, ("no2_24h", "二氧化氮24小时"), minimum=0, maximum=5000),
    Field("co", "float", False, ("co", "一氧化碳"), "mg/m3", minimum=0, maximum=200),
    Field("co_24h", "float", False, ("co_24h", "一氧化碳24小时"), "mg/m3", minimum=0, maximum=200),
    Field("o3", "float", False, ("o3", "臭氧", "臭氧1小时"), minimum=0, maximum=2000),
    Field("o3_8h", "float", False, ("o3_8h", "臭氧8小时"), minimum=0, maximum=2000),
    Field("o3_8h_24h", "float", False, ("o3_8h_24h", "臭氧8小时24小时"), minimum=0, maximum=2000),
    LON, LAT,
)

TRAFFIC_FIELDS: tuple[Field, ...] = (
    Field("detector_id", "text", True, ("检测器编号", "设备编号", "检测器id", "detector_id", "detectorid", "sensor_id", "device_id"), max_length=64),
    Field("ts", "time", True, ("时间", "采集时间", "统计时间", "ts", "time", "datetime"), TIME_FORMS),
    Field("flow", "float", False, ("流量", "车流量", "flow", "volume"), "veh/h", minimum=0, maximum=20000),
    Field("speed_kmh", "float", False, ("速度", "平均速度", "车速", "speed", "speed_kmh"), minimum=0, maximum=250),
    Field("occupancy", "float", False, ("占有率", "时间占有率", "occupancy"), "%", minimum=0, maximum=100),
    Field("sensor_name", "text", False, ("检测器名称", "设备名称", "name"), "used when creating a detector", max_length=128),
    LON, LAT,
)

# Scalar sensor metrics, wide columns → metric code, with plausible ranges.
SENSOR_METRICS: dict[str, tuple[tuple[str, ...], float, float]] = {
    "water_level": (("水位", "water_level", "waterlevel", "level_m"), -100.0, 6000.0),
    "ph": (("ph", "ph值"), 0.0, 14.0),
    "do": (("溶解氧", "do", "dissolved_oxygen"), 0.0, 50.0),
    "cod": (("化学需氧量", "cod", "codmn", "高锰酸盐指数"), 0.0, 10000.0),
    "nh3n": (("氨氮", "nh3n", "nh3_n", "ammonia"), 0.0, 1000.0),
    "tp": (("总磷", "tp"), 0.0, 1000.0),
    "tn": (("总氮", "tn"), 0.0, 1000.0),
    "turbidity": (("浊度", "turbidity"), 0.0, 10000.0),
    "temperature": (("温度", "水温", "temperature", "temp"), -60.0, 100.0),
    "conductivity": (("电导率", "conductivity"), 0.0, 200000.0),
    "gas_lel": (("燃气浓度", "可燃气体浓度", "gas_lel", "lel"), 0.0, 100.0),
    "smoke": (("烟雾浓度", "smoke"), 0.0, 100000.0),
    "tilt": (("倾角", "tilt"), -180.0, 180.0),
    "pressure": (("水压", "压力", "pressure"), -10.0, 10000.0),
}

SENSOR_FIELDS: tuple[Field, ...] = (
    Field("sensor_id", "text", True, ("设备编号", "传感器编号", "监测点编码", "站点编码", "测站编码", "sensor_id", "device_id", "station_code", "sensor"), max_length=64),
    Field("ts", "time", True, ("监测时间", "采集时间", "时间", "ts", "time", "datetime"), TIME_FORMS),
    Field("metric", "text", False, ("监测项目", "指标", "因子", "metric", "parameter"), "long format: metric name (else one column per metric: " + ", ".join(SENSOR_METRICS) + ")", max_length=32),
    Field("value", "float", False, ("监测值", "数值", "值", "value", "reading"), "long format: the value", minimum=-1e9, maximum=1e9),
    Field("sensor_kind", "term", False, ("设备类型", "传感器类型", "sensor_kind", "device_type"), "used when creating a sensor", terms=vocab.SENSOR_KINDS, what="a sensor kind"),
    Field("sensor_name", "text", False, ("设备名称", "测站名称", "站点名称", "sensor_name"), "used when creating a sensor", max_length=128),
    LON, LAT,
)

INDICATOR_DEFINITION_FIELDS: tuple[Field, ...] = (
    Field("code", "text", True, ("指标编码", "指标代码", "编码", "code", "indicator_code"), max_length=64),
    Field("name_zh", "text", True, ("指标名称", "中文名称", "名称", "name_zh", "name"), max_length=128),
    Field("name_en", "text", False, ("英文名称", "name_en"), "default: the code", max_length=128),
    Field("unit", "text", False, ("单位", "计量单位", "unit"), max_length=32),
    Field("domain", "term", True, ("领域", "主题", "所属领域", "domain"), terms=vocab.INDICATOR_DOMAINS, what="an indicator domain"),
    Field("good_direction", "text", False, ("方向", "指标方向", "good_direction", "direction"), accepted="up/down/neutral, 越大越好/越小越好, 正向/负向"),
    Field("warn_threshold", "float", False, ("预警阈值", "warn_threshold")),
    Field("alarm_threshold", "float", False, ("告警阈值", "报警阈值", "alarm_threshold")),
    Field("aggregation", "text", False, ("汇总方式", "聚合方式", "aggregation"), accepted="/".join(vocab.AGGREGATIONS)),
    Field("description", "text", False, ("说明", "描述", "口径", "description")),
)

INDICATOR_VALUE_FIELDS: tuple[Field, ...] = (
    Field("indicator_code", "text", True, ("指标编码", "指标代码", "indicator_code", "indicator", "code"), max_length=64),
    Field("area_code", "text", True, ("区划代码", "地区代码", "区域代码", "area_code", "adcode", "area"), max_length=20),
    Field("ts", "time", True, ("统计时间", "时间", "日期", "统计期", "ts", "time", "date", "period"), TIME_FORMS),
    Field("value", "float", True, ("指标值", "数值", "值", "value"), minimum=-1e15, maximum=1e15),
)

KIND_FIELDS: dict[str, tuple[Field, ...]] = {
    "boundaries": BOUNDARY_FIELDS,
    "incidents": INCIDENT_FIELDS,
    "workorders": WORK_ORDER_FIELDS,
    "resources": RESOURCE_FIELDS,
    "roads": ROAD_FIELDS,
    "readings:aq": AQ_FIELDS,
    "readings:traffic": TRAFFIC_FIELDS,
    "readings:sensor": SENSOR_FIELDS,
    "indicators:definitions": INDICATOR_DEFINITION_FIELDS,
    "indicators:values": INDICATOR_VALUE_FIELDS,
}


def normalise_name(name: str) -> str:
    return re.sub(r"[\W_]+", "", str(name).strip().lower())


def parse_mapping_options(items) -> dict[str, str]:
    """``['severity=等级', …]`` → {target: source}; malformed items are an error."""
    mapping: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise IngestError(f"--map {item!r}: expected TARGET=SOURCE, e.g. --map severity=等级")
        target, source = item.split("=", 1)
        target, source = target.strip(), source.strip()
        if not target or not source:
            raise IngestError(f"--map {item!r}: expected TARGET=SOURCE, e.g. --map severity=等级")
        mapping[target] = source
    return mapping


def match_columns(fields: tuple[Field, ...], columns, explicit: dict[str, str] | None, file_name: str) -> dict[str, str]:
    """{target field: source column}. Explicit mappings first (and checked), then automatic ones."""
    explicit = dict(explicit or {})
    names = {f.name for f in fields}
    unknown = [t for t in explicit if t not in names]
    if unknown:
        raise IngestError(f"--map: unknown target field(s) {', '.join(unknown)}; targets: {', '.join(f.name for f in fields)}")
    columns = [str(c) for c in columns]
    by_exact = {c: c for c in columns}
    by_lower = {c.lower(): c for c in columns}
    by_normal = {}
    for c in columns:
        by_normal.setdefault(normalise_name(c), c)
    matched: dict[str, str] = {}
    for target, source in explicit.items():
        column = by_exact.get(source) or by_lower.get(source.lower()) or by_normal.get(normalise_name(source))
        if column is None:
            raise IngestError(f"{file_name}: --map {target}={source}: no column {source!r}; columns: {', '.join(columns)}")
        matched[target] = column
    used = set(matched.values())
    for field in fields:
        if field.name in matched:
            continue
        for alias in (field.name, *field.aliases):
            column = by_normal.get(normalise_name(alias))
            if column is not None and column not in used:
                matched[field.name] = column
                used.add(column)
                break
    return matched


def check_required(fields: tuple[Field, ...], matched: dict[str, str], columns, file_name: str, *, also_present: set[str] = frozenset()) -> None:
    missing = [f.name for f in fields if f.required and f.name not in matched and f.name not in also_present]
    if missing:
        raise IngestError(
            f"{file_name}: required field(s) missing: {', '.join(missing)}. Columns in the file: {', '.join(map(str, columns)) or '(none)'}. "
            f"Map them with --map {missing[0]}=COLUMN (see --help for the target fields)."
        )


def help_text(fields: tuple[Field, ...]) -> str:
    lines = []
    for f in fields:
        flag = "required" if f.required else "optional"
        aliases = ", ".join(f.aliases[:6])
        lines.append(f"  {f.name:<18} {flag:<8} {f.describe()}" + (f" [auto: {aliases}]" if aliases else ""))
    return "\n".join(lines)
