"""The wheel holds exactly the project: its packages (every module), its package data,
the `exposure` console script and an SPDX license, and nothing else (no tests, no
benchmarks, no build or store leftovers)."""

from __future__ import annotations

import configparser
import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel built from a copy of the source tree (the files git knows, as they are now),
    so that no leftover of an earlier build in the working tree can slip in."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in tracked("."):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("exposure_ledger-*.whl")
    return zipfile.ZipFile(built)


def tracked(pattern: str) -> set[str]:
    """Files under version control matching a git pathspec."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return set(listed.stdout.split())


def test_the_wheel_holds_the_projects_packages_and_nothing_else(wheel):
    packages = {name.split(".")[0] for name in PROJECT["tool"]["setuptools"]["packages"]}
    tops = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" not in name}

    assert packages == {"domain", "ledger", "projections", "usecases", "cli", "service"}
    assert tops == packages


def test_every_module_of_the_packages_is_in_the_wheel(wheel):
    packages = PROJECT["tool"]["setuptools"]["packages"]
    modules = set().union(*(tracked(f"{package.replace('.', '/')}/*.py") for package in packages))
    shipped = {name for name in wheel.namelist() if name.endswith(".py")}

    assert modules
    assert shipped == modules


def test_the_package_data_is_in_the_wheel_and_nothing_undeclared(wheel):
    patterns = PROJECT["tool"]["setuptools"]["package-data"]

    def declared(path: str) -> bool:
        return any(
            path.startswith(folder + "/") and PurePosixPath(path.removeprefix(folder + "/")).match(pattern)
            for package, globs in patterns.items()
            for folder in [package.replace(".", "/")]
            for pattern in globs
        )

    tracked_data = {path for package in patterns for path in tracked(package.replace(".", "/") + "/") if declared(path)}
    data = {name for name in wheel.namelist() if not name.endswith(".py") and ".dist-info/" not in name}

    assert {"cli/demo_story.jsonl", "cli/render/report.css"} <= tracked_data
    assert tracked_data <= data
    assert all(declared(name) for name in data)


def test_the_wheel_installs_the_exposure_command(wheel):
    (entry_points,) = [name for name in wheel.namelist() if name.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())

    assert dict(parser["console_scripts"]) == {"exposure": "cli.main:main"}


def test_the_license_is_an_spdx_expression(wheel):
    (metadata,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    headers = email.message_from_bytes(wheel.read(metadata))

    assert headers["License-Expression"] == "MIT"
    assert PROJECT["project"]["license"] == "MIT"
