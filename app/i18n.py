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
    # Not found
    "not_found.title": Message("页面不存在", "Page not found"),
    "not_found.body": Message("这个地址没有对应的页面。", "There is no page at this address."),
    "not_found.back": Message("返回总览", "Back to the overview"),
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
