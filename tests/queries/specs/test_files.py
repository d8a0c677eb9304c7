"""Spec files: every problem reported once, at the line a person would look at."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from queries.settings import Settings
from queries.specs.files import (
    DocumentError,
    ShippedSpecError,
    default_specs_dir,
    line_for,
    load_document,
    shipped_walls,
    validate_file,
    validate_paths,
)
from queries.specs.model import SpecCatalogue

REPO_ROOT = Path(__file__).resolve().parents[3]

GOOD = """\
kind: wall
id: default
title: {zh: 城市运行总览, en: City overview}
scenes:
  - id: overview
    panels:
      - {id: map, type: map, at: {col: 1, row: 1, col_span: 12, row_span: 12}, layers: [basemap, incidents]}
      - id: aqi
        type: kpi
        indicator: aqi
        at: {col: 13, row: 1, col_span: 4, row_span: 4}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def lines_of(errors) -> list[tuple[int | None, str]]:
    return [(e.line, e.path) for e in errors]


def test_a_valid_file_has_no_errors(tmp_path):
    path = write(tmp_path, "default.yaml", GOOD)
    assert validate_file(path, SpecCatalogue(indicators=frozenset({"aqi"}), layers=frozenset({"basemap", "incidents"}))) == []


def test_load_document_maps_every_path_to_its_line(tmp_path):
    data, line_of = load_document(write(tmp_path, "default.yaml", GOOD))
    assert data["scenes"][0]["panels"][1]["indicator"] == "aqi"
    assert line_of[""] == 1 and line_of["title"] == 3 and line_of["scenes[0]"] == 5
    assert line_of["scenes[0].panels[0]"] == 7 and line_of["scenes[0].panels[0].layers[1]"] == 7
    assert line_of["scenes[0].panels[1]"] == 8 and line_of["scenes[0].panels[1].indicator"] == 10


def test_line_for_falls_back_to_the_enclosing_node():
    line_of = {"": 1, "scenes": 4, "scenes[0]": 5, "scenes[0].panels": 6, "scenes[0].panels[1]": 8}
    assert line_for("scenes[0].panels[1].indicator", line_of) == 8
    assert line_for("scenes[0].panels[3]", line_of) == 6
    assert line_for("title.zh", line_of) == 1
    assert line_for("anything", {}) is None


def test_a_field_error_points_at_its_line(tmp_path):
    path = write(tmp_path, "w.yaml", GOOD.replace("indicator: aqi", "indicator: nope"))
    errors = validate_file(path, SpecCatalogue(indicators=frozenset({"aqi"})))
    assert lines_of(errors) == [(10, "scenes[0].panels[1].indicator")]
    assert str(errors[0]) == f"{path}:10: scenes[0].panels[1].indicator: unknown indicator 'nope'"


def test_a_missing_field_points_at_its_mapping(tmp_path):
    path = write(tmp_path, "w.yaml", GOOD.replace("        indicator: aqi\n", ""))
    errors = validate_file(path)
    assert lines_of(errors) == [(8, "scenes[0].panels[1].indicator")]
    assert "Field required" in errors[0].message


def test_a_missing_top_level_field_points_at_the_document(tmp_path):
    path = write(tmp_path, "w.yaml", "# comment\n" + GOOD.replace("title: {zh: 城市运行总览, en: City overview}\n", ""))
    assert lines_of(validate_file(path)) == [(2, "title")]


def test_several_errors_in_one_file_are_all_reported_in_line_order(tmp_path):
    text = GOOD.replace("type: kpi", "type: kpi\n        window: 3d").replace("id: overview", "id: Overview")
    errors = validate_file(write(tmp_path, "w.yaml", text))
    assert lines_of(errors) == [(5, "scenes[0].id"), (10, "scenes[0].panels[1].window")]


def test_a_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path, "w.yaml", "kind: wall\nid: x\n  title: y: z\n")
    [error] = validate_file(path)
    assert error.line == 3 and error.column is not None and error.path == ""
    assert "invalid YAML" in error.message and f"column {error.column}" in error.message
    assert str(error).startswith(f"{path}:3: (document): invalid YAML")
    with pytest.raises(DocumentError) as caught:
        load_document(path)
    assert caught.value.errors == [error]


def test_duplicate_keys_are_reported_with_their_line(tmp_path):
    text = GOOD.replace("        indicator: aqi\n", "        indicator: aqi\n        indicator: co\n").replace("id: default", "id: default\nid: other")
    path = write(tmp_path, "w.yaml", text)
    errors = validate_file(path, SpecCatalogue(indicators=frozenset({"aqi", "co"})))
    assert lines_of(errors) == [(3, "id"), (12, "scenes[0].panels[1].indicator")]
    assert all("duplicate key" in e.message for e in errors)
    with pytest.raises(DocumentError):
        load_document(path)


def test_a_yaml_merge_key_is_not_a_duplicate(tmp_path):
    text = GOOD + "emergency:\n  <<: {id: alarm, dwell: 30}\n  dwell: 20\n  panels: [{id: card, type: incident_card, at: {col: 1, row: 1}}]\n"
    data, _ = load_document(write(tmp_path, "w.yaml", text))
    assert data["emergency"]["id"] == "alarm" and data["emergency"]["dwell"] == 20


