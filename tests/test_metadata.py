"""The project metadata: one version, the license shipped, valid classifiers."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import unixipc

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest's own dependency there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_one_version_written_once():
    """The metadata reads unixipc.__version__; nothing else spells it."""
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    assert metadata.version("unixipc") == unixipc.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", unixipc.__version__)
    assert f"## [{unixipc.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


def test_license_is_the_spdx_expression_and_the_file_ships():
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "The unixipc developers" in text
    assert metadata.metadata("unixipc")["License-Expression"] == "BSD-3-Clause"


def test_classifiers_name_each_supported_cpython():
    classifiers = PROJECT["classifiers"]
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::") or "Kernels" in c]


def test_the_index_page_installs_from_the_index_and_links_absolutely():
    """docs/pypi.md is the long description: `pip install unixipc`, and every
    link absolute (a relative one is broken on the index page); README.md
    keeps its checkout commands first."""
    assert PROJECT["readme"] == {"file": "docs/pypi.md", "content-type": "text/markdown"}
    text = (ROOT / "docs" / "pypi.md").read_text()
    assert "\npip install unixipc\n" in text
    links = re.findall(r"\]\(([^)]*)\)", text)
    assert links and all(link.startswith("https://") for link in links), links
    for page in re.findall(r"/blob/main/(docs/\w+\.md|CHANGELOG\.md)", text):
        assert (ROOT / page).exists(), page
    assert metadata.metadata("unixipc")["Description"].startswith("# unixipc")
    assert (ROOT / "README.md").read_text().startswith(
        "# unixipc\n\n```sh\npython3 -m venv .venv && .venv/bin/pip install -e . && "
        ".venv/bin/unixipc tour\n")
