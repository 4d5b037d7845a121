"""Builds the C core, unixipc._core; all metadata lives in pyproject.toml."""
from glob import glob

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "unixipc._core",
            sources=sorted(glob("csrc/*.c")),
            depends=glob("csrc/*.h"),
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers"],
            libraries=["rt"],
        )
    ],
    # The manual page and the shell completions, generated from the CLI's
    # argparse definitions by scripts/cli-data (a test fails while they are
    # stale), installed under the prefix's share/.
    data_files=[
        ("share/man/man1", ["share/man/man1/unixipc.1"]),
        ("share/bash-completion/completions", ["share/bash-completion/completions/unixipc"]),
        ("share/zsh/site-functions", ["share/zsh/site-functions/_unixipc"]),
    ],
)
