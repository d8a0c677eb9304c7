#!/usr/bin/env python3
"""Start cityops on a machine that has nothing but python3.

    python3 scripts/dev.py serve [--port 8050 ...]     # any `cityops` command, default: serve
    python3 scripts/dev.py --extras test --install-only # what scripts/test.sh uses

Creates ./.venv when missing, installs the package editable into it only when pyproject.toml
changed since the last install (a stamp file in the venv keeps its hash), then runs the
``cityops`` command from the repository root, so the embedded default database is ./data.
Only the standard library is used here: this runs before anything is installed.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".venv"
BIN_DIR = VENV_DIR / ("Scripts" if os.name == "nt" else "bin")


def install_fingerprint(extras: str) -> str:
    digest = hashlib.sha256((REPO_ROOT / "pyproject.toml").read_bytes())
    digest.update(f"\0extras={extras}\0python={sys.version_info[:2]}".encode())
    return digest.hexdigest()


def stamp_path(extras: str) -> Path:
    return VENV_DIR / f".cityops-installed-{extras or 'base'}"


def up_to_date(stamp: Path) -> bool:
    extras = stamp.name.removeprefix(".cityops-installed-")
    extras = "" if extras == "base" else extras
    return stamp.read_text().strip() == install_fingerprint(extras)


def ensure_venv() -> None:
    if (BIN_DIR / "python").exists():
        return
    print(f"creating virtual environment in {VENV_DIR}", flush=True)
    try:
        venv.EnvBuilder(with_pip=True).create(VENV_DIR)
    except Exception as exc:  # noqa: BLE001 - explain the usual Debian cause
        sys.exit(f"cannot create {VENV_DIR}: {exc}\n(on Debian/Ubuntu: apt-get install python3-venv)")


def ensure_installed(extras: str) -> None:
    """``pip install -e .[extras]`` unless this exact pyproject.toml was installed already."""
    stamp = stamp_path(extras)
    fingerprint = install_fingerprint(extras)
    if stamp.exists() and stamp.read_text().strip() == fingerprint:
        return
    if not extras and any(up_to_date(path) for path in VENV_DIR.glob(".cityops-installed-*")):
        return  # an install with extras of this same pyproject.toml includes the base package
    target = f".[{extras}]" if extras else "."
    print(f"installing cityops{'[' + extras + ']' if extras else ''} into {VENV_DIR} (pyproject.toml changed or first run)", flush=True)
    command = [str(BIN_DIR / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", target]
    result = subprocess.run(command, cwd=REPO_ROOT)
    if result.returncode != 0:
        sys.exit(f"pip install failed ({result.returncode})")
    stamp.write_text(fingerprint + "\n")


def main(argv: list[str]) -> int:
    extras = ""
    install_only = False
    while argv and argv[0] in ("--extras", "--install-only"):
        flag = argv.pop(0)
        if flag == "--install-only":
            install_only = True
        else:
            if not argv:
                sys.exit("--extras needs a value, e.g. --extras test")
            extras = argv.pop(0)
    ensure_venv()
    ensure_installed(extras)
    if install_only:
        return 0
    command = [str(BIN_DIR / "cityops"), *(argv or ["serve"])]
    os.chdir(REPO_ROOT)
    # exec: Ctrl-C and service managers' signals reach the server itself.
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
