"""The UI text catalogue of the shell: every string a person reads comes from here, Chinese first.

Domain names (area levels, update cycles, sharing types…) are data and live in ``queries.vocab``;
this catalogue holds only the interface's own words. ``t(key, lang)`` fails loudly on an unknown
key so that a missing translation is a test failure, not a blank label on a video wall.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
# BCP 47 tags for <html lang>: browsers pick CJK glyph variants from it.
HTML_LANG = MappingProxyType({"zh": "zh-CN", "en": "en"})


class Message(NamedTuple):
    zh: str
    en: str


CATALOGUE: MappingProxyType[str, Message] = MappingProxyType({
    # Product frame
    "app.name": Message("城市运行管理中心", "City Operations Centre"),
    "app.tagline": Message("态势感知 · 指挥调度", "Situational awareness · Command and dispatch"),
    "app.window_title": Message("城市运行管理中心", "City Operations Centre"),
    "nav.label": Message("主导航", "Main navigation"),
    "lang.label": Message("界面语言", "Interface language"),
    # A language is always offered in its own words, whatever the current language.
    "lang.zh": Message("中文", "中文"),
    "lang.en": Message("English", "English"),
    # Pages known to the shell (other pages may also register name / name_en themselves)
    "page.home": Message("总览", "Overview"),
    "page.command": Message("指挥调度", "Command"),
    "page.wall": Message("大屏", "Video wall"),
    "page.briefing": Message("领导简报", "Briefing"),
    "page.studio": Message("配置工作室", "Studio"),
    "page.catalog": Message("资源目录", "Catalogue"),
    # Home page
    "home.title": Message("城市运行概览", "City overview"),
    "home.subtitle": Message("平台当前已加载的数据", "What the platform holds right now"),
    "home.read_at": Message("读取时间（北京时间）", "Read at (Beijing time)"),
    "home.data_version": Message("数据版本", "Data version"),
    "home.section.areas": Message("空间基础 · 行政区划与单元网格", "Spatial base · administrative areas and unit grids"),
    "home.section.records": Message("运行数据", "Operational records"),
    "home.records.incidents": Message("突发事件", "Incidents"),
    "home.records.work_orders": Message("12345 工单", "12345 work orders"),
    "home.records.sensors": Message("物联感知设备", "IoT sensors"),
    "home.empty.title": Message("平台尚无数据", "The platform holds no data yet"),
    "home.empty.body": Message(
        "运行 cityops demo 生成演示城市，或用 cityops ingest 导入各部门共享的数据。",
        "Run cityops demo to build the demo city, or cityops ingest to import the departments' shared data.",
    ),
    "home.db_error.title": Message("数据库暂不可用", "The database is unavailable"),
    "home.db_error.body": Message("页面将在数据库恢复后显示数据。错误信息：", "Data will show again once the database is back. Error:"),
    "catalogue.title": Message("政务信息资源目录", "Government information resource catalogue"),
    "catalogue.summary": Message("{total} 个资源，{stale} 个已过更新周期", "{total} datasets, {stale} past their update cycle"),
    "catalogue.empty": Message("资源目录为空。", "The catalogue is empty."),
    "catalogue.col.name": Message("资源名称", "Dataset"),
    "catalogue.col.provider": Message("提供部门", "Provider"),
    "catalogue.col.sharing": Message("共享类型", "Sharing"),
    "catalogue.col.cycle": Message("更新周期", "Update cycle"),
    "catalogue.col.last_update": Message("最近更新", "Last update"),
    "catalogue.col.rows": Message("记录数", "Rows"),
    "catalogue.col.freshness": Message("鲜活度", "Freshness"),
    "freshness.fresh": Message("正常", "Fresh"),
    "freshness.late": Message("延迟", "Late"),
    "freshness.stale": Message("已过期", "Stale"),
    "freshness.unknown": Message("未知", "Unknown"),
    "value.none": Message("—", "—"),
    # Live updates (assets/cityops-live.js sets <html data-live-state>; CSS shows the matching label)
    "live.status.label": Message("实时推送", "Live updates"),
    "live.status.connecting": Message("连接中", "Connecting"),
    "live.status.live": Message("实时", "Live"),
    "live.status.reconnecting": Message("重连中", "Reconnecting"),
    "home.live.title": Message("最新事件", "Latest incidents"),
    "home.live.note": Message("实时推送，无需刷新", "Pushed live, no reload needed"),
    "home.live.empty": Message("暂无事件。", "No incidents yet."),
    "home.live.new": Message("新", "New"),
    # Not found
    "not_found.title": Message("页面不存在", "Page not found"),
    "not_found.body": Message("这个地址没有对应的页面。", "There is no page at this address."),
    "not_found.back": Message("返回总览", "Back to the overview"),
    # --- command page (app/pages/command.py, app/command/) -------------------------------------
    "command.grids_missing": Message("本区域尚未导入单元网格，以六边形网格（H3）代替", "No unit grids are loaded here yet: H3 hexagons stand in"),
    "command.title": Message("指挥调度台", "Command console"),
    "command.subtitle": Message("逐级下钻：全市 → 区县 → 街道 → 社区 → 单元网格 → 事件", "Drill down: city → district → street → community → unit grid → incident"),
    "command.map.label": Message("城市态势地图", "City situation map"),
    "command.map.hint": Message("点击区域下钻，点击事件查看详情", "Click an area to drill down, an incident for its detail"),
    "command.crumbs.label": Message("当前位置", "You are here"),
    "command.controls.label": Message("图层与筛选", "Layers and filters"),
    "command.controls.layers": Message("图层", "Layers"),
    "command.controls.window": Message("时间范围", "Time window"),
    "command.window.24h": Message("近24小时", "Last 24 h"),
    "command.window.7d": Message("近7天", "Last 7 days"),
    "command.window.custom": Message("自定义", "Custom"),
    "command.window.from": Message("开始（北京时间）", "From (Beijing time)"),
    "command.window.to": Message("结束（北京时间）", "To (Beijing time)"),
    "command.window.apply": Message("应用", "Apply"),
    "command.window.range": Message("{start} 至 {end}", "{start} to {end}"),
    "command.filters.title": Message("筛选", "Filters"),
    "command.filters.category": Message("事件类别", "Category"),
    "command.filters.severity": Message("事件等级", "Severity"),
    "command.filters.status": Message("处置状态", "Status"),
    "command.filters.channel": Message("来源渠道", "Channel"),
    "command.filters.any": Message("全部", "All"),
    "command.playback.title": Message("回放", "Playback"),
    "command.playback.play": Message("播放", "Play"),
    "command.playback.pause": Message("暂停", "Pause"),
    "command.playback.speed": Message("速度", "Speed"),
    "command.playback.live": Message("实时", "Live"),
    "command.playback.cursor": Message("回放至 {time}", "Played back to {time}"),
    "command.kpi.title": Message("运行指标", "Key indicators"),
    "command.kpi.incidents": Message("突发事件", "Incidents"),
    "command.kpi.open": Message("未办结", "Open"),
    "command.kpi.workorders": Message("12345 工单", "12345 work orders"),
    "command.kpi.overdue": Message("超期", "Overdue"),
    "command.kpi.aqi": Message("空气质量指数", "Air quality index"),
    "command.kpi.aqi_scope": Message("取自{area}站点", "from stations in {area}"),
    "command.kpi.congestion": Message("交通拥堵指数", "Congestion index"),
    "command.kpi.data_time": Message("数据时间 {time}", "Data time {time}"),
    "command.kpi.stale": Message("数据已过时", "Stale data"),
    "command.kpi.no_data": Message("暂无数据", "No data"),
    "command.kpi.window": Message("统计时段 {range}", "Window {range}"),
    "command.children.title": Message("下级区域 · {level}", "Areas below · {level}"),
    "command.children.count": Message("事件数", "Incidents"),
    "command.grid.incidents": Message("网格内事件", "Incidents in this grid"),
    "command.grid.workorders": Message("网格内 12345 工单", "12345 work orders in this grid"),
    "command.grid.workorders_total": Message("共 {total} 件，超期 {overdue} 件", "{total} in all, {overdue} overdue"),
    "command.list.empty": Message("该时段内没有事件。", "No incidents in this window."),
    "command.list.more": Message("仅显示最新 {count} 条", "Showing the newest {count}"),
    "command.incident.title": Message("事件详情", "Incident detail"),
    "command.incident.back": Message("返回列表", "Back to the list"),
    "command.incident.category": Message("类别", "Category"),
    "command.incident.severity": Message("等级", "Severity"),
    "command.incident.status": Message("状态", "Status"),
    "command.incident.channel": Message("来源", "Channel"),
    "command.incident.reported_at": Message("上报时间", "Reported"),
    "command.incident.reporter": Message("报告人", "Reporter"),
    "command.incident.phone": Message("联系电话", "Phone"),
    "command.incident.address": Message("地址", "Address"),
    "command.incident.masked": Message("个人信息已脱敏", "Personal data masked"),
    "command.incident.timeline": Message("处置过程", "Lifecycle"),
    "command.incident.resources": Message("最近应急资源", "Nearest emergency resources"),
    "command.incident.distance": Message("距离", "Distance"),
    "command.incident.travel": Message("预计到达", "Travel time"),
    "command.incident.minutes": Message("{minutes} 分钟", "{minutes} min"),
    "command.incident.km": Message("{km} 公里", "{km} km"),
    "command.incident.by_network": Message("按路网", "by road"),
    "command.incident.by_line": Message("按直线估算", "straight-line estimate"),
    "command.incident.no_resources": Message("无可用资源数据。", "No resource data."),
    "command.problem.title": Message("链接中有参数无法使用，已按默认显示：", "Some link parameters could not be used; defaults are shown:"),
    "command.problem.area_form": Message("区划代码「{value}」格式不正确（应为6至15位数字）", "Area code \"{value}\" is malformed (6 to 15 digits expected)"),
    "command.problem.area_unknown": Message("区划代码「{value}」不存在，已显示全市", "There is no area with code \"{value}\"; showing the city"),
    "command.problem.layer": Message("未知图层「{value}」已忽略", "Unknown layer \"{value}\" ignored"),
    "command.problem.window": Message("时间范围「{value}」无效（可选 24h、7d、custom）", "Time window \"{value}\" is invalid (24h, 7d or custom)"),
    "command.problem.time": Message("时间「{value}」无法识别（例：2026-11-21T08:00）", "Time \"{value}\" is not understood (e.g. 2026-11-21T08:00)"),
    "command.problem.time_missing": Message("自定义时段需要开始和结束时间", "A custom window needs both a start and an end"),
    "command.problem.time_order": Message("开始时间「{value}」须早于结束时间", "The start \"{value}\" must be before the end"),
    "command.problem.time_span": Message("自定义时段最长92天（开始「{value}」）", "A custom window is at most 92 days (start \"{value}\")"),
    "command.problem.incident_form": Message("事件编号「{value}」格式不正确", "Incident id \"{value}\" is malformed"),
    "command.problem.incident_unknown": Message("事件「{value}」不存在", "There is no incident \"{value}\""),
    "command.problem.filter": Message("筛选值「{value}」无效，已忽略", "Filter value \"{value}\" is invalid and was ignored"),
    "command.problem.no_city": Message("平台尚无行政区划数据。", "The platform holds no administrative areas yet."),
    "command.legend.title": Message("图例", "Legend"),
    # HJ 633-2012 AQI levels (the standard's own words; English as the national platform uses them)
    "command.aqi.level.1": Message("优", "Good"),
    "command.aqi.level.2": Message("良", "Moderate"),
    "command.aqi.level.3": Message("轻度污染", "Lightly polluted"),
    "command.aqi.level.4": Message("中度污染", "Moderately polluted"),
    "command.aqi.level.5": Message("重度污染", "Heavily polluted"),
    "command.aqi.level.6": Message("严重污染", "Severely polluted"),
    # --- layers (map layers: names, legends, tooltips; owned by layers/) ------------------------
    # Not a text: tells a layer which of a bilingual value (area name, vocabulary term) to show.
    "layers.language": Message("zh", "en"),
    "layers.no_data": Message("无数据", "No data"),
    "layers.value.count": Message("数量", "Count"),
    "layers.value.mean": Message("均值", "Mean"),
    "layers.classes.quantile": Message("{value}：分位数分级，{classes} 级", "{value}: quantile classes, {classes} classes"),
    "layers.classes.natural": Message("{value}：自然断点分级，{classes} 级", "{value}: natural breaks, {classes} classes"),
    "layers.basemap.title": Message("底图", "Basemap"),
    "layers.basemap.sea": Message("海域", "Sea"),
    "layers.basemap.land": Message("陆地", "Land"),
    "layers.basemap.coastline": Message("海岸线", "Coastline"),
    "layers.basemap.note": Message("由本市空间数据绘制，无需联网", "Drawn from the city's own spatial data, no internet needed"),
    "layers.basemap.tiles_note": Message("已配置的瓦片底图", "Configured tile basemap"),
    "layers.boundaries.title": Message("行政区划", "Administrative areas"),
    "layers.boundaries.area": Message("区划边界", "Boundary"),
    "layers.boundaries.selected": Message("当前选中", "Selected"),
    "layers.grid_choropleth.title": Message("单元网格分布", "Unit grids"),
    "layers.h3.title": Message("六边形网格分布", "Hexagon cells"),
    "layers.incidents.title": Message("突发事件", "Incidents"),
    "layers.incidents.note_points": Message("颜色表示事件级别，图标表示事件类别", "Colour: level; marker: category"),
    "layers.incidents.aggregated_title": Message("突发事件（六边形汇总）", "Incidents (hexagon totals)"),
    "layers.incidents.aggregated_note": Message(
        "颜色为格内最高级别，越不透明事件越多；放大查看单个事件",
        "Colour: highest level in the cell; more opaque, more incidents; zoom in for single incidents",
    ),
    "layers.incidents.cell": Message("{count} 起事件，最高级别 {level}", "{count} incidents, highest level {level}"),
    "layers.incidents.new": Message("新事件（{minutes} 分钟内）", "New (last {minutes} min)"),
    "layers.incident_heatmap.title": Message("事件热力", "Incident density"),
    "layers.heat.low": Message("低", "Low"),
    "layers.heat.high": Message("高", "High"),
    "layers.heat.note": Message("按事件级别加权（Ⅰ级权重最高）", "Weighted by level (level I counts most)"),
    "layers.traffic.title": Message("实时路况", "Traffic"),
    "layers.traffic.no_data": Message("无实时数据", "No live data"),
    "layers.traffic.index": Message("拥堵指数 {index}", "Congestion index {index}"),
    "layers.traffic.speed": Message("平均车速 {speed} km/h", "Mean speed {speed} km/h"),
    "layers.traffic.note": Message("线宽表示道路等级", "Line width: road class"),
    "layers.air_stations.title": Message("空气质量监测站", "Air-quality stations"),
    "layers.aqi.note": Message("按 HJ 633-2012 六级着色", "Coloured by the six levels of HJ 633-2012"),
    "layers.aqi.primary": Message("首要污染物 {pollutant}", "Primary pollutant {pollutant}"),
    "layers.aqi.level1": Message("优", "Excellent"),
    "layers.aqi.level2": Message("良", "Good"),
    "layers.aqi.level3": Message("轻度污染", "Lightly polluted"),
    "layers.aqi.level4": Message("中度污染", "Moderately polluted"),
    "layers.aqi.level5": Message("重度污染", "Heavily polluted"),
    "layers.aqi.level6": Message("严重污染", "Severely polluted"),
    "layers.aqi_surface.title": Message("空气质量插值面", "Interpolated air quality"),
    "layers.aqi_surface.note": Message(
        "由 {stations} 个监测站浓度反距离加权插值后计算 AQI",
        "AQI from concentrations interpolated (inverse distance) from {stations} stations",
    ),
    "layers.aqi_surface.estimated": Message("插值估算值", "Interpolated estimate"),
    "layers.resources.title": Message("应急资源", "Emergency resources"),
    "layers.resources.capacity": Message("容量 {capacity} {unit}", "Capacity {capacity} {unit}"),
    "layers.sensors.title": Message("物联感知设备", "IoT sensors"),
    "layers.route.title": Message("调度路线", "Dispatch routes"),
    "layers.route.incident": Message("事件位置", "Incident"),
    "layers.route.km": Message("{km} 公里", "{km} km"),
    "layers.route.m": Message("{m} 米", "{m} m"),
    "layers.route.minutes": Message("约 {minutes} 分钟", "about {minutes} min"),
    "layers.route.method.network": Message("按路网估算", "Road-network estimate"),
    "layers.route.method.straight_line": Message("按直线距离估算", "Straight-line estimate"),
    "layers.route.note": Message("连线为示意直线，时间按路网估算", "Straight lines for orientation; times estimated on the road network"),
    # --- end layers -------------------------------------------------------------------------------
})


def normalise_lang(value, default: str = DEFAULT_LANGUAGE) -> str:
    """A supported language code from a query value such as ``en``, ``zh-CN`` or ``EN``."""
    if isinstance(value, str):
        code = value.strip().lower().split("-")[0].split("_")[0]
        if code in LANGUAGES:
            return code
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values) -> str:
    """The text of ``key`` in ``lang`` (``zh``/``en``), formatted with ``values``."""
    message = CATALOGUE[key]
    text = message.en if normalise_lang(lang) == "en" else message.zh
    return text.format(**values) if values else text
