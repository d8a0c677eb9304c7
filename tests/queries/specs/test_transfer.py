"""Specs as files (queries.specs.transfer) on SQLite and PostGIS: export writes every spec in one
canonical form, import validates everything first and writes all of it in one transaction or nothing.

The "fresh database" of the round trip is the same database with every spec version and head
deleted (the catalogue the specs name stays, as it would in another environment of the platform).
A failure at write time is a real one: a trigger of the test's own on ``spec_versions`` refuses one
spec's row, after the other specs of the import were written.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as dt
import textwrap
from pathlib import Path

import pytest
import yaml
from sqlalchemy import delete, insert, select, text

from queries.schema import Area, Indicator, SpecHead, SpecVersion
from queries.settings import Settings
from queries.specs.files import FileError
from queries.specs.model import WallSpec
from queries.specs.store import catalogue_from_db, publish, published_spec, save_version
from queries.specs.transfer import (
    HEADER_MARK,
    ImportInvalid,
    canonical,
    export_specs,
    import_specs,
    plan_import,
    split_header,
)
from queries.writes import ensure_dataset

T = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)

SHIPPED_WALL = """\
kind: wall
id: default
title: {zh: 出厂大屏, en: Shipped wall}
scenes:
  - id: only
    panels: [{id: aqi, type: aqi_gauge, at: {col: 1, row: 1}}]
"""
SHIPPED_BRIEFING = """\
kind: briefing
id: city
title: 今日城市运行简报
sections:
  - {type: attention}
  - {type: indicators, indicators: [aqi]}
