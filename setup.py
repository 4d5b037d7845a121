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
    ]
)
