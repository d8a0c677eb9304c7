"""``cityops specs validate``: every problem with its file and line, a summary, an exit status."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from app.cli import main
from queries.schema import Area, Indicator
from queries.writes import ensure_dataset
from tests.app.conftest import REPO_ROOT, url_of

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
        area: "320706"
        at: {col: 13, row: 1, col_span: 4, row_span: 4}
"""
# Three problems in one file: a bad enum (line 10), a missing field (the panel's line 14), a duplicate key (line 17).
BROKEN = GOOD.replace("type: kpi", "type: trend\n        window: 3d") + """\
      - id: k
        type: kpi
        at: {col: 17, row: 1}
        at: {col: 18, row: 1}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(*args: str, database_url: str | None = None):
    env = {"CITYOPS_DATABASE_URL": database_url, "CITYOPS_SPECS_DIR": None, "CITYOPS_REDIS_URL": None}
    return CliRunner().invoke(main, ["specs", "validate", *args], env=env, catch_exceptions=False)


@pytest.fixture
def database_url(engine) -> str:
    with engine.begin() as conn:
        ensure_dataset(conn, "env.aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
        conn.execute(insert(Indicator), [{"code": "aqi", "name_zh": "空气质量指数", "name_en": "AQI", "domain": "environment"}])
        conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市"},
                                    {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700"}])
    return url_of(engine)


def test_a_valid_file_exits_0(tmp_path, database_url):
    path = write(tmp_path, "wall.yaml", GOOD)
    result = run(str(path), database_url=database_url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("all valid: 1 file checked against the database: 1 indicators, 2 areas, 1 datasets")


def test_the_database_catalogue_is_checked(tmp_path, database_url):
    path = write(tmp_path, "wall.yaml", GOOD.replace("indicator: aqi", "indicator: pm10").replace('"320706"', '"320799"'))
    result = run(str(path), database_url=database_url)
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"{path}:10: scenes[0].panels[1].indicator: unknown indicator 'pm10'",
        f"{path}:11: scenes[0].panels[1].area: unknown area '320799'",
    ]
    offline = run("--offline", str(path), database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert offline.exit_code == 0, offline.output
    assert "offline: structure and" in offline.output


def test_a_broken_file_exits_1_with_every_error_and_its_line(tmp_path):
    path = write(tmp_path, "wall.yaml", BROKEN)
    result = run("--offline", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:3] == [
        f"{path}:10: scenes[0].panels[1].window: Input should be '24h' or '7d'",
        f"{path}:14: scenes[0].panels[2].indicator: Field required",
        f"{path}:17: scenes[0].panels[2].at: duplicate key 'at' in this mapping (YAML would silently keep the last one)",
    ]
    assert lines[3].startswith("3 errors in 1 file; 1 file checked offline")


def test_offline_still_checks_the_layer_registry(tmp_path):
    path = write(tmp_path, "wall.yaml", GOOD.replace("[basemap, incidents]", "[basemap, volcanoes]"))
    result = run("--offline", str(path))
    assert result.exit_code == 1
    assert f"{path}:7: scenes[0].panels[0].layers[1]: unknown layer 'volcanoes'" in result.output


def test_a_folder_of_files_and_json_output(tmp_path):
    folder = tmp_path / "walls"
    folder.mkdir()
    write(folder, "a.yaml", GOOD)
    write(folder, "b.yaml", BROKEN.replace("id: default", "id: b"))
    write(folder, "c.yaml", "kind: wall\nid: c\n  title: y: z\n")
    result = run("--offline", "--json", str(folder), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 1
    errors = json.loads(result.output)
    assert [(Path(e["file"]).name, e["line"], e["path"]) for e in errors] == [
        ("missing.yaml", None, ""),
        ("b.yaml", 10, "scenes[0].panels[1].window"),
        ("b.yaml", 14, "scenes[0].panels[2].indicator"),
        ("b.yaml", 17, "scenes[0].panels[2].at"),
        ("c.yaml", 3, ""),
    ]
    assert set(errors[0]) == {"file", "line", "column", "path", "message"} and errors[-1]["column"] is not None
    valid = run("--offline", "--json", str(folder / "a.yaml"))
    assert valid.exit_code == 0 and json.loads(valid.output) == []


def test_an_unreachable_database_fails_and_says_so(tmp_path):
    path = write(tmp_path, "wall.yaml", GOOD)
    result = run(str(path), database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    assert result.exit_code == 2
    assert "cannot read the catalogue from the database postgresql+psycopg://postgres@127.0.0.1:1/nowhere" in result.output
    assert "--offline" in result.output


def test_paths_are_required():
    result = CliRunner().invoke(main, ["specs", "validate"])
    assert result.exit_code == 2 and "Missing argument" in result.output


def test_every_shipped_spec_is_valid():
    """The files in specs/ must pass the command their header tells editors to run."""
    from queries.settings import Settings
    from queries.specs.files import shipped_walls

    result = run("--offline", str(REPO_ROOT / "specs"))
    assert result.exit_code == 0, result.output
    assert "default" in shipped_walls(Settings(specs_dir=None))
