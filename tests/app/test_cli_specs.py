"""``cityops specs validate``: every problem with its file and line, a summary, an exit status."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select, text

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


# --- export and import ----------------------------------------------------------------------------------

SHIPPED_WALL = """\
kind: wall
id: default
title: 出厂大屏
scenes:
  - id: only
    panels: [{id: aqi, type: aqi_gauge, at: {col: 1, row: 1}}]
"""
EDITED = {"kind": "wall", "id": "default", "title": {"zh": "城市运行总览", "en": "City overview"}, "scenes": [{"id": "overview", "panels": [
    {"id": "aqi", "type": "kpi", "indicator": "aqi", "area": "320706", "at": {"col": 1, "row": 1, "col_span": 4, "row_span": 4}}]}]}


@pytest.fixture
def shipped(tmp_path) -> Path:
    folder = tmp_path / "shipped"
    (folder / "walls").mkdir(parents=True)
    (folder / "walls" / "default.yaml").write_text(SHIPPED_WALL, encoding="utf-8")
    return folder


def cli(*args: str, database_url: str, specs_dir: Path):
    env = {"CITYOPS_DATABASE_URL": database_url, "CITYOPS_SPECS_DIR": str(specs_dir), "CITYOPS_REDIS_URL": None}
    return CliRunner().invoke(main, ["specs", *args], env=env, catch_exceptions=False)


def spec_state(url: str) -> tuple[list, list]:
    from queries.db import make_engine
    from queries.schema import SpecHead, SpecVersion

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return ([tuple(r) for r in conn.execute(select(SpecVersion).order_by(SpecVersion.kind, SpecVersion.spec_id, SpecVersion.version))],
                    [tuple(r) for r in conn.execute(select(SpecHead).order_by(SpecHead.kind, SpecHead.spec_id))])
    finally:
        engine.dispose()


def imports_audited(url: str) -> list[dict]:
    from tests.app.conftest import audit_rows

    return audit_rows(url, action="spec_imported")


def test_export_and_import_round_trip_on_the_command_line(tmp_path, database_url, shipped, engine):
    from queries.specs.store import publish, save_version

    with engine.begin() as conn:
        save_version(conn, EDITED, author="alice")
        publish(conn, "wall", "default", 1, by="alice")
    out = tmp_path / "out"
    exported = cli("export", str(out), database_url=database_url, specs_dir=shipped)
    assert exported.exit_code == 0, exported.output
    assert exported.output.splitlines() == ["walls/default.yaml: wall default, published version 1 by alice", f"exported 1 spec to {out}"]
    first = (out / "walls" / "default.yaml").read_text(encoding="utf-8")
    assert "城市运行总览" in first and first.startswith("# cityops spec export · wall default\n# version: 1 (published)\n# author: alice\n")

    with engine.begin() as conn:  # a fresh database: the same catalogue, no spec versions
        conn.execute(text("DELETE FROM spec_heads"))
        conn.execute(text("DELETE FROM spec_versions"))
    imported = cli("import", str(out), "--author", "alice", database_url=database_url, specs_dir=shipped)
    assert imported.exit_code == 0, imported.output
    assert imported.output.splitlines() == ["walls/default.yaml: wall default → version 1, published",
                                            f"imported from {out}: 1 published, 0 saved as drafts, 0 unchanged"]
    [entry] = imports_audited(database_url)
    assert entry["user_name"] == "alice" and entry["outcome"] == "ok" and entry["target"] == str(out.resolve())
    assert entry["detail"]["published"] == [{"kind": "wall", "id": "default", "version": 1, "file": "walls/default.yaml"}]
    assert entry["detail"]["mode"] == "publish" and entry["detail"]["unchanged"] == []

    again = cli("export", str(tmp_path / "again"), database_url=database_url, specs_dir=shipped)
    assert again.exit_code == 0, again.output
    second = (tmp_path / "again" / "walls" / "default.yaml").read_text(encoding="utf-8")
    # The same file but for the time of export in its header.
    assert [line for line in second.splitlines() if not line.startswith("# exported:")] == [
        line for line in first.splitlines() if not line.startswith("# exported:")]

    unchanged = cli("import", str(out), database_url=database_url, specs_dir=shipped)
    assert unchanged.exit_code == 0 and "wall default unchanged (= published version 1)" in unchanged.output
    assert [e["user_name"] for e in imports_audited(database_url)] == ["cli", "alice"]  # newest first; every import is recorded


def write_spec(root: Path, relative: str, body: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_a_broken_folder_imports_nothing_and_prints_every_error(tmp_path, database_url, shipped):
    root = tmp_path / "in"
    write_spec(root, "walls/ops.yaml", GOOD.replace("id: default", "id: ops"))
    broken = write_spec(root, "walls/default.yaml", GOOD.replace("indicator: aqi", "indicator: pm10"))
    before = spec_state(database_url)
    result = cli("import", str(root), database_url=database_url, specs_dir=shipped)
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"{broken}:10: scenes[0].panels[1].indicator: unknown indicator 'pm10'",
                                          "1 error in 1 file; nothing imported"]
    assert spec_state(database_url) == before and imports_audited(database_url) == []


def test_a_failing_write_rolls_the_whole_import_back(tmp_path, database_url, shipped, engine):
    from tests.queries.specs.test_transfer import REFUSED_ID, refusing_trigger

    root = tmp_path / "in"
    write_spec(root, "walls/default.yaml", GOOD)
    write_spec(root, "walls/ops.yaml", GOOD.replace("id: default", "id: ops"))
    write_spec(root, f"walls/{REFUSED_ID}.yaml", GOOD.replace("id: default", f"id: {REFUSED_ID}"))
    before = spec_state(database_url)
    with refusing_trigger(engine):
        result = cli("import", str(root), database_url=database_url, specs_dir=shipped)
    assert result.exit_code == 1
    assert "refused by the test trigger" in result.output and "nothing imported (the transaction was rolled back)" in result.output
    assert "Traceback" not in result.output
    assert spec_state(database_url) == before and imports_audited(database_url) == []


def test_dry_run_and_draft(tmp_path, database_url, shipped):
    root = tmp_path / "in"
    write_spec(root, "walls/default.yaml", GOOD)
    dry = cli("import", str(root), "--dry-run", database_url=database_url, specs_dir=shipped)
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines()[-1] == "dry run, nothing written: would publish 1, save 0 as drafts; 0 unchanged"
    assert spec_state(database_url) == ([], []) and imports_audited(database_url) == []
    draft = cli("import", str(root), "--draft", "--author", "bob", database_url=database_url, specs_dir=shipped)
    assert draft.exit_code == 0, draft.output
    assert "walls/default.yaml: wall default → version 1, saved as a draft" in draft.output
    versions, heads = spec_state(database_url)
    assert len(versions) == 1 and heads == []  # saved, not published
    assert imports_audited(database_url)[0]["detail"]["saved"][0]["id"] == "default"


def test_export_and_import_need_the_database(tmp_path, shipped):
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    (tmp_path / "in").mkdir()
    for args in (("export", str(tmp_path / "out")), ("import", str(tmp_path / "in"))):
        result = cli(*args, database_url=nowhere, specs_dir=shipped)
        assert result.exit_code == 2, result.output
        assert f"cityops specs {args[0]}: cannot read the database {nowhere}" in result.output and "Traceback" not in result.output


def test_import_checks_its_options(tmp_path, shipped):
    sqlite = f"sqlite:///{tmp_path / 'x.db'}"
    missing = cli("import", str(tmp_path / "missing"), database_url=sqlite, specs_dir=shipped)
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "in").mkdir()
    long_name = cli("import", str(tmp_path / "in"), "--author", "x" * 65, database_url=sqlite, specs_dir=shipped)
    assert long_name.exit_code == 2 and "--author" in long_name.output
