"""The indicator picker's search: an analyst types Chinese (空气), pinyin (kongqi), pinyin
initials (kq), English (PM2.5) or the code, and gets the matching indicators of the catalogue.

The keys are built per call from the (cached) indicator list; pypinyin converts the names.
Matching ignores case, spaces and punctuation, so ``pm2.5``, ``PM 2.5`` and ``pm25`` are the same.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RESULTS = 40
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class IndicatorChoice:
    code: str
    name_zh: str
    name_en: str
    unit: str | None
    keys: tuple[str, ...]  # normalised search keys

    def label(self, lang: str) -> str:
        first, second = (self.name_en, self.name_zh) if lang == "en" else (self.name_zh, self.name_en)
        unit = f" · {self.unit}" if self.unit else ""
        return f"{first} · {second}{unit} ({self.code})"


def normalise(text: str) -> str:
    return _NOISE.sub("", (text or "").lower())


def search_keys(code: str, name_zh: str, name_en: str) -> tuple[str, ...]:
    """Code, names, the Chinese name's full pinyin (kongqizhiliangzhishu) and its initials (kqzlzs)."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(name_zh or "")
    initials = lazy_pinyin(name_zh or "", style=Style.FIRST_LETTER)
    keys = (code, name_zh, name_en, "".join(syllables), "".join(initials))
    return tuple(dict.fromkeys(normalise(k) for k in keys if k))


def choices_from(frame) -> list[IndicatorChoice]:
    """Choices from an indicator frame (``queries.indicators.list_indicators``), in its order."""
    rows = frame.to_dict("records") if hasattr(frame, "to_dict") else list(frame)
    out = []
    for row in rows:
        unit = row.get("unit")
        unit = None if unit is None or unit != unit else str(unit)  # NaN → None
        name_en = row.get("name_en") or row["code"]
        out.append(IndicatorChoice(row["code"], row["name_zh"], name_en, unit, search_keys(row["code"], row["name_zh"], name_en)))
    return out


def indicator_choices() -> list[IndicatorChoice]:
    """Every indicator of the catalogue (through the query cache)."""
    from app.context import run_query
    from queries.indicators import list_indicators

    return choices_from(run_query(list_indicators))


def search(choices: list[IndicatorChoice], query: str | None, limit: int = MAX_RESULTS) -> list[IndicatorChoice]:
    """The choices matching ``query`` (all when it is empty); those whose key starts with it first."""
    wanted = normalise(query or "")
    if not wanted:
        return choices[:limit]
    starts, contains = [], []
    for choice in choices:
        if any(key.startswith(wanted) for key in choice.keys):
            starts.append(choice)
        elif any(wanted in key for key in choice.keys):
            contains.append(choice)
    return (starts + contains)[:limit]


def options(choices: list[IndicatorChoice], query: str | None, lang: str, keep=()) -> list[dict]:
    """RadioItems/Checklist options of the matches, plus the indicators in ``keep`` (what is
    selected now stays visible and checked whatever the search)."""
    found = search(choices, query)
    codes = {c.code for c in found}
    kept = [c for c in choices if c.code in set(keep) and c.code not in codes]
    unknown = [code for code in keep if code and code not in {c.code for c in choices}]
    return ([{"label": c.label(lang), "value": c.code} for c in kept + found]
            + [{"label": f"{code} (?)", "value": code} for code in unknown])
