"""The UI text catalogue: complete in both languages, and the only home of the shell's words."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.i18n import CATALOGUE, LANGUAGES, normalise_lang, t

APP_DIR = Path(__file__).resolve().parents[2] / "app"
# The catalogue itself, and the command line (terminal text, not the web interface).
# bench.py writes files shaped like a department's export (Chinese headers and values): data, not UI.
NOT_UI_MODULES = {"i18n.py", "cli.py", "bench.py"}
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def test_every_key_has_chinese_and_english():
    for key, message in CATALOGUE.items():
        assert message.zh.strip(), key
        assert message.en.strip(), key
        assert CJK.search(message.en) is None or key == "lang.zh", f"{key}: English text contains Chinese"


def test_format_placeholders_match_between_languages():
    placeholder = re.compile(r"{(\w+)}")
    for key, message in CATALOGUE.items():
        assert set(placeholder.findall(message.zh)) == set(placeholder.findall(message.en)), key


def test_t_picks_the_language_and_formats():
    assert t("app.name", "zh") == "城市运行管理中心"
    assert t("app.name", "en") == "City Operations Centre"
    assert t("catalogue.summary", "en", total=3, stale=1) == "3 datasets, 1 past their update cycle"
    with pytest.raises(KeyError):
        t("no.such.key", "zh")


@pytest.mark.parametrize(("value", "expected"), [("en", "en"), ("EN", "en"), ("zh-CN", "zh"), ("en_GB", "en"), ("fr", "zh"), (None, "zh"), ("", "zh")])
def test_normalise_lang(value, expected):
    assert normalise_lang(value) == expected
    assert set(LANGUAGES) == {"zh", "en"}


def string_literals(path: Path):
    """(line, text) of every string literal that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_chinese_ui_literal_outside_the_catalogue():
    offenders = [
        f"{path.relative_to(APP_DIR.parent)}:{line}: {text!r}"
        for path in sorted(APP_DIR.rglob("*.py"))
        if path.name not in NOT_UI_MODULES
        for line, text in string_literals(path)
        if CJK.search(text)
    ]
    assert not offenders, "UI text belongs in app/i18n.py:\n" + "\n".join(offenders)


def test_shell_modules_use_catalogue_keys_that_exist():
    key_call = re.compile(r"""\bt\(\s*["']([a-z_.]+)["']""")
    for path in [APP_DIR / "shell.py", APP_DIR / "server.py", *sorted((APP_DIR / "pages").glob("*.py"))]:
        for key in key_call.findall(path.read_text(encoding="utf-8")):
            assert key in CATALOGUE, f"{path.name}: unknown catalogue key {key}"
