"""Every ```python example in docs/ runs (in a fresh interpreter, bounded)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for number, code in enumerate(BLOCK.findall(page.read_text()), 1):
            found.append((f"{page.name}#{number}", code))
    return found


@pytest.mark.parametrize("name, code", examples(), ids=[n for n, _ in examples()])
def test_example_runs(name, code, tmp_path):
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, f"{name} failed:\n{done.stderr}"