def test_json_files_get_lines_and_json_semantics(tmp_path):
    body = {"kind": "wall", "id": "j", "title": "总览", "scenes": [{"id": "s", "panels": [{"id": "p", "type": "kpi", "at": {"col": 1, "row": 1}, "indicator": 5}]}]}
    text = json.dumps(body, ensure_ascii=False, indent="\t")  # tabs: JSON whitespace, a YAML error
    errors = validate_file(write(tmp_path, "w.json", text))
    assert [(e.path, e.line) for e in errors] == [("scenes[0].panels[0].indicator", text.splitlines().index('\t\t\t\t\t"indicator": 5') + 1)]
    broken = write(tmp_path, "broken.json", '{"kind": "wall",\n "id": }')
    [error] = validate_file(broken)
    assert error.line == 2 and error.message.startswith("invalid JSON")
    repeated = write(tmp_path, "dup.json", '{"kind": "wall",\n "kind": "wall"}')
    assert [(e.line, e.path) for e in validate_file(repeated) if "duplicate" in e.message] == [(2, "kind")]


def test_empty_non_utf8_and_non_mapping_files(tmp_path):
    assert [e.message for e in validate_file(write(tmp_path, "empty.yaml", "# nothing\n"))] == ["the file is empty"]
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("kind: wall\ntitle: 城市\n".encode("gbk"))
    [error] = validate_file(gbk)
    assert error.line == 2 and "UTF-8" in error.message
    [error] = validate_file(write(tmp_path, "list.yaml", "- a\n- b\n"))
    assert error.line == 1 and "mapping" in error.message


def test_unknown_and_missing_kind(tmp_path):
    assert lines_of(validate_file(write(tmp_path, "a.yaml", "kind: poster\nid: a\n"))) == [(1, "kind")]
    [error] = validate_file(write(tmp_path, "b.yaml", "id: b\n"))
    assert error.path == "kind" and "missing 'kind'" in error.message


def test_a_directory_with_several_bad_files_reports_every_error(tmp_path):
    write(tmp_path, "walls/a.yaml", GOOD)
    write(tmp_path, "walls/b.yaml", GOOD.replace("id: default", "id: b").replace("indicator: aqi", "indicator: nope").replace("col: 13", "col: 23"))
    write(tmp_path, "walls/nested/c.yml", "kind: wall\nid: c\n  title: y: z\n")
    write(tmp_path, "walls/d.json", json.dumps({"kind": "wall", "id": "default", "title": "x", "scenes": []}))
    write(tmp_path, "walls/.hidden.yaml", "not: [valid")
    write(tmp_path, "walls/readme.txt", "ignored")
    errors = validate_paths([tmp_path / "walls"], SpecCatalogue(indicators=frozenset({"aqi"})))
    found = [(Path(e.file).name, e.line, e.path) for e in errors]
    assert found == [
        ("b.yaml", 10, "scenes[0].panels[1].indicator"),
        ("b.yaml", 11, "scenes[0].panels[1].at"),
        ("d.json", 1, "scenes"),
        ("d.json", 1, "id"),
        ("c.yml", 3, ""),
    ]
    assert "already declared in" in errors[3].message and "a.yaml:2" in errors[3].message


def test_paths_that_are_missing_or_not_specs(tmp_path):
    (tmp_path / "empty").mkdir()
    write(tmp_path, "notes.txt", "x")
    good = write(tmp_path, "good.yaml", GOOD)
    errors = validate_paths([tmp_path / "missing.yaml", tmp_path / "empty", tmp_path / "notes.txt", good, good])
    assert [(Path(e.file).name, e.line) for e in errors] == [("missing.yaml", None), ("empty", None), ("notes.txt", None)]
    assert str(errors[0]) == f"{tmp_path / 'missing.yaml'}: (document): no such file or directory"


def test_default_specs_dir(tmp_path):
    assert default_specs_dir(Settings(specs_dir=tmp_path)) == tmp_path
    assert default_specs_dir(Settings(specs_dir=None)) == REPO_ROOT / "specs"
    assert default_specs_dir() == REPO_ROOT / "specs"


def test_shipped_walls(tmp_path):
    settings = Settings(specs_dir=tmp_path)
    assert shipped_walls(settings) == {}
    write(tmp_path, "walls/default.yaml", GOOD)
    write(tmp_path, "walls/ops.yaml", GOOD.replace("id: default", "id: ops"))
    walls = shipped_walls(settings)
    assert sorted(walls) == ["default", "ops"] and walls["ops"].scenes[0].panels[1].indicator == "aqi"


def test_a_broken_shipped_wall_is_one_clear_exception(tmp_path):
    write(tmp_path, "walls/default.yaml", GOOD)
    write(tmp_path, "walls/bad.yaml", GOOD.replace("id: default", "id: bad").replace("type: kpi", "type: kpi\n        window: 3d"))
    write(tmp_path, "walls/twin.yaml", GOOD)
    with pytest.raises(ShippedSpecError) as caught:
        shipped_walls(Settings(specs_dir=tmp_path))
    message = str(caught.value)
    assert "bad.yaml:10: scenes[0].panels[1].window" in message
    assert "twin.yaml:2: id: wall 'default' is already declared" in message