"""
WALL = {
    "kind": "wall", "id": "default", "title": {"zh": "城市运行总览", "en": "City overview"},
    "canvas": {"width": 3840, "height": 1080},
    "scenes": [{"id": "overview", "dwell": 30, "panels": [
        {"id": "map", "type": "map", "at": {"col": 1, "row": 1, "col_span": 12, "row_span": 12}, "layers": ["basemap", "incidents"]},
        {"id": "aqi", "type": "kpi", "indicator": "aqi", "area": "320706", "at": {"col": 13, "row": 1, "col_span": 4, "row_span": 4}},
    ]}],
}
OPS = {"kind": "wall", "id": "ops", "title": "值班大屏", "scenes": [{"id": "s", "panels": [
    {"id": "t", "type": "trend", "indicator": "aqi", "window": "7d", "at": {"col": 1, "row": 1, "col_span": 6, "row_span": 4}}]}]}


def wall(**changes) -> dict:
    body = copy.deepcopy(WALL)
    body.update(changes)
    return body


@pytest.fixture
def settings(tmp_path) -> Settings:
    shipped = tmp_path / "shipped"
    (shipped / "walls").mkdir(parents=True)
    (shipped / "briefings").mkdir()
    (shipped / "walls" / "default.yaml").write_text(SHIPPED_WALL, encoding="utf-8")
    (shipped / "briefings" / "city.yaml").write_text(SHIPPED_BRIEFING, encoding="utf-8")
    return Settings(data_dir=tmp_path, specs_dir=shipped)


@pytest.fixture
def db(engine):
    """A catalogue the specs can name: indicator ``aqi`` (with its dataset) and two areas."""
    with engine.begin() as conn:
        ensure_dataset(conn, "env.aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
        conn.execute(insert(Indicator), [{"code": "aqi", "name_zh": "空气质量指数", "name_en": "AQI", "domain": "environment",
                                          "good_direction": "down", "dataset_code": "env.aq"}])
        conn.execute(insert(Area), [{"code": "320700", "level": "city", "name": "连云港市"},
                                    {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700"}])
    return engine


def spec_rows(engine) -> tuple[list, list]:
    """Every spec version and head, in full: what "unchanged" is compared on."""
    with engine.connect() as conn:
        versions = [tuple(r) for r in conn.execute(select(SpecVersion).order_by(SpecVersion.kind, SpecVersion.spec_id, SpecVersion.version))]
        heads = [tuple(r) for r in conn.execute(select(SpecHead).order_by(SpecHead.kind, SpecHead.spec_id))]
    return versions, heads


def forget_specs(engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(SpecHead))
        conn.execute(delete(SpecVersion))


def files_of(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml"))}


def body_of(text_: str) -> str:
    return split_header(text_)[1]


def do_import(engine, root, settings, **options):
    with engine.begin() as conn:
        return import_specs(conn, root, catalogue_from_db(conn), settings=settings, **{"author": "alice", **options})


# --- export ----------------------------------------------------------------------------------------


def test_export_writes_every_spec_as_screens_show_it(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, wall(), author="alice")
        publish(conn, "wall", "default", 1, by="alice")
        save_version(conn, wall(title={"zh": "草稿"}), author="bob")  # a draft above the published version
        save_version(conn, OPS, author="carol")  # never published: a draft only
    out = tmp_path / "out"
    with db.connect() as conn:
        report = export_specs(conn, out, settings=settings, now=T)
    files = files_of(out)
    assert sorted(files) == ["briefings/city.yaml", "walls/default.yaml"]
    assert [(stored.kind, stored.spec_id, stored.version) for _, stored in report.written] == [("wall", "default", 1), ("briefing", "city", None)]

    published = files["walls/default.yaml"]
    assert published.splitlines()[:4] == [f"{HEADER_MARK} · wall default", "# version: 1 (published)", "# author: alice",
                                          "# exported: 2026-11-21T08:00:00Z"]
    body = body_of(published)
    assert "城市运行总览" in body and "\\u" not in body  # Chinese kept readable
    assert body.splitlines()[:4] == ["kind: wall", "spec_version: 1", "id: default", "title: {zh: 城市运行总览, en: City overview}"]
    assert "canvas" not in body and "dwell: 30" in body  # defaults left out, the rest kept
    assert "  - id: aqi\n    type: kpi\n    at: {col: 13, row: 1, col_span: 4, row_span: 4}\n    area: '320706'\n    indicator: aqi\n" in body
    assert WallSpec.model_validate(yaml.safe_load(body)) == WallSpec.model_validate(wall())

    shipped = files["briefings/city.yaml"]
    assert "# version: none: the file shipped with cityops (no version in the database)" in shipped
    assert body_of(shipped) == "kind: briefing\nspec_version: 1\nid: city\ntitle: 今日城市运行简报\nsections:\n- {type: attention}\n" \
                               "- type: indicators\n  indicators: [aqi]\n"


def test_export_with_drafts_adds_the_newest_unpublished_versions(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, wall(), author="alice")
        publish(conn, "wall", "default", 1, by="alice")
        save_version(conn, wall(title={"zh": "草稿"}), author="bob")
        save_version(conn, OPS, author="carol")
        save_version(conn, {**OPS, "id": "gone"}, author="carol")
        conn.execute(insert(SpecHead).values(kind="wall", spec_id="gone", published_version=None, deleted=True))
    out = tmp_path / "out"
    with db.connect() as conn:
        export_specs(conn, out, drafts=True, settings=settings, now=T)
    files = files_of(out)
    assert sorted(files) == ["briefings/city.yaml", "drafts/walls/default.yaml", "drafts/walls/ops.yaml", "walls/default.yaml"]
    assert "# version: 2 (draft, not published)\n# author: bob\n" in files["drafts/walls/default.yaml"]
    assert "title: 草稿\n" in files["drafts/walls/default.yaml"]
    assert "# version: 1 (draft, not published)\n# author: carol\n" in files["drafts/walls/ops.yaml"]


def test_the_same_spec_always_gives_the_same_bytes(db, settings, tmp_path):
    """Key order in the stored body, a text written as a string or as {zh: …}: one canonical file."""
    shuffled = dict(reversed(list(wall(title={"zh": "城市运行总览", "en": "City overview"}).items())))
    with db.begin() as conn:
        save_version(conn, shuffled, author="alice")
        publish(conn, "wall", "default", 1, by="alice")
    with db.connect() as conn:
        export_specs(conn, tmp_path / "a", settings=settings, now=T)
        export_specs(conn, tmp_path / "b", settings=settings, now=T)
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    assert canonical(WallSpec.model_validate({**OPS, "title": {"zh": "值班大屏"}})) == canonical(WallSpec.model_validate(OPS))


def test_export_removes_its_own_stale_files_and_leaves_others_alone(db, settings, tmp_path):
    out = tmp_path / "out"
    (out / "walls").mkdir(parents=True)
    (out / "walls" / "old.yaml").write_text(f"{HEADER_MARK} · wall old\nkind: wall\n", encoding="utf-8")
    (out / "walls" / "mine.yaml").write_text("kind: wall\nid: mine\n", encoding="utf-8")
    with db.connect() as conn:
        report = export_specs(conn, out, settings=settings, now=T)
    assert report.removed == [out / "walls" / "old.yaml"] and not (out / "walls" / "old.yaml").exists()
    assert report.foreign == [out / "walls" / "mine.yaml"] and (out / "walls" / "mine.yaml").exists()


def test_a_published_version_the_model_no_longer_reads_gives_way_to_the_shipped_file(db, settings, tmp_path):
    with db.begin() as conn:
        conn.execute(insert(SpecVersion).values(kind="wall", spec_id="default", version=1, body={"kind": "wall", "id": "default", "old": 1},
                                                author="old", created_at=T))
        conn.execute(insert(SpecHead).values(kind="wall", spec_id="default", published_version=1, published_at=T, deleted=False))
    with db.connect() as conn:
        report = export_specs(conn, tmp_path / "out", settings=settings, now=T)
    assert [(stored.spec_id, stored.version) for _, stored in report.written] == [("default", None), ("city", None)]
    assert "title: {zh: 出厂大屏, en: Shipped wall}" in (tmp_path / "out" / "walls" / "default.yaml").read_text(encoding="utf-8")


# --- the round trip --------------------------------------------------------------------------------


def test_export_import_into_a_fresh_database_export_again_gives_the_same_files(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, wall(), author="alice")
        publish(conn, "wall", "default", 1, by="alice")
        save_version(conn, OPS, author="alice")
        publish(conn, "wall", "ops", 1, by="alice")
    with db.connect() as conn:
        export_specs(conn, tmp_path / "first", settings=settings, now=T)
    forget_specs(db)

    report = do_import(db, tmp_path / "first", settings, author="alice")
    assert [(s.kind, s.spec_id, s.action, s.version) for s in report.steps] == [
        ("wall", "default", "publish", 1), ("wall", "ops", "publish", 1), ("briefing", "city", "unchanged", None)]
    with db.connect() as conn:
        assert published_spec(conn, "wall", "ops")[1] == 1
        export_specs(conn, tmp_path / "second", settings=settings, now=T)
    first, second = files_of(tmp_path / "first"), files_of(tmp_path / "second")
    assert sorted(first) == sorted(second) == ["briefings/city.yaml", "walls/default.yaml", "walls/ops.yaml"]
    for name in first:
        assert second[name].encode() == first[name].encode(), name


def test_round_trip_from_a_database_with_history_keeps_every_spec_byte_for_byte(db, settings, tmp_path):
    """Versions and authors differ in the new database (the header says so); the specs do not."""
    with db.begin() as conn:
        for title in ("一", "二", "三"):
            save_version(conn, wall(title={"zh": title, "en": "Overview"}), author="bob")
        publish(conn, "wall", "default", 2, by="bob")
        save_version(conn, OPS, author="carol")
        publish(conn, "wall", "ops", 1, by="carol")
        save_version(conn, {**OPS, "title": "值班大屏（改）"}, author="dave")
    with db.connect() as conn:
        export_specs(conn, tmp_path / "first", drafts=True, settings=settings, now=T)
    forget_specs(db)
    report = do_import(db, tmp_path / "first", settings)
    assert [(s.spec_id, s.draft_file, s.action, s.version) for s in report.steps] == [
        ("default", False, "publish", 1), ("default", True, "save", 2), ("ops", False, "publish", 1), ("ops", True, "save", 2),
        ("city", False, "unchanged", None)]
    with db.connect() as conn:
        export_specs(conn, tmp_path / "second", drafts=True, settings=settings, now=T + dt.timedelta(days=1))
    first, second = files_of(tmp_path / "first"), files_of(tmp_path / "second")
    assert sorted(first) == sorted(second)
    for name in first:
        assert body_of(second[name]).encode() == body_of(first[name]).encode(), name
    assert "# version: 2 (published)\n# author: bob" in first["walls/default.yaml"]
    assert "# version: 1 (published)\n# author: alice" in second["walls/default.yaml"]
    assert "title: {zh: 二, en: Overview}" in first["walls/default.yaml"]


# --- what an import does with each spec ------------------------------------------------------------------


def write(root: Path, relative: str, content: str | dict) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    body = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_unchanged_specs_are_skipped_and_changed_ones_published(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, OPS, author="carol")
        publish(conn, "wall", "ops", 1, by="carol")
        save_version(conn, wall(), author="carol")  # saved, never published: the shipped wall is live
    root = tmp_path / "in"
    write(root, "walls/default.yaml", wall())  # = the saved, unpublished version: published as it is
    write(root, "walls/ops.yaml", {**OPS, "title": {"zh": "值班大屏"}})  # = published, written otherwise
    write(root, "briefings/city.yaml", SHIPPED_BRIEFING.replace("attention", "traffic"))  # changed
    report = do_import(db, root, settings)
    assert [(s.spec_id, s.action, s.version, s.reason) for s in report.steps] == [
        ("default", "publish_existing", 1, ""), ("ops", "unchanged", 1, "= published version 1"), ("city", "publish", 1, "")]
    with db.connect() as conn:
        assert published_spec(conn, "wall", "default") == (wall(), 1)  # no second copy of the same spec
        body, version = published_spec(conn, "briefing", "city")
        assert version == 1 and body["sections"][0] == {"type": "traffic"}
        assert conn.scalar(select(SpecVersion.comment).where(SpecVersion.spec_id == "city")) == "imported from briefings/city.yaml"
        assert conn.scalar(select(SpecHead.published_by).where(SpecHead.spec_id == "city")) == "alice"


def test_draft_mode_saves_without_publishing(db, settings, tmp_path):
    root = tmp_path / "in"
    write(root, "walls/default.yaml", wall())
    write(root, "walls/other.yaml", SHIPPED_WALL.replace("id: default", "id: other"))
    before = spec_rows(db)
    dry = do_import(db, root, settings, publish=False, dry_run=True)
    assert [(s.spec_id, s.action) for s in dry.steps] == [("default", "save"), ("other", "save")] and not dry.applied
    assert spec_rows(db) == before  # a dry run writes nothing
    do_import(db, root, settings, publish=False)
    with db.connect() as conn:
        assert published_spec(conn, "wall", "default") is None and published_spec(conn, "wall", "other") is None
    again = do_import(db, root, settings, publish=False)
    assert [(s.action, s.reason) for s in again.steps] == [("unchanged", "= saved version 1")] * 2


def test_a_shipped_spec_imported_as_it_is_stays_the_shipped_file(db, settings, tmp_path):
    root = tmp_path / "in"
    write(root, "walls/default.yaml", SHIPPED_WALL)
    for publish_ in (True, False):
        report = do_import(db, root, settings, publish=publish_)
        assert [(s.action, s.reason) for s in report.steps] == [("unchanged", "= the shipped file")]
    assert spec_rows(db) == ([], [])


# --- nothing when anything is wrong --------------------------------------------------------------------------


def test_one_broken_file_imports_nothing_and_names_file_line_and_field(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, OPS, author="carol")
        publish(conn, "wall", "ops", 1, by="carol")
    root = tmp_path / "in"
    write(root, "walls/default.yaml", wall())  # valid and changed: would be published
    write(root, "walls/ops.yaml", {**OPS, "title": "新标题"})  # valid and changed
    broken = write(root, "briefings/city.yaml", """\
        kind: briefing
        id: city
        title: 今日城市运行简报
        sections:
          - {type: attention}
          - type: indicators
            indicators: [aqi, pm10]
        """)
    before = spec_rows(db)
    with pytest.raises(ImportInvalid) as caught:
        do_import(db, root, settings)
    assert caught.value.errors == [FileError(str(broken), 7, "sections[1].indicators[1]", "unknown indicator 'pm10'")]
    assert str(caught.value) == f"{broken}:7: sections[1].indicators[1]: unknown indicator 'pm10'"
    assert spec_rows(db) == before


def test_every_problem_of_every_file_is_reported(db, settings, tmp_path):
    root = tmp_path / "in"
    syntax = write(root, "walls/a.yaml", "kind: wall\nid: a\ntitle: [unclosed\n")
    misplaced = write(root, "walls/city.yaml", SHIPPED_BRIEFING)
    stray = write(root, "notes/x.yaml", SHIPPED_WALL)
    twice = write(root, "walls/b.yaml", SHIPPED_WALL)  # declares wall 'default' like walls/default.yaml
    write(root, "walls/default.yaml", SHIPPED_WALL)
    grid = write(root, "walls/c.yaml", SHIPPED_WALL.replace("id: default", "id: c").replace("{col: 1, row: 1}", "{col: 30, row: 1}"))
    with pytest.raises(ImportInvalid) as caught:
        do_import(db, root, settings)
    found = {(Path(e.file).relative_to(root).as_posix(), e.line, e.path) for e in caught.value.errors}
    assert found == {("walls/a.yaml", 4, ""), ("walls/city.yaml", 1, "kind"), ("notes/x.yaml", None, ""),
                     ("walls/default.yaml", 2, "id"), ("walls/c.yaml", 6, "scenes[0].panels[0].at")}
    by_file = {Path(e.file): e.message for e in caught.value.errors}
    assert "a briefing spec in walls/" in by_file[misplaced]
    assert "not where specs go" in by_file[stray]
    assert "already declared in" in by_file[twice.with_name("default.yaml")] and str(twice) in by_file[twice.with_name("default.yaml")]
    assert "the grid is 24×12" in by_file[grid]
    assert syntax.exists() and spec_rows(db) == ([], [])


def test_an_empty_or_missing_folder_is_an_error(db, settings, tmp_path):
    (tmp_path / "empty").mkdir()
    for root, message in ((tmp_path / "empty", "no spec files"), (tmp_path / "missing", "no such directory")):
        with pytest.raises(ImportInvalid) as caught:
            do_import(db, root, settings)
        assert message in str(caught.value)


REFUSED_ID = "zz-refused"


@contextlib.contextmanager
def refusing_trigger(engine):
    """A trigger that refuses to store any version of the spec 'zz-refused' (a real failing write),
    dropped again afterwards (the PostgreSQL test database outlives the test)."""
    create = {
        "sqlite": ["CREATE TRIGGER catalog_test_refuse BEFORE INSERT ON spec_versions WHEN NEW.spec_id = 'zz-refused' "
                   "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"],
        "postgresql": ["CREATE FUNCTION catalog_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$",
                       "CREATE TRIGGER catalog_test_refuse BEFORE INSERT ON spec_versions FOR EACH ROW "
                       "WHEN (NEW.spec_id = 'zz-refused') EXECUTE FUNCTION catalog_test_refuse()"],
    }[engine.dialect.name]
    drop = {"sqlite": ["DROP TRIGGER IF EXISTS catalog_test_refuse"],
            "postgresql": ["DROP TRIGGER IF EXISTS catalog_test_refuse ON spec_versions", "DROP FUNCTION IF EXISTS catalog_test_refuse()"],
            }[engine.dialect.name]
    with engine.begin() as conn:
        for statement in create:
            conn.execute(text(statement))
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            for statement in drop:
                conn.execute(text(statement))


def test_a_write_failing_mid_import_rolls_everything_back(db, settings, tmp_path):
    with db.begin() as conn:
        save_version(conn, OPS, author="carol")
        publish(conn, "wall", "ops", 1, by="carol")
    root = tmp_path / "in"
    write(root, "walls/default.yaml", wall())
    write(root, "walls/ops.yaml", {**OPS, "title": "新标题"})
    write(root, f"walls/{REFUSED_ID}.yaml", {**OPS, "id": REFUSED_ID})
    write(root, "briefings/city.yaml", SHIPPED_BRIEFING.replace("attention", "traffic"))
    with db.connect() as conn:
        plan = plan_import(conn, root, catalogue_from_db(conn), settings=settings)
    # The refused spec comes after two walls that are written first, and the briefing after it.
    assert [(s.spec_id, s.action) for s in plan.steps] == [("default", "publish"), ("ops", "publish"), ("zz-refused", "publish"),
                                                           ("city", "publish")]
    before = spec_rows(db)
    with refusing_trigger(db), pytest.raises(Exception, match="refused by the test trigger"):
        do_import(db, root, settings)
    assert spec_rows(db) == before
    with db.connect() as conn:
        assert published_spec(conn, "wall", "ops")[1] == 1 and published_spec(conn, "wall", "default") is None
