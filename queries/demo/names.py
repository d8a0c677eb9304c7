"""Chinese names for the demo city: districts, townships, communities, roads and (fake) people.

The district codes and names are the real GB/T 2260 ones of 连云港市; township names are real names
of each district's streets and towns (positions inside the district are invented), extended with
generated names when a scale needs more. People and phone numbers are fake but well-formed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CITY_CODE = "320700"
CITY_NAME = "连云港市"
CITY_NAME_EN = "Lianyungang"


@dataclass(frozen=True)
class DistrictSpec:
    code: str
    name: str
    name_en: str
    anchors: tuple[tuple[float, float], ...]  # lon/lat points the district grows around
    land_km2: float  # target land area
    seat: tuple[float, float]  # government seat (county town), lon/lat
    street_names: tuple[str, ...]  # 街道 (urban), in order of how central they are
    town_names: tuple[str, ...]  # 镇 and 乡


DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec(
        "320703", "连云区", "Lianyun District", ((119.40, 34.73), (119.52, 34.64), (119.62, 34.57)), 760, (119.41, 34.74),
        ("墟沟街道", "连云街道", "云山街道", "板桥街道", "连岛街道", "海州湾街道", "宿城街道", "高公岛街道", "徐圩街道", "朝阳街道", "中云街道", "猴嘴街道"),
        (),
    ),
    DistrictSpec(
        "320706", "海州区", "Haizhou District", ((119.17, 34.60), (119.06, 34.52)), 710, (119.17, 34.60),
        ("新浦街道", "海州街道", "幸福路街道", "朐阳街道", "洪门街道", "宁海街道", "浦西街道", "新东街道", "新南街道", "路南街道", "新海街道", "花果山街道", "南城街道", "云台街道", "郁州街道"),
        ("锦屏镇", "板浦镇", "浦南镇", "新坝镇"),
    ),
    DistrictSpec(
        "320707", "赣榆区", "Ganyu District", ((119.10, 34.86), (119.02, 34.98), (119.18, 35.04)), 1510, (119.12, 34.84),
        ("青口街道", "罗阳街道", "赣马街道", "城西街道"),
        ("柘汪镇", "石桥镇", "金山镇", "黑林镇", "厉庄镇", "海头镇", "塔山镇", "班庄镇", "城头镇", "宋庄镇", "沙河镇", "墩尚镇", "门河镇"),
    ),
    DistrictSpec(
        "320722", "东海县", "Donghai County", ((118.78, 34.56), (118.55, 34.50), (118.85, 34.42)), 2040, (118.77, 34.54),
        ("牛山街道", "石榴街道"),
        ("白塔埠镇", "黄川镇", "石梁河镇", "青湖镇", "温泉镇", "双店镇", "桃林镇", "洪庄镇", "安峰镇", "房山镇", "平明镇", "驼峰乡", "李埝乡", "山左口乡", "石湖乡", "曲阳乡", "张湾乡"),
    ),
    DistrictSpec(
        "320723", "灌云县", "Guanyun County", ((119.25, 34.30), (119.45, 34.38), (119.12, 34.42)), 1540, (119.24, 34.29),
        ("伊山街道", "侍庄街道"),
        ("杨集镇", "燕尾港镇", "同兴镇", "四队镇", "圩丰镇", "龙苴镇", "下车镇", "图河镇", "东王集镇", "伊芦乡", "南岗乡", "小伊乡", "鲁河乡"),
    ),
    DistrictSpec(
        "320724", "灌南县", "Guannan County", ((119.35, 34.10), (119.22, 34.05), (119.50, 34.16)), 1030, (119.35, 34.09),
        ("新安街道", "硕湖街道"),
        ("堆沟港镇", "田楼镇", "北陈集镇", "张店镇", "三口镇", "孟兴庄镇", "汤沟镇", "百禄镇", "新集镇", "李集镇", "花园乡"),
    ),
)

_PLACE_PREFIXES = tuple("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_PLACE_MODIFIERS = ("大", "小", "东", "西", "南", "北", "前", "后", "中", "新", "老", "上", "下", "高", "沙", "黄", "青", "双", "三", "五")
_VILLAGE_SUFFIXES = ("庄", "集", "圩", "沟", "湾", "河", "庙", "营", "岭", "墩", "港", "口", "桥", "荡", "埠", "店", "楼", "屯", "寨", "堆", "洼", "场", "岗", "林")
_URBAN_WORDS = (
    "幸福", "和平", "建设", "解放", "民主", "朝阳", "新华", "锦绣", "海宁", "花园", "明珠", "东盛", "陇海", "通灌", "苍梧", "凤凰", "瀛洲",
    "郁林", "海昌", "新建", "人民", "巨龙", "秀逸", "龙河", "蔷薇", "盐河", "利民", "振兴", "团结", "光明", "友谊", "文化", "学府", "育才",
    "海景", "滨河", "港城", "春晖", "嘉禾", "御景", "金海", "银河", "玉带", "云台", "花果", "孔望", "白虎", "月牙", "桃园", "翠苑", "紫薇",
    "丽景", "龙湖", "南极", "新城", "汇丰", "繁华", "兴隆", "安居", "宁静", "东方", "西园", "北固", "南苑", "中山", "新海", "海连", "东港",
)
_ROAD_WORDS = _URBAN_WORDS + ("新浦", "海州", "连云", "墟沟", "猴嘴", "板桥", "青口", "牛山", "伊山", "新安", "徐圩", "花果山", "玉带河", "大浦", "临洪")
_SURNAMES = tuple("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_GIVEN_CHARS = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宇浩凯健俊帆帅旭宁婷雪琳晨阳欣怡梓涵子轩雨泽博文佳琪思远海峰德明秀兰淑珍凤英卫东春梅")
# Mobile prefixes in use in China (the second digit is 3–9).
_MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "195", "198", "199")


def pick(rng: np.random.Generator, options, size: int | None = None):
    index = rng.integers(0, len(options), size=size)
    if size is None:
        return options[int(index)]
    return [options[i] for i in index]


def person_names(rng: np.random.Generator, count: int) -> list[str]:
    surnames = rng.integers(0, len(_SURNAMES), count)
    first = rng.integers(0, len(_GIVEN_CHARS), count)
    second = rng.integers(0, len(_GIVEN_CHARS), count)
    two_chars = rng.random(count) < 0.7
    return [
        _SURNAMES[s] + _GIVEN_CHARS[a] + (_GIVEN_CHARS[b] if two else "")
        for s, a, b, two in zip(surnames.tolist(), first.tolist(), second.tolist(), two_chars.tolist())
    ]


def phone_numbers(rng: np.random.Generator, count: int) -> list[str]:
    prefixes = rng.integers(0, len(_MOBILE_PREFIXES), count)
    tails = rng.integers(0, 100_000_000, count)
    return [_MOBILE_PREFIXES[p] + f"{t:08d}" for p, t in zip(prefixes.tolist(), tails.tolist())]


def unique_names(rng: np.random.Generator, count: int, make, taken: set[str] | None = None) -> list[str]:
    """``count`` distinct names from ``make(rng)``, numbering repeats when the generator runs dry."""
    taken = set() if taken is None else taken
    names = []
    for _ in range(count):
        for _attempt in range(30):
            name = make(rng)
            if name not in taken:
                break
        else:
            base, number = name, 2
            while f"{base}{number}" in taken:
                number += 1
            name = f"{base}{number}"
        taken.add(name)
        names.append(name)
    return names


def village_stem(rng: np.random.Generator) -> str:
    if rng.random() < 0.35:
        modifier, prefix = pick(rng, _PLACE_MODIFIERS), pick(rng, _PLACE_PREFIXES)
        if modifier != prefix:
            return modifier + prefix + pick(rng, _VILLAGE_SUFFIXES)
    return pick(rng, _PLACE_PREFIXES) + pick(rng, _VILLAGE_SUFFIXES)


def urban_stem(rng: np.random.Generator) -> str:
    word = pick(rng, _URBAN_WORDS)
    return word + pick(rng, ("", "", "东", "西", "南", "北", "新村", "花园", "家园", "里")) if rng.random() < 0.4 else word


def township_names(rng: np.random.Generator, spec: DistrictSpec, urban: list[bool]) -> list[str]:
    """Names for a district's streets/townships, urban ones as 街道, the others as 镇/乡."""
    streets = list(spec.street_names)
    towns = list(spec.town_names)
    taken = set(streets) | set(towns)
    names = []
    for is_urban in urban:
        is_urban = is_urban or not spec.town_names  # a district without towns (连云区) is all 街道
        pool = streets if is_urban else towns
        if pool:
            names.append(pool.pop(0))
        else:
            suffix = "街道" if is_urban else ("乡" if rng.random() < 0.2 else "镇")
            stem = urban_stem if is_urban else village_stem
            names.extend(unique_names(rng, 1, lambda r, stem=stem, suffix=suffix: stem(r) + suffix, taken))
    return names


def community_names(rng: np.random.Generator, urban: list[bool]) -> list[str]:
    taken: set[str] = set()
    return [
        unique_names(rng, 1, (lambda r: urban_stem(r) + "社区") if is_urban else (lambda r: village_stem(r) + "村"), taken)[0]
        for is_urban in urban
    ]


def road_name(rng: np.random.Generator, orientation: str) -> str:
    """An urban road name: east–west roads are often 路/大道, north–south ones 路/街."""
    suffix = pick(rng, ("路", "路", "路", "大道")) if orientation == "ew" else pick(rng, ("路", "路", "街", "大街"))
    return pick(rng, _ROAD_WORDS) + suffix
