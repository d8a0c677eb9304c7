"""Briefing specs (kind: briefing): the model, the checks against the catalogue, the files shipped
in specs/briefings/, and the store's effective briefing (published version, else the shipped file)."""
from __future__ import annotations

import copy
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from queries.settings import Settings
from queries.specs.files import (
    ShippedSpecError,
    shipped_specs,
    validate_file,
    validate_paths,
    validate_spec,
)
from queries.specs.model import BRIEFING_SECTION_TYPES, SpecCatalogue, validate_briefing
from queries.specs.store import (
    UnknownBriefing,
    effective_briefing,
    publish,
    save_version,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED_DIR = REPO_ROOT / "specs" / "briefings"
KNOWN = "attention, indicators, incidents, air_quality, traffic, hotline, gov_services, map"

BRIEFING = {
    "kind": "briefing",
    "spec_version": 1,
    "id": "city",
    "title": {"zh": "今日城市运行简报", "en": "Today's city briefing"},
    "sections": [
        {"type": "attention", "limit": 5},
        {"type": "indicators", "indicators": ["aqi", "hotline_volume"]},
        {"type": "incidents", "severities": [1, 2]},
        {"type": "hotline", "top_topics": 3},
    ],
}
CATALOGUE = SpecCatalogue(indicators=frozenset({"aqi", "hotline_volume", "gov_online_rate", "gov_service_volume"}),
                          areas=frozenset({"320700", "320706"}))

GOOD_FILE = """\
kind: briefing
spec_version: 1
id: city
title: {zh: 今日城市运行简报, en: "Today's city briefing"}
sections:
  - {type: attention}
  - type: indicators
    indicators: [aqi, hotline_volume]
  - {type: map, measure: aqi}
  - {type: hotline}
"""


def briefing(*sections, **changes) -> dict:
    body = copy.deepcopy(BRIEFING)
    if sections:
        body["sections"] = list(sections)
    body.update(changes)
    return body


def messages(result) -> list[str]:
    return [str(error) for error in result.errors]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the model ------------------------------------------------------------------------------------


def test_a_valid_briefing_and_its_defaults():
    result = validate_briefing(briefing(), CATALOGUE)
    assert result.errors == [] and result.spec is not None
    spec = result.spec
    assert [s.type for s in spec.sections] == ["attention", "indicators", "incidents", "hotline"]
    assert spec.area is None  # the city
    assert spec.title.get("en") == "Today's city briefing" and spec.title.get("zh") == "今日城市运行简报"
    assert spec.sections[0].limit == 5 and spec.sections[2].severities == [1, 2] and spec.sections[2].limit == 10
    defaults = validate_briefing(briefing({"type": "gov_services"}, {"type": "air_quality"}, {"type": "traffic"}, {"type": "map"}), CATALOGUE).spec
    assert defaults.sections[0].indicators == ["gov_online_rate", "gov_service_volume"]
    assert (defaults.sections[1].worst_stations, defaults.sections[2].worst_roads, defaults.sections[3].measure) == (5, 5, "incidents_today")
    # validate_spec dispatches on kind
    assert validate_spec(briefing(), CATALOGUE).errors == []


def test_every_section_type_is_accepted_once():
    sections = [{"type": kind, **({"indicators": ["aqi"]} if kind == "indicators" else {})} for kind in BRIEFING_SECTION_TYPES]
    assert validate_briefing(briefing(*sections), CATALOGUE).errors == []
    assert ", ".join(BRIEFING_SECTION_TYPES) == KNOWN


def test_an_unknown_section_type_is_named_with_its_place():
    result = validate_briefing(briefing({"type": "attention"}, {"type": "hotline"}, {"type": "weather"}), CATALOGUE)
    assert result.spec is None
    assert messages(result) == [f"sections[2]: unknown section type 'weather'; known: {KNOWN}"]


def test_a_section_without_type_lists_the_types():
    result = validate_briefing(briefing({"type": "attention"}, {"title": "无类型"}), CATALOGUE)
    assert messages(result) == [f"sections[1]: missing 'type'; one of: {KNOWN}"]


def test_duplicate_section_types_are_refused_except_indicators():
    result = validate_briefing(briefing({"type": "attention"}, {"type": "hotline"}, {"type": "map"}, {"type": "hotline"},
                                        {"type": "attention"}), CATALOGUE)
    assert result.spec is not None  # the shape is fine; the check names both repeats and where the first is
    assert messages(result) == [
        "sections[3].type: a 'hotline' section is already at sections[1]",
        "sections[4].type: a 'attention' section is already at sections[0]",
    ]
    several = validate_briefing(briefing({"type": "indicators", "indicators": ["aqi"]}, {"type": "hotline"},
                                         {"type": "indicators", "indicators": ["hotline_volume"], "title": "热线"}), CATALOGUE)
    assert several.errors == []


def test_unknown_indicators_are_checked_against_the_catalogue():
    body = briefing({"type": "indicators", "indicators": ["aqi", "nope"]}, {"type": "indicators", "indicators": ["gone"]},
                    {"type": "gov_services", "indicators": ["gov_online_rate", "missing_rate"]})
    assert messages(validate_briefing(body, CATALOGUE)) == [
        "sections[0].indicators[1]: unknown indicator 'nope'",
        "sections[1].indicators[0]: unknown indicator 'gone'",
        "sections[2].indicators[1]: unknown indicator 'missing_rate'",
    ]
    # Without a catalogue (offline) only the structure is checked.
    assert validate_briefing(body).errors == []
    assert validate_briefing(body, SpecCatalogue()).errors == []
    # gov_services' default indicators are catalogue codes too.
    assert messages(validate_briefing(briefing({"type": "gov_services"}), SpecCatalogue(indicators=frozenset({"aqi"})))) == [
        "sections[0].indicators[0]: unknown indicator 'gov_online_rate'",
        "sections[0].indicators[1]: unknown indicator 'gov_service_volume'",
    ]


def test_the_area_must_exist_in_the_catalogue():
    assert validate_briefing(briefing(area="320706"), CATALOGUE).errors == []
    assert messages(validate_briefing(briefing(area="320799"), CATALOGUE)) == ["area: unknown area '320799'"]
    assert validate_briefing(briefing(area="320799")).errors == []  # offline: unchecked
    assert validate_briefing(briefing(area="32070"), CATALOGUE).spec is None  # not an area code at all


@pytest.mark.parametrize(("change", "where"), [
    ({"sections": []}, "sections"),
    ({"extra": 1}, "extra"),
    ({"spec_version": 2}, "spec_version"),
    ({"title": {"en": "English only"}}, "title.zh"),
])
def test_shape_errors_name_the_field(change, where):
    result = validate_briefing(briefing(**change), CATALOGUE)
    assert result.spec is None and where in [error.path for error in result.errors], messages(result)


@pytest.mark.parametrize(("section", "where"), [
    ({"type": "attention", "limit": 0}, "sections[0].limit"),
    ({"type": "incidents", "severities": [5]}, "sections[0].severities[0]"),
    ({"type": "incidents", "severities": []}, "sections[0].severities"),
    ({"type": "indicators", "indicators": []}, "sections[0].indicators"),
    ({"type": "map", "measure": "rain"}, "sections[0].measure"),
    ({"type": "hotline", "colour": "red"}, "sections[0].colour"),
])
def test_section_fields_are_checked(section, where):
    result = validate_briefing(briefing(section), CATALOGUE)
    assert result.spec is None and [error.path for error in result.errors] == [where], messages(result)


def test_a_briefing_is_a_mapping():
    assert messages(validate_briefing(["attention"])) == ["(document): a briefing spec is a mapping, not list"]


# --- files ----------------------------------------------------------------------------------------


def test_a_file_error_points_at_its_line(tmp_path):
    assert validate_file(write(tmp_path, "city.yaml", GOOD_FILE), CATALOGUE) == []
    path = write(tmp_path, "bad.yaml", GOOD_FILE.replace("[aqi, hotline_volume]", "[aqi, nope]").replace("{type: hotline}", "{type: weather}"))
    errors = validate_file(path, CATALOGUE)
    # The unknown type is a shape error: the spec is not built, so the indicator is not checked yet.
    assert [(e.line, e.path) for e in errors] == [(10, "sections[3]")]
    assert str(errors[0]) == f"{path}:10: sections[3]: unknown section type 'weather'; known: {KNOWN}"
    path = write(tmp_path, "bad2.yaml", GOOD_FILE.replace("[aqi, hotline_volume]", "[aqi, nope]").replace("{type: hotline}", "{type: attention}"))
    assert [str(e) for e in validate_file(path, CATALOGUE)] == [
        f"{path}:8: sections[1].indicators[1]: unknown indicator 'nope'",
        f"{path}:10: sections[3].type: a 'attention' section is already at sections[0]",
    ]


def demo_catalogue() -> SpecCatalogue:
    """What the demo city holds: its indicator codes and the city with its six districts."""
    from queries.demo.catalogue import INDICATORS

    return SpecCatalogue(indicators=frozenset(spec.code for spec in INDICATORS),
                         areas=frozenset({"320700", "320703", "320706", "320707", "320722", "320723", "320724"}))


def test_the_shipped_briefings_are_valid_against_the_demo_catalogue():
    files = sorted(SHIPPED_DIR.glob("*.yaml"))
    assert [p.name for p in files] == ["city.yaml", "haizhou.yaml"]
    assert validate_paths([SHIPPED_DIR], demo_catalogue()) == []
    shipped = shipped_specs("briefing", Settings(specs_dir=None))
    assert sorted(shipped) == ["city", "haizhou"]
    city = shipped["city"]
    assert city.area is None and city.sections[0].type == "attention"
    assert {s.type for s in city.sections} == set(BRIEFING_SECTION_TYPES)  # the city briefing shows every type
    assert shipped["haizhou"].area == "320706"


def test_a_broken_shipped_briefing_is_one_clear_exception(tmp_path):
    write(tmp_path, "briefings/city.yaml", GOOD_FILE)
    write(tmp_path, "briefings/bad.yaml", GOOD_FILE.replace("id: city", "id: bad").replace("{type: hotline}", "{type: weather}"))
    write(tmp_path, "briefings/twin.yaml", GOOD_FILE)
    with pytest.raises(ShippedSpecError) as caught:
        shipped_specs("briefing", Settings(specs_dir=tmp_path))
    message = str(caught.value)
    assert "bad.yaml:10: sections[3]: unknown section type 'weather'" in message
    assert "twin.yaml:3: id: briefing 'city' is already declared" in message


def run_validate(*args: str, database_url: str | None = None):
    from app.cli import main

    env = {"CITYOPS_DATABASE_URL": database_url, "CITYOPS_SPECS_DIR": None, "CITYOPS_REDIS_URL": None}
    return CliRunner().invoke(main, ["specs", "validate", *args], env=env, catch_exceptions=False)


def test_cityops_specs_validate_passes_on_the_shipped_specs(engine, tmp_path):
    from queries.demo.catalogue import INDICATORS
    from queries.schema import Area, Indicator
    from tests.app.conftest import url_of

    offline = run_validate("--offline", str(REPO_ROOT / "specs"))
    assert offline.exit_code == 0, offline.output
    with engine.begin() as conn:
        conn.execute(insert(Indicator), [{"code": s.code, "name_zh": s.name_zh, "name_en": s.name_en, "domain": s.domain} for s in INDICATORS])
        conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市"},
                                    {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700"}])
    checked = run_validate(str(REPO_ROOT / "specs"), database_url=url_of(engine))
    assert checked.exit_code == 0, checked.output
    # The same folder with one indicator the database does not know: exit 1, file and line named.
    copy_dir = tmp_path / "specs"
    shutil.copytree(REPO_ROOT / "specs", copy_dir)
    city = copy_dir / "briefings" / "city.yaml"
    city.write_text(city.read_text(encoding="utf-8").replace("gov_online_rate]", "gov_offline_rate]"), encoding="utf-8")
    broken = run_validate(str(copy_dir), database_url=url_of(engine))
    assert broken.exit_code == 1
    assert f"{city}:11: sections[1].indicators[5]: unknown indicator 'gov_offline_rate'" in broken.output


# --- the effective briefing -------------------------------------------------------------------------


def test_effective_briefing_from_the_shipped_file_then_the_published_version(engine, tmp_path):
    settings = Settings(specs_dir=tmp_path)
    write(tmp_path, "briefings/city.yaml", GOOD_FILE)
    with engine.begin() as conn:
        shipped = effective_briefing(conn, "city", settings)
        assert (shipped.source, shipped.version, shipped.spec.title.zh) == ("file", None, "今日城市运行简报")
        with pytest.raises(UnknownBriefing) as caught:
            effective_briefing(conn, "nowhere", settings)
        assert caught.value.known == ["city"] and "known briefings: city" in str(caught.value)
        save_version(conn, briefing(title={"zh": "发布版简报"}), author="alice", catalogue=CATALOGUE)
        assert effective_briefing(conn, "city", settings).source == "file"  # a draft is not shown
        publish(conn, "briefing", "city", 1, by="chief", catalogue=CATALOGUE)
        live = effective_briefing(conn, "city", settings)
        assert (live.source, live.version, live.spec.title.zh) == ("database", 1, "发布版简报")
        save_version(conn, briefing(id="ops", title={"zh": "只在库里"}), author="alice", catalogue=CATALOGUE)
        publish(conn, "briefing", "ops", 1, by="chief", catalogue=CATALOGUE)
        assert effective_briefing(conn, "ops", settings).spec.title.zh == "只在库里"
        with pytest.raises(UnknownBriefing) as caught:
            effective_briefing(conn, "nowhere", settings)
        assert caught.value.known == ["city", "ops"]
